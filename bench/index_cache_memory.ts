// Memory and time per item of the store gateway's in-memory index cache (store/index_cache.ts):
// fills an IndexCache with N series entries shaped like the bucket store's (the index's own entry
// body, ~60 bytes, beside its labels ready-encoded, ~110 bytes) spread over blocks, plus postings
// lists, and prints the bytes each item holds beyond its own bytes (JS heap and ArrayBuffer
// memory, `heapUsed + external` after forced collections), what the cache reports (`sizeBytes`), and ns per insert, per looked-up entry
// (fetchSeries in batches of 256) and per insert with evictions (a cache at a quarter of the
// items' size). Each side runs in a fresh child process; with `--baseline=<checkout dir>` the
// sides alternate, `--rounds` times. Then both sides' caches in this one process, alternating
// `--time-rounds` times: median ns per insert (without and with ready labels) and per lookup,
// the steadier figure on a loaded machine. Prints, never asserts.
//
//   deno run -A bench/index_cache_memory.ts [--n=200000] [--blocks=8] [--rounds=3]
//     [--time-rounds=9] [--baseline=<checkout dir>]

import type { IndexSeries } from "../tsdb/index/reader.ts";
import { encodeLabelsProto } from "../storeapi/codec.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const N = Number(flag("n", "200000"));
const BLOCKS = Number(flag("blocks", "8"));
const ROUNDS = Number(flag("rounds", "3"));
const BASELINE = flag("baseline", "");
const ROOT = flag("root", "");
const POSTINGS = 400;

interface ChildResult {
  bytesPerItem: number;
  ownBytesPerItem: number;
  /** Of the series entries alone, and of the postings lists alone. */
  seriesBeyondOwn: number;
  postingsBeyondOwn: number;
  reportedPerItem: number;
  insertNs: number;
  fetchNs: number;
  evictNs: number;
}

