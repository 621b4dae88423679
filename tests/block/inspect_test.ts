// `tools bucket ls` and `tools bucket inspect` over a FILESYSTEM bucket holding hand-written
// blocks (meta.json plus dummy index and chunks), a partial block and non-block objects.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { createBucket, parseBucketConfig } from "../../objstore/config.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { bucketInspect, bucketLs, InspectUsageError } from "../../block/inspect.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";

const A = "01J0000000000000000000000A";
const B = "01J0000000000000000000000B";
const C = "01J0000000000000000000000C";
const PARTIAL = "01J0000000000000000000000D";

function meta(o: {
  ulid: string;
  minTime: number;
  maxTime: number;
  stats: Record<string, number>;
  level: number;
  failed?: boolean;
  labels: Record<string, string>;
  resolution: number;
  source: string;
}): string {
  return JSON.stringify(
    {
      ulid: o.ulid,
      minTime: o.minTime,
      maxTime: o.maxTime,
      stats: o.stats,
      compaction: { level: o.level, sources: [o.ulid], ...(o.failed ? { failed: true } : {}) },
      version: 1,
      thanos: {
        labels: o.labels,
        downsample: { resolution: o.resolution },
        source: o.source,
        index_stats: {},
      },
    },
    null,
    "\t",
  ) + "\n";
}

