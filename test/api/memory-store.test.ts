import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Kind,
  MemoryStore,
  type Service,
  StoreError,
  type WatchEvent,
} from "../../api/index.js";

function service(name: string, namespace = "default", port = 80): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports: [{ port }] },
  };
}

const isCode = (code: string) => (err: unknown) => err instanceof StoreError && err.code === code;

/** The next `n` events of a watch iterator. */
async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const summary = <K extends Kind>(evs: WatchEvent<K>[]) =>
  evs.map((e) => `${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion}`);

describe("MemoryStore", () => {
  it("sets resourceVersion, uid, creationTimestamp and generation like the API server", async () => {
    const store = new MemoryStore({ now: () => new Date("2024-05-01T10:00:00.123Z") });
    const a = await store.create(service("a"));
    const b = await store.create(service("b"));
    assert.equal(a.metadata.resourceVersion, "1");
    assert.equal(b.metadata.resourceVersion, "2");
    assert.match(a.metadata.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.notEqual(a.metadata.uid, b.metadata.uid);
    assert.equal(a.metadata.creationTimestamp, "2024-05-01T10:00:00Z");
    assert.equal(a.metadata.generation, 1);

    const labelled = await store.update({ ...a, metadata: { ...a.metadata, labels: { x: "y" } } });
    assert.equal(labelled.metadata.resourceVersion, "3");
    assert.equal(labelled.metadata.generation, 1, "a metadata change keeps the generation");
    assert.equal(labelled.metadata.uid, a.metadata.uid);
    const moved = await store.apply(service("a", "default", 8080));
    assert.equal(moved.metadata.resourceVersion, "4");
    assert.equal(moved.metadata.generation, 2, "a spec change bumps the generation");
    assert.equal(moved.metadata.creationTimestamp, a.metadata.creationTimestamp);
    const deleted = await store.delete("Service", "b");
    assert.equal(deleted.metadata.resourceVersion, "5");
    assert.equal((await store.list("Service")).resourceVersion, "5");
  });

  it("makes no new version for a write that changes nothing", async () => {
    const store = new MemoryStore();
    const a = await store.apply(service("a"));
    const again = await store.apply(service("a"));
    assert.equal(again.metadata.resourceVersion, a.metadata.resourceVersion);
    assert.equal(store.resourceVersion, "1");
  });

  it("refuses duplicates, missing objects and stale versions with their codes", async () => {
    const store = new MemoryStore();
    const a = await store.create(service("a"));
    await assert.rejects(store.create(service("a")), isCode("ALREADY_EXISTS"));
    await assert.rejects(store.update(service("zz")), isCode("NOT_FOUND"));
    await assert.rejects(store.delete("Service", "zz"), isCode("NOT_FOUND"));
    await store.update({ ...a, metadata: { ...a.metadata, labels: { v: "2" } } }); // current: fine
    await assert.rejects(
      store.update(a),
      (err) => isCode("CONFLICT")(err) && /read it again/.test((err as Error).message),
    );
    await assert.rejects(
      store.delete("Service", "a", "default", { resourceVersion: "1" }),
      isCode("CONFLICT"),
    );
    const applied = await store.apply({ ...a, spec: { ...a.spec, ports: [{ port: 81 }] } });
    assert.equal(applied.spec.ports?.[0]?.port, 81, "apply never conflicts");
  });

  it("validates and defaults every write (INVALID lists the fields)", async () => {
    const store = new MemoryStore();
    const bad = service("Bad_Name");
    bad.spec.ports = [{ port: 0 }];
    await assert.rejects(store.create(bad), (err) => {
      assert.ok(isCode("INVALID")(err));
      assert.match((err as Error).message, /metadata\.name: .*DNS-1123 label/);
      assert.match((err as Error).message, /spec\.ports\[0\]\.port: must be a port number/);
      return true;
    });
    assert.equal((await store.list("Service")).items.length, 0);
    const stored = await store.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "d" },
      spec: { ports: [{ port: 80 }] },
    });
    assert.equal(stored.metadata.namespace, "default");
    assert.deepEqual(stored.spec.ports, [{ port: 80, protocol: "TCP", targetPort: 80 }]);
  });

  it("copies in and out: callers never share the store's objects", async () => {
    const store = new MemoryStore();
    const input = service("a");
    const created = await store.create(input);
    input.spec.ports = [{ port: 1 }];
    created.spec.ports = [{ port: 2 }];
    const got = await store.get("Service", "a");
    assert.equal(got?.spec.ports?.[0]?.port, 80);
    if (got) got.metadata.name = "changed";
    assert.equal((await store.list("Service")).items[0]?.metadata.name, "a");
  });

  it("lists sorted by namespace then name, optionally one namespace; cluster-scoped kinds have none", async () => {
    const store = new MemoryStore();
    for (const [n, ns] of [
      ["b", "prod"],
      ["z", "default"],
      ["a", "prod"],
      ["m", "default"],
    ] as const) {
      await store.create(service(n, ns));
    }
    const all = await store.list("Service");
    assert.deepEqual(
      all.items.map((s) => `${s.metadata.namespace}/${s.metadata.name}`),
      ["default/m", "default/z", "prod/a", "prod/b"],
    );
    assert.deepEqual(
      (await store.list("Service", { namespace: "prod" })).items.map((s) => s.metadata.name),
      ["a", "b"],
    );
    await store.create({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "prod", namespace: "x" },
    });
    const ns = await store.get("Namespace", "prod");
    assert.equal(ns?.metadata.namespace, undefined);
    assert.equal(
      (await store.get("Service", "m"))?.metadata.name,
      "m",
      "get defaults the namespace to default",
    );
  });

  it("watch without a version: current objects as ADDED, then changes in order", async () => {
    const store = new MemoryStore();
    await store.create(service("a"));
    await store.create(service("b"));
    await store.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "other" } });
    const it = store.watch("Service")[Symbol.asyncIterator]();
    const first = await take(it, 2);
    await store.apply(service("a", "default", 81));
    await store.delete("Service", "b");
    const more = await take(it, 2);
    assert.deepEqual(summary([...first, ...more]), [
      "ADDED a@1",
      "ADDED b@2",
      "MODIFIED a@4",
      "DELETED b@5",
    ]);
    assert.equal(
      more[1]?.object.spec.ports?.[0]?.port,
      80,
      "DELETED carries the object as it was last",
    );
    await it.return?.();
  });

  it("watch from a version replays every change after it, and only for its kind and namespace", async () => {
    const store = new MemoryStore();
    const a = await store.create(service("a"));
    await store.create(service("x", "prod"));
    await store.apply(service("a", "default", 81));
    await store.delete("Service", "a");
    const it = store
      .watch("Service", { resourceVersion: a.metadata.resourceVersion, namespace: "default" })
      [Symbol.asyncIterator]();
    assert.deepEqual(summary(await take(it, 2)), ["MODIFIED a@3", "DELETED a@4"]);
    await it.return?.();
  });

  it("a list's resourceVersion then watch misses nothing", async () => {
    const store = new MemoryStore();
    await store.create(service("a"));
    const list = await store.list("Service");
    await store.create(service("b"));
    const it = store
      .watch("Service", { resourceVersion: list.resourceVersion })
      [Symbol.asyncIterator]();
    await store.create(service("c"));
    assert.deepEqual(summary(await take(it, 2)), ["ADDED b@2", "ADDED c@3"]);
    await it.return?.();
  });

  it("a version older than the history is GONE when iteration starts", async () => {
    const store = new MemoryStore({ historyLimit: 3 });
    for (let i = 0; i < 5; i++) await store.apply(service("a", "default", 80 + i));
    const watch = store.watch("Service", { resourceVersion: "1" }); // no throw yet
    await assert.rejects(
      watch[Symbol.asyncIterator]().next(),
      (err) => isCode("GONE")(err) && /list again/.test((err as Error).message),
    );
    const ok = store.watch("Service", { resourceVersion: "2" })[Symbol.asyncIterator]();
    assert.deepEqual(summary(await take(ok, 3)), ["MODIFIED a@3", "MODIFIED a@4", "MODIFIED a@5"]);
    await ok.return?.();
  });

  it("ends a watcher that falls too far behind with GONE", async () => {
    const store = new MemoryStore({ maxWatcherBacklog: 5 });
    const it = store.watch("Service", { resourceVersion: "0" })[Symbol.asyncIterator]();
    for (let i = 0; i < 7; i++) await store.apply(service("a", "default", 80 + i));
    await assert.rejects(it.next(), isCode("GONE"));
    assert.deepEqual(await it.next(), { value: undefined, done: true });
  });

  it("close() and the signal end watches, even one waiting for an event", async () => {
    const store = new MemoryStore();
    const controller = new AbortController();
    const bySignal = store.watch("Service", { signal: controller.signal })[Symbol.asyncIterator]();
    const byClose = store.watch("Pod")[Symbol.asyncIterator]();
    const pendingSignal = bySignal.next();
    const pendingClose = byClose.next();
    controller.abort();
    assert.deepEqual(await pendingSignal, { value: undefined, done: true });
    await store.close();
    assert.deepEqual(await pendingClose, { value: undefined, done: true });
    const after = store.watch("Service")[Symbol.asyncIterator]();
    assert.equal((await after.next()).done, true, "a watch opened after close ends at once");
  });

  it("hands each watcher its own copy of an event", async () => {
    const store = new MemoryStore();
    const w1 = store.watch("Service", { resourceVersion: "0" })[Symbol.asyncIterator]();
    const w2 = store.watch("Service", { resourceVersion: "0" })[Symbol.asyncIterator]();
    await store.create(service("a"));
    const [e1] = await take(w1, 1);
    if (e1) e1.object.metadata.name = "mutated";
    const [e2] = await take(w2, 1);
    assert.equal(e2?.object.metadata.name, "a");
    await store.close();
  });
});
