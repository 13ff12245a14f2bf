// trellis-cni's commands: ADD writes the redirect rules into a meshed pod's netns, DEL
// removes them (idempotently), CHECK compares, VERSION/STATUS/GC as the spec says.
// Chained: prevResult goes through untouched. The netns-touching steps are injected,
// so the protocol logic is tested without privileges.

import { applyRedirect, checkRedirect, checkTools, removeRedirect } from "./apply.js";
import {
  CniCode,
  CniError,
  type CniRequest,
  parseCommand,
  parseRequest,
  SUPPORTED_VERSIONS,
} from "./protocol.js";
import { decideRedirect, type RedirectDecision } from "./redirect-config.js";

/** containerd passes pod annotations under this runtimeConfig key (capability of the same name). */
export const POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations";

export interface Datapath {
  apply: typeof applyRedirect;
  remove: typeof removeRedirect;
  check: typeof checkRedirect;
  tools: typeof checkTools;
}

export const realDatapath: Datapath = {
  apply: applyRedirect,
  remove: removeRedirect,
  check: checkRedirect,
  tools: checkTools,
};

export interface PluginOutcome {
  readonly exitCode: number;
  readonly stdout: string;
}

function requestedVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === "string" ? v : "1.0.0";
  } catch {
    return "1.0.0";
  }
}

/** What trellis-cni decides for the pod in `req`. */
export function decisionFor(req: CniRequest): RedirectDecision {
  const namespace = req.args.K8S_POD_NAMESPACE;
  const name = req.args.K8S_POD_NAME;
  if (!namespace || !name) return { meshed: false, reason: "CNI_ARGS names no Kubernetes pod" };
  const fromRuntime = req.conf.runtimeConfig?.[POD_ANNOTATIONS_CAPABILITY];
  if (fromRuntime !== undefined && (typeof fromRuntime !== "object" || fromRuntime === null)) {
    throw new CniError(
      CniCode.INVALID_CONFIG,
      `runtimeConfig.${POD_ANNOTATIONS_CAPABILITY} must be an object of strings`,
    );
  }
  const annotations =
    (fromRuntime as Record<string, string> | undefined) ?? req.conf.podAnnotations ?? {};
  return decideRedirect({
    namespace,
    name,
    annotations,
    excludeNamespaces: req.conf.excludeNamespaces,
  });
}

function needPrevResult(req: CniRequest): Record<string, unknown> {
  if (!req.conf.prevResult) {
    throw new CniError(
      CniCode.INVALID_CONFIG,
      "trellis-cni must be chained after a plugin that sets up the pod's interface (no prevResult)",
    );
  }
  return req.conf.prevResult;
}

async function handle(env: NodeJS.ProcessEnv, stdin: string, dp: Datapath): Promise<string> {
  if (parseCommand(env) === "VERSION") {
    return JSON.stringify({
      cniVersion: requestedVersion(stdin),
      supportedVersions: SUPPORTED_VERSIONS,
    });
  }
  const req = parseRequest(env, stdin);
  const mode = req.conf.redirectMode;
  switch (req.command) {
    case "ADD": {
      const prev = needPrevResult(req);
      const decision = decisionFor(req);
      if (decision.meshed) dp.apply(req.netns, mode, decision.config);
      return JSON.stringify(prev);
    }
    case "DEL":
      // Always: the annotations may not come with DEL, and removing nothing is success.
      // No CNI_NETNS means the namespace is already gone, and the rules with it.
      if (req.netns) dp.remove(req.netns, mode);
      return "";
    case "CHECK": {
      needPrevResult(req);
      const decision = decisionFor(req);
      if (decision.meshed) dp.check(req.netns, mode, decision.config);
      return "";
    }
    case "STATUS":
    case "GC":
      if (req.conf.cniVersion !== "1.1.0") {
        throw new CniError(
          CniCode.INCOMPATIBLE_VERSION,
          `${req.command} needs CNI version 1.1.0, the configuration says ${req.conf.cniVersion}`,
        );
      }
      // trellis-cni keeps no state outside the pods' own namespaces: GC has nothing to collect.
      if (req.command === "STATUS") dp.tools(mode);
      return "";
    default:
      throw new CniError(CniCode.INVALID_ENVIRONMENT, `unexpected command ${req.command}`);
  }
}

export async function runPlugin(
  env: NodeJS.ProcessEnv,
  stdin: string,
  dp: Datapath = realDatapath,
): Promise<PluginOutcome> {
  try {
    return { exitCode: 0, stdout: await handle(env, stdin, dp) };
  } catch (err) {
    const e =
      err instanceof CniError
        ? err
        : new CniError(
            CniCode.IO_FAILURE,
            `unexpected failure: ${(err as Error).message}`,
            (err as Error).stack ?? "",
          );
    return { exitCode: 1, stdout: JSON.stringify(e.toJSON(requestedVersion(stdin))) };
  }
}
