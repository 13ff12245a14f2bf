// Hand-made sidecar configs for the concrete-stage tests: one STATIC cluster "c" with the
// given endpoints (port 80) and any extra Cluster fields (lb_policy, circuit_breakers,
// outlier_detection).

import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { EMPTY_CONFIG, type XdsConfig } from "../../sidecar/xds/assemble.js";

export function staticCluster(ips: readonly string[], extra: XdsMessage = {}): XdsConfig {
  return {
    ...EMPTY_CONFIG,
    clusters: new Map([
      [
        "c",
        {
          typeUrl: TypeUrl.Cluster,
          name: "c",
          message: {
            name: "c",
            type: "STATIC",
            load_assignment: {
              cluster_name: "c",
              endpoints: [
                {
                  lb_endpoints: ips.map((address) => ({
                    endpoint: { address: { socket_address: { address, port_value: 80 } } },
                  })),
                },
              ],
            },
            ...extra,
          },
          refs: { eds: [], rds: [], clusters: [], secrets: [] },
        },
      ],
    ]),
  };
}
