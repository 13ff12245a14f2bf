// The reference CNI plugins as tests and benchmarks use them: where Debian installs them,
// and the bridge + host-local network every sandboxed pod joins.

import { existsSync } from "node:fs";
import { join } from "node:path";

/** Debian's containernetworking-plugins, or the usual /opt/cni/bin. */
export const CNI_BIN =
  ["/usr/lib/cni", "/opt/cni/bin"].find((d) => existsSync(join(d, "bridge"))) ?? "/usr/lib/cni";

/** A bridge (cni0, the gateway at .1) with host-local IPAM keeping its state under /run. */
export function bridgeConf(subnet = "10.244.1.0/24") {
  return {
    cniVersion: "1.0.0",
    name: "lab",
    type: "bridge",
    bridge: "cni0",
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: false,
    ipam: { type: "host-local", ranges: [[{ subnet }]], dataDir: "/run/cni/ipam" },
  };
}
