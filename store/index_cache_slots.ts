// The items of the store's in-memory index cache (store/index_cache.ts) as parallel arrays indexed
// by slot: recency links, sizes, kinds and keys in typed arrays, and series entries found by
// (block, ref) in one open-addressing table of slots. With an object per item, its map entry and
// links, 200,000 series entries held 198 bytes each beyond their chars (8-byte pointers); with the
// slots 101, most of it the value and labels strings' headers (bench/index_cache_memory.ts).

/** No slot (an end of the recency list, an empty free list). */
export const NO_SLOT = -1;

/** Largest size a slot counts (its sizes are 32-bit). */
export const MAX_SLOT_SIZE = 0xffffffff;

/** Kind of a slot's item (index into the cache's item types); {@link FREE_KIND}: unused. */
export const FREE_KIND = 255;

/**
 * Item slots in recency order (a doubly linked list over `older`/`newer`), reusing released
 * slots, with an index of series entries by block number and ref.
 */
export class CacheSlots {
  /** Slots ever handed out (the arrays' used length); released ones are on the free list. */
  private used = 0;
  /** The next older and the next more recent item (the free list chains through `newer`). */
  older = new Int32Array(16);
  newer = new Int32Array(16);
  /** The byte size an item is counted with (at most {@link MAX_SLOT_SIZE}). */
  sizes = new Uint32Array(16);
  /** Item kind (the caller's numbering), {@link FREE_KIND} for a free slot. */
  kinds = new Uint8Array(16);
  /** The block number of the item. */
  blocks = new Int32Array(16);
  /** A series entry's ref. */
  refs = new Uint32Array(16);
  /** The item's value (postings, or a series entry's bytes as a string). */
  readonly values: (Uint32Array | string | undefined)[] = [];
  /** A series entry's labels ready-encoded ("" none or a postings item). */
  readonly labels: string[] = [];
  oldest = NO_SLOT;
  newest = NO_SLOT;
  private freeHead = NO_SLOT;
  /** Series slots + 1 by hash of (block, ref), 0 empty; linear probing, at most 3/4 full. */
  private table = new Int32Array(16);
  private tableBits = 4;
  private indexed = 0;

  /** Number of slots handed out, live or free (slots are below it). */
  get length(): number {
    return this.used;
  }

  /** A slot holding the item, made the most recent. */
  alloc(
    kind: number,
    block: number,
    ref: number,
    value: Uint32Array | string,
    labels: string,
    size: number,
  ): number {
    let s = this.freeHead;
    if (s !== NO_SLOT) {
      this.freeHead = this.newer[s];
      this.values[s] = value;
      this.labels[s] = labels;
    } else {
      s = this.used++;
      if (s === this.kinds.length) this.grow();
      this.values.push(value);
      this.labels.push(labels);
    }
    this.kinds[s] = kind;
    this.blocks[s] = block;
    this.refs[s] = ref;
    this.sizes[s] = size;
    this.append(s);
    return s;
  }

  /** Unlinks slot `s` and frees it (its value and labels become garbage). */
  release(s: number): void {
    this.unlink(s);
    this.kinds[s] = FREE_KIND;
    this.values[s] = undefined;
    this.labels[s] = "";
    this.newer[s] = this.freeHead;
    this.freeHead = s;
  }

  /** Moves slot `s` to the most recent end (a hit). */
  touch(s: number): void {
    if (s === this.newest) return;
    this.unlink(s);
    this.append(s);
  }

  private append(s: number): void {
    this.older[s] = this.newest;
    this.newer[s] = NO_SLOT;
    if (this.newest !== NO_SLOT) this.newer[this.newest] = s;
    else this.oldest = s;
    this.newest = s;
  }

  private unlink(s: number): void {
    const o = this.older[s];
    const n = this.newer[s];
    if (o !== NO_SLOT) this.newer[o] = n;
    else this.oldest = n;
    if (n !== NO_SLOT) this.older[n] = o;
    else this.newest = o;
  }

  private grow(): void {
    const n = 2 * this.kinds.length;
    const copy = <T extends Int32Array | Uint32Array | Uint8Array>(
      a: T,
      b: T,
    ): T => {
      b.set(a);
      return b;
    };
    this.older = copy(this.older, new Int32Array(n));
    this.newer = copy(this.newer, new Int32Array(n));
    this.sizes = copy(this.sizes, new Uint32Array(n));
    this.kinds = copy(this.kinds, new Uint8Array(n));
    this.blocks = copy(this.blocks, new Int32Array(n));
    this.refs = copy(this.refs, new Uint32Array(n));
  }

  /** Home position of (block, ref) in the table (Fibonacci hashing: the product's top bits). */
  private home(block: number, ref: number): number {
    return Math.imul(ref ^ Math.imul(block, 0x85ebca77), 0x9e3779b1) >>> (32 - this.tableBits);
  }

  /** The slot of series entry `ref` of block number `block`, or {@link NO_SLOT}. */
  findSeries(block: number, ref: number): number {
    const t = this.table;
    const mask = t.length - 1;
    for (let i = this.home(block, ref);; i = (i + 1) & mask) {
      const v = t[i];
      if (v === 0) return NO_SLOT;
      if (this.refs[v - 1] === ref && this.blocks[v - 1] === block) return v - 1;
    }
  }

  /** Indexes series slot `s` by its block and ref (not indexed yet). */
  indexSeries(s: number): void {
    if (4 * (this.indexed + 1) > 3 * this.table.length) this.rehash(this.tableBits + 1);
    this.place(s);
    this.indexed++;
  }

  private place(s: number): void {
    const t = this.table;
    const mask = t.length - 1;
    let i = this.home(this.blocks[s], this.refs[s]);
    while (t[i] !== 0) i = (i + 1) & mask;
    t[i] = s + 1;
  }

  private rehash(bits: number): void {
    const old = this.table;
    this.tableBits = bits;
    this.table = new Int32Array(1 << bits);
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.place(old[i] - 1);
  }

  /** Removes series slot `s` from the index (backward-shift deletion: no tombstones). */
  unindexSeries(s: number): void {
    const t = this.table;
    const mask = t.length - 1;
    let i = this.home(this.blocks[s], this.refs[s]);
    while (t[i] !== s + 1) {
      if (t[i] === 0) throw new Error(`index cache: series slot ${s} is not indexed`);
      i = (i + 1) & mask;
    }
    // move later entries of the probe run back into the hole unless their home lies after it
    for (let j = (i + 1) & mask; t[j] !== 0; j = (j + 1) & mask) {
      const v = t[j] - 1;
      const k = this.home(this.blocks[v], this.refs[v]);
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (stays) continue;
      t[i] = t[j];
      i = j;
    }
    t[i] = 0;
    this.indexed--;
    // a table emptied by dropped blocks shrinks back, so an idle store does not keep its peak
    if (this.tableBits > 4 && 8 * this.indexed < this.table.length) {
      this.rehash(this.tableBits - 1);
    }
  }
}
