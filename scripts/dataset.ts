// Deterministic synthetic metrics for tests, benchmarks and the demo: counters with resets,
// gauges, classic histograms, gaps and special floats, plus OpenMetrics output that
// `promtool tsdb create-blocks-from openmetrics` ingests sample-for-sample.

import { compareLabels, labelsFromObject } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";

/** Kind of a metric family (OpenMetrics `# TYPE`). */
export type MetricKind = "counter" | "gauge" | "histogram";

/** One generated series: sorted labels and its samples (timestamps ascending, ms). */
export interface DatasetSeries {
  labels: Labels;
  ts: Float64Array;
  vs: Float64Array;
}

/** A metric family: all its series in exposition order. */
export interface MetricFamily {
  /** Family name (counters without `_total`, histograms without `_bucket`/`_sum`/`_count`). */
  name: string;
  kind: MetricKind;
  help: string;
  series: DatasetSeries[];
}

/** A generated data set. */
export interface Dataset {
  start: number;
  end: number;
  stepMs: number;
  families: MetricFamily[];
  /** Every series of every family, sorted by labels (the order blocks and dumps use). */
  series: DatasetSeries[];
}

/** Options of {@link generateDataset}. */
export interface DatasetOptions {
  /** Minimum number of series (generation stops at the first whole group reaching it). */
  series: number;
  /** First sample time (ms, ≥ 0). */
  start: number;
  /** Samples are strictly before `end` (ms). */
  end: number;
  /** Scrape interval (ms). */
  stepMs: number;
  /** PRNG seed: equal options give an identical data set. */
  seed: number;
  /**
   * Each timestamp is delayed by up to this many ms (deterministic). Timestamps are nudged so
   * that their OpenMetrics seconds form parses back to the same ms (Prometheus truncates
   * `seconds·1000`). Default 0: samples exactly on the step grid.
   */
  jitterMs?: number;
  /** Probability that a series (or a histogram) has missing spans. Default 0.2. */
  gapProbability?: number;
  /** Include the `weird_values` (NaN, ±Inf, -0, extremes) and `label_escapes` series. Default true. */
  specialValues?: boolean;
  /**
   * Add node-exporter-like families per group (`node_cpu_seconds_total{cpu,mode}`,
   * `node_memory_MemAvailable_bytes`, `node_memory_MemTotal_bytes`,
   * `node_filesystem_avail_bytes{mountpoint}`, `node_network_receive_bytes_total{device}`,
   * `node_load1`: 15 series). Default false (existing data sets stay as they were).
   */
  nodeExporter?: boolean;
}

/** Upper bounds of the classic histograms. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity];
const JOBS = ["api", "web", "db", "cache"];
const METHODS = ["GET", "POST", "PUT", "DELETE"];
const CODES = ["200", "404", "500"];

/** splitmix32-style PRNG: small, fast and good enough for test data. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

function hashSeed(seed: number, key: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** OpenMetrics timestamp (float seconds) of an integer ms timestamp. */
export function formatSeconds(ms: number): string {
  const sec = Math.floor(ms / 1000);
  const rem = ms - sec * 1000;
  return rem === 0 ? String(sec) : `${sec}.${String(rem).padStart(3, "0").replace(/0+$/, "")}`;
}

/** True when Prometheus reads `formatSeconds(ms)` back as `ms` (int64(seconds·1000) truncates). */
function roundTrips(ms: number): boolean {
  return Math.trunc(Number(formatSeconds(ms)) * 1000) === ms;
}

