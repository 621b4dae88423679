// Set operations on postings lists: sorted ascending uint32 series refs held in Uint32Arrays.
// These sit on the query hot path (matchers → series), so they use plain loops over typed
// arrays, allocate one output array per call and switch to galloping (exponential) search when
// one list is much shorter than the other.

const EMPTY = new Uint32Array(0);

/**
 * Below this size ratio a linear two-pointer walk beats galloping: each gallop costs about
 * log2(gap) comparisons, a linear step costs one.
 */
const GALLOP_RATIO = 16;

/** Returns `out[0, n)`, copying when the spare capacity would waste more than half the buffer. */
function trimmed(out: Uint32Array, n: number): Uint32Array {
  if (n === out.length) return out;
  return n < out.length >>> 1 ? out.slice(0, n) : out.subarray(0, n);
}

/**
 * First index `i >= from` with `list[i] >= target`, or `list.length`. Gallops forward from
 * `from` (1, 2, 4, … steps) and then binary-searches the last step, so the cost is
 * O(log distance) rather than O(log n).
 */
export function seekPostings(list: Uint32Array, target: number, from = 0): number {
  const n = list.length;
  if (from >= n || list[from] >= target) return from;
  // Invariant: list[lo] < target.
  let lo = from;
  let step = 1;
  let hi = from + 1;
  while (hi < n && list[hi] < target) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  if (hi > n) hi = n;
  // list[lo] < target, and hi === n or list[hi] >= target.
  while (lo + 1 < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < target) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Intersection of two sorted lists where `a` is the shorter one. */
function intersect2(a: Uint32Array, b: Uint32Array, out: Uint32Array): number {
  let n = 0;
  if (b.length >= a.length * GALLOP_RATIO) {
    let j = 0;
    const bl = b.length;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      j = seekPostings(b, v, j);
      if (j >= bl) break;
      if (b[j] === v) out[n++] = v;
    }
    return n;
  }
  let i = 0;
  let j = 0;
  const al = a.length;
  const bl = b.length;
  while (i < al && j < bl) {
    const x = a[i];
    const y = b[j];
    if (x === y) {
      out[n++] = x;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return n;
}

/**
 * Intersection of sorted ascending lists (refs present in every list). Intersects smallest
 * first so the running result only shrinks; gallops through lists much longer than the
 * running result. No lists → empty. Inputs are never modified; the result is a new array.
 */
export function intersectPostings(lists: readonly Uint32Array[]): Uint32Array {
  if (lists.length === 0) return EMPTY;
  if (lists.length === 1) return lists[0].slice();
  const order = lists.slice().sort((x, y) => x.length - y.length);
  if (order[0].length === 0) return EMPTY;
  let cur = order[0];
  // Two scratch buffers of the smallest size: results never grow.
  const bufA = new Uint32Array(cur.length);
  const bufB = order.length > 2 ? new Uint32Array(cur.length) : bufA;
  let useA = true;
  let n = cur.length;
  for (let k = 1; k < order.length; k++) {
    const out = useA ? bufA : bufB;
    n = intersect2(cur, order[k], out);
    cur = out.subarray(0, n);
    useA = !useA;
    if (n === 0) return EMPTY;
  }
  return n < bufA.length >>> 1 ? cur.slice() : cur;
}

/** Merges two sorted lists into `out` without duplicates; returns the count written. */
function merge2(a: Uint32Array, b: Uint32Array, out: Uint32Array): number {
  let i = 0;
  let j = 0;
  let n = 0;
  const al = a.length;
  const bl = b.length;
  // -1 never equals a uint32, so the first value is always written.
  let last = -1;
  while (i < al && j < bl) {
    const x = a[i];
    const y = b[j];
    let v: number;
    if (x < y) {
      v = x;
      i++;
    } else if (y < x) {
      v = y;
      j++;
    } else {
      v = x;
      i++;
      j++;
    }
    if (v !== last) out[n++] = last = v;
  }
  while (i < al) {
    const v = a[i++];
    if (v !== last) out[n++] = last = v;
  }
  while (j < bl) {
    const v = b[j++];
    if (v !== last) out[n++] = last = v;
  }
  return n;
}

/**
 * Union of sorted ascending lists without duplicates. Merges pairwise in rounds (a merge
 * tree), O(total · log k) with sequential memory access. Inputs are never modified; the
 * result is a new array.
 */
export function mergePostings(lists: readonly Uint32Array[]): Uint32Array {
  let level: Uint32Array[] = [];
  let total = 0;
  let min = 0xffffffff;
  let max = 0;
  for (const l of lists) {
    if (l.length === 0) continue;
    level.push(l);
    total += l.length;
    if (l[0] < min) min = l[0];
    if (l[l.length - 1] > max) max = l[l.length - 1];
  }
  if (level.length === 0) return EMPTY;
  if (level.length === 1) return dedupSorted(level[0]);
  // Many lists over a dense ref range (e.g. a regex matching thousands of values): one pass
  // over a bitmap beats log2(k) merge rounds.
  if (level.length >= BITMAP_MIN_LISTS && (max - min) / 32 <= total * 2) {
    return mergeBitmap(level, min, max, total);
  }
  while (level.length > 1) {
    const next: Uint32Array[] = [];
    for (let k = 0; k + 1 < level.length; k += 2) {
      const a = level[k];
      const b = level[k + 1];
      const out = new Uint32Array(a.length + b.length);
      next.push(trimmed(out, merge2(a, b, out)));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

/** Fewest lists for which {@link mergePostings} considers the bitmap union. */
const BITMAP_MIN_LISTS = 8;

/** Union through a bitmap of the range [min, max]; the output is ascending by construction. */
function mergeBitmap(lists: Uint32Array[], min: number, max: number, total: number): Uint32Array {
  const words = new Uint32Array(Math.floor((max - min) / 32) + 1);
  for (const l of lists) {
    for (let i = 0; i < l.length; i++) {
      const d = l[i] - min;
      words[d >>> 5] |= 1 << (d & 31);
    }
  }
  const out = new Uint32Array(total);
  let n = 0;
  for (let w = 0; w < words.length; w++) {
    let x = words[w];
    const base = min + w * 32;
    while (x !== 0) {
      const low = x & -x; // lowest set bit (int32; bit 31 comes out negative)
      out[n++] = base + 31 - Math.clz32(low);
      x ^= low;
    }
  }
  return trimmed(out, n);
}

/** Copy of a sorted list with adjacent duplicates removed. */
function dedupSorted(a: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length);
  let n = 0;
  let last = -1;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v !== last) out[n++] = last = v;
  }
  return trimmed(out, n);
}

/**
 * Refs in `a` that are not in `b` (both sorted ascending). Gallops through `b` when it is
 * much longer than `a`. Inputs are never modified; the result is a new array.
 */
export function subtractPostings(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (a.length === 0) return EMPTY;
  if (b.length === 0) return a.slice();
  const out = new Uint32Array(a.length);
  let n = 0;
  const al = a.length;
  const bl = b.length;
  let j = 0;
  if (bl >= al * GALLOP_RATIO) {
    for (let i = 0; i < al; i++) {
      const v = a[i];
      if (j < bl) j = seekPostings(b, v, j);
      if (j >= bl || b[j] !== v) out[n++] = v;
    }
    return trimmed(out, n);
  }
  for (let i = 0; i < al; i++) {
    const v = a[i];
    while (j < bl && b[j] < v) j++;
    if (j >= bl || b[j] !== v) out[n++] = v;
  }
  return trimmed(out, n);
}
