// Decoded float samples of one series as typed arrays (timestamps, value bits) and the two
// operations several layers share on them: the chained union of sample lists (first list wins
// on equal timestamps: query-time "chain" dedup, the head's out-of-order merge) and re-encoding
// as XOR chunks.

import type { Chunk } from "../series.ts";
import { ChunkEncoding } from "../series.ts";
import { HI_WORD, LO_WORD } from "../value.ts";
import { SAMPLES_PER_CHUNK, XorAppender } from "./xor.ts";

/**
 * Decoded samples: timestamps ascending (ms), values in `vs` read through their IEEE-754 words
 * (two per sample, HI_WORD/LO_WORD order) so NaN payloads such as stale markers survive.
 */
export interface SampleList {
  ts: Float64Array;
  vs: Float64Array;
  n: number;
}

/** Union of sample lists; on equal timestamps the earlier list's sample wins. */
export function chainMerge(lists: readonly SampleList[]): SampleList {
  let acc = lists[0];
  for (let r = 1; r < lists.length; r++) {
    const a = acc;
    const b = lists[r];
    const ts = new Float64Array(a.n + b.n);
    const vs = new Float64Array(a.n + b.n);
    const ow = new Uint32Array(vs.buffer);
    const aw = new Uint32Array(a.vs.buffer, a.vs.byteOffset, a.n * 2);
    const bw = new Uint32Array(b.vs.buffer, b.vs.byteOffset, b.n * 2);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < a.n || j < b.n) {
      let fromA: boolean;
      if (j >= b.n) fromA = true;
      else if (i >= a.n) fromA = false;
      else if (a.ts[i] === b.ts[j]) {
        j++; // duplicate timestamp: keep the earlier list's sample
        fromA = true;
      } else fromA = a.ts[i] < b.ts[j];
      const k = fromA ? i++ : j++;
      const w = fromA ? aw : bw;
      ts[n] = fromA ? a.ts[k] : b.ts[k];
      ow[2 * n] = w[2 * k];
      ow[2 * n + 1] = w[2 * k + 1];
      n++;
    }
    acc = { ts, vs, n };
  }
  return acc;
}

/** Encodes samples as XOR chunks of at most 120 samples; value bits are copied exactly. */
export function encodeXorChunks(s: SampleList): Chunk[] {
  const out: Chunk[] = [];
  const w = new Uint32Array(s.vs.buffer, s.vs.byteOffset, s.n * 2);
  for (let from = 0; from < s.n; from += SAMPLES_PER_CHUNK) {
    const to = Math.min(s.n, from + SAMPLES_PER_CHUNK);
    const app = new XorAppender();
    for (let i = from; i < to; i++) app.appendBits(s.ts[i], w[2 * i + HI_WORD], w[2 * i + LO_WORD]);
    out.push({
      minTime: s.ts[from],
      maxTime: s.ts[to - 1],
      encoding: ChunkEncoding.XOR,
      data: app.bytes(),
    });
  }
  return out;
}