/** A per-series sample time grid with jitter and gaps; shared by the series of a histogram. */
function timeGrid(opts: DatasetOptions, rng: Rng, withGaps: boolean): Float64Array {
  const n = Math.max(0, Math.ceil((opts.end - opts.start) / opts.stepMs));
  const out = new Float64Array(n);
  const jitter = opts.jitterMs ?? 0;
  // up to two missing spans, each 5–25 % of the range
  const gaps: [number, number][] = [];
  if (withGaps && n > 10) {
    const k = 1 + rng.int(2);
    for (let g = 0; g < k; g++) {
      const len = Math.max(2, Math.floor(n * (0.05 + 0.2 * rng.next())));
      const from = rng.int(n - len);
      gaps.push([from, from + len]);
    }
  }
  let m = 0;
  let last = -Infinity;
  for (let i = 0; i < n; i++) {
    let inGap = false;
    for (const [a, b] of gaps) if (i >= a && i < b) inGap = true;
    if (inGap) continue;
    let t = opts.start + i * opts.stepMs + (jitter > 0 ? rng.int(jitter + 1) : 0);
    // bounded nudging: stay on a ms that survives the seconds round trip
    for (let k = 0; k < 8 && !roundTrips(t); k++) t++;
    if (t <= last || t >= opts.end || !roundTrips(t)) continue;
    out[m++] = t;
    last = t;
  }
  return out.slice(0, m);
}

function counterValues(ts: Float64Array, rng: Rng, base: number, rate: number): Float64Array {
  const vs = new Float64Array(ts.length);
  let v = Math.floor(base);
  // about one reset per 700 samples, at least the chance of one in long series
  for (let i = 0; i < ts.length; i++) {
    if (i > 0 && rng.next() < 1 / 700) v = rng.int(5);
    else v += Math.floor(rate * (0.5 + rng.next()) + rng.next());
    vs[i] = v;
  }
  return vs;
}

function gaugeValues(
  ts: Float64Array,
  rng: Rng,
  mean: number,
  amp: number,
  noise: number,
  periodMs: number,
  integer: boolean,
): Float64Array {
  const vs = new Float64Array(ts.length);
  const phase = rng.next() * 2 * Math.PI;
  for (let i = 0; i < ts.length; i++) {
    const v = mean + amp * Math.sin((2 * Math.PI * ts[i]) / periodMs + phase) +
      noise * rng.normal();
    vs[i] = integer ? Math.round(v) : v;
  }
  return vs;
}

/** Bucket counters, `_sum` and `_count` of one classic histogram, consistent at every sample. */
function histogramSeries(
  base: Record<string, string>,
  name: string,
  ts: Float64Array,
  rng: Rng,
): DatasetSeries[] {
  const nb = BUCKETS.length;
  const counts = new Float64Array(nb); // non-cumulative per-bucket totals
  const bucketVs = BUCKETS.map(() => new Float64Array(ts.length));
  const sumVs = new Float64Array(ts.length);
  const countVs = new Float64Array(ts.length);
  let sum = 0;
  const scale = 0.02 + rng.next() * 0.3;
  for (let i = 0; i < ts.length; i++) {
    if (i > 0 && rng.next() < 1 / 900) {
      counts.fill(0);
      sum = 0;
    }
    const obs = rng.int(20);
    for (let o = 0; o < obs; o++) {
      const x = -Math.log(1 - rng.next()) * scale; // exponential latencies
      sum += x;
      let b = 0;
      while (x > BUCKETS[b]) b++;
      counts[b]++;
    }
    let cum = 0;
    for (let b = 0; b < nb; b++) {
      cum += counts[b];
      bucketVs[b][i] = cum;
    }
    countVs[i] = cum;
    sumVs[i] = sum;
  }
  const out: DatasetSeries[] = [];
  for (let b = 0; b < nb; b++) {
    out.push({
      labels: labelsFromObject({ ...base, __name__: `${name}_bucket`, le: formatLe(BUCKETS[b]) }),
      ts,
      vs: bucketVs[b],
    });
  }
  out.push({ labels: labelsFromObject({ ...base, __name__: `${name}_count` }), ts, vs: countVs });
  out.push({ labels: labelsFromObject({ ...base, __name__: `${name}_sum` }), ts, vs: sumVs });
  return out;
}

function formatLe(le: number): string {
  return le === Infinity ? "+Inf" : String(le);
}

