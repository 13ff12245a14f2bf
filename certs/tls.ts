// Glue between SVIDs and node:tls: the options that make a socket present an SVID and
// trust a bundle, and the SPIFFE ID of the peer once the handshake is done.

import type { TLSSocket } from "node:tls";
import { CertError } from "./errors.js";
import type { SpiffeId } from "./spiffe.js";
import { svidIdentity } from "./svid.js";
import { readCertificate } from "./x509-read.js";

export interface SvidCredentials {
  /** PEM private key. */
  readonly key: string;
  /** PEM chain: leaf, then intermediates. */
  readonly chain: string;
  /** PEM trusted roots. */
  readonly bundle: string;
}

/**
 * Mutual TLS with SPIFFE semantics: both sides present their SVID chain and verify the
 * other's against the bundle. Host names mean nothing here; the caller checks the peer's
 * SPIFFE ID (spiffeIdOfPeer) instead.
 */
export function mtlsOptions(creds: SvidCredentials) {
  return {
    key: creds.key,
    cert: creds.chain,
    ca: creds.bundle,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2" as const,
    checkServerIdentity: () => undefined,
  };
}

/** The SPIFFE ID in the peer's verified leaf certificate. */
export function spiffeIdOfPeer(socket: TLSSocket): SpiffeId {
  const peer = socket.getPeerCertificate();
  if (!peer?.raw) throw new CertError("SVID_NOT_AN_SVID", "the peer presented no certificate");
  return svidIdentity(readCertificate(peer.raw));
}
