// The request path's objects share hidden classes (sidecar/shapes.ts): once V8 has optimized
// the code, the objects the sidecar builds per request — its cancel signal, the next hop's
// headers, the concrete stage's target, the request event — have the same Map request after
// request. An object spread followed by another property, or Node 20's AbortSignal, would
// give each its own Map (and old space a Map per request). (The AsyncResource.bind
// workaround removes the accessor whose wrappers got a Map each; node-workarounds.test.ts.)
// V8's %HaveSameMap needs --allow-natives-syntax, so the probe runs in a child Node with that
// flag, on the compiled modules.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const mod = (path: string) => JSON.stringify(pathToFileURL(join(dist, path)).href);

/** Runs `body` (ES module code that may use %-natives) and returns what it printed as JSON. */
function probe(body: string): Record<string, boolean> {
  const run = spawnSync(
    process.execPath,
    ["--allow-natives-syntax", "--input-type=module", "-e", body],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, boolean>;
}

// Enough calls for TurboFan to optimize the builders (the per-object Maps appear only then).
const WARM = 30_000;

describe("hidden classes on the request path", () => {
  it("the cancel signal, the next hop's headers and the concrete stage's target keep one Map", () => {
    const out = probe(`
      import { nextHop } from ${mod("sidecar/http/trace-context.js")};
      import { Cancellation } from ${mod("sidecar/http/contract.js")};
      import { ClusterPicker } from ${mod("sidecar/proxy/clusters.js")};
      import { staticCluster } from ${mod("test/sidecar/fixtures.js")};
      const headers = (i) => ({ accept: "*/*", "user-agent": "probe", "x-request-id": "r" + i });
      for (let i = 0; i < ${WARM}; i++) nextHop(headers(i));
      const tls = {
        name: "envoy.transport_sockets.tls",
        typed_config: { sni: "web", common_tls_context: { alpn_protocols: ["h2"] } },
      };
      const config = staticCluster(["10.0.0.1", "10.0.0.2"], { transport_socket: tls });
      const picker = new ClusterPicker(Math.random);
      const dst = { address: "10.96.0.1", port: 80 };
      const pick = () => { const t = picker.pick(config, "c", dst); t.release(); return t; };
      for (let i = 0; i < ${WARM}; i++) pick();
      const [a, b] = [nextHop(headers(1)).headers, nextHop(headers(2)).headers];
      const [t1, t2] = [pick(), pick()];
      const cancel = () => { const c = new Cancellation(); const f = () => {}; c.addEventListener("abort", f); c.removeEventListener("abort", f); return c; };
      for (let i = 0; i < ${WARM}; i++) cancel();
      console.log(JSON.stringify({
        cancellation: %HaveSameMap(cancel(), cancel()),
        headers: %HaveSameMap(a, b),
        target: %HaveSameMap(t1, t2),
        tls: t1.tls?.sni === "web" && t1.http2,
      }));
    `);
    assert.deepEqual(out, { cancellation: true, headers: true, target: true, tls: true });
  });

  it("every request event has the same Map", () => {
    const out = probe(`
      import { createServer } from "node:net";
      import { request, Agent } from "node:http";
      import { Readable } from "node:stream";
      import { subscribe } from "node:diagnostics_channel";
      import { httpServers } from ${mod("sidecar/http/downstream.js")};
      import { REQUEST_CHANNEL } from ${mod("sidecar/telemetry/events.js")};
      const events = [];
      subscribe(REQUEST_CHANNEL, (e) => { events.push(e); if (events.length > 2) events.shift(); });
      const servers = httpServers(
        async (req) => {
          req.record.cluster = "outbound|80||web.shop.svc.cluster.local";
          req.record.attempts = 1;
          req.body.resume();
          return { status: 200, headers: { "content-type": "text/plain" }, body: Readable.from([Buffer.from("ok")]), trailers: Promise.resolve({}) };
        },
        { scheme: "http", context: { sidecar: "probe", direction: "outbound", mtls: false } },
      );
      // As the sidecar's listeners do: no Nagle on accepted sockets.
      const server = createServer((s) => servers.serve(s.setNoDelay(true), "http/1.1"));
      await new Promise((r) => server.listen(0, "127.0.0.1", r));
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      const get = () => new Promise((resolve, reject) => {
        request({ host: "127.0.0.1", port: server.address().port, agent, path: "/" }, (res) => {
          res.resume(); res.on("end", resolve);
        }).on("error", reject).end();
      });
      for (let i = 0; i < 4000; i += 4) await Promise.all([get(), get(), get(), get()]);
      await new Promise((r) => setTimeout(r, 50));
      const [a, b] = events;
      console.log(JSON.stringify({ two: events.length === 2, event: %HaveSameMap(a, b), status: b.status === 200 }));
      agent.destroy(); servers.close(); server.close();
    `);
    assert.deepEqual(out, { two: true, event: true, status: true });
  });
});