/** Values that stress float handling: NaN, ±Inf, -0, subnormals, extremes. */
function weirdValues(kind: string, ts: Float64Array, rng: Rng): Float64Array {
  const vs = new Float64Array(ts.length);
  const extremes = [1e-300, 1.7976931348623157e308, 5e-324, -0, 123456789012345680000, -1e-7, 0.1];
  for (let i = 0; i < ts.length; i++) {
    if (kind === "nan") vs[i] = i % 10 === 3 ? NaN : rng.next() * 100;
    else if (kind === "inf") vs[i] = i % 3 === 0 ? Infinity : i % 3 === 1 ? -Infinity : i;
    else vs[i] = extremes[i % extremes.length];
  }
  return vs;
}

/**
 * Generates a deterministic data set of at least `opts.series` series over [start, end): per
 * (job, instance) group 12 request counters (with resets), 3 gauges, 2 classic histograms
 * (14 series each) and `up`; some series have missing spans. The first group also carries
 * special-value and label-escaping series unless `specialValues` is false.
 */
export function generateDataset(opts: DatasetOptions): Dataset {
  if (!(opts.stepMs > 0) || !(opts.end > opts.start) || opts.start < 0) {
    throw new RangeError(
      `generateDataset: need 0 ≤ start < end and stepMs > 0 (got start=${opts.start}, ` +
        `end=${opts.end}, stepMs=${opts.stepMs})`,
    );
  }
  const gapP = opts.gapProbability ?? 0.2;
  const fam = new Map<string, MetricFamily>();
  const family = (name: string, kind: MetricKind, help: string): MetricFamily => {
    let f = fam.get(name);
    if (!f) {
      f = { name, kind, help, series: [] };
      fam.set(name, f);
    }
    return f;
  };
  let count = 0;
  const add = (f: MetricFamily, s: DatasetSeries) => {
    f.series.push(s);
    count++;
  };
  const rngFor = (key: string) => new Rng(hashSeed(opts.seed, key));

  for (let g = 0; count < opts.series && g < 1_000_000; g++) {
    const job = JOBS[g % JOBS.length];
    const instance = `host-${String(Math.floor(g / JOBS.length)).padStart(3, "0")}:9100`;
    const key = `${job}/${instance}`;
    const base = { job, instance };

    const reqs = family("http_requests", "counter", "Total HTTP requests.");
    for (const method of METHODS) {
      for (const code of CODES) {
        const r = rngFor(`${key}/req/${method}/${code}`);
        const ts = timeGrid(opts, r, r.next() < gapP);
        const rate = code === "200" ? 50 : code === "404" ? 3 : 0.5;
        add(reqs, {
          labels: labelsFromObject({ ...base, __name__: "http_requests_total", method, code }),
          ts,
          vs: counterValues(ts, r, r.next() * 2e6, rate),
        });
      }
    }

    const mem = family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    {
      const r = rngFor(`${key}/mem`);
      const ts = timeGrid(opts, r, r.next() < gapP);
      add(mem, {
        labels: labelsFromObject({ ...base, __name__: "process_resident_memory_bytes" }),
        ts,
        vs: gaugeValues(ts, r, 2e8 + r.next() * 1e8, 5e7, 1e6, 3_600_000, true),
      });
    }
    const temp = family("node_temperature_celsius", "gauge", "Sensor temperature.");
    for (const sensor of ["cpu", "outside"]) {
      const r = rngFor(`${key}/temp/${sensor}`);
      const ts = timeGrid(opts, r, r.next() < gapP);
      add(temp, {
        labels: labelsFromObject({ ...base, __name__: "node_temperature_celsius", sensor }),
        ts,
        vs: gaugeValues(ts, r, sensor === "cpu" ? 55 : -3, 10, 0.7, 86_400_000, false),
      });
    }

    const dur = family(
      "http_request_duration_seconds",
      "histogram",
      "HTTP request latency.",
    );
    for (const method of ["GET", "POST"]) {
      const r = rngFor(`${key}/dur/${method}`);
      const ts = timeGrid(opts, r, r.next() < gapP);
      for (const s of histogramSeries({ ...base, method }, dur.name, ts, r)) add(dur, s);
    }

    const up = family("up", "gauge", "Whether the target is up.");
    {
      const r = rngFor(`${key}/up`);
      const ts = timeGrid(opts, r, true);
      const vs = new Float64Array(ts.length);
      for (let i = 0; i < vs.length; i++) vs[i] = r.next() < 0.02 ? 0 : 1;
      add(up, { labels: labelsFromObject({ ...base, __name__: "up" }), ts, vs });
    }

    if (opts.nodeExporter) nodeExporterSeries(family, add, rngFor, key, base, opts, gapP);

    if (g === 0 && opts.specialValues !== false) {
      const weird = family("weird_values", "gauge", "Special float values.");
      for (const kind of ["nan", "inf", "extreme"]) {
        const r = rngFor(`${key}/weird/${kind}`);
        const ts = timeGrid(opts, r, false);
        add(weird, {
          labels: labelsFromObject({ ...base, __name__: "weird_values", kind }),
          ts,
          vs: weirdValues(kind, ts, r),
        });
      }
      const esc = family("label_escapes", "counter", "Label values that need quoting.");
      for (const path of ['/a"quoted"', "/back\\slash", "/caf\u00e9/\u65e5\u672c", "/new\nline"]) {
        const r = rngFor(`${key}/esc/${path}`);
        const ts = timeGrid(opts, r, false);
        add(esc, {
          labels: labelsFromObject({ ...base, __name__: "label_escapes_total", path }),
          ts,
          vs: counterValues(ts, r, 0, 1),
        });
      }
    }
  }

  const families = [...fam.values()];
  const series = families.flatMap((f) => f.series).sort((a, b) =>
    compareLabels(a.labels, b.labels)
  );
  return { start: opts.start, end: opts.end, stepMs: opts.stepMs, families, series };
}

