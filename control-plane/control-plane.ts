// The control plane assembled (what `trellis control-plane` runs, istiod's job): a Store fed
// by the config directory, the EndpointSlice controller, the mesh controller that turns the
// Store into per-proxy snapshots, the xDS server (plaintext and TLS) with the CA service on
// both ports, and the admin HTTP port. close() stops all of it, in reverse order.

import type { KeyObject } from "node:crypto";
import { setMaxListeners } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { caServiceDefinition } from "../api/ca-proto.js";
import { type FileSourceReport, watchConfigDir } from "../api/file-source.js";
import { MemoryStore } from "../api/memory-store.js";
import type { Store } from "../api/store.js";
import {
  CA_FILES,
  type CertificateAuthority,
  initCaDir,
  loadCaDir,
  renewalDelay,
  svidPem,
  workloadSpiffeId,
} from "../certs/index.js";
import { type AdminServer, startAdminServer } from "./admin.js";
import {
  type Authenticator,
  caServiceImplementation,
  JwtAuthenticator,
  loadOrCreateTokenKey,
  loadTokenVerificationKey,
} from "./ca/index.js";
import { runEndpointSliceController } from "./controllers/endpointslice.js";
import { MeshController } from "./mesh-controller.js";
import { DEFAULT_OPTIONS, type TranslateOptions } from "./translator/index.js";
import { SnapshotCache } from "./xds/cache.js";
import { startXdsServer, type XdsServer } from "./xds/server.js";

/** The control plane's own identity: its TLS certificate on :15012 carries it. */
export const CONTROL_PLANE_NAMESPACE = "trellis-system";
export const CONTROL_PLANE_SERVICE_ACCOUNT = "trellis-control-plane";
/** Where the token signing key lives when --token-key is not given. */
export const DEFAULT_TOKEN_KEY_FILE = "token-key.pem";

export const DEFAULT_PORTS = { xds: 15010, xdsTls: 15012, admin: 15014 } as const;

