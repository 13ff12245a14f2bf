// The `trellis` command as a user runs it: help, usage errors (exit 2), and the CA
// commands end to end, each call a fresh process (so the CA survives restarts).
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openssl, trellis } from "../helpers/run.js";
import { tempDir } from "../helpers/tmp.js";

const ID = "spiffe://cluster.local/ns/default/sa/web";

describe("trellis", () => {
  it("--help lists its commands, and each command has --help", () => {
    const top = trellis("--help");
    assert.equal(top.status, 0);
    assert.match(top.stdout, /demo\s+the guided demo/);
    assert.match(top.stdout, /ca\s+the certificate authority/);
    const ca = trellis("ca", "--help");
    for (const sub of ["init", "issue", "sign-csr", "verify", "inspect", "rotate-root"]) {
      assert.match(ca.stdout, new RegExp(`^  ${sub} `, "m"));
      const help = trellis("ca", sub, "--help");
      assert.equal(help.status, 0);
      assert.match(help.stdout, new RegExp(`Usage: trellis ca ${sub}`));
    }
  });

  const usageErrors: [string[], RegExp][] = [
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["ca", "mint"], /unknown command 'mint'/],
    [["ca", "init", "--dir", "/tmp/x", "--colour"], /Unknown option '--colour'/],
    [["ca", "init"], /--dir is required/],
    [
      ["ca", "issue", "--dir", "d", "--spiffe-id", ID, "--out", "o", "--ttl", "soon"],
      /--ttl "soon" is not a duration/,
    ],
    [["ca", "inspect"], /missing argument/],
    [["--verbose"], /unknown option --verbose/],
  ];
  for (const [args, message] of usageErrors) {
    it(`exits 2 with a clear message for: ${args.join(" ")}`, () => {
      const r = trellis(...args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /--help' for usage/);
    });
  }

  it("ca init → issue → verify → inspect → sign-csr, across processes", async (t) => {
    const dir = await tempDir(t);
    const ca = join(dir, "ca");
    const init = trellis("ca", "init", "--dir", ca, "--intermediate");
    assert.equal(init.status, 0, init.stderr);
    assert.match(init.stdout, /trust domain cluster\.local, ec-p256, root \+ intermediate/);

    const again = trellis("ca", "init", "--dir", ca);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /CA_EXISTS/);

    const out = join(dir, "web");
    const issue = trellis(
      "ca",
      "issue",
      "--dir",
      ca,
      "--spiffe-id",
      ID,
      "--ttl",
      "90m",
      "--out",
      out,
    );
    assert.equal(issue.status, 0, issue.stderr);
    for (const f of ["cert.pem", "key.pem", "chain.pem", "bundle.pem"]) await stat(join(out, f));
    assert.equal((await stat(join(out, "key.pem"))).mode & 0o777, 0o600);
    assert.match(await readFile(join(out, "key.pem"), "utf8"), /^-----BEGIN PRIVATE KEY-----/);

    const verify = trellis(
      "ca",
      "verify",
      "--bundle",
      join(out, "bundle.pem"),
      "--chain",
      join(out, "chain.pem"),
    );
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.equal(verify.stdout.trim(), ID);

    const later = new Date(Date.now() + 2 * 3_600_000).toISOString();
    const expired = trellis(
      "ca",
      "verify",
      "--bundle",
      join(out, "bundle.pem"),
      "--chain",
      join(out, "chain.pem"),
      "--at",
      later,
    );
    assert.equal(expired.status, 1);
    assert.match(expired.stdout, /^SVID_EXPIRED: /);

    const wrongTd = trellis(
      "ca",
      "verify",
      "--bundle",
      join(out, "bundle.pem"),
      "--chain",
      join(out, "chain.pem"),
      "--trust-domain",
      "prod.example",
    );
    assert.equal(wrongTd.status, 1);
    assert.match(wrongTd.stdout, /^SVID_WRONG_TRUST_DOMAIN: /);

    const inspect = trellis("ca", "inspect", join(out, "chain.pem"));
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /\[0\]\nSubject: +\(empty\)/);
    assert.match(inspect.stdout, new RegExp(`SPIFFE ID: +${ID}`));
    assert.match(inspect.stdout, /Key usage: +digitalSignature \[critical\]/);
    assert.match(inspect.stdout, /\[1\]\nSubject: +O=cluster\.local, CN=Trellis intermediate CA/);
    assert.match(inspect.stdout, /CA: +yes, path length 0 \[critical\]/);

    // A CSR from openssl, signed only for the identity it is allowed.
    assert.equal(
      openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        join(dir, "k.pem"),
      ).status,
      0,
    );
    assert.equal(
      openssl(
        "req",
        "-new",
        "-key",
        join(dir, "k.pem"),
        "-subj",
        "/",
        "-addext",
        `subjectAltName=URI:${ID}`,
        "-out",
        join(dir, "web.csr"),
      ).status,
      0,
    );
    const signed = trellis(
      "ca",
      "sign-csr",
      "--dir",
      ca,
      "--csr",
      join(dir, "web.csr"),
      "--allow",
      ID,
      "--out",
      join(dir, "signed"),
    );
    assert.equal(signed.status, 0, signed.stderr);
    assert.equal(
      openssl(
        "verify",
        "-CAfile",
        join(dir, "signed", "bundle.pem"),
        "-untrusted",
        join(dir, "signed", "chain.pem"),
        join(dir, "signed", "cert.pem"),
      ).status,
      0,
    );
    const refused = trellis(
      "ca",
      "sign-csr",
      "--dir",
      ca,
      "--csr",
      join(dir, "web.csr"),
      "--allow",
      "spiffe://cluster.local/ns/default/sa/db",
      "--out",
      join(dir, "refused"),
    );
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /CSR_IDENTITY_NOT_ALLOWED/);
    await assert.rejects(stat(join(dir, "refused")), "a refused CSR writes nothing");
  });

  it("ca rotate-root keeps SVIDs issued before it verifiable", async (t) => {
    const dir = await tempDir(t);
    const ca = join(dir, "ca");
    assert.equal(trellis("ca", "init", "--dir", ca).status, 0);
    assert.equal(
      trellis("ca", "issue", "--dir", ca, "--spiffe-id", ID, "--out", join(dir, "old")).status,
      0,
    );
    const rotate = trellis("ca", "rotate-root", "--dir", ca);
    assert.equal(rotate.status, 0, rotate.stderr);
    assert.match(rotate.stdout, /stays in trust-bundle\.pem until/);
    assert.equal(
      trellis("ca", "issue", "--dir", ca, "--spiffe-id", ID, "--out", join(dir, "new")).status,
      0,
    );
    for (const which of ["old", "new"]) {
      const v = trellis(
        "ca",
        "verify",
        "--bundle",
        join(ca, "trust-bundle.pem"),
        "--chain",
        join(dir, which, "chain.pem"),
      );
      assert.equal(v.status, 0, `${which}: ${v.stdout}`);
    }
    // The old SVID's own bundle lacks the new root.
    const stale = trellis(
      "ca",
      "verify",
      "--bundle",
      join(dir, "old", "bundle.pem"),
      "--chain",
      join(dir, "new", "chain.pem"),
    );
    assert.match(stale.stdout, /^SVID_UNKNOWN_ROOT/);
  });

  it("ca verify reports a corrupt bundle with a code, exit 1", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, "bundle.pem"), "nothing\n");
    await writeFile(join(dir, "chain.pem"), "nothing\n");
    const r = trellis(
      "ca",
      "verify",
      "--bundle",
      join(dir, "bundle.pem"),
      "--chain",
      join(dir, "chain.pem"),
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /SVID_MALFORMED/);
  });

  it("demo shows two workloads naming each other over mutual TLS", () => {
    const r = trellis("demo");
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /backend saw the client as +spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend/,
    );
    assert.match(
      r.stdout,
      /frontend saw the server as spiffe:\/\/cluster\.local\/ns\/default\/sa\/backend/,
    );
    assert.match(r.stdout, /refused: CSR_IDENTITY_NOT_ALLOWED/);
    assert.match(r.stdout, /handshake with a stranger's certificate: refused/);
    assert.match(r.stdout, /from the old root: still valid/);
  });
});
