// trellis-cni on real network namespaces, chained after the reference CNI plugins
// (bridge + host-local), inside a throw-away user+net+mount+pid namespace sandbox.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Annotation } from "../../cni-redirect/redirect-config.js";
import { bridgeConf, CNI_BIN } from "../helpers/cni.js";
import { repoRoot, Sandbox } from "../helpers/sandbox.js";

const PLUGIN = join(repoRoot, "cni-redirect", "bin", "trellis-cni");
const PROBE = `${process.execPath} ${join(repoRoot, "dist", "test", "helpers", "netprobe.js")}`;
const GATEWAY = "10.244.1.1";
const CLUSTER_IP = "10.96.0.10";

interface Pod {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  readonly prevResult: Record<string, unknown>;
  readonly conf: Record<string, unknown>;
}

let sb: Sandbox;

/** Runs a CNI plugin inside the sandbox; returns exit status and parsed stdout. */
async function cni(
  plugin: string,
  command: string,
  conf: object,
  env: Record<string, string> = {},
) {
  const vars = { CNI_COMMAND: command, CNI_IFNAME: "eth0", CNI_PATH: CNI_BIN, ...env };
  const prefix = Object.entries(vars)
    .map(([k, v]) => `${k}='${v}'`)
    .join(" ");
  const r = await sb.sh(`env ${prefix} ${plugin}`, JSON.stringify(conf));
  let json: Record<string, unknown> = {};
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : {};
  } catch {
    throw new Error(`${plugin} ${command} printed no JSON: ${r.stdout}${r.stderr}`);
  }
  return { status: r.status, json, stderr: r.stderr };
}

