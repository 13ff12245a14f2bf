// The plugin's protocol handling with the datapath replaced by a recorder (no
// privileges), and every CNI error code produced by the real executable.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Datapath, runPlugin } from "../../cni-redirect/plugin.js";
import { Annotation, type RedirectConfig } from "../../cni-redirect/redirect-config.js";
import { repoRoot } from "../helpers/sandbox.js";
import { tempDir } from "../helpers/tmp.js";

const PLUGIN = join(repoRoot, "cni-redirect", "bin", "trellis-cni");
const PREV = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: "/run/netns/x" }],
  ips: [{ address: "10.244.1.5/24", interface: 0 }],
};
const ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0",
};
const conf = (extra: object = {}) =>
  JSON.stringify({
    cniVersion: "1.0.0",
    name: "lab",
    type: "trellis-cni",
    prevResult: PREV,
    runtimeConfig: { "io.kubernetes.cri.pod-annotations": { [Annotation.inject]: "true" } },
    ...extra,
  });

function recorder() {
  const calls: { op: string; netns: string; mode: string; config?: RedirectConfig }[] = [];
  const dp: Datapath = {
    apply: (netns, mode, config) => void calls.push({ op: "apply", netns, mode, config }),
    remove: (netns, mode) => void calls.push({ op: "remove", netns, mode }),
    check: (netns, mode, config) => void calls.push({ op: "check", netns, mode, config }),
    tools: (mode) => void calls.push({ op: "tools", netns: "", mode }),
  };
  return { calls, dp };
}

describe("trellis-cni protocol", () => {
  it("ADD for a meshed pod applies the rules and prints prevResult unchanged", async () => {
    const { calls, dp } = recorder();
    const out = await runPlugin(ENV, conf(), dp);
    assert.equal(out.exitCode, 0);
    assert.deepEqual(JSON.parse(out.stdout), PREV);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.op, "apply");
    assert.equal(calls[0]?.mode, "nftables");
    assert.equal(calls[0]?.config?.outboundPort, 15001);
  });

  it("takes annotations from runtimeConfig first, then from the config's podAnnotations", async () => {
    const { calls, dp } = recorder();
    await runPlugin(
      ENV,
      conf({
        runtimeConfig: {},
        podAnnotations: { [Annotation.inject]: "true", [Annotation.captureDns]: "true" },
      }),
      dp,
    );
    assert.equal(calls[0]?.config?.captureDns, true);
    const second = recorder();
    await runPlugin(ENV, conf({ podAnnotations: { [Annotation.captureDns]: "true" } }), second.dp);
    assert.equal(second.calls[0]?.config?.captureDns, false, "runtimeConfig wins");
  });

  it("ADD for a pod that is not meshed, or not a Kubernetes pod, writes nothing", async () => {
    for (const [env, body] of [
      [ENV, conf({ runtimeConfig: { "io.kubernetes.cri.pod-annotations": {} } })],
      [{ ...ENV, CNI_ARGS: "" }, conf()],
      [{ ...ENV, CNI_ARGS: "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns" }, conf()],
    ] as const) {
      const { calls, dp } = recorder();
      const out = await runPlugin(env, body, dp);
      assert.equal(out.exitCode, 0);
      assert.deepEqual(JSON.parse(out.stdout), PREV);
      assert.deepEqual(calls, []);
    }
  });

  it("DEL always removes (annotations may be gone); with no netns there is nothing to remove", async () => {
    const { calls, dp } = recorder();
    const out = await runPlugin({ ...ENV, CNI_COMMAND: "DEL" }, conf({ runtimeConfig: {} }), dp);
    assert.deepEqual(out, { exitCode: 0, stdout: "" });
    assert.deepEqual(calls, [{ op: "remove", netns: "/run/netns/x", mode: "nftables" }]);
    const gone = recorder();
    assert.equal(
      (await runPlugin({ ...ENV, CNI_COMMAND: "DEL", CNI_NETNS: "" }, conf(), gone.dp)).exitCode,
      0,
    );
    assert.deepEqual(gone.calls, []);
  });

  it("CHECK checks meshed pods in the configured mode", async () => {
    const { calls, dp } = recorder();
    const out = await runPlugin(
      { ...ENV, CNI_COMMAND: "CHECK" },
      conf({ redirectMode: "iptables" }),
      dp,
    );
    assert.equal(out.exitCode, 0);
    assert.equal(calls[0]?.op, "check");
    assert.equal(calls[0]?.mode, "iptables");
  });

  it("STATUS and GC need CNI 1.1.0; STATUS checks the tools", async () => {
    const { calls, dp } = recorder();
    assert.equal(
      (await runPlugin({ ...ENV, CNI_COMMAND: "STATUS" }, conf({ cniVersion: "1.1.0" }), dp))
        .exitCode,
      0,
    );
    assert.equal(
      (await runPlugin({ ...ENV, CNI_COMMAND: "GC" }, conf({ cniVersion: "1.1.0" }), dp)).exitCode,
      0,
    );
    assert.deepEqual(
      calls.map((c) => c.op),
      ["tools"],
    );
    const old = await runPlugin({ ...ENV, CNI_COMMAND: "STATUS" }, conf(), dp);
    assert.equal(JSON.parse(old.stdout).code, 1);
  });

  it("accepts the CNI versions runtimes send, kindnet's 0.3.1 included", async () => {
    for (const v of ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
      assert.equal((await runPlugin(ENV, conf({ cniVersion: v }), recorder().dp)).exitCode, 0, v);
    }
  });
});

