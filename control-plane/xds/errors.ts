// Coded errors for what the xDS server refuses: a snapshot with a resource that does not
// encode, a stream whose first request names no node, a request without a type URL. The
// code is the stable contract; the message says what was wrong and what to do.

export type XdsErrorCode =
  /** setSnapshot: a resource does not verify or encode as its type URL's message. */
  | "XDS_RESOURCE_INVALID"
  /** setSnapshot: a type URL that is not in the loaded protos. */
  | "XDS_UNKNOWN_TYPE"
  /** The first request on a stream has no node.id. */
  | "XDS_NODE_MISSING"
  /** An ADS request without type_url. */
  | "XDS_TYPE_URL_MISSING"
  /** startXdsServer: neither a plaintext nor a TLS port was asked for, or binding failed. */
  | "XDS_SERVER_CONFIG"
  | "XDS_BIND_FAILED";

export class XdsError extends Error {
  override readonly name = "XdsError";
  constructor(
    readonly code: XdsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isXdsError(err: unknown): err is XdsError {
  return err instanceof XdsError;
}
