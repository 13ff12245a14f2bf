// The CNI protocol as trellis-cni sees it (spec 1.0.0 / 1.1.0; the 0.3.x and 0.4.0
// configs of older runtimes are accepted too, since kindnet writes 0.3.1): the request
// from environment + stdin, and the spec's error object.

export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

/** Error codes from the CNI spec (section "Error"), plus our own from 100 up. */
export const CniCode = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  CONTAINER_UNKNOWN: 3,
  INVALID_ENVIRONMENT: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN: 11,
  PLUGIN_NOT_AVAILABLE: 50,
  /** CHECK found the redirect rules missing or different from what ADD writes. */
  RULES_ALTERED: 100,
} as const;

export class CniError extends Error {
  override readonly name = "CniError";
  constructor(
    readonly code: number,
    message: string,
    readonly details = "",
  ) {
    super(message);
  }

  toJSON(cniVersion: string) {
    return { cniVersion, code: this.code, msg: this.message, details: this.details };
  }
}

export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";
const COMMANDS: readonly CniCommand[] = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

/** The plugin's own keys in its network configuration. */
export interface TrellisNetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly prevResult?: Record<string, unknown>;
  readonly runtimeConfig?: Record<string, unknown>;
  /** nftables (default) or iptables. */
  readonly redirectMode: "nftables" | "iptables";
  /** Pods in these namespaces are never redirected. */
  readonly excludeNamespaces: readonly string[];
  /** Annotations used when the runtime passes none (the lab's way; see pod.ts). */
  readonly podAnnotations?: Readonly<Record<string, string>>;
}

export interface CniRequest {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: Readonly<Record<string, string>>;
  readonly path: readonly string[];
  readonly conf: TrellisNetConf;
}

/** K8S_POD_NAMESPACE=a;K8S_POD_NAME=b → {…}. */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(";")) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new CniError(
        CniCode.INVALID_ENVIRONMENT,
        `CNI_ARGS has a malformed pair ${JSON.stringify(pair)} (want KEY=VALUE;…)`,
      );
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export function parseCommand(env: NodeJS.ProcessEnv): CniCommand {
  const command = env.CNI_COMMAND;
  if (!command)
    throw new CniError(
      CniCode.INVALID_ENVIRONMENT,
      "CNI_COMMAND is not set (a container runtime calls this plugin; see the CNI spec)",
    );
  if (!COMMANDS.includes(command as CniCommand)) {
    throw new CniError(
      CniCode.INVALID_ENVIRONMENT,
      `CNI_COMMAND ${JSON.stringify(command)} is not one of ${COMMANDS.join(", ")}`,
    );
  }
  return command as CniCommand;
}

function parseNetConf(stdin: string): TrellisNetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(
      CniCode.DECODE_FAILURE,
      "the network configuration on stdin is not JSON",
      (err as Error).message,
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(
      CniCode.DECODE_FAILURE,
      "the network configuration on stdin is not a JSON object",
    );
  }
  const c = raw as Record<string, unknown>;
  const bad = (field: string, want: string) =>
    new CniError(CniCode.INVALID_CONFIG, `network configuration: ${field} must be ${want}`);
  if (typeof c.cniVersion !== "string") throw bad("cniVersion", "a string");
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(c.cniVersion)) {
    throw new CniError(
      CniCode.INCOMPATIBLE_VERSION,
      `CNI version ${c.cniVersion} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  if (typeof c.name !== "string" || c.name === "") throw bad("name", "a non-empty string");
  if (typeof c.type !== "string") throw bad("type", "a string");
  const mode = c.redirectMode ?? "nftables";
  if (mode !== "nftables" && mode !== "iptables")
    throw bad("redirectMode", '"nftables" or "iptables"');
  const excluded = c.excludeNamespaces ?? ["kube-system"];
  if (!Array.isArray(excluded) || excluded.some((n) => typeof n !== "string"))
    throw bad("excludeNamespaces", "a list of strings");
  for (const key of ["prevResult", "runtimeConfig", "podAnnotations"] as const) {
    const v = c[key];
    if (v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v)))
      throw bad(key, "an object");
  }
  if (c.podAnnotations && Object.values(c.podAnnotations).some((v) => typeof v !== "string")) {
    throw bad("podAnnotations", "an object of strings");
  }
  return {
    cniVersion: c.cniVersion,
    name: c.name,
    type: c.type,
    prevResult: c.prevResult as Record<string, unknown> | undefined,
    runtimeConfig: c.runtimeConfig as Record<string, unknown> | undefined,
    redirectMode: mode,
    excludeNamespaces: excluded as string[],
    podAnnotations: c.podAnnotations as Record<string, string> | undefined,
  };
}

/** The whole request; VERSION needs only CNI_COMMAND and a version on stdin. */
export function parseRequest(env: NodeJS.ProcessEnv, stdin: string): CniRequest {
  const command = parseCommand(env);
  const conf = parseNetConf(stdin);
  const need = (name: string): string => {
    const v = env[name];
    if (!v)
      throw new CniError(CniCode.INVALID_ENVIRONMENT, `${name} is not set; ${command} needs it`);
    return v;
  };
  const perContainer = command === "ADD" || command === "DEL" || command === "CHECK";
  return {
    command,
    containerId: perContainer ? need("CNI_CONTAINERID") : (env.CNI_CONTAINERID ?? ""),
    // DEL may come after the netns is gone: the spec lets CNI_NETNS be empty then.
    netns: command === "ADD" || command === "CHECK" ? need("CNI_NETNS") : (env.CNI_NETNS ?? ""),
    ifName: perContainer ? need("CNI_IFNAME") : (env.CNI_IFNAME ?? ""),
    args: parseCniArgs(env.CNI_ARGS ?? ""),
    path: (env.CNI_PATH ?? "").split(":").filter(Boolean),
    conf,
  };
}
