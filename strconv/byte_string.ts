// Bytes as a string of one char per byte (char codes 0–255): V8 keeps such a string in a single
// heap object with a 16-byte header, where a small Uint8Array costs two objects and an off-heap
// store, and its chars are read back with charCodeAt. Index cache entries, ready-encoded label
// fields and a non-ASCII PromQL query's UTF-8 are kept so.

/** Chars per `String.fromCharCode` call (its arguments go on the stack). */
const CHUNK = 4096;

/**
 * `b` as a string of char codes 0–255, one per byte: one flat string up to 4,096 bytes (a longer
 * one is joined from pieces).
 */
export function byteString(b: Uint8Array): string {
  let out = "";
  for (let i = 0; i < b.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, b.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}
