// Zeroed per-series step arrays (values, presence flags) cut from shared buffers. In Deno a typed
// array with its own new ArrayBuffer costs about a microsecond (a backing store allocated and
// registered outside the V8 heap), a view of an existing buffer a few dozen nanoseconds; an
// instant query over 160 series made 320 of them (issue 19).

/** Size of one shared buffer; arrays larger than an eighth of it get their own. */
const SLAB_BYTES = 64 * 1024;
const OWN_BUFFER_BYTES = SLAB_BYTES / 8;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/**
 * `bytes` zeroed bytes at a multiple of `align` in the current shared buffer, starting a new one
 * when it is full. Space is never handed out twice: a buffer is freed by the GC once no array
 * cut from it is referenced any more.
 */
function take(bytes: number, align: number): number {
  let off = Math.ceil(used / align) * align;
  if (off + bytes > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    off = 0;
  }
  used = off + bytes;
  return off;
}

/**
 * `n` zeroed float64 values. The array may be a view of a buffer it shares: never transfer or
 * reinterpret its `buffer`.
 */
export function stepValues(n: number): Float64Array {
  if (n * 8 > OWN_BUFFER_BYTES) return new Float64Array(n);
  const off = take(n * 8, 8); // first: it may start a new buffer
  return new Float64Array(slab, off, n);
}

/** `n` zeroed bytes (step presence flags), shared like {@link stepValues}. */
export function stepFlags(n: number): Uint8Array {
  if (n > OWN_BUFFER_BYTES) return new Uint8Array(n);
  const off = take(n, 1);
  return new Uint8Array(slab, off, n);
}
