// `thanos tools bucket rewrite`: a block rewritten without deleted series/samples and with
// relabelled series, under a new ULID, its meta.json carrying a `thanos.rewrites` entry as
// Thanos writes it (https://thanos.io/tip/components/tools.md/#bucket-rewrite).

import { parse as parseYaml } from "yaml";
import type { Bucket } from "../objstore/bucket.ts";
import type { Logger } from "../logging/log.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import {
  compareLabels,
  getLabel,
  labelsGoString,
  labelsKey,
  labelsToString,
} from "../tsdb/labels.ts";
import { type Chunk, ChunkEncoding, type Labels } from "../tsdb/series.ts";
import { decodeXorSamples } from "../tsdb/chunkenc/xor.ts";
import { Block } from "../tsdb/block.ts";
import { removeDeletedSamples } from "../tsdb/querier.ts";
import { addInterval, type Interval } from "../tsdb/tombstones.ts";
import { type EncodedSeries, type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { newULID } from "../tsdb/ulid.ts";
import { ParseError, parseMetricSelector } from "../promql/parser.ts";
import type { RelabelConfig, Relabeler } from "../relabel/relabel.ts";
import { downloadBlock } from "../block/download.ts";
import { uploadBlock } from "../block/shipper.ts";
import { markForDeletion } from "../block/markers.ts";
import { blockSeries, chunkSamples, chunksOverlap } from "./merge.ts";

/** Thanos's `metadata.BucketRewriteSource`. */
export const REWRITE_SOURCE = "bucket.rewrite";

/** One entry of `--rewrite.to-delete-config` (Thanos's `metadata.DeletionRequest`). */
export interface DeletionRequest {
  matchers: Matcher[];
  /** Inclusive [mint, maxt] ranges (ms); none deletes the whole series. */
  intervals: { mint: number; maxt: number }[];
  requestId: string;
}

/** A bad `--rewrite.to-delete-config`. */
export class DeletionConfigError extends Error {
  override name = "DeletionConfigError";
}

/**
 * Parses the YAML list of deletion requests: `- matchers: '{…}'` with optional
 * `intervals: [{mint: ms, maxt: ms}]` and `request_id`.
 */
export function parseDeletionRequests(yaml: string): DeletionRequest[] {
  let doc: unknown;
  try {
    doc = parseYaml(yaml);
  } catch (e) {
    throw new DeletionConfigError(`invalid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) throw new DeletionConfigError("expected a list of deletion requests");
  return doc.map((x, i) => {
    const at = `deletion request ${i}`;
    if (typeof x !== "object" || x === null || Array.isArray(x)) {
      throw new DeletionConfigError(`${at}: expected a mapping`);
    }
    const o = x as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!["matchers", "intervals", "request_id"].includes(k)) {
        throw new DeletionConfigError(`${at}: unknown field ${JSON.stringify(k)}`);
      }
    }
    if (typeof o.matchers !== "string") {
      throw new DeletionConfigError(`${at}: matchers must be a selector string like '{a="b"}'`);
    }
    let matchers: Matcher[];
    try {
      matchers = parseMetricSelector(o.matchers);
    } catch (e) {
      if (e instanceof ParseError) {
        throw new DeletionConfigError(`${at}: invalid matchers: ${e.message}`);
      }
      throw e;
    }
    const intervals = (o.intervals ?? []) as unknown;
    if (!Array.isArray(intervals)) throw new DeletionConfigError(`${at}: intervals must be a list`);
    return {
      matchers,
      intervals: intervals.map((iv, k) => {
        const v = iv as Record<string, unknown>;
        const mint = v?.mint, maxt = v?.maxt;
        if (!Number.isSafeInteger(mint) || !Number.isSafeInteger(maxt)) {
          throw new DeletionConfigError(`${at}: interval ${k} needs integer mint and maxt (ms)`);
        }
        return { mint: mint as number, maxt: maxt as number };
      }),
      requestId: typeof o.request_id === "string" ? o.request_id : "",
    };
  });
}

/** Go's `labels.MatchType` numbers, for the JSON Thanos writes into meta.json. */
const GO_MATCH_TYPE: Record<MatchType, number> = {
  [MatchType.Equal]: 0,
  [MatchType.NotEqual]: 1,
  [MatchType.Regexp]: 2,
  [MatchType.NotRegexp]: 3,
};

/** A deletion request as Go's encoding/json writes `metadata.DeletionRequest`. */
function deletionJson(d: DeletionRequest): unknown {
  const o: Record<string, unknown> = {
    matchers: d.matchers.map((m) => ({
      Type: GO_MATCH_TYPE[m.type],
      Name: m.name,
      Value: m.value,
    })),
  };
  if (d.intervals.length > 0) {
    o.intervals = d.intervals.map((i) => ({ Mint: i.mint, Maxt: i.maxt }));
  }
  if (d.requestId !== "") o.request_id = d.requestId;
  return o;
}

/** A relabel rule as Go's encoding/json writes Prometheus's `relabel.Config`. */
function relabelJson(c: RelabelConfig): unknown {
  const o: Record<string, unknown> = {};
  if (c.sourceLabels.length > 0) o.sourceLabels = c.sourceLabels;
  if (c.separator !== "") o.separator = c.separator;
  if (c.regex !== "") o.regex = c.regex;
  if (c.modulus !== 0) o.modulus = c.modulus;
  if (c.targetLabel !== "") o.targetLabel = c.targetLabel;
  if (c.replacement !== "") o.replacement = c.replacement;
  o.action = c.action;
  return o;
}

/** Options of {@link rewriteBlock}. */
export interface RewriteOptions {
  deletions: DeletionRequest[];
  /** Relabel rules (empty: none) and the configs they came from (for meta.json). */
  relabel: Relabeler;
  relabelConfigs: RelabelConfig[];
  /** Working directory (the block is downloaded and written there). */
  tmpDir: string;
  /** Only report the changes (no new block). */
  dryRun: boolean;
  /** Mark the source block for deletion once the new one is uploaded. */
  deleteBlocks: boolean;
  hashFunc: string;
  /**
   * Write `<tmpDir>/<new ULID>/change.log` (Thanos's `--rewrite.add-change-log`, also in a dry
   * run): a line per deleted or relabelled series, kept after the upload.
   */
  changeLog?: boolean;
  /** Upload without external labels (Thanos's `--prom-blocks`: blocks used with Prometheus). */
  promBlocks?: boolean;
  logger: Logger;
  signal?: AbortSignal;
}

/** What {@link rewriteBlock} did. */
export interface RewriteResult {
  /** The new block (also in a dry run: the ULID it would have). */
  newId: string;
  /** Series deleted whole, relabelled, merged into another one. */
  deleted: number;
  relabelled: number;
  /** Samples deleted by intervals. */
  samplesDeleted: number;
  /** The uploaded meta.json (absent in a dry run). */
  meta?: BlockMeta;
}

/**
 * True when every matcher matches `ls`. As Thanos's deletion modifier, a matcher only matches a
 * label the series has: `{a!="x"}` does not delete series without `a`.
 */
function matchesAll(ms: readonly Matcher[], ls: Labels): boolean {
  return ms.every((m) => {
    const v = getLabel(ls, m.name);
    return v !== "" && m.matches(v);
  });
}

function isHistogramChunk(c: Chunk): boolean {
  return c.encoding === ChunkEncoding.Histogram || c.encoding === ChunkEncoding.FloatHistogram;
}

/** Go's `%v` of Prometheus's `tombstones.Intervals`: `[{1 2} {5 9}]`. */
function intervalsGo(ivs: readonly Interval[]): string {
  return `[${ivs.map((iv) => `{${iv.mint} ${iv.maxt}}`).join(" ")}]`;
}

/**
 * The chunks of one series without the samples inside `intervals` (merged, sorted), as
 * Thanos's deletion modifier: a chunk inside an interval is dropped, a chunk no interval touches
 * is kept byte for byte (any encoding), a chunk partly inside is re-encoded — XOR chunks sample
 * by sample, aggregated (downsampled) chunks aggregate by aggregate
 * (tsdb/querier.ts `removeDeletedSamples`). A native histogram chunk partly inside an interval
 * is refused (Thanos's re-encoder panics on it). Adds the samples removed to `res` and the
 * deleted ranges (chunk ranges intersected with the intervals) to `deleted`.
 */
function deleteIntervals(
  id: string,
  labels: Labels,
  chunks: readonly Chunk[],
  intervals: readonly Interval[],
  res: RewriteResult,
  deleted: Interval[],
): Chunk[] {
  const out: Chunk[] = [];
  for (const c of chunks) {
    const touched = intervals.filter((iv) => iv.mint <= c.maxTime && c.minTime <= iv.maxt);
    if (touched.length === 0) {
      out.push(c);
      continue;
    }
    if (touched.some((iv) => iv.mint <= c.minTime && c.maxTime <= iv.maxt)) {
      res.samplesDeleted += chunkSamples(c);
      addInterval(deleted, { mint: c.minTime, maxt: c.maxTime });
      continue;
    }
    if (isHistogramChunk(c)) {
      throw new Error(
        `block ${id}: series ${labelsToString(labels)} has a native histogram chunk ` +
          `[${c.minTime}, ${c.maxTime}] partly inside a deletion interval; re-encoding ` +
          `histogram chunks is not supported (delete whole chunks or the whole series)`,
      );
    }
    for (const iv of touched) {
      addInterval(deleted, {
        mint: Math.max(iv.mint, c.minTime),
        maxt: Math.min(iv.maxt, c.maxTime),
      });
    }
    const r = removeDeletedSamples(c, touched);
    res.samplesDeleted += chunkSamples(c) - (r ? chunkSamples(r) : 0);
    if (r) out.push(r);
  }
  return out;
}

/**
 * Rewrites block `id` of `bucket`: downloads it under `tmpDir`, applies the relabelling then the
 * deletions to every series — in Thanos's order (`tools bucket rewrite` chains the relabel
 * modifier before the deletion modifier, so deletion matchers see relabelled series) — writes
 * the result as a new block and uploads it (unless `dryRun`). Chunks of any encoding (float
 * XOR, native histogram, aggregated downsampled) are copied as they are unless a deletion
 * interval cuts them (see {@link deleteIntervals}). Series made equal by relabelling are merged:
 * their chunks are concatenated when they do not overlap in time; overlapping float chunks are
 * merged sample by sample (a sample per timestamp, the first series' in label order wins);
 * overlapping histogram or aggregated chunks are refused. The chunks of the whole block are held
 * in memory.
 */
export async function rewriteBlock(
  bucket: Bucket,
  id: string,
  o: RewriteOptions,
): Promise<RewriteResult> {
  const log = o.logger;
  const srcDir = `${o.tmpDir}/${id}`;
  log.info("downloading block", { source: id });
  await downloadBlock(bucket, id, srcDir, { signal: o.signal });
  const block = await Block.open(srcDir);
  const newId = newULID();
  const res: RewriteResult = { newId, deleted: 0, relabelled: 0, samplesDeleted: 0 };
  // Thanos's change.log lines (compactv2 ChangeLogger)
  const changes: string[] = [];
  const wholeRange = (chunks: readonly Chunk[]) =>
    chunks.length === 0
      ? []
      : [{ mint: chunks[0].minTime, maxt: chunks[chunks.length - 1].maxTime }];
  // output series by label key: the chunks of each source series mapped to it, in label order
  const out = new Map<string, { labels: Labels; parts: Chunk[][] }>();
  let srcMeta: BlockMeta;
  try {
    srcMeta = block.meta;
    for await (const s of blockSeries(block, o.signal)) {
      let ls = s.labels;
      if (!o.relabel.empty) {
        const r = o.relabel.process(ls);
        if (r === null || r.length === 0) {
          res.deleted++;
          changes.push(`Deleted ${labelsGoString(ls)} ${intervalsGo(wholeRange(s.chunks))}`);
          continue;
        }
        if (labelsKey(r) !== labelsKey(ls)) {
          res.relabelled++;
          changes.push(`Relabelled ${labelsGoString(ls)} ${labelsGoString(r)}`);
        }
        ls = r;
      }
      const k = labelsKey(ls);
      const prev = out.get(k);
      if (!prev) out.set(k, { labels: ls, parts: [s.chunks] });
      else prev.parts.push(s.chunks);
    }
  } finally {
    await block.close();
  }
  const kept: { labels: Labels; parts: Chunk[][] }[] = [];
  for (const s of [...out.values()].sort((a, b) => compareLabels(a.labels, b.labels))) {
    let intervals: Interval[] = [];
    let whole = false;
    for (const del of o.deletions) {
      if (!matchesAll(del.matchers, s.labels)) continue;
      if (del.intervals.length === 0) {
        whole = true;
        break;
      }
      for (const iv of del.intervals) intervals = addInterval(intervals, { ...iv });
    }
    if (whole) {
      const all = s.parts.flat().sort((a, b) => a.minTime - b.minTime);
      for (const c of all) res.samplesDeleted += chunkSamples(c);
      res.deleted++;
      changes.push(
        `Deleted ${labelsGoString(s.labels)} ${
          intervalsGo(
            all.length === 0 ? [] : [{
              mint: all[0].minTime,
              maxt: Math.max(...all.map((c) => c.maxTime)),
            }],
          )
        }`,
      );
      continue;
    }
    if (intervals.length > 0) {
      const deleted: Interval[] = [];
      s.parts = s.parts.map((p) => deleteIntervals(id, s.labels, p, intervals, res, deleted))
        .filter((p) => p.length > 0);
      if (deleted.length > 0) {
        changes.push(`Deleted ${labelsGoString(s.labels)} ${intervalsGo(deleted)}`);
      }
      if (s.parts.length === 0) {
        res.deleted++;
        continue;
      }
    }
    kept.push(s);
  }
  for (const c of changes) log.debug("rewrite change", { change: c });
  log.info("rewrite of block planned", {
    source: id,
    new: newId,
    series_deleted: res.deleted,
    series_relabelled: res.relabelled,
    samples_deleted: res.samplesDeleted,
  });
  const series = kept.map((s) => mergedSeries(id, s.labels, s.parts));
  const changeLogDir = `${o.tmpDir}/${newId}`;
  const writeChangeLog = async () => {
    if (!o.changeLog) return;
    await Deno.mkdir(changeLogDir, { recursive: true });
    const f = `${changeLogDir}/change.log`;
    await Deno.writeTextFile(f, changes.map((c) => `${c}\n`).join(""));
    log.info("changelog will be available", { file: f });
  };
  if (o.dryRun) {
    await writeChangeLog();
    log.info("dry run finished; nothing written", { block: id });
    await Deno.remove(srcDir, { recursive: true });
    return res;
  }
  const thanos = srcMeta.thanos ?? { labels: {}, downsample: { resolution: 0 }, source: "" };
  await writeBlock(o.tmpDir, series, {
    ulid: newId,
    minTime: srcMeta.minTime,
    maxTime: srcMeta.maxTime,
    compaction: { ...srcMeta.compaction, sources: [newId] },
    thanos: {
      labels: thanos.labels,
      downsample: thanos.downsample,
      source: REWRITE_SOURCE,
      rewrites: [...(thanos.rewrites ?? []), {
        sources: srcMeta.compaction.sources ?? [id],
        deletions_applied: o.deletions.length > 0 ? o.deletions.map(deletionJson) : undefined,
        relabels_applied: o.relabelConfigs.length > 0
          ? o.relabelConfigs.map(relabelJson)
          : undefined,
      }],
      ...(thanos.extensions !== undefined ? { extensions: thanos.extensions } : {}),
    },
  });
  log.info("uploading new block", { source: id, new: newId });
  res.meta = await uploadBlock(bucket, `${o.tmpDir}/${newId}`, {
    hashFunc: o.hashFunc,
    signal: o.signal,
    allowEmptyLabels: o.promBlocks,
  });
  log.info("uploaded", { source: id, new: newId });
  if (o.deleteBlocks) {
    await markForDeletion(bucket, id, "block rewritten", { signal: o.signal });
    log.info("source block marked for deletion", { block: id });
  }
  await Deno.remove(srcDir, { recursive: true });
  await Deno.remove(`${o.tmpDir}/${newId}`, { recursive: true });
  await writeChangeLog();
  return res;
}

/**
 * One output series from the chunks of the source series relabelled into it (in label order):
 * one source, or sources whose chunks do not overlap in time, keep their chunks as they are;
 * overlapping float chunks are merged sample by sample; overlapping histogram or aggregated
 * chunks are refused.
 */
function mergedSeries(id: string, labels: Labels, parts: Chunk[][]): EncodedSeries | RawSeries {
  const encoded = (chunks: Chunk[]): EncodedSeries => ({
    labels,
    chunks,
    numSamples: chunks.reduce((n, c) => n + chunkSamples(c), 0),
  });
  if (parts.length === 1) return encoded(parts[0]);
  const all = parts.flat().sort((a, b) => a.minTime - b.minTime);
  if (!chunksOverlap(all)) return encoded(all);
  if (all.some((c) => c.encoding !== ChunkEncoding.XOR)) {
    throw new Error(
      `block ${id}: relabelling merges series into ${labelsToString(labels)} whose ` +
        `non-float (histogram or aggregated) chunks overlap in time; they cannot be merged`,
    );
  }
  const ts: Float64Array[] = [];
  const vs: Float64Array[] = [];
  for (const part of parts) {
    for (const c of part) {
      const d = decodeXorSamples(c.data);
      ts.push(d.ts);
      vs.push(d.vs);
    }
  }
  return mergedSamples(labels, concat(ts), concat(vs));
}

function concat(parts: Float64Array[]): Float64Array {
  if (parts.length === 1) return parts[0];
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Samples sorted by time, one per timestamp (the first series' sample wins). */
function mergedSamples(labels: Labels, ts: Float64Array, vs: Float64Array): RawSeries {
  const idx = Array.from(ts, (_, i) => i).sort((a, b) => ts[a] - ts[b] || a - b);
  const t = new Float64Array(ts.length), v = new Float64Array(ts.length);
  let n = 0;
  for (const i of idx) {
    if (n > 0 && t[n - 1] === ts[i]) continue;
    t[n] = ts[i];
    v[n++] = vs[i];
  }
  return { labels, ts: t.subarray(0, n), vs: v.subarray(0, n) };
}
