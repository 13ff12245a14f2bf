// The ADS codec: a DiscoveryRequest's long resource_names list is decoded once and shared
// by every request that repeats it (SotW ACKs), and nothing else about decoding changes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import protobuf from "protobufjs";
import { adsServiceDefinition, TypeUrl, type XdsMessage } from "../../api/xds-proto.js";

const { requestSerialize, requestDeserialize } = adsServiceDefinition().StreamAggregatedResources;
const names = (n: number, tag = "") =>
  Array.from({ length: n }, (_, i) => `outbound|80||svc-${i}${tag}.ns-0.svc.cluster.local`);

function ack(resourceNames: string[], nonce: string): XdsMessage {
  return {
    version_info: "v1",
    type_url: TypeUrl.ClusterLoadAssignment,
    response_nonce: nonce,
    resource_names: resourceNames,
  };
}

describe("DiscoveryRequest decoding", () => {
  it("decodes a long names list once and shares it among requests that repeat it", () => {
    const list = names(500);
    const one = requestDeserialize(requestSerialize(ack(list, "1")));
    const two = requestDeserialize(requestSerialize(ack([...list], "2")));
    assert.deepEqual(one.resource_names, list);
    assert.equal(one.response_nonce, "1");
    assert.equal(two.response_nonce, "2");
    assert.equal(two.version_info, "v1");
    assert.equal(two.type_url, TypeUrl.ClusterLoadAssignment);
    assert.equal(two.resource_names, one.resource_names, "the same array");
    assert.ok(Object.isFrozen(one.resource_names));
    const other = requestDeserialize(requestSerialize(ack(names(500, "x"), "3")));
    assert.notEqual(other.resource_names, one.resource_names);
    assert.deepEqual(other.resource_names, names(500, "x"));
  });

  it("decodes short lists, empty lists and names split around other fields as before", () => {
    const short = requestDeserialize(requestSerialize(ack(["a", "b"], "1")));
    assert.deepEqual(short.resource_names, ["a", "b"]);
    const empty = requestDeserialize(requestSerialize(ack([], "1")));
    assert.equal(empty.resource_names, undefined);
    // Fields in any order are valid protobuf: names before and after the type_url.
    const w = protobuf.Writer.create();
    for (const n of names(30)) w.uint32((3 << 3) | 2).string(n);
    w.uint32((4 << 3) | 2).string(TypeUrl.Cluster);
    for (const n of names(30, "y")) w.uint32((3 << 3) | 2).string(n);
    const split = requestDeserialize(Buffer.from(w.finish()));
    assert.deepEqual(split.resource_names, [...names(30), ...names(30, "y")]);
    assert.equal(split.type_url, TypeUrl.Cluster);
  });
});
