// Exemplar storage of one tenant (`--tsdb.max-exemplars`), as Prometheus's
// CircularExemplarStorage (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/exemplar.go):
// one ring of `size` exemplars shared by every series of the tenant, the oldest overwritten
// first; each series links its exemplars oldest → newest. An exemplar equal to its series'
// newest is a duplicate (dropped silently), one not newer than it is out of order, one whose
// labels have more than 128 UTF-8 characters (names and values) is refused
// (`exemplar.ExemplarMaxLabelSetLength`). Exemplars live in memory only: unlike Prometheus's TSDB
// they are not written to the WAL, so a restart loses them.

import { inspect } from "../promql/ast.ts";
import { parseExpr } from "../promql/parser.ts";
import type { ExemplarData, ExemplarsBackend, ExemplarsRequest } from "../storeapi/exemplars.ts";
import { GrpcError, GrpcStatus } from "../storeapi/grpc.ts";
import { compareLabels, labelsToObject } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";
import type { PromExemplar } from "./remote_write.ts";

/** Prometheus's `exemplar.ExemplarMaxLabelSetLength`. */
export const EXEMPLAR_MAX_LABEL_SET_LENGTH = 128;

/** What adding one exemplar did. */
export type ExemplarAddResult = "ok" | "duplicate" | "out_of_order" | "label_length";

/** One series' exemplars in a time range. */
export interface ExemplarQueryResult {
  seriesLabels: Labels;
  exemplars: PromExemplar[];
}

interface Slot {
  e: PromExemplar;
  key: string;
  /** Index of this series' next (newer) exemplar, -1 for none. */
  next: number;
}

interface SeriesIndex {
  labels: Labels;
  oldest: number;
  newest: number;
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Prometheus's `Exemplar.Equals`: same labels, timestamp and value (float ==). */
function sameExemplar(a: PromExemplar, b: PromExemplar): boolean {
  if (a.timestamp !== b.timestamp || a.value !== b.value) return false;
  if (a.labels.length !== b.labels.length) return false;
  for (let i = 0; i < a.labels.length; i++) if (a.labels[i] !== b.labels[i]) return false;
  return true;
}

/** The circular exemplar storage of one tenant. */
export class CircularExemplars {
  private readonly ring: (Slot | undefined)[];
  private readonly index = new Map<string, SeriesIndex>();
  private nextIndex = 0;

  constructor(readonly size: number) {
    this.ring = new Array(Math.max(1, Math.floor(size)));
  }

  /** Exemplars stored now. */
  get count(): number {
    let n = 0;
    for (const s of this.ring) if (s !== undefined) n++;
    return n;
  }

  /** Adds `e` to the series `seriesLabels` (see the file comment for the refusals). */
  add(seriesLabels: Labels, ex: PromExemplar): ExemplarAddResult {
    // labels without empty values, as Prometheus's appender (`WithoutEmpty`) before validating
    const labels: string[] = [];
    let len = 0;
    for (let i = 0; i < ex.labels.length; i += 2) {
      if (ex.labels[i + 1] === "") continue;
      labels.push(ex.labels[i], ex.labels[i + 1]);
      len += runeCount(ex.labels[i]) + runeCount(ex.labels[i + 1]);
    }
    if (len > EXEMPLAR_MAX_LABEL_SET_LENGTH) return "label_length";
    const e: PromExemplar = { labels, value: ex.value, timestamp: ex.timestamp };
    const key = seriesLabels.join("\xff");
    const idx = this.index.get(key);
    if (idx !== undefined) {
      const newest = this.ring[idx.newest]!.e;
      if (sameExemplar(newest, e)) return "duplicate";
      if (e.timestamp <= newest.timestamp) return "out_of_order";
    }
    // evict the slot we are about to overwrite from its series' chain
    const at = this.nextIndex;
    const old = this.ring[at];
    if (old !== undefined) {
      const oi = this.index.get(old.key)!;
      if (old.next === -1) this.index.delete(old.key);
      else oi.oldest = old.next;
    }
    this.ring[at] = { e, key, next: -1 };
    const cur = this.index.get(key); // (re-read: the eviction may have removed it)
    if (cur !== undefined) {
      this.ring[cur.newest]!.next = at;
      cur.newest = at;
    } else this.index.set(key, { labels: seriesLabels, oldest: at, newest: at });
    this.nextIndex = (at + 1) % this.ring.length;
    return "ok";
  }

