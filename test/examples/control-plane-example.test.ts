// examples/control-plane, the mesh the README's control-plane commands serve: every
// document valid, a compile without warnings, and the configuration it is there to show.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { listManifestFiles } from "../../api/file-source.js";
import { parseManifests } from "../../api/parse.js";
import type { Pod, Resource, Service } from "../../api/types.js";
import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { computeEndpointSlices } from "../../control-plane/controllers/endpointslice-compute.js";
import {
  checkSnapshot,
  compileMesh,
  DEFAULT_OPTIONS,
  type MeshModel,
  snapshotFor,
} from "../../control-plane/translator/index.js";

const DIR = join(import.meta.dirname, "..", "..", "..", "examples", "control-plane");

async function load(): Promise<Resource[]> {
  const out: Resource[] = [];
  for (const file of await listManifestFiles(DIR)) {
    const parsed = parseManifests(await readFile(join(DIR, file), "utf8"), file);
    assert.deepEqual(parsed.errors, [], `${file} is valid`);
    out.push(...parsed.resources);
  }
  return out;
}

const ofKind = <T extends Resource>(all: Resource[], kind: string) =>
  all.filter((r) => r.kind === kind) as T[];

describe("examples/control-plane", () => {
  it("parses, compiles without warnings, and shows the split, the retries and STRICT mTLS", async () => {
    const all = await load();
    const pods = ofKind<Pod>(all, "Pod");
    const services = ofKind<Service>(all, "Service");
    const model: MeshModel = {
      namespaces: ofKind(all, "Namespace"),
      services,
      pods,
      endpointSlices: services.flatMap((s) => computeEndpointSlices(s, pods)),
      httpRoutes: ofKind(all, "HTTPRoute"),
      grpcRoutes: ofKind(all, "GRPCRoute"),
      peerAuthentications: ofKind(all, "PeerAuthentication"),
      authorizationPolicies: ofKind(all, "AuthorizationPolicy"),
    };
    const compiled = compileMesh(model, { ...DEFAULT_OPTIONS, trustBundlePem: "" });
    assert.deepEqual(compiled.warnings, []);

    const node = {
      id: "sidecar~10.244.1.10~frontend-0.shop~shop.svc.cluster.local",
      kind: "sidecar" as const,
      namespace: "shop",
      podName: "frontend-0",
      serviceAccount: "frontend",
      labels: { app: "frontend" },
      ips: ["10.244.1.10"],
    };
    const snapshot = snapshotFor(compiled, node);
    assert.deepEqual(checkSnapshot(snapshot), []);
    const text = (type: TypeUrl, name: string) =>
      JSON.stringify(snapshot.resources.get(type)?.get(name) as XdsMessage | undefined);
    const backend = text(TypeUrl.RouteConfiguration, "backend.shop.svc.cluster.local:9090");
    assert.match(
      backend,
      /"name":"outbound\|9090\|\|backend-v1\.shop\.svc\.cluster\.local","weight":\{"value":90\}/,
    );
    assert.match(
      backend,
      /"name":"outbound\|9090\|\|backend-v2\.shop\.svc\.cluster\.local","weight":\{"value":10\}/,
    );
    const frontend = text(TypeUrl.RouteConfiguration, "frontend.shop.svc.cluster.local:80");
    assert.match(
      frontend,
      /"num_retries":\{"value":3\}/,
      "attempts: 3 is three retries (GEP-1731)",
    );
    const eds = text(
      TypeUrl.ClusterLoadAssignment,
      "outbound|9090||backend-v2.shop.svc.cluster.local",
    );
    assert.match(eds, /10\.244\.2\.20/);
    const inbound = text(TypeUrl.Listener, "virtualInbound");
    assert.match(inbound, /"require_client_certificate":\{"value":true\}/);
    assert.doesNotMatch(inbound, /"transport_protocol":"raw_buffer"/, "STRICT: no plaintext chain");
  });
});
