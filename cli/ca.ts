// `trellis ca …`: create a CA, issue and sign SVIDs, verify and inspect certificates.

import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CertError,
  checkKeyType,
  DEFAULT_MAX_SVID_TTL_MS,
  DEFAULT_SVID_TTL_MS,
  describeCertificate,
  formatDuration,
  fromPem,
  type IssuedSvid,
  initCaDir,
  KEY_TYPES,
  loadCaDir,
  parseDuration,
  saveCaDir,
  svidPem,
  TrustBundle,
  verifySvid,
} from "../certs/index.js";
import { type Command, type Invocation, UsageError } from "./command.js";

const str = (inv: Invocation, name: string): string => inv.values[name] as string;

function durationFlag(inv: Invocation, name: string, fallback: number, path: string): number {
  const text = inv.values[name] as string | undefined;
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new UsageError(
      `--${name} ${JSON.stringify(text)} is not a duration (e.g. 90s, 15m, 24h, 7d)`,
      path,
    );
  return ms;
}

async function writeSvid(out: string, svid: IssuedSvid, keyPem?: string): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const pem = svidPem(svid);
  const files: [string, string, number][] = [
    ["cert.pem", pem.cert, 0o644],
    ["chain.pem", pem.chain, 0o644],
    ["bundle.pem", pem.bundle, 0o644],
  ];
  if (keyPem) files.splice(1, 0, ["key.pem", keyPem, 0o600]);
  for (const [name, data, mode] of files) {
    await writeFile(join(out, name), data, { mode });
    await chmod(join(out, name), mode); // the file may have existed with another mode
  }
  return files.map(([name]) => join(out, name));
}

function reportSvid(inv: Invocation, svid: IssuedSvid, files: string[]): void {
  inv.out(`issued ${svid.spiffeId}`);
  inv.out(
    `  serial ${svid.serialHex}, valid ${svid.notBefore.toISOString()} → ${svid.notAfter.toISOString()}`,
  );
  for (const f of files) inv.out(`  wrote ${f}`);
}

const init: Command = {
  name: "init",
  summary: "create a CA (root, optional intermediate) in a directory",
  help: `Usage: trellis ca init --dir DIR [--trust-domain cluster.local] [--key-type ec-p256|ec-p384|rsa-2048]
                       [--intermediate] [--max-ttl 7d]

  --dir DIR            where the CA's files go (never overwritten)
  --trust-domain TD    the SPIFFE trust domain (default cluster.local)
  --key-type TYPE      ${KEY_TYPES.join(" | ")} (default ec-p256)
  --intermediate       sign workloads with an intermediate CA under the root
  --max-ttl D          the longest SVID lifetime this CA issues (default ${formatDuration(DEFAULT_MAX_SVID_TTL_MS)})`,
  options: {
    dir: { type: "string" },
    "trust-domain": { type: "string" },
    "key-type": { type: "string" },
    intermediate: { type: "boolean" },
    "max-ttl": { type: "string" },
  },
  required: ["dir"],
  async run(inv) {
    const dir = str(inv, "dir");
    const ca = await initCaDir(dir, {
      trustDomain: (inv.values["trust-domain"] as string | undefined) ?? "cluster.local",
      keyType: checkKeyType((inv.values["key-type"] as string | undefined) ?? "ec-p256"),
      intermediate: inv.values.intermediate === true,
      maxSvidTtlMs: durationFlag(inv, "max-ttl", DEFAULT_MAX_SVID_TTL_MS, "trellis ca init"),
    });
    inv.out(
      `created a CA in ${dir}: trust domain ${ca.trustDomain}, ${ca.keyType}, ${ca.material.intermediate ? "root + intermediate" : "root only"}`,
    );
    inv.out(describeCertificate(ca.material.root.cert).replace(/^/gm, "  "));
    return 0;
  },
};

const issue: Command = {
  name: "issue",
  summary: "generate a key and an SVID for a SPIFFE ID",
  help: `Usage: trellis ca issue --dir DIR --spiffe-id ID [--ttl 24h] [--key-type ec-p256] --out OUTDIR

  Writes OUTDIR/cert.pem (the leaf), key.pem (PKCS#8, 0600), chain.pem (leaf, then
  intermediates) and bundle.pem (the trusted roots).`,
  options: {
    dir: { type: "string" },
    "spiffe-id": { type: "string" },
    ttl: { type: "string" },
    "key-type": { type: "string" },
    out: { type: "string" },
  },
  required: ["dir", "spiffe-id", "out"],
  async run(inv) {
    const ttlMs = durationFlag(inv, "ttl", DEFAULT_SVID_TTL_MS, "trellis ca issue");
    const keyType = checkKeyType((inv.values["key-type"] as string | undefined) ?? "ec-p256");
    const ca = await loadCaDir(str(inv, "dir"));
    const svid = await ca.issue({ spiffeId: str(inv, "spiffe-id"), ttlMs, keyType });
    reportSvid(inv, svid, await writeSvid(str(inv, "out"), svid, svid.privateKeyPem));
    return 0;
  },
};

