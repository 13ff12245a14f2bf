// The CA service over a real gRPC server on 127.0.0.1: a workload with a valid token gets a
// chain for exactly its own identity, and every other call is refused with the right gRPC
// status and a coded reason in the message.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { SignJWT } from "jose";
import {
  CA_SERVICE_PATH,
  caServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from "../../api/ca-proto.js";
import {
  CertificateAuthority,
  CLOCK_SKEW_ALLOWANCE_MS,
  createCsr,
  fromPem,
  generateKeyPair,
  readCertificate,
  verifySvid,
} from "../../certs/index.js";
import {
  AuthError,
  type Authenticator,
  type CaServiceOptions,
  caServiceImplementation,
  ERROR_CODE_METADATA,
  JwtAuthenticator,
  mintWorkloadToken,
} from "../../control-plane/ca/index.js";

const TD = "cluster.local";
const WEB = "spiffe://cluster.local/ns/default/sa/web";
const HOUR_S = 3600;
const DAY_MS = 86_400_000;

interface Harness {
  ca: CertificateAuthority;
  tokenKey: KeyObject;
  logs: string[];
  call(req: IstioCertificateRequest, authorization?: string): Promise<Outcome>;
  close(): void;
}

type Outcome =
  | { ok: true; chain: string[] }
  | { ok: false; code: grpc.status; details: string; errorCode: string | undefined };

async function startCa(
  options: { maxSvidTtlMs?: number; service?: Partial<CaServiceOptions> } = {},
): Promise<Harness> {
  const ca = await CertificateAuthority.create({
    trustDomain: TD,
    intermediate: true,
    maxSvidTtlMs: options.maxSvidTtlMs ?? 2 * DAY_MS,
  });
  const tokenKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const logs: string[] = [];
  const server = new grpc.Server();
  server.addService(
    caServiceDefinition(),
    caServiceImplementation({
      authority: ca,
      authenticator: new JwtAuthenticator({ key: createPublicKey(tokenKey), trustDomain: TD }),
      trustDomain: TD,
      log: (line) => logs.push(line),
      ...options.service,
    }),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const Client = grpc.makeGenericClientConstructor(
    caServiceDefinition(),
    "IstioCertificateService",
  );
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    ca,
    tokenKey,
    logs,
    call: (req, authorization) =>
      new Promise((resolve) => {
        const md = new grpc.Metadata();
        if (authorization !== undefined) md.set("authorization", authorization);
        client.makeUnaryRequest(
          CA_SERVICE_PATH,
          caServiceDefinition().CreateCertificate.requestSerialize,
          caServiceDefinition().CreateCertificate.responseDeserialize,
          req,
          md,
          { deadline: Date.now() + 5000 },
          (err: grpc.ServiceError | null, res?: IstioCertificateResponse) =>
            resolve(
              err
                ? {
                    ok: false,
                    code: err.code,
                    details: err.details,
                    errorCode: err.metadata?.get(ERROR_CODE_METADATA)[0]?.toString(),
                  }
                : { ok: true, chain: res?.cert_chain ?? [] },
            ),
        );
      }),
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

const token = (
  key: KeyObject,
  extra: Partial<Parameters<typeof mintWorkloadToken>[1]> = {},
): Promise<string> =>
  mintWorkloadToken(key, {
    namespace: "default",
    serviceAccount: "web",
    ttlSeconds: HOUR_S,
    ...extra,
  });

async function csrFor(uri: string): Promise<string> {
  return createCsr((await generateKeyPair("ec-p256")).privateKey, [uri]);
}

function leafOf(chain: readonly string[]) {
  return readCertificate(fromPem(chain[0] as string, "CERTIFICATE")[0] as Buffer);
}

function assertRefused(outcome: Outcome, code: grpc.status, errorCode: string, match?: RegExp) {
  if (process.env.SHOW_REFUSALS) console.log(outcome.ok ? "ok" : outcome.details);
  assert.ok(!outcome.ok, "the call was expected to be refused");
  assert.equal(grpc.status[outcome.code], grpc.status[code], outcome.details);
  assert.ok(
    outcome.details.startsWith(`${errorCode}: `),
    `expected ${errorCode} in: ${outcome.details}`,
  );
  assert.equal(outcome.errorCode, errorCode);
  if (match) assert.match(outcome.details, match);
}

describe("CA service: issuing", () => {
  let h: Harness;
  before(async () => {
    h = await startCa();
  });
  after(() => h?.close());

  it("signs a CSR for the token's identity; the chain verifies and names exactly that identity", async () => {
    const out = await h.call(
      { csr: await csrFor(WEB) },
      `Bearer ${await token(h.tokenKey, { podName: "web-7d4" })}`,
    );
    assert.ok(out.ok, out.ok ? "" : out.details);
    // Istio's shape: one PEM per element, leaf, intermediate, root.
    assert.equal(out.chain.length, 3);
    for (const pem of out.chain) assert.equal(fromPem(pem, "CERTIFICATE").length, 1);
    assert.equal(out.chain.at(-1), h.ca.trustBundle().toPem());
    const verified = await verifySvid(out.chain.slice(0, -1).join(""), h.ca.trustBundle(), TD);
    assert.ok(verified.ok, verified.ok ? "" : verified.error.message);
    assert.equal(verified.spiffeId.uri, WEB);
    // Without the intermediate the leaf does not reach the root: the order really is leaf first.
    const alone = await verifySvid(out.chain[0] as string, h.ca.trustBundle(), TD);
    assert.equal(alone.ok, false);
    const leaf = leafOf(out.chain);
    const issued = h.logs.filter((l) => l.startsWith("ca: issued"));
    assert.equal(issued.length, 1);
    assert.match(
      issued[0] as string,
      new RegExp(`issued ${WEB} serial=${leaf.serialHex} ttl=86400s`),
    );
    assert.match(issued[0] as string, /pod=web-7d4/);
  });

  it("gives each workload its own identity, from its own token", async () => {
    const shop = "spiffe://cluster.local/ns/shop/sa/cart";
    const out = await h.call(
      { csr: await csrFor(shop) },
      `Bearer ${await token(h.tokenKey, { namespace: "shop", serviceAccount: "cart" })}`,
    );
    assert.ok(out.ok, out.ok ? "" : out.details);
    const verified = await verifySvid(out.chain.join(""), h.ca.trustBundle(), TD);
    assert.ok(verified.ok && verified.spiffeId.uri === shop);
  });

  it("lives 24 h when no validity is asked for, as long as asked, and no longer than the CA's maximum", async () => {
    const bearer = `Bearer ${await token(h.tokenKey)}`;
    const lifetime = async (validity: string | number | undefined) => {
      const req: IstioCertificateRequest = { csr: await csrFor(WEB) };
      if (validity !== undefined) req.validity_duration = validity;
      const before = Date.now();
      const out = await h.call(req, bearer);
      assert.ok(out.ok, out.ok ? "" : out.details);
      const leaf = leafOf(out.chain);
      assert.equal(leaf.notBefore.getTime() + CLOCK_SKEW_ALLOWANCE_MS <= Date.now(), true);
      return Math.round((leaf.notAfter.getTime() - before) / 1000);
    };
    const near = (actual: number, expected: number) =>
      assert.ok(Math.abs(actual - expected) <= 5, `lifetime ${actual}s, expected ~${expected}s`);
    near(await lifetime(undefined), 86_400);
    near(await lifetime(0), 86_400);
    near(await lifetime(HOUR_S), HOUR_S);
    near(await lifetime("600"), 600);
    near(await lifetime(30 * 86_400), 2 * 86_400); // the CA's maximum is 2 days
  });

  it("refuses a negative or too short validity", async () => {
    const bearer = `Bearer ${await token(h.tokenKey)}`;
    const csr = await csrFor(WEB);
    assertRefused(
      await h.call({ csr, validity_duration: -5 }, bearer),
      grpc.status.INVALID_ARGUMENT,
      "INVALID_TTL",
    );
    assertRefused(
      await h.call({ csr, validity_duration: 3 }, bearer),
      grpc.status.INVALID_ARGUMENT,
      "INVALID_TTL",
      /minimum of 10s/,
    );
  });
});

describe("CA service: its own lifetime limits", () => {
  it("caps every certificate at maxTtlMs, the default one too", async () => {
    const h = await startCa({ service: { maxTtlMs: 2 * HOUR_S * 1000 } });
    try {
      const bearer = `Bearer ${await token(h.tokenKey)}`;
      for (const validity of [undefined, 86_400]) {
        const req: IstioCertificateRequest = { csr: await csrFor(WEB) };
        if (validity) req.validity_duration = validity;
        const out = await h.call(req, bearer);
        assert.ok(out.ok, out.ok ? "" : out.details);
        const seconds = (leafOf(out.chain).notAfter.getTime() - Date.now()) / 1000;
        assert.ok(Math.abs(seconds - 2 * HOUR_S) < 10, `lifetime ${seconds}s`);
      }
    } finally {
      h.close();
    }
  });
});

/** An unsigned JWT ("alg": "none"). */
function unsecuredJwt(claims: object): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}

describe("CA service: refusals", () => {
  let h: Harness;
  let csr: string;
  before(async () => {
    h = await startCa();
    csr = await csrFor(WEB);
  });
  after(() => h?.close());

  const now = Math.floor(Date.now() / 1000);
  const webClaims = {
    iss: "trellis",
    aud: ["trellis-ca"],
    sub: "system:serviceaccount:default:web",
    iat: now,
    nbf: now,
    exp: now + HOUR_S,
  };
  const U = grpc.status.UNAUTHENTICATED;
  const cases: {
    name: string;
    auth: () => Promise<string | undefined>;
    code: string;
    match?: RegExp;
  }[] = [
    {
      name: "no token",
      auth: async () => undefined,
      code: "TOKEN_MISSING",
      match: /Bearer <token>/,
    },
    { name: "an empty Bearer", auth: async () => "Bearer ", code: "TOKEN_MISSING" },
    {
      name: "not Bearer",
      auth: async () => `Basic ${await token(h.tokenKey)}`,
      code: "TOKEN_MALFORMED",
      match: /Basic.*Bearer <token>/,
    },
    { name: "a garbage token", auth: async () => "Bearer not.a.jwt", code: "TOKEN_MALFORMED" },
    {
      name: "a token signed by another key",
      auth: async () =>
        `Bearer ${await token(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey)}`,
      code: "TOKEN_BAD_SIGNATURE",
    },
    {
      name: "an expired token",
      auth: async () =>
        `Bearer ${await token(h.tokenKey, { now: new Date(Date.now() - 3 * HOUR_S * 1000) })}`,
      code: "TOKEN_EXPIRED",
      match: /expired at \d{4}-.*mint a new one/,
    },
    {
      name: "a token not yet valid",
      auth: async () =>
        `Bearer ${await token(h.tokenKey, { now: new Date(Date.now() + HOUR_S * 1000) })}`,
      code: "TOKEN_NOT_YET_VALID",
      match: /not valid before/,
    },
    {
      name: "a token for another audience",
      auth: async () =>
        `Bearer ${await token(h.tokenKey, { audience: "https://kubernetes.default.svc" })}`,
      code: "TOKEN_WRONG_AUDIENCE",
      match: /kubernetes\.default\.svc.*trellis-ca/,
    },
    {
      name: "a token from another issuer",
      auth: async () => `Bearer ${await token(h.tokenKey, { issuer: "someone-else" })}`,
      code: "TOKEN_WRONG_ISSUER",
      match: /someone-else/,
    },
    {
      name: "a token whose sub is not a service account",
      auth: async () =>
        `Bearer ${await new SignJWT({ ...webClaims, sub: "system:node:node-1" }).setProtectedHeader({ alg: "ES256" }).sign(h.tokenKey)}`,
      code: "TOKEN_NOT_A_SERVICE_ACCOUNT",
      match: /system:node:node-1/,
    },
    {
      name: "an HS256 token keyed with the trusted public key (algorithm confusion)",
      auth: async () => {
        const secret = createPublicKey(h.tokenKey).export({ format: "pem", type: "spki" });
        return `Bearer ${await new SignJWT(webClaims).setProtectedHeader({ alg: "HS256" }).sign(Buffer.from(secret))}`;
      },
      code: "TOKEN_BAD_SIGNATURE",
      match: /HS256/,
    },
    {
      name: 'an unsigned "alg: none" token',
      auth: async () => `Bearer ${unsecuredJwt(webClaims)}`,
      code: "TOKEN_BAD_SIGNATURE",
      match: /none/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}: UNAUTHENTICATED ${c.code}`, async () => {
      assertRefused(await h.call({ csr }, await c.auth()), U, c.code, c.match);
    });
  }

  it("refuses a CSR for another identity: PERMISSION_DENIED naming both", async () => {
    const admin = "spiffe://cluster.local/ns/kube-system/sa/admin";
    const out = await h.call({ csr: await csrFor(admin) }, `Bearer ${await token(h.tokenKey)}`);
    assertRefused(out, grpc.status.PERMISSION_DENIED, "CSR_IDENTITY_NOT_ALLOWED");
    assert.ok(
      !out.ok && out.details.includes(admin) && out.details.includes(WEB),
      out.ok ? "" : out.details,
    );
  });

  it("refuses a CSR for the same workload in another trust domain: PERMISSION_DENIED", async () => {
    const out = await h.call(
      { csr: await csrFor("spiffe://evil.example/ns/default/sa/web") },
      `Bearer ${await token(h.tokenKey)}`,
    );
    assertRefused(
      out,
      grpc.status.PERMISSION_DENIED,
      "CSR_WRONG_TRUST_DOMAIN",
      /evil\.example.*spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/,
    );
  });

  it("refuses a malformed CSR: INVALID_ARGUMENT with the certs code", async () => {
    const bearer = `Bearer ${await token(h.tokenKey)}`;
    assertRefused(
      await h.call({ csr: "not a csr" }, bearer),
      grpc.status.INVALID_ARGUMENT,
      "CSR_MALFORMED",
    );
    const broken = csr.replace(/\n[A-Za-z0-9+/]{8}/, "\nAAAAAAAA");
    const out = await h.call({ csr: broken }, bearer);
    assert.ok(
      !out.ok &&
        out.code === grpc.status.INVALID_ARGUMENT &&
        /^CSR_(MALFORMED|BAD_SIGNATURE): /.test(out.details),
    );
  });

  it("authenticates before it reads the CSR, and logs each refusal without issuing", async () => {
    assertRefused(await h.call({ csr: "not a csr" }, "Bearer not.a.jwt"), U, "TOKEN_MALFORMED");
    assert.equal(h.logs.filter((l) => l.startsWith("ca: issued")).length, 0);
    assert.ok(h.logs.some((l) => /^ca: refused TOKEN_MALFORMED peer=/.test(l)));
  });
});

describe("CA service: an authenticator that cannot answer", () => {
  it("is UNAVAILABLE (the caller may retry), and an unexpected failure is INTERNAL without its details", async () => {
    const failing = (err: Error): Authenticator => ({
      authenticate: async () => Promise.reject(err),
    });
    for (const [err, code, errorCode] of [
      [
        new AuthError("TOKENREVIEW_FAILED", "the API server did not answer"),
        grpc.status.UNAVAILABLE,
        "TOKENREVIEW_FAILED",
      ],
      [new Error("secret internals"), grpc.status.INTERNAL, "CA_INTERNAL"],
    ] as const) {
      const h = await startCa({ service: { authenticator: failing(err) } });
      try {
        const out = await h.call({ csr: await csrFor(WEB) }, "Bearer x");
        assertRefused(out, code, errorCode);
        assert.ok(!out.ok && !out.details.includes("secret internals"));
      } finally {
        h.close();
      }
    }
  });
});
