// The TokenReview authenticator against a fake Kubernetes API server on 127.0.0.1: what it
// sends, how each answer maps to a Caller or a coded refusal, and that a failing, unreachable
// or silent API server is TOKENREVIEW_FAILED within the timeout.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { CertificateAuthority } from "../../certs/index.js";
import {
  type AuthErrorCode,
  isAuthError,
  TokenReviewAuthenticator,
} from "../../control-plane/ca/index.js";
import { openssl } from "../helpers/run.js";
import { tempDir } from "../helpers/tmp.js";

const CONTROL_PLANE_TOKEN = "control-plane-sa-token";
const WORKLOAD_TOKEN = "workload-token";

interface Seen {
  method: string;
  url: string;
  authorization: string;
  body: { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(
  t: TestContext,
  server: ReturnType<typeof createHttpServer>,
): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** A fake API server answering every request with `reply`; records what it was sent. */
function apiServer(
  reply: (seen: Seen) => { status: number; body: unknown },
  seen: Seen[],
): Handler {
  return (req, res) => {
    let data = "";
    req.on("data", (d) => {
      data += d;
    });
    req.on("end", () => {
      const s: Seen = {
        method: req.method ?? "",
        url: req.url ?? "",
        authorization: req.headers.authorization ?? "",
        body: JSON.parse(data || "{}"),
      };
      seen.push(s);
      const { status, body } = reply(s);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    });
  };
}

const review = (status: object) => ({
  status: 201,
  body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", status },
});

async function authenticateAgainst(
  t: TestContext,
  reply: (seen: Seen) => { status: number; body: unknown },
  options: { audiences?: string[] } = {},
) {
  const seen: Seen[] = [];
  const port = await listen(t, createHttpServer(apiServer(reply, seen)));
  const auth = new TokenReviewAuthenticator({
    apiServerUrl: `http://127.0.0.1:${port}/`,
    bearerToken: CONTROL_PLANE_TOKEN,
    audiences: options.audiences ?? ["trellis-ca"],
    trustDomain: "cluster.local",
    timeoutMs: 1000,
  });
  return { seen, result: auth.authenticate(WORKLOAD_TOKEN) };
}

const refusedWith = (code: AuthErrorCode, match?: RegExp) => (err: unknown) => {
  assert.ok(isAuthError(err), String(err));
  assert.equal(err.code, code, err.message);
  if (match) assert.match(err.message, match);
  return true;
};

describe("TokenReview authenticator", () => {
  it("posts a TokenReview with the control plane's token and maps the user to a Caller", async (t) => {
    const { seen, result } = await authenticateAgainst(t, () =>
      review({
        authenticated: true,
        audiences: ["trellis-ca"],
        user: {
          username: "system:serviceaccount:shop:cart",
          uid: "8d1c",
          groups: ["system:serviceaccounts", "system:serviceaccounts:shop"],
          extra: { "authentication.kubernetes.io/pod-name": ["cart-5f9c"] },
        },
      }),
    );
    assert.deepEqual(await result, {
      namespace: "shop",
      serviceAccount: "cart",
      podName: "cart-5f9c",
      spiffeId: "spiffe://cluster.local/ns/shop/sa/cart",
    });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.method, "POST");
    assert.equal(seen[0]?.url, "/apis/authentication.k8s.io/v1/tokenreviews");
    assert.equal(seen[0]?.authorization, `Bearer ${CONTROL_PLANE_TOKEN}`);
    assert.deepEqual(seen[0]?.body, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token: WORKLOAD_TOKEN, audiences: ["trellis-ca"] },
    });
  });

  it("is TOKEN_REJECTED when the API server says authenticated: false, with its reason", async (t) => {
    const { result } = await authenticateAgainst(t, () =>
      review({ authenticated: false, error: "token has been invalidated" }),
    );
    await assert.rejects(result, refusedWith("TOKEN_REJECTED", /token has been invalidated/));
  });

