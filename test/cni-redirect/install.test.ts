// The trellis-cni installer against CNI configuration files as kindnet, Calico, Flannel
// and CRI-O really write them (fixtures/README.md says from where): what install adds,
// that it is idempotent, and that uninstall gives the node back byte for byte, or keeps
// a third party's later edit. Then `trellis cni` as the DaemonSet runs it, in-process.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { cniCommand } from "../../cli/cni.js";
import { type Command, dispatch, UsageError } from "../../cli/command.js";
import {
  addTrellisPlugin,
  chooseConfFile,
  defaultEntry,
  InstallError,
  isUntouchedInstall,
  removeTrellisPlugin,
  TRELLIS_CNI_TYPE,
} from "../../cni-redirect/install.js";
import { type InstallAction, installCni, uninstallCni } from "../../cni-redirect/installer.js";
import { repoRoot } from "../helpers/sandbox.js";
import { tempDir } from "../helpers/tmp.js";

// From dist/ (npm test) the checkout is repoRoot; from an outDir elsewhere, the cwd.
const FIXTURES = [repoRoot, process.cwd()]
  .map((root) => join(root, "test", "cni-redirect", "fixtures"))
  .find((dir) => existsSync(join(dir, "10-kindnet.conflist"))) as string;

const fixture = (name: string) => readFile(join(FIXTURES, name), "utf8");
const ENTRY = defaultEntry();
const PRIMARY = {
  "10-kindnet.conflist": ["ptp", "portmap"],
  "10-calico.conflist": ["calico", "portmap"],
  "10-flannel.conflist": ["flannel", "portmap"],
} as const;

/** Every file in `dir`: name → mode and bytes. */
async function snapshot(dir: string): Promise<Record<string, { mode: number; bytes: Buffer }>> {
  const out: Record<string, { mode: number; bytes: Buffer }> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    out[name] = { mode: (await stat(path)).mode & 0o7777, bytes: await readFile(path) };
  }
  return out;
}

/** A node: a bin dir with the reference plugins, a conf dir holding `confFiles`, and our plugin. */
async function node(t: TestContext, ...confFiles: string[]) {
  const root = await tempDir(t, "trellis-cni-install-");
  const bin = join(root, "opt-cni-bin");
  const conf = join(root, "etc-cni-net.d");
  const image = join(root, "image");
  for (const d of [bin, conf, image]) await mkdir(d);
  for (const name of ["ptp", "portmap", "host-local"]) {
    await writeFile(join(bin, name), `#!/bin/sh\n# stand-in for ${name}\n`, { mode: 0o755 });
  }
  for (const name of confFiles) {
    await copyFile(join(FIXTURES, name), join(conf, name));
    await chmod(join(conf, name), 0o644);
  }
  const plugin = join(image, TRELLIS_CNI_TYPE);
  await writeFile(plugin, "#!/usr/bin/env node\n// stand-in for the bundled plugin\n", {
    mode: 0o644, // the image's mode; install must make it executable
  });
  const pluginFiles = [{ name: TRELLIS_CNI_TYPE, source: plugin, mode: 0o755 }];
  return {
    bin,
    conf,
    plugin,
    install: (entry = ENTRY) =>
      installCni({ cniBinDir: bin, cniConfDir: conf, pluginFiles, entry }),
    uninstall: () => uninstallCni({ cniBinDir: bin, cniConfDir: conf, pluginFiles }),
    read: (name: string) => readFile(join(conf, name), "utf8"),
    json: async (name: string) =>
      JSON.parse(await readFile(join(conf, name), "utf8")) as {
        plugins: Record<string, unknown>[];
        [k: string]: unknown;
      },
  };
}

async function inodesOf(...dirs: string[]): Promise<number[]> {
  const out = [];
  for (const dir of dirs) {
    for (const name of (await readdir(dir)).sort()) out.push((await stat(join(dir, name))).ino);
  }
  return out;
}

const verbs = (actions: InstallAction[]) => actions.map((a) => a.verb);