/** The node-exporter-like series of one (job, instance) group (see `nodeExporter`). */
function nodeExporterSeries(
  family: (name: string, kind: MetricKind, help: string) => MetricFamily,
  add: (f: MetricFamily, s: DatasetSeries) => void,
  rngFor: (key: string) => Rng,
  key: string,
  base: Record<string, string>,
  opts: DatasetOptions,
  gapP: number,
): void {
  const cpu = family("node_cpu_seconds", "counter", "Seconds the CPUs spent in each mode.");
  const share: Record<string, number> = { idle: 0.7, system: 0.08, user: 0.2, iowait: 0.02 };
  for (const c of ["0", "1"]) {
    for (const mode of Object.keys(share)) {
      const r = rngFor(`${key}/cpu/${c}/${mode}`);
      const ts = timeGrid(opts, r, r.next() < gapP);
      // a counter of seconds: fractional increments (stepMs of wall time split between modes)
      const vs = new Float64Array(ts.length);
      let v = r.next() * 1e6;
      for (let i = 0; i < ts.length; i++) {
        v += (opts.stepMs / 1000) * share[mode] * (0.6 + 0.8 * r.next());
        vs[i] = Math.round(v * 100) / 100;
      }
      add(cpu, {
        labels: labelsFromObject({ ...base, __name__: "node_cpu_seconds_total", cpu: c, mode }),
        ts,
        vs,
      });
    }
  }
  const total = 8 * 2 ** 30;
  const memTotal = family("node_memory_MemTotal_bytes", "gauge", "Memory total in bytes.");
  const memAvail = family("node_memory_MemAvailable_bytes", "gauge", "Memory available.");
  {
    const r = rngFor(`${key}/memavail`);
    const ts = timeGrid(opts, r, r.next() < gapP);
    add(memTotal, {
      labels: labelsFromObject({ ...base, __name__: "node_memory_MemTotal_bytes" }),
      ts,
      vs: new Float64Array(ts.length).fill(total),
    });
    add(memAvail, {
      labels: labelsFromObject({ ...base, __name__: "node_memory_MemAvailable_bytes" }),
      ts,
      vs: gaugeValues(ts, r, total * 0.4, total * 0.2, 2 ** 24, 7_200_000, true),
    });
  }
  const fs = family("node_filesystem_avail_bytes", "gauge", "Filesystem space available.");
  for (const mountpoint of ["/", "/data"]) {
    const r = rngFor(`${key}/fs/${mountpoint}`);
    const ts = timeGrid(opts, r, r.next() < gapP);
    add(fs, {
      labels: labelsFromObject({ ...base, __name__: "node_filesystem_avail_bytes", mountpoint }),
      ts,
      vs: gaugeValues(ts, r, 5e10, 1e10, 1e7, 86_400_000, true),
    });
  }
  const net = family("node_network_receive_bytes", "counter", "Network bytes received.");
  for (const device of ["eth0", "lo"]) {
    const r = rngFor(`${key}/net/${device}`);
    const ts = timeGrid(opts, r, r.next() < gapP);
    add(net, {
      labels: labelsFromObject({
        ...base,
        __name__: "node_network_receive_bytes_total",
        device,
      }),
      ts,
      vs: counterValues(ts, r, r.next() * 1e9, 5e5),
    });
  }
  const load = family("node_load1", "gauge", "1m load average.");
  {
    const r = rngFor(`${key}/load1`);
    const ts = timeGrid(opts, r, r.next() < gapP);
    const vs = gaugeValues(ts, r, 1.2, 0.8, 0.2, 3_600_000, false);
    for (let i = 0; i < vs.length; i++) vs[i] = Math.max(0, Math.round(vs[i] * 100) / 100);
    add(load, { labels: labelsFromObject({ ...base, __name__: "node_load1" }), ts, vs });
  }
}

