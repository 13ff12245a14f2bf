// Authenticating a workload token in a real cluster: ask the Kubernetes API server
// (an authentication.k8s.io/v1 TokenReview), as istiod does. The review's answer is mapped
// to a Caller here; the HTTP exchange is a small injectable transport over node:https,
// because the API server's certificate is signed by the cluster's own CA.

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import {
  AuthError,
  type Authenticator,
  type Caller,
  callerOfServiceAccount,
} from "./authenticate.js";

export const TOKENREVIEW_TIMEOUT_MS = 5_000;
const MAX_RESPONSE_BYTES = 1024 * 1024;
const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";

export interface HttpExchange {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly timeoutMs: number;
  /** PEM CA certificates to trust for https (replacing the system's). */
  readonly caPem?: string;
}

/** POSTs `body` to `url`; resolves with the status and body whatever the status. */
export type HttpTransport = (exchange: HttpExchange) => Promise<{ status: number; body: string }>;

export interface TokenReviewAuthenticatorOptions {
  /** e.g. https://kubernetes.default.svc */
  readonly apiServerUrl: string;
  /** The control plane's own service-account token (it needs system:auth-delegator). */
  readonly bearerToken: string;
  /** The cluster's CA (ca.crt of the service-account mount). */
  readonly caPem?: string;
  /** Audiences the workload token must be for; empty: the API server's own. */
  readonly audiences: readonly string[];
  readonly trustDomain: string;
  readonly timeoutMs?: number;
  readonly fetch?: HttpTransport;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; extra?: Record<string, string[]> };
}

export class TokenReviewAuthenticator implements Authenticator {
  readonly #options: TokenReviewAuthenticatorOptions;
  readonly #url: string;
  readonly #fetch: HttpTransport;

  constructor(options: TokenReviewAuthenticatorOptions) {
    this.#options = options;
    this.#url = `${options.apiServerUrl.replace(/\/+$/, "")}/apis/authentication.k8s.io/v1/tokenreviews`;
    this.#fetch = options.fetch ?? postOverHttp;
  }

  async authenticate(token: string): Promise<Caller> {
    const review = {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: {
        token,
        ...(this.#options.audiences.length ? { audiences: this.#options.audiences } : {}),
      },
    };
    let reply: { status: number; body: string };
    try {
      reply = await this.#fetch({
        url: this.#url,
        headers: {
          authorization: `Bearer ${this.#options.bearerToken}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify(review),
        timeoutMs: this.#options.timeoutMs ?? TOKENREVIEW_TIMEOUT_MS,
        ...(this.#options.caPem ? { caPem: this.#options.caPem } : {}),
      });
    } catch (err) {
      throw failed(`the API server at ${this.#url} could not be asked: ${(err as Error).message}`);
    }
    return this.#callerOf(reviewStatus(this.#url, reply));
  }

  #callerOf(status: TokenReviewStatus): Caller {
    if (status.authenticated !== true) {
      throw new AuthError(
        "TOKEN_REJECTED",
        `the Kubernetes API server rejected the token${status.error ? `: ${status.error}` : ""}; ` +
          "send the pod's current projected service-account token",
      );
    }
    const wanted = this.#options.audiences;
    if (wanted.length && status.audiences && !status.audiences.some((a) => wanted.includes(a))) {
      throw new AuthError(
        "TOKEN_WRONG_AUDIENCE",
        `the token is for ${JSON.stringify(status.audiences)}, not ${wanted.join(" or ")}; ` +
          `project the token with audience ${wanted[0]}`,
      );
    }
    const pod = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
    return callerOfServiceAccount(status.user?.username ?? "", this.#options.trustDomain, pod);
  }
}

const failed = (message: string) => new AuthError("TOKENREVIEW_FAILED", message);

function reviewStatus(url: string, reply: { status: number; body: string }): TokenReviewStatus {
  if (reply.status < 200 || reply.status >= 300) {
    const hint =
      reply.status === 401
        ? "; the control plane's own token is not accepted"
        : reply.status === 403
          ? "; bind the control plane's service account to the system:auth-delegator ClusterRole"
          : "";
    throw failed(
      `the API server answered the TokenReview with HTTP ${reply.status}${hint} (${reply.body.slice(0, 200).trim()})`,
    );
  }
  try {
    const parsed = JSON.parse(reply.body) as { status?: TokenReviewStatus };
    if (typeof parsed !== "object" || parsed === null) throw new Error("not an object");
    return parsed.status ?? {};
  } catch (err) {
    throw failed(
      `the API server at ${url} answered with a TokenReview that is not JSON (${(err as Error).message})`,
    );
  }
}

/** The default transport: one POST over node:http(s), bounded in time and in size. */
export const postOverHttp: HttpTransport = (exchange) =>
  new Promise((resolve, reject) => {
    const url = new URL(exchange.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: "POST",
        headers: { ...exchange.headers, "content-length": Buffer.byteLength(exchange.body) },
        timeout: exchange.timeoutMs,
        ...(exchange.caPem ? { ca: exchange.caPem } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new Error(`the response is larger than ${MAX_RESPONSE_BYTES} bytes`));
          } else chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    // `timeout` only covers idle sockets; this bounds the whole exchange.
    const deadline = setTimeout(
      () => req.destroy(new Error(`no answer within ${exchange.timeoutMs} ms`)),
      exchange.timeoutMs,
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${exchange.timeoutMs} ms`)));
    req.on("error", reject);
    req.on("close", () => clearTimeout(deadline));
    req.end(exchange.body);
  });