/** Deterministic pseudo-random bytes of a realistic series entry body (symbol refs, chunk metas). */
function body(ref: number): Uint8Array {
  const n = 48 + (ref % 29);
  const b = new Uint8Array(n);
  let x = (ref * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function labels(i: number): string[] {
  return [
    "__name__",
    `node_metric_${i % 97}_total`,
    "instance",
    `host-${String(i % 1000).padStart(3, "0")}:9100`,
    "job",
    `job-${i % 10}`,
    "mode",
    ["idle", "user", "system", "iowait"][i % 4],
  ];
}

async function heap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const m = Deno.memoryUsage();
  // typed arrays keep their elements off the JS heap (ArrayBuffer backing stores)
  return m.heapUsed + m.external;
}

async function child(root: string): Promise<ChildResult> {
  const mod = await import(`${root}/store/index_cache.ts`);
  const blocks = Array.from({ length: BLOCKS }, (_, i) => `01J${String(i).padStart(23, "0")}`);
  const per = Math.ceil(N / BLOCKS);
  // inputs built before the first measurement: only the cache's own objects are counted
  const series: IndexSeries[][] = [];
  const bodies: Map<number, Uint8Array>[] = [];
  let own = 0;
  for (let b = 0; b < BLOCKS; b++) {
    const ss: IndexSeries[] = [];
    const bs = new Map<number, Uint8Array>();
    for (let i = 0; i < per; i++) {
      const ref = 16 + i * 13;
      const s = { ref, labels: labels(i), chunks: [] };
      ss.push(s);
      bs.set(ref, body(ref));
      own += bs.get(ref)!.length + encodeLabelsProto(s.labels).length;
    }
    series.push(ss);
    bodies.push(bs);
  }
  const postings: Uint32Array[] = [];
  for (let p = 0; p < POSTINGS; p++) {
    postings.push(Uint32Array.from({ length: 200 + p }, (_, i) => i * 3));
  }
  const items = per * BLOCKS + POSTINGS;
  const before = await heap();
  const c = new mod.IndexCache(1 << 30);
  const t0 = performance.now();
  for (let b = 0; b < BLOCKS; b++) c.storeSeries(blocks[b], series[b], bodies[b], true);
  const insertNs = (performance.now() - t0) * 1e6 / (per * BLOCKS);
  const afterSeries = await heap();
  for (let p = 0; p < POSTINGS; p++) {
    c.storePostings(blocks[p % BLOCKS], `name="v${p}"`, postings[p]);
  }
  const after = await heap();
  const reported = c.sizeBytes;
  // lookups: every entry once, in batches of 256, with a decoder that builds nothing
  const dummy: IndexSeries = { ref: 0, labels: [], chunks: [] };
  const decode = () => dummy;
  const refs = new Uint32Array(256);
  const t1 = performance.now();
  let got = 0;
  for (let b = 0; b < BLOCKS; b++) {
    for (let i = 0; i < per; i += 256) {
      const k = Math.min(256, per - i);
      for (let j = 0; j < k; j++) refs[j] = 16 + (i + j) * 13;
      const out = await c.fetchSeries(blocks[b], refs.subarray(0, k), decode);
      for (const s of out) if (s !== undefined) got++;
    }
  }
  const fetchNs = (performance.now() - t1) * 1e6 / (per * BLOCKS);
  if (got !== per * BLOCKS) throw new Error(`${got} hits of ${per * BLOCKS}`);
  // evictions: a cache a quarter of the size the items take, filled twice over
  const small = new mod.IndexCache(Math.floor(reported / 4));
  const t2 = performance.now();
  for (let r = 0; r < 2; r++) {
    for (let b = 0; b < BLOCKS; b++) small.storeSeries(blocks[b], series[b], bodies[b], true);
  }
  const evictNs = (performance.now() - t2) * 1e6 / (2 * per * BLOCKS);
  if (small.sizeBytes > Math.floor(reported / 4)) throw new Error("bound exceeded");
  c.dropBlock(blocks[0]);
  return {
    bytesPerItem: (after - before) / items,
    // the postings arrays are the caller's, held by reference: only series bytes are new
    ownBytesPerItem: own / items,
    seriesBeyondOwn: (afterSeries - before - own) / (per * BLOCKS),
    postingsBeyondOwn: (after - afterSeries) / POSTINGS,
    reportedPerItem: reported / items,
    insertNs,
    fetchNs,
    evictNs,
  };
}

async function run(root: string): Promise<ChildResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "--child",
      `--root=${root}`,
      `--n=${N}`,
      `--blocks=${BLOCKS}`,
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`child for ${root} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * ns per series entry of each side's cache in this one process, alternating `rounds` times
 * (medians): inserts without and with ready labels, and lookups of every entry (256 per call).
 */
async function timeInProcess(sides: string[][], rounds: number): Promise<void> {
  const mods = await Promise.all(sides.map(([, root]) => import(`${root}/store/index_cache.ts`)));
  const per = Math.ceil(N / BLOCKS);
  const blocks = Array.from({ length: BLOCKS }, (_, i) => `01J${String(i).padStart(23, "0")}`);
  const series: IndexSeries[] = [];
  const bodies = new Map<number, Uint8Array>();
  for (let i = 0; i < per; i++) {
    const ref = 16 + i * 13;
    series.push({ ref, labels: labels(i), chunks: [] });
    bodies.set(ref, body(ref));
  }
  const dummy: IndexSeries = { ref: 0, labels: [], chunks: [] };
  const decode = () => dummy;
  const refs = new Uint32Array(256);
  const times = sides.map(() => ({
    plain: [] as number[],
    ready: [] as number[],
    get: [] as number[],
  }));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const side = r % 2 === 0 ? k : sides.length - 1 - k;
      for (const ready of [false, true]) {
        const c = new mods[side].IndexCache(1 << 30);
        const t0 = performance.now();
        for (const b of blocks) c.storeSeries(b, series, bodies, ready);
        times[side][ready ? "ready" : "plain"].push((performance.now() - t0) * 1e6 / N);
        if (!ready) continue;
        const t1 = performance.now();
        for (const b of blocks) {
          for (let i = 0; i < per; i += 256) {
            const n = Math.min(256, per - i);
            for (let j = 0; j < n; j++) refs[j] = 16 + (i + j) * 13;
            await c.fetchSeries(b, refs.subarray(0, n), decode);
          }
        }
        times[side].get.push((performance.now() - t1) * 1e6 / N);
      }
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1].toFixed(0);
  sides.forEach(([name], k) => {
    const t = times[k];
    console.log(
      `in one process, median of ${rounds}: ${name.padEnd(8)} insert ${med(t.plain)} ns, ` +
        `insert with ready labels ${med(t.ready)} ns, lookup ${med(t.get)} ns per entry`,
    );
  });
}

if (Deno.args.includes("--child")) {
  console.log(JSON.stringify(await child(ROOT)));
} else {
  const ours = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const sides = BASELINE ? [["baseline", BASELINE], ["ours", ours]] : [["ours", ours]];
  console.log(`${N} series entries over ${BLOCKS} blocks + ${POSTINGS} postings lists`);
  const f = (x: number) => x.toFixed(0).padStart(6);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const [name, root] of order) {
      const x = await run(root);
      console.log(
        `round ${r} ${name.padEnd(8)} heap B/item ${f(x.bytesPerItem)}  own B/item ${
          f(x.ownBytesPerItem)
        }  beyond own ${f(x.bytesPerItem - x.ownBytesPerItem)} (series ${
          f(x.seriesBeyondOwn)
        }, postings ${f(x.postingsBeyondOwn)})  reported B/item ${f(x.reportedPerItem)}  insert ${
          f(x.insertNs)
        } ns  fetch ${f(x.fetchNs)} ns  insert+evict ${f(x.evictNs)} ns`,
      );
    }
  }
  await timeInProcess(sides, Number(flag("time-rounds", "9")));
}
