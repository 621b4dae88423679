// CPU per Series call of the bucket store in process (issue 19): the store's own work (postings,
// series entries from the index cache, chunk reads, the merge) and the protobuf encoding of the
// answer, without the gRPC transport, for one `__name__` selector over the last 10 minutes before
// `time` (an instant query's window; `--window`). Process CPU (user + system, all threads) per
// call, median of 5 rounds (`--rounds`) after a warm-up; printed, never asserted. Run it from two
// checkouts alternately to compare them under the same load.
//
//   deno run -A bench/store_series_cpu.ts --bucket=<dir> [--n=60] [--time=<unix s>] [name]
//       [--window=600] [--warmup=300] [--rounds=5] [--encode-vs=<checkout>]
//
// `<dir>` is a FILESYSTEM bucket, e.g. the `bucket` folder kept by
// `bench/instant_vs_prometheus.ts --keep=<dir>`; `name` defaults to `up`. `--window` (seconds
// before `time`) widens the call, e.g. `--window=2591880 --time=1700085540 --warmup=2 --n=3
// --rounds=3` over `<data>/days30-1000-aligned`, the 30-day bucket kept by
// `bench/store_memory_vs_prometheus.ts --days30=1000 --data=<data>`.
//
// `--encode-vs=<checkout>` times the answer's encoding alone instead: the call's batches read
// once, then encoded by this checkout's and that one's `storeapi/codec.ts`, alternating in this
// process (`--rounds` each, after `--warmup` of each), with a check that both write the same bytes.

import process from "node:process";
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

const BUCKET = flag("bucket", "");
const N = Number(flag("n", "60"));
const WINDOW_MS = Number(flag("window", "600")) * 1000;
const WARMUP = Number(flag("warmup", "300"));
const ROUNDS = Number(flag("rounds", "5"));
/** Default: the evaluation time of bench/instant_vs_prometheus.ts at 24 h. */
const TIME_MS = Number(flag("time", "1700006339")) * 1000;
const NAME = Deno.args.find((a) => !a.startsWith("--")) ?? "up";
const ENCODE_VS = flag("encode-vs", "");
if (BUCKET === "") {
  console.error("usage: bench/store_series_cpu.ts --bucket=<FILESYSTEM bucket dir> [name]");
  Deno.exit(2);
}

const bucket = new FilesystemBucket(BUCKET);
const registry = new Registry();
const dir = await Deno.makeTempDir({ prefix: "store-series-cpu-" });
const store = new BucketStore(bucket, {
  syncer: new MetaSyncer(bucket, { registry, cacheDir: `${dir}/meta` }),
  logger: new Logger("error", "logfmt", {}, () => {}),
  registry,
  dataDir: `${dir}/data`,
});
try {
  await store.syncBlocks();
  const req = {
    minTime: TIME_MS - WINDOW_MS,
    maxTime: TIME_MS,
    matchers: [new Matcher(MatchType.Equal, "__name__", NAME)],
  };
  if (ENCODE_VS !== "") await encodeOnly(req);
  else {
    let bytes = 0;
    let series = 0;
    const call = async () => {
      for await (const items of store.seriesBatches(req, new AbortController().signal)) {
        const batch = items as SeriesWithChunks[];
        series += batch.length;
        bytes += encodeSeriesResponseBatch(batch).length;
      }
    };
    for (let i = 0; i < Math.max(WARMUP, N); i++) await call();
    const perCall = series / Math.max(WARMUP, N);
    const rounds: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const before = process.cpuUsage();
      for (let i = 0; i < N; i++) await call();
      const used = process.cpuUsage(before);
      rounds.push((used.user + used.system) / N);
    }
    rounds.sort((a, b) => a - b);
    console.log(
      `${NAME}: ${perCall} series, ${Math.round(bytes / series * perCall)} bytes per call; ` +
        `CPU µs per call ${rounds.map((x) => x.toFixed(0)).join(" ")} (median ${
          rounds[rounds.length >> 1].toFixed(0)
        }), load ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`,
    );
  }
} finally {
  await store.close();
  await bucket.close();
  await Deno.remove(dir, { recursive: true });
}

/** `--encode-vs`: encoding CPU per call of this codec and the other checkout's, alternating. */
async function encodeOnly(req: Parameters<BucketStore["seriesBatches"]>[0]): Promise<void> {
  type Encode = (series: readonly SeriesWithChunks[]) => Uint8Array;
  const other = await import(
    new URL(`file://${Deno.realPathSync(ENCODE_VS)}/storeapi/codec.ts`).href
  );
  const sides: [string, Encode][] = [["this", encodeSeriesResponseBatch], [
    ENCODE_VS,
    other.encodeSeriesResponseBatch as Encode,
  ]];
  // the second call's batches: what a warm store encodes (series entries from its index cache)
  let batches: SeriesWithChunks[][] = [];
  for (let call = 0; call < 2; call++) {
    batches = [];
    for await (const items of store.seriesBatches(req, new AbortController().signal)) {
      batches.push(items as SeriesWithChunks[]);
    }
  }
  for (const b of batches) {
    const [x, y] = sides.map(([, enc]) => enc(b));
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) throw new Error("answers differ");
  }
  // µs per call over `--n` calls: one call's encoding (tens of µs) is below the clock's steps
  const time = (enc: Encode) => {
    const before = process.cpuUsage();
    for (let i = 0; i < N; i++) for (const b of batches) enc(b);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / N;
  };
  const us: number[][] = [[], []];
  for (let i = 0; i < WARMUP; i++) for (const [, enc] of sides) time(enc);
  for (let r = 0; r < ROUNDS; r++) {
    // the order flips each round so neither side always runs after the other
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) us[k].push(time(sides[k][1]));
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  for (let k = 0; k < 2; k++) {
    console.log(
      `${NAME} encode, ${sides[k][0]}: CPU µs per call ${
        us[k].map((x) => x.toFixed(1)).join(" ")
      } ` +
        `(median ${median(us[k]).toFixed(1)})`,
    );
  }
  console.log(
    `this / other ${(median(us[0]) / median(us[1])).toFixed(3)}, same bytes, load ${
      Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
    }`,
  );
}
