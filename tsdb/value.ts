// Special float values. Prometheus marks a series as stale with a NaN whose bits are
// 0x7FF0000000000002. V8 keeps NaN payload bits in Float64Array and in unboxed numbers, but
// canonicalises NaN when storing into a plain JS array of doubles: keep sample values in
// Float64Array, and test staleness only through `isStaleNaN`.

const scratch = new Float64Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;

/** Bit pattern of the stale marker: high and low 32-bit words. */
export const STALE_NAN_HI = 0x7ff00000;
export const STALE_NAN_LO = 0x00000002;

/** The stale marker as a number (a signalling NaN; do no arithmetic on it). */
export const STALE_NAN: number = (() => {
  scratchBits[HI] = STALE_NAN_HI;
  scratchBits[LO] = STALE_NAN_LO;
  return scratch[0];
})();

/** True when `v` carries exactly the stale-marker bits. */
export function isStaleNaN(v: number): boolean {
  if (v === v) return false; // not NaN: fast path
  scratch[0] = v;
  return scratchBits[HI] === STALE_NAN_HI && scratchBits[LO] === STALE_NAN_LO;
}

/** High 32 bits of the IEEE-754 pattern of `v`. */
export function float64Hi(v: number): number {
  scratch[0] = v;
  return scratchBits[HI];
}

/** Low 32 bits of the IEEE-754 pattern of `v`. */
export function float64Lo(v: number): number {
  scratch[0] = v;
  return scratchBits[LO];
}

/** Builds a float from its two 32-bit words. */
export function float64FromBits(hi: number, lo: number): number {
  scratchBits[HI] = hi;
  scratchBits[LO] = lo;
  return scratch[0];
}
