// StoreAPI streaming throughput: a StoreServer streams N series × 1 chunk (a real 120-sample XOR
// chunk) to a StoreClient over 127.0.0.1; prints series/s and chunk MB/s.
//
//   deno run -A bench/storeapi_bench.ts [--series 100000] [--compression none|snappy]
//
// Under `deno bench` a smaller run (20,000 series) is registered instead.

import { XorAppender } from "../tsdb/chunkenc/xor.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../tsdb/series.ts";
import type { LabelNamesRequest, SeriesRequest, StoreInfo } from "../storeapi/codec.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../storeapi/server.ts";
import { StoreClient } from "../storeapi/client.ts";

/** A handful of distinct real XOR chunks (120 samples, 15 s apart, a slowly rising counter). */
function xorPayloads(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const app = new XorAppender();
    let v = 1000 * k;
    for (let i = 0; i < 120; i++) {
      v += (i * 7 + k) % 13;
      app.append(1_700_000_000_000 + i * 15_000, v);
    }
    out.push(app.bytes());
  }
  return out;
}

class SyntheticBackend implements StoreBackend {
  constructor(private readonly count: number, private readonly payloads: Uint8Array[]) {}

  info(): Promise<StoreInfo> {
    return Promise.resolve({ componentType: "store", labelSets: [], minTime: 0, maxTime: 0 });
  }

  async *series(_req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    const p = this.payloads;
    for (let i = 0; i < this.count; i++) {
      if (signal.aborted) return;
      const s: SeriesWithChunks = {
        labels: ["__name__", "bench_metric", "instance", `host-${i}`, "job", "bench"],
        chunks: [{
          minTime: 1_700_000_000_000,
          maxTime: 1_700_000_000_000 + 119 * 15_000,
          encoding: ChunkEncoding.XOR,
          data: p[i % p.length],
        }],
      };
      yield s;
    }
  }

  labelNames(_req: LabelNamesRequest) {
    return Promise.resolve({ names: [], warnings: [] });
  }

  labelValues() {
    return Promise.resolve({ values: [], warnings: [] });
  }
}

interface RunResult {
  series: number;
  chunkBytes: number;
  seconds: number;
}

async function run(count: number, compression: "none" | "snappy"): Promise<RunResult> {
  const server = new StoreServer(new SyntheticBackend(count, xorPayloads(64)), { serving: true });
  const { port } = await server.listen("127.0.0.1", 0);
  const client = new StoreClient(`127.0.0.1:${port}`, { compression, timeoutMs: 600_000 });
  try {
    const req: SeriesRequest = {
      minTime: 0,
      maxTime: Number.MAX_SAFE_INTEGER,
      matchers: [new Matcher(MatchType.Equal, "__name__", "bench_metric")],
    };
    let series = 0;
    let chunkBytes = 0;
    const t0 = performance.now();
    for await (const item of client.series(req)) {
      if ("warning" in item) continue;
      series++;
      for (const c of item.chunks) chunkBytes += c.data.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (series !== count) throw new Error(`expected ${count} series, received ${series}`);
    return { series, chunkBytes, seconds };
  } finally {
    client.close();
    await server.close();
  }
}

function parseArgs(args: string[]): { count: number; compression: "none" | "snappy" } {
  let count = 100_000;
  let compression: "none" | "snappy" = "none";
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--series") count = Number(args[++i]);
    else if (args[i] === "--compression") compression = args[++i] === "snappy" ? "snappy" : "none";
  }
  if (!Number.isInteger(count) || count <= 0) {
    throw new Error(`--series must be a positive integer`);
  }
  return { count, compression };
}

if (import.meta.main) {
  const { count, compression } = parseArgs(Deno.args);
  const r = await run(count, compression);
  const mb = r.chunkBytes / 1e6;
  console.log(
    `storeapi Series over 127.0.0.1 (compression=${compression}): ${r.series} series × 1 chunk, ` +
      `${mb.toFixed(1)} MB chunk data in ${r.seconds.toFixed(2)} s → ` +
      `${Math.round(r.series / r.seconds)} series/s, ${
        (mb / r.seconds).toFixed(1)
      } MB/s chunk data`,
  );
} else {
  Deno.bench("StoreAPI Series: 20,000 series × 1 XOR chunk over 127.0.0.1", {
    n: 3,
    warmup: 1,
  }, async () => {
    await run(20_000, "none");
  });
}