  /**
   * Exemplars in [start, end] (ms) of the series matching every matcher of at least one of
   * `matcherSets`, sorted by series labels (Prometheus's `Select`).
   */
  select(start: number, end: number, matcherSets: readonly Matcher[][]): ExemplarQueryResult[] {
    const out: ExemplarQueryResult[] = [];
    for (const idx of this.index.values()) {
      const first = this.ring[idx.oldest]!;
      if (first.e.timestamp > end || this.ring[idx.newest]!.e.timestamp < start) continue;
      if (!matcherSets.some((ms) => matchesAll(idx.labels, ms))) continue;
      const exemplars: PromExemplar[] = [];
      let slot: Slot | undefined = first;
      while (slot !== undefined && slot.e.timestamp <= end) {
        if (slot.e.timestamp >= start) exemplars.push(slot.e);
        slot = slot.next === -1 ? undefined : this.ring[slot.next];
      }
      if (exemplars.length > 0) out.push({ seriesLabels: idx.labels, exemplars });
    }
    return out.sort((a, b) => compareLabels(a.seriesLabels, b.seriesLabels));
  }
}

function matchesAll(ls: Labels, ms: readonly Matcher[]): boolean {
  for (const m of ms) {
    let v = "";
    for (let i = 0; i < ls.length; i += 2) {
      if (ls[i] === m.name) {
        v = ls[i + 1];
        break;
      }
    }
    if (!m.matches(v)) return false;
  }
  return true;
}

/** Where the Exemplars API reads (MultiTSDB.exemplars). */
export interface ExemplarSource {
  exemplars(start: number, end: number, matcherSets: readonly Matcher[][]): ExemplarQueryResult[];
}

/**
 * The receiver's `thanos.Exemplars/Exemplars` backend (Thanos's exemplars.MultiTSDB): the
 * query's selectors (`parser.ExtractSelectors`) over every tenant's exemplars; nothing before
 * the storage is open. Errors are gRPC statuses as Thanos's: a query that does not parse →
 * INTERNAL, a tenant whose selectors keep only external-label matchers → ABORTED.
 */
export function exemplarsBackend(source: () => ExemplarSource | null): ExemplarsBackend {
  return {
    exemplars(req: ExemplarsRequest): Promise<{ data: ExemplarData[]; warnings: string[] }> {
      let sets: Matcher[][];
      try {
        sets = extractSelectors(req.query);
      } catch (e) {
        return Promise.reject(new GrpcError(GrpcStatus.INTERNAL, (e as Error).message));
      }
      const src = source();
      if (src === null) return Promise.resolve({ data: [], warnings: [] });
      let found: ExemplarQueryResult[];
      try {
        found = src.exemplars(req.start, req.end, sets);
      } catch (e) {
        return Promise.reject(new GrpcError(GrpcStatus.ABORTED, (e as Error).message));
      }
      const data = found.map((r) => ({
        seriesLabels: labelsToObject(r.seriesLabels),
        exemplars: r.exemplars.map((e) => ({
          labels: labelsToObject(e.labels),
          value: e.value,
          ts: e.timestamp,
        })),
      }));
      return Promise.resolve({ data, warnings: [] });
    },
  };
}

/** The matchers of every vector selector of a PromQL expression (`parser.ExtractSelectors`). */
export function extractSelectors(query: string): Matcher[][] {
  const out: Matcher[][] = [];
  inspect(parseExpr(query), (node) => {
    if (node.kind === "VectorSelector") out.push(node.matchers);
  });
  return out;
}
