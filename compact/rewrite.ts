// `thanos tools bucket rewrite`: a block rewritten without deleted series/samples and with
// relabelled series, under a new ULID, its meta.json carrying a `thanos.rewrites` entry as
// Thanos writes it (https://thanos.io/tip/components/tools.md/#bucket-rewrite).

import { parse as parseYaml } from "yaml";
import type { Bucket } from "../objstore/bucket.ts";
import type { Logger } from "../logging/log.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { compareLabels, getLabel, labelsKey, labelsToString } from "../tsdb/labels.ts";
import { ChunkEncoding, type Labels } from "../tsdb/series.ts";
import { decodeXorSamples } from "../tsdb/chunkenc/xor.ts";
import { Block } from "../tsdb/block.ts";
import { BlockQuerier } from "../tsdb/querier.ts";
import { type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { newULID } from "../tsdb/ulid.ts";
import { ParseError, parseMetricSelector } from "../promql/parser.ts";
import type { RelabelConfig, Relabeler } from "../relabel/relabel.ts";
import { downloadBlock } from "../block/download.ts";
import { uploadBlock } from "../block/shipper.ts";
import { markForDeletion } from "../block/markers.ts";

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

function matchesAll(ms: readonly Matcher[], ls: Labels): boolean {
  return ms.every((m) => m.matches(getLabel(ls, m.name)));
}

/**
 * Rewrites block `id` of `bucket`: downloads it under `tmpDir`, applies the deletions then the
 * relabelling to every series (series made equal by relabelling are merged, a sample per
 * timestamp), writes the result as a new block and uploads it (unless `dryRun`). The whole
 * block's samples are held in memory. Only float (XOR) chunks are supported.
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
  // samples stay in Float64Arrays: a JS number array may canonicalize NaN payloads (stale markers)
  const out = new Map<string, { labels: Labels; ts: Float64Array[]; vs: Float64Array[] }>();
  let srcMeta: BlockMeta;
  try {
    srcMeta = block.meta;
    const all = [new Matcher(MatchType.Regexp, "__name__", ".*")];
    const q = new BlockQuerier(block);
    const set = q.select(all, { start: -Infinity, end: Infinity }, o.signal);
    for await (const s of set) {
      const tsParts: Float64Array[] = [];
      const vsParts: Float64Array[] = [];
      for (const c of s.chunks) {
        if (c.encoding !== ChunkEncoding.XOR) {
          throw new Error(
            `block ${id}: series ${labelsToString(s.labels)} has a chunk of encoding ` +
              `${c.encoding}; only float (XOR) chunks can be rewritten`,
          );
        }
        const d = decodeXorSamples(c.data);
        tsParts.push(d.ts);
        vsParts.push(d.vs);
      }
      let ts = concat(tsParts);
      let vs = concat(vsParts);
      let gone = false;
      for (const del of o.deletions) {
        if (!matchesAll(del.matchers, s.labels)) continue;
        if (del.intervals.length === 0) {
          gone = true;
          break;
        }
        const keepTs = new Float64Array(ts.length), keepVs = new Float64Array(ts.length);
        let n = 0;
        for (let i = 0; i < ts.length; i++) {
          if (del.intervals.some((iv) => ts[i] >= iv.mint && ts[i] <= iv.maxt)) continue;
          keepTs[n] = ts[i];
          keepVs[n++] = vs[i];
        }
        res.samplesDeleted += ts.length - n;
        ts = keepTs.subarray(0, n);
        vs = keepVs.subarray(0, n);
      }
      if (gone || ts.length === 0) {
        res.deleted++;
        log.debug("series deleted", { series: labelsToString(s.labels) });
        continue;
      }
      let ls = s.labels;
      if (!o.relabel.empty) {
        const r = o.relabel.process(ls);
        if (r === null || r.length === 0) {
          res.deleted++;
          log.debug("series dropped by relabelling", { series: labelsToString(s.labels) });
          continue;
        }
        if (labelsKey(r) !== labelsKey(ls)) {
          res.relabelled++;
          log.debug("series relabelled", {
            from: labelsToString(ls),
            to: labelsToString(r),
          });
        }
        ls = r;
      }
      const k = labelsKey(ls);
      const prev = out.get(k);
      if (!prev) out.set(k, { labels: ls, ts: [ts], vs: [vs] });
      else {
        prev.ts.push(ts);
        prev.vs.push(vs);
      }
    }
  } finally {
    await block.close();
  }
  log.info("rewrite of block planned", {
    source: id,
    new: newId,
    series_deleted: res.deleted,
    series_relabelled: res.relabelled,
    samples_deleted: res.samplesDeleted,
  });
  if (o.dryRun) {
    log.info("dry run finished; nothing written", { block: id });
    await Deno.remove(srcDir, { recursive: true });
    return res;
  }
  const series: RawSeries[] = [...out.values()].sort((a, b) => compareLabels(a.labels, b.labels))
    .map((s) => mergedSamples(s.labels, concat(s.ts), concat(s.vs)));
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
  });
  log.info("uploaded", { source: id, new: newId });
  if (o.deleteBlocks) {
    await markForDeletion(bucket, id, "block rewritten", { signal: o.signal });
    log.info("source block marked for deletion", { block: id });
  }
  await Deno.remove(srcDir, { recursive: true });
  await Deno.remove(`${o.tmpDir}/${newId}`, { recursive: true });
  return res;
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
