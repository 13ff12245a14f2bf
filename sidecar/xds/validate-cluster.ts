// Cluster validation: a discovery type and load balancing policy the sidecar implements,
// where the endpoints come from (EDS over ADS, or inline for STATIC and DNS clusters), the
// connect timeout and the upstream TLS context. Collects the EDS service names and the SDS
// secrets a cluster needs.

import { at, type Rec, show } from "../../api/validate-common.js";
import { checkLoadAssignment } from "./validate-endpoints.js";
import {
  checkAdsSource,
  checkDuration,
  checkTransportSocket,
  nonEmpty,
  type XdsCheck,
} from "./validate-shared.js";

const CLUSTER_TYPES = ["EDS", "STATIC", "STRICT_DNS", "LOGICAL_DNS", "ORIGINAL_DST"];
const LB_POLICIES = ["ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", "CLUSTER_PROVIDED"];

export function checkCluster(c: XdsCheck, cluster: Rec): void {
  const name = nonEmpty(c, cluster.name, "name");
  // proto3 leaves an enum's zero value off the wire: no type is STATIC, no policy ROUND_ROBIN.
  // A number is a value newer than the protos the sidecar knows.
  const type = cluster.type ?? "STATIC";
  const lbPolicy = cluster.lb_policy ?? "ROUND_ROBIN";
  const knownType = cluster.cluster_type === undefined && CLUSTER_TYPES.includes(String(type));
  if (cluster.cluster_type !== undefined) {
    c.add("cluster_type", "custom cluster types are not supported by the sidecar: set type");
  } else if (!knownType) {
    c.add(
      "type",
      `${show(type)} is not a cluster type the sidecar supports (${CLUSTER_TYPES.join(", ")})`,
    );
  }
  if (!LB_POLICIES.includes(String(lbPolicy))) {
    c.add(
      "lb_policy",
      `${show(lbPolicy)} is not a load balancing policy the sidecar supports (${LB_POLICIES.join(", ")})`,
    );
  } else if (knownType && (type === "ORIGINAL_DST") !== (lbPolicy === "CLUSTER_PROVIDED")) {
    c.add(
      "lb_policy",
      type === "ORIGINAL_DST"
        ? "must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster: its one upstream is the connection's original destination"
        : `CLUSTER_PROVIDED is only for ORIGINAL_DST clusters, and this one is ${type}`,
    );
  }
  checkDuration(c, cluster.connect_timeout, "connect_timeout", "positive");

  if (type === "EDS") {
    const eds = c.map(cluster.eds_cluster_config, "eds_cluster_config", { required: true });
    if (eds) checkAdsSource(c, eds.eds_config, "eds_cluster_config.eds_config");
    const service =
      typeof eds?.service_name === "string" && eds.service_name !== "" ? eds.service_name : name;
    if (service !== undefined) c.eds.add(service);
  }
  // A STATIC cluster without a load_assignment is a deliberate black hole (the translator's
  // BlackHoleCluster); one with a load_assignment but no endpoints is a mistake.
  const dns = type === "STRICT_DNS" || type === "LOGICAL_DNS";
  const assignment = c.map(cluster.load_assignment, "load_assignment", { required: dns });
  if (assignment && (type === "STATIC" || dns)) {
    const count = checkLoadAssignment(c, assignment, "load_assignment", dns);
    if (count === 0) c.add("load_assignment.endpoints", "must have at least one endpoint");
    if (type === "LOGICAL_DNS" && count > 1) {
      c.add(
        "load_assignment.endpoints",
        `must have exactly one endpoint for LOGICAL_DNS, has ${count}`,
      );
    }
  }

  checkTransportSocket(c, cluster.transport_socket, "transport_socket", "UpstreamTlsContext");
  for (const [match, path] of c.maps(
    cluster.transport_socket_matches,
    "transport_socket_matches",
  )) {
    checkTransportSocket(
      c,
      match.transport_socket,
      at(path, "transport_socket"),
      "UpstreamTlsContext",
    );
  }
}
