import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isCertError, parseSpiffeId, workloadOf, workloadSpiffeId } from "../../certs/index.js";

describe("SPIFFE IDs", () => {
  it("parses valid IDs into trust domain and path", () => {
    const id = parseSpiffeId("spiffe://cluster.local/ns/default/sa/web");
    assert.equal(id.trustDomain, "cluster.local");
    assert.equal(id.path, "/ns/default/sa/web");
    assert.deepEqual(workloadOf(id), { namespace: "default", serviceAccount: "web" });
    assert.equal(parseSpiffeId("spiffe://example.org").path, "");
    assert.equal(
      workloadSpiffeId("td.example", "prod", "api").uri,
      "spiffe://td.example/ns/prod/sa/api",
    );
  });

  const invalid: [string, RegExp][] = [
    ["https://cluster.local/ns/a/sa/b", /does not start with spiffe:\/\//],
    ["spiffe://", /trust domain is empty/],
    ["spiffe:///ns/a", /trust domain is empty/],
    ["spiffe://Cluster.Local/ns/a", /lowercase/],
    ["spiffe://cluster.local:8443/ns/a", /no port/],
    ["spiffe://user@cluster.local/ns/a", /lowercase letters/],
    ["spiffe://cluster.local/ns/a/", /ends with '\/'/],
    ["spiffe://cluster.local/ns//a", /empty segment/],
    ["spiffe://cluster.local/ns/../a", /'\.' or '\.\.'/],
    ["spiffe://cluster.local/ns/a?x=1", /query, fragment/],
    ["spiffe://cluster.local/ns/a%20b", /percent-encoding/],
    [`spiffe://cluster.local/${"a".repeat(2100)}`, /longer than 2048 bytes/],
  ];
  for (const [text, why] of invalid) {
    it(`refuses ${text.slice(0, 48)}`, () => {
      assert.throws(
        () => parseSpiffeId(text),
        (err) => isCertError(err, "INVALID_SPIFFE_ID") && why.test(err.message),
      );
    });
  }

  it("returns workloadOf undefined for non-workload paths", () => {
    assert.equal(workloadOf(parseSpiffeId("spiffe://td/agent/node1")), undefined);
  });
});
