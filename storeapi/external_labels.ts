// External labels on a StoreBackend, as every Thanos StoreAPI server applies them (the Series
// contract in https://github.com/thanos-io/thanos/blob/main/pkg/store/storepb/rpc.proto; see
// `matchesExternalLabels` in
// https://github.com/thanos-io/thanos/blob/main/pkg/store/prometheus.go): matchers on external
// labels are tested against the external values and removed, external labels are attached to every
// series (external wins on conflict), replica labels in `without_replica_labels` are dropped, and
// the output stays sorted.
// Shared by sidecar, store gateway, receive and rule.

import { shardMatcher } from "./shard.ts";
import { compareLabels, compareStrings, getLabel } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type { Labels, SeriesWithChunks } from "../tsdb/series.ts";
import {
  encodeLabelsProto,
  type LabelNamesRequest,
  type LabelValuesRequest,
  type SeriesRequest,
  type SeriesWithLabelsProto,
  type StoreInfo,
} from "./codec.ts";
import { GrpcError, GrpcStatus } from "./grpc.ts";
import type { SeriesItem, StoreBackend } from "./server.ts";

/** Thanos's message when only external-label matchers were given. */
export const NO_MATCHERS_MESSAGE = "no matchers specified (excluding external labels)";

/** Options of {@link withExternalLabels}. */
export interface ExternalLabelsOptions {
  /**
   * Buffer the whole result and sort it. Needed when backend series may themselves carry external
   * or replica label names (e.g. Prometheus remote read in the sidecar), because replacing or
   * dropping those can reorder series arbitrarily. Without it, the output is kept sorted with a
   * small buffer (series that extend another series' labels), and a series carrying such a label
   * switches the rest of the stream to buffer-and-sort.
   */
  resort?: boolean;
  /**
   * When every matcher is on an external label: true (sidecar, receive, rule) answers
   * InvalidArgument; false (store gateway) lets the backend select everything.
   */
  requireMatchers?: boolean;
}

/**
 * Tests matchers against external labels. Returns null when one contradicts them (the store has
 * nothing for this request), otherwise the matchers that are not on external labels.
 */
export function matchExternalLabels(matchers: readonly Matcher[], ext: Labels): Matcher[] | null {
  const rest: Matcher[] = [];
  for (const m of matchers) {
    const v = getLabel(ext, m.name);
    if (v === "") {
      rest.push(m);
      continue;
    }
    if (!m.matches(v)) return null;
  }
  return rest;
}

/**
 * Output labels of a series: `ls` without `drop` names, merged with `ext` (already without the
 * replica labels; `ext` wins). `conflict` tells whether `ls` had a name of `ext` or `drop`.
 */
export function attachExternalLabels(
  ls: Labels,
  ext: Labels,
  drop: ReadonlySet<string>,
): { labels: Labels; conflict: boolean } {
  const out: string[] = [];
  let conflict = false;
  let i = 0;
  let j = 0;
  while (i < ls.length || j < ext.length) {
    if (i < ls.length && drop.size > 0 && drop.has(ls[i])) {
      conflict = true;
      i += 2;
      continue;
    }
    if (j >= ext.length) {
      out.push(ls[i], ls[i + 1]);
      i += 2;
      continue;
    }
    if (i >= ls.length) {
      out.push(ext[j], ext[j + 1]);
      j += 2;
      continue;
    }
    const c = compareStrings(ls[i], ext[j]);
    if (c < 0) {
      out.push(ls[i], ls[i + 1]);
      i += 2;
    } else if (c > 0) {
      out.push(ext[j], ext[j + 1]);
      j += 2;
    } else {
      conflict = true;
      out.push(ext[j], ext[j + 1]);
      i += 2;
      j += 2;
    }
  }
  return { labels: out, conflict };
}

/**
 * The ready `Series` label fields ({@link encodeLabelsProto}) of `own` merged with `ext`, from
 * `proto` (those of `own`) and `extPieces` (those of each label of `ext`), when no name of `own`
 * is in `ext`: each `Label` message is a field of its own, so the merged fields are the pieces in
 * label order. Undefined when `proto` does not hold one piece per label of `own`.
 */
