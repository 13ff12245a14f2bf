// The thin gRPC shell around the ADS state machines: one SotwStream or DeltaStream per
// call, requests fed from the call, responses written to it, everything released when
// the call ends, is cancelled or fails. Mount it on any @grpc/grpc-js Server.

import * as grpc from "@grpc/grpc-js";
import type { XdsMessage } from "../../api/xds-proto.js";
import type { SnapshotSource } from "./cache.js";
import { type Callbacks, stderrLogger, type XdsLogger } from "./callbacks.js";
import { DeltaStream } from "./delta.js";
import type { XdsError } from "./errors.js";
import { SotwStream } from "./sotw.js";
import type { AdsStream, AdsStreamOptions } from "./stream.js";
import { StreamRegistry } from "./stream-state.js";

export interface AdsServiceOptions {
  source: SnapshotSource;
  callbacks?: Callbacks;
  log?: XdsLogger;
  registry?: StreamRegistry;
}

type AdsCall = grpc.ServerDuplexStream<XdsMessage, XdsMessage>;

/** The implementation for adsServiceDefinition(), plus a way to end every live stream. */
export interface AdsService {
  readonly implementation: grpc.UntypedServiceImplementation;
  readonly registry: StreamRegistry;
  /** Ends every open stream with UNAVAILABLE (the proxy reconnects elsewhere). */
  endAll(reason: string): void;
}

export function adsService(options: AdsServiceOptions): AdsService {
  const registry = options.registry ?? new StreamRegistry();
  const log = options.log ?? stderrLogger;
  const calls = new Set<AdsCall>();

  const serve = (call: AdsCall, make: (o: AdsStreamOptions) => AdsStream) => {
    calls.add(call);
    let ended = false;
    const stream = make({
      source: options.source,
      registry,
      log,
      peer: call.getPeer(),
      callbacks: options.callbacks ?? {},
      transport: {
        send: (response) => {
          if (!ended) call.write(response);
        },
        fail: (error: XdsError) => {
          if (ended) return;
          ended = true;
          call.emit("error", {
            code: grpc.status.INVALID_ARGUMENT,
            details: `${error.code}: ${error.message}`,
          });
        },
      },
    });
    const release = () => {
      calls.delete(call);
      stream.close();
    };
    call.on("data", (request: XdsMessage) => stream.handleRequest(request));
    // The proxy half-closed: finish our side too (OK status).
    call.on("end", () => {
      if (!ended) {
        ended = true;
        call.end();
      }
      release();
    });
    call.on("cancelled", release);
    call.on("error", release);
    call.on("close", release);
  };

  return {
    registry,
    implementation: {
      StreamAggregatedResources: (call: AdsCall) => serve(call, (o) => new SotwStream(o)),
      DeltaAggregatedResources: (call: AdsCall) => serve(call, (o) => new DeltaStream(o)),
    },
    endAll(reason) {
      for (const call of [...calls]) {
        call.emit("error", { code: grpc.status.UNAVAILABLE, details: reason });
      }
    },
  };
}