const podEnv = (pod: { name: string; netns: string }) => ({
  CNI_CONTAINERID: pod.name,
  CNI_NETNS: pod.netns,
  CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.name}`,
});

function trellisConf(prevResult: object, annotations: Record<string, string>, extra: object = {}) {
  return {
    cniVersion: "1.0.0",
    name: "lab",
    type: "trellis-cni",
    prevResult,
    runtimeConfig: { "io.kubernetes.cri.pod-annotations": annotations },
    ...extra,
  };
}

/** A pod netns with eth0 on the bridge (the reference plugins), then trellis-cni chained. */
async function createPod(
  name: string,
  annotations: Record<string, string>,
  extra: object = {},
): Promise<Pod & { added: Awaited<ReturnType<typeof cni>> }> {
  const netns = `/run/netns/${name}`;
  // What the runtime does first with the reference loopback plugin.
  await sb.must(`ip netns add ${name} && ip -n ${name} link set lo up`);
  const bridge = await cni(join(CNI_BIN, "bridge"), "ADD", bridgeConf(), podEnv({ name, netns }));
  assert.equal(bridge.status, 0, `bridge ADD: ${JSON.stringify(bridge.json)} ${bridge.stderr}`);
  const ip = ((bridge.json.ips as { address: string }[])[0]?.address ?? "").split("/")[0] ?? "";
  const conf = trellisConf(bridge.json, annotations, extra);
  const added = await cni(PLUGIN, "ADD", conf, podEnv({ name, netns }));
  return { name, netns, ip, prevResult: bridge.json, conf, added };
}

const inPod = (pod: Pod, cmd: string) => `nsenter --net=${pod.netns} ${cmd}`;

async function connect(
  from: Pod | "node",
  host: string,
  port: number,
  mark?: number,
): Promise<Record<string, unknown>> {
  const cmd = `${PROBE} connect ${host} ${port}${mark === undefined ? "" : ` ${mark}`}`;
  const out = await sb.must(from === "node" ? cmd : inPod(from, cmd));
  return JSON.parse(out.trim() || "{}");
}

const MESHED = { [Annotation.inject]: "true" };

describe("trellis-cni in network namespaces", () => {
  let pod: Pod;
  after(() => sb?.close());
  before(async () => {
    sb = await Sandbox.start();
    pod = await createPod("web", MESHED);
    await sb.background("web-sidecar", inPod(pod, `${PROBE} serve`));
    await sb.background("node-server", `${PROBE} server ${GATEWAY} 7070 node`);
  });

  it("ADD passes prevResult through unchanged", async () => {
    const again = await createPod("probe-prev", MESHED);
    assert.equal(again.added.status, 0, JSON.stringify(again.added.json));
    assert.deepEqual(again.added.json, again.prevResult);
  });

  it("an outbound connection to any IP:port arrives at :15001 with its original destination", async () => {
    assert.deepEqual(await connect(pod, CLUSTER_IP, 80), {
      listener: "outbound",
      original: { address: CLUSTER_IP, port: 80, family: 4 },
      remote: pod.ip,
    });
    const other = await connect(pod, "203.0.113.7", 5432);
    assert.deepEqual(other.original, { address: "203.0.113.7", port: 5432, family: 4 });
  });

  it("an inbound connection to the pod IP arrives at :15006 with its original destination", async () => {
    const r = await connect("node", pod.ip, 8080);
    assert.equal(r.listener, "inbound");
    assert.deepEqual(r.original, { address: pod.ip, port: 8080, family: 4 });
    assert.equal(r.remote, GATEWAY);
  });

  it("traffic carrying the sidecar's mark goes straight out; unmarked traffic does not", async () => {
    assert.deepEqual(await connect(pod, GATEWAY, 7070, 0x539), { server: "node" });
    const unmarked = await connect(pod, GATEWAY, 7070);
    assert.equal(unmarked.listener, "outbound");
  });

  it("loopback traffic and the sidecar's own ports are not redirected", async () => {
    assert.equal((await connect(pod, "127.0.0.1", 9090)).listener, "app");
    // Inbound to the sidecar's own ports reaches them as addressed, not :15006.
    const direct = await connect("node", pod.ip, 15001);
    assert.equal(direct.listener, "outbound");
    assert.deepEqual(direct.original, { address: pod.ip, port: 15001, family: 4 });
  });

  it("excluded outbound ports, CIDRs and inbound ports are honoured", async () => {
    // A second node address, for the excluded range.
    await sb.must("ip addr add 10.244.1.254/24 dev cni0");
    await sb.background("node-server-2", `${PROBE} server 10.244.1.254 7071 excluded-range`);
    const p = await createPod("excl", {
      ...MESHED,
      [Annotation.excludeOutboundPorts]: "7070",
      [Annotation.excludeOutboundIpRanges]: "10.244.1.254/32",
      [Annotation.excludeInboundPorts]: "8081",
    });
    assert.equal(p.added.status, 0, JSON.stringify(p.added.json));
    await sb.background("excl-sidecar", inPod(p, `${PROBE} serve`));
    assert.deepEqual(await connect(p, GATEWAY, 7070), { server: "node" });
    assert.deepEqual(await connect(p, "10.244.1.254", 7071), { server: "excluded-range" });
    assert.equal(
      (await connect(p, GATEWAY, 7071)).listener,
      "outbound",
      "only the excluded port and range pass",
    );
    assert.equal((await connect(p, CLUSTER_IP, 80)).listener, "outbound");
    assert.deepEqual(
      await connect("node", p.ip, 8081),
      { error: "ECONNREFUSED" },
      "excluded inbound port: not redirected",
    );
    assert.equal((await connect("node", p.ip, 8082)).listener, "inbound");
  });

  it("CHECK passes after ADD and reports a deleted rule with code 100", async () => {
    const p = await createPod("check", MESHED);
    assert.equal((await cni(PLUGIN, "CHECK", p.conf, podEnv(p))).status, 0);
    const listing = await sb.must(inPod(p, "nft -a list chain inet trellis outbound"));
    const handle = listing.match(/meta skuid 1337 return # handle (\d+)/)?.[1];
    assert.ok(handle, listing);
    await sb.must(inPod(p, `nft delete rule inet trellis outbound handle ${handle}`));
    const check = await cni(PLUGIN, "CHECK", p.conf, podEnv(p));
    assert.equal(check.status, 1);
    assert.equal(check.json.code, 100);
    assert.match(String(check.json.details), /missing: meta skuid 1337 return/);
  });

  it("DEL removes the rules; a second DEL succeeds, and so does DEL after the netns is gone", async () => {
    const p = await createPod("del", MESHED);
    await sb.background("del-sidecar", inPod(p, `${PROBE} serve`));
    assert.equal((await connect(p, CLUSTER_IP, 80)).listener, "outbound");
    assert.equal((await cni(PLUGIN, "DEL", p.conf, podEnv(p))).status, 0);
    assert.equal(await sb.must(inPod(p, "nft list tables")), "");
    assert.notEqual((await connect(p, CLUSTER_IP, 80)).listener, "outbound");
    assert.equal((await cni(PLUGIN, "DEL", p.conf, podEnv(p))).status, 0);
    const check = await cni(PLUGIN, "CHECK", p.conf, podEnv(p));
    assert.equal(check.json.code, 100, "CHECK notices the rules are gone");
    await sb.must(`ip netns del ${p.name}`);
    assert.equal((await cni(PLUGIN, "DEL", p.conf, podEnv(p))).status, 0);
    assert.equal((await cni(PLUGIN, "DEL", p.conf, { ...podEnv(p), CNI_NETNS: "" })).status, 0);
  });

  it("a pod that is not meshed gets no rules, and its prevResult passes through", async () => {
    const p = await createPod("plain", {});
    assert.equal(p.added.status, 0);
    assert.deepEqual(p.added.json, p.prevResult);
    assert.equal(await sb.must(inPod(p, "nft list tables")), "");
  });

  it("a pod with a bad annotation fails ADD with code 7 and is left with no rules", async () => {
    const p = await createPod("bad", {
      ...MESHED,
      [Annotation.excludeInboundPorts]: "8080,not-a-port",
    });
    assert.equal(p.added.status, 1);
    assert.equal(p.added.json.code, 7);
    assert.equal(await sb.must(inPod(p, "nft list tables")), "");
  });

  it("iptables mode: redirects, CHECKs, and DEL leaves nothing", async () => {
    const p = await createPod("ipt", MESHED, { redirectMode: "iptables" });
    assert.equal(p.added.status, 0, JSON.stringify(p.added.json));
    await sb.background("ipt-sidecar", inPod(p, `${PROBE} serve`));
    assert.deepEqual((await connect(p, CLUSTER_IP, 80)).original, {
      address: CLUSTER_IP,
      port: 80,
      family: 4,
    });
    assert.equal((await connect("node", p.ip, 8080)).listener, "inbound");
    assert.deepEqual(await connect(p, GATEWAY, 7070, 0x539), { server: "node" });
    assert.equal((await cni(PLUGIN, "CHECK", p.conf, podEnv(p))).status, 0);
    assert.equal(
      (await cni(PLUGIN, "ADD", p.conf, podEnv(p))).status,
      0,
      "ADD again replaces, not duplicates",
    );
    assert.equal((await cni(PLUGIN, "CHECK", p.conf, podEnv(p))).status, 0);
    await sb.must(inPod(p, "iptables -t nat -D TRELLIS_OUTPUT -o lo -j RETURN"));
    const check = await cni(PLUGIN, "CHECK", p.conf, podEnv(p));
    assert.equal(check.json.code, 100);
    assert.equal((await cni(PLUGIN, "DEL", p.conf, podEnv(p))).status, 0);
    for (const save of ["iptables-save", "ip6tables-save"]) {
      assert.doesNotMatch(await sb.must(inPod(p, `${save} -t nat`)), /TRELLIS/);
    }
    assert.equal((await cni(PLUGIN, "DEL", p.conf, podEnv(p))).status, 0);
  });

  it("trellis redirect init (init-container mode) writes the same rules; remove takes them away", async () => {
    // A pod netns with a default route (a bare veth): the init container shares it.
    await sb.must(
      "ip netns add initpod && ip -n initpod link set lo up && ip link add initv type veth peer name eth0 netns initpod && ip -n initpod addr add 10.250.0.2/24 dev eth0 && ip -n initpod link set eth0 up && ip -n initpod route add default dev eth0",
    );
    const p = { name: "initpod", netns: "/run/netns/initpod", ip: "", prevResult: {}, conf: {} };
    const trellis = `${process.execPath} ${join(repoRoot, "bin", "trellis.js")}`;
    const out = await sb.must(inPod(p, `${trellis} redirect init --exclude-outbound-ports 7070`));
    assert.match(out, /redirect rules written \(nftables\)/);
    const listed = await sb.must(inPod(p, "nft list table inet trellis"));
    const dry = await sb.must(
      inPod(p, `${trellis} redirect init --exclude-outbound-ports 7070 --dry-run`),
    );
    assert.equal(listed, `${dry.slice(dry.indexOf("table inet trellis {")).trimEnd()}\n`);
    await sb.background("initpod-sidecar", inPod(p, `${PROBE} serve`));
    assert.deepEqual((await connect(p, CLUSTER_IP, 443)).original, {
      address: CLUSTER_IP,
      port: 443,
      family: 4,
    });
    await sb.must(inPod(p, `${trellis} redirect remove`));
    assert.equal(await sb.must(inPod(p, "nft list tables")), "");
  });

  it("every golden rule set is what nft and iptables-save list back (so CHECK can compare)", async () => {
    await sb.must("ip netns add golden");
    const dir = join(repoRoot, "test", "cni-redirect", "golden");
    for (const file of readdirSync(dir).sort()) {
      const text = readFileSync(join(dir, file), "utf8");
      if (file.endsWith(".nft")) {
        await sb.must("nsenter --net=/run/netns/golden nft -f -", text);
        const listed = await sb.must("nsenter --net=/run/netns/golden nft list table inet trellis");
        assert.equal(listed, text.slice(text.indexOf("table inet trellis {")), file);
      } else {
        const tool = file.includes("ipv6") ? "ip6tables" : "iptables";
        await sb.must(`nsenter --net=/run/netns/golden ${tool}-restore --noflush`, text);
        const saved = (await sb.must(`nsenter --net=/run/netns/golden ${tool}-save -t nat`))
          .split("\n")
          .filter((l) => /^-A /.test(l));
        assert.deepEqual(
          saved,
          text.split("\n").filter((l) => /^-A /.test(l)),
          file,
        );
        await sb.must(
          `nsenter --net=/run/netns/golden ${tool} -t nat -F && nsenter --net=/run/netns/golden ${tool} -t nat -X`,
        );
      }
    }
  });

  it("a failed replacement leaves the existing table whole (nft -f is one transaction)", async () => {
    const p = await createPod("atomic", MESHED);
    const broken = `add table inet trellis\ndelete table inet trellis\ntable inet trellis {\n\tchain outbound {\n\t\tmeta l4proto tcp redirect to :15001\n\t\tthis is not nft\n\t}\n}\n`;
    const r = await sb.sh(inPod(p, "nft -f -"), broken);
    assert.notEqual(r.status, 0);
    assert.equal(
      (await cni(PLUGIN, "CHECK", p.conf, podEnv(p))).status,
      0,
      "the table ADD wrote is untouched",
    );
  });
});
