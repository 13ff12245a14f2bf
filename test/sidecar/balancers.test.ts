// The balancers' distributions: round robin evenly, random within bounds, least request
// away from the busy endpoint, ring hash stable per key and moving only about 1/(n+1) of
// the keys when an endpoint joins — the keys hash policies make — and the cluster picker
// choosing by lb_policy.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InFlight, makePicker } from "../../sidecar/proxy/balancers.js";
import { ClusterPicker } from "../../sidecar/proxy/clusters.js";
import { hashKey, routeHashPolicies, tcpHashPolicies } from "../../sidecar/proxy/hash-policy.js";
import { staticCluster } from "./fixtures.js";

const endpoints = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 80 }));
const tally = (picks: { address: string }[]) => {
  const counts = new Map<string, number>();
  for (const p of picks) counts.set(p.address, (counts.get(p.address) ?? 0) + 1);
  return counts;
};

/** A deterministic uniform source (mulberry32), so the bounds below are not flaky. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("balancers", () => {
  it("round robin: every endpoint in turn", () => {
    const picker = makePicker("ROUND_ROBIN", endpoints(3), new InFlight(), () => 0);
    const picks = Array.from({ length: 9 }, () => picker.pick().address);
    assert.deepEqual(picks.slice(0, 3), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual([...tally(picks.map((address) => ({ address }))).values()], [3, 3, 3]);
  });

  it("random: each of 4 endpoints within ±15 % of its share over 4,000 picks", () => {
    const picker = makePicker("RANDOM", endpoints(4), new InFlight(), seeded(7));
    const counts = tally(Array.from({ length: 4000 }, () => picker.pick()));
    assert.equal(counts.size, 4);
    for (const n of counts.values()) assert.ok(n > 850 && n < 1150, `${n}`);
  });

  it("least request: the better of two choices, so a busy endpoint gets far fewer", () => {
    const inFlight = new InFlight();
    const eps = endpoints(3);
    const picker = makePicker("LEAST_REQUEST", eps, inFlight, seeded(11));
    // Endpoint 1 is stuck with 10 requests in flight.
    const stuck = Array.from({ length: 10 }, () => inFlight.begin(eps[0] as (typeof eps)[0]));
    const counts = tally(
      Array.from({ length: 3000 }, () => {
        const e = picker.pick();
        inFlight.begin(e)(); // a request that ends at once
        return e;
      }),
    );
    const busy = counts.get("10.0.0.1") ?? 0;
    // P2C picks the busy one only when both choices are it: (1/3)² of the time.
    assert.ok(busy < 3000 * 0.16, `busy endpoint got ${busy}`);
    for (const release of stuck) release();
    assert.equal(inFlight.count(eps[0] as (typeof eps)[0]), 0, "releases count down");
  });

  it("ring hash: a key always lands on the same endpoint; a new endpoint takes ~1/(n+1)", () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `client-${i}`);
    const four = makePicker("RING_HASH", endpoints(4), new InFlight());
    const again = makePicker("RING_HASH", endpoints(4), new InFlight());
    const before = keys.map((k) => four.pick({ hashKey: k }).address);
    assert.deepEqual(
      keys.map((k) => again.pick({ hashKey: k }).address),
      before,
      "the same ring for the same endpoints",
    );
    for (const n of tally(before.map((address) => ({ address }))).values()) {
      assert.ok(n > 300 && n < 700, `share ${n} of 2000 on 4 endpoints`);
    }
    const five = makePicker("RING_HASH", endpoints(5), new InFlight());
    const after = keys.map((k) => five.pick({ hashKey: k }).address);
    const moved = after.filter((a, i) => a !== before[i]);
    assert.ok(moved.length > 250 && moved.length < 600, `${moved.length} keys moved`);
    assert.ok(
      moved.every((a) => a === "10.0.0.5"),
      "keys move only to the new endpoint",
    );
  });

  it("hash policies: header values and the source IP in order, up to a terminal one that yields", () => {
    const facts = { headers: { "x-user": "alice", "x-team": "red" }, sourceAddress: "10.0.0.9" };
    const route = (policies: unknown[]) => hashKey(routeHashPolicies(policies), facts);
    const header = (name: string, terminal = false) => ({
      header: { header_name: name },
      ...(terminal ? { terminal } : {}),
    });
    const sourceIp = { connection_properties: { source_ip: true } };
    assert.equal(route([header("X-User")]), "alice", "header names match lower-cased");
    assert.equal(route([sourceIp]), "10.0.0.9");
    assert.equal(route([header("x-user"), header("x-team")]), "alice\nred", "both make the key");
    assert.equal(route([header("x-user", true), header("x-team")]), "alice", "terminal stops");
    assert.equal(
      route([header("x-none", true), sourceIp]),
      "10.0.0.9",
      "a terminal that yields nothing does not",
    );
    assert.equal(route([header("x-none")]), undefined, "no value: no key (a random point)");
    assert.equal(route([{ connection_properties: {} }]), undefined);
    assert.equal(hashKey(tcpHashPolicies([{ source_ip: {} }]), facts), "10.0.0.9");
    assert.equal(hashKey(tcpHashPolicies([{ source_ip: {} }]), {}), undefined);
  });

  it("the cluster picker uses the cluster's lb_policy and a new picker per endpoint set", () => {
    const config = (ips: string[], lb_policy: string) => staticCluster(ips, { lb_policy });
    const picker = new ClusterPicker(seeded(3));
    const dst = { address: "10.96.0.1", port: 80 };
    const two = config(["10.0.0.1", "10.0.0.2"], "LEAST_REQUEST");
    const first = picker.pick(two, "c", dst);
    // The first is still in flight: least request sends the next one elsewhere (the
    // seeded choices include the idle endpoint; P2C picks the busy one only if both miss).
    const second = picker.pick(two, "c", dst);
    assert.notEqual(second.address, first.address);
    first.release();
    second.release();
    const one = config(["10.0.0.2"], "LEAST_REQUEST");
    for (let i = 0; i < 5; i++) assert.equal(picker.pick(one, "c", dst).address, "10.0.0.2");
    assert.throws(() => picker.pick(config([], "RANDOM"), "c", dst), /no healthy endpoint/);
  });
});
