// What the store gateway's V8 platform threads ("V8 DefaultWorke") do per small query (issue 19):
// starts a store + querier over a kept data directory (bench/kept_data.ts) with the caller's
// DENO_V8_FLAGS (e.g. `--trace-gc,--trace-gc-verbose` or `--trace-opt,--trace-deopt`), warms it,
// then sends `--n` queries `--pause` ms apart, prints the store's CPU per query by thread name
// (schedstat) and counts the store's trace lines of the measured window by kind; with `--log=<file>`
// the window's store log is written there. Prints, never asserts.
//
//   DENO_V8_FLAGS=--trace-gc deno run -A bench/store_v8_workers.ts --data=<dir> [--n=500]
//     [--pause=20] [--time=<unix s>] [--warm=200] [--log=<file>] <query>
//
// A query `big:<N>` is another series of the N-series block each time (bench/instant_cpu.ts).

import { bigSeriesSelector, startKeptDataPair } from "./kept_data.ts";
import { threadSchedstats } from "./cpu_profile.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const N = Number(flag("n", "500"));
const PAUSE = Number(flag("pause", "20"));
const WARM = Number(flag("warm", "200"));
const TIME = flag("time", "1700006339");
const LOG = flag("log", "");
/** With `--window=<k>`: the store's CPU by thread per window of k queries too (stderr). */
const WINDOW = Number(flag("window", "0"));
const QUERY = Deno.args.filter((a) => !a.startsWith("--"))[0] ?? "up";
if (DATA === "") {
  console.error("usage: bench/store_v8_workers.ts --data=<dir> [--n=500] [--pause=20] <query>");
  Deno.exit(2);
}

let sent = 0;
function text(): string {
  return QUERY.startsWith("big:") ? bigSeriesSelector(Number(QUERY.slice(4)), sent++) : QUERY;
}

async function get(base: string): Promise<void> {
  const params = new URLSearchParams({ query: text(), time: TIME });
  const r = await fetch(`${base}/api/v1/query?${params}`);
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  await r.body?.cancel();
}

function byName(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of threadSchedstats(pid).values()) {
    out.set(t.comm, (out.get(t.comm) ?? 0) + t.sched[0] / 1e6);
  }
  return out;
}

const { querier, store } = await startKeptDataPair(DATA, "v8w", TIME);
try {
  for (let i = 0; i < WARM; i++) await get(querier.http);
  await new Promise((r) => setTimeout(r, 200));
  const mark = Deno.args.includes("--log-all") ? 0 : store.logs().length;
  const c0 = byName(store.child.pid);
  let w0 = c0;
  for (let i = 0; i < N; i++) {
    await get(querier.http);
    if (PAUSE > 0) await new Promise((r) => setTimeout(r, PAUSE));
    if (WINDOW > 0 && (i + 1) % WINDOW === 0) {
      const w1 = byName(store.child.pid);
      const per = [...w1].map(([k, ms]) => `${k} ${((ms - (w0.get(k) ?? 0)) / WINDOW).toFixed(3)}`);
      console.error(`  queries ${i + 1 - WINDOW}–${i + 1}: ${per.join(", ")} ms/query`);
      w0 = w1;
    }
  }
  const c1 = byName(store.child.pid);
  const window = store.logs().slice(mark);
  console.log(
    `load ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}; ${N} × ${QUERY}, pause ${PAUSE} ms`,
  );
  for (const [name, ms] of c1) {
    console.log(`  store ${name}: ${((ms - (c0.get(name) ?? 0)) / N).toFixed(3)} ms/query`);
  }
  const kinds = new Map<string, number>();
  for (const line of window.split("\n")) {
    const m = line.match(/^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: (\S+(?: \S+)?)/) ??
      line.match(/^\[(\w[\w -]*?)[: ]/);
    if (m) kinds.set(m[1], (kinds.get(m[1]) ?? 0) + 1);
  }
  for (const [k, v] of [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${v}\t${k}`);
  }
  if (LOG) Deno.writeTextFileSync(LOG, window);
} finally {
  await querier.stop();
  await store.stop();
}
