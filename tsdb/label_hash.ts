// xxHash64 (seed 0; https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md) over strings
// each followed by a 0xff byte — the shape of Prometheus's `labels.Hash` and of the hashes Thanos
// derives from it: the receive hashring's `HashWithPrefix(tenant, labels)`, the vertical-sharding
// `ShardInfo` matcher, a rule group's evaluation offset. One copy of the scratch buffer and the
// WebAssembly hash (npm xxhash-wasm, ~10× faster than 64-bit arithmetic in JavaScript) for all.

import xxhash from "xxhash-wasm";
import type { Labels } from "./series.ts";

const { h64Raw } = await xxhash();
const ENCODER = new TextEncoder();
/** Reused hash input (grown as needed; one thread, no await while in use). */
let scratch = new Uint8Array(1024);

/** xxHash64 (seed 0) of `data` (a string as UTF-8) as an unsigned BigInt. */
export function xxhash64(data: Uint8Array | string): bigint {
  const b = typeof data === "string" ? ENCODER.encode(data) : data;
  return BigInt.asUintN(64, h64Raw(b));
}

function grow(need: number): void {
  let cap = scratch.length * 2;
  while (cap < need) cap *= 2;
  const nb = new Uint8Array(cap);
  nb.set(scratch);
  scratch = nb;
}

/** Writes `s` (UTF-8, as Go's string bytes) and a 0xff byte at `p`; returns the end. */
function put(s: string, p: number): number {
  const n = s.length;
  if (p + n * 3 + 1 > scratch.length) grow(p + n * 3 + 1);
  const b = scratch;
  // ASCII fast path; anything else through the encoder
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    b[p + i] = c;
  }
  let end = p + i;
  if (i < n) end += ENCODER.encodeInto(s.slice(i), b.subarray(end)).written;
  b[end] = 0xff;
  return end + 1;
}

/**
 * xxHash64 of `prefix` (when not null) and then every label name and value of `labels` whose name
 * `keep` accepts (all when absent), each followed by 0xff, as an unsigned BigInt.
 */
export function separatedHash(
  prefix: string | null,
  labels: Labels,
  keep?: (name: string) => boolean,
): bigint {
  let p = prefix === null ? 0 : put(prefix, 0);
  for (let i = 0; i < labels.length; i += 2) {
    if (keep !== undefined && !keep(labels[i])) continue;
    p = put(labels[i], p);
    p = put(labels[i + 1], p);
  }
  return BigInt.asUintN(64, h64Raw(scratch.subarray(0, p)));
}
