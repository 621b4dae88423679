// Out-of-order samples of one head series, as Prometheus keeps them
// (https://github.com/prometheus/prometheus/blob/v3.9.1/tsdb/ooo_head.go, ooo_head_read.go):
// an open chunk of up to `capMax` samples kept sorted and uncompressed (a sample whose timestamp
// it already holds is refused: the first one wins), cut into an encoded XOR chunk when full
// (`--tsdb.out-of-order.cap-max`, default 32). Closed chunks may overlap each other and the
// series' in-order chunks; readers merge them (`samplesIn`). Chunks being written into
// out-of-order blocks stay readable until the blocks are loaded (`startCompaction`,
// `endCompaction`).

import { chainMerge, type SampleList } from "./chunkenc/samples.ts";
import { decodeXorSamples, XorAppender } from "./chunkenc/xor.ts";
import { HI_WORD, LO_WORD } from "./value.ts";

/** Prometheus's default `OutOfOrderCapMax` (used when the flag is ≤ 0). */
export const DEFAULT_OOO_CAP_MAX = 32;

/** An encoded out-of-order chunk. */
export interface OooChunk {
  minTime: number;
  maxTime: number;
  data: Uint8Array;
}

/** Out-of-order samples of one series. */
export class OooSeries {
  /** Closed (encoded) chunks, in the order they were cut. */
  chunks: OooChunk[] = [];
  /** Chunks handed to a running out-of-order compaction (still read by queries). */
  compacting: OooChunk[] = [];
  private ts: Float64Array;
  private words: Uint32Array;
  private n = 0;

  constructor(readonly capMax: number) {
    this.ts = new Float64Array(capMax);
    this.words = new Uint32Array(capMax * 2);
  }

  /**
   * Inserts a sample into the open chunk (Prometheus `OOOChunk.Insert`); false when the open
   * chunk already holds that timestamp (the sample is dropped). Cuts the chunk once it holds
   * `capMax` samples.
   */
  insert(t: number, hi: number, lo: number): boolean {
    const ts = this.ts;
    const w = this.words;
    let i = this.n;
    if (i > 0 && t <= ts[i - 1]) {
      let a = 0;
      let b = i;
      while (a < b) {
        const m = (a + b) >>> 1;
        if (ts[m] < t) a = m + 1;
        else b = m;
      }
      if (ts[a] === t) return false;
      ts.copyWithin(a + 1, a, i);
      w.copyWithin(2 * a + 2, 2 * a, 2 * i);
      i = a;
    }
    ts[i] = t;
    w[2 * i + HI_WORD] = hi;
    w[2 * i + LO_WORD] = lo;
    this.n++;
    if (this.n >= this.capMax) this.cut();
    return true;
  }

  /** Encodes the open chunk into {@link chunks}. */
  private cut(): void {
    const n = this.n;
    if (n === 0) return;
    const app = new XorAppender();
    for (let i = 0; i < n; i++) {
      app.appendBits(this.ts[i], this.words[2 * i + HI_WORD], this.words[2 * i + LO_WORD]);
    }
    this.chunks.push({ minTime: this.ts[0], maxTime: this.ts[n - 1], data: app.bytes() });
    this.n = 0;
  }

  /** True when the series holds no out-of-order sample. */
  isEmpty(): boolean {
    return this.n === 0 && this.chunks.length === 0 && this.compacting.length === 0;
  }

  /** Oldest out-of-order timestamp (Infinity when empty). */
  minTime(): number {
    let m = this.n > 0 ? this.ts[0] : Infinity;
    for (const c of this.chunks) if (c.minTime < m) m = c.minTime;
    for (const c of this.compacting) if (c.minTime < m) m = c.minTime;
    return m;
  }

  /** Newest out-of-order timestamp (-Infinity when empty). */
  maxTime(): number {
    let m = this.n > 0 ? this.ts[this.n - 1] : -Infinity;
    for (const c of this.chunks) if (c.maxTime > m) m = c.maxTime;
    for (const c of this.compacting) if (c.maxTime > m) m = c.maxTime;
    return m;
  }

  /** True when some out-of-order sample lies in [mint, maxt]. */
  overlaps(mint: number, maxt: number): boolean {
    if (this.n > 0 && !(this.ts[this.n - 1] < mint || this.ts[0] > maxt)) return true;
    for (const c of this.chunks) if (!(c.maxTime < mint || c.minTime > maxt)) return true;
    for (const c of this.compacting) if (!(c.maxTime < mint || c.minTime > maxt)) return true;
    return false;
  }

  /**
   * Every out-of-order sample in [mint, maxt], sorted, one per timestamp (the one inserted
   * first wins: compacting chunks, then closed chunks in cut order, then the open chunk).
   */
  samplesIn(mint: number, maxt: number): SampleList {
    const lists: SampleList[] = [];
    for (const c of this.compacting) pushChunk(lists, c, mint, maxt);
    for (const c of this.chunks) pushChunk(lists, c, mint, maxt);
    if (this.n > 0) {
      const vs = new Float64Array(this.n);
      new Uint32Array(vs.buffer).set(this.words.subarray(0, 2 * this.n));
      lists.push(clip({ ts: this.ts.slice(0, this.n), vs, n: this.n }, mint, maxt));
    }
    if (lists.length === 0) return { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 };
    return chainMerge(lists);
  }

  /** The samples of the chunks handed to the compaction in [mint, maxt], merged as above. */
  compactingSamplesIn(mint: number, maxt: number): SampleList {
    const lists: SampleList[] = [];
    for (const c of this.compacting) pushChunk(lists, c, mint, maxt);
    if (lists.length === 0) return { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 };
    return chainMerge(lists);
  }

  /**
   * Cuts the open chunk and hands every chunk to a compaction: they stay readable (in
   * {@link compacting}) until {@link endCompaction}. New samples go to new chunks meanwhile.
   */
  startCompaction(): void {
    this.cut();
    for (const c of this.chunks) this.compacting.push(c);
    this.chunks = [];
  }

  /** The compaction's blocks are loaded: drops the chunks it took (`failed`: keeps them). */
  endCompaction(failed = false): void {
    if (failed) this.chunks = [...this.compacting, ...this.chunks];
    this.compacting = [];
  }
}

function pushChunk(lists: SampleList[], c: OooChunk, mint: number, maxt: number): void {
  if (c.maxTime < mint || c.minTime > maxt) return;
  const d = decodeXorSamples(c.data);
  lists.push(clip({ ts: d.ts, vs: d.vs, n: d.ts.length }, mint, maxt));
}

/** The samples of `s` in [mint, maxt] (a view). */
export function clip(s: SampleList, mint: number, maxt: number): SampleList {
  let a = 0;
  while (a < s.n && s.ts[a] < mint) a++;
  let b = s.n;
  while (b > a && s.ts[b - 1] > maxt) b--;
  if (a === 0 && b === s.n) return s;
  return { ts: s.ts.subarray(a, b), vs: s.vs.subarray(a, b), n: b - a };
}
