// `trellis sidecar`: the sidecar — its SVID from the CA service, its config over ADS, the
// admin port, the outbound and inbound listeners — from a bootstrap file and/or a flag per
// bootstrap field.

import { readFile } from "node:fs/promises";
import { startSidecarAgent } from "../sidecar/agent.js";
import {
  type BootstrapInput,
  mergeBootstrap,
  parseBootstrapText,
  validateBootstrap,
} from "../sidecar/bootstrap.js";
import { installNodeWorkarounds } from "../sidecar/node-workarounds.js";
import { type Command, type Invocation, portFlag, UsageError, untilSignal } from "./command.js";

const PATH = "trellis sidecar";

function labelsFlag(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of text.split(",").filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--labels: ${JSON.stringify(pair)} is not KEY=VALUE`, PATH);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

function flags(inv: Invocation): BootstrapInput {
  const v = (name: string) => inv.values[name] as string | undefined;
  return {
    controlPlane: v("control-plane"),
    caRootFile: v("ca-root"),
    tokenFile: v("token-file"),
    trustDomain: v("trust-domain"),
    xds: v("xds"),
    svidTtl: v("svid-ttl"),
    node: {
      id: v("node-id"),
      namespace: v("namespace"),
      podName: v("pod"),
      serviceAccount: v("service-account"),
      podIp: v("pod-ip"),
      labels: labelsFlag(v("labels")),
    },
  };
}

export const sidecarCommand: Command = {
  name: "sidecar",
  summary: "run the sidecar: its SVID from the CA service, its config over xDS, admin :15000",
  help: `Usage: trellis sidecar [--bootstrap FILE] [--control-plane HOST:PORT] [--ca-root FILE]
                       [--token-file FILE] [--namespace NS] [--pod NAME]
                       [--service-account SA] [--pod-ip IP] [--labels K=V,…]
                       [--node-id ID] [--trust-domain TD] [--xds delta|sotw]
                       [--svid-ttl 24h] [--admin-port 15000] [--outbound-port 15001]
                       [--inbound-port 15006] [--mark 0x539] [--access-log]

  --bootstrap FILE      YAML or JSON with the fields below (controlPlane, caRootFile,
                        tokenFile, trustDomain, xds, svidTtl, node: {id, namespace,
                        podName, serviceAccount, podIp, labels}); a flag wins over the file
  --control-plane A     the control plane's xDS + CA address (:15012 with --ca-root, else
                        the plaintext :15010)
  --ca-root FILE        the mesh's root certificate: TLS to the control plane, and ADS
                        authenticated with the SVID
  --token-file FILE     the pod's token for the CA service (read again at each renewal)
  --namespace, --pod, --service-account, --pod-ip, --labels
                        who the pod is: its SVID is spiffe://TD/ns/NS/sa/SA
  --node-id ID          default sidecar~IP~POD.NS~NS.svc.cluster.local
  --xds P               delta (the default, as Istio's) or sotw
  --svid-ttl D          requested SVID lifetime (default 24h); renewed at half-life
  --admin-port N        /ready (200 once config and certificate are in), /config_dump,
                        /certs (default 15000; 0: any free port)
  --outbound-port N     where the redirect rules send outbound TCP (default 15001)
  --inbound-port N      where they send inbound TCP (default 15006)
  --mark M              SO_MARK the sidecar's own upstream sockets (0x539 is what
                        trellis-cni exempts; needs CAP_NET_ADMIN). Without it, run the
                        sidecar as uid 1337, which the rules exempt too
  --access-log          a JSON line per request on stdout (off by default)

  TCP and HTTP/1.1, HTTP/2 and gRPC are proxied, with mTLS between sidecars, routing,
  retries, timeouts and AuthorizationPolicy. SIGTERM or POST /quitquitquit drains (5 s) and
  exits. Logs JSON lines on stderr.`,
  options: {
    bootstrap: { type: "string" },
    "control-plane": { type: "string" },
    "ca-root": { type: "string" },
    "token-file": { type: "string" },
    namespace: { type: "string" },
    pod: { type: "string" },
    "service-account": { type: "string" },
    "pod-ip": { type: "string" },
    labels: { type: "string" },
    "node-id": { type: "string" },
    "trust-domain": { type: "string" },
    xds: { type: "string" },
    "svid-ttl": { type: "string" },
    "admin-port": { type: "string" },
    "outbound-port": { type: "string" },
    "inbound-port": { type: "string" },
    mark: { type: "string" },
    "access-log": { type: "boolean" },
  },
  async run(inv) {
    installNodeWorkarounds();
    const file = inv.values.bootstrap as string | undefined;
    const base = file ? parseBootstrapText(await readFile(file, "utf8"), file) : {};
    const bootstrap = validateBootstrap(mergeBootstrap(base, flags(inv)));
    const port = (name: string, fallback: number) => portFlag(inv, name, fallback, PATH);
    const adminPort = port("admin-port", 15000);
    const markText = inv.values.mark as string | undefined;
    const mark = markText === undefined ? undefined : Number(markText);
    if (mark !== undefined && (!Number.isInteger(mark) || mark <= 0 || mark > 0xffffffff)) {
      throw new UsageError(`--mark ${JSON.stringify(markText)} is not a socket mark`, PATH);
    }
    const listeners = {
      outboundPort: port("outbound-port", 15001),
      inboundPort: port("inbound-port", 15006),
      ...(mark !== undefined ? { mark } : {}),
    };
    const log = (message: string, fields?: Record<string, unknown>) =>
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), component: "sidecar", message, ...fields })}\n`,
      );
    const agent = await startSidecarAgent({
      bootstrap,
      adminPort,
      log,
      listeners,
      ...(inv.values["access-log"] ? { accessLog: process.stdout } : {}),
    });
    inv.out(
      `trellis sidecar: ${agent.identity.current?.spiffeId} (node ${bootstrap.node.id}); control plane ${bootstrap.controlPlane} over ${bootstrap.xds} xDS; admin ${agent.adminPort}, outbound ${agent.outboundPort}, inbound ${agent.inboundPort}`,
    );
    const why = await Promise.race([untilSignal(), agent.quitRequested.then(() => "quitquitquit")]);
    inv.err(`trellis sidecar: ${why}, draining and shutting down`);
    await agent.drain();
    await agent.close();
    return 0;
  },
};
