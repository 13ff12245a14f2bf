// `npm run bench -- NAME [options]`: runs one benchmark by name.

import { benchCa } from "./ca.js";
import { benchCni } from "./cni.js";
import { benchDataplane } from "./dataplane.js";
import { benchSidecarLoopback } from "./sidecar-loopback.js";
import { benchXds } from "./xds.js";

const BENCHMARKS: Record<
  string,
  { summary: string; run: (argv: readonly string[]) => Promise<number> }
> = {
  ca: { summary: "SVIDs signed from CSRs per second vs raw ECDSA P-256 signatures", run: benchCa },
  cni: {
    summary: "trellis-cni ADD/DEL time vs the Go reference firewall plugin and Node's start-up",
    run: benchCni,
  },
  dataplane: {
    summary:
      "client → sidecar → mTLS → sidecar → app vs the same through HAProxy vs direct: latency, CPU, RSS",
    run: benchDataplane,
  },
  "sidecar-loopback": {
    summary: "what two sidecars add to an HTTP/1.1 call on loopback, vs direct (closed loop)",
    run: benchSidecarLoopback,
  },
  xds: {
    summary:
      "time until N proxies ACK one endpoint change (SotW and delta), CPU and memory per proxy",
    run: benchXds,
  },
};

const [name, ...rest] = process.argv.slice(2);
const bench = name ? BENCHMARKS[name] : undefined;
if (!bench) {
  console.error(
    `${name ? `unknown benchmark '${name}'` : "name a benchmark"}: npm run bench -- NAME\n`,
  );
  for (const [n, b] of Object.entries(BENCHMARKS)) console.error(`  ${n.padEnd(12)}${b.summary}`);
  process.exit(2);
}
process.exitCode = await bench.run(rest);
