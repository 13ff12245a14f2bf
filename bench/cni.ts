// `npm run bench -- cni`: how long trellis-cni takes, in a sandbox with a real pod netns,
// beside the Go reference plugin that does the most similar job (`firewall`: chained
// after bridge, writes iptables rules) and beside Node's own start-up, which every
// trellis-cni call pays before its first line runs.

import { join } from "node:path";
import { parseArgs } from "node:util";
import { Annotation } from "../cni-redirect/index.js";
import { bridgeConf, CNI_BIN } from "../test/helpers/cni.js";
import { repoRoot, Sandbox } from "../test/helpers/sandbox.js";

const PLUGIN = join(repoRoot, "cni-redirect", "bin", "trellis-cni");

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN;

export async function benchCni(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { runs: { type: "string", default: "30" } },
  });
  const runs = Number(values.runs);
  const sb = await Sandbox.start();
  try {
    const env =
      "CNI_CONTAINERID=bench CNI_NETNS=/run/netns/pod CNI_IFNAME=eth0 CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench' CNI_PATH=" +
      CNI_BIN;
    await sb.must("ip netns add pod && ip -n pod link set lo up");
    const prevResult = JSON.parse(
      await sb.must(`env CNI_COMMAND=ADD ${env} ${CNI_BIN}/bridge`, JSON.stringify(bridgeConf())),
    );
    const trellis = (mode: string) =>
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "lab",
        type: "trellis-cni",
        redirectMode: mode,
        prevResult,
        podAnnotations: { [Annotation.inject]: "true" },
      });
    const firewall = JSON.stringify({
      cniVersion: "1.0.0",
      name: "lab",
      type: "firewall",
      backend: "iptables",
      prevResult,
    });

    /** Milliseconds per call of `cmd` (stdin from `input`), timed inside the sandbox. */
    const time = async (label: string, cmd: string, input = "", after = "true") => {
      await sb.must("cat > /run/bench-input", input);
      const script = `for i in $(seq ${runs}); do s=$(date +%s%N); ${cmd} < /run/bench-input > /dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); ${after} > /dev/null; done`;
      const ms = (await sb.must(script))
        .trim()
        .split("\n")
        .map((us) => Number(us) / 1000);
      console.log(
        `  ${label.padEnd(44)}${quantile(ms, 0.5).toFixed(1).padStart(8)} ms${quantile(ms, 0.95).toFixed(1).padStart(9)} ms`,
      );
      return quantile(ms, 0.5);
    };

    console.log(
      `bench cni: ${runs} calls each, in a sandbox netns; p50 and p95 wall time per call`,
    );
    const node = await time("node -e 0 (Node's start-up alone)", `${process.execPath} -e 0`);
    await time(
      "trellis-cni VERSION",
      `env CNI_COMMAND=VERSION ${PLUGIN}`,
      '{"cniVersion":"1.0.0"}',
    );
    const add = await time(
      "trellis-cni ADD, meshed pod, nftables",
      `env CNI_COMMAND=ADD ${env} ${PLUGIN}`,
      trellis("nftables"),
      `env CNI_COMMAND=DEL ${env} ${PLUGIN} < /run/bench-input`,
    );
    await time(
      "trellis-cni ADD, meshed pod, iptables",
      `env CNI_COMMAND=ADD ${env} ${PLUGIN}`,
      trellis("iptables"),
      `env CNI_COMMAND=DEL ${env} ${PLUGIN} < /run/bench-input`,
    );
    await time(
      "trellis-cni DEL (rules present)",
      `env CNI_COMMAND=DEL ${env} ${PLUGIN}`,
      trellis("nftables"),
      `env CNI_COMMAND=ADD ${env} ${PLUGIN} < /run/bench-input`,
    );
    const peer = await time(
      "firewall ADD (Go reference plugin, iptables)",
      `env CNI_COMMAND=ADD ${env} ${CNI_BIN}/firewall`,
      firewall,
      `env CNI_COMMAND=DEL ${env} ${CNI_BIN}/firewall < /run/bench-input`,
    );
    console.log("");
    console.log(
      `  trellis-cni ADD, its own time (ADD − Node start-up): ${(add - node).toFixed(1)} ms (goal: well under 100 ms)`,
    );
    console.log(`  trellis-cni ADD / firewall ADD: ${(add / peer).toFixed(2)}`);
    return 0;
  } finally {
    await sb.close();
  }
}
