// The work behind the querier's `/api/v1/series`, `/api/v1/labels` and
// `/api/v1/label/<name>/values` (https://prometheus.io/docs/prometheus/latest/querying/api/#querying-metadata):
// fan-out through one request's ProxyQueryable, the union over the `match[]` sets, sorted, as
// the `data` JSON Prometheus writes. One copy, run in an evaluation Worker (query/eval_worker.ts)
// or, without one, on the HTTP thread (query/api.ts). Store warnings collect in the queryable;
// failures are thrown as the queryable throws them (PromQLError `execution` under ABORT).
// Issue 20: tens of thousands of series must not hold the thread. The work gives the event loop a
// turn every `turnEveryMs`, and keeps little for the garbage collector to trace (its pauses were
// the long stretches left): with one `match[]` the proxy's merge already sends the series sorted
// and unique, so each is written to the JSON as it arrives and dropped; the JSON is kept as UTF-8
// pieces of about 64 KiB (bytes, which the collector does not scan). Several `match[]` sets (a
// union to sort) are collected, sorted and written out like label names and values.

import { compareLabels, compareStrings } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";
import { goJSONString, labelsJSON } from "../strconv/json.ts";
import { TurnPacer } from "../runutil/loop_turn.ts";
import { concatBytes } from "../cache/conn.ts";
import type { ProxyQueryable } from "./queryable.ts";

/** The three metadata requests, as the evaluation pool names them. */
export type LabelApiKind = "series" | "labels" | "label_values";

/** One metadata request: `match[]` sets (none: every series), a time range in ms. */
export interface LabelApiRequest {
  kind: LabelApiKind;
  matchers: Matcher[][];
  /** label_values: the label. */
  name?: string;
  start: number;
  end: number;
}

/**
 * Longest stretch (ms) of the work between two event-loop turns on the HTTP thread: probes and
 * cheap requests wait about this long behind a large series request.
 */
export const LABEL_API_TURN_EVERY_MS = 1;

/** Size of the JSON pieces (UTF-16 code units, about bytes). */
const PIECE = 64 * 1024;

const utf8 = new TextEncoder();

/**
 * The request's `data` JSON as UTF-8 pieces (warnings are in `q.warnings`); every store call is
 * done when this resolves.
 */
export async function labelApiData(
  q: ProxyQueryable,
  r: LabelApiRequest,
  signal: AbortSignal,
  turnEveryMs = LABEL_API_TURN_EVERY_MS,
): Promise<Uint8Array[]> {
  const pacer = new TurnPacer(turnEveryMs);
  if (r.kind === "series") {
    const hints = { start: r.start, end: r.end, skipChunks: true, func: "series" } as const;
    if (r.matchers.length === 1) {
      const out = new JSONArrayPieces();
      let prev: Labels | undefined;
      let sorted = true;
      for await (const s of q.select(r.matchers[0], hints, signal)) {
        // a set not sorted and unique breaks the proxy's contract: collected below instead
        if (prev !== undefined && compareLabels(prev, s.labels) >= 0) {
          sorted = false;
          break;
        }
        out.add(labelsJSON(s.labels));
        prev = s.labels;
        const p = pacer.pause();
        if (p) await p;
      }
      if (sorted) return out.end();
    }
    const all: Labels[] = [];
    for (const ms of r.matchers) {
      for await (const s of q.select(ms, hints, signal)) {
        all.push(s.labels);
        const p = pacer.pause();
        if (p) await p;
      }
    }
    return await writeJSON(sortedUnique(all, compareLabels), labelsJSON, pacer);
  }
  const all: string[] = [];
  const sets = r.matchers.length === 0 ? [[]] : r.matchers;
  for (const ms of sets) {
    const list = r.kind === "labels"
      ? await q.labelNames(ms, r.start, r.end, signal)
      : await q.labelValues(r.name ?? "", ms, r.start, r.end, signal);
    for (const v of list) all.push(v);
  }
  return await writeJSON(sortedUnique(all, compareStrings), goJSONString, pacer);
}

/** `items` sorted by `cmp`, without duplicates (a list already so is returned as it is). */
function sortedUnique<T>(items: T[], cmp: (a: T, b: T) => number): T[] {
  let sorted = true;
  for (let i = 1; i < items.length && sorted; i++) sorted = cmp(items[i - 1], items[i]) < 0;
  if (sorted) return items;
  items.sort(cmp);
  const out: T[] = [];
  for (const x of items) if (out.length === 0 || cmp(out[out.length - 1], x) !== 0) out.push(x);
  return out;
}

/** The JSON array of `items`, with turns in between. */
async function writeJSON<T>(
  items: T[],
  json: (x: T) => string,
  pacer: TurnPacer,
): Promise<Uint8Array[]> {
  const out = new JSONArrayPieces();
  for (const x of items) {
    out.add(json(x));
    const p = pacer.pause();
    if (p) await p;
  }
  return out.end();
}

/** A JSON array written element by element into UTF-8 pieces of about {@link PIECE} bytes. */
class JSONArrayPieces {
  private readonly pieces: Uint8Array[] = [];
  private buf = "[";
  private n = 0;

  add(element: string): void {
    if (this.n++ > 0) this.buf += ",";
    this.buf += element;
    if (this.buf.length >= PIECE) {
      this.pieces.push(utf8.encode(this.buf));
      this.buf = "";
    }
  }

  end(): Uint8Array[] {
    this.pieces.push(utf8.encode(this.buf + "]"));
    return this.pieces;
  }
}

/** One piece as it is; several as a stream (query/api.ts frames either without copying). */
export function labelApiBody(pieces: Uint8Array[]): Uint8Array | ReadableStream<Uint8Array> {
  if (pieces.length === 1) return pieces[0];
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (i < pieces.length) ctrl.enqueue(pieces[i++]);
      else ctrl.close();
    },
  }, { highWaterMark: 0 });
}

/** The pieces as one buffer (an evaluation Worker's answer, transferred). */
export function joinPieces(pieces: Uint8Array[]): Uint8Array {
  return pieces.length === 1 ? pieces[0] : concatBytes(pieces);
}
