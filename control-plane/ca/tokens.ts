// Workload tokens: ES256 JWTs shaped like Kubernetes projected service-account tokens, so
// the CA authenticates a lab pod (whose token the lab mints) and a real pod (whose token the
// kubelet mints) through the same Authenticator interface. Also the key that signs them: a
// PEM PKCS#8 EC P-256 file, created 0600 when missing.

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { calculateJwkThumbprint, exportJWK, SignJWT } from "jose";

export const DEFAULT_TOKEN_ISSUER = "trellis";
export const DEFAULT_TOKEN_AUDIENCE = "trellis-ca";
export const TOKEN_ALGORITHM = "ES256";
const KEY_FILE_MODE = 0o600;

export type TokenKeyErrorCode =
  | "TOKEN_KEY_NOT_FOUND"
  | "TOKEN_KEY_CORRUPT"
  | "TOKEN_KEY_UNSUPPORTED";

export class TokenKeyError extends Error {
  override readonly name = "TokenKeyError";
  constructor(
    readonly code: TokenKeyErrorCode,
    message: string,
    /** The key file the error is about. */
    readonly file: string,
  ) {
    super(message);
  }
}

/** The claims Kubernetes puts in a projected service-account token (the part we read). */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: { name: string };
  pod?: { name: string };
}

export interface WorkloadTokenRequest {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly ttlSeconds: number;
  readonly issuer?: string;
  readonly audience?: string | readonly string[];
  /** The token's iat and nbf (default: now). */
  readonly now?: Date;
}

export const serviceAccountUsername = (namespace: string, serviceAccount: string): string =>
  `system:serviceaccount:${namespace}:${serviceAccount}`;

/** A signed token naming the workload; what a kubelet would project into the pod. */
export async function mintWorkloadToken(
  key: KeyObject,
  request: WorkloadTokenRequest,
): Promise<string> {
  if (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds <= 0) {
    throw new RangeError(
      `a token's ttlSeconds must be a positive whole number, not ${request.ttlSeconds}`,
    );
  }
  const iat = Math.floor((request.now ?? new Date()).getTime() / 1000);
  const audience = request.audience ?? DEFAULT_TOKEN_AUDIENCE;
  const kubernetes: KubernetesClaim = {
    namespace: request.namespace,
    serviceaccount: { name: request.serviceAccount },
    ...(request.podName ? { pod: { name: request.podName } } : {}),
  };
  return new SignJWT({ "kubernetes.io": kubernetes })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: "JWT", kid: await tokenKeyId(key) })
    .setIssuer(request.issuer ?? DEFAULT_TOKEN_ISSUER)
    .setAudience(typeof audience === "string" ? [audience] : [...audience])
    .setSubject(serviceAccountUsername(request.namespace, request.serviceAccount))
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + request.ttlSeconds)
    .sign(key);
}

/** The RFC 7638 thumbprint of the public key: the `kid` tokens carry, for key rotation. */
export async function tokenKeyId(key: KeyObject): Promise<string> {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return calculateJwkThumbprint(await exportJWK(pub));
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
}

function unsupported(file: string, key: KeyObject): TokenKeyError {
  const kind =
    key.asymmetricKeyType === "ec"
      ? `EC ${key.asymmetricKeyDetails?.namedCurve}`
      : String(key.asymmetricKeyType);
  return new TokenKeyError(
    "TOKEN_KEY_UNSUPPORTED",
    `${file} holds a ${kind} key; workload tokens are ES256, so the key must be EC P-256 ` +
      "(remove the file to have a new one created, or replace it)",
    file,
  );
}

async function readKeyFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function parsePrivateKey(file: string, pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (err) {
    throw new TokenKeyError(
      "TOKEN_KEY_CORRUPT",
      `${file} is not a PEM private key (${(err as Error).message}); restore it, or remove it to ` +
        "have a new one created (tokens signed by the old key then stop being accepted)",
      file,
    );
  }
  if (!isP256(key)) throw unsupported(file, key);
  return key;
}

/**
 * The token signing key in `file`, or a new EC P-256 key written there (PKCS#8 PEM, 0600)
 * when the file does not exist. Two processes racing to create it end up with the same key.
 */
export async function loadOrCreateTokenKey(file: string): Promise<KeyObject> {
  const existing = await readKeyFile(file);
  if (existing !== undefined) return parsePrivateKey(file, existing);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  await mkdir(dirname(file), { recursive: true });
  try {
    await writeFile(file, pem, { mode: KEY_FILE_MODE, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return parsePrivateKey(file, (await readKeyFile(file)) ?? "");
  }
  return privateKey;
}

/**
 * The public key that verifies workload tokens, from `file`: the signing key itself (PEM
 * private key) or only its public half (PEM SPKI, "BEGIN PUBLIC KEY").
 */
export async function loadTokenVerificationKey(file: string): Promise<KeyObject> {
  const pem = await readKeyFile(file);
  if (pem === undefined) {
    throw new TokenKeyError(
      "TOKEN_KEY_NOT_FOUND",
      `${file} does not exist; point the CA at the token key file the token issuer uses`,
      file,
    );
  }
  if (pem.includes("PRIVATE KEY-----")) return createPublicKey(parsePrivateKey(file, pem));
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch (err) {
    throw new TokenKeyError(
      "TOKEN_KEY_CORRUPT",
      `${file} is neither a PEM private key nor a PEM public key (${(err as Error).message}); ` +
        "restore it from the token issuer",
      file,
    );
  }
  if (!isP256(key)) throw unsupported(file, key);
  return key;
}