const signCsr: Command = {
  name: "sign-csr",
  summary: "sign a PEM CSR, if it asks for exactly the allowed SPIFFE ID",
  help: `Usage: trellis ca sign-csr --dir DIR --csr FILE --allow ID [--ttl 24h] --out OUTDIR

  Writes OUTDIR/cert.pem, chain.pem and bundle.pem. A CSR for any identity other
  than --allow is refused with a coded error and nothing is written.`,
  options: {
    dir: { type: "string" },
    csr: { type: "string" },
    allow: { type: "string" },
    ttl: { type: "string" },
    out: { type: "string" },
  },
  required: ["dir", "csr", "allow", "out"],
  async run(inv) {
    const ttlMs = durationFlag(inv, "ttl", DEFAULT_SVID_TTL_MS, "trellis ca sign-csr");
    const csr = await readFile(str(inv, "csr"));
    const ca = await loadCaDir(str(inv, "dir"));
    const svid = await ca.signCsr(csr, { allowedIdentity: str(inv, "allow"), ttlMs });
    reportSvid(inv, svid, await writeSvid(str(inv, "out"), svid));
    return 0;
  },
};

const verify: Command = {
  name: "verify",
  summary: "verify an SVID chain against a trust bundle; print its SPIFFE ID",
  help: `Usage: trellis ca verify --bundle FILE --chain FILE [--trust-domain cluster.local] [--at TIME]

  Prints the SPIFFE ID and exits 0, or prints the coded reason and exits 1.
  --at TIME verifies as of an ISO 8601 time instead of now.`,
  options: {
    bundle: { type: "string" },
    chain: { type: "string" },
    "trust-domain": { type: "string" },
    at: { type: "string" },
  },
  required: ["bundle", "chain"],
  async run(inv) {
    const at = inv.values.at as string | undefined;
    const now = at === undefined ? new Date() : new Date(at);
    if (Number.isNaN(now.getTime()))
      throw new UsageError(
        `--at ${JSON.stringify(at)} is not an ISO 8601 time`,
        "trellis ca verify",
      );
    let bundle: TrustBundle;
    try {
      bundle = TrustBundle.fromPem(await readFile(str(inv, "bundle"), "utf8"));
    } catch (err) {
      throw new CertError(
        "SVID_MALFORMED",
        `${str(inv, "bundle")}: ${(err as Error).message}`,
        str(inv, "bundle"),
      );
    }
    const result = await verifySvid(
      await readFile(str(inv, "chain"), "utf8"),
      bundle,
      (inv.values["trust-domain"] as string | undefined) ?? "cluster.local",
      { now },
    );
    if (!result.ok) {
      inv.out(`${result.error.code}: ${result.error.message}`);
      return 1;
    }
    inv.out(result.spiffeId.uri);
    return 0;
  },
};

const inspect: Command = {
  name: "inspect",
  summary: "print a readable summary of each certificate in a PEM file",
  help: "Usage: trellis ca inspect FILE",
  positionals: [1, 1],
  async run(inv) {
    const file = inv.positionals[0] as string;
    const blocks = fromPem(await readFile(file, "utf8"), "CERTIFICATE");
    if (blocks.length === 0)
      throw new UsageError(`${file} holds no PEM CERTIFICATE block`, "trellis ca inspect");
    inv.out(
      blocks
        .map((der, i) => `${blocks.length > 1 ? `[${i}]\n` : ""}${describeCertificate(der)}`)
        .join("\n\n"),
    );
    return 0;
  },
};

const rotateRoot: Command = {
  name: "rotate-root",
  summary: "replace the root (and intermediate); the old root stays trusted until its SVIDs expire",
  help: "Usage: trellis ca rotate-root --dir DIR",
  options: { dir: { type: "string" } },
  required: ["dir"],
  async run(inv) {
    const dir = str(inv, "dir");
    const ca = await loadCaDir(dir);
    await ca.rotateRoot();
    await saveCaDir(dir, ca);
    const retired = ca.material.retiredRoots[0];
    inv.out(
      `rotated the root of ${dir}; the previous root stays in trust-bundle.pem until ${retired?.retainUntil.toISOString()}`,
    );
    return 0;
  },
};

export const caCommand: Command = {
  name: "ca",
  summary: "the certificate authority: SPIFFE X.509-SVIDs for workloads",
  subcommands: [init, issue, signCsr, verify, inspect, rotateRoot],
};
