// Root rotation (the old root stays trusted exactly as long as its SVIDs can live) and
// the renewal time workloads use (half-life, with jitter).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  CA_FILES,
  CertificateAuthority,
  CLOCK_SKEW_ALLOWANCE_MS,
  initCaDir,
  loadCaDir,
  renewalDelay,
  renewalTime,
  saveCaDir,
  TrustBundle,
  verifySvid,
} from "../../certs/index.js";
import { tempDir } from "../helpers/tmp.js";

const ID = "spiffe://cluster.local/ns/default/sa/web";
const HOUR = 3_600_000;

describe("root rotation", () => {
  it("keeps the old root trusted until every SVID it signed has expired, then drops it", async () => {
    const t0 = new Date("2026-11-22T00:00:00Z");
    const ca = await CertificateAuthority.create({
      intermediate: true,
      maxSvidTtlMs: 24 * HOUR,
      now: t0,
    });
    const oldSvid = await ca.issue({ spiffeId: ID, ttlMs: 24 * HOUR, now: t0 });

    const t1 = new Date(t0.getTime() + HOUR);
    await ca.rotateRoot(t1);
    const newSvid = await ca.issue({ spiffeId: ID, now: t1 });
    assert.notDeepEqual(
      Buffer.from(newSvid.chain[1] as Uint8Array),
      Buffer.from(oldSvid.chain[1] as Uint8Array),
      "a new intermediate signs",
    );

    const bundle = ca.trustBundle(t1);
    assert.equal(bundle.roots.length, 2);
    for (const svid of [oldSvid, newSvid]) {
      const r = await verifySvid(svid.chain, bundle, "cluster.local", { now: t1 });
      assert.ok(r.ok, r.ok ? "" : r.error.message);
    }
    // A peer that has only the old bundle cannot verify the new SVIDs: bundles go out first.
    const r = await verifySvid(newSvid.chain, oldSvid.bundle, "cluster.local", { now: t1 });
    assert.equal(!r.ok && r.error.code, "SVID_UNKNOWN_ROOT");

    const retainUntil = ca.material.retiredRoots[0]?.retainUntil as Date;
    assert.equal(retainUntil.getTime(), t1.getTime() + 24 * HOUR + CLOCK_SKEW_ALLOWANCE_MS);
    assert.ok(retainUntil >= oldSvid.notAfter, "retained at least until the last old SVID expires");
    const justBefore = new Date(retainUntil.getTime() - 1);
    assert.equal(ca.trustBundle(justBefore).roots.length, 2);
    assert.equal(ca.trustBundle(retainUntil).roots.length, 1, "dropped once the window has passed");
  });

  it("is persisted: the retired root is reloaded and stays in trust-bundle.pem", async (t) => {
    const dir = await tempDir(t);
    const ca = await initCaDir(dir);
    const oldSvid = await ca.issue({ spiffeId: ID });
    await ca.rotateRoot();
    await saveCaDir(dir, ca);
    const reloaded = await loadCaDir(dir);
    assert.equal(reloaded.material.retiredRoots.length, 1);
    const fileBundle = TrustBundle.fromPem(await readFile(join(dir, CA_FILES.trustBundle), "utf8"));
    assert.equal(fileBundle.roots.length, 2);
    const newSvid = await reloaded.issue({ spiffeId: ID });
    for (const svid of [oldSvid, newSvid]) {
      const r = await verifySvid(svid.chain, fileBundle, "cluster.local");
      assert.ok(r.ok, r.ok ? "" : r.error.message);
    }
  });

  it("drops roots whose window has passed at the next rotation", async () => {
    const t0 = new Date("2026-01-01T00:00:00Z");
    const ca = await CertificateAuthority.create({ maxSvidTtlMs: HOUR, now: t0 });
    await ca.rotateRoot(new Date(t0.getTime() + 1000));
    await ca.rotateRoot(new Date(t0.getTime() + 2000));
    assert.equal(ca.material.retiredRoots.length, 2);
    await ca.rotateRoot(new Date(t0.getTime() + 3 * HOUR));
    assert.equal(ca.material.retiredRoots.length, 1, "only the root retired just now is left");
  });
});

describe("renewal time", () => {
  const validity = {
    notBefore: new Date("2026-11-22T00:00:00Z"),
    notAfter: new Date("2026-11-23T00:00:00Z"),
  };

  it("is at half of the lifetime, ± the jitter", () => {
    assert.equal(
      renewalTime(validity, { random: () => 0.5 }).toISOString(),
      "2026-11-22T12:00:00.000Z",
    );
    assert.equal(
      renewalTime(validity, { random: () => 0 }).toISOString(),
      "2026-11-22T10:48:00.000Z",
    ); // 45 %
    assert.equal(
      renewalTime(validity, { random: () => 0.999999 }).getTime() <=
        Date.parse("2026-11-22T13:12:00Z"),
      true,
    ); // ≤ 55 %
    assert.equal(
      renewalTime(validity, { ratio: 0.8, jitter: 0, random: () => 0 }).toISOString(),
      "2026-11-22T19:12:00.000Z",
    );
  });

  it("spreads workloads out", () => {
    const times = new Set(Array.from({ length: 50 }, () => renewalTime(validity).getTime()));
    assert.ok(times.size > 40);
    for (const t of times)
      assert.ok(t >= Date.parse("2026-11-22T10:48:00Z") && t <= Date.parse("2026-11-22T13:12:00Z"));
  });

  it("gives the delay from now, never negative", () => {
    const now = new Date("2026-11-22T06:00:00Z");
    assert.equal(renewalDelay(validity, now, { random: () => 0.5 }), 6 * HOUR);
    assert.equal(
      renewalDelay(validity, new Date("2026-11-22T20:00:00Z"), { random: () => 0.5 }),
      0,
    );
  });
});