export interface ControlPlaneOptions {
  /** Kubernetes YAML, followed for changes. */
  readonly configDir: string;
  /** The CA's directory; a CA is created there when it holds none. */
  readonly caDir: string;
  /** Interface to listen on (default 127.0.0.1; 0.0.0.0 in a cluster). */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly xdsPort?: number;
  readonly xdsTlsPort?: number;
  readonly adminPort?: number;
  /**
   * The key workload tokens are checked with: a PEM private key (the control plane is the
   * issuer too, as in the lab; created when missing) or a PEM public key (someone else
   * issues them). Default <caDir>/token-key.pem.
   */
  readonly tokenKeyFile?: string;
  /** Instead of the token key: authenticate callers this way (e.g. TokenReview in Kubernetes). */
  readonly authenticator?: Authenticator;
  readonly outboundTrafficPolicy?: TranslateOptions["outboundTrafficPolicy"];
  /** Debounce of the mesh controller (default 50 ms). */
  readonly debounceMs?: number;
  /** One line per event worth a human's attention. Default: stderr as JSON. */
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface ControlPlane {
  readonly xdsPort: number;
  readonly xdsTlsPort: number;
  readonly adminPort: number;
  readonly store: Store;
  readonly cache: SnapshotCache;
  readonly mesh: MeshController;
  readonly xds: XdsServer;
  readonly authority: CertificateAuthority;
  readonly trustDomain: string;
  /** The trust bundle's PEM: what a client of :15012 verifies the server with. */
  trustBundlePem(): string;
  /** The file workload tokens are signed with (when the control plane is their issuer). */
  readonly tokenKeyFile?: string;
  /** The signing key itself, when the control plane holds it (to mint tokens for the lab). */
  readonly tokenKey?: KeyObject;
  /** Whether the CA was created by this start (the directory held none). */
  readonly createdCa: boolean;
  close(): Promise<void>;
}

const stderrLog = (message: string, fields?: Record<string, unknown>) =>
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), component: "control-plane", message, ...fields })}\n`,
  );

function reportLine(r: FileSourceReport): [string, Record<string, unknown>] {
  switch (r.kind) {
    case "applied":
      return ["config applied", { ...r }];
    case "removed":
      return ["config file removed", { ...r }];
    case "invalid":
      return [
        "config file is invalid; its last good objects stay",
        { file: r.file, issues: r.issues },
      ];
    case "duplicate":
      return ["object defined twice; the first definition wins", { ...r }];
    case "error":
      return ["config error", { file: r.file, error: r.error.message }];
  }
}

function isPublicKeyFile(file: string): boolean {
  return readFileSync(file, "utf8").includes("BEGIN PUBLIC KEY");
}

async function openCa(
  dir: string,
  log: ControlPlaneOptions["log"] & {},
): Promise<{ ca: CertificateAuthority; created: boolean }> {
  if (existsSync(join(dir, CA_FILES.config))) return { ca: await loadCaDir(dir), created: false };
  const ca = await initCaDir(dir);
  log("created a CA (no ca.json was there)", { dir, trustDomain: ca.trustDomain });
  return { ca, created: true };
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? stderrLog;
  const host = opts.host ?? "127.0.0.1";
  const { ca, created } = await openCa(opts.caDir, log);
  const trustDomain = ca.trustDomain;

  let tokenKeyFile: string | undefined;
  let tokenKey: KeyObject | undefined;
  let authenticator = opts.authenticator;
  if (!authenticator) {
    tokenKeyFile = opts.tokenKeyFile ?? join(opts.caDir, DEFAULT_TOKEN_KEY_FILE);
    const publicOnly = existsSync(tokenKeyFile) && isPublicKeyFile(tokenKeyFile);
    const key = publicOnly
      ? await loadTokenVerificationKey(tokenKeyFile)
      : await loadOrCreateTokenKey(tokenKeyFile);
    if (!publicOnly) tokenKey = key;
    authenticator = new JwtAuthenticator({ key, trustDomain });
  }

  // Everything started is stopped by close(), also when a later step fails: the signal
  // first (it ends the watches and controllers), then each part in reverse order.
  const stops: (() => Promise<void> | void)[] = [];
  const abort = new AbortController();
  // One listener per informer and watch: more than Node's default warning threshold.
  setMaxListeners(64, abort.signal);
  const close = async () => {
    abort.abort();
    for (const stop of stops.reverse()) await stop();
    stops.length = 0;
  };

  try {
    const store = new MemoryStore();
    stops.push(() => store.close());
    const source = await watchConfigDir(opts.configDir, store, {
      signal: abort.signal,
      onReport: (r) => log(...reportLine(r)),
    });
    stops.push(() => source.close());
    await source.ready;

    const slices = runEndpointSliceController(store, {
      signal: abort.signal,
      onError: (e) => log("EndpointSlice controller", { error: e.message }),
    });
    stops.push(() => slices.catch(() => {}));

    const cache = new SnapshotCache();
    const bundlePem = () => ca.trustBundle().toPem();
    const mesh = new MeshController({
      store,
      cache,
      signal: abort.signal,
      translate: {
        ...DEFAULT_OPTIONS,
        trustDomain,
        outboundTrafficPolicy: opts.outboundTrafficPolicy ?? DEFAULT_OPTIONS.outboundTrafficPolicy,
        trustBundlePem: bundlePem(),
      },
      ...(opts.debounceMs !== undefined && { debounceMs: opts.debounceMs }),
      log,
    });
    const meshRun = mesh.start();
    stops.push(() => meshRun.catch(() => {}));
    await mesh.synced;

    const issueServerCert = () =>
      ca.issue({
        spiffeId: workloadSpiffeId(
          trustDomain,
          CONTROL_PLANE_NAMESPACE,
          CONTROL_PLANE_SERVICE_ACCOUNT,
        ).uri,
      });
    let serverSvid = await issueServerCert();
    const xds = await startXdsServer({
      cache,
      callbacks: mesh.callbacks,
      plaintext: { host, port: opts.xdsPort ?? DEFAULT_PORTS.xds },
      tls: {
        host,
        port: opts.xdsTlsPort ?? DEFAULT_PORTS.xdsTls,
        certChainPem: svidPem(serverSvid).chain,
        keyPem: serverSvid.privateKeyPem,
        trustBundlePem: bundlePem(),
      },
      services: [
        {
          definition: caServiceDefinition() as never,
          implementation: caServiceImplementation({
            authority: ca,
            authenticator,
            trustDomain,
            log: (line) => log(line),
          }),
        },
      ],
      log: { warn: (message, fields) => log(message, fields) },
    });
    stops.push(() => xds.close());

    // The server's own SVID, renewed at half-life; the bundle re-read then too (a retired
    // root leaves it when its window ends).
    let renewal: NodeJS.Timeout | undefined;
    const scheduleRenewal = () => {
      renewal = setTimeout(async () => {
        try {
          serverSvid = await issueServerCert();
          xds.rotateTls({
            certChainPem: svidPem(serverSvid).chain,
            keyPem: serverSvid.privateKeyPem,
            trustBundlePem: bundlePem(),
          });
          mesh.setTrustBundle(bundlePem());
        } catch (err) {
          log("renewing the control plane's certificate failed; retrying", {
            error: (err as Error).message,
          });
        }
        scheduleRenewal();
      }, renewalDelay(serverSvid));
      renewal.unref();
    };
    scheduleRenewal();
    stops.push(() => clearTimeout(renewal));

    let admin: AdminServer | undefined;
    admin = await startAdminServer(
      {
        notReady: () => (abort.signal.aborted ? "shutting down" : undefined),
        snapshot: (id) => cache.getSnapshot(id),
        nodeIds: () => cache.nodeIds(),
        connections: () => xds.connections(),
        stats: () => mesh.stats(),
      },
      { host, port: opts.adminPort ?? DEFAULT_PORTS.admin },
    );
    stops.push(() => admin?.close());

    return {
      xdsPort: xds.plaintextPort as number,
      xdsTlsPort: xds.tlsPort as number,
      adminPort: admin.port,
      store,
      cache,
      mesh,
      xds,
      authority: ca,
      trustDomain,
      trustBundlePem: bundlePem,
      ...(tokenKeyFile !== undefined && { tokenKeyFile }),
      ...(tokenKey !== undefined && { tokenKey }),
      createdCa: created,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
