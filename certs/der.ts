// Minimal DER (X.690) encoding and decoding: just the universal types X.509 and
// PKCS#10 need. The issuance hot path builds certificates from these pieces directly,
// because a general ASN.1 object model costs ~25x a P-256 signature per certificate.

export class DerError extends Error {
  override readonly name = "DerError";
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---- encoding -------------------------------------------------------------

function lengthBytes(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV whose content is the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const header = lengthBytes(length);
  const out = Buffer.allocUnsafe(1 + header.length + length);
  out[0] = tag;
  out.set(header, 1);
  let at = 1 + header.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sequence = (...parts: Uint8Array[]): Buffer => tlv(Tag.SEQUENCE, ...parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(Tag.SET, ...parts);
export const octetString = (bytes: Uint8Array): Buffer => tlv(Tag.OCTET_STRING, bytes);
export const bitString = (bytes: Uint8Array): Buffer =>
  tlv(Tag.BIT_STRING, Uint8Array.of(0), bytes);
export const boolean = (value: boolean): Buffer =>
  tlv(Tag.BOOLEAN, Uint8Array.of(value ? 0xff : 0));
export const nullValue = (): Buffer => tlv(Tag.NULL);
export const utf8String = (s: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(s, "utf8"));
export const ia5String = (s: string): Buffer => tlv(Tag.IA5_STRING, Buffer.from(s, "ascii"));
/** [n] EXPLICIT, constructed. */
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlv(0xa0 | n, ...parts);
/** [n] IMPLICIT on a primitive type (e.g. a GeneralName's uniformResourceIdentifier). */
export const implicitPrimitive = (n: number, bytes: Uint8Array): Buffer => tlv(0x80 | n, bytes);

/** A non-negative INTEGER from its big-endian magnitude, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const first = trimmed[0] ?? 0;
  return first & 0x80 ? tlv(Tag.INTEGER, Uint8Array.of(0), trimmed) : tlv(Tag.INTEGER, trimmed);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new DerError(`bad integer ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

const oidCache = new Map<string, Buffer>();

export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new DerError(`bad OID ${dotted}`);
  }
  const body: number[] = [];
  const push = (arc: number) => {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift(0x80 | (v & 0x7f));
    body.push(...chunk);
  };
  push((arcs[0] as number) * 40 + (arcs[1] as number));
  for (const arc of arcs.slice(2)) push(arc);
  const encoded = tlv(Tag.OID, Uint8Array.from(body));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
export function time(date: Date): Buffer {
  const iso = new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "");
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new DerError(`time out of range: ${iso}`);
  return year < 2050
    ? tlv(Tag.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, "ascii"))
    : tlv(Tag.GENERALIZED_TIME, Buffer.from(`${digits}Z`, "ascii"));
}

// ---- decoding -------------------------------------------------------------

/** A decoded TLV: offsets into `buf` (no copies). */
export interface Node {
  readonly buf: Uint8Array;
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export function readNode(buf: Uint8Array, at = 0, limit = buf.length): Node {
  if (at + 2 > limit) throw new DerError(`truncated at offset ${at}`);
  const tag = buf[at] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tags are not supported (offset ${at})`);
  let length = buf[at + 1] as number;
  let contentStart = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new DerError(`indefinite length is not DER (offset ${at})`);
    if (count > 4) throw new DerError(`length too large (offset ${at})`);
    if (contentStart + count > limit) throw new DerError(`truncated length at offset ${at}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[contentStart + i] as number);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`content runs past its container (offset ${at})`);
  return { buf, tag, start: at, contentStart, end };
}

/** Parses exactly one TLV that must span all of `buf`. */
export function readWhole(buf: Uint8Array): Node {
  const node = readNode(buf);
  if (node.end !== buf.length) throw new DerError("trailing bytes after the outer structure");
  return node;
}

export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (let at = node.contentStart; at < node.end; ) {
    const child = readNode(node.buf, at, node.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

export function expectTag(node: Node | undefined, tag: number, what: string): Node {
  if (!node) throw new DerError(`${what} is missing`);
  if (node.tag !== tag) {
    throw new DerError(
      `${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`,
    );
  }
  return node;
}

export const content = (node: Node): Uint8Array => node.buf.subarray(node.contentStart, node.end);
export const whole = (node: Node): Uint8Array => node.buf.subarray(node.start, node.end);

export function decodeOid(node: Node): string {
  const bytes = content(expectTag(node, Tag.OID, "OID"));
  if (bytes.length === 0) throw new DerError("empty OID");
  const arcs: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
}

export function decodeBoolean(node: Node): boolean {
  const bytes = content(expectTag(node, Tag.BOOLEAN, "BOOLEAN"));
  if (bytes.length !== 1) throw new DerError("BOOLEAN must be one byte");
  return bytes[0] !== 0;
}

/** A BIT STRING's bytes, after its unused-bits byte. */
export function decodeBitString(node: Node): { bytes: Uint8Array; unusedBits: number } {
  const raw = content(expectTag(node, Tag.BIT_STRING, "BIT STRING"));
  if (raw.length === 0) throw new DerError("empty BIT STRING");
  return { bytes: raw.subarray(1), unusedBits: raw[0] as number };
}

export function decodeTime(node: Node): Date {
  const text = Buffer.from(content(node)).toString("ascii");
  const pattern =
    node.tag === Tag.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
      : node.tag === Tag.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
        : undefined;
  const m = pattern && text.match(pattern);
  if (!m) throw new DerError(`not a DER time: ${JSON.stringify(text)}`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // RFC 5280: a two-digit year YY means 19YY when YY >= 50, else 20YY.
  const fullYear = node.tag === Tag.UTC_TIME ? (year < 50 ? 2000 + year : 1900 + year) : year;
  return new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
}