export function mergeLabelsProto(
  own: Labels,
  proto: string,
  ext: Labels,
  extPieces: readonly string[],
): string | undefined {
  let out = "";
  let pos = 0; // where own label i's piece starts
  let from = 0; // start of the own pieces not yet copied
  let j = 0;
  for (let i = 0; i < own.length; i += 2) {
    for (; j < ext.length && compareStrings(ext[j], own[i]) < 0; j += 2) {
      out += proto.slice(from, pos) + extPieces[j >> 1];
      from = pos;
    }
    // the piece: tag 0x0a, the message's length as a varint, the message
    if (proto.charCodeAt(pos) !== 0x0a) return undefined;
    let len = 0;
    let mul = 1;
    let p = pos + 1;
    for (let c = 0x80; c >= 0x80; mul *= 128) {
      if (p >= proto.length) return undefined;
      c = proto.charCodeAt(p++);
      len += (c & 0x7f) * mul;
    }
    pos = p + len;
  }
  if (pos !== proto.length) return undefined;
  out += proto.slice(from);
  for (; j < ext.length; j += 2) out += extPieces[j >> 1];
  return out;
}

function isPrefix(a: Labels, b: Labels): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Attaches external labels to a Series stream item by item, keeping it sorted: series whose
 * original labels extend the group head's are held (attaching labels can reorder only these),
 * and a series with a label of `ext` or `drop` switches the rest of the stream to
 * buffer-and-sort (from the start with `sortAll`).
 */
class Attacher {
  private readonly all: SeriesWithChunks[] = [];
  private group: SeriesWithChunks[] = [];
  private groupHead: Labels = [];
  private readonly passThrough: boolean;
  /** Each external label's ready `Series` field, made when a series first brings ready labels. */
  private extPieces: string[] | null = null;

  constructor(
    private readonly ext: Labels,
    private readonly drop: ReadonlySet<string>,
    private readonly inShard: ((ls: Labels) => boolean) | null,
    private sortAll: boolean,
  ) {
    this.passThrough = ext.length === 0 && drop.size === 0;
  }

  /** Whether every item passes unchanged: no labels to attach or drop, no shard. */
  get passesAll(): boolean {
    return this.passThrough && this.inShard === null;
  }

  /** Takes the next item; appends to `out` the items ready to go. */
  push(item: SeriesItem, out: SeriesItem[]): void {
    if ("warning" in item) {
      out.push(item);
      return;
    }
    if (this.passThrough) {
      if (this.inShard === null || this.inShard(item.labels)) out.push(item);
      return;
    }
    const { labels, conflict } = attachExternalLabels(item.labels, this.ext, this.drop);
    if (this.inShard !== null && !this.inShard(labels)) return;
    // the series' labels ready-encoded (the store's index cache): merged with the external ones
    const own = (item as SeriesWithLabelsProto).labelsProto;
    let proto: string | undefined;
    if (own !== undefined && !conflict) {
      const ext = this.ext;
      const pieces = this.extPieces ??= Array.from(
        { length: ext.length / 2 },
        (_, k) => encodeLabelsProto([ext[2 * k], ext[2 * k + 1]]),
      );
      proto = mergeLabelsProto(item.labels, own, ext, pieces);
    }
    const s: SeriesWithChunks = proto === undefined
      ? { labels, chunks: item.chunks }
      : { labels, chunks: item.chunks, labelsProto: proto } as SeriesWithLabelsProto;
    if (this.sortAll || conflict) {
      this.sortAll = true;
      if (this.group.length > 0) {
        for (const g of this.group) this.all.push(g);
        this.group = [];
      }
      this.all.push(s);
      return;
    }
    if (this.group.length > 0 && !isPrefix(this.groupHead, item.labels)) {
      if (this.group.length > 1) this.group.sort(bySeriesLabels);
      for (const g of this.group) out.push(g);
      this.group = [];
    }
    if (this.group.length === 0) this.groupHead = item.labels;
    this.group.push(s);
  }

  /** The stream ended: appends the held series to `out`. */
  end(out: SeriesItem[]): void {
    if (this.group.length > 1) this.group.sort(bySeriesLabels);
    for (const g of this.group) out.push(g);
    this.group = [];
    if (this.all.length > 0) {
      this.all.sort(bySeriesLabels);
      for (const s of this.all) out.push(s);
    }
  }
}

function bySeriesLabels(a: SeriesWithChunks, b: SeriesWithChunks): number {
  return compareLabels(a.labels, b.labels);
}

/**
 * Wraps `backend` so that it serves `externalLabels` as a Thanos StoreAPI server does. The
 * backend sees requests without external-label matchers and returns its own series labels.
 */
