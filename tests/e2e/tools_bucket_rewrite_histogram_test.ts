// `thanos tools bucket rewrite` (`main.ts tools bucket …`) on a block with native histogram
// chunks written by a real Prometheus 2.42 (histograms pushed through its remote-write
// receiver, the head cut into a block by Prometheus itself). Relabelling copies the histogram
// chunks byte for byte and Prometheus 2.42 started on the rewritten block answers histogram
// queries exactly as on the source block; a deletion interval covering whole histogram chunks
// drops them; one cutting through a histogram chunk is refused with a clear error and nothing
// is uploaded.

import { assert, assertEquals } from "../helpers/assert.ts";
import { copyDir, TempDirs } from "../helpers/tmp.ts";
import { e2eTest } from "../helpers/peers.ts";
import { downloadBlocks, fsConfig } from "../helpers/compact_bucket.ts";
import { analyze, PROMTOOL } from "../helpers/promtool.ts";
import { PROMETHEUS, queryRange, startPrometheus } from "../helpers/prometheus.ts";
import { type HistogramSample, pushToPrometheus } from "../helpers/native_histograms.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { Block } from "../../tsdb/block.ts";
import { blockSeries } from "../../compact/merge.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const MIN = 60_000;
const PROM_FLAGS = [
  "--enable-feature=native-histograms",
  "--storage.tsdb.retention.time=100000d",
  "--storage.tsdb.min-block-duration=2h",
  "--storage.tsdb.max-block-duration=2h",
];
const CFG = "global:\n  scrape_interval: 1h\n";

async function thanos(args: string[]): Promise<{ code: number; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return { code: o.code, err: new TextDecoder().decode(o.stderr) };
}

/** Chunks of a block by series: labels (JSON) → "minTime-maxTime encoding hex" list. */
async function chunksOf(dir: string): Promise<Map<string, string[]>> {
  const b = await Block.open(dir);
  const out = new Map<string, string[]>();
  try {
    for await (const s of blockSeries(b)) {
      out.set(
        JSON.stringify(s.labels),
        s.chunks.map((c) =>
          `${c.minTime}-${c.maxTime} ${c.encoding} ${
            Array.from(c.data, (x) => x.toString(16).padStart(2, "0")).join("")
          }`
        ),
      );
    }
  } finally {
    await b.close();
  }
  return out;
}

/** Block IDs with a meta.json in the bucket. */
async function blockIds(bucket: FilesystemBucket): Promise<string[]> {
  const out: string[] = [];
  for await (const n of bucket.iter("", { recursive: true })) {
    if (n.endsWith("/meta.json")) out.push(n.split("/")[0]);
  }
  return out.sort();
}

