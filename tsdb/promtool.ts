// `tools tsdb dump` and `tools tsdb analyze`: the output of Prometheus 2.42's
// `promtool tsdb dump|analyze` (cmd/promtool/tsdb.go), from our block readers.

import { Block, isBlockDir, openBlocks } from "./block.ts";
import { XorIterator } from "./chunkenc/xor.ts";
import { Matcher, MatchType } from "./matchers.ts";
import { BlocksQuerier } from "./querier.ts";
import { type Chunk, ChunkEncoding } from "./series.ts";
import { compareStrings, labelsGoString } from "./labels.ts";
import { MissingFileError } from "./errors.ts";
import { formatGoDuration } from "../strconv/duration.ts";
import { formatGoFloat } from "../strconv/float.ts";
import { utf8Length } from "../strconv/utf8.ts";

// ---------------------------------------------------------------------------------------------
// dump

/** Options of {@link tsdbDump}. */
export interface TsdbDumpOptions {
  /** Inclusive lower bound (ms); promtool's default is math.MinInt64. */
  minTime: number;
  /** Inclusive upper bound (ms); promtool's default is math.MaxInt64. */
  maxTime: number;
  /** Series selector; empty selects every series (promtool's `{__name__=~'(?s:.*)'}`). */
  matchers: Matcher[];
  /** Stops the dump between batches. */
  signal?: AbortSignal;
}

/** Output sink: receives large text batches in order. */
export type TextSink = (s: string) => void | Promise<void>;

const FLUSH_CHARS = 1 << 20;

/** Opens `dir` as a single block, or every block of a data dir (wal/, chunks_head/, *.tmp skipped). */
export async function openBlocksForDump(dir: string): Promise<Block[]> {
  try {
    await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new MissingFileError(dir, "no such data or block directory");
    }
    throw e;
  }
  if (await isBlockDir(dir)) return [await Block.open(dir)];
  return await openBlocks(dir);
}

/**
 * Writes every float sample selected by `opts` as `promtool tsdb dump` of Prometheus 2.42
 * does: `<labels> <%g value> <ms timestamp>\n`, series sorted by labels, samples by time, a
 * series present in several blocks printed once with its samples merged (equal timestamps
 * printed once, from the earliest block). `dir` is a data dir or a block dir. Returns the
 * number of samples written. Throws the typed errors of Block.open naming the bad file.
 */
export async function tsdbDump(
  dir: string,
  opts: TsdbDumpOptions,
  write: TextSink,
): Promise<number> {
  const blocks = await openBlocksForDump(dir);
  try {
    const matchers = opts.matchers.length > 0
      ? opts.matchers
      : [new Matcher(MatchType.Regexp, "__name__", ".*")];
    const q = new BlocksQuerier(blocks);
    const { minTime, maxTime } = opts;
    const it = new XorIterator();
    let buf: string[] = [];
    let size = 0;
    let samples = 0;
    const emit = (prefix: string, t: number, v: number) => {
      const line = prefix + formatGoFloat(v) + " " + t + "\n";
      buf.push(line);
      size += line.length;
      samples++;
    };
    for await (
      const s of q.select(matchers, { start: minTime, end: maxTime }, opts.signal)
    ) {
      const prefix = labelsGoString(s.labels) + " ";
      const chunks = floatChunks(s.chunks);
      if (!overlapping(chunks)) {
        for (const c of chunks) {
          it.reset(c.data);
          if (c.minTime >= minTime && c.maxTime <= maxTime) {
            while (it.next()) emit(prefix, it.t, it.v);
          } else {
            while (it.next()) {
              const t = it.t;
              if (t > maxTime) break;
              if (t >= minTime) emit(prefix, t, it.v);
            }
          }
        }
      } else {
        mergedSamples(chunks, it, (t, v) => {
          if (t >= minTime && t <= maxTime) emit(prefix, t, v);
        });
      }
      if (size >= FLUSH_CHARS) {
        const out = buf.join("");
        buf = [];
        size = 0;
        await write(out);
      }
    }
    if (buf.length > 0) await write(buf.join(""));
    return samples;
  } finally {
    for (const b of blocks) await b.close();
  }
}

/** promtool's dump iterates float samples only (it stops at a histogram sample). */
function floatChunks(chunks: Chunk[]): Chunk[] {
  for (const c of chunks) {
    if (c.encoding !== ChunkEncoding.XOR) {
      return chunks.filter((x) => x.encoding === ChunkEncoding.XOR);
    }
  }
  return chunks;
}

function overlapping(chunks: Chunk[]): boolean {
  for (let i = 1; i < chunks.length; i++) {
    if (chunks[i].minTime <= chunks[i - 1].maxTime) return true;
  }
  return false;
}

/**
 * Samples of overlapping chunks (from several blocks) merged by time; on equal timestamps the
 * sample of the chunk listed first wins, like the chained sample iterator keeps one of them.
 */
