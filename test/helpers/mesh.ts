// A mesh on loopback for the sidecar's proxy tests: the real control plane fed one YAML
// file, and sidecars that get their SVID and config from it, each with the listener deps
// (xDS config, picker, TLS material, pools) its listeners are built from. close() takes
// everything down in order: pooled sessions, listeners, sidecars, the control plane.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintWorkloadToken } from "../../control-plane/ca/index.js";
import { type ControlPlane, startControlPlane } from "../../control-plane/control-plane.js";
import { type SidecarAgent, startSidecarAgent } from "../../sidecar/agent.js";
import { validateBootstrap } from "../../sidecar/bootstrap.js";
import { UpstreamPools } from "../../sidecar/http/upstream-pool.js";
import { ClusterPicker } from "../../sidecar/proxy/clusters.js";
import type { ListenerDeps } from "../../sidecar/proxy/listeners.js";
import { TlsMaterial } from "../../sidecar/proxy/tls.js";

export interface TestPod {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly ip: string;
  readonly app: string;
}

export class TestMesh {
  /** Every refusal and local reply the sidecars logged, as "message {fields}". */
  readonly logs: string[] = [];
  readonly #agents: SidecarAgent[] = [];
  readonly #pools: UpstreamPools[] = [];
  readonly #servers: Server[] = [];

  private constructor(
    readonly dir: string,
    readonly controlPlane: ControlPlane,
  ) {}

  static async start(yaml: string): Promise<TestMesh> {
    const dir = await mkdtemp(join(tmpdir(), "trellis-mesh-"));
    await writeFile(join(dir, "mesh.yaml"), yaml);
    const cp = await startControlPlane({
      configDir: dir,
      caDir: join(dir, "ca"),
      xdsPort: 0,
      xdsTlsPort: 0,
      adminPort: 0,
      debounceMs: 10,
      log: () => {},
    });
    await writeFile(join(dir, "root.pem"), cp.trustBundlePem());
    return new TestMesh(dir, cp);
  }

  /** A sidecar for `pod`, ready (SVID and config in), and the deps of its listeners. */
  async sidecar(
    pod: TestPod,
    options: { svidTtl?: string } = {},
  ): Promise<ListenerDeps & { agent: SidecarAgent }> {
    const token = await mintWorkloadToken(this.controlPlane.tokenKey as never, {
      namespace: pod.namespace,
      serviceAccount: pod.serviceAccount,
      ttlSeconds: 3600,
    });
    const tokenFile = join(this.dir, `${pod.name}.token`);
    await writeFile(tokenFile, token);
    const agent = await startSidecarAgent({
      bootstrap: validateBootstrap({
        controlPlane: `127.0.0.1:${this.controlPlane.xdsTlsPort}`,
        caRootFile: join(this.dir, "root.pem"),
        tokenFile,
        node: {
          namespace: pod.namespace,
          podName: pod.name,
          serviceAccount: pod.serviceAccount,
          podIp: pod.ip,
          labels: { app: pod.app },
        },
        ...(options.svidTtl ? { svidTtl: options.svidTtl } : {}),
      }),
      adminPort: 0,
    });
    this.#agents.push(agent);
    const deadline = Date.now() + 10_000;
    while (!agent.ready()) {
      if (Date.now() > deadline) throw new Error(`${pod.name}'s sidecar never got ready`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const material = new TlsMaterial(agent.identity, agent.xds);
    const pools = new UpstreamPools({ material });
    this.#pools.push(pools);
    return {
      agent,
      xds: agent.xds,
      picker: new ClusterPicker(),
      material,
      pools,
      log: (m, f) => this.logs.push(`${m} ${JSON.stringify(f)}`),
    };
  }

  /** Listens on host:port; the server is closed with the mesh. */
  listen<S extends Server>(server: S, host: string, port: number): Promise<S> {
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve(server));
    });
  }

  async close(): Promise<void> {
    // Pooled HTTP/2 sessions first: a server closes once its connections have.
    for (const p of this.#pools) p.close();
    for (const s of this.#servers) await new Promise((r) => s.close(r));
    for (const a of this.#agents) await a.close();
    await this.controlPlane.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
