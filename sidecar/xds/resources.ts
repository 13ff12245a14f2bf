// One xDS resource as the sidecar receives it: decoded from its Any and validated, with
// every problem reported by field path, as a value. The ADS client NACKs a response with
// these errors and keeps its last good config; on success it learns what the resource
// refers to, to subscribe to those names and to wait for them before using the resource.
// Pure: no I/O, nothing thrown.

import type { FieldIssue } from "../../api/errors.js";
import { TypeUrl, unpackAny, type XdsMessage } from "../../api/xds-proto.js";
import { checkCluster } from "./validate-cluster.js";
import { checkLoadAssignment } from "./validate-endpoints.js";
import { checkListener } from "./validate-listener.js";
import { checkRouteConfiguration } from "./validate-route.js";
import { checkSecret } from "./validate-secret.js";
import { nonEmpty, XdsCheck } from "./validate-shared.js";

export { compileSafeRegex, MAX_RETRIES } from "./validate-route.js";

export interface ResourceRefs {
  /** EDS service names a Cluster needs (type EDS: eds_cluster_config.service_name, or the cluster name when service_name is empty). */
  readonly eds: readonly string[];
  /** RDS route configuration names a Listener's HTTP connection managers need (rds.route_config_name). */
  readonly rds: readonly string[];
  /** Clusters named by a Listener (tcp_proxy cluster / weighted_clusters, and its inline route configurations) or a RouteConfiguration (route.cluster, weighted_clusters.clusters[].name). */
  readonly clusters: readonly string[];
  /** SDS secret names fetched over ADS (sds_config.ads) by TLS contexts in Listeners/Clusters. */
  readonly secrets: readonly string[];
}

export interface DecodedResource {
  readonly typeUrl: string;
  readonly name: string;
  /** The decoded message (unpackAny's plain-object form). */
  readonly message: XdsMessage;
  readonly refs: ResourceRefs;
}

export type DecodeResult =
  | { readonly ok: true; readonly resource: DecodedResource }
  | { readonly ok: false; readonly name: string; readonly errors: readonly string[] };

interface ResourceType {
  /** The field that names a resource of this type. */
  readonly nameField: string;
  readonly check: (c: XdsCheck, message: XdsMessage) => void;
}

const RESOURCE_TYPES: ReadonlyMap<string, ResourceType> = new Map<string, ResourceType>([
  [TypeUrl.Listener, { nameField: "name", check: checkListener }],
  [
    TypeUrl.RouteConfiguration,
    {
      nameField: "name",
      check: (c, rc) => {
        nonEmpty(c, rc.name, "name");
        checkRouteConfiguration(c, rc, "");
      },
    },
  ],
  [TypeUrl.Cluster, { nameField: "name", check: checkCluster }],
  [
    TypeUrl.ClusterLoadAssignment,
    { nameField: "cluster_name", check: (c, cla) => checkLoadAssignment(c, cla, "") },
  ],
  [TypeUrl.Secret, { nameField: "name", check: checkSecret }],
]);

/** Decodes and validates one resource of `typeUrl`; `name` is "" when it cannot even be read. */
export function decodeResource(
  typeUrl: string,
  any: { type_url: string; value: Uint8Array },
): DecodeResult {
  const type = RESOURCE_TYPES.get(typeUrl);
  if (!type)
    return failed("", [`${JSON.stringify(typeUrl)} is not a resource type the sidecar uses`]);
  if (any.type_url !== typeUrl) {
    return failed("", [`type_url: must be ${typeUrl}, got ${JSON.stringify(any.type_url)}`]);
  }
  let message: XdsMessage;
  try {
    message = unpackAny(any);
  } catch (err) {
    return failed("", [`does not decode: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const nameValue = message[type.nameField];
  const name = typeof nameValue === "string" ? nameValue : "";
  const c = new XdsCheck();
  type.check(c, message);
  if (c.issues.length > 0) return failed(name, c.issues.map(issueText));
  const refs: ResourceRefs = {
    eds: [...c.eds],
    rds: [...c.rds],
    clusters: [...c.clusters],
    secrets: [...c.secrets],
  };
  return { ok: true, resource: { typeUrl, name, message, refs } };
}

const failed = (name: string, errors: readonly string[]): DecodeResult => ({
  ok: false,
  name,
  errors,
});

const issueText = (issue: FieldIssue) =>
  issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`;
