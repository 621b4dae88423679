// Our WAL against Prometheus 2.42, both ways:
// (a) Prometheus replays a WAL we wrote (≥10k series: counters with resets, gauges with special
//     values, stale markers, churn; uncompressed and snappy segments) and answers every sample
//     back through its HTTP API, raw, with identical timestamps and values; stale markers end
//     series the way Prometheus's own do.
// (b) we read the WAL of a Prometheus that scraped itself and an exporter and was SIGKILLed:
//     every sample we decode equals what Prometheus answers after its own restart on a copy.

import { assert, assertEquals } from "../helpers/assert.ts";
import { startExporter } from "../helpers/exporter.ts";
import { e2eTest } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";
import { copyDir, TempDirs } from "../helpers/tmp.ts";
import { Logger } from "../../logging/log.ts";
import { labelsFromObject, labelsKey } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import { float64Words, isStaleWord, setStaleWord } from "../../tsdb/value.ts";
import {
  decodeSamples,
  decodeSeries,
  encodeSamples,
  encodeSeries,
  RecordType,
  recordType,
  type RefSeries,
} from "../../tsdb/wal/records.ts";
import { readRecords, repairWal, Wal, WalCorruptionError } from "../../tsdb/wal/wal.ts";

const FETCH_TIMEOUT_MS = 60_000;

/** A sample as the API returns it: ms timestamp, value (NaN/±Inf/−0 kept). */
type Pt = [number, number];

interface ApiVectorSeries {
  metric: Record<string, string>;
  values?: [number, string][];
  value?: [number, string];
}

async function apiQuery(url: string, q: string, timeSec: number): Promise<ApiVectorSeries[]> {
  const u = new URL(`${url}/api/v1/query`);
  u.searchParams.set("query", q);
  u.searchParams.set("time", timeSec.toFixed(3));
  const res = await fetch(u, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`query ${q} → HTTP ${res.status}: ${body.slice(0, 500)}`);
  const j = JSON.parse(body) as { data: { result: ApiVectorSeries[] } };
  return j.data.result;
}

function parseApiValue(s: string): number {
  if (s === "NaN") return NaN;
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  return Number(s);
}

function apiPoints(s: ApiVectorSeries): Pt[] {
  return (s.values ?? []).map(([t, v]) => [Math.round(t * 1000), parseApiValue(v)]);
}

/** Compares two sample lists; returns a description of the first difference or null. */
function diffPoints(got: Pt[], want: Pt[]): string | null {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const w = want[i];
    if (g === undefined || w === undefined || g[0] !== w[0] || !Object.is(g[1], w[1])) {
      return `sample ${i}: got ${JSON.stringify(g && [g[0], String(g[1])])}, want ${
        JSON.stringify(w && [w[0], String(w[1])])
      } (got ${got.length}, want ${want.length} samples)`;
    }
  }
  return null;
}

function keyOfMetric(m: Record<string, string>): string {
  return labelsKey(labelsFromObject(m));
}

/** mulberry32: deterministic workload. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// (a) Prometheus reads our WAL

const SERIES_INITIAL = 10_000;
const SERIES_TOTAL = 12_000;
const STEPS = 120;
const STEP_MS = 20_000;
const SAMPLES_PER_RECORD = 2500;

interface Workload {
  labels: Labels[];
  refs: number[];
  /** Expected API answer per series key (stale markers excluded). */
  expected: Map<string, Pt[]>;
  /** Series index → timestamp of its stale marker(s). */
  staleAt: Map<number, number[]>;
  /** Series that stopped without a stale marker: index → last timestamp. */
  stoppedAt: Map<number, number>;
  samples: number;
  staleMarkers: number;
  start: number;
  end: number;
  /** Bytes written per compression mode. */
  records: number;
}

function seriesLabels(i: number): Labels {
  const kind = i % 3 === 2 ? "gauge" : "counter";
  const name = kind === "counter" ? `walt_counter_${i % 4}_total` : `walt_gauge_${i % 4}`;
  return labelsFromObject({
    __name__: name,
    instance: `inst-${i % 50}`,
    job: "walt",
    series: String(i),
  });
}