function mergedSamples(chunks: Chunk[], it: XorIterator, f: (t: number, v: number) => void): void {
  let n = 0;
  for (const c of chunks) {
    it.reset(c.data);
    n += it.numSamples;
  }
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  const order = new Uint32Array(n);
  let k = 0;
  for (const c of chunks) {
    it.reset(c.data);
    while (it.next()) {
      ts[k] = it.t;
      vs[k] = it.v;
      order[k] = k;
      k++;
    }
  }
  const idx = Array.from(order.subarray(0, k)).sort((a, b) => ts[a] - ts[b] || a - b);
  let last = NaN;
  for (const i of idx) {
    if (ts[i] === last) continue;
    last = ts[i];
    f(ts[i], vs[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// analyze

/** Options of {@link tsdbAnalyze}. */
export interface TsdbAnalyzeOptions {
  /** Items per list (promtool's default 20). */
  limit?: number;
  /** Also print the chunk fullness histogram (promtool's `--extended`). */
  extended?: boolean;
}

interface Info {
  key: string;
  metric: number;
}

/**
 * Prints promtool's `tsdb analyze` report for the block in `blockDir`: block ID, duration,
 * series, label names, postings, churn, most common pairs, cardinality lists; then our own
 * "Block statistics" (samples, chunks, chunk bytes, bytes per sample). Ties in the lists are
 * ordered by key (promtool's order among ties is random).
 */
export async function tsdbAnalyze(
  blockDir: string,
  write: TextSink,
  opts: TsdbAnalyzeOptions = {},
): Promise<void> {
  const limit = opts.limit ?? 20;
  const block = await Block.open(blockDir);
  try {
    const { meta, index } = block;
    const lines: string[] = [];
    const out = (s: string) => lines.push(s);
    const span = meta.maxTime - meta.minTime;
    out(`Block ID: ${meta.ulid}`);
    out(`Duration: ${formatGoDuration(span)}`);
    out(`Series: ${meta.stats?.numSeries ?? 0}`);
    const names = index.labelNames();
    out(`Label names: ${names.length}`);

    const labelsUncovered = new Map<string, number>();
    const pairsUncovered = new Map<string, number>();
    const pairsCount = new Map<string, number>();
    let entries = 0;
    let numChunks = 0;
    const fullness = new Array<number>(10).fill(0);
    const refs = await index.allPostings();
    for await (const s of index.seriesMany(refs)) {
      const chks = s.chunks;
      numChunks += chks.length;
      const covered = chks.length > 0 ? chks[chks.length - 1].maxTime - chks[0].minTime : 0;
      const uncovered = span - covered;
      for (let i = 0; i < s.labels.length; i += 2) {
        const key = `${s.labels[i]}=${s.labels[i + 1]}`;
        labelsUncovered.set(s.labels[i], (labelsUncovered.get(s.labels[i]) ?? 0) + uncovered);
        pairsUncovered.set(key, (pairsUncovered.get(key) ?? 0) + uncovered);
        pairsCount.set(key, (pairsCount.get(key) ?? 0) + 1);
        entries++;
      }
      if (opts.extended) {
        for (const c of chks) {
          const rec = await block.chunks.chunk(c.ref);
          const n = rec.data.length >= 2 ? (rec.data[0] << 8) | rec.data[1] : 0;
          const size = Math.min(n, 120);
          const bucket = Math.ceil((10 * size) / 120) - 1;
          if (bucket >= 0) fullness[bucket]++;
        }
      }
    }
    out(`Postings (unique label pairs): ${pairsUncovered.size}`);
    out(`Postings entries (total label pairs): ${entries}`);

    const print = (title: string, infos: Info[]) => {
      out("");
      out(title);
      infos.sort((a, b) => b.metric - a.metric || compareStrings(a.key, b.key));
      for (let i = 0; i < infos.length && i < limit; i++) out(`${infos[i].metric} ${infos[i].key}`);
    };
    const churn = (m: Map<string, number>) =>
      [...m].map(([key, v]) => ({ key, metric: span > 0 ? Math.trunc(v / span) : 0 }));
    print("Label pairs most involved in churning:", churn(pairsUncovered));
    print("Label names most involved in churning:", churn(labelsUncovered));
    print(
      "Most common label pairs:",
      [...pairsCount].map(([key, metric]) => ({ key, metric })),
    );
    const valuesByName = new Map<string, string[]>();
    for (const n of names) valuesByName.set(n, await index.labelValues(n));
    print(
      "Label names with highest cumulative label value length:",
      names.map((n) => ({
        key: n,
        metric: valuesByName.get(n)!.reduce((acc, v) => acc + utf8Length(v), 0),
      })),
    );
    print(
      "Highest cardinality labels:",
      names.map((n) => ({ key: n, metric: valuesByName.get(n)!.length })),
    );
    const metricNames = valuesByName.get("__name__") ?? [];
    const perName: Info[] = [];
    for (const n of metricNames) {
      perName.push({ key: n, metric: (await index.postings("__name__", [n])).length });
    }
    print("Highest cardinality metric names:", perName);

    if (opts.extended) {
      out("");
      out("Compaction analysis:");
      out("Fullness: Amount of samples in chunks (100% is 120 samples)");
      for (let b = 0; b < 10; b++) {
        const pct = numChunks > 0 ? Math.trunc((100 * fullness[b]) / numChunks) : 0;
        out(`${String((b + 1) * 10).padStart(7)}%: ${"#".repeat(pct)}`);
      }
    }

    const numSamples = meta.stats?.numSamples ?? 0;
    const chunkBytes = await chunkFilesSize(`${blockDir}/chunks`);
    out("");
    out("Block statistics:");
    out(`Samples: ${numSamples}`);
    out(`Chunks: ${numChunks}`);
    out(`Chunk bytes: ${chunkBytes}`);
    out(`Bytes per sample: ${numSamples > 0 ? (chunkBytes / numSamples).toFixed(3) : "0"}`);
    await write(lines.join("\n") + "\n");
  } finally {
    await block.close();
  }
}

async function chunkFilesSize(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) total += (await Deno.stat(`${dir}/${e.name}`)).size;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return total;
}
