// The querier's fan-out, as Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/proxy.go does it (partial response:
// https://thanos.io/tip/components/query.md/#partial-response): pick the endpoints whose time range
// and external label sets can answer a request, stream Series from all of them at once, k-way merge
// the streams by labels into one sorted series set (equal label sets become one series,
// byte-identical chunks dropped), and turn store failures into warnings (partial response) or a
// query error (abort). Leaving the merged stream early, aborting the caller's signal or a per-store
// response timeout cancels the store calls.

import { type ShardMatcher, shardMatcher } from "./shard.ts";
import { MinHeap } from "../tsdb/heap.ts";
import {
  compareLabels,
  dropLabels,
  getLabel,
  labelsToString,
  mergeLabels,
  unionSorted,
} from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import { type Labels, type SeriesWithChunks } from "../tsdb/series.ts";
import {
  INT64_MAX,
  INT64_MIN,
  type LabelNamesRequest,
  type LabelValuesRequest,
  PartialResponseStrategy,
  type SeriesRequest,
  type StoreInfo,
} from "./codec.ts";
import { sortAndDropIdenticalChunks } from "./dedup.ts";
import { type LabelSetSelector, matchersForLabelSets, selectedLabelSets } from "./tsdb_selector.ts";
import type { SeriesItem, StoreBackend, StoreCallContext } from "./server.ts";
import { DEFAULT_TENANT } from "../server/tenancy.ts";
import { withLoopTimeout } from "../runutil/loop_clock.ts";
import { endSpan, inSpan, type Span, SpanKind, startSpan, withSpan } from "../tracing/tracer.ts";

/** The calls the proxy makes on an endpoint (a StoreClient, or any StoreBackend in tests). */
export type ProxyStoreClient = Pick<StoreBackend, "series" | "labelNames" | "labelValues"> & {
  /** The series stream by the batch (a StoreClient: one batch per network read); optional. */
  seriesBatches?(
    req: SeriesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): AsyncIterable<SeriesItem[]>;
};

/** One endpoint the proxy may query. */
export interface ProxyEndpoint {
  /** Address (`host:port`): named in warnings and errors, matched by `storeMatch[]`. */
  name: string;
  client: ProxyStoreClient;
  /** Last Info answer; null when never answered (then assumed to hold all time, no labels). */
  info: StoreInfo | null;
}

/** An endpoint that is not queried (unhealthy): its last Info answer and its last error. */
export interface UnavailableEndpoint {
  name: string;
  info: StoreInfo | null;
  error: string;
}

/** Options of {@link StoreProxy}. */
export interface StoreProxyOptions {
  /** The endpoints currently queryable (healthy or strict). Called per request. */
  endpoints: () => readonly ProxyEndpoint[];
  /**
   * Endpoints known but not queried (unhealthy). An answer that lacks the data of one of them
   * that could have matched carries a warning naming it (an error under ABORT): an empty
   * success must never hide a store that is down. Called per request.
   */
  unavailable?: () => readonly UnavailableEndpoint[];
  /** Cancel a store that sends nothing for this long (ms); 0 = never (`--store.response-timeout`). */
  responseTimeoutMs?: number;
  /** `--selector-label`s: requests contradicting them get nothing; advertised in Info. */
  selectorLabels?: Labels;
  /** Component type advertised in Info (default `query`). */
  componentType?: string;
  /**
   * `--selector.relabel-config`: which endpoints' label sets (TSDBs) are queried and announced
   * (storeapi/tsdb_selector.ts).
   */
  tsdbSelector?: LabelSetSelector;
}

/** Per-request options beyond the StoreAPI request. */
export interface ProxyCallOptions extends StoreCallContext {
  /** `storeMatch[]`: only endpoints whose `__address__` matches one of these sets are queried. */
  storeMatchers?: Matcher[][];
}

/**
 * The call context every store call of the proxy carries: the caller's tenant, else the default
 * tenant (Thanos's proxy always sets the tenant metadata on its calls).
 */
function downstreamCall(call: StoreCallContext | undefined): StoreCallContext {
  const tenant = call?.tenant || DEFAULT_TENANT;
  // nearly every call is the last one's tenant: its context again, not a new object
  if (lastDownstream.tenant !== tenant) lastDownstream = Object.freeze({ tenant });
  return lastDownstream;
}

let lastDownstream: StoreCallContext = Object.freeze({ tenant: DEFAULT_TENANT });

