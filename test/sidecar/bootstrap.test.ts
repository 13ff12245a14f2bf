// The sidecar's bootstrap: defaults, flags over the file, every problem reported at once
// (and `trellis sidecar` exiting 2 with them), and the xDS node the control plane reads.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  BootstrapError,
  mergeBootstrap,
  parseBootstrapText,
  spiffeIdOf,
  validateBootstrap,
  xdsNode,
} from "../../sidecar/bootstrap.js";
import { trellis } from "../helpers/run.js";
import { tempDir } from "../helpers/tmp.js";

const FILE = `
controlPlane: 127.0.0.1:15012
caRootFile: /var/run/secrets/istio/root-cert.pem
tokenFile: /var/run/secrets/tokens/trellis-token
node:
  namespace: shop
  podName: frontend-0
  serviceAccount: frontend
  podIp: 10.244.1.10
  labels: {app: frontend, version: v1}
`;

describe("sidecar bootstrap", () => {
  it("reads a file, fills the defaults and derives the node id and SPIFFE ID", () => {
    const b = validateBootstrap(parseBootstrapText(FILE, "bootstrap.yaml"));
    assert.equal(b.xds, "delta");
    assert.equal(b.trustDomain, "cluster.local");
    assert.equal(b.svidTtlMs, 24 * 3600_000);
    assert.equal(b.node.id, "sidecar~10.244.1.10~frontend-0.shop~shop.svc.cluster.local");
    assert.equal(spiffeIdOf(b), "spiffe://cluster.local/ns/shop/sa/frontend");
    const meta = (xdsNode(b).metadata as { fields: Record<string, unknown> }).fields;
    assert.deepEqual(meta.NAMESPACE, { string_value: "shop" });
    assert.deepEqual(meta.INSTANCE_IPS, { string_value: "10.244.1.10" });
    assert.deepEqual(meta.LABELS, {
      struct_value: {
        fields: { app: { string_value: "frontend" }, version: { string_value: "v1" } },
      },
    });
  });

  it("lets a flag win over the file, field by field", () => {
    const merged = mergeBootstrap(parseBootstrapText(FILE, "b.yaml"), {
      xds: "sotw",
      node: { podIp: "10.244.1.11", namespace: undefined },
    });
    const b = validateBootstrap(merged);
    assert.equal(b.xds, "sotw");
    assert.equal(b.node.podIp, "10.244.1.11");
    assert.equal(b.node.namespace, "shop", "an absent flag leaves the file's value");
  });

  it("reports every problem with its field, and starts nothing", () => {
    let error: unknown;
    try {
      validateBootstrap({
        controlPlane: "no-port",
        xds: "grpc",
        svidTtl: "soon",
        node: { namespace: "shop", podIp: "10.0.0.999", labels: { app: 7 } },
      });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof BootstrapError);
    const text = error.problems.join("\n");
    for (const expected of [
      /controlPlane: "no-port" is not host:port/,
      /tokenFile: must be a non-empty string/,
      /xds: must be "sotw" or "delta"/,
      /svidTtl: "soon" is not a duration/,
      /node.podName: must be a non-empty string/,
      /node.podIp: "10.0.0.999" is not an IP/,
      /node.labels.app: must be a string/,
    ]) {
      assert.match(text, expected);
    }
    assert.throws(() => parseBootstrapText("[1, 2]", "b.yaml"), /b.yaml: must be a mapping/);
  });

  it("trellis sidecar exits 2 on a bad bootstrap, listing the problems", async (t) => {
    const file = join(await tempDir(t), "bootstrap.yaml");
    await writeFile(file, "controlPlane: 127.0.0.1:15012\nnode: {namespace: shop}\n");
    const run = trellis("sidecar", "--bootstrap", file, "--pod-ip", "nope");
    assert.equal(run.status, 2);
    assert.match(run.stderr, /BOOTSTRAP_INVALID/);
    assert.match(run.stderr, /tokenFile: must be a non-empty string/);
    assert.match(run.stderr, /node.podIp: "nope" is not an IP/);
    assert.match(trellis("sidecar", "--help").stdout, /Usage: trellis sidecar/);
  });
});
