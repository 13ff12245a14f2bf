// A preload for the sidecars of `npm run bench -- dataplane`: V8's sampling heap profiler,
// started on the first SIGUSR2 and written on the second (SIGUSR1 is Node's inspector
// signal). TRELLIS_HEAP_SAMPLE_MINOR=1 keeps the samples of objects a scavenge collected
// too; without it the profile holds only what survived scavenges. Two runs, one each way,
// compared per allocation site by heap-survival.ts, give each site a survival rate.
//
//   TRELLIS_BENCH_LOGS=DIR npm run bench -- dataplane --only trellis --protocol http1 \
//     "--sidecar-node-flags=--import=$PWD/dist/bench/heap-sample.js"
//   kill -USR2 PID (in the 1,000 rps phase); kill -USR2 PID (seconds later)
//   → /tmp/trellis-heap-PID.heapprofile (or in TRELLIS_HEAP_SAMPLE_DIR)

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";

const session = new Session();
session.connect();
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) =>
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
  );
let sampling = false;

process.on("SIGUSR2", () => {
  void (async () => {
    if (!sampling) {
      sampling = true;
      await post("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: process.env.TRELLIS_HEAP_SAMPLE_MINOR === "1",
      });
      process.stderr.write("heap-sample: started\n");
      return;
    }
    sampling = false;
    const { profile } = (await post("HeapProfiler.stopSampling")) as { profile: unknown };
    const file = join(
      process.env.TRELLIS_HEAP_SAMPLE_DIR ?? tmpdir(),
      `trellis-heap-${process.pid}.heapprofile`,
    );
    writeFileSync(file, JSON.stringify(profile));
    process.stderr.write(`heap-sample: written to ${file}\n`);
  })();
});
