// The sidecar in real network namespaces, inside a throw-away sandbox: pods made by the
// reference bridge + host-local plugins with trellis-cni chained, the control plane on the
// node (the bridge's gateway address), and `trellis sidecar` in the client pod. A
// connection from the client pod to a Service's ClusterIP is redirected by the pod's
// nftables rules to the sidecar's :15001, which recovers the original destination with
// SO_ORIGINAL_DST, picks that Service's endpoint from xDS, and dials it with its socket
// mark (exempt from the rules) — so each ClusterIP reaches its own backend pod.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Annotation } from "../../cni-redirect/redirect-config.js";
import { bridgeConf, CNI_BIN } from "../helpers/cni.js";
import { repoRoot, Sandbox } from "../helpers/sandbox.js";

const PLUGIN = join(repoRoot, "cni-redirect", "bin", "trellis-cni");
const NODE = process.execPath;
const TRELLIS = `${NODE} ${join(repoRoot, "bin", "trellis.js")}`;
const PROBE = `${NODE} ${join(repoRoot, "dist", "test", "helpers", "netprobe.js")}`;
const GATEWAY = "10.244.1.1";
const PORT = 7000;
/** Prints "ready" after each line: the sandbox's background() waits for one. */
const readyAfterFirstLine = (cmd: string) =>
  `${cmd} | while read -r l; do echo "$l"; echo ready; done`;

let sb: Sandbox;

async function createPod(name: string, annotations: Record<string, string>): Promise<string> {
  const netns = `/run/netns/${name}`;
  await sb.must(`ip netns add ${name} && ip -n ${name} link set lo up`);
  const env = (command: string) =>
    [
      `CNI_COMMAND=${command}`,
      "CNI_IFNAME=eth0",
      `CNI_PATH=${CNI_BIN}`,
      `CNI_CONTAINERID=${name}`,
      `CNI_NETNS=${netns}`,
      `CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${name}'`,
    ].join(" ");
  const bridge = JSON.parse(
    await sb.must(`env ${env("ADD")} ${join(CNI_BIN, "bridge")}`, JSON.stringify(bridgeConf())),
  );
  const conf = {
    cniVersion: "1.0.0",
    name: "lab",
    type: "trellis-cni",
    prevResult: bridge,
    runtimeConfig: { "io.kubernetes.cri.pod-annotations": annotations },
  };
  await sb.must(`env ${env("ADD")} ${PLUGIN}`, JSON.stringify(conf));
  return String(bridge.ips[0].address).split("/")[0] as string;
}

const service = (name: string, clusterIP: string) => `---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  clusterIP: ${clusterIP}
  selector: {app: ${name}}
  ports: [{name: tcp, port: ${PORT}, targetPort: ${PORT}}]
`;
const pod = (name: string, app: string, ip: string) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {app: ${app}}}
spec:
  serviceAccountName: ${app}
  containers: [{name: app, image: x, ports: [{containerPort: ${PORT}}]}]
status:
  podIP: ${ip}
  conditions: [{type: Ready, status: "True"}]
`;

describe("the sidecar in network namespaces", () => {
  after(() => sb?.close());
  before(async () => {
    sb = await Sandbox.start();
    // The sidecar reaches the control plane directly: its xDS port is excluded, as a pod
    // annotation would (in a cluster the sidecar's uid 1337 is exempt instead).
    const client = await createPod("client", {
      [Annotation.inject]: "true",
      [Annotation.excludeOutboundPorts]: "15012",
    });
    const alpha = await createPod("alpha", {});
    const beta = await createPod("beta", {});
    await sb.background("alpha", `ip netns exec alpha ${PROBE} server 0.0.0.0 ${PORT} alpha`);
    await sb.background("beta", `ip netns exec beta ${PROBE} server 0.0.0.0 ${PORT} beta`);

    const mesh = [
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
      service("alpha", "10.96.0.10"),
      service("beta", "10.96.0.11"),
      pod("alpha-0", "alpha", alpha),
      pod("beta-0", "beta", beta),
      pod("client", "client", client),
    ].join("");
    await sb.must("mkdir -p /run/mesh/config");
    await sb.must("cat > /run/mesh/config/mesh.yaml", mesh);
    await sb.background(
      "control-plane",
      readyAfterFirstLine(
        `${TRELLIS} control-plane --config /run/mesh/config --ca-dir /run/mesh/ca --host ${GATEWAY}`,
      ),
      20_000,
    );
    await sb.must(
      `${TRELLIS} token --key /run/mesh/ca/token-key.pem --namespace shop --service-account client --out /run/mesh/client.token`,
    );
    await sb.background(
      "sidecar",
      readyAfterFirstLine(
        `ip netns exec client ${TRELLIS} sidecar --control-plane ${GATEWAY}:15012 --ca-root /run/mesh/ca/root-cert.pem --token-file /run/mesh/client.token --namespace shop --pod client --service-account client --pod-ip ${client} --mark 0x539 --admin-port 15000`,
      ),
      20_000,
    );
    // Ready means the SVID and the first config are in.
    for (let i = 0; ; i++) {
      const r = await sb.sh(`ip netns exec client ${PROBE} http-get 127.0.0.1 15000 /ready`);
      if (r.stdout.includes(`"status":200`)) break;
      if (i > 200) throw new Error(`the sidecar never got ready: ${r.stdout}${r.stderr}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  });

  for (const [clusterIP, backend] of [
    ["10.96.0.10", "alpha"],
    ["10.96.0.11", "beta"],
  ] as const) {
    it(`a connection to ${clusterIP}:${PORT} goes through the sidecar to ${backend}`, async () => {
      const out = await sb.must(`ip netns exec client ${PROBE} connect ${clusterIP} ${PORT}`);
      assert.deepEqual(JSON.parse(out.trim()), { server: backend });
    });
  }

  it("without the sidecar's rules the ClusterIP leads nowhere (it is the sidecar that routes)", async () => {
    const out = await sb.must(`${PROBE} connect 10.96.0.11 ${PORT}`);
    assert.ok("error" in JSON.parse(out.trim()), out);
  });
});
