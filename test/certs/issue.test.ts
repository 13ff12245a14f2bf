// SVIDs as issued, checked by two independent readers: openssl and @peculiar/x509.
import "reflect-metadata";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import {
  CertificateAuthority,
  CLOCK_SKEW_ALLOWANCE_MS,
  isCertError,
  KEY_TYPES,
  readCertificate,
  svidPem,
} from "../../certs/index.js";
import { openssl } from "../helpers/run.js";
import { tempDir } from "../helpers/tmp.js";

const ID = "spiffe://cluster.local/ns/default/sa/web";

describe("issued SVIDs", () => {
  for (const keyType of KEY_TYPES) {
    for (const intermediate of [false, true]) {
      it(`pass openssl verify against the bundle (CA ${keyType}, ${intermediate ? "with" : "no"} intermediate)`, async (t) => {
        const dir = await tempDir(t);
        const ca = await CertificateAuthority.create({ keyType, intermediate });
        const pem = svidPem(await ca.issue({ spiffeId: ID }));
        await writeFile(join(dir, "cert.pem"), pem.cert);
        await writeFile(join(dir, "chain.pem"), pem.chain);
        await writeFile(join(dir, "bundle.pem"), pem.bundle);
        const ok = openssl(
          "verify",
          "-x509_strict",
          "-purpose",
          "sslclient",
          "-CAfile",
          join(dir, "bundle.pem"),
          "-untrusted",
          join(dir, "chain.pem"),
          join(dir, "cert.pem"),
        );
        assert.equal(ok.status, 0, ok.stderr + ok.stdout);
        assert.match(ok.stdout, /cert\.pem: OK/);
        const server = openssl(
          "verify",
          "-x509_strict",
          "-purpose",
          "sslserver",
          "-CAfile",
          join(dir, "bundle.pem"),
          "-untrusted",
          join(dir, "chain.pem"),
          join(dir, "cert.pem"),
        );
        assert.equal(server.status, 0, server.stderr + server.stdout);
        // Without the intermediate the leaf must not verify (the chain really is two steps).
        if (intermediate) {
          const alone = openssl(
            "verify",
            "-CAfile",
            join(dir, "bundle.pem"),
            join(dir, "cert.pem"),
          );
          assert.notEqual(alone.status, 0);
        }
      });
    }
  }

  it("show the SVID properties in openssl x509 -text", async (t) => {
    const dir = await tempDir(t);
    const ca = await CertificateAuthority.create();
    const svid = await ca.issue({ spiffeId: ID });
    await writeFile(join(dir, "cert.pem"), svidPem(svid).cert);
    const text = openssl("x509", "-in", join(dir, "cert.pem"), "-noout", "-text").stdout;
    assert.match(text, /Subject: *\n/, "the subject is empty");
    assert.match(
      text,
      /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/web\n/,
    );
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    assert.doesNotMatch(text, /Certificate Sign|CRL Sign/);
    assert.match(
      text,
      /X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  });

  it("decode the same way in @peculiar/x509, whose signature check agrees", async () => {
    const ca = await CertificateAuthority.create({ intermediate: true });
    const svid = await ca.issue({ spiffeId: ID });
    const leaf = new x509.X509Certificate(svid.certificate);
    const issuer = new x509.X509Certificate(svid.chain[1] as Uint8Array);
    assert.equal(leaf.subject, "");
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    assert.ok(san?.critical);
    assert.deepEqual(san?.names.toJSON(), [{ type: "url", value: ID }]);
    const bc = leaf.getExtension(x509.BasicConstraintsExtension);
    assert.equal(bc?.ca, false);
    assert.equal(bc?.critical, true);
    const ku = leaf.getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
    assert.equal(ku?.critical, true);
    assert.deepEqual(
      [...(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    );
    assert.equal(leaf.issuer, issuer.subject);
    assert.equal(await leaf.verify({ publicKey: issuer.publicKey, signatureOnly: true }), true);
    const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    assert.equal(aki, issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  });

  it("have random, unique, positive serial numbers of 16 bytes", async () => {
    const ca = await CertificateAuthority.create();
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { serialHex } = await ca.issue({ spiffeId: ID });
      assert.equal(serialHex.length, 32);
      assert.ok(Number.parseInt(serialHex.slice(0, 2), 16) < 0x80, "positive");
      serials.add(serialHex);
    }
    assert.equal(serials.size, 200);
  });

  it("live 24h by default, backdated by the clock-skew allowance; minutes are allowed", async () => {
    const now = new Date("2026-11-22T12:00:00Z");
    const ca = await CertificateAuthority.create({ now: new Date("2026-11-01T00:00:00Z") });
    const day = readCertificate((await ca.issue({ spiffeId: ID, now })).certificate);
    assert.equal(day.notBefore.getTime(), now.getTime() - CLOCK_SKEW_ALLOWANCE_MS);
    assert.equal(day.notAfter.getTime(), now.getTime() + 86_400_000);
    assert.ok(CLOCK_SKEW_ALLOWANCE_MS > 0 && CLOCK_SKEW_ALLOWANCE_MS <= 5 * 60_000);
    const short = readCertificate(
      (await ca.issue({ spiffeId: ID, now, ttlMs: 5 * 60_000 })).certificate,
    );
    assert.equal(short.notAfter.getTime(), now.getTime() + 5 * 60_000);
  });

  it("refuse lifetimes that are too short or longer than the CA's maximum", async () => {
    const ca = await CertificateAuthority.create({ maxSvidTtlMs: 3_600_000 });
    await assert.rejects(ca.issue({ spiffeId: ID, ttlMs: 1000 }), (e) =>
      isCertError(e, "INVALID_TTL"),
    );
    await assert.rejects(ca.issue({ spiffeId: ID, ttlMs: 7_200_000 }), (e) =>
      isCertError(e, "TTL_TOO_LONG"),
    );
  });

  it("never outlive the CA certificate that signs them", async () => {
    const ca = await CertificateAuthority.create({
      now: new Date("2020-01-01T00:00:00Z"),
      maxSvidTtlMs: 30 * 86_400_000,
    });
    const caNotAfter = readCertificate(ca.material.root.cert).notAfter;
    const now = new Date(caNotAfter.getTime() - 3_600_000);
    const leaf = readCertificate(
      (await ca.issue({ spiffeId: ID, now, ttlMs: 86_400_000 })).certificate,
    );
    assert.equal(leaf.notAfter.getTime(), caNotAfter.getTime());
  });

  it("are refused for IDs outside the CA's trust domain", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: "prod.example" });
    await assert.rejects(ca.issue({ spiffeId: ID }), (e) =>
      isCertError(e, "CSR_WRONG_TRUST_DOMAIN"),
    );
    await assert.rejects(ca.issue({ spiffeId: "spiffe://prod.example/ns/a/../b" }), (e) =>
      isCertError(e, "INVALID_SPIFFE_ID"),
    );
  });
});
