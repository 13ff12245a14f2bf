// Workload tokens and their key: the key file is created 0600 and reloaded as the same key,
// a damaged file is refused (never replaced) with an error naming it, and minted tokens have
// the shape of Kubernetes projected service-account tokens.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import {
  isAuthError,
  JwtAuthenticator,
  loadOrCreateTokenKey,
  loadTokenVerificationKey,
  mintWorkloadToken,
  TokenKeyError,
  tokenKeyId,
} from "../../control-plane/ca/index.js";
import { tempDir } from "../helpers/tmp.js";

const spki = (key: KeyObject) =>
  (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });

function isTokenKeyError(code: string, file: string) {
  return (err: unknown) => {
    assert.ok(err instanceof TokenKeyError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), err.message);
    return true;
  };
}

describe("the token key file", () => {
  it("is created when missing (PKCS#8 PEM, mode 0600, parent directories too) and reloads as the same key", async (t) => {
    const file = join(await tempDir(t), "state", "ca", "token-key.pem");
    const created = await loadOrCreateTokenKey(file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const pem = await readFile(file, "utf8");
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const reloaded = await loadOrCreateTokenKey(file);
    assert.deepEqual(spki(reloaded), spki(created));
    assert.equal(await readFile(file, "utf8"), pem, "reloading does not rewrite the file");
    // A token signed before the reload verifies with the reloaded key.
    const token = await mintWorkloadToken(created, {
      namespace: "a",
      serviceAccount: "b",
      ttlSeconds: 60,
    });
    const caller = await new JwtAuthenticator({
      key: reloaded,
      trustDomain: "cluster.local",
    }).authenticate(token);
    assert.equal(caller.spiffeId, "spiffe://cluster.local/ns/a/sa/b");
  });

  it("is refused when corrupt, with a coded error naming it, and left as it was", async (t) => {
    const file = join(await tempDir(t), "token-key.pem");
    await writeFile(
      file,
      "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
    );
    await assert.rejects(loadOrCreateTokenKey(file), isTokenKeyError("TOKEN_KEY_CORRUPT", file));
    assert.match(await readFile(file, "utf8"), /not base64 at all/);
    await assert.rejects(
      loadTokenVerificationKey(file),
      isTokenKeyError("TOKEN_KEY_CORRUPT", file),
    );
    await writeFile(file, "garbage");
    await assert.rejects(
      loadTokenVerificationKey(file),
      isTokenKeyError("TOKEN_KEY_CORRUPT", file),
    );
  });

  it("is refused when it holds a key that cannot sign ES256", async (t) => {
    const file = join(await tempDir(t), "token-key.pem");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    await writeFile(file, rsa.export({ format: "pem", type: "pkcs8" }));
    await assert.rejects(
      loadOrCreateTokenKey(file),
      isTokenKeyError("TOKEN_KEY_UNSUPPORTED", file),
    );
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey;
    await writeFile(file, p384.export({ format: "pem", type: "spki" }));
    await assert.rejects(
      loadTokenVerificationKey(file),
      isTokenKeyError("TOKEN_KEY_UNSUPPORTED", file),
    );
  });

  it("verifies tokens from the private key file or from its public half alone", async (t) => {
    const dir = await tempDir(t);
    const key = await loadOrCreateTokenKey(join(dir, "token-key.pem"));
    await writeFile(
      join(dir, "token-key.pub"),
      createPublicKey(key).export({ format: "pem", type: "spki" }),
    );
    const fromPrivate = await loadTokenVerificationKey(join(dir, "token-key.pem"));
    const fromPublic = await loadTokenVerificationKey(join(dir, "token-key.pub"));
    assert.equal(fromPrivate.type, "public");
    assert.deepEqual(spki(fromPrivate), spki(key));
    assert.deepEqual(spki(fromPublic), spki(key));
    const missing = join(dir, "nope.pem");
    await assert.rejects(
      loadTokenVerificationKey(missing),
      isTokenKeyError("TOKEN_KEY_NOT_FOUND", missing),
    );
  });
});

describe("minted workload tokens", () => {
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const now = new Date("2026-03-01T10:00:00Z");

  it("look like projected service-account tokens", async () => {
    const token = await mintWorkloadToken(key, {
      namespace: "shop",
      serviceAccount: "cart",
      podName: "cart-5f9c",
      ttlSeconds: 600,
      now,
    });
    assert.deepEqual(decodeProtectedHeader(token), {
      alg: "ES256",
      typ: "JWT",
      kid: await tokenKeyId(key),
    });
    const iat = now.getTime() / 1000;
    assert.deepEqual(decodeJwt(token), {
      "kubernetes.io": {
        namespace: "shop",
        serviceaccount: { name: "cart" },
        pod: { name: "cart-5f9c" },
      },
      iss: "trellis",
      aud: ["trellis-ca"],
      sub: "system:serviceaccount:shop:cart",
      iat,
      nbf: iat,
      exp: iat + 600,
    });
  });

  it("take another issuer and audience, and refuse a lifetime that is not positive", async () => {
    const token = await mintWorkloadToken(key, {
      namespace: "a",
      serviceAccount: "b",
      ttlSeconds: 60,
      issuer: "https://kubernetes.default.svc",
      audience: ["istio-ca", "trellis-ca"],
    });
    assert.equal(decodeJwt(token).iss, "https://kubernetes.default.svc");
    assert.deepEqual(decodeJwt(token).aud, ["istio-ca", "trellis-ca"]);
    await assert.rejects(
      mintWorkloadToken(key, { namespace: "a", serviceAccount: "b", ttlSeconds: 0 }),
      RangeError,
    );
  });

  it("authenticate as their workload, pod included, within the clock tolerance", async () => {
    const token = await mintWorkloadToken(key, {
      namespace: "shop",
      serviceAccount: "cart",
      podName: "cart-1",
      ttlSeconds: 60,
      now,
    });
    const at = (seconds: number, tolerance?: number) =>
      new JwtAuthenticator({
        key,
        trustDomain: "prod.example",
        now: () => new Date(now.getTime() + seconds * 1000),
        ...(tolerance === undefined ? {} : { clockToleranceSeconds: tolerance }),
      }).authenticate(token);
    assert.deepEqual(await at(1), {
      namespace: "shop",
      serviceAccount: "cart",
      podName: "cart-1",
      spiffeId: "spiffe://prod.example/ns/shop/sa/cart",
    });
    assert.equal(
      (await at(70)).serviceAccount,
      "cart",
      "10 s past expiry is inside the default 30 s",
    );
    await assert.rejects(at(70, 0), (e) => isAuthError(e, "TOKEN_EXPIRED"));
    await assert.rejects(at(-40), (e) => isAuthError(e, "TOKEN_NOT_YET_VALID"));
  });

  it("are refused when their kubernetes.io claim disagrees with their sub, or they lack exp", async () => {
    const iat = Math.floor(Date.now() / 1000);
    const lying = await new SignJWT({
      iss: "trellis",
      aud: ["trellis-ca"],
      sub: "system:serviceaccount:default:web",
      exp: iat + 60,
      "kubernetes.io": { namespace: "kube-system", serviceaccount: { name: "web" } },
    })
      .setProtectedHeader({ alg: "ES256" })
      .sign(key);
    const auth = new JwtAuthenticator({ key, trustDomain: "cluster.local" });
    await assert.rejects(
      auth.authenticate(lying),
      (e) => isAuthError(e, "TOKEN_MALFORMED") && /kube-system/.test(e.message),
    );
    const forever = await new SignJWT({
      iss: "trellis",
      aud: "trellis-ca",
      sub: "system:serviceaccount:default:web",
    })
      .setProtectedHeader({ alg: "ES256" })
      .sign(key);
    await assert.rejects(
      auth.authenticate(forever),
      (e) => isAuthError(e, "TOKEN_MALFORMED") && /exp/.test(e.message),
    );
  });
});
