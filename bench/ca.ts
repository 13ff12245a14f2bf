// `npm run bench -- ca`: SVIDs signed from CSRs per second (CSR decoded and its
// signature verified, identity checked, certificate built and signed), beside raw
// ECDSA P-256 signatures per second through WebCrypto on the same machine and runtime.
// Also printed, to explain the ratio: node:crypto's raw sign and verify rates, and the
// ceiling they set for any CA that verifies each CSR and signs one certificate.

import {
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  webcrypto,
} from "node:crypto";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { CertificateAuthority, createCsr, derOf, generateKeyPair } from "../certs/index.js";
import { publicKeyFromSpki } from "../certs/keys.js";
import { readCsr } from "../certs/x509-read.js";
import { fmtRate, measureRate } from "./measure.js";

const GOAL = 0.5;

export async function benchCa(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: "string", default: "3" },
      concurrency: { type: "string", default: "32" },
      csrs: { type: "string", default: "512" },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const csrCount = Number(values.csrs);
  console.log(
    `bench ca: node ${process.version}, ${availableParallelism()} CPUs, ${concurrency} in flight, ${seconds}s per measurement`,
  );

  // Distinct workloads, each with its own key and CSR, made before the clock starts.
  const ca = await CertificateAuthority.create({ keyType: "ec-p256", intermediate: true });
  const requests = await Promise.all(
    Array.from({ length: csrCount }, async (_, i) => {
      const id = `spiffe://cluster.local/ns/bench/sa/workload-${i}`;
      return { id, csr: await createCsr((await generateKeyPair("ec-p256")).privateKey, [id]) };
    }),
  );
  const sample = await ca.signCsr(requests[0]?.csr as string, {
    allowedIdentity: requests[0]?.id as string,
  });
  const tbsLike = sample.certificate.subarray(0, sample.certificate.length - 80); // the size of what is signed

  const wc = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
  ]);
  const nodeKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const nodeSig = nodeSign("sha256", tbsLike, nodeKeys.privateKey);
  const ecdsa = { name: "ECDSA", hash: "SHA-256" };

  const rows: [string, number][] = [];
  const measure = async (label: string, op: (i: number) => Promise<unknown>) => {
    const r = await measureRate(op, concurrency, seconds);
    rows.push([label, r.perSecond]);
    console.log(`  ${label.padEnd(46)}${fmtRate(r.perSecond).padStart(12)}`);
    return r.perSecond;
  };

  const webcryptoSign = await measure("raw ECDSA P-256 sign, WebCrypto", () =>
    webcrypto.subtle.sign(ecdsa, wc.privateKey, tbsLike),
  );
  const issued = await measure("SVIDs signed from CSRs (signCsr)", (i) => {
    const r = requests[i % requests.length] as { id: string; csr: string };
    return ca.signCsr(r.csr, { allowedIdentity: r.id });
  });
  const rawSign = await measure(
    "raw ECDSA P-256 sign, node:crypto",
    () =>
      new Promise((res, rej) =>
        nodeSign("sha256", tbsLike, nodeKeys.privateKey, (e, s) => (e ? rej(e) : res(s))),
      ),
  );
  const rawVerify = await measure(
    "raw ECDSA P-256 verify, node:crypto",
    () =>
      new Promise((res, rej) =>
        nodeVerify("sha256", tbsLike, nodeKeys.publicKey, nodeSig, (e, ok) =>
          e ? rej(e) : res(ok),
        ),
      ),
  );
  // Importing the CSR's public key is synchronous: measured on one thread, and assumed
  // to spread perfectly over every CPU for the ceiling (an upper bound).
  const spkis = requests.map(
    (r) => readCsr(derOf(r.csr, "CERTIFICATE REQUEST")).subjectPublicKeyInfo,
  );
  const imports = await measure("P-256 public key import, one thread", async (i) =>
    publicKeyFromSpki(spkis[i % spkis.length] as Uint8Array),
  );
  const cpus = availableParallelism();
  const ceiling = 1 / (1 / (imports * cpus) + 1 / rawVerify + 1 / rawSign);
  console.log(
    `  ${"ceiling: import + verify + sign per SVID".padEnd(46)}${fmtRate(ceiling).padStart(12)}`,
  );
  console.log("");
  const ratio = issued / webcryptoSign;
  console.log(
    `  SVIDs from CSRs / raw WebCrypto signatures: ${ratio.toFixed(2)} (goal ≥ ${GOAL.toFixed(2)}: ${ratio >= GOAL ? "met" : "not met"})`,
  );
  console.log(
    `  SVIDs from CSRs / the import+verify+sign ceiling: ${(issued / ceiling).toFixed(2)}`,
  );
  console.log(
    `  the ceiling itself / raw WebCrypto signatures: ${(ceiling / webcryptoSign).toFixed(2)}`,
  );
  return 0;
}
