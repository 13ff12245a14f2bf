// The sidecar's TLS material for its data path: its own SVID (from the identity) and the
// roots it trusts (the ROOTCA secret from xDS, else the root the CA returned). Secure
// contexts are built once per (certificate, roots) and reused: building one costs far more
// than a handshake, and after a rotation the next connection simply gets the next context.

import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import type { XdsMessage } from "../../api/xds-proto.js";
import { spiffeIdOfPeer } from "../../certs/index.js";
import type { WorkloadIdentity } from "../identity.js";
import type { XdsClient } from "../xds/client.js";

/** The secret the translator names for the mesh's roots (Istio's). */
export const ROOT_CA_SECRET = "ROOTCA";

export class TlsMaterial {
  #key = "";
  #context: SecureContext | undefined;

  constructor(
    readonly identity: WorkloadIdentity,
    readonly xds?: XdsClient,
  ) {}

  /** PEM roots: the ROOTCA secret when xDS has sent it, else the CA's root. */
  roots(): string {
    const secret = this.xds?.config.secrets.get(ROOT_CA_SECRET)?.message;
    const trusted = (secret?.validation_context as XdsMessage | undefined)?.trusted_ca as
      | XdsMessage
      | undefined;
    if (typeof trusted?.inline_string === "string" && trusted.inline_string) {
      return trusted.inline_string;
    }
    if (Buffer.isBuffer(trusted?.inline_bytes)) return trusted.inline_bytes.toString();
    return this.identity.current?.rootPem ?? "";
  }

  /** The context for both directions: our SVID, and the roots to check the peer with. */
  secureContext(): SecureContext {
    const svid = this.identity.current;
    if (!svid) throw new Error("no SVID yet: the sidecar cannot do mTLS before it has one");
    const roots = this.roots();
    const key = `${svid.serialHex}\n${roots}`;
    if (key !== this.#key || !this.#context) {
      this.#context = createSecureContext({
        key: svid.keyPem,
        cert: svid.chainPem,
        ca: roots,
        minVersion: "TLSv1.2",
      });
      this.#key = key;
    }
    return this.#context;
  }
}

/** The verified peer's SPIFFE ID, or undefined (no certificate, or not an SVID). */
export function peerIdentity(socket: TLSSocket): string | undefined {
  try {
    return spiffeIdOfPeer(socket).uri;
  } catch {
    return undefined;
  }
}