export function withExternalLabels(
  backend: StoreBackend,
  externalLabels: Labels,
  opts: ExternalLabelsOptions = {},
): StoreBackend {
  const ext = externalLabels;
  const requireMatchers = opts.requireMatchers ?? true;

  const extWithout = (replicas: readonly string[] | undefined): Labels => {
    if (!replicas || replicas.length === 0) return ext;
    const out: string[] = [];
    for (let i = 0; i < ext.length; i += 2) {
      if (!replicas.includes(ext[i])) out.push(ext[i], ext[i + 1]);
    }
    return out;
  };

  /** The backend request and the attacher of a Series call; null when nothing can match. */
  const prepare = (req: SeriesRequest): { inner: SeriesRequest; attach: Attacher } | null => {
    const rest = matchExternalLabels(req.matchers, ext);
    if (rest === null) return null;
    if (rest.length === 0 && requireMatchers) {
      throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, NO_MATCHERS_MESSAGE);
    }
    const replicas = req.withoutReplicaLabels ?? [];
    return {
      inner: { ...req, matchers: rest, shardInfo: undefined },
      // vertical sharding: only the series of the request's shard, hashed on the labels as sent
      attach: new Attacher(
        extWithout(replicas),
        new Set(replicas),
        shardMatcher(req.shardInfo),
        opts.resort === true,
      ),
    };
  };

  async function* series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    const p = prepare(req);
    if (p === null) return;
    const out: SeriesItem[] = [];
    for await (const item of backend.series(p.inner, signal)) {
      p.attach.push(item, out);
      if (out.length === 0) continue;
      for (const s of out) yield s;
      out.length = 0;
    }
    p.attach.end(out);
    for (const s of out) yield s;
  }

  /** {@link series} batch by batch, over a backend that hands its series over in batches. */
  async function* seriesBatches(
    req: SeriesRequest,
    signal: AbortSignal,
  ): AsyncIterable<SeriesItem[]> {
    const p = prepare(req);
    if (p === null) return;
    for await (const items of backend.seriesBatches!(p.inner, signal)) {
      // no external labels (a bucket without them): the backend's batches as they are
      if (p.attach.passesAll) {
        if (items.length > 0) yield items;
        continue;
      }
      const out: SeriesItem[] = [];
      for (const item of items) p.attach.push(item, out);
      if (out.length > 0) yield out;
    }
    const out: SeriesItem[] = [];
    p.attach.end(out);
    if (out.length > 0) yield out;
  }

  return {
    async info(): Promise<StoreInfo> {
      const info = await backend.info();
      const sets = info.labelSets.length > 0
        ? info.labelSets.map((ls) => attachExternalLabels(ls, ext, new Set()).labels)
        : [ext];
      return {
        ...info,
        labelSets: sets,
        supportsWithoutReplicaLabels: true,
        supportsSharding: true,
      };
    },

    series,
    seriesBatches: backend.seriesBatches ? seriesBatches : undefined,

    async labelNames(req: LabelNamesRequest, signal: AbortSignal) {
      const rest = matchExternalLabels(req.matchers, ext);
      if (rest === null) return { names: [], warnings: [] };
      const res = await backend.labelNames({ ...req, matchers: rest }, signal);
      if (res.names.length === 0) return res;
      const outExt = extWithout(req.withoutReplicaLabels);
      const names = new Set(res.names);
      for (const r of req.withoutReplicaLabels ?? []) names.delete(r);
      for (let i = 0; i < outExt.length; i += 2) names.add(outExt[i]);
      return { names: [...names].sort(compareStrings), warnings: res.warnings };
    },

    async labelValues(req: LabelValuesRequest, signal: AbortSignal) {
      if (req.label === "") {
        throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "label name parameter cannot be empty");
      }
      const rest = matchExternalLabels(req.matchers, ext);
      if (rest === null) return { values: [], warnings: [] };
      if ((req.withoutReplicaLabels ?? []).includes(req.label)) return { values: [], warnings: [] };
      const extValue = getLabel(ext, req.label);
      if (extValue !== "") {
        if (rest.length === 0) return { values: [extValue], warnings: [] };
        // with matchers the external value counts only if some series matches
        const probe = backend.series({
          minTime: req.start,
          maxTime: req.end,
          matchers: rest,
          skipChunks: true,
          limit: 1,
        }, signal);
        const warnings: string[] = [];
        for await (const item of probe) {
          if ("warning" in item) {
            warnings.push(item.warning);
            continue;
          }
          return { values: [extValue], warnings };
        }
        return { values: [], warnings };
      }
      return await backend.labelValues({ ...req, matchers: rest }, signal);
    },
  };
}