/** Whether series `i` has a sample at `step`, and whether that sample is a stale marker. */
function presence(i: number): (step: number) => "none" | "sample" | "stale" {
  if (i >= SERIES_INITIAL) {
    const first = 40 + ((i - SERIES_INITIAL) % 60);
    return (s) => (s >= first ? "sample" : "none");
  }
  if (i % 10 === 7) {
    const stop = 60 + (i % 40); // a stale marker, then nothing
    return (s) => (s < stop ? "sample" : s === stop ? "stale" : "none");
  }
  if (i % 10 === 8) return (s) => (s < 80 ? "sample" : "none"); // stops without a marker
  if (i % 10 === 9 && i < 1000) {
    // goes stale, comes back
    return (s) => (s < 40 || s >= 70 ? "sample" : s === 40 ? "stale" : "none");
  }
  return () => "sample";
}

async function writeWorkload(walDir: string): Promise<Workload> {
  const rand = rng(42);
  const end = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const start = end - (STEPS - 1) * STEP_MS;
  const labels: Labels[] = [];
  const refs: number[] = [];
  const pres: ((s: number) => "none" | "sample" | "stale")[] = [];
  const value: number[] = [];
  const expected = new Map<string, Pt[]>();
  for (let i = 0; i < SERIES_TOTAL; i++) {
    labels.push(seriesLabels(i));
    // sparse, some large: Prometheus packs head series IDs into 5 bytes, so refs stay < 2^40
    refs.push(1000 + i * 3 + (i % 7 === 0 ? 2 ** 39 : 0));
    pres.push(presence(i));
    value.push(i % 3 === 2 ? 0 : Math.floor(rand() * 1000));
  }
  const staleAt = new Map<number, number[]>();
  const stoppedAt = new Map<number, number>();
  const announced = new Set<number>();
  let samples = 0;
  let staleMarkers = 0;
  let records = 0;
  const order = Array.from({ length: SERIES_TOTAL }, (_, i) => i);

  let wal = await Wal.open(walDir, { compress: false, segmentSize: 4 * 1024 * 1024 });
  for (let step = 0; step < STEPS; step++) {
    if (step === STEPS / 2) {
      // second half in snappy-compressed segments, as `--storage.tsdb.wal-compression` writes
      await wal.close();
      wal = await Wal.open(walDir, { compress: true, segmentSize: 4 * 1024 * 1024 });
    }
    // new series first (a series record precedes its samples)
    const fresh: RefSeries[] = [];
    for (let i = 0; i < SERIES_TOTAL; i++) {
      if (!announced.has(i) && pres[i](step) !== "none") {
        announced.add(i);
        fresh.push({ ref: refs[i], labels: labels[i] });
      }
    }
    const recs: Uint8Array[] = [];
    if (fresh.length > 0) recs.push(encodeSeries(fresh));
    // shuffled order: ref deltas go both ways
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1));
      [order[k], order[j]] = [order[j], order[k]];
    }
    const b = {
      n: 0,
      refs: new Float64Array(SERIES_TOTAL),
      ts: new Float64Array(SERIES_TOTAL),
      vs: new Float64Array(SERIES_TOTAL),
    };
    const words = float64Words(b.vs);
    for (const i of order) {
      const p = pres[i](step);
      if (p === "none") continue;
      const t = start + step * STEP_MS - (i * 37) % 1000;
      const key = labelsKey(labels[i]);
      b.refs[b.n] = refs[i];
      b.ts[b.n] = t;
      if (p === "stale") {
        setStaleWord(words, b.n);
        staleMarkers++;
        const l = staleAt.get(i) ?? [];
        l.push(t);
        staleAt.set(i, l);
      } else {
        let v: number;
        if (i % 3 !== 2) {
          // counter: grows, sometimes resets
          v = rand() < 0.02 ? Math.floor(rand() * 3) : value[i] + Math.round(rand() * 1000) / 8;
          value[i] = v;
        } else {
          const r = rand();
          v = r < 0.005
            ? NaN
            : r < 0.01
            ? Infinity
            : r < 0.015
            ? -Infinity
            : r < 0.02
            ? -0
            : (rand() - 0.5) * 10 ** Math.floor(rand() * 12 - 4);
        }
        b.vs[b.n] = v;
        let l = expected.get(key);
        if (l === undefined) expected.set(key, l = []);
        l.push([t, v]);
        if (i % 10 === 8 && i < SERIES_INITIAL) stoppedAt.set(i, t);
        samples++;
      }
      b.n++;
      if (b.n === SAMPLES_PER_RECORD) {
        recs.push(encodeSamples(b));
        b.n = 0;
      }
    }
    if (b.n > 0) recs.push(encodeSamples(b));
    records += recs.length;
    await wal.log(...recs);
  }
  await wal.close();
  return {
    labels,
    refs,
    expected,
    staleAt,
    stoppedAt,
    samples,
    staleMarkers,
    start,
    end,
    records,
  };
}

