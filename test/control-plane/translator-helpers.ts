// Test helpers for the translator: golden files (UPDATE_GOLDEN=1 rewrites them), encoding
// every resource of a snapshot with the real protos and proving nothing was silently
// dropped (protobufjs ignores unknown field names), and grpc-js-xds' own validators.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  messageType,
  packAny,
  TO_OBJECT,
  TypeUrl,
  unpackAny,
  type XdsMessage,
} from "../../api/xds-proto.js";
import type { Snapshot } from "../../control-plane/xds/types.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const goldenDir = join(repoRoot, "test", "control-plane", "golden");

export function assertGolden(name: string, actual: string): void {
  const file = join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  const expected = readFileSync(file, "utf8");
  assert.equal(
    actual,
    expected,
    `${name} differs from its golden file (UPDATE_GOLDEN=1 npm test -- translator rewrites it)`,
  );
}

/** The snapshot as a proxy receives it: every resource encoded, then decoded (enum names). */
export function decodedSnapshot(snapshot: Snapshot): Record<string, unknown> {
  const out: Record<string, unknown> = { version: snapshot.version };
  for (const [typeUrl, map] of snapshot.resources) {
    const short = typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
    const decoded: Record<string, unknown> = {};
    for (const [name, msg] of map) decoded[name] = unpackAny(packAny(typeUrl, msg));
    out[short] = decoded;
  }
  return out;
}

const NUMERIC = { ...TO_OBJECT, enums: Number, longs: Number };

/**
 * Throws unless every non-default value of `emitted` survives encoding: a misspelt field
 * name would otherwise vanish without an error.
 */
export function assertLossless(typeUrl: string, emitted: XdsMessage): void {
  const type = messageType(typeUrl);
  const { value } = packAny(typeUrl, emitted);
  const decoded = type.toObject(type.decode(value), NUMERIC);
  covers(emitted, decoded, `${typeUrl}(${String(emitted.name ?? emitted.cluster_name)})`);
}

function covers(emitted: unknown, decoded: unknown, path: string): void {
  if (
    emitted === undefined ||
    emitted === null ||
    emitted === "" ||
    emitted === 0 ||
    emitted === false
  )
    return;
  if (Array.isArray(emitted)) {
    if (emitted.length === 0) return;
    assert.ok(Array.isArray(decoded), `${path}: lost (expected ${emitted.length} items)`);
    assert.equal(decoded.length, emitted.length, `${path}: length`);
    emitted.forEach((e, i) => {
      covers(e, decoded[i], `${path}[${i}]`);
    });
    return;
  }
  if (typeof emitted === "object") {
    assert.ok(typeof decoded === "object" && decoded !== null, `${path}: lost`);
    for (const [k, v] of Object.entries(emitted)) {
      covers(v, (decoded as Record<string, unknown>)[k], `${path}.${k}`);
    }
    return;
  }
  assert.equal(decoded, emitted, `${path}: changed`);
}

export function assertEncodes(snapshot: Snapshot): number {
  let count = 0;
  for (const [typeUrl, map] of snapshot.resources) {
    for (const msg of map.values()) {
      assertLossless(typeUrl, msg);
      count++;
    }
  }
  return count;
}

// ---- grpc-js-xds' own resource validation (what a proxyless client NACKs) ----

const require = createRequire(import.meta.url);
interface ResourceType {
  decode(
    context: unknown,
    resource: { type_url: string; value: Buffer },
  ): { name: string; error?: string };
}
const load = (file: string, name: string): ResourceType =>
  require(`@grpc/grpc-js-xds/build/src/xds-resource-type/${file}`)[name].get();

let grpcTypes: Map<string, ResourceType> | undefined;
function grpcResourceTypes(): Map<string, ResourceType> {
  if (!grpcTypes) {
    require("@grpc/grpc-js-xds").register(); // registers the router filter and LB policies
    grpcTypes = new Map([
      [TypeUrl.Listener, load("listener-resource-type.js", "ListenerResourceType")],
      [
        TypeUrl.RouteConfiguration,
        load("route-config-resource-type.js", "RouteConfigurationResourceType"),
      ],
      [TypeUrl.Cluster, load("cluster-resource-type.js", "ClusterResourceType")],
      [TypeUrl.ClusterLoadAssignment, load("endpoint-resource-type.js", "EndpointResourceType")],
    ]);
  }
  return grpcTypes;
}

/** The errors grpc-js-xds reports for the resources of `snapshot`, as "name: error". */
export function grpcValidationErrors(snapshot: Snapshot): string[] {
  const errors: string[] = [];
  const context = { bootstrap: { certificateProviders: {} }, server: {} };
  for (const [typeUrl, map] of snapshot.resources) {
    const type = grpcResourceTypes().get(typeUrl);
    if (!type) continue;
    for (const [name, msg] of map) {
      const result = type.decode(
        context,
        packAny(typeUrl, msg) as { type_url: string; value: Buffer },
      );
      if (result.error) errors.push(`${name}: ${result.error}`);
    }
  }
  return errors;
}
