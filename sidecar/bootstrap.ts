// The sidecar's bootstrap: the little it must know before xDS can tell it the rest — where
// the control plane is, who the pod is, and where its token lies. From a YAML or JSON file
// and/or flags (a flag wins over the file), validated as a whole: every problem is reported
// with its field, and nothing starts on a bad bootstrap.

import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import type { XdsMessage } from "../api/xds-proto.js";
import { parseDuration, workloadSpiffeId } from "../certs/index.js";

export interface Bootstrap {
  /** host:port of the control plane's xDS and CA services. */
  readonly controlPlane: string;
  /**
   * PEM file of the mesh's root (Istio's istio-ca-root-cert): with it, the CA service and ADS
   * are reached over TLS (the :15012 port) and ADS presents the SVID; without, plaintext.
   */
  readonly caRootFile?: string;
  /** The pod's token (a projected service-account token, or one minted by `trellis token`). */
  readonly tokenFile: string;
  readonly trustDomain: string;
  readonly xds: "sotw" | "delta";
  /** Requested SVID lifetime. */
  readonly svidTtlMs: number;
  readonly node: {
    readonly id: string;
    readonly namespace: string;
    readonly podName: string;
    readonly serviceAccount: string;
    readonly podIp: string;
    readonly labels: Readonly<Record<string, string>>;
  };
}

export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
  readonly code = "BOOTSTRAP_INVALID";
  constructor(readonly problems: readonly string[]) {
    super(`invalid sidecar bootstrap: ${problems.join("; ")}`);
  }
}

/** Flat input: the file's fields and the flags use the same names. */
export interface BootstrapInput {
  controlPlane?: unknown;
  caRootFile?: unknown;
  tokenFile?: unknown;
  trustDomain?: unknown;
  xds?: unknown;
  svidTtl?: unknown;
  node?: {
    id?: unknown;
    namespace?: unknown;
    podName?: unknown;
    serviceAccount?: unknown;
    podIp?: unknown;
    labels?: unknown;
  };
}

/** The file's text (YAML, of which JSON is a part) as input. */
export function parseBootstrapText(text: string, file: string): BootstrapInput {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new BootstrapError([`${file}: not YAML or JSON: ${(err as Error).message}`]);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BootstrapError([`${file}: must be a mapping of bootstrap fields`]);
  }
  return value as BootstrapInput;
}

/** `over` (the flags) on top of `base` (the file). */
export function mergeBootstrap(base: BootstrapInput, over: BootstrapInput): BootstrapInput {
  const defined = <T extends object>(o: T | undefined) =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined));
  return { ...base, ...defined(over), node: { ...base.node, ...defined(over.node) } };
}

export function validateBootstrap(input: BootstrapInput): Bootstrap {
  const problems: string[] = [];
  const text = (v: unknown, field: string, required = true): string => {
    if (typeof v === "string" && v.trim() !== "") return v.trim();
    if (v !== undefined || required) problems.push(`${field}: must be a non-empty string`);
    return "";
  };
  const controlPlane = text(input.controlPlane, "controlPlane");
  if (controlPlane && !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(controlPlane)) {
    problems.push(`controlPlane: ${JSON.stringify(controlPlane)} is not host:port`);
  }
  const caRootFile = text(input.caRootFile, "caRootFile", false) || undefined;
  const tokenFile = text(input.tokenFile, "tokenFile");
  const trustDomain = text(input.trustDomain ?? "cluster.local", "trustDomain");
  const xds = input.xds ?? "delta";
  if (xds !== "sotw" && xds !== "delta") problems.push(`xds: must be "sotw" or "delta"`);
  let svidTtlMs = 24 * 3600_000;
  if (input.svidTtl !== undefined) {
    const ms = parseDuration(String(input.svidTtl));
    if (ms === undefined || ms <= 0) {
      problems.push(
        `svidTtl: ${JSON.stringify(input.svidTtl)} is not a duration such as 24h or 30m`,
      );
    } else svidTtlMs = ms;
  }
  const n = input.node ?? {};
  const namespace = text(n.namespace, "node.namespace");
  const podName = text(n.podName, "node.podName");
  const serviceAccount = text(n.serviceAccount ?? "default", "node.serviceAccount");
  const podIp = text(n.podIp, "node.podIp");
  if (podIp && isIP(podIp) === 0)
    problems.push(`node.podIp: ${JSON.stringify(podIp)} is not an IP`);
  const labels: Record<string, string> = {};
  if (n.labels !== undefined) {
    if (n.labels === null || typeof n.labels !== "object" || Array.isArray(n.labels)) {
      problems.push("node.labels: must be a mapping of label to value");
    } else {
      for (const [k, v] of Object.entries(n.labels)) {
        if (typeof v === "string") labels[k] = v;
        else problems.push(`node.labels.${k}: must be a string`);
      }
    }
  }
  // Istio's node id: <type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local
  const id =
    text(n.id, "node.id", false) ||
    `sidecar~${podIp}~${podName}.${namespace}~${namespace}.svc.cluster.local`;
  if (problems.length > 0) throw new BootstrapError(problems);
  return {
    controlPlane,
    ...(caRootFile ? { caRootFile } : {}),
    tokenFile,
    trustDomain,
    xds: xds as "sotw" | "delta",
    svidTtlMs,
    node: { id, namespace, podName, serviceAccount, podIp, labels },
  };
}

export function spiffeIdOf(b: Bootstrap): string {
  return workloadSpiffeId(b.trustDomain, b.node.namespace, b.node.serviceAccount).uri;
}

/** The xDS node: the metadata keys an Istio proxy sends, which the control plane reads. */
export function xdsNode(b: Bootstrap): XdsMessage {
  const s = (v: string) => ({ string_value: v });
  return {
    id: b.node.id,
    user_agent_name: "trellis-sidecar",
    metadata: {
      fields: {
        NAMESPACE: s(b.node.namespace),
        NAME: s(b.node.podName),
        SERVICE_ACCOUNT: s(b.node.serviceAccount),
        INSTANCE_IPS: s(b.node.podIp),
        LABELS: {
          struct_value: {
            fields: Object.fromEntries(Object.entries(b.node.labels).map(([k, v]) => [k, s(v)])),
          },
        },
      },
    },
  };
}
