// The sidecar's replacement for Node 20's AsyncResource.prototype.bind (without the
// deprecated asyncResource accessor) behaves as bind() is documented to: fn runs in the
// resource's async context, with thisArg or else the caller's this, and keeps its length;
// node:http2's client, which binds once per request, still works with it installed.

import assert from "node:assert/strict";
import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
import { once } from "node:events";
import { connect, createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { installNodeWorkarounds } from "../../sidecar/node-workarounds.js";

installNodeWorkarounds();

describe("node workarounds: AsyncResource.bind", () => {
  it("attaches no asyncResource accessor", () => {
    const bound = new AsyncResource("t").bind(() => 1);
    assert.equal(Object.hasOwn(bound, "asyncResource"), false);
    assert.equal(bound(), 1);
  });

  it("runs fn in the resource's async context, not the caller's", () => {
    const als = new AsyncLocalStorage<string>();
    const bound = als.run("where it was bound", () =>
      new AsyncResource("t").bind(() => als.getStore()),
    );
    assert.equal(
      als.run("where it is called", () => bound()),
      "where it was bound",
    );
  });

  it("passes thisArg, or else the caller's this, and the arguments; keeps length", () => {
    function f(this: unknown, a: number, b: number) {
      return { self: this, sum: a + b };
    }
    const fixed = { name: "fixed" };
    const caller = { name: "caller" };
    // @types/node declares bind(fn) alone; Node's takes (fn, thisArg).
    const bindTo = (r: AsyncResource) =>
      r.bind.bind(r) as unknown as (fn: typeof f, self: unknown) => typeof f;
    const withThis = bindTo(new AsyncResource("t"))(f, fixed);
    const withoutThis = new AsyncResource("t").bind(f);
    assert.deepEqual(withThis.call(caller, 1, 2), { self: fixed, sum: 3 });
    assert.deepEqual(withoutThis.call(caller, 2, 3), { self: caller, sum: 5 });
    assert.equal(withThis.length, 2);
    assert.equal(withoutThis.length, 2);
    assert.throws(() => new AsyncResource("t").bind(42 as never), TypeError);
  });

  it("node:http2's client still makes requests", async () => {
    const server = createServer((req, res) => res.end(`got ${req.url}`));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const bodies = await Promise.all(
        ["/a", "/b"].map(
          (path) =>
            new Promise<string>((resolve, reject) => {
              const stream = session.request({ ":path": path });
              let body = "";
              stream.setEncoding("utf8");
              stream.on("data", (d: string) => {
                body += d;
              });
              stream.on("end", () => resolve(body));
              stream.on("error", reject);
              stream.end();
            }),
        ),
      );
      assert.deepEqual(bodies, ["got /a", "got /b"]);
    } finally {
      session.close();
      server.close();
    }
  });
});
