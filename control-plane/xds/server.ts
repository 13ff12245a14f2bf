// startXdsServer: the control plane's gRPC endpoint. One @grpc/grpc-js Server per port
// (plaintext for proxyless gRPC clients and the lab, TLS for sidecars), both serving ADS
// and any extra services (the CA), sharing one stream registry. The TLS port asks every
// client for a certificate but lets the handshake through without one, as istiod's :15012
// does: a sidecar fetches its first SVID from the CA service with only a token. ADS on that
// port is served only to callers whose certificate chains to the trust bundle.

import * as grpc from "@grpc/grpc-js";
import { adsServiceDefinition } from "../../api/xds-proto.js";
import { adsService } from "./ads-service.js";
import type { SnapshotCache } from "./cache.js";
import type { Callbacks, XdsLogger } from "./callbacks.js";
import { XdsError } from "./errors.js";
import { type ConnectionInfo, StreamRegistry } from "./stream-state.js";

export interface XdsServerOptions {
  cache: SnapshotCache;
  callbacks?: Callbacks;
  log?: XdsLogger;
  plaintext?: { host: string; port: number };
  /**
   * TLS. ADS requires a client certificate that chains to trustBundlePem; the extra
   * services accept callers without one (they authenticate by other means, e.g. a token).
   * The server's certificate is replaceable while running: see XdsServer.rotateTls.
   */
  tls?: {
    host: string;
    port: number;
    certChainPem: string;
    keyPem: string;
    trustBundlePem: string;
  };
  services?: {
    definition: grpc.ServiceDefinition;
    implementation: grpc.UntypedServiceImplementation;
  }[];
}

export interface XdsServer {
  readonly plaintextPort?: number;
  readonly tlsPort?: number;
  connections(): ConnectionInfo[];
  /** New server certificate and/or trust bundle for the TLS port; new handshakes use them. */
  rotateTls(update: { certChainPem?: string; keyPem?: string; trustBundlePem?: string }): void;
  /** Ends every stream, then shuts down gracefully for at most CLOSE_GRACE_MS, then forcibly. */
  close(): Promise<void>;
}

/** How long close() waits for in-flight calls before forcing the ports shut. */
export const CLOSE_GRACE_MS = 2_000;
const MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024;

const SERVER_OPTIONS: grpc.ServerOptions = {
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
};

export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  if (!opts.plaintext && !opts.tls) {
    throw new XdsError(
      "XDS_SERVER_CONFIG",
      "startXdsServer needs a plaintext or a tls port (or both)",
    );
  }
  const registry = new StreamRegistry();
  const ads = adsService({
    source: opts.cache,
    registry,
    ...(opts.callbacks && { callbacks: opts.callbacks }),
    ...(opts.log && { log: opts.log }),
  });
  const servers: grpc.Server[] = [];
  const listen = async (
    host: string,
    port: number,
    credentials: grpc.ServerCredentials,
    adsImplementation: grpc.UntypedServiceImplementation,
  ) => {
    const server = new grpc.Server(SERVER_OPTIONS);
    server.addService(
      adsServiceDefinition() as unknown as grpc.ServiceDefinition,
      adsImplementation,
    );
    for (const s of opts.services ?? []) server.addService(s.definition, s.implementation);
    const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, credentials, (err, p) => {
        if (err)
          reject(new XdsError("XDS_BIND_FAILED", `cannot listen on ${address}: ${err.message}`));
        else resolve(p);
      });
    });
    servers.push(server);
    return bound;
  };

  let plaintextPort: number | undefined;
  let tlsPort: number | undefined;
  const tlsMaterial = opts.tls && new TlsMaterial(opts.tls);
  try {
    if (opts.plaintext) {
      plaintextPort = await listen(
        opts.plaintext.host,
        opts.plaintext.port,
        grpc.ServerCredentials.createInsecure(),
        ads.implementation,
      );
    }
    if (opts.tls && tlsMaterial) {
      // requireClientCertificate=false: requestCert on, rejectUnauthorized off. grpc-js hands
      // the provider to both roles; one provider serving both makes the argument order moot.
      const credentials = grpc.experimental.createCertificateProviderServerCredentials(
        tlsMaterial,
        tlsMaterial,
        false,
      );
      tlsPort = await listen(
        opts.tls.host,
        opts.tls.port,
        credentials,
        requirePeerCertificate(ads.implementation),
      );
    }
  } catch (err) {
    for (const s of servers) s.forceShutdown();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    ...(plaintextPort !== undefined && { plaintextPort }),
    ...(tlsPort !== undefined && { tlsPort }),
    connections: () => registry.connections(),
    rotateTls(update) {
      if (!tlsMaterial) {
        throw new XdsError("XDS_SERVER_CONFIG", "rotateTls: this server has no TLS port");
      }
      tlsMaterial.update(update);
    },
    close() {
      closing ??= (async () => {
        ads.endAll("the control plane is shutting down");
        await Promise.all(servers.map(shutdown));
      })();
      return closing;
    },
  };
}

