// Special float values. Prometheus marks a series as stale with a NaN whose bits are
// 0x7FF0000000000002. V8 does not keep NaN payloads reliably: plain arrays, object fields,
// array literals and optimised code may turn any NaN into the canonical one. So the stale
// marker is carried only as raw bits: sample values live in Float64Arrays whose words are
// written directly (see XorIterator / decodeXorSamples), and staleness is tested on those words
// (`isStaleAt`), never on a number that went through JS variables.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Index of the high 32-bit word of a float64 inside a Uint32Array view. */
export const HI_WORD = LITTLE_ENDIAN ? 1 : 0;
/** Index of the low 32-bit word of a float64 inside a Uint32Array view. */
export const LO_WORD = LITTLE_ENDIAN ? 0 : 1;

/** Bit pattern of the stale marker: high and low 32-bit words. */
export const STALE_NAN_HI = 0x7ff00000;
export const STALE_NAN_LO = 0x00000002;

/** A Uint32Array view over the words of `vs` (two per value), for bit-exact access. */
export function float64Words(vs: Float64Array): Uint32Array {
  return new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2);
}

/** True when value `i` of the viewed Float64Array carries exactly the stale-marker bits. */
export function isStaleWord(words: Uint32Array, i: number): boolean {
  return words[2 * i + HI_WORD] === STALE_NAN_HI && words[2 * i + LO_WORD] === STALE_NAN_LO;
}

/** True when `vs[i]` carries exactly the stale-marker bits (allocates a view: not for hot loops). */
export function isStaleAt(vs: Float64Array, i: number): boolean {
  return isStaleWord(float64Words(vs), i);
}

/** Writes the stale-marker bits into value `i` of the viewed Float64Array. */
export function setStaleWord(words: Uint32Array, i: number): void {
  words[2 * i + HI_WORD] = STALE_NAN_HI;
  words[2 * i + LO_WORD] = STALE_NAN_LO;
}

/** Writes the stale-marker bits into `vs[i]` (allocates a view: not for hot loops). */
export function setStaleAt(vs: Float64Array, i: number): void {
  setStaleWord(float64Words(vs), i);
}

const scratch = new Float64Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** High 32 bits of the IEEE-754 pattern of `v`. */
export function float64Hi(v: number): number {
  scratch[0] = v;
  return scratchBits[HI_WORD];
}

/** Builds a float from its two 32-bit words (payload bits of NaNs may not survive). */
export function float64FromBits(hi: number, lo: number): number {
  scratchBits[HI_WORD] = hi;
  scratchBits[LO_WORD] = lo;
  return scratch[0];
}
