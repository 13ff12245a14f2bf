// Key pairs and signatures. node:crypto KeyObjects with the callback forms of
// sign/verify, which run on libuv's thread pool: measured ~1.6x the throughput of
// WebCrypto on the same OpenSSL (see bench/ca.ts).

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  generateKeyPair as nodeGenerateKeyPair,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import {
  children,
  decodeBitString,
  decodeOid,
  expectTag,
  nullValue,
  oid,
  readWhole,
  sequence,
  Tag,
} from "./der.js";
import { CertError } from "./errors.js";
import { Oid } from "./oids.js";

export const KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export function checkKeyType(text: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(text)) return text as KeyType;
  throw new CertError(
    "UNSUPPORTED_KEY_TYPE",
    `key type ${JSON.stringify(text)} is not supported; use one of ${KEY_TYPES.join(", ")}`,
  );
}

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function generateKeyPair(type: KeyType): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: KeyObject, privateKey: KeyObject) =>
      err ? reject(err) : resolve({ publicKey, privateKey });
    if (type === "rsa-2048") nodeGenerateKeyPair("rsa", { modulusLength: 2048 }, done);
    else nodeGenerateKeyPair("ec", { namedCurve: type === "ec-p256" ? "P-256" : "P-384" }, done);
  });
}

/** An X.509 signature algorithm: its AlgorithmIdentifier DER and the digest node:crypto uses. */
export interface SignatureAlgorithm {
  readonly oid: string;
  readonly hash: "sha256" | "sha384" | "sha512" | null;
  readonly identifier: Buffer;
}

const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  { oid: Oid.ecdsaWithSha256, hash: "sha256", identifier: sequence(oid(Oid.ecdsaWithSha256)) },
  { oid: Oid.ecdsaWithSha384, hash: "sha384", identifier: sequence(oid(Oid.ecdsaWithSha384)) },
  { oid: Oid.ecdsaWithSha512, hash: "sha512", identifier: sequence(oid(Oid.ecdsaWithSha512)) },
  {
    oid: Oid.sha256WithRsa,
    hash: "sha256",
    identifier: sequence(oid(Oid.sha256WithRsa), nullValue()),
  },
  {
    oid: Oid.sha384WithRsa,
    hash: "sha384",
    identifier: sequence(oid(Oid.sha384WithRsa), nullValue()),
  },
  {
    oid: Oid.sha512WithRsa,
    hash: "sha512",
    identifier: sequence(oid(Oid.sha512WithRsa), nullValue()),
  },
  { oid: Oid.ed25519, hash: null, identifier: sequence(oid(Oid.ed25519)) },
];

export function signatureAlgorithmByOid(algorithmOid: string): SignatureAlgorithm | undefined {
  return SIGNATURE_ALGORITHMS.find((a) => a.oid === algorithmOid);
}

/** The algorithm a CA key signs with: SHA-256 for P-256 and RSA, SHA-384 for P-384. */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  const wanted =
    key.asymmetricKeyType === "ec"
      ? details.namedCurve === "secp384r1"
        ? Oid.ecdsaWithSha384
        : Oid.ecdsaWithSha256
      : key.asymmetricKeyType === "rsa"
        ? Oid.sha256WithRsa
        : key.asymmetricKeyType === "ed25519"
          ? Oid.ed25519
          : undefined;
  const alg = wanted && signatureAlgorithmByOid(wanted);
  if (!alg)
    throw new CertError("UNSUPPORTED_KEY_TYPE", `cannot sign with a ${key.asymmetricKeyType} key`);
  return alg;
}

export function sign(alg: SignatureAlgorithm, data: Uint8Array, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    nodeSign(alg.hash, data, key, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
}

export function verify(
  alg: SignatureAlgorithm,
  data: Uint8Array,
  key: KeyObject,
  signature: Uint8Array,
): Promise<boolean> {
  return new Promise((resolve) =>
    // A malformed signature is an error from OpenSSL; for callers it is simply "not valid".
    nodeVerify(alg.hash, data, key, signature, (err, ok) => resolve(!err && ok)),
  );
}

const JWK_CURVES: Record<string, { crv: string; size: number }> = {
  [Oid.p256]: { crv: "P-256", size: 32 },
  [Oid.p384]: { crv: "P-384", size: 48 },
};

/**
 * A public key from SubjectPublicKeyInfo DER. EC keys on P-256/P-384 go in as JWK:
 * with Node 20's OpenSSL 3.0, DER decoding costs ~250 µs a key (more than an ECDSA
 * verify) and the JWK path half that, and the CA imports a new key for every CSR.
 * OpenSSL checks the point is on the curve either way.
 */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const [algorithm, subjectPublicKey] = children(
    expectTag(readWhole(spki), Tag.SEQUENCE, "SubjectPublicKeyInfo"),
  );
  const [algOid, params] = children(expectTag(algorithm, Tag.SEQUENCE, "algorithm"));
  const curve =
    decodeOid(expectTag(algOid, Tag.OID, "algorithm.id")) === Oid.ecPublicKey &&
    params?.tag === Tag.OID
      ? JWK_CURVES[decodeOid(params)]
      : undefined;
  const point = decodeBitString(
    expectTag(subjectPublicKey, Tag.BIT_STRING, "subjectPublicKey"),
  ).bytes;
  if (curve && point.length === 1 + 2 * curve.size && point[0] === 0x04) {
    const coordinate = (at: number) =>
      Buffer.from(point.subarray(at, at + curve.size)).toString("base64url");
    return createPublicKey({
      key: { kty: "EC", crv: curve.crv, x: coordinate(1), y: coordinate(1 + curve.size) },
      format: "jwk",
    });
  }
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
}

export const spkiOf = (key: KeyObject): Buffer =>
  (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });

export const privateKeyFromPem = (pem: string): KeyObject =>
  createPrivateKey({ key: pem, format: "pem" });

export const privateKeyToPem = (key: KeyObject): string =>
  key.export({ format: "pem", type: "pkcs8" }).toString();

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const [, subjectPublicKey] = children(
    expectTag(readWhole(spki), Tag.SEQUENCE, "SubjectPublicKeyInfo"),
  );
  const bits = decodeBitString(expectTag(subjectPublicKey, Tag.BIT_STRING, "subjectPublicKey"));
  return createHash("sha1").update(bits.bytes).digest();
}

/** "EC P-256", "RSA 2048", "Ed25519". */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      return `EC ${({ prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" } as Record<string, string>)[d.namedCurve ?? ""] ?? d.namedCurve}`;
    case "rsa":
      return `RSA ${d.modulusLength}`;
    case "ed25519":
      return "Ed25519";
    default:
      return String(key.asymmetricKeyType);
  }
}

/** Why a workload key is too weak to certify, or undefined when it is acceptable. */
export function weakKeyProblem(key: KeyObject): string | undefined {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec") {
    return ["prime256v1", "secp384r1", "secp521r1"].includes(d.namedCurve ?? "")
      ? undefined
      : `EC curve ${d.namedCurve} is not accepted (use P-256 or P-384)`;
  }
  if (key.asymmetricKeyType === "rsa") {
    return (d.modulusLength ?? 0) >= 2048
      ? undefined
      : `RSA ${d.modulusLength} is too short (minimum 2048)`;
  }
  if (key.asymmetricKeyType === "ed25519") return undefined;
  return `${key.asymmetricKeyType} keys are not accepted`;
}
