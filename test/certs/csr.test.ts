// Signing from CSRs: the CA signs exactly the identity it was told the caller may have,
// and refuses everything else with a distinct code. CSRs come from openssl as well as
// from Trellis, so interoperability is tested too.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import {
  type CertErrorCode,
  CertificateAuthority,
  createCsr,
  derOf,
  generateKeyPair,
  isCertError,
  readCertificate,
  svidPem,
  verifySvid,
} from "../../certs/index.js";
import { openssl } from "../helpers/run.js";
import { tempDir } from "../helpers/tmp.js";

const ALLOWED = "spiffe://cluster.local/ns/default/sa/web";

/** A CSR made by openssl: key kind, and the subjectAltName extension text (or none). */
async function opensslCsr(dir: string, name: string, key: string[], san?: string): Promise<Buffer> {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const k = openssl("genpkey", ...key, "-out", keyFile);
  assert.equal(k.status, 0, k.stderr);
  const r = openssl(
    "req",
    "-new",
    "-key",
    keyFile,
    "-subj",
    "/O=test",
    ...(san ? ["-addext", `subjectAltName=${san}`] : []),
    "-out",
    csrFile,
  );
  assert.equal(r.status, 0, r.stderr);
  return readFile(csrFile);
}

const EC = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];

describe("signing CSRs", () => {
  let ca: CertificateAuthority;
  before(async () => {
    ca = await CertificateAuthority.create({ intermediate: true });
  });

  it("signs a CSR from Trellis for the allowed identity, with the CSR's own key", async () => {
    const keys = await generateKeyPair("ec-p256");
    const svid = await ca.signCsr(await createCsr(keys.privateKey, [ALLOWED]), {
      allowedIdentity: ALLOWED,
    });
    const leaf = readCertificate(svid.certificate);
    const expected = keys.publicKey.export({ format: "der", type: "spki" });
    assert.deepEqual(Buffer.from(leaf.subjectPublicKeyInfo), expected);
    const verified = await verifySvid(svid.chain, svid.bundle, "cluster.local");
    assert.equal(verified.ok && verified.spiffeId.uri, ALLOWED);
  });

  it("signs openssl's CSRs (EC and RSA), ignoring their subject and non-URI SANs", async (t) => {
    const dir = await tempDir(t);
    for (const [name, key] of [
      ["ec", EC],
      ["rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]],
    ] as const) {
      const csr = await opensslCsr(dir, name, [...key], `URI:${ALLOWED},DNS:web.default.svc`);
      const svid = await ca.signCsr(csr, { allowedIdentity: ALLOWED });
      const leaf = readCertificate(svid.certificate);
      assert.equal(
        Buffer.from(leaf.subject).toString("hex"),
        "3000",
        "subject is empty, not O=test",
      );
      const v = await verifySvid(svid.chain, svid.bundle, "cluster.local");
      assert.ok(v.ok);
    }
  });

  const refusals: {
    what: string;
    code: CertErrorCode;
    csr: (dir: string) => Promise<Buffer | string>;
  }[] = [
    {
      what: "garbage",
      code: "CSR_MALFORMED",
      csr: async () =>
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    },
    {
      what: "bytes that are neither PEM nor DER",
      code: "CSR_MALFORMED",
      csr: async () => Buffer.from("not pem, not der"),
    },
    {
      what: "a certificate instead of a CSR",
      code: "CSR_MALFORMED",
      csr: async () =>
        svidPem(await (await CertificateAuthority.create()).issue({ spiffeId: ALLOWED })).cert,
    },
    {
      what: "a CSR altered after signing",
      code: "CSR_BAD_SIGNATURE",
      csr: async () => {
        const keys = await generateKeyPair("ec-p256");
        const der = derOf(await createCsr(keys.privateKey, [ALLOWED]), "CERTIFICATE REQUEST");
        // Same length, another identity: the structure stays valid, the signature does not.
        der.set(Buffer.from("sa/wex"), der.indexOf(Buffer.from("sa/web")));
        return der;
      },
    },
    {
      what: "an RSA-1024 key",
      code: "CSR_WEAK_KEY",
      csr: (dir) =>
        opensslCsr(
          dir,
          "weak",
          ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
          `URI:${ALLOWED}`,
        ),
    },
    {
      what: "a secp256k1 key",
      code: "CSR_WEAK_KEY",
      csr: (dir) =>
        opensslCsr(
          dir,
          "k1",
          ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
          `URI:${ALLOWED}`,
        ),
    },
    { what: "no SAN at all", code: "CSR_NO_URI_SAN", csr: (dir) => opensslCsr(dir, "nosan", EC) },
    {
      what: "only a DNS SAN",
      code: "CSR_NO_URI_SAN",
      csr: (dir) => opensslCsr(dir, "dns", EC, "DNS:web.default.svc"),
    },
    {
      what: "two URI SANs",
      code: "CSR_MULTIPLE_URI_SANS",
      csr: (dir) =>
        opensslCsr(dir, "two", EC, `URI:${ALLOWED},URI:spiffe://cluster.local/ns/default/sa/other`),
    },
    {
      what: "a non-SPIFFE URI",
      code: "CSR_NOT_SPIFFE",
      csr: (dir) => opensslCsr(dir, "https", EC, "URI:https://cluster.local/ns/default/sa/web"),
    },
    {
      what: "a malformed SPIFFE ID",
      code: "CSR_NOT_SPIFFE",
      csr: (dir) => opensslCsr(dir, "bad", EC, "URI:spiffe://Cluster.Local/ns/default/sa/web"),
    },
    {
      what: "another trust domain",
      code: "CSR_WRONG_TRUST_DOMAIN",
      csr: (dir) => opensslCsr(dir, "td", EC, "URI:spiffe://evil.example/ns/default/sa/web"),
    },
    {
      what: "another identity",
      code: "CSR_IDENTITY_NOT_ALLOWED",
      csr: (dir) =>
        opensslCsr(dir, "other", EC, "URI:spiffe://cluster.local/ns/kube-system/sa/admin"),
    },
  ];

  for (const r of refusals) {
    it(`refuses ${r.what} with ${r.code}`, async (t) => {
      const dir = await tempDir(t);
      const csr = await r.csr(dir);
      await assert.rejects(ca.signCsr(csr, { allowedIdentity: ALLOWED }), (err) => {
        assert.ok(isCertError(err, r.code), `expected ${r.code}, got ${String(err)}`);
        assert.ok(err.message.length > 20, "the message says what was wrong");
        return true;
      });
    });
  }

  it("refuses an allowed identity that is not a SPIFFE ID", async () => {
    const keys = await generateKeyPair("ec-p256");
    const csr = await createCsr(keys.privateKey, [ALLOWED]);
    await assert.rejects(ca.signCsr(csr, { allowedIdentity: "web" }), (e) =>
      isCertError(e, "INVALID_SPIFFE_ID"),
    );
  });
});
