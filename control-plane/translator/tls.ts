// mTLS between sidecars, Istio's way: the sidecar's own SVID ("default") comes from its
// local SDS server over the bootstrap cluster "sds-grpc" — the control plane never holds a
// workload key — and the trust bundle ("ROOTCA") comes over ADS from the control plane.
// Outbound clusters choose TLS per endpoint (auto mTLS): endpoints whose pod has a sidecar
// carry tlsMode=istio metadata and get the UpstreamTlsContext, the others raw_buffer.

import type { XdsMessage } from "../../api/xds-proto.js";
import { ROOT_CA_SECRET, SDS_GRPC_CLUSTER, TLS_MODE_ISTIO, WORKLOAD_SECRET } from "./names.js";
import { ADS_CONFIG_SOURCE, any, Enum, ExtensionName, stringStruct, Type, wrap } from "./proto.js";

/** The SVID, from the sidecar's own SDS server. */
const WORKLOAD_CERTIFICATE: XdsMessage = {
  name: WORKLOAD_SECRET,
  sds_config: {
    api_config_source: {
      api_type: Enum.GRPC,
      transport_api_version: Enum.V3,
      grpc_services: [{ envoy_grpc: { cluster_name: SDS_GRPC_CLUSTER } }],
    },
    resource_api_version: Enum.V3,
  },
};

/** The trust bundle, over ADS. */
const ROOT_CA_VALIDATION: XdsMessage = { name: ROOT_CA_SECRET, sds_config: ADS_CONFIG_SOURCE };

/** The Secret every sidecar gets: the trust anchors it validates peers against. */
export function rootCaSecret(trustBundlePem: string): XdsMessage {
  return {
    name: ROOT_CA_SECRET,
    validation_context: { trusted_ca: { inline_string: trustBundlePem } },
  };
}

/**
 * The client side of a sidecar→sidecar connection to a Service port: present the SVID,
 * accept only the SPIFFE IDs of the pods behind the Service. `h2` is offered on HTTP-like
 * ports, where Trellis multiplexes HTTP/2 between sidecars; TCP ports offer no ALPN.
 */
export function upstreamTlsContext(opts: {
  readonly sni: string;
  readonly peerIdentities: readonly string[];
  readonly http: boolean;
}): XdsMessage {
  return {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [WORKLOAD_CERTIFICATE],
      combined_validation_context: {
        default_validation_context: {
          match_typed_subject_alt_names: opts.peerIdentities.map((id) => ({
            san_type: Enum.SAN_URI,
            matcher: { exact: id },
          })),
        },
        validation_context_sds_secret_config: ROOT_CA_VALIDATION,
      },
      ...(opts.http ? { alpn_protocols: ["h2"] } : {}),
    },
    sni: opts.sni,
  };
}

const RAW_BUFFER: XdsMessage = {
  name: ExtensionName.rawBuffer,
  typed_config: any(Type.RawBuffer),
};

/** Istio's auto-mTLS pair: TLS to endpoints labelled tlsMode=istio, plaintext to the rest. */
export function autoMtlsSocketMatches(tls: XdsMessage): XdsMessage[] {
  return [
    {
      name: "tlsMode-istio",
      match: stringStruct(TLS_MODE_ISTIO),
      transport_socket: {
        name: ExtensionName.tls,
        typed_config: any(Type.UpstreamTlsContext, tls),
      },
    },
    { name: "tlsMode-disabled", match: {}, transport_socket: RAW_BUFFER },
  ];
}

/** The server side on the inbound listener: a client certificate from the mesh is required. */
export const DOWNSTREAM_MTLS_SOCKET: XdsMessage = {
  name: ExtensionName.tls,
  typed_config: any(Type.DownstreamTlsContext, {
    require_client_certificate: wrap(true),
    common_tls_context: {
      tls_certificate_sds_secret_configs: [WORKLOAD_CERTIFICATE],
      validation_context_sds_secret_config: ROOT_CA_VALIDATION,
      alpn_protocols: ["h2", "http/1.1"],
    },
  }),
};
