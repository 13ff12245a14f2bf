// verifySvid: the peer's SPIFFE ID, or a coded reason for each way a chain can be wrong.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  type CertErrorCode,
  CertificateAuthority,
  createCsr,
  generateKeyPair,
  type IssuedSvid,
  TrustBundle,
  type VerifyResult,
  verifySvid,
} from "../../certs/index.js";
import { randomSerial, signCertificate } from "../../certs/issue.js";
import { spkiOf } from "../../certs/keys.js";
import {
  basicConstraints,
  type Extension,
  encodeExtension,
  keyUsage,
  subjectAltNameUris,
} from "../../certs/x509-build.js";
import { readCertificate } from "../../certs/x509-read.js";

const ID = "spiffe://cluster.local/ns/default/sa/web";
const HOUR = 3_600_000;

function expectError(result: VerifyResult, code: CertErrorCode): void {
  assert.equal(result.ok, false, `expected ${code}, but the chain verified`);
  if (!result.ok) assert.equal(result.error.code, code, result.error.message);
}

/** A leaf signed by the CA's signing key with whatever extensions a test needs. */
async function craftedLeaf(ca: CertificateAuthority, extensions: Extension[]): Promise<Buffer> {
  const signer = ca.material.intermediate ?? ca.material.root;
  const keys = await generateKeyPair("ec-p256");
  const now = Date.now();
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: readCertificate(signer.cert).subject,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + HOUR),
      subject: Buffer.from([0x30, 0]),
      subjectPublicKeyInfo: spkiOf(keys.publicKey),
      extensions: extensions.map(encodeExtension),
    },
    signer.key,
  );
}

describe("verifySvid", () => {
  let ca: CertificateAuthority;
  let svid: IssuedSvid;
  before(async () => {
    ca = await CertificateAuthority.create({ intermediate: true });
    svid = await ca.issue({ spiffeId: ID });
  });

  it("returns the SPIFFE ID and the path to the root for a good chain", async () => {
    const result = await verifySvid(svid.chain, ca.trustBundle(), "cluster.local");
    assert.ok(result.ok);
    assert.equal(result.spiffeId.uri, ID);
    assert.equal(result.path.length, 3, "leaf, intermediate, root");
  });

  it("accepts the same chain as PEM text", async () => {
    const pem = svid.chain
      .map(
        (c) =>
          `-----BEGIN CERTIFICATE-----\n${Buffer.from(c).toString("base64")}\n-----END CERTIFICATE-----\n`,
      )
      .join("");
    const result = await verifySvid(
      pem,
      TrustBundle.fromPem(ca.trustBundle().toPem()),
      "cluster.local",
    );
    assert.equal(result.ok && result.spiffeId.uri, ID);
  });

  it("SVID_EXPIRED after notAfter", async () => {
    expectError(
      await verifySvid(svid.chain, ca.trustBundle(), "cluster.local", {
        now: new Date(svid.notAfter.getTime() + 1000),
      }),
      "SVID_EXPIRED",
    );
  });

  it("SVID_NOT_YET_VALID before notBefore", async () => {
    expectError(
      await verifySvid(svid.chain, ca.trustBundle(), "cluster.local", {
        now: new Date(svid.notBefore.getTime() - 1000),
      }),
      "SVID_NOT_YET_VALID",
    );
  });

  it("SVID_UNKNOWN_ROOT for a bundle of another CA", async () => {
    const other = await CertificateAuthority.create({ intermediate: true });
    expectError(
      await verifySvid(svid.chain, other.trustBundle(), "cluster.local"),
      "SVID_UNKNOWN_ROOT",
    );
  });

  it("SVID_UNKNOWN_ROOT when the intermediate is missing from the chain", async () => {
    expectError(
      await verifySvid([svid.certificate], ca.trustBundle(), "cluster.local"),
      "SVID_UNKNOWN_ROOT",
    );
  });

  it("SVID_UNKNOWN_ROOT when a workload certificate poses as an intermediate", async () => {
    // The SVID's holder signs a certificate for another identity: it is not a CA.
    const holderKeys = await generateKeyPair("ec-p256");
    const holderSvid = await ca.signCsr(await createCsr(holderKeys.privateKey, [ID]), {
      allowedIdentity: ID,
    });
    const forged = await signCertificate(
      {
        serial: randomSerial(),
        issuer: readCertificate(holderSvid.certificate).subject,
        notBefore: new Date(Date.now() - HOUR),
        notAfter: new Date(Date.now() + HOUR),
        subject: Buffer.from([0x30, 0]),
        subjectPublicKeyInfo: spkiOf((await generateKeyPair("ec-p256")).publicKey),
        extensions: [
          subjectAltNameUris(["spiffe://cluster.local/ns/kube-system/sa/admin"], true),
        ].map(encodeExtension),
      },
      holderKeys.privateKey,
    );
    expectError(
      await verifySvid([forged, ...holderSvid.chain], ca.trustBundle(), "cluster.local"),
      "SVID_UNKNOWN_ROOT",
    );
  });

  it("SVID_WRONG_TRUST_DOMAIN for another trust domain's SVID", async () => {
    const prod = await CertificateAuthority.create({ trustDomain: "prod.example" });
    const foreign = await prod.issue({ spiffeId: "spiffe://prod.example/ns/default/sa/web" });
    expectError(
      await verifySvid(foreign.chain, prod.trustBundle(), "cluster.local"),
      "SVID_WRONG_TRUST_DOMAIN",
    );
  });

  const notSvids: [string, () => Extension[]][] = [
    ["no SAN", () => [basicConstraints(false), keyUsage(["digitalSignature"])]],
    [
      "two URI SANs",
      () => [subjectAltNameUris([ID, "spiffe://cluster.local/ns/default/sa/db"], true)],
    ],
    ["a non-SPIFFE URI", () => [subjectAltNameUris(["https://web.example"], true)]],
    ["a trust-domain-only ID", () => [subjectAltNameUris(["spiffe://cluster.local"], true)]],
    ["CA:true", () => [subjectAltNameUris([ID], true), basicConstraints(true)]],
    [
      "keyCertSign",
      () => [subjectAltNameUris([ID], true), keyUsage(["digitalSignature", "keyCertSign"])],
    ],
    ["no digitalSignature", () => [subjectAltNameUris([ID], true), keyUsage(["keyEncipherment"])]],
  ];
  for (const [what, exts] of notSvids) {
    it(`SVID_NOT_AN_SVID for a leaf with ${what}`, async () => {
      const leaf = await craftedLeaf(ca, exts());
      expectError(
        await verifySvid([leaf, ...svid.chain.slice(1)], ca.trustBundle(), "cluster.local"),
        "SVID_NOT_AN_SVID",
      );
    });
  }

  it("the crafted-leaf helper makes verifiable leaves (so the cases above fail for their reason)", async () => {
    const leaf = await craftedLeaf(ca, [
      subjectAltNameUris([ID], true),
      keyUsage(["digitalSignature"]),
    ]);
    const result = await verifySvid(
      [leaf, ...svid.chain.slice(1)],
      ca.trustBundle(),
      "cluster.local",
    );
    assert.equal(result.ok && result.spiffeId.uri, ID);
  });

  it("SVID_MALFORMED for garbage and for an empty chain", async () => {
    expectError(
      await verifySvid([Buffer.from("garbage")], ca.trustBundle(), "cluster.local"),
      "SVID_MALFORMED",
    );
    expectError(
      await verifySvid("no pem here", ca.trustBundle(), "cluster.local"),
      "SVID_MALFORMED",
    );
  });
});