async function withBlocks(fn: (b: Bucket) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const b = await createBucket(parseBucketConfig(`type: FILESYSTEM\nconfig: {directory: ${dir}}`));
  const put = (name: string, text: string) => b.upload(name, new TextEncoder().encode(text));
  try {
    await put(
      `${A}/meta.json`,
      meta({
        ulid: A,
        minTime: 1700000000000,
        maxTime: 1700007200000,
        stats: { numSamples: 1200000, numSeries: 10000, numChunks: 10000 },
        level: 1,
        labels: { replica: "a", cluster: "eu1" },
        resolution: 0,
        source: "sidecar",
      }),
    );
    await put(
      `${B}/meta.json`,
      meta({
        ulid: B,
        minTime: 1699920000000,
        maxTime: 1700006400000,
        stats: { numSamples: 4567890, numSeries: 123, numChunks: 999 },
        level: 3,
        failed: true,
        labels: { cluster: "us1" },
        resolution: 300000,
        source: "compactor",
      }),
    );
    await put(
      `${C}/meta.json`,
      meta({
        ulid: C,
        minTime: 1699000000000,
        maxTime: 1699864000000,
        stats: { numSeries: 5 },
        level: 4,
        labels: { cluster: "eu1" },
        resolution: 3600000,
        source: "compactor",
      }),
    );
    for (const id of [A, B, C]) {
      await put(`${id}/index`, "dummy index");
      await put(`${id}/chunks/000001`, "dummy chunks");
    }
    await put(`${PARTIAL}/index`, "partial upload: no meta.json");
    await put(`debug/metas/${A}.json`, "{}");
    await put("not-a-block/meta.json", "{}");
    await fn(b);
  } finally {
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function run(
  f: (b: Bucket, w: (l: string) => void) => Promise<void>,
  b: Bucket,
): Promise<string[]> {
  const lines: string[] = [];
  await f(b, (l) => lines.push(l));
  return lines;
}

Deno.test("bucket inspect prints the table of blocks with Thanos' columns and figures", async () => {
  await withBlocks(async (b) => {
    const lines = await run((bk, w) => bucketInspect(bk, {}, w), b);
    assertEquals(lines, [
      "|            ULID            |         FROM         |        UNTIL         |  RANGE   | UNTIL-DOWN | #SERIES | #SAMPLES  | #CHUNKS | COMP-LEVEL | COMP-FAILED |        LABELS         | RESOLUTION |  SOURCE   |",
      "|----------------------------|----------------------|----------------------|----------|------------|---------|-----------|---------|------------|-------------|-----------------------|------------|-----------|",
      "| 01J0000000000000000000000C | 2023-11-03T08:26:40Z | 2023-11-13T08:26:40Z | 240h0m0s | -          | 5       | 0         | 0       | 4          | false       | cluster=eu1           | 1h0m0s     | compactor |",
      "| 01J0000000000000000000000B | 2023-11-14T00:00:00Z | 2023-11-15T00:00:00Z | 24h0m0s  | 216h0m0s   | 123     | 4,567,890 | 999     | 3          | true        | cluster=us1           | 5m0s       | compactor |",
      "| 01J0000000000000000000000A | 2023-11-14T22:13:20Z | 2023-11-15T00:13:20Z | 2h0m0s   | 38h0m0s    | 10,000  | 1,200,000 | 10,000  | 1          | false       | cluster=eu1,replica=a | 0s         | sidecar   |",
    ]);
  });
});

Deno.test("bucket inspect filters by selector, sorts by columns and writes CSV and TSV", async () => {
  await withBlocks(async (b) => {
    const csv = await run(
      (bk, w) =>
        bucketInspect(bk, { selector: { cluster: "eu1" }, sortBy: ["#SAMPLES"], output: "csv" }, w),
      b,
    );
    assertEquals(csv, [
      "ULID,FROM,UNTIL,RANGE,UNTIL-DOWN,#SERIES,#SAMPLES,#CHUNKS,COMP-LEVEL,COMP-FAILED,LABELS,RESOLUTION,SOURCE",
      "01J0000000000000000000000C,2023-11-03T08:26:40Z,2023-11-13T08:26:40Z,240h0m0s,-,5,0,0,4,false,cluster=eu1,1h0m0s,compactor",
      '01J0000000000000000000000A,2023-11-14T22:13:20Z,2023-11-15T00:13:20Z,2h0m0s,38h0m0s,"10,000","1,200,000","10,000",1,false,"cluster=eu1,replica=a",0s,sidecar',
    ]);
    const tsv = await run(
      (bk, w) => bucketInspect(bk, { sortBy: ["RANGE"], output: "tsv" }, w),
      b,
    );
    assertEquals(tsv.slice(1).map((l) => l.split("\t")[0]), [A, B, C]);
    assertEquals(tsv[3].split("\t")[6], "0");
    const bySeries = await run((bk, w) => bucketInspect(bk, { sortBy: ["#SERIES"] }, w), b);
    assertEquals(bySeries.slice(2).map((l) => l.slice(2, 28)), [C, B, A]);
    await assertRejects(
      () => bucketInspect(b, { sortBy: ["NOPE"] }, () => {}),
      InspectUsageError,
    );
  });
});

Deno.test("bucket ls lists block ULIDs (text, wide, json) and skips partial blocks", async () => {
  await withBlocks(async (b) => {
    const logs: string[] = [];
    const text = await run(
      (bk, w) => bucketLs(bk, { output: "text", logger: (m) => logs.push(m) }, w),
      b,
    );
    assertEquals(text, [A, B, C]);
    assert(logs.some((l) => l.includes("partial")), "the partial block is reported");
    const wide = await run((bk, w) => bucketLs(bk, { output: "wide" }, w), b);
    assertEquals(
      wide[0],
      `${A} -- 2023-11-14T22:13:20Z - 2023-11-15T00:13:20Z Diff: 2h0m0s, Compaction: 1, ` +
        "Downsample: 0, Source: sidecar",
    );
    assertEquals(
      wide[1],
      `${B} -- 2023-11-14T00:00:00Z - 2023-11-15T00:00:00Z Diff: 24h0m0s, Compaction: 3, ` +
        "Downsample: 300000, Source: compactor",
    );
    const json = await run((bk, w) => bucketLs(bk, { output: "json" }, w), b);
    assertEquals(json.length, 3);
    const parsed = JSON.parse(json[0]);
    assertEquals(parsed.ulid, A);
    assertEquals(parsed.thanos.labels, { cluster: "eu1", replica: "a" });
    assert(json[0].startsWith('{\n\t"ulid": '), "tab-indented like Go's json.Encoder");
    const ranged = await run(
      (bk, w) => bucketLs(bk, { output: "text", minTime: 1700006500000 }, w),
      b,
    );
    assertEquals(ranged, [A]);
  });
});

Deno.test("bucket ls --exclude-delete leaves out blocks marked for deletion", async () => {
  await withBlocks(async (b) => {
    const mark = JSON.stringify({ id: B, version: 1, deletion_time: 1700000000 });
    await b.upload(`${B}/deletion-mark.json`, new TextEncoder().encode(mark));
    const lines = await run((bk, w) => bucketLs(bk, { output: "text", excludeDelete: true }, w), b);
    assertEquals(lines, [A, C]);
    const all = await run((bk, w) => bucketLs(bk, { output: "text" }, w), b);
    assertEquals(all, [A, B, C]);
  });
});

Deno.test("bucket ls --selector.relabel-config keeps the blocks whose external labels it keeps", async () => {
  await withBlocks(async (b) => {
    const keep = (yaml: string) => new Relabeler(parseRelabelConfigs(yaml));
    const eu = await run(
      (bk, w) =>
        bucketLs(bk, {
          output: "text",
          relabel: keep("- action: keep\n  source_labels: [cluster]\n  regex: eu1\n"),
        }, w),
      b,
    );
    assertEquals(eu, [A, C]);
    // the block ID is a label too, as in Thanos's selector relabeling
    const byId = await run(
      (bk, w) =>
        bucketLs(bk, {
          output: "text",
          relabel: keep(`- action: drop\n  source_labels: [__block_id]\n  regex: ${A}\n`),
        }, w),
      b,
    );
    assertEquals(byId, [B, C]);
  });
});
