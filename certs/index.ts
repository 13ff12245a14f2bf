// certs/: the certificate authority that gives every workload its SPIFFE identity,
// and the checks a workload applies to its peers' certificates.

export {
  type CaInitOptions,
  type CaMaterial,
  CertificateAuthority,
  DEFAULT_MAX_SVID_TTL_MS,
  DEFAULT_SVID_TTL_MS,
  type IssuedSvid,
  MIN_SVID_TTL_MS,
  svidPem,
} from "./authority.js";
export { TrustBundle } from "./bundle.js";
export { CA_FILES, initCaDir, loadCaDir, saveCaDir } from "./ca-store.js";
export { checkCsr, createCsr } from "./csr.js";
export { formatDuration, parseDuration } from "./duration.js";
export { CertError, type CertErrorCode, isCertError } from "./errors.js";
export { describeCertificate } from "./inspect.js";
export { CLOCK_SKEW_ALLOWANCE_MS } from "./issue.js";
export { checkKeyType, generateKeyPair, KEY_TYPES, type KeyType, privateKeyToPem } from "./keys.js";
export { derOf, fromPem, toPem } from "./pem.js";
export { type RenewalPolicy, renewalDelay, renewalTime } from "./rotation.js";
export {
  isSpiffeId,
  parseSpiffeId,
  type SpiffeId,
  workloadOf,
  workloadSpiffeId,
} from "./spiffe.js";
export { svidIdentity } from "./svid.js";
export { mtlsOptions, type SvidCredentials, spiffeIdOfPeer } from "./tls.js";
export { type VerifyResult, verifySvid } from "./verify.js";
export { readCertificate } from "./x509-read.js";
