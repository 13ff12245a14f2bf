// PEM armour (RFC 7468): DER in, text out, and back.

import { DerError } from "./der.js";

export type PemLabel = "CERTIFICATE" | "CERTIFICATE REQUEST" | "PRIVATE KEY" | "PUBLIC KEY";

export function toPem(label: PemLabel, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every block with `label`, in order. Other blocks are ignored. */
export function fromPem(text: string, label: PemLabel): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(BLOCK)) {
    if (m[1] !== label) continue;
    const body = (m[2] as string).replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new DerError(`bad base64 in a ${label} block`);
    out.push(Buffer.from(body, "base64"));
  }
  return out;
}

/** Accepts PEM text or raw DER bytes and returns the DER of the one expected block. */
export function derOf(input: string | Uint8Array, label: PemLabel): Buffer {
  if (typeof input !== "string") {
    const text = Buffer.from(input).toString("latin1");
    if (!text.includes("-----BEGIN")) return Buffer.from(input);
    return derOf(text, label);
  }
  const blocks = fromPem(input, label);
  if (blocks.length !== 1) {
    throw new DerError(`expected one PEM ${label} block, found ${blocks.length}`);
  }
  return blocks[0] as Buffer;
}
