// Coded errors for manifests Trellis refuses. Validation collects every problem as a
// value (FieldIssue, then ManifestIssue once the document is known); ManifestError is the
// thrown form for callers that want all-or-nothing, with every issue on its own line.

/** One problem at one field of one object: `path` is like `spec.ports[0].targetPort`. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** A FieldIssue with the document it came from, like `web.yaml#2 (Service default/web)`. */
export interface ManifestIssue extends FieldIssue {
  readonly document: string;
}

/** `<document>: <path>: <message>` (the path left out when the issue is about the whole document). */
export function formatIssue(issue: ManifestIssue): string {
  return issue.path === ""
    ? `${issue.document}: ${issue.message}`
    : `${issue.document}: ${issue.path}: ${issue.message}`;
}

export class ManifestError extends Error {
  override readonly name = "ManifestError";
  readonly code = "MANIFEST_INVALID";
  constructor(readonly issues: readonly ManifestIssue[]) {
    super(issues.map(formatIssue).join("\n"));
  }
}

/** A Gateway API Duration that does not parse (see parseGatewayDuration). */
export class DurationError extends Error {
  override readonly name = "DurationError";
  readonly code = "INVALID_DURATION";
}

export function isManifestError(err: unknown): err is ManifestError {
  return err instanceof ManifestError;
}
