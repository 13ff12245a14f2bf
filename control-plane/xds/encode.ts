// Encoding one resource into an Any, with a check that refuses what protobufjs would
// silently drop. Resources are plain objects in the unpackAny shape: snake_case fields,
// enums by name (or number), nested Anys as `{"@type": url, ...fields}`. protobufjs's
// fromObject ignores unknown fields and unknown enum names, and its verify rejects enum
// names outright (so packAny refuses `type: "EDS"`); this walks the message once instead.

import protobuf from "protobufjs";
import { messageType, type XdsMessage } from "../../api/xds-proto.js";

/** The encoded Any of `message` as `typeUrl`. Throws Error("<path>: <what is wrong>"). */
export function encodeResource(
  typeUrl: string,
  message: XdsMessage,
): { type_url: string; value: Buffer } {
  const type = messageType(typeUrl);
  checkMessage(type, message, "");
  const bytes = type.encode(type.fromObject(message)).finish();
  return {
    type_url: typeUrl,
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  };
}

const at = (path: string, key: string) => (path === "" ? key : `${path}.${key}`);

/** Throws for unknown fields, unknown enum names and anything verify() refuses. */
function checkMessage(type: protobuf.Type, value: unknown, path: string): void {
  const copy = withEnumNumbers(type, value, path);
  const err = type.verify(copy as Record<string, unknown>);
  if (err) throw new Error(path === "" ? err : `${path}: ${err}`);
}

function withEnumNumbers(type: protobuf.Type, value: unknown, path: string): unknown {
  if (
    typeof value !== "object" ||
    value === null ||
    Array.isArray(value) ||
    Buffer.isBuffer(value)
  ) {
    return value; // verify() names the mismatch
  }
  const obj = value as Record<string, unknown>;
  if (type.fullName === ".google.protobuf.Any" && typeof obj["@type"] === "string") {
    const { "@type": url, ...fields } = obj;
    checkMessage(messageType(url as string), fields, path);
    return {}; // checked above; Any.verify has nothing more to say
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    const field = type.fields[key];
    if (!field) throw new Error(`${at(path, key)}: no such field in ${type.fullName.slice(1)}`);
    field.resolve();
    const p = at(path, key);
    const one = (x: unknown, q: string) => convert(field.resolvedType, x, q);
    if (field.map && v && typeof v === "object") {
      out[key] = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, one(x, `${p}[${k}]`)]));
    } else if (field.repeated && Array.isArray(v)) {
      out[key] = v.map((x, i) => one(x, `${p}[${i}]`));
    } else {
      out[key] = one(v, p);
    }
  }
  return out;
}

function convert(
  resolved: protobuf.Type | protobuf.Enum | null,
  value: unknown,
  path: string,
): unknown {
  if (resolved instanceof protobuf.Enum) {
    if (typeof value !== "string") return value;
    const n = resolved.values[value];
    if (n === undefined) {
      throw new Error(
        `${path}: "${value}" is not a ${resolved.name} (${Object.keys(resolved.values).join(", ")})`,
      );
    }
    return n;
  }
  if (resolved instanceof protobuf.Type) return withEnumNumbers(resolved, value, path);
  return value;
}
