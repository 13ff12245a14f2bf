// api/: the public surface of the resource layer — the Kubernetes-shaped types, the Store
// contract and its in-memory backend, manifest parsing and validation, label selectors,
// the config-directory source, and the Envoy xDS protos shared by control plane and sidecar.

export {
  CA_SERVICE_NAME,
  CA_SERVICE_PATH,
  type CaServiceDefinition,
  caProtoPath,
  caServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from "./ca-proto.js";
export {
  DurationError,
  type FieldIssue,
  formatIssue,
  isManifestError,
  type ManifestIssue,
} from "./errors.js";
export { type FilePlan, type Owned, planFileSync } from "./file-plan.js";
export {
  type FileSource,
  FileSourceError,
  type FileSourceOptions,
  type FileSourceReport,
  listManifestFiles,
  MAX_FILE_BYTES,
  watchConfigDir,
} from "./file-source.js";
export { type Cidr, cidrContains, type IpFamily, ipFamily, ipToBigInt, parseCidr } from "./ip.js";
export {
  isValidLabelKey,
  isValidLabelValue,
  type Labels,
  labelKeyError,
  labelValueError,
  matchesLabelMap,
  matchesSelector,
} from "./labels.js";
export {
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_MAX_WATCHER_BACKLOG,
  MemoryStore,
  type MemoryStoreOptions,
} from "./memory-store.js";
export {
  API_VERSIONS,
  ManifestError,
  type NormalizeResult,
  normalizeResource,
  type ParseResult,
  parseGatewayDuration,
  parseManifests,
  parseManifestsOrThrow,
  SKIPPED_KINDS,
  validateResource,
} from "./parse.js";
export * from "./store.js";
export * from "./types.js";
export { GATEWAY_GROUP, GRPC_STATUS_CODES } from "./validate-gateway.js";
export {
  adsServiceDefinition,
  messageType,
  PUSH_ORDER,
  packAny,
  TO_OBJECT,
  TYPE_URL_PREFIX,
  TypeUrl,
  unpackAny,
  type XdsMessage,
  xdsRoot,
} from "./xds-proto.js";