/** A store failed and the request's strategy is ABORT. */
export class StoreRequestError extends Error {
  override name = "StoreRequestError";
  constructor(readonly store: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Text of a store failure, naming the store (Thanos: "receive series from <addr>: …"). */
function describeFailure(what: string, store: string, e: unknown): string {
  // a GrpcError's message is already Go's "rpc error: code = … desc = …"
  const msg = e instanceof Error ? e.message : String(e);
  return `${what} from ${store}: ${msg}`;
}

/** True when one of `sets` (label sets of an endpoint) is compatible with `matchers`. */
export function labelSetsMatch(sets: readonly Labels[], matchers: readonly Matcher[]): boolean {
  if (sets.length === 0) return true;
  for (const ls of sets) {
    let ok = true;
    for (const m of matchers) {
      const v = getLabel(ls, m.name);
      if (v === "" && !hasLabel(ls, m.name)) continue;
      if (!m.matches(v)) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

function hasLabel(ls: Labels, name: string): boolean {
  for (let i = 0; i < ls.length; i += 2) if (ls[i] === name) return true;
  return false;
}

/** False when an endpoint's Info (if any) or `storeMatch[]` rule it out for a request. */
function mayAnswer(
  name: string,
  info: StoreInfo | null,
  mint: number,
  maxt: number,
  matchers: readonly Matcher[],
  call?: ProxyCallOptions,
): boolean {
  if (info && info.storeApi === false) return false;
  if (info && (info.maxTime < mint || info.minTime > maxt)) return false;
  if (info && !labelSetsMatch(info.labelSets, matchers)) return false;
  return matchesStoreMatchers(name, call?.storeMatchers);
}

function matchesStoreMatchers(address: string, sets: Matcher[][] | undefined): boolean {
  if (!sets || sets.length === 0) return true;
  return sets.some((ms) => ms.every((m) => m.matches(m.name === "__address__" ? address : "")));
}

/**
 * Reads one store's series stream with response timeout and error handling. Series are pulled
 * only when the merge asks: the gRPC client already collects each stream's messages as they
 * arrive (up to its high-water mark, then HTTP/2 flow control), so the stores keep sending in
 * parallel while the merge waits on one of them, and a suspended stream is not torn down.
 */
class StoreStream {
  private readonly it: AsyncIterator<SeriesItem[]>;
  /** Series pulled but not handed out yet: `buf[bufPos..]`. */
  private buf: SeriesWithChunks[] = [];
  private bufPos = 0;
  private readonly ctrl = new AbortController();
  private readonly parent: AbortSignal;
  private readonly onParentAbort = () => this.ctrl.abort(this.parent.reason);
  private readonly strip: ReadonlySet<string> | null;
  /** Vertical sharding done here for a store that does not shard itself (as Thanos' proxy). */
  private readonly inShard: ShardMatcher | null;
  private eager: SeriesWithChunks[] | null = null;
  private eagerPos = 0;
  /** A child span of the fan-out per store call (its client sends it as the call's parent). */
  private readonly span: Span;
  private spanEnded = false;
  done = false;
  /** The store's stream ended normally (its call is over). */
  private ended = false;

  constructor(
    readonly ep: ProxyEndpoint,
    req: SeriesRequest,
    parent: AbortSignal,
    private readonly timeoutMs: number,
    private readonly abort: boolean,
    private readonly warn: (w: string) => void,
    call: StoreCallContext,
  ) {
    const replicas = req.withoutReplicaLabels ?? [];
    // stores that cannot drop replica labels: drop them here and re-sort (eager read)
    this.strip = replicas.length > 0 && ep.info?.supportsWithoutReplicaLabels !== true
      ? new Set(replicas)
      : null;
    this.inShard = ep.info?.supportsSharding === true ? null : shardMatcher(req.shardInfo);
    // the caller's abort reaches this call (a listener: cheaper per call than AbortSignal.any)
    this.parent = parent;
    if (parent.aborted) this.ctrl.abort(parent.reason);
    else parent.addEventListener("abort", this.onParentAbort, { once: true });
    const signal = this.ctrl.signal;
    this.span = startSpan("store_series", { "store.address": ep.name }, SpanKind.CLIENT);
    const c = ep.client;
    const open = () =>
      (c.seriesBatches ? c.seriesBatches(req, signal, call) : singles(c.series(req, signal, call)))[
        Symbol.asyncIterator
      ]();
    this.it = withSpan(this.span, open);
  }

  private endSpan(err?: unknown): void {
    if (this.spanEnded) return;
    this.spanEnded = true;
    endSpan(this.span, err);
  }

  /** Next series, or null at the end (after a failure in WARN mode, too). */
  async next(): Promise<SeriesWithChunks | null> {
    if (this.done) return null;
    if (this.bufPos < this.buf.length) return this.buf[this.bufPos++];
    const b = await this.nextBatch();
    if (b === null) return null;
    this.buf = b;
    this.bufPos = 1;
    return b[0];
  }

  /** The next series if it already arrived (nothing to await), else undefined. */
  takeBuffered(): SeriesWithChunks | undefined {
    if (this.done || this.bufPos >= this.buf.length) return undefined;
    return this.buf[this.bufPos++];
  }

  /** The next series in order, as many as already arrived (never empty), or null at the end. */
  async nextBatch(): Promise<SeriesWithChunks[] | null> {
    if (this.done) return null;
    if (this.bufPos < this.buf.length) {
      const rest = this.bufPos === 0 ? this.buf : this.buf.slice(this.bufPos);
      this.buf = [];
      this.bufPos = 0;
      return rest;
    }
    if (this.strip !== null && this.eager === null) await this.readAll();
    if (this.eager !== null) {
      if (this.eagerPos < this.eager.length) {
        const rest = this.eager.slice(this.eagerPos);
        this.eagerPos = this.eager.length;
        return rest;
      }
      this.done = true;
      return null;
    }
    for (;;) {
      const b = await this.pull();
      if (b === null || this.inShard === null) return b;
      const kept = b.filter((s) => this.inShard!(s.labels));
      if (kept.length > 0) return kept;
    }
  }

  /** The series of the next read that holds any (warnings handled), or null at the end. */
  private async pull(): Promise<SeriesWithChunks[] | null> {
    for (;;) {
      if (this.done) return null;
      let r: IteratorResult<SeriesItem[]>;
      try {
        r = await this.withTimeout(this.it.next());
      } catch (e) {
        // closed meanwhile (the merge ended or another store aborted it): not this store's fault
        if (this.done) return null;
        this.fail(e);
        return null;
      }
      if (r.done) {
        this.done = true;
        this.ended = true;
        return null;
      }
      let out: SeriesWithChunks[] | null = null;
      for (const item of r.value) {
        if ("warning" in item) {
          const w = `warning from ${this.ep.name}: ${item.warning}`;
          if (this.abort) {
            this.close();
            throw new StoreRequestError(this.ep.name, w);
          }
          this.warn(w);
          continue;
        }
        (out ??= []).push(item);
      }
      if (out !== null) return out;
    }
  }

  private async readAll(): Promise<void> {
    const all: SeriesWithChunks[] = [];
    for (;;) {
      const b = await this.pull();
      if (b === null) break;
      for (const s of b) {
        const labels = dropLabels(s.labels, this.strip!);
        if (this.inShard === null || this.inShard(labels)) all.push({ labels, chunks: s.chunks });
      }
    }
    all.sort((a, b) => compareLabels(a.labels, b.labels));
    const merged: SeriesWithChunks[] = [];
    for (const s of all) {
      const last = merged[merged.length - 1];
      if (last && compareLabels(last.labels, s.labels) === 0) {
        last.chunks = last.chunks.concat(s.chunks);
      } else merged.push(s);
    }
    this.eager = merged;
    this.done = false;
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    if (this.timeoutMs <= 0) return p;
    // counted in event-loop time: our own stalls are not the store's silence
    return withLoopTimeout(
      p,
      this.timeoutMs,
      () => new Error(`failed to receive any data in ${this.timeoutMs / 1000}s (response timeout)`),
    );
  }

  private fail(e: unknown): never | void {
    this.endSpan(e);
    this.done = true;
    this.close();
    const i = this.ep.info;
    const where = `Addr: ${this.ep.name} LabelSets: ${
      (i?.labelSets ?? []).map(labelsToString).join(",")
    } Mint: ${i?.minTime ?? INT64_MIN} Maxt: ${i?.maxTime ?? INT64_MAX}`;
    const msg = describeFailure("receive series", where, e);
    if (this.abort) throw new StoreRequestError(this.ep.name, msg, { cause: e });
    this.warn(msg);
  }

  /** Cancels the store call (idempotent). */
  close(): void {
    this.endSpan();
    this.done = true;
    this.parent.removeEventListener("abort", this.onParentAbort);
    // a call that ended is over: nothing to cancel (and no exception to build per query)
    if (this.ended) return;
    if (!this.ctrl.signal.aborted) this.ctrl.abort(new DOMException("proxy done", "AbortError"));
    // the generator may be mid-await: let it finish unwinding in the background
    this.it.return?.().catch(() => {});
  }
}

/** A per-series stream as batches of one (a client without `seriesBatches`). */
async function* singles<T>(items: AsyncIterable<T>): AsyncGenerator<T[]> {
  for await (const x of items) yield [x];
}

interface HeapItem {
  s: SeriesWithChunks;
  stream: StoreStream;
}

/** Fans StoreAPI requests out to endpoints and merges their answers. */
export class StoreProxy implements StoreBackend {
  constructor(private readonly opts: StoreProxyOptions) {}

  /** Endpoints able to answer a request over [mint, maxt] with `matchers`. */
  selectEndpoints(
    mint: number,
    maxt: number,
    matchers: readonly Matcher[],
    call?: ProxyCallOptions,
    candidates: readonly ProxyEndpoint[] = this.opts.endpoints(),
  ): ProxyEndpoint[] {
    const out: ProxyEndpoint[] = [];
    for (const ep of candidates) {
      if (this.selected(ep.info) && mayAnswer(ep.name, ep.info, mint, maxt, matchers, call)) {
        out.push(ep);
      }
    }
    return out;
  }

  /** False when the TSDB selector keeps none of the endpoint's label sets. */
  private selected(info: StoreInfo | null): boolean {
    return !info || selectedLabelSets(this.opts.tsdbSelector, info.labelSets) !== null;
  }

  /**
   * The matchers added to an endpoint's requests when the TSDB selector dropped some of its
   * label sets (only the kept ones are asked for); none otherwise.
   */
  private extraMatchers(info: StoreInfo | null): Matcher[] {
    if (!info || !this.opts.tsdbSelector) return [];
    const kept = selectedLabelSets(this.opts.tsdbSelector, info.labelSets);
    return kept && kept.length < info.labelSets.length ? matchersForLabelSets(kept) : [];
  }

  /**
   * What to say about the unhealthy endpoints that could have answered (pruned by the same
   * rules as queried ones: time range, external labels, `storeMatch[]`; one that never answered
   * Info cannot be pruned). Under ABORT the first one fails the request.
   */
  private unavailableWarnings(
    mint: number,
    maxt: number,
    matchers: readonly Matcher[],
    abort: boolean,
    call?: ProxyCallOptions,
  ): string[] {
    const out: string[] = [];
    for (const ep of this.opts.unavailable?.() ?? []) {
      if (!this.selected(ep.info) || !mayAnswer(ep.name, ep.info, mint, maxt, matchers, call)) {
        continue;
      }
      const msg = `store ${ep.name} is unhealthy and was not queried: ${ep.error}`;
      if (abort) throw new StoreRequestError(ep.name, msg);
      out.push(msg);
    }
    return out;
  }

  /** Union of the endpoints' label sets and time ranges (the querier as a StoreAPI). */
  info(): Promise<StoreInfo> {
    const eps = this.opts.endpoints();
    let minTime = INT64_MAX;
    let maxTime = INT64_MIN;
    const seen = new Map<string, Labels>();
    for (const ep of eps) {
      const i = ep.info;
      if (!i || i.storeApi === false) continue;
      const sets = selectedLabelSets(this.opts.tsdbSelector, i.labelSets);
      if (sets === null) continue;
      if (i.minTime < minTime) minTime = i.minTime;
      if (i.maxTime > maxTime) maxTime = i.maxTime;
      for (const ls of sets) {
        const full = this.opts.selectorLabels ? mergeLabels(ls, this.opts.selectorLabels) : ls;
        seen.set(full.join("\xff"), full);
      }
    }
    if (minTime > maxTime) {
      minTime = INT64_MIN;
      maxTime = INT64_MAX;
    }
    let labelSets = [...seen.values()].sort(compareLabels);
    if (labelSets.length === 0 && this.opts.selectorLabels?.length) {
      labelSets = [this.opts.selectorLabels];
    }
    return Promise.resolve({
      componentType: this.opts.componentType ?? "query",
      labelSets,
      minTime,
      maxTime,
      storeApi: true,
      supportsSharding: true,
      supportsWithoutReplicaLabels: true,
    });
  }

  private contradictsSelector(matchers: readonly Matcher[]): boolean {
    const sel = this.opts.selectorLabels;
    if (!sel || sel.length === 0) return false;
    return !labelSetsMatch([sel], matchers);
  }

  /**
   * Merged series of every selected endpoint, sorted by labels; warnings are yielded as items.
   * Throws StoreRequestError when a store fails and the strategy is ABORT, and when no endpoint
   * exists at all under ABORT ("No StoreAPIs available").
   */
  async *series(
    req: SeriesRequest,
    signal: AbortSignal,
    call?: ProxyCallOptions,
  ): AsyncGenerator<SeriesItem> {
    for await (const b of this.seriesBatches(req, signal, call)) {
      for (let i = 0; i < b.length; i++) yield b[i];
    }
  }

  /**
   * {@link series} by the batch (never empty): with one store, as many series as arrived in one
   * read of its stream, so a consumer awaits once per read rather than once per series.
   */
  async *seriesBatches(
    req: SeriesRequest,
    signal: AbortSignal,
    call?: ProxyCallOptions,
  ): AsyncGenerator<SeriesItem[]> {
    const abort = isAbort(req);
    if (this.contradictsSelector(req.matchers)) return;
    const warnings = this.unavailableWarnings(req.minTime, req.maxTime, req.matchers, abort, call);
    // one snapshot of the endpoints per request (each is a new list)
    const all = this.opts.endpoints();
    if (abort && all.length === 0) {
      throw new StoreRequestError("", "No StoreAPIs available");
    }
    const eps = this.selectEndpoints(req.minTime, req.maxTime, req.matchers, call, all);
    if (eps.length === 0) {
      if (warnings.length > 0) yield warnings.map((w) => ({ warning: w }));
      return;
    }
    const down: SeriesRequest = { ...req, partialResponseStrategy: req.partialResponseStrategy };
    const downCall = downstreamCall(call);
    // the fan-out span, parent of one span per store call
    const span = startSpan("proxy_series", { "proxy.stores": eps.length });
    let failure: unknown = undefined;
    const streams = withSpan(span, () =>
      eps.map((ep) => {
        const extra = this.extraMatchers(ep.info);
        return new StoreStream(
          ep,
          extra.length === 0 ? down : { ...down, matchers: [...down.matchers, ...extra] },
          signal,
          this.opts.responseTimeoutMs ?? 0,
          abort,
          (w) => warnings.push(w),
          downCall,
        );
      }));
    try {
      if (streams.length === 1) {
        // one store: its stream is already sorted and unique; no heap, no per-series compare
        const only = streams[0];
        for (;;) {
          const b = await only.nextBatch();
          if (warnings.length > 0) yield warnings.splice(0).map((w) => ({ warning: w }));
          if (b === null) break;
          yield b;
        }
        return;
      }
      const heap = new MinHeap<HeapItem>((a, b) => compareLabels(a.s.labels, b.s.labels) < 0);
      // prime all streams concurrently so the stores work in parallel
      const firsts = await Promise.all(streams.map((s) => s.next()));
      for (let i = 0; i < streams.length; i++) {
        if (firsts[i] !== null) heap.push({ s: firsts[i]!, stream: streams[i] });
      }
      if (warnings.length > 0) yield warnings.splice(0).map((w) => ({ warning: w }));
      // merged series go out in batches: one yield per await on a store, not one per series
      let batch: SeriesItem[] = [];
      for (;;) {
        const top = heap.pop();
        if (!top) break;
        const group = [top];
        while (heap.size > 0 && compareLabels(heap.peek()!.s.labels, top.s.labels) === 0) {
          group.push(heap.pop()!);
        }
        let out: SeriesWithChunks = top.s;
        if (group.length > 1) {
          const chunks = [];
          for (const g of group) for (const c of g.s.chunks) chunks.push(c);
          out = { labels: top.s.labels, chunks: sortAndDropIdenticalChunks(chunks) };
        }
        if (group.length === 1) {
          let next: SeriesWithChunks | null | undefined = top.stream.takeBuffered();
          if (next === undefined) {
            if (batch.length > 0) yield batch;
            batch = [];
            next = await top.stream.next();
          }
          if (next !== null) heap.push({ s: next, stream: top.stream });
        } else {
          const nexts: (SeriesWithChunks | null | undefined)[] = group.map((g) =>
            g.stream.takeBuffered()
          );
          if (nexts.includes(undefined)) {
            if (batch.length > 0) yield batch;
            batch = [];
            await Promise.all(group.map(async (g, i) => {
              if (nexts[i] === undefined) nexts[i] = await g.stream.next();
            }));
          }
          for (let i = 0; i < group.length; i++) {
            if (nexts[i] !== null) heap.push({ s: nexts[i]!, stream: group[i].stream });
          }
        }
        for (const w of warnings.splice(0)) batch.push({ warning: w });
        batch.push(out);
      }
      if (batch.length > 0) yield batch;
      if (warnings.length > 0) yield warnings.splice(0).map((w) => ({ warning: w }));
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      for (const s of streams) s.close();
      endSpan(span, failure);
    }
  }

  /** Sorted union of the endpoints' label names. */
  async labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
    call?: ProxyCallOptions,
  ): Promise<{ names: string[]; warnings: string[] }> {
    if (this.contradictsSelector(req.matchers)) return { names: [], warnings: [] };
    const res = await this.fanOut(
      req.start,
      req.end,
      req.matchers,
      isAbort(req),
      call,
      "fetch label names",
      async (c, extra) => {
        const r = await c.labelNames(withMatchers(req, extra), signal, downstreamCall(call));
        return { list: r.names, warnings: r.warnings };
      },
    );
    const drop = new Set(req.withoutReplicaLabels ?? []);
    return { names: res.list.filter((n) => !drop.has(n)), warnings: res.warnings };
  }

  /** Sorted union of the endpoints' values of a label. */
  async labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
    call?: ProxyCallOptions,
  ): Promise<{ values: string[]; warnings: string[] }> {
    if (this.contradictsSelector(req.matchers)) return { values: [], warnings: [] };
    if ((req.withoutReplicaLabels ?? []).includes(req.label)) return { values: [], warnings: [] };
    const res = await this.fanOut(
      req.start,
      req.end,
      req.matchers,
      isAbort(req),
      call,
      "fetch label values",
      async (c, extra) => {
        const r = await c.labelValues(withMatchers(req, extra), signal, downstreamCall(call));
        return { list: r.values, warnings: r.warnings };
      },
    );
    return { values: res.list, warnings: res.warnings };
  }

  private async fanOut(
    mint: number,
    maxt: number,
    matchers: readonly Matcher[],
    abort: boolean,
    call: ProxyCallOptions | undefined,
    what: string,
    fn: (c: ProxyStoreClient, extra: Matcher[]) => Promise<{ list: string[]; warnings: string[] }>,
  ): Promise<{ list: string[]; warnings: string[] }> {
    const warnings = this.unavailableWarnings(mint, maxt, matchers, abort, call);
    const all = this.opts.endpoints();
    if (abort && all.length === 0) {
      throw new StoreRequestError("", "No StoreAPIs available");
    }
    const eps = this.selectEndpoints(mint, maxt, matchers, call, all);
    const op = what.replace(/^fetch /, "").replace(/ /g, "_"); // label_names, label_values
    const results = await inSpan(
      `proxy_${op}`,
      { "proxy.stores": eps.length },
      () =>
        Promise.allSettled(eps.map((ep) =>
          inSpan(
            `store_${op}`,
            { "store.address": ep.name },
            () => fn(ep.client, this.extraMatchers(ep.info)),
            SpanKind.CLIENT,
          )
        )),
    );
    const lists: string[][] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") {
        lists.push(r.value.list);
        for (const w of r.value.warnings) {
          if (abort) throw new StoreRequestError(eps[i].name, `warning from ${eps[i].name}: ${w}`);
          warnings.push(w);
        }
        return;
      }
      const msg = describeFailure(what, eps[i].name, r.reason);
      if (abort) throw new StoreRequestError(eps[i].name, msg, { cause: r.reason });
      warnings.push(msg);
    });
    return { list: unionSorted(lists), warnings };
  }
}

/** `req` with `extra` matchers appended (the TSDB selector's), or `req` itself. */
function withMatchers<R extends { matchers: Matcher[] }>(req: R, extra: Matcher[]): R {
  return extra.length === 0 ? req : { ...req, matchers: [...req.matchers, ...extra] };
}

function isAbort(
  req: { partialResponseStrategy?: PartialResponseStrategy; partialResponseDisabled?: boolean },
): boolean {
  return req.partialResponseStrategy === PartialResponseStrategy.ABORT ||
    req.partialResponseDisabled === true;
}
