// CPU per Series call of the bucket store in process, for several buckets and selectors side by
// side (issue 19, goal 4: what of a one-series call grows with the block). Each case is one
// FILESYSTEM bucket, an evaluation time and an equality selector; every case gets its own
// BucketStore in this process, and the cases' rounds alternate (the order turning each round) so
// they compare under the same load. The answer is encoded as the Series handler would
// (`encodeSeriesResponseBatch`), without the gRPC transport. Printed, never asserted.
//
//   deno run -A bench/store_call_cpu.ts [--n=500] [--rounds=11] [--warmup=500] [--profile=<file>]
//     '<bucket dir>@<unix s>@<name>{<label>="<value>",…}' …
//
// e.g. the 1,000,000-series block of `bench/store_memory_vs_prometheus.ts --big=1000000
// --data=<dir>` (`<dir>/big-1000000@1700007140@bench_metric_0{id="0612300"}`) against the
// 10,000-series data of `bench/instant_vs_prometheus.ts --keep=<dir>`
// (`<dir>/bucket@1700006339@up{instance="host-000:9100",job="api"}`). The window is an instant
// query's (the 5-minute lookback, plus Thanos's query range padding: the last 10 minutes).
// A selector `big:<N>` means another series of the `--big=<N>` block each call, as that bench's
// "another series each time" case: `bench_metric_<n % 100>{id="<n, 7 digits>"}` with n stepping
// by 7,919 from 0.577·N (its postings list and series entry read from the bucket; the warm-up
// queries every metric name first). `--variant=<checkout>` runs every case also with that checkout's `store/bucket_store.ts` (and
// what it imports): a code A/B in one process. `--profile=<file>` writes a V8 CPU profile
// (Chrome DevTools format) of the timed rounds.

import process from "node:process";
import { Session } from "node:inspector/promises";
import { MetaSyncer } from "../block/fetcher.ts";
import { Logger } from "../logging/log.ts";
import { Registry } from "../metrics/registry.ts";
import { FilesystemBucket } from "../objstore/filesystem.ts";
import { BucketStore } from "../store/bucket_store.ts";
import { encodeSeriesResponseBatch } from "../storeapi/codec.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import type { SeriesWithChunks } from "../tsdb/series.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const N = Number(flag("n", "500"));
const ROUNDS = Number(flag("rounds", "11"));
const WARMUP = Number(flag("warmup", "500"));
const VARIANT = flag("variant", "");
const PROFILE = flag("profile", "");
const SPECS = Deno.args.filter((a) => !a.startsWith("--"));
if (SPECS.length === 0) {
  console.error("usage: bench/store_call_cpu.ts '<bucket>@<unix s>@<selector>' …");
  Deno.exit(2);
}

/** Calls made so far: `big:<N>` selectors take another series on each. */
let calls = 0;

/** Matchers of the `big:<N>` selector at call `i`. */
function bigSelector(n: number, i: number): Matcher[] {
  const k = (Math.floor(n * 0.577) + i * 7919) % n;
  return [
    new Matcher(MatchType.Equal, "__name__", `bench_metric_${k % 100}`),
    new Matcher(MatchType.Equal, "id", String(k).padStart(7, "0")),
  ];
}

/** Equality matchers of `name{a="b",…}` (no escapes: bench selectors only). */
function parseSelector(sel: string): Matcher[] {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/.exec(sel.trim());
  if (!m) throw new Error(`cannot parse selector ${sel}: use name{label="value",…}`);
  const out = [new Matcher(MatchType.Equal, "__name__", m[1])];
  for (const p of (m[2] ?? "").split(",").filter((x) => x.trim() !== "")) {
    const kv = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"\s*$/.exec(p);
    if (!kv) throw new Error(`cannot parse matcher ${p} of ${sel}: only label="value"`);
    out.push(new Matcher(MatchType.Equal, kv[1], kv[2]));
  }
  return out;
}

type Store = Pick<BucketStore, "seriesBatches" | "syncBlocks" | "close">;
interface Case {
  label: string;
  store: Store;
  bucket: FilesystemBucket;
  req: Parameters<BucketStore["seriesBatches"]>[0];
  /** `big:<N>`: N; else 0 (the same selector every call). */
  big: number;
  us: number[];
  series: number;
  bytes: number;
}

const other = VARIANT === ""
  ? null
  : await import(new URL(`file://${Deno.realPathSync(VARIANT)}/store/bucket_store.ts`).href);
const dir = await Deno.makeTempDir({ prefix: "store-call-cpu-" });
const cases: Case[] = [];
try {
  let k = 0;
  for (const spec of SPECS) {
    const [bucketDir, time, sel] = spec.split("@");
    const timeMs = Number(time) * 1000;
    for (const v of other ? ["this", VARIANT] : ["this"]) {
      const bucket = new FilesystemBucket(bucketDir);
      const registry = new Registry();
      const opts = {
        syncer: new MetaSyncer(bucket, { registry, cacheDir: `${dir}/${k}/meta` }),
        logger: new Logger("error", "logfmt", {}, () => {}),
        registry,
        dataDir: `${dir}/${k++}/data`,
      };
      const Ctor = v === "this" ? BucketStore : other.BucketStore as typeof BucketStore;
      const store: Store = new Ctor(bucket, opts);
      await store.syncBlocks();
      cases.push({
        label: `${other ? `[${v}] ` : ""}${sel} @ ${bucketDir}`,
        store,
        bucket,
        req: {
          minTime: timeMs - 600_000,
          maxTime: timeMs,
          matchers: sel.startsWith("big:") ? [] : parseSelector(sel),
        },
        big: sel.startsWith("big:") ? Number(sel.slice(4)) : 0,
        us: [],
        series: 0,
        bytes: 0,
      });
    }
  }
  const call = async (c: Case) => {
    const req = c.big > 0 ? { ...c.req, matchers: bigSelector(c.big, calls++) } : c.req;
    for await (const items of c.store.seriesBatches(req, new AbortController().signal)) {
      const batch = items as SeriesWithChunks[];
      c.series += batch.length;
      c.bytes += encodeSeriesResponseBatch(batch).length;
    }
  };
  for (let i = 0; i < WARMUP; i++) for (const c of cases) await call(c);
  for (const c of cases) c.series = c.bytes = 0;
  const session = PROFILE ? new Session() : null;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 50 });
    await session.post("Profiler.start");
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 === 0 ? cases : [...cases].reverse()) {
      const before = process.cpuUsage();
      for (let i = 0; i < N; i++) await call(c);
      const used = process.cpuUsage(before);
      c.us.push((used.user + used.system) / N);
    }
  }
  if (session) {
    const { profile } = await session.post("Profiler.stop");
    await Deno.writeTextFile(PROFILE, JSON.stringify(profile));
    session.disconnect();
  }
  console.log(
    `load ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}; CPU µs per Series call ` +
      `(encoded), ${ROUNDS} rounds of ${N}`,
  );
  for (const c of cases) {
    const s = [...c.us].sort((a, b) => a - b);
    const calls = ROUNDS * N;
    console.log(
      `  ${c.label}: ${(c.series / calls).toFixed(1)} series, ${
        Math.round(c.bytes / calls)
      } bytes; median ${s[s.length >> 1].toFixed(1)} µs (min ${s[0].toFixed(1)}, max ${
        s[s.length - 1].toFixed(1)
      })`,
    );
  }
} finally {
  for (const c of cases) {
    await c.store.close();
    await c.bucket.close();
  }
  await Deno.remove(dir, { recursive: true });
}
