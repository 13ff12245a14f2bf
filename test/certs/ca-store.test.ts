// The CA on disk: layout and modes, never overwriting, loud and harmless failure on
// corrupt or mismatched files, and identity that survives a restart.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  CA_FILES,
  type CertErrorCode,
  initCaDir,
  isCertError,
  loadCaDir,
  TrustBundle,
  verifySvid,
} from "../../certs/index.js";
import { tempDir } from "../helpers/tmp.js";

const ID = "spiffe://cluster.local/ns/default/sa/web";

/** A fingerprint of every file in `dir`: names, contents and modes. */
async function snapshot(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const name of (await readdir(dir)).sort()) {
    h.update(name)
      .update(await readFile(join(dir, name)))
      .update(String((await stat(join(dir, name))).mode));
  }
  return h.digest("hex");
}

async function expectLoadError(dir: string, code: CertErrorCode, file: string): Promise<void> {
  const before = await snapshot(dir);
  await assert.rejects(loadCaDir(dir), (err) => {
    assert.ok(isCertError(err, code), `expected ${code}, got ${String(err)}`);
    assert.equal(err.file, join(dir, file), "the error names the file");
    assert.ok(err.message.includes(join(dir, file)), err.message);
    return true;
  });
  assert.equal(await snapshot(dir), before, "a failed load changes nothing");
}

describe("CA directory", () => {
  it("holds Istio's cacerts layout, keys 0600", async (t) => {
    const dir = await tempDir(t);
    await initCaDir(dir, { intermediate: true });
    const names = await readdir(dir);
    for (const f of Object.values(CA_FILES)) assert.ok(names.includes(f), `${f} is written`);
    for (const key of [CA_FILES.caKey, CA_FILES.rootKey]) {
      assert.equal((await stat(join(dir, key))).mode & 0o777, 0o600, `${key} is 0600`);
    }
    const chain = await readFile(join(dir, CA_FILES.certChain), "utf8");
    assert.equal(
      chain.match(/BEGIN CERTIFICATE/g)?.length,
      2,
      "cert-chain.pem: intermediate then root",
    );
    assert.ok(chain.endsWith(await readFile(join(dir, CA_FILES.rootCert), "utf8")));
  });

  it("never overwrites: init on an existing CA fails with CA_EXISTS and changes nothing", async (t) => {
    const dir = await tempDir(t);
    await initCaDir(dir);
    const before = await snapshot(dir);
    await assert.rejects(initCaDir(dir, { keyType: "ec-p384" }), (e) =>
      isCertError(e, "CA_EXISTS"),
    );
    assert.equal(await snapshot(dir), before);
  });

  it("refuses init when even one CA file is already there", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, CA_FILES.rootKey), "precious\n");
    await assert.rejects(
      initCaDir(dir),
      (e) => isCertError(e, "CA_EXISTS") && e.file === join(dir, CA_FILES.rootKey),
    );
    assert.equal(await readFile(join(dir, CA_FILES.rootKey), "utf8"), "precious\n");
    assert.deepEqual(await readdir(dir), [CA_FILES.rootKey]);
  });

  it("CA_NOT_FOUND for a directory with no CA", async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(
      loadCaDir(dir),
      (e) => isCertError(e, "CA_NOT_FOUND") && /trellis ca init/.test(e.message),
    );
  });

  it("CA_FILE_CORRUPT naming a truncated certificate", async (t) => {
    const dir = await tempDir(t);
    await initCaDir(dir);
    const pem = await readFile(join(dir, CA_FILES.rootCert), "utf8");
    await writeFile(join(dir, CA_FILES.rootCert), pem.slice(0, 100) + pem.slice(-30));
    await expectLoadError(dir, "CA_FILE_CORRUPT", CA_FILES.rootCert);
  });

  it("CA_FILE_CORRUPT naming a key file that is not a key", async (t) => {
    const dir = await tempDir(t);
    await initCaDir(dir, { intermediate: true });
    await writeFile(
      join(dir, CA_FILES.caKey),
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      { mode: 0o600 },
    );
    await expectLoadError(dir, "CA_FILE_CORRUPT", CA_FILES.caKey);
  });

  it("CA_FILE_CORRUPT naming a broken ca.json", async (t) => {
    const dir = await tempDir(t);
    await initCaDir(dir);
    await writeFile(join(dir, CA_FILES.config), '{"version": 1, "trustDomain": "Bad Domain"');
    await expectLoadError(dir, "CA_FILE_CORRUPT", CA_FILES.config);
  });

  it("CA_KEY_MISMATCH naming a key from another CA", async (t) => {
    const dir = await tempDir(t);
    const other = await tempDir(t);
    await initCaDir(dir, { intermediate: true });
    await initCaDir(other, { intermediate: true });
    await copyFile(join(other, CA_FILES.caKey), join(dir, CA_FILES.caKey));
    await expectLoadError(dir, "CA_KEY_MISMATCH", CA_FILES.caKey);
  });

  it("CA_CHAIN_MISMATCH naming an intermediate that the root did not sign", async (t) => {
    const dir = await tempDir(t);
    const other = await tempDir(t);
    await initCaDir(dir, { intermediate: true });
    await initCaDir(other, { intermediate: true });
    await copyFile(join(other, CA_FILES.caKey), join(dir, CA_FILES.caKey));
    await copyFile(join(other, CA_FILES.caCert), join(dir, CA_FILES.caCert));
    await expectLoadError(dir, "CA_CHAIN_MISMATCH", CA_FILES.caCert);
  });

  it("survives a restart: SVIDs from before and after verify against the same bundle", async (t) => {
    const dir = await tempDir(t);
    const first = await initCaDir(dir, { intermediate: true, keyType: "ec-p384" });
    const before = await first.issue({ spiffeId: ID });
    const restarted = await loadCaDir(dir);
    assert.equal(restarted.keyType, "ec-p384");
    const after = await restarted.issue({ spiffeId: ID });
    const bundle = TrustBundle.fromPem(await readFile(join(dir, CA_FILES.trustBundle), "utf8"));
    for (const svid of [before, after]) {
      const result = await verifySvid(svid.chain, bundle, "cluster.local");
      assert.equal(result.ok && result.spiffeId.uri, ID);
    }
    assert.deepEqual(
      Buffer.from(after.chain[1] as Uint8Array),
      Buffer.from(before.chain[1] as Uint8Array),
      "the same intermediate signs both",
    );
  });
});
