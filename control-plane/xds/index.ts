// control-plane/xds: the xDS server. A SnapshotCache holds each proxy's Snapshot; the ADS
// state machines (SotW and delta) serve it over @grpc/grpc-js; hooks and connections()
// let the rest of the control plane observe the streams.

export { type AdsService, type AdsServiceOptions, adsService } from "./ads-service.js";
export {
  type EncodedResource,
  type PreparedSnapshot,
  type PreparedType,
  preparedType,
  ResourceEncoder,
  SnapshotCache,
  type SnapshotCacheOptions,
  type SnapshotListener,
  type SnapshotSource,
} from "./cache.js";
export {
  type Callbacks,
  type GuardedCallbacks,
  guardCallbacks,
  silentLogger,
  stderrLogger,
  type XdsLogger,
  type XdsProtocol,
} from "./callbacks.js";
export { DeltaStream } from "./delta.js";
export { isXdsError, XdsError, type XdsErrorCode } from "./errors.js";
export {
  CLOSE_GRACE_MS,
  startXdsServer,
  type XdsServer,
  type XdsServerOptions,
} from "./server.js";
export { SotwStream } from "./sotw.js";
export { AdsStream, type AdsStreamOptions, type ResponseTransport } from "./stream.js";
export {
  type ConnectionInfo,
  type NackRecord,
  StreamRegistry,
  type TypeInfo,
} from "./stream-state.js";
export type { ProxyNode, ResourceMap, Snapshot } from "./types.js";
