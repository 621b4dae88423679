// A map bounded by its number of entries, the least recently used dropped first: the one copy of
// the count-bounded LRU behind the querier's parsed expressions, the compiled-matcher cache and the
// FILESYSTEM bucket's open files. A Map iterates in insertion order, so re-inserting an entry on use
// keeps the map in recency order (oldest first) without a linked list.

/** A count-bounded LRU map; `onEvict` hears of each entry dropped to stay within `max`. */
export class CountLru<K, V> {
  private readonly items = new Map<K, V>();

  constructor(
    readonly max: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!(max > 0)) throw new RangeError(`LRU size must be positive, got ${max}`);
  }

  /** Entries held. */
  get size(): number {
    return this.items.size;
  }

  /** The value of `key`, made the most recently used. */
  get(key: K): V | undefined {
    const v = this.items.get(key);
    if (v !== undefined) {
      // most recently used last
      this.items.delete(key);
      this.items.set(key, v);
    }
    return v;
  }

  /** The value of `key`, its recency unchanged. */
  peek(key: K): V | undefined {
    return this.items.get(key);
  }

  /**
   * Sets `key` as the most recently used entry, then drops the least recently used ones beyond
   * `max` (each passed to `onEvict`). Returns how many were dropped.
   */
  set(key: K, value: V): number {
    this.items.delete(key);
    this.items.set(key, value);
    let dropped = 0;
    while (this.items.size > this.max) {
      const [oldKey, oldValue] = this.items.entries().next().value!;
      this.items.delete(oldKey);
      dropped++;
      this.onEvict?.(oldKey, oldValue);
    }
    return dropped;
  }

  delete(key: K): boolean {
    return this.items.delete(key);
  }

  /** A snapshot of the entries, least recently used first (safe to change the map while reading). */
  entries(): [K, V][] {
    return [...this.items];
  }
}
