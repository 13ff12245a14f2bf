// The CA's material in a directory, in the layout of Istio's plug-in CA secret
// ("cacerts") plus what rotation needs:
//   ca-cert.pem, ca-key.pem   the signing CA (the intermediate, or the root itself)
//   cert-chain.pem            ca-cert.pem up to the root
//   root-cert.pem, root-key.pem
//   trust-bundle.pem          every trusted root (current first), for workloads
//   retired-root-N.pem        roots replaced by rotation, still trusted for a while
//   ca.json                   trust domain, key type, SVID lifetimes, retired roots
// Key files are 0600. `initCaDir` never overwrites; `loadCaDir` only reads, and a
// corrupt or mismatched file is a CertError naming that file.

import { createPublicKey, type KeyObject } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CaInitOptions, type CaMaterial, CertificateAuthority } from "./authority.js";
import { CertError } from "./errors.js";
import {
  checkKeyType,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyFromSpki,
  signatureAlgorithmByOid,
  spkiOf,
  verify,
} from "./keys.js";
import { fromPem, toPem } from "./pem.js";
import { checkTrustDomain } from "./spiffe.js";
import { equalBytes, readCertificate } from "./x509-read.js";

export const CA_FILES = {
  config: "ca.json",
  caCert: "ca-cert.pem",
  caKey: "ca-key.pem",
  certChain: "cert-chain.pem",
  rootCert: "root-cert.pem",
  rootKey: "root-key.pem",
  trustBundle: "trust-bundle.pem",
} as const;

interface CaConfigFile {
  version: 1;
  trustDomain: string;
  keyType: string;
  maxSvidTtlSeconds: number;
  intermediate: boolean;
  retiredRoots: { file: string; retainUntil: string }[];
}

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Every file of `material`, by name, with its mode. */
function renderFiles(material: CaMaterial, now: Date): Map<string, { data: string; mode: number }> {
  const files = new Map<string, { data: string; mode: number }>();
  const cert = (der: Uint8Array) => toPem("CERTIFICATE", der);
  const signing = material.intermediate ?? material.root;
  const retained = material.retiredRoots.filter((r) => r.retainUntil > now);
  const config: CaConfigFile = {
    version: 1,
    trustDomain: material.trustDomain,
    keyType: material.keyType,
    maxSvidTtlSeconds: material.maxSvidTtlMs / 1000,
    intermediate: material.intermediate !== undefined,
    retiredRoots: retained.map((r, i) => ({
      file: `retired-root-${i + 1}.pem`,
      retainUntil: r.retainUntil.toISOString(),
    })),
  };
  files.set(CA_FILES.caCert, { data: cert(signing.cert), mode: CERT_MODE });
  files.set(CA_FILES.caKey, { data: privateKeyToPem(signing.key), mode: KEY_MODE });
  const chain = material.intermediate
    ? [material.intermediate.cert, material.root.cert]
    : [material.root.cert];
  files.set(CA_FILES.certChain, { data: chain.map(cert).join(""), mode: CERT_MODE });
  files.set(CA_FILES.rootCert, { data: cert(material.root.cert), mode: CERT_MODE });
  files.set(CA_FILES.rootKey, { data: privateKeyToPem(material.root.key), mode: KEY_MODE });
  files.set(CA_FILES.trustBundle, {
    data: [material.root.cert, ...retained.map((r) => r.cert)].map(cert).join(""),
    mode: CERT_MODE,
  });
  for (const [i, r] of retained.entries()) {
    files.set(`retired-root-${i + 1}.pem`, { data: cert(r.cert), mode: CERT_MODE });
  }
  files.set(CA_FILES.config, { data: `${JSON.stringify(config, null, 2)}\n`, mode: CERT_MODE });
  return files;
}

/** Creates a CA and writes it to `dir`; refuses (CA_EXISTS) if any CA file is already there. */
export async function initCaDir(
  dir: string,
  options: CaInitOptions = {},
): Promise<CertificateAuthority> {
  for (const name of Object.values(CA_FILES)) {
    if (await exists(join(dir, name))) {
      throw new CertError(
        "CA_EXISTS",
        `${join(dir, name)} already exists; a CA is never overwritten (choose another --dir, or remove it yourself)`,
        join(dir, name),
      );
    }
  }
  const ca = await CertificateAuthority.create(options);
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  try {
    for (const [name, file] of renderFiles(ca.material, options.now ?? new Date())) {
      const path = join(dir, name);
      await writeFile(path, file.data, { mode: file.mode, flag: "wx" });
      written.push(path);
    }
  } catch (err) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw err;
  }
  return ca;
}

/** Rewrites `dir` from `ca` (after a rotation): each file replaced atomically, ca.json last. */
export async function saveCaDir(
  dir: string,
  ca: CertificateAuthority,
  now: Date = new Date(),
): Promise<void> {
  const files = [...renderFiles(ca.material, now)];
  for (const [name, file] of files) {
    const path = join(dir, name);
    await writeFile(`${path}.tmp`, file.data, { mode: file.mode });
    await rename(`${path}.tmp`, path);
  }
  const current = new Set(files.map(([name]) => name));
  for (const name of await readdir(dir)) {
    if (/^retired-root-\d+\.pem$/.test(name) && !current.has(name))
      await rm(join(dir, name), { force: true });
  }
}

