// `trellis control-plane`: the xDS server, the CA service and the admin port, fed by a
// directory of Kubernetes YAML; and `trellis token`: a workload token for the CA service,
// signed with the control plane's token key (what the lab mints for each pod).

import { writeFile } from "node:fs/promises";
import { parseDuration } from "../certs/index.js";
import { loadOrCreateTokenKey, mintWorkloadToken } from "../control-plane/ca/index.js";
import {
  DEFAULT_PORTS,
  DEFAULT_TOKEN_KEY_FILE,
  startControlPlane,
} from "../control-plane/control-plane.js";
import { type Command, portFlag, UsageError, untilSignal } from "./command.js";

const PATH = "trellis control-plane";

export const controlPlaneCommand: Command = {
  name: "control-plane",
  summary: "run the control plane: xDS (SotW and delta ADS), the CA service, the admin port",
  help: `Usage: trellis control-plane --config DIR --ca-dir DIR [--xds-port ${DEFAULT_PORTS.xds}]
                             [--xds-tls-port ${DEFAULT_PORTS.xdsTls}] [--admin-port ${DEFAULT_PORTS.admin}]
                             [--token-key FILE] [--host 127.0.0.1]
                             [--outbound-traffic-policy ALLOW_ANY|REGISTRY_ONLY]

  --config DIR          Kubernetes YAML (Namespaces, Pods, Services, EndpointSlices,
                        HTTPRoutes, GRPCRoutes, PeerAuthentications, AuthorizationPolicies);
                        followed for changes: an invalid edit is reported, the last good
                        state stays
  --ca-dir DIR          the CA (created there if the directory holds none)
  --xds-port N          plaintext ADS and the CA service (default ${DEFAULT_PORTS.xds}; 0: any free port)
  --xds-tls-port N      TLS: ADS for clients presenting an SVID, the CA service for any
                        client with a token (default ${DEFAULT_PORTS.xdsTls})
  --admin-port N        HTTP: /ready, /debug/config_dump?node=ID, /debug/connections,
                        /debug/warnings, /metrics (default ${DEFAULT_PORTS.admin})
  --token-key FILE      the key workload tokens are checked with: a PEM private key (also
                        used by 'trellis token'; created if missing) or a PEM public key
                        (default CA-DIR/${DEFAULT_TOKEN_KEY_FILE})
  --host ADDR           the address to listen on (default 127.0.0.1; 0.0.0.0 in a cluster)
  --outbound-traffic-policy P
                        what sidecars do with traffic to unknown destinations:
                        ALLOW_ANY (passthrough, the default) or REGISTRY_ONLY (blocked)

  Runs until SIGINT or SIGTERM. Prints one line when it is serving, then logs as JSON
  lines on stderr.`,
  options: {
    config: { type: "string" },
    "ca-dir": { type: "string" },
    "xds-port": { type: "string" },
    "xds-tls-port": { type: "string" },
    "admin-port": { type: "string" },
    "token-key": { type: "string" },
    host: { type: "string" },
    "outbound-traffic-policy": { type: "string" },
  },
  required: ["config", "ca-dir"],
  async run(inv) {
    const policy = (inv.values["outbound-traffic-policy"] as string | undefined) ?? "ALLOW_ANY";
    if (policy !== "ALLOW_ANY" && policy !== "REGISTRY_ONLY") {
      throw new UsageError(
        `--outbound-traffic-policy must be ALLOW_ANY or REGISTRY_ONLY, not ${JSON.stringify(policy)}`,
        PATH,
      );
    }
    const tokenKey = inv.values["token-key"] as string | undefined;
    const cp = await startControlPlane({
      configDir: inv.values.config as string,
      caDir: inv.values["ca-dir"] as string,
      host: (inv.values.host as string | undefined) ?? "127.0.0.1",
      xdsPort: portFlag(inv, "xds-port", DEFAULT_PORTS.xds, PATH),
      xdsTlsPort: portFlag(inv, "xds-tls-port", DEFAULT_PORTS.xdsTls, PATH),
      adminPort: portFlag(inv, "admin-port", DEFAULT_PORTS.admin, PATH),
      outboundTrafficPolicy: policy,
      ...(tokenKey !== undefined && { tokenKeyFile: tokenKey }),
    });
    inv.out(
      `trellis control-plane: serving trust domain ${cp.trustDomain}; xds ${cp.xdsPort}, xds-tls ${cp.xdsTlsPort}, admin ${cp.adminPort}; token key ${cp.tokenKeyFile}`,
    );
    const sig = await untilSignal();
    inv.err(`trellis control-plane: ${sig}, shutting down`);
    await cp.close();
    return 0;
  },
};

export const tokenCommand: Command = {
  name: "token",
  summary: "mint a workload token for the CA service (a projected service-account token)",
  help: `Usage: trellis token --key FILE --namespace NS --service-account SA [--pod NAME]
                     [--ttl 1h] [--out FILE]

  --key FILE          the control plane's token key (its --token-key; created if missing)
  --namespace NS      the workload's namespace
  --service-account SA
                      the workload's service account: the SVID will be
                      spiffe://<trust-domain>/ns/NS/sa/SA
  --pod NAME          the pod, recorded in the token
  --ttl D             lifetime (default 1h)
  --out FILE          write the token there (0600) instead of printing it`,
  options: {
    key: { type: "string" },
    namespace: { type: "string" },
    "service-account": { type: "string" },
    pod: { type: "string" },
    ttl: { type: "string" },
    out: { type: "string" },
  },
  required: ["key", "namespace", "service-account"],
  async run(inv) {
    const ttlText = (inv.values.ttl as string | undefined) ?? "1h";
    const ttlMs = parseDuration(ttlText);
    if (ttlMs === undefined || ttlMs < 1000) {
      throw new UsageError(
        `--ttl ${JSON.stringify(ttlText)} is not a duration of 1s or more`,
        "trellis token",
      );
    }
    const key = await loadOrCreateTokenKey(inv.values.key as string);
    const pod = inv.values.pod as string | undefined;
    const token = await mintWorkloadToken(key, {
      namespace: inv.values.namespace as string,
      serviceAccount: inv.values["service-account"] as string,
      ...(pod !== undefined && { podName: pod }),
      ttlSeconds: Math.floor(ttlMs / 1000),
    });
    const out = inv.values.out as string | undefined;
    if (out === undefined) inv.out(token);
    else await writeFile(out, `${token}\n`, { mode: 0o600 });
    return 0;
  },
};
