// Istio's CA API (istio.v1.auth.IstioCertificateService) for @grpc/grpc-js: the .proto that
// ships in api/protos, loaded with protobufjs, and the service definition both sides use —
// the control plane's CA service serves it, the sidecar calls it.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { MethodDefinition } from "@grpc/grpc-js";
import protobuf from "protobufjs";

const PROTO = "protos/istio/v1/auth/ca.proto";

/**
 * tsc does not copy .proto files into dist/, so from dist/api/ca-proto.js the file is in the
 * package root's api/; from api/ca-proto.ts (run unbuilt) it sits next to this module.
 */
const CANDIDATES = [
  new URL(`../../api/${PROTO}`, import.meta.url),
  new URL(PROTO, import.meta.url),
];

export const CA_SERVICE_NAME = "istio.v1.auth.IstioCertificateService";
export const CA_SERVICE_PATH = `/${CA_SERVICE_NAME}/CreateCertificate`;

export interface IstioCertificateRequest {
  /** PEM PKCS#10. */
  csr: string;
  /** Seconds; int64 on the wire, so decoded as a decimal string. 0 or absent: the default. */
  validity_duration?: string | number;
  /** google.protobuf.Struct in protobufjs' plain form (`{fields: {...}}`); ignored by Trellis. */
  metadata?: Record<string, unknown>;
}

export interface IstioCertificateResponse {
  /** One PEM certificate per element: leaf first, root last. */
  cert_chain: string[];
}

// A type alias, not an interface, so that it is also a grpc-js ServiceDefinition.
export type CaServiceDefinition = {
  readonly CreateCertificate: MethodDefinition<IstioCertificateRequest, IstioCertificateResponse>;
};

/** The path of ca.proto on disk. */
export function caProtoPath(): string {
  for (const url of CANDIDATES) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `ca.proto not found (looked in ${CANDIDATES.map((u) => fileURLToPath(u)).join(", ")}); ` +
      "the package's api/protos directory is missing: reinstall or rebuild Trellis",
  );
}

let cached: protobuf.Root | undefined;

/** The Root holding istio.v1.auth (loaded on first use; google/protobuf/struct is built in). */
export function caProtoRoot(): protobuf.Root {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.loadSync(caProtoPath(), { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

const DECODED: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
};

function codec<T extends object>(name: string) {
  const type = () => caProtoRoot().lookupType(`istio.v1.auth.${name}`);
  return {
    serialize: (msg: T): Buffer => {
      // fromObject, not verify: verify refuses int64 given as a decimal string.
      const t = type();
      return Buffer.from(t.encode(t.fromObject(msg)).finish());
    },
    deserialize: (buf: Buffer): T => {
      const t = type();
      return t.toObject(t.decode(buf), DECODED) as T;
    },
  };
}

/**
 * IstioCertificateService for @grpc/grpc-js (pass it to `server.addService` or
 * `makeGenericClientConstructor`). Messages are plain objects with snake_case fields.
 */
export function caServiceDefinition(): CaServiceDefinition {
  const req = codec<IstioCertificateRequest>("IstioCertificateRequest");
  const res = codec<IstioCertificateResponse>("IstioCertificateResponse");
  return {
    CreateCertificate: {
      path: CA_SERVICE_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: req.serialize,
      requestDeserialize: req.deserialize,
      responseSerialize: res.serialize,
      responseDeserialize: res.deserialize,
    },
  };
}