/** Runs the real executable. */
function exec(env: Record<string, string>, stdin: string) {
  const r = spawnSync(PLUGIN, [], {
    env: { PATH: process.env.PATH ?? "", ...env },
    input: stdin,
    encoding: "utf8",
  });
  return { status: r.status, json: r.stdout.trim() ? JSON.parse(r.stdout) : {} };
}

describe("trellis-cni error codes (the real executable)", () => {
  it("VERSION lists 1.0.0 and 1.1.0 among the supported versions", () => {
    const r = exec({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.1.0"}');
    assert.equal(r.status, 0);
    assert.equal(r.json.cniVersion, "1.1.0");
    for (const v of ["1.0.0", "1.1.0"]) assert.ok(r.json.supportedVersions.includes(v));
  });

  const cases: [string, number, Record<string, string>, string][] = [
    ["an unsupported version", 1, ENV, conf({ cniVersion: "9.9.9" })],
    ["no CNI_COMMAND", 4, { ...ENV, CNI_COMMAND: "" }, conf()],
    ["an unknown CNI_COMMAND", 4, { ...ENV, CNI_COMMAND: "FROB" }, conf()],
    ["ADD without CNI_NETNS", 4, { ...ENV, CNI_NETNS: "" }, conf()],
    ["a malformed CNI_ARGS", 4, { ...ENV, CNI_ARGS: "K8S_POD_NAME" }, conf()],
    ["stdin that is not JSON", 6, ENV, "{not json"],
    ["an unknown redirectMode", 7, ENV, conf({ redirectMode: "ebpf" })],
    ["no prevResult (not chained)", 7, ENV, conf({ prevResult: undefined })],
    [
      "a bad annotation",
      7,
      ENV,
      conf({
        runtimeConfig: {
          "io.kubernetes.cri.pod-annotations": {
            [Annotation.inject]: "true",
            [Annotation.excludeOutboundPorts]: "http",
          },
        },
      }),
    ],
    ["a netns that does not exist", 3, { ...ENV, CNI_NETNS: "/run/netns/does-not-exist" }, conf()],
  ];
  for (const [what, code, env, stdin] of cases) {
    it(`${what}: code ${code}, the spec's JSON on stdout, exit 1`, () => {
      const r = exec(env, stdin);
      assert.equal(r.status, 1);
      assert.equal(r.json.code, code, JSON.stringify(r.json));
      assert.equal(typeof r.json.msg, "string");
      assert.ok(r.json.msg.length > 10);
      assert.ok("cniVersion" in r.json && "details" in r.json);
    });
  }

  it("a busy kernel while writing the rules: code 11, try again", async (t) => {
    const bin = await tempDir(t);
    // Stand-ins for nsenter (run the command) and an nft that the kernel answers EBUSY.
    writeFileSync(
      join(bin, "nsenter"),
      '#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n',
    );
    writeFileSync(
      join(bin, "nft"),
      "#!/bin/sh\necho 'netlink: Error: Could not process rule: Device or resource busy' >&2\nexit 1\n",
    );
    for (const f of ["nsenter", "nft"]) chmodSync(join(bin, f), 0o755);
    const r = exec(
      { ...ENV, CNI_NETNS: "/proc/self/ns/net", PATH: `${bin}:${process.env.PATH}` },
      conf(),
    );
    assert.equal(r.status, 1);
    assert.equal(r.json.code, 11);
    assert.match(r.json.msg, /try again/);
  });

  it("STATUS when nft is not installed: code 50, plugin not available", async (t) => {
    const bin = await tempDir(t);
    symlinkSync(process.execPath, join(bin, "node"));
    writeFileSync(join(bin, "nsenter"), "#!/bin/sh\nexit 0\n");
    chmodSync(join(bin, "nsenter"), 0o755);
    const r = exec({ ...ENV, CNI_COMMAND: "STATUS", PATH: bin }, conf({ cniVersion: "1.1.0" }));
    assert.equal(r.status, 1);
    assert.equal(r.json.code, 50);
    assert.match(r.json.msg, /nft is not installed/);
  });
});
