// The querier's memory over the dashboard suite of bench/store_memory_vs_prometheus.ts (issue 19,
// goal 3), without Prometheus: one store gateway over a kept bucket, and per variant a querier of
// another checkout, alternating, so a querier change compares with its baseline in one run. Prints
// the querier's RSS idle, its peak per query (VmHWM reset before each) and after the suite, and
// each query's wall time. Never asserts.
//
//   deno run -A bench/querier_memory.ts --bucket=<dir> [--roots=<checkout>|<checkout>]
//       [--rounds=2] [--hours=24] [--end=<s>] [--repeats=1] [--per-query] [--log=<regex>]
//
// --bucket: a bucket written by store_memory_vs_prometheus.ts --data (e.g.
//   <data>/scale1-9910x24h); --end defaults to its newest sample minus 60 s, as that bench.
// --roots: checkouts whose main.ts runs the querier ("." = this one); the store is this one's.
// --log: print the querier's log lines matching this regex after each round (debug builds).

import { parseArgs } from "node:util";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";
import { fsConfig } from "../tests/helpers/compact_bucket.ts";
import { TempDirs } from "../tests/helpers/tmp.ts";
import { T0 } from "../tests/helpers/query_e2e.ts";
import { MEMORY_SUITE_EXPRS } from "./memory_suite.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    bucket: { type: "string" },
    roots: { type: "string", default: "." },
    rounds: { type: "string", default: "1" },
    hours: { type: "string", default: "24" },
    end: { type: "string" },
    repeats: { type: "string", default: "1" },
    "per-query": { type: "boolean", default: false },
    log: { type: "string" },
  },
});
if (!values.bucket) throw new Error("--bucket=<dir> is required");
const HOURS = Number(values.hours);
const END = values.end ? Number(values.end) : (T0 + HOURS * 3_600_000) / 1000 - 60;
const ROOT = new URL("../", import.meta.url).pathname;
const roots = values.roots.split("|").map((r) => (r === "." ? ROOT : r.replace(/\/?$/, "/")));

/** The same expressions as store_memory_vs_prometheus.ts's suite. */
const EXPRS = MEMORY_SUITE_EXPRS;

function suite(): { name: string; path: string }[] {
  const q = encodeURIComponent;
  const out = EXPRS.map((e) => ({ name: `instant ${e}`, path: `query?query=${q(e)}&time=${END}` }));
  for (const h of [6, HOURS]) {
    const step = Math.max(15, Math.round(h * 3600 / 720));
    for (const e of EXPRS) {
      out.push({
        name: `range ${h}h ${e}`,
        path: `query_range?query=${q(e)}&start=${END - h * 3600}&end=${END}&step=${step}`,
      });
    }
  }
  return out;
}

function status(pid: number): { rss: number; hwm: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rss: kib("VmRSS") / 1024, hwm: kib("VmHWM") / 1024 };
}
const f0 = (n: number) => n.toFixed(0);

const dirs = new TempDirs();
const store = await startComponent("store", [
  `--objstore.config=${fsConfig(values.bucket)}`,
  `--data-dir=${await dirs.make()}`,
  "--log.level=warn",
], { timeoutMs: 600_000 });
const digests = new Map<string, string>();
try {
  // the store's caches warm once, before any querier is measured
  const warm = await startComponent("query", ["--log.level=warn", `--store=${store.grpc}`], {
    name: "warm",
  });
  try {
    await ready(warm);
    for (const { path } of suite()) await (await fetch(`${warm.http}/api/v1/${path}`)).text();
  } finally {
    await warm.stop();
  }
  const sums = roots.map(() => ({
    idle: [] as number[],
    peak: [] as number[],
    ms: [] as number[],
  }));
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [i, root] of roots.entries()) {
      const q = await startComponent("query", ["--log.level=warn", `--store=${store.grpc}`], {
        name: `querier ${i}`,
        main: `${root}main.ts`,
      });
      try {
        await ready(q);
        await new Promise((res) => setTimeout(res, 2000));
        const pid = q.child.pid;
        const idle = status(pid).rss;
        let peak = status(pid).hwm;
        let ms = 0;
        for (const { name, path } of suite()) {
          if (values["per-query"]) {
            peak = Math.max(peak, status(pid).hwm);
            Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
          }
          const t = performance.now();
          let body = "";
          for (let k = 0; k < Number(values.repeats); k++) {
            body = await (await fetch(`${q.http}/api/v1/${path}`)).text();
          }
          const took = (performance.now() - t) / Number(values.repeats);
          ms += took;
          const digest = await sha(body);
          const same = digests.get(path) ?? digest;
          digests.set(path, same);
          if (values["per-query"] || same !== digest) {
            console.log(
              `  [${i}] ${f0(status(pid).hwm).padStart(4)} MiB ${took.toFixed(0).padStart(5)} ms ${
                name.slice(0, 90)
              }${same === digest ? "" : "  DIFFERENT ANSWER"}`,
            );
          }
        }
        peak = Math.max(peak, status(pid).hwm);
        const after = status(pid).rss;
        console.log(
          `round ${r} [${i}] ${root}: querier idle ${f0(idle)} MiB, peak ${f0(peak)}, after ${
            f0(after)
          }; suite ${f0(ms)} ms`,
        );
        sums[i].idle.push(idle);
        sums[i].peak.push(peak);
        sums[i].ms.push(ms);
        if (values.log) {
          const re = new RegExp(values.log);
          for (const l of q.logs().split("\n")) if (re.test(l)) console.log(`    ${l}`);
        }
      } finally {
        await q.stop();
      }
    }
  }
  for (const [i, root] of roots.entries()) {
    const s = sums[i];
    console.log(
      `[${i}] ${root}: idle ${s.idle.map(f0).join(" / ")} MiB, peak ${
        s.peak.map(f0).join(" / ")
      } MiB, suite ${s.ms.map(f0).join(" / ")} ms`,
    );
  }
} finally {
  await store.stop();
  await dirs.cleanup();
}

async function ready(q: ThanosProc): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = await (await fetch(`${q.http}/api/v1/labels`)).json();
    if (r.data?.length) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error("the querier never saw the store's labels");
}

async function sha(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}