async function readText(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code === "ENOENT"
      ? new CertError(
          name === CA_FILES.config ? "CA_NOT_FOUND" : "CA_FILE_CORRUPT",
          `${path} is missing${name === CA_FILES.config ? `: no CA in ${dir} (create one with 'trellis ca init --dir ${dir}')` : ""}`,
          path,
        )
      : new CertError("CA_FILE_CORRUPT", `${path} cannot be read: ${(err as Error).message}`, path);
  }
}

function corrupt(path: string, why: string): CertError {
  return new CertError("CA_FILE_CORRUPT", `${path} is corrupt: ${why}`, path);
}

async function readCert(dir: string, name: string): Promise<Buffer> {
  const path = join(dir, name);
  try {
    const blocks = fromPem(await readText(dir, name), "CERTIFICATE");
    if (blocks.length !== 1)
      throw new Error(`expected one CERTIFICATE block, found ${blocks.length}`);
    readCertificate(blocks[0] as Buffer);
    return blocks[0] as Buffer;
  } catch (err) {
    if (err instanceof CertError) throw err;
    throw corrupt(path, (err as Error).message);
  }
}

async function readKey(
  dir: string,
  name: string,
  cert: Uint8Array,
  certName: string,
): Promise<KeyObject> {
  const path = join(dir, name);
  let key: KeyObject;
  try {
    key = privateKeyFromPem(await readText(dir, name));
  } catch (err) {
    if (err instanceof CertError) throw err;
    throw corrupt(path, `not a PEM private key (${(err as Error).message})`);
  }
  if (!equalBytes(spkiOf(createPublicKey(key)), readCertificate(cert).subjectPublicKeyInfo)) {
    throw new CertError(
      "CA_KEY_MISMATCH",
      `${path} is not the key of ${join(dir, certName)}: the two files belong to different CAs`,
      path,
    );
  }
  return key;
}

function parseConfig(path: string, text: string): CaConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw corrupt(path, `not JSON (${(err as Error).message})`);
  }
  const c = raw as Partial<CaConfigFile>;
  if (c?.version !== 1) throw corrupt(path, "version must be 1");
  if (typeof c.trustDomain !== "string") throw corrupt(path, "trustDomain must be a string");
  if (typeof c.keyType !== "string") throw corrupt(path, "keyType must be a string");
  if (typeof c.maxSvidTtlSeconds !== "number" || c.maxSvidTtlSeconds <= 0)
    throw corrupt(path, "maxSvidTtlSeconds must be a positive number");
  if (typeof c.intermediate !== "boolean")
    throw corrupt(path, "intermediate must be true or false");
  if (
    !Array.isArray(c.retiredRoots) ||
    c.retiredRoots.some(
      (r) =>
        typeof r?.file !== "string" ||
        Number.isNaN(Date.parse(r?.retainUntil)) ||
        r.file.includes("/"),
    )
  ) {
    throw corrupt(path, "retiredRoots must be a list of {file, retainUntil}");
  }
  try {
    checkTrustDomain(c.trustDomain);
    checkKeyType(c.keyType);
  } catch (err) {
    throw corrupt(path, (err as Error).message);
  }
  return c as CaConfigFile;
}

/** Loads and cross-checks the CA in `dir`. Reads only. */
export async function loadCaDir(dir: string): Promise<CertificateAuthority> {
  const configPath = join(dir, CA_FILES.config);
  const config = parseConfig(configPath, await readText(dir, CA_FILES.config));
  const rootCert = await readCert(dir, CA_FILES.rootCert);
  const rootKey = await readKey(dir, CA_FILES.rootKey, rootCert, CA_FILES.rootCert);
  const caCert = await readCert(dir, CA_FILES.caCert);
  const caKey = await readKey(dir, CA_FILES.caKey, caCert, CA_FILES.caCert);
  const isRoot = equalBytes(caCert, rootCert);
  if (isRoot === config.intermediate) {
    throw new CertError(
      "CA_CHAIN_MISMATCH",
      `${join(dir, CA_FILES.caCert)} ${isRoot ? "is the root, but ca.json says there is an intermediate" : "is not the root, but ca.json says there is no intermediate"}`,
      join(dir, CA_FILES.caCert),
    );
  }
  if (!isRoot) {
    const facts = readCertificate(caCert);
    const alg = signatureAlgorithmByOid(facts.signatureAlgorithmOid);
    const root = readCertificate(rootCert);
    const signed =
      alg &&
      equalBytes(facts.issuer, root.subject) &&
      (await verify(alg, facts.tbs, publicKeyFromSpki(root.subjectPublicKeyInfo), facts.signature));
    if (!signed) {
      throw new CertError(
        "CA_CHAIN_MISMATCH",
        `${join(dir, CA_FILES.caCert)} was not signed by ${join(dir, CA_FILES.rootCert)}`,
        join(dir, CA_FILES.caCert),
      );
    }
  }
  const retiredRoots = [];
  for (const r of config.retiredRoots) {
    retiredRoots.push({ cert: await readCert(dir, r.file), retainUntil: new Date(r.retainUntil) });
  }
  return new CertificateAuthority({
    trustDomain: config.trustDomain,
    keyType: checkKeyType(config.keyType),
    maxSvidTtlMs: config.maxSvidTtlSeconds * 1000,
    root: { cert: rootCert, key: rootKey },
    intermediate: isRoot ? undefined : { cert: caCert, key: caKey },
    retiredRoots,
  });
}