e2eTest(
  "Prometheus 2.42 replays our WAL (10k+ series, stale markers, churn, snappy) sample for sample",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      const data = await dirs.make("wal-e2e-a-");
      const t0 = performance.now();
      const w = await writeWorkload(`${data}/wal`);
      const writeMs = performance.now() - t0;
      const segs: string[] = [];
      for await (const e of Deno.readDir(`${data}/wal`)) segs.push(e.name);
      let walBytes = 0;
      for (const s of segs) walBytes += (await Deno.stat(`${data}/wal/${s}`)).size;
      console.log(
        `wrote ${w.labels.length} series, ${w.samples} samples + ${w.staleMarkers} stale markers` +
          ` in ${w.records} records, ${segs.length} segments, ${walBytes} bytes` +
          ` (${(walBytes / (w.samples + w.staleMarkers)).toFixed(2)} B/sample) in ${
            writeMs.toFixed(0)
          } ms`,
      );

      // both kinds of segments: uncompressed first half, snappy second half
      const flags = new Set<number>();
      for (const s of segs) {
        const b = await Deno.readFile(`${data}/wal/${s}`);
        if (b.length > 0) flags.add(b[0] & 8);
      }
      assertEquals([...flags].sort(), [0, 8], "uncompressed and compressed segments");

      // our own reader agrees with what we wrote, stale bits included
      let readStale = 0;
      let readSamples = 0;
      for await (const rec of readRecords(`${data}/wal`)) {
        if (recordType(rec) !== RecordType.Samples) continue;
        const b = decodeSamples(rec);
        const words = float64Words(b.vs);
        for (let i = 0; i < b.n; i++) {
          if (isStaleWord(words, i)) readStale++;
          else readSamples++;
        }
      }
      assertEquals([readSamples, readStale], [w.samples, w.staleMarkers]);

      const t1 = performance.now();
      prom = await startPrometheus({
        dataDir: data,
        config: "global:\n  scrape_interval: 1m\n",
        readyTimeoutMs: 180_000,
      });
      console.log(
        `prometheus replayed our WAL and was ready in ${(performance.now() - t1).toFixed(0)} ms`,
      );
      const logs = prom.logs();
      assert(
        !/corrupt|repair/i.test(logs),
        `Prometheus found no corruption:\n${logs.slice(-3000)}`,
      );

      // every sample back, raw, per metric name
      const at = w.end / 1000 + 1;
      const names = new Set<string>();
      for (const l of w.labels) names.add(l[1]);
      let seriesCompared = 0;
      let samplesCompared = 0;
      const seen = new Set<string>();
      const diffs: string[] = [];
      for (const name of [...names].sort()) {
        const res = await apiQuery(prom.url, `{__name__="${name}"}[1h]`, at);
        for (const s of res) {
          const key = keyOfMetric(s.metric);
          seen.add(key);
          const want = w.expected.get(key);
          if (want === undefined) {
            diffs.push(`unexpected series ${key}`);
            continue;
          }
          const got = apiPoints(s);
          const d = diffPoints(got, want);
          if (d !== null) diffs.push(`${key}: ${d}`);
          seriesCompared++;
          samplesCompared += got.length;
        }
      }
      for (const key of w.expected.keys()) if (!seen.has(key)) diffs.push(`missing series ${key}`);
      assertEquals(diffs.slice(0, 20), [], `${diffs.length} differences`);
      assertEquals(samplesCompared, w.samples);
      assert(seriesCompared >= 10_000, `${seriesCompared} series`);

      // stale markers end series: an instant query right after the marker finds nothing (it
      // would return NaN if the marker's bits had been lost); a series that stopped without
      // a marker is still found within the 5m lookback
      let staleChecked = 0;
      const ended = [...w.staleAt].filter(([i]) => i % 10 === 7).slice(0, 10);
      const resumed = [...w.staleAt].filter(([i]) => i % 10 === 9).slice(0, 5);
      for (const [i, ts] of [...ended, ...resumed]) {
        const sel = `{__name__="${w.labels[i][1]}",series="${i}"}`;
        for (const t of ts) {
          const before = await apiQuery(prom.url, sel, (t - 1) / 1000);
          assertEquals(before.length, 1, `series ${i} present before its stale marker`);
          const after = await apiQuery(prom.url, sel, (t + 1000) / 1000);
          assertEquals(after, [], `series ${i} ended by its stale marker at ${t}`);
          staleChecked++;
        }
      }
      for (const [i, t] of [...w.stoppedAt].slice(0, 5)) {
        const sel = `{__name__="${w.labels[i][1]}",series="${i}"}`;
        const after = await apiQuery(prom.url, sel, (t + 60_000) / 1000);
        assertEquals(after.length, 1, `series ${i} without a marker lingers for the lookback`);
      }
      assert(ended.length === 10 && resumed.length === 5);
      console.log(
        `compared ${seriesCompared} series, ${samplesCompared} samples: identical; ` +
          `${staleChecked} stale markers checked by instant queries`,
      );
    } finally {
      await prom?.stop();
      await dirs.cleanup();
    }
  },
);

