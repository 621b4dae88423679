// Zeroed per-series step arrays (values, presence flags) cut from shared buffers. In Deno a typed
// array with its own new ArrayBuffer costs about a microsecond (a backing store allocated and
// registered outside the V8 heap), a view of an existing buffer a few dozen nanoseconds; an
// instant query over 160 series made 320 of them (issue 19). Arrays a query is done with can be
// given back ({@link recycleStepArrays}): their memory is cut again before a new buffer is
// allocated, so a range aggregation over thousands of series does not leave thousands of dead
// arrays for the garbage collector (which frees an isolate's ArrayBuffers only when it runs).

/** Size of one shared buffer; arrays larger than an eighth of it get their own. */
const SLAB_BYTES = 64 * 1024;
const OWN_BUFFER_BYTES = SLAB_BYTES / 8;

/** The buffer arrays are cut from, and the free part of it: [used, end). */
let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;
let end = SLAB_BYTES;

/** Zeroed regions of given-back arrays, newest last, cut before a new buffer is allocated. */
const spare: { buf: ArrayBuffer; from: number; to: number }[] = [];
/**
 * Most regions kept (the oldest are left to the garbage collector): a region keeps its whole
 * buffer alive, so this bounds what they hold to a few shared buffers and given-back arrays.
 */
const SPARE_MAX = 16;

/**
 * `bytes` zeroed bytes at a multiple of `align` in the current buffer, moving on to a spare
 * region or a new buffer when it is full. Space is never handed out twice unless given back.
 */
function take(bytes: number, align: number): number {
  let off = Math.ceil(used / align) * align;
  while (off + bytes > end) {
    const r = spare.pop();
    if (r === undefined) {
      slab = new ArrayBuffer(SLAB_BYTES);
      off = 0;
      end = SLAB_BYTES;
      break;
    }
    slab = r.buf;
    off = Math.ceil(r.from / align) * align;
    end = r.to;
  }
  used = off + bytes;
  return off;
}

/**
 * `n` zeroed float64 values. The array may be a view of a buffer it shares: never transfer or
 * reinterpret its `buffer`.
 */
export function stepValues(n: number): Float64Array {
  if (n * 8 > OWN_BUFFER_BYTES) {
    const r = spareFor(n * 8, 8);
    return r === null ? new Float64Array(n) : new Float64Array(r.buf, r.off, n);
  }
  const off = take(n * 8, 8); // first: it may start a new buffer
  return new Float64Array(slab, off, n);
}

/** `n` zeroed bytes (step presence flags), shared like {@link stepValues}. */
export function stepFlags(n: number): Uint8Array {
  if (n > OWN_BUFFER_BYTES) {
    const r = spareFor(n, 1);
    return r === null ? new Uint8Array(n) : new Uint8Array(r.buf, r.off, n);
  }
  const off = take(n, 1);
  return new Uint8Array(slab, off, n);
}

/**
 * Gives a series' step arrays back: later {@link stepValues} and {@link stepFlags} calls reuse
 * their memory. The caller guarantees that nothing reads or writes `vals` or `has` afterwards
 * and that neither was given back before (nor shares memory with an array that was).
 */
export function recycleStepArrays(vals: Float64Array, has: Uint8Array): void {
  // the values last: the next stepValues takes them, the next stepFlags their rest or the flags
  giveBack(has);
  giveBack(vals);
}

function giveBack(a: Float64Array | Uint8Array): void {
  if (a.byteLength < 64) return;
  a.fill(0);
  if (spare.length >= SPARE_MAX) spare.shift();
  spare.push({ buf: a.buffer as ArrayBuffer, from: a.byteOffset, to: a.byteOffset + a.byteLength });
}

/** A large array's place in the newest spare region when it fits there (that part is taken). */
function spareFor(bytes: number, align: number): { buf: ArrayBuffer; off: number } | null {
  const r = spare.at(-1);
  if (r === undefined) return null;
  const off = Math.ceil(r.from / align) * align;
  if (off + bytes > r.to) return null;
  r.from = off + bytes;
  if (r.to - r.from < 64) spare.pop();
  return { buf: r.buf, off };
}
