// startXdsServer: the control plane's gRPC endpoint. One @grpc/grpc-js Server per port
// (plaintext for proxyless gRPC clients and the lab, mutual TLS for sidecars), both
// serving ADS and any extra services (the CA), sharing one stream registry.

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
  /** Mutual TLS: a client must present a certificate that chains to trustBundlePem. */
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
  const listen = async (host: string, port: number, credentials: grpc.ServerCredentials) => {
    const server = new grpc.Server(SERVER_OPTIONS);
    server.addService(
      adsServiceDefinition() as unknown as grpc.ServiceDefinition,
      ads.implementation,
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
  try {
    if (opts.plaintext) {
      plaintextPort = await listen(
        opts.plaintext.host,
        opts.plaintext.port,
        grpc.ServerCredentials.createInsecure(),
      );
    }
    if (opts.tls) {
      const credentials = grpc.ServerCredentials.createSsl(
        Buffer.from(opts.tls.trustBundlePem),
        [
          {
            cert_chain: Buffer.from(opts.tls.certChainPem),
            private_key: Buffer.from(opts.tls.keyPem),
          },
        ],
        true,
      );
      tlsPort = await listen(opts.tls.host, opts.tls.port, credentials);
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