async function expectInstallError(
  promise: Promise<unknown>,
  code: string,
  mention: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof InstallError, `expected an InstallError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, mention);
    return true;
  });
}

describe("chooseConfFile picks what containerd would", () => {
  const cases: [string[], string | undefined][] = [
    [["10-kindnet.conflist"], "10-kindnet.conflist"],
    [["calico-kubeconfig", "10-calico.conflist", "99-loopback.conf"], "10-calico.conflist"],
    [["20-b.conflist", "05-cilium.conflist", "10-a.conf"], "05-cilium.conflist"],
    [["10-x.json", "10-x.conf"], "10-x.conf"],
    [["10-x.conflist", "10-x.conf"], "10-x.conf"],
    [["a.conf", "Z.conf"], "Z.conf"], // byte order: upper case first
    [["10-kindnet.conflist.temp", "10-kindnet.conflist.tmp", "README"], undefined],
    [["10-kindnet.conflist.trellis-orig", "20-calico.conflist"], "20-calico.conflist"],
    [[".conf"], ".conf"], // Go's filepath.Ext(".conf") is ".conf"
    [[], undefined],
  ];
  for (const [names, want] of cases) {
    it(`${JSON.stringify(names)} → ${want}`, () => assert.equal(chooseConfFile(names), want));
  }
});

describe("addTrellisPlugin / removeTrellisPlugin", () => {
  for (const [name, primary] of Object.entries(PRIMARY)) {
    it(`${name}: trellis-cni last, every other field as it was`, async () => {
      const text = await fixture(name);
      const out = addTrellisPlugin(text, name, ENTRY);
      assert.ok(out.endsWith("}\n") && out.startsWith('{\n  "'), "2-space JSON, final newline");
      const before = JSON.parse(text);
      const after = JSON.parse(out);
      assert.deepEqual(
        after.plugins.map((p: { type: string }) => p.type),
        [...primary, TRELLIS_CNI_TYPE],
      );
      assert.deepEqual(after.plugins.at(-1), ENTRY);
      assert.deepEqual({ ...after, plugins: after.plugins.slice(0, -1) }, before);
      assert.deepEqual(Object.keys(after), Object.keys(before), "top-level keys keep their order");
      assert.deepEqual(JSON.parse(removeTrellisPlugin(out, name)), before);
    });
  }

  it("is idempotent, and replaces an existing entry where it stands", async () => {
    const text = await fixture("10-kindnet.conflist");
    const once = addTrellisPlugin(text, "k", ENTRY);
    assert.equal(addTrellisPlugin(once, "k", ENTRY), once);
    const conf = JSON.parse(text);
    conf.plugins.splice(1, 0, { type: TRELLIS_CNI_TYPE, redirectMode: "nftables" });
    conf.plugins.push({ type: TRELLIS_CNI_TYPE, stale: true });
    const replaced = JSON.parse(addTrellisPlugin(JSON.stringify(conf), "k", ENTRY));
    assert.deepEqual(
      replaced.plugins.map((p: { type: string }) => p.type),
      ["ptp", TRELLIS_CNI_TYPE, "portmap"],
    );
    assert.deepEqual(replaced.plugins[1], ENTRY);
  });

  it("lifts a single-plugin .conf into a list", async () => {
    const text = await fixture("10-crio-bridge.conf");
    const { cniVersion, name, ...bridge } = JSON.parse(text);
    const out = JSON.parse(addTrellisPlugin(text, "10-crio-bridge.conf", ENTRY));
    assert.deepEqual(out, { cniVersion, name, plugins: [bridge, ENTRY] });
  });

  it("leaves a file without trellis-cni exactly as it is", async () => {
    for (const name of [...Object.keys(PRIMARY), "10-crio-bridge.conf"]) {
      const text = await fixture(name);
      assert.equal(removeTrellisPlugin(text, name), text);
    }
  });

  const invalid: [string, string, RegExp][] = [
    ["the CRI-O file with trailing commas", "", /not JSON/],
    ["a list", "[]", /not a JSON object/],
    ["no plugins", '{"cniVersion":"0.3.1","name":"n","plugins":[]}', /no primary plugin/],
    ["plugins not a list", '{"cniVersion":"0.3.1","name":"n","plugins":{}}', /not a list/],
    ["a plugin without type", '{"cniVersion":"0.3.1","name":"n","plugins":[{}]}', /plugins\[0\]/],
    ["neither shape", '{"cniVersion":"0.3.1","name":"n"}', /neither "plugins".*nor "type"/],
    ["no name", '{"cniVersion":"0.3.1","type":"bridge"}', /no network name/],
    ["CNI 0.2.0 (no chaining)", '{"cniVersion":"0.2.0","name":"n","type":"bridge"}', /0\.2\.0/],
    [
      "only trellis-cni",
      '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"trellis-cni"}]}',
      /no primary plugin/,
    ],
  ];
  for (const [what, text, why] of invalid) {
    it(`CONFLIST_INVALID naming the file: ${what}`, async () => {
      const body = text || (await fixture("11-crio-ipv4-bridge.conf"));
      assert.throws(
        () => addTrellisPlugin(body, "11-crio-ipv4-bridge.conf", ENTRY),
        (err: unknown) =>
          err instanceof InstallError &&
          err.code === "CONFLIST_INVALID" &&
          err.message.startsWith("11-crio-ipv4-bridge.conf: ") &&
          why.test(err.message),
      );
    });
  }

  it("isUntouchedInstall: true for our own output whatever the entry, false after any other edit", async () => {
    const text = await fixture("10-calico.conflist");
    const name = "10-calico.conflist";
    const nft = addTrellisPlugin(text, name, defaultEntry({ redirectMode: "nftables" }));
    assert.equal(isUntouchedInstall(nft, name, text, name), true);
    assert.equal(
      isUntouchedInstall(nft.replace('"snat": true', '"snat": false'), name, text, name),
      false,
    );
    assert.equal(isUntouchedInstall(text, name, text, name), false, "no entry: not an install");
    assert.equal(isUntouchedInstall("{", name, text, name), false);
  });
});

describe("installCni / uninstallCni on a node's directories", () => {
  for (const name of Object.keys(PRIMARY)) {
    it(`${name}: install chains trellis-cni, uninstall gives back the same bytes and modes`, async (t) => {
      const n = await node(t, name);
      if (name === "10-calico.conflist") await writeFile(join(n.conf, "calico-kubeconfig"), "x");
      const before = { bin: await snapshot(n.bin), conf: await snapshot(n.conf) };

      const actions = await n.install();
      assert.deepEqual(verbs(actions), ["copied", "saved", "wrote"]);
      const installed = await n.json(name);
      assert.equal(installed.plugins.at(-1)?.type, TRELLIS_CNI_TYPE);
      assert.equal(await n.read(`${name}.trellis-orig`), await fixture(name));
      assert.equal(
        await readFile(join(n.bin, TRELLIS_CNI_TYPE), "utf8"),
        await readFile(n.plugin, "utf8"),
      );
      assert.equal((await stat(join(n.bin, TRELLIS_CNI_TYPE))).mode & 0o777, 0o755);
      assert.equal((await stat(join(n.conf, name))).mode & 0o777, 0o644);

      await n.uninstall();
      assert.deepEqual({ bin: await snapshot(n.bin), conf: await snapshot(n.conf) }, before);
    });
  }

  it("a second install changes nothing, byte for byte", async (t) => {
    const n = await node(t, "10-kindnet.conflist");
    await n.install();
    const first = { bin: await snapshot(n.bin), conf: await snapshot(n.conf) };
    const inodes = await inodesOf(n.bin, n.conf);
    const again = await n.install();
    assert.deepEqual(verbs(again), ["unchanged", "unchanged"]);
    assert.deepEqual({ bin: await snapshot(n.bin), conf: await snapshot(n.conf) }, first);
    assert.deepEqual(await inodesOf(n.bin, n.conf), inodes, "not even rewritten in place");
  });

  it("under a restrictive umask the plugin is still executable and the file keeps its mode", async (t) => {
    const n = await node(t, "10-crio-bridge.conf");
    const umask = process.umask(0o077);
    t.after(() => process.umask(umask));
    await n.install();
    assert.equal((await stat(join(n.bin, TRELLIS_CNI_TYPE))).mode & 0o777, 0o755);
    assert.equal((await stat(join(n.conf, "10-crio-bridge.conflist"))).mode & 0o777, 0o644);
    assert.equal(
      (await stat(join(n.conf, "10-crio-bridge.conf.trellis-orig"))).mode & 0o777,
      0o644,
    );
  });

  it("install with other settings replaces our entry and keeps the first backup", async (t) => {
    const n = await node(t, "10-flannel.conflist");
    await n.install();
    await n.install(defaultEntry({ redirectMode: "nftables", excludeNamespaces: ["a", "b"] }));
    const conf = await n.json("10-flannel.conflist");
    assert.deepEqual(
      conf.plugins.map((p) => p.type),
      ["flannel", "portmap", TRELLIS_CNI_TYPE],
    );
    assert.equal(conf.plugins[2]?.redirectMode, "nftables");
    assert.equal(
      await n.read("10-flannel.conflist.trellis-orig"),
      await fixture("10-flannel.conflist"),
    );
    await n.uninstall();
    assert.equal(await n.read("10-flannel.conflist"), await fixture("10-flannel.conflist"));
  });

  it("a .conf becomes a .conflist, and uninstall brings the .conf back", async (t) => {
    const n = await node(t, "10-crio-bridge.conf");
    const before = await snapshot(n.conf);
    await n.install();
    assert.deepEqual(Object.keys(await snapshot(n.conf)), [
      "10-crio-bridge.conf.trellis-orig",
      "10-crio-bridge.conflist",
    ]);
    const list = await n.json("10-crio-bridge.conflist");
    assert.deepEqual(
      list.plugins.map((p) => p.type),
      ["bridge", TRELLIS_CNI_TYPE],
    );
    assert.deepEqual(verbs(await n.install()), ["unchanged", "unchanged"], "idempotent too");
    await n.install(defaultEntry({ redirectMode: "nftables" }));
    assert.deepEqual(
      Object.keys(await snapshot(n.conf)),
      ["10-crio-bridge.conf.trellis-orig", "10-crio-bridge.conflist"],
      "our own output is never taken for an original",
    );
    await n.uninstall();
    assert.deepEqual(await snapshot(n.conf), before);
  });

  it("a .conf written again by its plugin after install is kept; our converted copy goes", async (t) => {
    const n = await node(t, "10-crio-bridge.conf");
    await n.install();
    const rewritten = (await fixture("10-crio-bridge.conf")).replace(
      "10.88.0.0/16",
      "10.89.0.0/16",
    );
    await writeFile(join(n.conf, "10-crio-bridge.conf"), rewritten);
    await n.uninstall();
    assert.deepEqual(Object.keys(await snapshot(n.conf)), ["10-crio-bridge.conf"]);
    assert.equal(await n.read("10-crio-bridge.conf"), rewritten);
  });

  it("uninstall after a third party edited the file takes out only our entry", async (t) => {
    const n = await node(t, "10-kindnet.conflist");
    await n.install();
    const edited = await n.json("10-kindnet.conflist");
    edited.plugins[0] = { ...edited.plugins[0], mtu: 1400 }; // e.g. a new MTU
    edited.plugins.splice(1, 0, { type: "bandwidth", capabilities: { bandwidth: true } });
    await writeFile(join(n.conf, "10-kindnet.conflist"), JSON.stringify(edited, null, 2));

    await n.uninstall();
    const after = await n.json("10-kindnet.conflist");
    assert.deepEqual(
      after.plugins.map((p) => p.type),
      ["ptp", "bandwidth", "portmap"],
    );
    assert.equal(after.plugins[0]?.mtu, 1400);
    assert.deepEqual(Object.keys(await snapshot(n.conf)), ["10-kindnet.conflist"], "backup gone");
    assert.equal(existsSync(join(n.bin, TRELLIS_CNI_TYPE)), false);
    assert.equal(existsSync(join(n.bin, "ptp")), true, "other plugins stay");
  });

  it("kindnetd rewriting its file drops our entry; install puts it back; uninstall restores kindnet's bytes", async (t) => {
    const n = await node(t, "10-kindnet.conflist");
    await n.install();
    await copyFile(join(FIXTURES, "10-kindnet.conflist"), join(n.conf, "10-kindnet.conflist"));
    const again = await n.install();
    assert.deepEqual(verbs(again), ["unchanged", "wrote"], "the backup is already there");
    assert.equal((await n.json("10-kindnet.conflist")).plugins.at(-1)?.type, TRELLIS_CNI_TYPE);
    await n.uninstall();
    assert.equal(await n.read("10-kindnet.conflist"), await fixture("10-kindnet.conflist"));
  });

  it("invalid JSON: CONFLIST_INVALID naming the file, and nothing on the node changes", async (t) => {
    const n = await node(t, "11-crio-ipv4-bridge.conf");
    const before = { bin: await snapshot(n.bin), conf: await snapshot(n.conf) };
    await expectInstallError(
      n.install(),
      "CONFLIST_INVALID",
      /11-crio-ipv4-bridge\.conf: not JSON/,
    );
    assert.deepEqual({ bin: await snapshot(n.bin), conf: await snapshot(n.conf) }, before);
  });

  it("no configuration yet (or no conf dir): NO_PRIMARY_CNI, nothing copied", async (t) => {
    const n = await node(t);
    await writeFile(join(n.conf, "calico-kubeconfig"), "not a network");
    const bin = await snapshot(n.bin);
    await expectInstallError(
      n.install(),
      "NO_PRIMARY_CNI",
      /no CNI network configuration in .*etc-cni-net\.d/,
    );
    await expectInstallError(
      installCni({
        cniBinDir: n.bin,
        cniConfDir: join(n.conf, "missing"),
        pluginFiles: [],
        entry: ENTRY,
      }),
      "NO_PRIMARY_CNI",
      /missing/,
    );
    assert.deepEqual(await snapshot(n.bin), bin);
  });

  it("a .conflist in the way of a .conf's conversion: CONF_NAME_TAKEN, nothing changes", async (t) => {
    const n = await node(t, "10-crio-bridge.conf");
    await copyFile(join(FIXTURES, "10-flannel.conflist"), join(n.conf, "10-crio-bridge.conflist"));
    const before = await snapshot(n.conf);
    await expectInstallError(
      n.install(),
      "CONF_NAME_TAKEN",
      /10-crio-bridge\.conflist already exists/,
    );
    assert.deepEqual(await snapshot(n.conf), before);
  });

  it("uninstall with nothing installed succeeds and changes nothing", async (t) => {
    const n = await node(
      t,
      "10-calico.conflist",
      "10-crio-bridge.conf",
      "11-crio-ipv4-bridge.conf",
    );
    const before = { bin: await snapshot(n.bin), conf: await snapshot(n.conf) };
    assert.deepEqual(await n.uninstall(), []);
    assert.deepEqual({ bin: await snapshot(n.bin), conf: await snapshot(n.conf) }, before);
  });
});

describe("trellis cni (in-process, as the DaemonSet runs it)", () => {
  const root: Command = { name: "trellis", summary: "", subcommands: [cniCommand] };
  const run = async (argv: string[]) => {
    const out: string[] = [];
    const code = await dispatch(root, argv, { out: (l) => out.push(l), err: (l) => out.push(l) });
    return { code, out: out.join("\n") };
  };

  it("--help lists install and uninstall", async () => {
    const { code, out } = await run(["cni", "--help"]);
    assert.equal(code, 0);
    assert.match(out, /^ {2}install /m);
    assert.match(out, /^ {2}uninstall /m);
  });

  it("install → install → uninstall, with every flag", async (t) => {
    const n = await node(t, "10-kindnet.conflist");
    const second = join(n.plugin, "..", "trellis-cni-helper");
    await writeFile(second, "helper");
    const before = { bin: await snapshot(n.bin), conf: await snapshot(n.conf) };
    const dirs = ["--cni-bin-dir", n.bin, "--cni-conf-dir", n.conf];
    const plugins = ["--plugin", n.plugin, "--plugin", second];

    const first = await run([
      "cni",
      "install",
      ...dirs,
      ...plugins,
      "--mode",
      "nftables",
      "--exclude-namespaces",
      "kube-system, istio-system",
      "--kubeconfig",
      "/etc/cni/net.d/trellis-kubeconfig",
    ]);
    assert.equal(first.code, 0, first.out);
    assert.match(
      first.out,
      /trellis-cni installed \(nftables, excluding kube-system, istio-system\)/,
    );
    assert.match(first.out, /copied .*trellis-cni-helper/);
    const entry = (await n.json("10-kindnet.conflist")).plugins.at(-1);
    assert.deepEqual(entry, {
      type: TRELLIS_CNI_TYPE,
      capabilities: { "io.kubernetes.cri.pod-annotations": true },
      redirectMode: "nftables",
      excludeNamespaces: ["kube-system", "istio-system"],
      kubernetes: { kubeconfig: "/etc/cni/net.d/trellis-kubeconfig" },
    });
    for (const name of [TRELLIS_CNI_TYPE, "trellis-cni-helper"]) {
      assert.equal((await stat(join(n.bin, name))).mode & 0o777, 0o755);
    }

    const again = await run([
      "cni",
      "install",
      ...dirs,
      ...plugins,
      "--mode",
      "nftables",
      "--exclude-namespaces",
      "kube-system,istio-system",
      "--kubeconfig",
      "/etc/cni/net.d/trellis-kubeconfig",
    ]);
    assert.match(again.out, /already installed; nothing changed/);

    const un = await run(["cni", "uninstall", ...dirs, ...plugins]);
    assert.equal(un.code, 0, un.out);
    assert.match(un.out, /restored .*10-kindnet\.conflist/);
    assert.deepEqual({ bin: await snapshot(n.bin), conf: await snapshot(n.conf) }, before);
    assert.match(
      (await run(["cni", "uninstall", ...dirs, ...plugins])).out,
      /not installed; nothing changed/,
    );
  });

  const usage: [string[], RegExp][] = [
    [["--mode", "ebpf"], /--mode must be iptables or nftables, not "ebpf"/],
    [["--exclude-namespaces", "kube-system,Team_A"], /"Team_A" is not a namespace name/],
    [["--kubeconfig", "kubeconfig"], /--kubeconfig must be an absolute path/],
    [["--plugin", "/other/trellis-cni"], /two --plugin files are both named trellis-cni/],
    [["--colour"], /Unknown option '--colour'/],
  ];
  for (const [extra, message] of usage) {
    it(`UsageError (exit 2) for ${extra.join(" ")}, and nothing changes`, async (t) => {
      const n = await node(t, "10-kindnet.conflist");
      const before = await snapshot(n.conf);
      await assert.rejects(
        run([
          "cni",
          "install",
          "--cni-bin-dir",
          n.bin,
          "--cni-conf-dir",
          n.conf,
          "--plugin",
          n.plugin,
          ...extra,
        ]),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
      );
      assert.deepEqual(await snapshot(n.conf), before);
    });
  }

  it("UsageError when --plugin is missing", async () => {
    await assert.rejects(
      run(["cni", "uninstall", "--cni-bin-dir", "/b", "--cni-conf-dir", "/c"]),
      (err: unknown) => err instanceof UsageError && /--plugin is required/.test(err.message),
    );
  });

  it("InstallError with its code reaches the caller (main prints `trellis: CODE: message`)", async (t) => {
    const n = await node(t);
    await expectInstallError(
      run([
        "cni",
        "install",
        "--cni-bin-dir",
        n.bin,
        "--cni-conf-dir",
        n.conf,
        "--plugin",
        n.plugin,
      ]),
      "NO_PRIMARY_CNI",
      /has not written its file yet/,
    );
  });
});