  it("refuses users that are not service accounts, and tokens for other audiences", async (t) => {
    const user = await authenticateAgainst(t, () =>
      review({ authenticated: true, user: { username: "kubernetes-admin" } }),
    );
    await assert.rejects(
      user.result,
      refusedWith("TOKEN_NOT_A_SERVICE_ACCOUNT", /kubernetes-admin/),
    );
    const audience = await authenticateAgainst(t, () =>
      review({
        authenticated: true,
        audiences: ["https://kubernetes.default.svc"],
        user: { username: "system:serviceaccount:shop:cart" },
      }),
    );
    await assert.rejects(audience.result, refusedWith("TOKEN_WRONG_AUDIENCE", /trellis-ca/));
  });

  it("is TOKENREVIEW_FAILED when the API server answers 500, 403 or not JSON", async (t) => {
    const e500 = await authenticateAgainst(t, () => ({
      status: 500,
      body: "etcdserver: request timed out",
    }));
    await assert.rejects(e500.result, refusedWith("TOKENREVIEW_FAILED", /HTTP 500.*etcdserver/));
    const e403 = await authenticateAgainst(t, () => ({
      status: 403,
      body: { kind: "Status", reason: "Forbidden" },
    }));
    await assert.rejects(
      e403.result,
      refusedWith("TOKENREVIEW_FAILED", /HTTP 403.*system:auth-delegator/),
    );
    const html = await authenticateAgainst(t, () => ({ status: 200, body: "<html>proxy</html>" }));
    await assert.rejects(html.result, refusedWith("TOKENREVIEW_FAILED", /not JSON/));
  });

  it("is TOKENREVIEW_FAILED when the API server is unreachable", async (t) => {
    const closed = createHttpServer();
    const port = await listen(t, closed);
    closed.close();
    await once(closed, "close");
    const auth = new TokenReviewAuthenticator({
      apiServerUrl: `http://127.0.0.1:${port}`,
      bearerToken: CONTROL_PLANE_TOKEN,
      audiences: [],
      trustDomain: "cluster.local",
    });
    await assert.rejects(
      auth.authenticate(WORKLOAD_TOKEN),
      refusedWith("TOKENREVIEW_FAILED", /ECONNREFUSED/),
    );
  });

  it("is TOKENREVIEW_FAILED within its timeout when the API server never answers", async (t) => {
    const port = await listen(
      t,
      createHttpServer(() => {}),
    ); // accepts, reads, never replies
    const auth = new TokenReviewAuthenticator({
      apiServerUrl: `http://127.0.0.1:${port}`,
      bearerToken: CONTROL_PLANE_TOKEN,
      audiences: [],
      trustDomain: "cluster.local",
      timeoutMs: 200,
    });
    const started = Date.now();
    await assert.rejects(
      auth.authenticate(WORKLOAD_TOKEN),
      refusedWith("TOKENREVIEW_FAILED", /no answer within 200 ms/),
    );
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  });

  it("speaks https trusting only the cluster's CA", async (t) => {
    const dir = await tempDir(t);
    const made = openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=kube-apiserver",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    );
    assert.equal(made.status, 0, made.stderr);
    const [key, cert] = await Promise.all([
      readFile(join(dir, "key.pem"), "utf8"),
      readFile(join(dir, "cert.pem"), "utf8"),
    ]);
    const seen: Seen[] = [];
    const handler = apiServer(
      () => review({ authenticated: true, user: { username: "system:serviceaccount:a:b" } }),
      seen,
    );
    const port = await listen(t, createHttpsServer({ key, cert }, handler));
    const withCa = (caPem: string) =>
      new TokenReviewAuthenticator({
        apiServerUrl: `https://127.0.0.1:${port}`,
        bearerToken: CONTROL_PLANE_TOKEN,
        caPem,
        audiences: [],
        trustDomain: "cluster.local",
        timeoutMs: 2000,
      }).authenticate(WORKLOAD_TOKEN);
    assert.equal((await withCa(cert)).spiffeId, "spiffe://cluster.local/ns/a/sa/b");
    // Another CA (the mesh's own) does not vouch for the API server: the token is never sent.
    const other = (await CertificateAuthority.create()).trustBundle().toPem();
    await assert.rejects(withCa(other), refusedWith("TOKENREVIEW_FAILED", /certificate/));
    assert.equal(seen.length, 1);
  });
});
