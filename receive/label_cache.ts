// The decoded label sets of recent remote-write series, keyed by their raw protobuf bytes.
// A Prometheus sends the same series in every request, each time encoded the same way, so the
// decoder (receive/remote_write.ts) looks the bytes of a series' label fields up here before
// decoding them: a hit gives the label set decoded and validated the first time (no string is
// built, nothing is re-validated) and a memo of the series' head ref (tsdb/head.ts SeriesHint),
// so the head finds the series by ref without hashing or comparing labels.
// - Only label sets that passed validation are cached; a hit is confirmed byte for byte (the
//   32-bit hash only selects candidates), so two encodings that differ in any byte (field order,
//   unknown fields, varint padding) are two entries — each with the same labels, hence the
//   same head series.
// - Bounded: two generations of at most `maxEntries` entries and `maxBytes` key bytes each.
//   Entries go into the young generation; when it is full the old one is dropped and the young
//   one becomes old. A hit in the old generation moves the entry to the young one, so a
//   working set below one generation stays cached and memory never exceeds two generations.
// - The label arrays handed out are shared (with the head, which keeps them as the series'
//   labels): nobody may modify them.

import type { Labels } from "../tsdb/series.ts";
import type { SeriesHint } from "../tsdb/head.ts";

/** One cached label set; also the head's memo of its series (see {@link SeriesHint}). */
export class CachedLabels implements SeriesHint {
  headId = 0;
  ref = 0;
  /** Next entry with the same hash in its generation. */
  next: CachedLabels | undefined = undefined;
  constructor(
    /** Offset and length of the raw label bytes in the generation's slab. */
    readonly off: number,
    readonly len: number,
    /** The decoded, validated labels (shared: never modify). */
    readonly labels: Labels,
  ) {}
}

class Generation {
  readonly map = new Map<number, CachedLabels>();
  slab: Uint8Array;
  used = 0;
  count = 0;
  constructor(slabBytes: number) {
    this.slab = new Uint8Array(slabBytes);
  }

  find(b: Uint8Array, p: number, n: number, h: number): CachedLabels | undefined {
    const slab = this.slab;
    for (let c = this.map.get(h); c !== undefined; c = c.next) {
      if (c.len !== n) continue;
      const o = c.off - p;
      let i = p;
      const e = p + n;
      while (i < e && slab[o + i] === b[i]) i++;
      if (i === e) return c;
    }
    return undefined;
  }
}

/** Options of {@link LabelCache}. */
export interface LabelCacheOptions {
  /** Entries per generation (default 131072: 262144 series stay cached at most). */
  maxEntries?: number;
  /** Raw label bytes per generation (default 16 MiB). */
  maxBytes?: number;
}

const FIRST_SLAB = 64 * 1024;

/** Raw label bytes → decoded labels (see the file comment). */
export class LabelCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  private young: Generation;
  private old: Generation | null = null;

  constructor(opts: LabelCacheOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(opts.maxEntries ?? 1 << 17));
    this.maxBytes = Math.max(64, Math.floor(opts.maxBytes ?? 16 << 20));
    this.young = new Generation(Math.min(FIRST_SLAB, this.maxBytes));
  }

  /**
   * The 32-bit key of the raw bytes b[p, e): FNV-1a style over little-endian 4-byte words (a
   * quarter of the multiplications of a byte-wise hash), the last 0–3 bytes one by one.
   */
  hash(b: Uint8Array, p: number, e: number): number {
    let h = 0x811c9dc5 ^ (e - p);
    let i = p;
    for (const w = e - 3; i < w; i += 4) {
      h = Math.imul(h ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)), 0x01000193);
      h ^= h >>> 15;
    }
    for (; i < e; i++) h = Math.imul(h ^ b[i], 0x01000193);
    return h;
  }

  /** Entries held (both generations; an entry moved from old to young may count twice). */
  get size(): number {
    return this.young.count + (this.old?.count ?? 0);
  }

  /** Key bytes held (both generations' slabs, allocated size). */
  get bytes(): number {
    return this.young.slab.length + (this.old?.slab.length ?? 0);
  }

  /** The cached labels of the raw bytes b[p, e) (`h` = this.hash(b, p, e)), if any. */
  get(b: Uint8Array, p: number, e: number, h: number): CachedLabels | undefined {
    const n = e - p;
    const hit = this.young.find(b, p, n, h);
    if (hit !== undefined || this.old === null) return hit;
    const o = this.old.find(b, p, n, h);
    if (o === undefined) return undefined;
    const moved = this.set(b, p, e, h, o.labels);
    if (moved !== undefined) {
      moved.headId = o.headId;
      moved.ref = o.ref;
      return moved;
    }
    return o;
  }

  /**
   * Caches `labels` (validated, never to be modified) as the decoding of b[p, e). Returns the
   * entry, or undefined when the key is too large to cache (more than 1/16 of a generation).
   */
  set(b: Uint8Array, p: number, e: number, h: number, labels: Labels): CachedLabels | undefined {
    const n = e - p;
    if (n > this.maxBytes >>> 4) return undefined;
    let g = this.young;
    if (g.count >= this.maxEntries) g = this.rotate();
    if (g.used + n > this.maxBytes) g = this.rotate();
    if (g.used + n > g.slab.length) {
      let cap = g.slab.length;
      while (cap < g.used + n) cap = Math.min(cap * 2, this.maxBytes);
      const slab = new Uint8Array(cap);
      slab.set(g.slab.subarray(0, g.used));
      g.slab = slab;
    }
    g.slab.set(b.subarray(p, e), g.used);
    const c = new CachedLabels(g.used, n, labels);
    g.used += n;
    g.count++;
    c.next = g.map.get(h);
    g.map.set(h, c);
    return c;
  }

  private rotate(): Generation {
    this.old = this.young;
    this.young = new Generation(Math.min(FIRST_SLAB, this.maxBytes));
    return this.young;
  }
}
