// Outlier detection with a test clock: five errors in a row eject an endpoint for the base
// time, a success resets the count, a second ejection lasts twice as long, the ejection
// percentage caps how many sit out, and the cluster picker routes around the ejected.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterPicker } from "../../sidecar/proxy/clusters.js";
import { OutlierDetector, outlierSettings } from "../../sidecar/proxy/outlier.js";
import { staticCluster } from "./fixtures.js";

const SETTINGS = outlierSettings({
  outlier_detection: {
    consecutive_5xx: { value: 5 },
    base_ejection_time: { seconds: 30 },
    max_ejection_percent: { value: 50 },
  },
});

describe("outlier detection", () => {
  it("has no settings, and ejects nothing, when the cluster does not ask for it", () => {
    assert.equal(outlierSettings({ name: "c" }), undefined);
    assert.deepEqual(outlierSettings({ outlier_detection: {} }), {
      consecutive5xx: 5,
      baseEjectionMs: 30_000,
      maxEjectionMs: 300_000,
      maxEjectionPercent: 10,
    });
  });

  it("ejects after consecutive errors, for base × ejections, and lets it back after", () => {
    assert.ok(SETTINGS);
    let now = 0;
    const d = new OutlierDetector(() => now);
    const fail = (n: number, e = "a") => {
      for (let i = 0; i < n; i++) d.report("c", e, "error", SETTINGS, 4);
    };
    fail(4);
    d.report("c", "a", "success", SETTINGS, 4);
    fail(4);
    assert.equal(d.isEjected("c", "a"), false, "a success in between resets the count");
    fail(1);
    assert.equal(d.isEjected("c", "a"), true);
    now = 29_999;
    assert.equal(d.isEjected("c", "a"), true);
    now = 30_000;
    assert.equal(d.isEjected("c", "a"), false, "back after base_ejection_time");
    fail(5);
    now = 30_000 + 59_999;
    assert.equal(d.isEjected("c", "a"), true, "the second ejection lasts 2 × 30 s");
  });

  it("never ejects past max_ejection_percent (but always allows one)", () => {
    assert.ok(SETTINGS);
    const d = new OutlierDetector(() => 0);
    for (const e of ["a", "b", "c"])
      for (let i = 0; i < 5; i++) d.report("k", e, "error", SETTINGS, 4);
    const ejected = ["a", "b", "c"].filter((e) => d.isEjected("k", e));
    assert.deepEqual(ejected, ["a", "b"], "2 of 4 is 50 %: the third stays in");
  });

  it("the cluster picker routes around an ejected endpoint", () => {
    const config = staticCluster(["10.0.0.1", "10.0.0.2"], {
      outlier_detection: { consecutive_5xx: { value: 2 } },
    });
    const picker = new ClusterPicker(
      () => 0,
      () => 0,
    );
    const dst = { address: "10.96.0.1", port: 80 };
    for (let i = 0; i < 4; i++) {
      const t = picker.pick(config, "c", dst);
      t.report(t.address === "10.0.0.1" ? "error" : "success");
      t.release();
    }
    assert.equal(picker.outliers.isEjected("c", "10.0.0.1:80"), true);
    const picks = Array.from({ length: 6 }, () => picker.pick(config, "c", dst).address);
    assert.deepEqual(new Set(picks), new Set(["10.0.0.2"]));
  });
});