/** tryShutdown, bounded by CLOSE_GRACE_MS, then forceShutdown. */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const grace = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, CLOSE_GRACE_MS);
    grace.unref();
    server.tryShutdown(() => {
      clearTimeout(grace);
      resolve();
    });
  });
}

/**
 * The TLS port's certificate and trust bundle as a grpc-js CertificateProvider, so that a
 * rotated server certificate (or a bundle gaining a new root) reaches new handshakes
 * without restarting the server.
 */
class TlsMaterial implements grpc.experimental.CertificateProvider {
  #certChainPem: string;
  #keyPem: string;
  #trustBundlePem: string;
  readonly #ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  readonly #identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(initial: { certChainPem: string; keyPem: string; trustBundlePem: string }) {
    this.#certChainPem = initial.certChainPem;
    this.#keyPem = initial.keyPem;
    this.#trustBundlePem = initial.trustBundlePem;
  }

  update(u: { certChainPem?: string; keyPem?: string; trustBundlePem?: string }): void {
    if (u.certChainPem !== undefined) this.#certChainPem = u.certChainPem;
    if (u.keyPem !== undefined) this.#keyPem = u.keyPem;
    if (u.trustBundlePem !== undefined) this.#trustBundlePem = u.trustBundlePem;
    for (const l of this.#ca) l(this.#caUpdate());
    for (const l of this.#identity) l(this.#identityUpdate());
  }

  #caUpdate(): grpc.experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.#trustBundlePem) };
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return {
      certificate: Buffer.from(this.#certChainPem),
      privateKey: Buffer.from(this.#keyPem),
    };
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.add(l);
    // Not synchronously: grpc-js registers its own watcher only after adding the listener.
    queueMicrotask(() => this.#ca.has(l) && l(this.#caUpdate()));
  }

  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.delete(l);
  }

  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.add(l);
    queueMicrotask(() => this.#identity.has(l) && l(this.#identityUpdate()));
  }

  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.delete(l);
  }
}

/**
 * ADS behind a check that the caller presented a certificate the handshake verified
 * against the trust bundle (grpc-js reports sslPeerCertificate only for an authorized
 * socket); anyone else is refused with UNAUTHENTICATED before a stream state exists.
 */
function requirePeerCertificate(
  implementation: grpc.UntypedServiceImplementation,
): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    guarded[method] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
      if (call.getAuthContext().sslPeerCertificate === undefined) {
        call.emit("error", {
          code: grpc.status.UNAUTHENTICATED,
          details:
            "ADS on the TLS port needs a client certificate (an SVID) from the mesh's trust bundle; without one, use the CA service to get it first",
        });
        return;
      }
      (handler as (c: typeof call) => void)(call);
    }) as grpc.UntypedHandleCall;
  }
  return guarded;
}
