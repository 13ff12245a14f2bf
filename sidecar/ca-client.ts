// The CA service client: IstioCertificateService.CreateCertificate over @grpc/grpc-js, the
// pod's token as a bearer credential. The token is read again for every call, because a
// projected service-account token is rotated on disk by the kubelet.

import * as grpc from "@grpc/grpc-js";
import {
  CA_SERVICE_PATH,
  caServiceDefinition,
  type IstioCertificateResponse,
} from "../api/ca-proto.js";
import type { SignCsr } from "./identity.js";
import { CONTROL_PLANE_TLS_NAME } from "./xds/grpc-transport.js";

export interface CaClientOptions {
  /** host:port of the control plane's CA service. */
  readonly address: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly token: () => Promise<string>;
  /** Per call. Default 10 s. */
  readonly timeoutMs?: number;
}

export function caClient(options: CaClientOptions): SignCsr & { close(): void } {
  const Client = grpc.makeGenericClientConstructor(
    caServiceDefinition(),
    "IstioCertificateService",
  );
  const client = new Client(options.address, options.credentials, {
    "grpc.ssl_target_name_override": CONTROL_PLANE_TLS_NAME,
  });
  const method = caServiceDefinition().CreateCertificate;
  const sign = async (csr: string, validitySeconds: number): Promise<readonly string[]> => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${(await options.token()).trim()}`);
    const response = await new Promise<IstioCertificateResponse>((resolve, reject) =>
      client.makeUnaryRequest(
        CA_SERVICE_PATH,
        method.requestSerialize,
        method.responseDeserialize,
        { csr, validity_duration: validitySeconds },
        metadata,
        { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
        (err: grpc.ServiceError | null, res?: IstioCertificateResponse) =>
          err
            ? reject(new Error(`${grpc.status[err.code]}: ${err.details}`))
            : resolve(res as IstioCertificateResponse),
      ),
    );
    return response.cert_chain;
  };
  return Object.assign(sign, { close: () => client.close() });
}
