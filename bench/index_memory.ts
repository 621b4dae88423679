// Writes a 1,000,000-series index, opens it with IndexReader over a FileByteSource and prints
// the file size, write time and the memory the open reader holds.
// Run: deno run -A --v8-flags=--expose-gc bench/index_memory.ts [series=1000000]

import { FileByteSource } from "../tsdb/bytesource.ts";
import { IndexReader } from "../tsdb/index/reader.ts";
import { IndexWriter } from "../tsdb/index/writer.ts";
import { intersectPostings } from "../tsdb/index/postings.ts";

const total = Number(Deno.args[0] ?? 1_000_000);
const NAMES = 100;
const perName = Math.ceil(total / NAMES);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.warn("run with --v8-flags=--expose-gc for exact heap figures");

async function mem() {
  gc?.();
  gc?.();
  // ArrayBuffer backing stores are released by a background sweeper after GC.
  await new Promise((r) => setTimeout(r, 200));
  gc?.();
  const m = Deno.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}
const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const pad = (n: number, w: number) => String(n).padStart(w, "0");

function* symbols(perName: number): Generator<string> {
  yield* ["__name__", "id", "instance", "job"];
  for (let n = 0; n < NAMES; n++) yield `metric_${pad(n, 3)}`;
  for (let i = 0; i < 1000; i++) yield `host-${pad(i, 3)}:9100`;
  for (let j = 0; j < 10; j++) yield `job-${j}`;
  for (let s = 0; s < NAMES * perName; s++) yield pad(s, 7);
}

const dir = await Deno.makeTempDir({ prefix: "index_memory_" });
try {
  const path = `${dir}/index`;
  const t0 = performance.now();
  // Label names sort as __name__ < id < instance < job; ids are zero-padded so generation
  // order is label order and no sort of a million label sets is needed.
  const w = await IndexWriter.create(path, symbols(perName));
  let written = 0;
  let ref = 8;
  for (let n = 0; n < NAMES && written < total; n++) {
    for (let k = 0; k < perName && written < total; k++, written++) {
      const id = n * perName + k;
      const labels = [
        "__name__",
        `metric_${pad(n, 3)}`,
        "id",
        pad(id, 7),
        "instance",
        `host-${pad(k % 1000, 3)}:9100`,
        "job",
        `job-${k % 10}`,
      ];
      await w.addSeries(labels, [{ minTime: 0, maxTime: 7_199_000, ref }]);
      ref += 200;
    }
  }
  await w.close();
  const writeMs = performance.now() - t0;
  const size = (await Deno.stat(path)).size;
  console.log(`series:             ${written}`);
  console.log(`index file size:    ${mb(size)} (${size} bytes)`);
  console.log(`write time:         ${(writeMs / 1000).toFixed(2)} s`);

  // One function call per configuration: V8 keeps an async frame's dead locals alive, so the
  // first reader would otherwise still be reachable while the second one is measured.
  await measure(path, size, true);
  await measure(path, size, false);
} finally {
  await Deno.remove(dir, { recursive: true });
}

async function measure(path: string, size: number, keep: boolean): Promise<void> {
  const before = await mem();
  const t1 = performance.now();
  const src = await FileByteSource.open(path);
  const reader = await IndexReader.open(src, { keepPostingsTable: keep });
  const openMs = performance.now() - t1;
  // FileByteSource's read chain holds the last read's buffer until the next read; release
  // it so only what the reader keeps is counted.
  await src.read(0, 1);
  const after = await mem();
  const heap = after.heap - before.heap;
  const ext = after.external - before.external;
  console.log(`\nreader (keepPostingsTable: ${keep})`);
  console.log(`  open time:        ${openMs.toFixed(0)} ms`);
  console.log(
    `  heap growth:      ${mb(heap)}   external (ArrayBuffers): ${mb(ext)}   ` +
      `total ${mb(heap + ext)} = ${((heap + ext) / size * 100).toFixed(1)}% of the index`,
  );
  // A few queries to show the access paths work at this size.
  const t2 = performance.now();
  const a = await reader.postings("job", ["job-3"]);
  const b = await reader.postings("instance", ["host-013:9100", "host-513:9100"]);
  const c = await reader.postings("__name__", ["metric_042"]);
  const hits = intersectPostings([a, b, c]);
  let n = 0;
  for await (const _ of reader.seriesMany(hits)) n++;
  const ids = await reader.postingsForLabelMatching("id", (v) => v.endsWith("99999"));
  console.log(
    `  query job∩instance∩name: ${hits.length} series (${n} decoded), ` +
      `regex on id: ${ids.length} series, ${(performance.now() - t2).toFixed(0)} ms`,
  );
  await reader.close();
}
