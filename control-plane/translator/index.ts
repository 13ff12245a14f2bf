// control-plane/translator: the mesh model → xDS resources, as a pure function over data.
// compileMesh once per model change (everything proxies share), snapshotFor per proxy
// (cheap: reuses the compiled objects), checkSnapshot before publishing.

export { type CompiledMesh, compileMesh, type SharedResources } from "./compile.js";
export {
  DEFAULT_OPTIONS,
  type MeshModel,
  type TranslateOptions,
  type TranslateWarning,
  type TranslateWarningCode,
} from "./model.js";
export {
  BLACKHOLE_CLUSTER,
  INBOUND_PASSTHROUGH_CLUSTER,
  INVALID_BACKEND_CLUSTER,
  inboundClusterName,
  outboundClusterName,
  PASSTHROUGH_CLUSTER,
  ROOT_CA_SECRET,
  routeConfigName,
  SDS_GRPC_CLUSTER,
  SPECIAL_CLUSTERS,
  serviceHost,
  spiffeId,
  VIRTUAL_INBOUND_LISTENER,
  VIRTUAL_OUTBOUND_LISTENER,
  WORKLOAD_SECRET,
} from "./names.js";
export { isHttpLike, type PortProtocol, servicePortProtocol } from "./protocol.js";
export { snapshotFor } from "./snapshot.js";
export { checkSnapshot, type SnapshotIssue, type SnapshotIssueCode } from "./snapshot-check.js";