e2eTest(
  "tools bucket rewrite keeps Prometheus's native histogram chunks; Prometheus reads the result",
  { peers: [PROMETHEUS, PROMTOOL] },
  async () => {
    await using dirs = new TempDirs();
    // 1. Prometheus cuts a block holding native histogram chunks (5h of 1m samples pushed at
    // once: the head spans more than 1.5 × 2h, so Prometheus compacts its first 2h at once)
    const promData = `${await dirs.make()}/data`;
    const p0 = await startPrometheus({
      dataDir: promData,
      config: CFG,
      extraFlags: [...PROM_FLAGS, "--web.enable-remote-write-receiver"],
    });
    const now = Date.now();
    const start = now - (now % (2 * 60 * MIN)) - 6 * 60 * MIN;
    const hs: HistogramSample[] = [];
    const fs: { t: number; v: number }[] = [];
    for (let i = 0; i < 5 * 60; i++) {
      const t = start + i * MIN;
      // a counter-like histogram with a reset (a new chunk) at i = 60
      const k = i < 60 ? i : i - 60;
      hs.push({ t, zeroCount: k >> 2, buckets: [k, 2 * k + 1, k >> 3, 1], sum: k * 1.25 });
      fs.push({ t, v: i % 50 });
    }
    let srcId = "";
    try {
      await pushToPrometheus(p0.url, [
        { labels: { __name__: "h", job: "a" }, histograms: hs },
        { labels: { __name__: "f", job: "a" }, floats: fs },
      ]);
      for (let i = 0; i < 60 && srcId === ""; i++) {
        for (const e of Deno.readDirSync(promData)) {
          if (/^[0-9A-Z]{26}$/.test(e.name)) {
            try {
              Deno.statSync(`${promData}/${e.name}/meta.json`);
              srcId = e.name;
            } catch { /* still being written */ }
          }
        }
        if (srcId === "") await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      await p0.stop();
    }
    assert(srcId !== "", `Prometheus cut no block; logs:\n${p0.logs().slice(-3000)}`);

    // 2. the block goes into a bucket with external labels, as a sidecar uploads it
    const local = await dirs.make();
    await copyDir(`${promData}/${srcId}`, `${local}/${srcId}`);
    const meta = JSON.parse(await Deno.readTextFile(`${local}/${srcId}/meta.json`)) as BlockMeta;
    meta.thanos = { labels: { c: "a" }, downsample: { resolution: 0 }, source: "sidecar" };
    await Deno.writeTextFile(`${local}/${srcId}/meta.json`, encodeBlockMeta(meta));
    const bucketDir = await dirs.make();
    const bucket = new FilesystemBucket(bucketDir);
    await uploadBlock(bucket, `${local}/${srcId}`);
    const src = await chunksOf(`${local}/${srcId}`);
    const hKey = JSON.stringify(["__name__", "h", "job", "a"]);
    const hChunks = src.get(hKey)!;
    assert(
      hChunks.length >= 2 && hChunks.every((c) => c.split(" ")[1] === `${ChunkEncoding.Histogram}`),
      `expected histogram chunks: ${hChunks.map((c) => c.slice(0, 40))}`,
    );
    const base = [
      "tools",
      "bucket",
      "rewrite",
      "--no-dry-run",
      `--objstore.config=${fsConfig(bucketDir)}`,
      `--id=${srcId}`,
    ];

    // 3. relabelling + a deletion cutting float chunks: histogram chunks are copied as they are
    const fMint = meta.minTime + 17 * MIN, fMaxt = meta.minTime + 41 * MIN;
    const r1 = await thanos([
      ...base,
      `--tmp.dir=${await dirs.make()}/rw`,
      "--rewrite.to-relabel-config=- target_label: tier\n  replacement: cold\n",
      `--rewrite.to-delete-config=- matchers: '{__name__="f"}'\n  intervals:\n  - mint: ${fMint}\n    maxt: ${fMaxt}\n`,
    ]);
    assertEquals(r1.code, 0, r1.err);
    const [n1] = (await blockIds(bucket)).filter((id) => id !== srcId);
    assert(n1, r1.err);
    const out = await dirs.make();
    await downloadBlocks(bucket, [n1], out);
    const got = await chunksOf(`${out}/${n1}`);
    assertEquals(got.get(JSON.stringify(["__name__", "h", "job", "a", "tier", "cold"])), hChunks);
    const report = await analyze(`${out}/${n1}`);
    assert(report.includes(`Block ID: ${n1}`) && report.includes("Series: 2"), report);

    // Prometheus 2.42 on the rewritten block answers like Prometheus on the source block
    const pa = await dirs.make();
    const pb = await dirs.make();
    await copyDir(`${promData}/${srcId}`, `${pa}/${srcId}`);
    await copyDir(`${out}/${n1}`, `${pb}/${n1}`);
    const [promA, promB] = await Promise.all([
      startPrometheus({ dataDir: pa, config: CFG, extraFlags: PROM_FLAGS }),
      startPrometheus({ dataDir: pb, config: CFG, extraFlags: PROM_FLAGS }),
    ]);
    try {
      const s = meta.minTime / 1000, e = (meta.maxTime - 1) / 1000;
      for (
        const q of [
          "histogram_count(h)",
          "histogram_sum(h)",
          "histogram_quantile(0.9, h)",
          "histogram_count(rate(h[10m]))",
          "count_over_time(h[7m])",
          "count_over_time(f[7m])",
        ]
      ) {
        const [a, b] = await Promise.all([
          queryRange(promA.url, q, s, e, 60),
          queryRange(promB.url, q, s, e, 60),
        ]);
        assertEquals(a.status, "success");
        const wantF = q === "count_over_time(f[7m])";
        const strip = (r: typeof a) =>
          r.data.result.map((x) => {
            const m = { ...x.metric };
            delete m.tier;
            // the samples of f deleted in [fMint, fMaxt] are missing on the rewritten block
            const values = wantF
              ? x.values.filter(([t]) => t * 1000 < fMint || t * 1000 - 7 * MIN > fMaxt)
              : x.values;
            return { metric: m, values };
          });
        assert(a.data.result.length > 0 && a.data.result[0].values.length > 30, q);
        assertEquals(strip(b), strip(a), q);
      }
    } finally {
      await Promise.all([promA.stop(), promB.stop()]);
    }

    // 4. a deletion interval covering the first histogram chunk exactly drops it; the rest of
    // the histogram chunks are kept byte for byte
    const [c0min, c0max] = hChunks[0].split(" ")[0].split("-").map(Number);
    const r2 = await thanos([
      ...base,
      `--tmp.dir=${await dirs.make()}/rw`,
      `--rewrite.to-delete-config=- matchers: '{__name__="h"}'\n  intervals:\n  - mint: ${c0min}\n    maxt: ${c0max}\n`,
    ]);
    assertEquals(r2.code, 0, r2.err);
    const [n2] = (await blockIds(bucket)).filter((id) => id !== srcId && id !== n1);
    assert(n2, r2.err);
    await downloadBlocks(bucket, [n2], out);
    assertEquals((await chunksOf(`${out}/${n2}`)).get(hKey), hChunks.slice(1));
    await analyze(`${out}/${n2}`);

    // 5. an interval cutting through a histogram chunk is refused; nothing is uploaded
    const before = await blockIds(bucket);
    const r3 = await thanos([
      ...base,
      `--tmp.dir=${await dirs.make()}/rw`,
      `--rewrite.to-delete-config=- matchers: '{job="a"}'\n  intervals:\n  - mint: ${
        c0min + MIN
      }\n    maxt: ${c0min + MIN}\n`,
    ]);
    assert(r3.code !== 0, r3.err);
    assert(r3.err.includes("native histogram chunk"), r3.err);
    assertEquals(await blockIds(bucket), before);
  },
);
