// Bytes as a string of one char per byte (char codes 0–255): V8 keeps such a string in a single
// heap object with a 12-byte header, where a small Uint8Array costs two objects and an off-heap
// store, and its chars are read back with charCodeAt. Index cache entries, ready-encoded label
// fields and a non-ASCII PromQL query's UTF-8 are kept so.

/** Chars per `String.fromCharCode` call (its arguments go on the stack). */
const CHUNK = 4096;

/** `b` as a string of char codes 0–255, one per byte, after `prefix`. */
export function byteString(b: Uint8Array, prefix = ""): string {
  let out = prefix;
  for (let i = 0; i < b.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, b.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}