/** Total number of samples of a data set. */
export function datasetSamples(ds: Dataset): number {
  let n = 0;
  for (const s of ds.series) n += s.ts.length;
  return n;
}

/** OpenMetrics number: shortest round-trip decimal, `NaN`, `+Inf`, `-Inf`. */
export function formatOpenMetricsValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Object.is(v, -0)) return "-0";
  return String(v); // "NaN" for NaN; JS shortest form parses back exactly with Go ParseFloat
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function seriesPrefix(ls: Labels): string {
  let name = "";
  const parts: string[] = [];
  for (let i = 0; i < ls.length; i += 2) {
    if (ls[i] === "__name__") name = ls[i + 1];
    else parts.push(`${ls[i]}="${escapeLabelValue(ls[i + 1])}"`);
  }
  return `${name}{${parts.join(",")}} `;
}

/**
 * The data set as OpenMetrics text in chunks of about 1 MB (families contiguous, each series'
 * samples in time order, timestamps in seconds with ms precision, `# EOF` at the end), so
 * multi-GB outputs never become one string.
 */
export function* openMetricsChunks(ds: Dataset): Generator<string> {
  let buf: string[] = [];
  let size = 0;
  for (const f of ds.families) {
    buf.push(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.kind}\n`);
    for (const s of f.series) {
      const prefix = seriesPrefix(s.labels);
      const { ts, vs } = s;
      for (let i = 0; i < ts.length; i++) {
        const line = `${prefix}${formatOpenMetricsValue(vs[i])} ${formatSeconds(ts[i])}\n`;
        buf.push(line);
        size += line.length;
        if (size >= 1 << 20) {
          yield buf.join("");
          buf = [];
          size = 0;
        }
      }
    }
  }
  buf.push("# EOF\n");
  yield buf.join("");
}

/** Writes the OpenMetrics text of a data set to `path`. */
export async function writeOpenMetricsFile(ds: Dataset, path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  try {
    for (const c of openMetricsChunks(ds)) {
      const b = enc.encode(c);
      let off = 0;
      while (off < b.length) off += await file.write(b.subarray(off));
    }
  } finally {
    file.close();
  }
}
