// control-plane/ca/: the CA service — workload certificates over Istio's CreateCertificate,
// each signed only for the identity its caller's token proves — and the workload tokens
// that proof is made of.

export {
  AuthError,
  type AuthErrorCode,
  type Authenticator,
  bearerTokenOf,
  type Caller,
  callerOfServiceAccount,
  isAuthError,
} from "./authenticate.js";
export {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  JwtAuthenticator,
  type JwtAuthenticatorOptions,
} from "./jwt-authenticator.js";
export {
  type CaServiceOptions,
  caServiceImplementation,
  ERROR_CODE_METADATA,
  requestedTtlMs,
} from "./service.js";
export {
  type HttpExchange,
  type HttpTransport,
  postOverHttp,
  TOKENREVIEW_TIMEOUT_MS,
  TokenReviewAuthenticator,
  type TokenReviewAuthenticatorOptions,
} from "./tokenreview.js";
export {
  DEFAULT_TOKEN_AUDIENCE,
  DEFAULT_TOKEN_ISSUER,
  type KubernetesClaim,
  loadOrCreateTokenKey,
  loadTokenVerificationKey,
  mintWorkloadToken,
  serviceAccountUsername,
  TOKEN_ALGORITHM,
  TokenKeyError,
  type TokenKeyErrorCode,
  tokenKeyId,
  type WorkloadTokenRequest,
} from "./tokens.js";
