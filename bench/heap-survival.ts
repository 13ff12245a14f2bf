// Compares two sampling heap profiles of the same workload (heap-sample.ts): ALL, taken with
// the samples of objects scavenges collected, and SURVIVED, taken without them. Prints each
// allocation site's sampled bytes, how many of them survived a scavenge, and the share —
// sites far above the rest hold what the scavenger promotes.
//
//   node dist/bench/heap-survival.js ALL.heapprofile SURVIVED.heapprofile [TOP]

import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

function bytesBySite(file: string): { sites: Map<string, number>; total: number } {
  const { head } = JSON.parse(readFileSync(file, "utf8")) as { head: ProfileNode };
  const sites = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode) => {
    if (node.selfSize > 0) {
      const f = node.callFrame;
      const url = f.url.replace(/.*\/(node_modules|dist)\//, "$1/");
      const site = `${f.functionName || "(anonymous)"} ${url}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
      sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child);
  };
  walk(head);
  return { sites, total };
}

const [allFile, survivedFile, top = "25"] = process.argv.slice(2);
if (!allFile || !survivedFile) {
  console.error("usage: heap-survival.js ALL.heapprofile SURVIVED.heapprofile [TOP]");
  process.exit(2);
}
const all = bytesBySite(allFile);
const survived = bytesBySite(survivedFile);
const kb = (n: number) => `${Math.round(n / 1024)} KB`.padStart(10);
console.log(
  `sampled ${kb(all.total)}, survived ${kb(survived.total)} (${((100 * survived.total) / all.total).toFixed(1)} %)`,
);
console.log(`${"sampled".padStart(10)} ${"survived".padStart(10)}  share  site`);
const rows = [...all.sites].map(([site, bytes]) => ({
  site,
  bytes,
  kept: survived.sites.get(site) ?? 0,
}));
rows.sort((a, b) => b.kept - a.kept);
for (const r of rows.slice(0, Number(top))) {
  console.log(
    `${kb(r.bytes)} ${kb(r.kept)} ${`${Math.round((100 * r.kept) / r.bytes)} %`.padStart(6)}  ${r.site}`,
  );
}
