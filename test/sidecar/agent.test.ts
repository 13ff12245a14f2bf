// The sidecar's control side against the real control plane (examples/control-plane): a
// token buys an SVID for the pod's service account, ADS over TLS with that SVID brings the
// pod's config, /ready turns 200 only then, the SVID rotates at half-life, and losing the control plane keeps the last config served
// until it is back.

import assert from "node:assert/strict";
import { cp as copy, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { mintWorkloadToken } from "../../control-plane/ca/index.js";
import { type ControlPlane, startControlPlane } from "../../control-plane/control-plane.js";
import { type SidecarAgent, startSidecarAgent } from "../../sidecar/agent.js";
import { validateBootstrap } from "../../sidecar/bootstrap.js";

const EXAMPLE = join(import.meta.dirname, "..", "..", "..", "examples", "control-plane");

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const get = async (agent: SidecarAgent, path: string) => {
  const res = await fetch(`http://127.0.0.1:${agent.adminPort}${path}`);
  return { status: res.status, text: await res.text() };
};

describe("sidecar agent with the control plane", () => {
  let dir: string;
  let cp: ControlPlane | undefined;
  const agents: SidecarAgent[] = [];
  const start = (ports: { xdsPort: number; xdsTlsPort: number; adminPort: number }) =>
    startControlPlane({
      configDir: join(dir, "config"),
      caDir: join(dir, "ca"),
      ...ports,
      debounceMs: 10,
      log: () => {},
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-sidecar-"));
    await copy(EXAMPLE, join(dir, "config"), { recursive: true });
    cp = await start({ xdsPort: 0, xdsTlsPort: 0, adminPort: 0 });
    await writeFile(join(dir, "root.pem"), cp.trustBundlePem());
    const key = cp.tokenKey;
    assert.ok(key);
    const token = await mintWorkloadToken(key, {
      namespace: "shop",
      serviceAccount: "frontend",
      podName: "frontend-0",
      ttlSeconds: 3600,
    });
    await writeFile(join(dir, "token"), token);
  });

  after(async () => {
    for (const a of agents) await a.close();
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const bootstrap = (xds: "sotw" | "delta", svidTtl = "1h") =>
    validateBootstrap({
      controlPlane: `127.0.0.1:${cp?.xdsTlsPort}`,
      caRootFile: join(dir, "root.pem"),
      tokenFile: join(dir, "token"),
      xds,
      svidTtl,
      node: {
        namespace: "shop",
        podName: "frontend-0",
        serviceAccount: "frontend",
        podIp: "10.244.1.10",
        labels: { app: "frontend" },
      },
    });

  for (const xds of ["delta", "sotw"] as const) {
    it(`${xds}: gets its SVID, then its config over TLS, and only then is ready`, async () => {
      const agent = await startSidecarAgent({ bootstrap: bootstrap(xds), adminPort: 0 });
      agents.push(agent);
      assert.equal(agent.identity.current?.spiffeId, "spiffe://cluster.local/ns/shop/sa/frontend");
      await until("/ready", async () => (await get(agent, "/ready")).status === 200);
      const config = agent.xds.config;
      assert.deepEqual([...config.listeners.keys()].sort(), ["virtualInbound", "virtualOutbound"]);
      assert.ok(config.clusters.has("outbound|9090||backend-v2.shop.svc.cluster.local"));
      assert.match(
        JSON.stringify(
          config.endpoints.get("outbound|9090||backend-v2.shop.svc.cluster.local")?.message,
        ),
        /10\.244\.2\.20/,
      );
      assert.ok(config.routes.has("backend.shop.svc.cluster.local:9090"));
      const dump = JSON.parse((await get(agent, "/config_dump")).text);
      assert.deepEqual(dump.warming, []);
      assert.ok(!JSON.stringify(dump).includes("PRIVATE KEY"), "no key material in /config_dump");
      const connections = await fetch(`http://127.0.0.1:${cp?.adminPort}/debug/connections`);
      assert.match(await connections.text(), /frontend-0\.shop/);
    });
  }

  it("rotates its SVID at half-life, with a new key, and stays ready", async () => {
    const agent = await startSidecarAgent({
      bootstrap: bootstrap("delta", "10s"),
      adminPort: 0,
      xdsBackoff: { baseMs: 20, maxMs: 200 },
    });
    agents.push(agent);
    const first = agent.identity.current;
    await until("a rotation", () => agent.identity.rotations > 0, 15_000);
    assert.notEqual(agent.identity.current?.serialHex, first?.serialHex);
    assert.notEqual(agent.identity.current?.keyPem, first?.keyPem, "a fresh key per renewal");
    const certs = JSON.parse((await get(agent, "/certs")).text);
    assert.equal(certs.serial, agent.identity.current?.serialHex);
    await until("/ready", () => agent.ready());
  });

  it("keeps serving its last config while the control plane is gone, and resyncs after", async () => {
    assert.ok(cp);
    const agent = await startSidecarAgent({
      bootstrap: bootstrap("delta"),
      adminPort: 0,
      xdsBackoff: { baseMs: 20, maxMs: 200 },
    });
    agents.push(agent);
    await until("ready", () => agent.ready());
    const served = agent.xds.config;
    const ports = { xdsPort: cp.xdsPort, xdsTlsPort: cp.xdsTlsPort, adminPort: cp.adminPort };
    await cp.close();
    cp = undefined;
    await until("the stream to drop", () => !agent.xds.connected);
    assert.equal(agent.xds.config, served, "the same config in service");
    assert.equal((await get(agent, "/ready")).status, 200);
    cp = await start(ports);
    await until("the stream to come back", () => agent.xds.connected, 15_000);
    assert.deepEqual(
      [...agent.xds.config.listeners.keys()].sort(),
      [...served.listeners.keys()].sort(),
    );
  });

  it("admin: /clusters lists endpoints; POST /drain stops accepting and /ready says so; /quitquitquit asks to exit", async () => {
    const agent = await startSidecarAgent({
      bootstrap: bootstrap("delta"),
      adminPort: 0,
      listeners: { host: "127.0.0.1", outboundPort: 0, inboundPort: 0 },
      drainTimeoutMs: 200,
    });
    agents.push(agent);
    await until("ready", () => agent.ready());
    const clusters = JSON.parse((await get(agent, "/clusters")).text);
    assert.deepEqual(clusters["outbound|9090||backend-v2.shop.svc.cluster.local"].endpoints, [
      { address: "10.244.2.20:9090", health: "HEALTHY", ejected: false },
    ]);
    // And its circuit breakers: Envoy's default thresholds, nothing open, nothing refused.
    assert.deepEqual(
      clusters["outbound|9090||backend-v2.shop.svc.cluster.local"].circuit_breakers,
      {
        thresholds: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024 },
        open: { connections: 0, pending_requests: 0, requests: 0 },
        overflows: { max_connections: 0, max_pending_requests: 0, max_requests: 0 },
      },
    );
    assert.equal((await get(agent, "/drain")).status, 405, "a GET changes nothing");
    const port = agent.outboundPort as number;
    const accepts = () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, "127.0.0.1", () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
    assert.equal(await accepts(), true);
    let quit = false;
    void agent.quitRequested.then(() => {
      quit = true;
    });
    const drain = await fetch(`http://127.0.0.1:${agent.adminPort}/drain`, { method: "POST" });
    assert.equal(drain.status, 200);
    const ready = await get(agent, "/ready");
    assert.deepEqual([ready.status, ready.text], [503, "draining\n"]);
    await until("listeners closed", async () => !(await accepts()));
    assert.equal(quit, false);
    await fetch(`http://127.0.0.1:${agent.adminPort}/quitquitquit`, { method: "POST" });
    await until("the quit request", () => quit);
  });
});