// ---------------------------------------------------------------------------------------------
// (b) We read Prometheus's WAL

interface DecodedWal {
  series: Map<number, Labels>;
  points: Map<number, Pt[]>;
  samples: number;
  stale: number;
  records: number;
  unknown: number;
}

/** Decodes every record of `walDir`; with a logger, a torn tail is repaired and read again. */
async function decodeWal(walDir: string, logger?: Logger): Promise<DecodedWal> {
  for (let attempt = 0;; attempt++) {
    const d: DecodedWal = {
      series: new Map(),
      points: new Map(),
      samples: 0,
      stale: 0,
      records: 0,
      unknown: 0,
    };
    try {
      for await (const rec of readRecords(walDir)) {
        d.records++;
        const t = recordType(rec);
        if (t === RecordType.Series) {
          for (const s of decodeSeries(rec)) d.series.set(s.ref, s.labels);
        } else if (t === RecordType.Samples) {
          const b = decodeSamples(rec);
          const words = float64Words(b.vs);
          for (let i = 0; i < b.n; i++) {
            if (isStaleWord(words, i)) {
              d.stale++;
              continue;
            }
            let l = d.points.get(b.refs[i]);
            if (l === undefined) d.points.set(b.refs[i], l = []);
            l.push([b.ts[i], b.vs[i]]);
            d.samples++;
          }
        } else d.unknown++;
      }
      return d;
    } catch (e) {
      if (!(e instanceof WalCorruptionError) || logger === undefined || attempt > 0) throw e;
      console.log(`torn tail in Prometheus's WAL: ${e.message}; repairing our copy`);
      await repairWal(walDir, e, logger);
    }
  }
}

/** Every series Prometheus has equals our decode, sample for sample, and vice versa. */
async function compareWithPrometheus(
  url: string,
  d: DecodedWal,
  killedAt: number,
): Promise<{ series: number; samples: number; keys: Set<string> }> {
  const res = await apiQuery(url, `{__name__=~".+"}[10m]`, killedAt / 1000 + 1);
  const api = new Map<string, Pt[]>();
  for (const s of res) api.set(keyOfMetric(s.metric), apiPoints(s));
  const diffs: string[] = [];
  let series = 0;
  let samples = 0;
  const keys = new Set<string>();
  for (const [ref, labels] of d.series) {
    const want = d.points.get(ref) ?? [];
    if (want.length === 0) continue; // only stale markers: the API shows nothing
    const key = labelsKey(labels);
    keys.add(key);
    const got = api.get(key);
    if (got === undefined) {
      diffs.push(`Prometheus does not have ${key}`);
      continue;
    }
    const diff = diffPoints(got, want);
    if (diff !== null) diffs.push(`${key} (got: Prometheus, want: our decode): ${diff}`);
    series++;
    samples += want.length;
  }
  for (const key of api.keys()) if (!keys.has(key)) diffs.push(`we lack ${key}`);
  assertEquals(diffs.slice(0, 20), [], `${diffs.length} differences`);
  assertEquals(samples, d.samples);
  return { series, samples, keys };
}

