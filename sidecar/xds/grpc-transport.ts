// The gRPC shell of the xDS client: an OpenStream over @grpc/grpc-js to the control plane's
// AggregatedDiscoveryService, on one channel that grpc-js keeps connected. Credentials are
// a function, so that after a certificate rotation the next stream presents the new SVID.

import * as grpc from "@grpc/grpc-js";
import { adsServiceDefinition, type XdsMessage } from "../../api/xds-proto.js";
import type { AdsStream, AdsStreamHandlers, OpenStream, XdsProtocol } from "./client.js";

const Ads = grpc.makeGenericClientConstructor(
  adsServiceDefinition() as unknown as grpc.ServiceDefinition,
  "AggregatedDiscoveryService",
);
type Call = grpc.ClientDuplexStream<XdsMessage, XdsMessage>;

/** The TLS server name the sidecar sends the control plane (Istio's istiod service name). */
export const CONTROL_PLANE_TLS_NAME = "istiod.istio-system.svc";

export interface GrpcTransport {
  readonly open: OpenStream;
  close(): void;
}

/**
 * `address` is host:port. `credentials()` is asked again whenever the channel is rebuilt
 * (after the identity rotated: call `renew()`), so long-lived streams keep their TLS session
 * and new ones use the current certificate.
 */
export function grpcTransport(
  address: string,
  credentials: () => grpc.ChannelCredentials,
): GrpcTransport & { renew(): void } {
  let client: grpc.Client | undefined;
  /** Open streams per channel: a channel left behind by renew() closes with its last stream. */
  const streams = new Map<grpc.Client, number>();
  const channel = () => {
    client ??= new Ads(address, credentials(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      // The server is checked by its SPIFFE ID, not a host name; no IP address as TLS SNI.
      "grpc.ssl_target_name_override": CONTROL_PLANE_TLS_NAME,
    });
    return client as grpc.Client & Record<string, () => Call>;
  };
  const release = (c: grpc.Client) => {
    const left = (streams.get(c) ?? 1) - 1;
    if (left > 0) streams.set(c, left);
    else {
      streams.delete(c);
      if (c !== client) c.close();
    }
  };
  return {
    open(protocol: XdsProtocol, handlers: AdsStreamHandlers): AdsStream {
      const c = channel();
      const call = (
        protocol === "sotw" ? c.StreamAggregatedResources?.() : c.DeltaAggregatedResources?.()
      ) as Call;
      streams.set(c, (streams.get(c) ?? 0) + 1);
      let ended = false;
      const end = (error?: Error) => {
        if (ended) return;
        ended = true;
        release(c);
        handlers.onClose(error);
      };
      call.on("data", (response: XdsMessage) => handlers.onResponse(response));
      call.on("error", (e: grpc.ServiceError) => end(e));
      call.on("end", () => end());
      return {
        send: (request) => {
          if (!ended) call.write(request);
        },
        close: () => {
          if (ended) return;
          ended = true;
          release(c);
          call.cancel();
        },
      };
    },
    renew() {
      // Streams on the old channel finish on it; the next one opens a new channel.
      const old = client;
      client = undefined;
      if (old && !streams.has(old)) old.close();
    },
    close() {
      client?.close();
      client = undefined;
    },
  };
}