e2eTest(
  "we replay the WAL of a SIGKILLed Prometheus 2.42 and match its answers after restart",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const exporter = startExporter();
    let child: Deno.ChildProcess | undefined;
    let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      const base = await dirs.make("wal-e2e-b-");
      const data = `${base}/data`;
      await Deno.mkdir(data);
      const port = freePort();
      const config = [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: prometheus",
        "    static_configs:",
        `      - targets: ['127.0.0.1:${port}']`,
        "  - job_name: exporter",
        "    static_configs:",
        `      - targets: ['${exporter.target}']`,
        "",
      ].join("\n");
      await Deno.writeTextFile(`${base}/prometheus.yml`, config);
      child = new Deno.Command(PROMETHEUS, {
        args: [
          `--config.file=${base}/prometheus.yml`,
          `--storage.tsdb.path=${data}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const status = child.status;
      const deadline = Date.now() + 30_000;
      let ready = false;
      while (!ready && Date.now() < deadline) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/-/ready`);
          await r.body?.cancel();
          ready = r.status === 200;
        } catch { /* not yet */ }
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      assert(ready, "scraping Prometheus became ready");
      const scrapeFor = 35_000;
      await new Promise((r) => setTimeout(r, scrapeFor));
      child.kill("SIGKILL");
      await status;
      child = undefined;
      const killedAt = Date.now();

      const ours = `${base}/ours`;
      const theirs = `${base}/theirs`;
      const torn = `${base}/torn`;
      await copyDir(data, ours);
      await copyDir(data, theirs);
      await copyDir(data, torn);

      // decode with our reader; a torn tail is repaired on our copy and reported
      const lines: string[] = [];
      const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
      const d = await decodeWal(`${ours}/wal`, logger);
      for (const l of lines) console.log(`repair: ${l}`);
      // Prometheus 2.42 compresses its WAL by default: check we decoded snappy records
      let compressedSegments = 0;
      for await (const e of Deno.readDir(`${ours}/wal`)) {
        if (!/^\d+$/.test(e.name)) continue;
        const b = await Deno.readFile(`${ours}/wal/${e.name}`);
        if (b.length > 0 && (b[0] & 8) !== 0) compressedSegments++;
      }
      assert(compressedSegments > 0, "Prometheus wrote snappy-compressed records");
      assert(d.series.size > 100, `decoded ${d.series.size} series`);
      assert(d.samples > 10_000, `decoded ${d.samples} samples`);
      for (const ref of d.points.keys()) assert(d.series.has(ref), `samples of unknown ref ${ref}`);

      // Prometheus restarted on its own copy, not scraping: its answers come from its replay
      prom = await startPrometheus({
        dataDir: theirs,
        config: "global:\n  scrape_interval: 1m\n",
        readyTimeoutMs: 120_000,
      });
      const c = await compareWithPrometheus(prom.url, d, killedAt);
      assert(
        c.keys.has(keyOfMetric({
          __name__: "lab_temperature_celsius",
          instance: exporter.target,
          job: "exporter",
        })),
        "exporter series present",
      );
      await prom.stop();
      prom = undefined;
      console.log(
        `Prometheus WAL: ${d.records} records (${d.unknown} of other types), ${d.series.size} ` +
          `series, ${d.samples} samples, ${d.stale} stale markers; compared ${c.series} series, ` +
          `${c.samples} samples with Prometheus after restart: identical`,
      );

      // a tail torn on purpose in Prometheus's last segment: Wal.open repairs it at the last
      // good record with a log line; Prometheus replays the repaired WAL without complaint
      // and answers exactly what we decode from it
      let last = -1;
      for await (const e of Deno.readDir(`${torn}/wal`)) {
        if (/^\d+$/.test(e.name)) last = Math.max(last, Number(e.name));
      }
      const lastPath = `${torn}/wal/${String(last).padStart(8, "0")}`;
      const size = (await Deno.stat(lastPath)).size;
      assert(size > 0, "Prometheus's last segment has data");
      await Deno.truncate(lastPath, size - 5);
      const tornLines: string[] = [];
      const w = await Wal.open(`${torn}/wal`, {
        logger: new Logger("info", "logfmt", {}, (l) => tornLines.push(l)),
      });
      await w.close();
      assertEquals(tornLines.length, 1, tornLines.join("\n"));
      assert(tornLines[0].includes(`segment=${last}`), tornLines[0]);
      console.log(`torn tail repair: ${tornLines[0]}`);
      const dt = await decodeWal(`${torn}/wal`);
      assertEquals(dt.records, d.records - 1, "exactly the torn record dropped");
      prom = await startPrometheus({
        dataDir: torn,
        config: "global:\n  scrape_interval: 1m\n",
        readyTimeoutMs: 120_000,
      });
      assert(!/corrupt/i.test(prom.logs()), `no corruption:\n${prom.logs().slice(-3000)}`);
      const ct = await compareWithPrometheus(prom.url, dt, killedAt);
      console.log(
        `after repair: ${dt.records} records, ${dt.samples} samples; Prometheus agrees on ` +
          `${ct.series} series, ${ct.samples} samples`,
      );
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await prom?.stop();
      await exporter.stop();
      await dirs.cleanup();
    }
  },
);
