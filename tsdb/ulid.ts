// ULIDs name blocks: 26 Crockford base32 characters = 48-bit ms timestamp + 80 random bits.
// Generated IDs are monotonic within one process: a second ID in the same millisecond is the
// previous one's random part plus one, so names sort in creation order.

import { InvalidInputError } from "./errors.ts";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const MAX_TIME = 2 ** 48 - 1;
/** Character code → 5-bit value, or -1 (Crockford letters in either case; no I, L, O, U). */
const DECODE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) {
    t[ALPHABET.charCodeAt(i)] = i;
    t[ALPHABET.toLowerCase().charCodeAt(i)] = i;
  }
  return t;
})();

let lastTime = -1;
const lastRandom = new Uint8Array(10);

/** True when `s` is a 26-character ULID whose time part fits 48 bits. */
export function isULID(s: unknown): s is string {
  if (typeof s !== "string" || s.length !== 26) return false;
  for (let i = 0; i < 26; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || DECODE[c] < 0) return false;
  }
  // 26 × 5 = 130 bits: the first character carries only 3 bits.
  return DECODE[s.charCodeAt(0)] <= 7;
}

/** Millisecond timestamp of a ULID. Throws InvalidInputError if `ulid` is not a ULID. */
export function ulidTime(ulid: string): number {
  if (!isULID(ulid)) throw new InvalidInputError(`"${ulid}" is not a valid ULID`);
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + DECODE[ulid.charCodeAt(i)];
  return t;
}

/**
 * A new ULID for time `timeMs` (default now) with 80 random bits from crypto.getRandomValues.
 * Throws InvalidInputError for a time outside [0, 2^48).
 */
export function newULID(timeMs: number = Date.now()): string {
  if (!Number.isInteger(timeMs) || timeMs < 0 || timeMs > MAX_TIME) {
    throw new InvalidInputError(`ULID time ${timeMs} is not an integer ms in [0, 2^48)`);
  }
  let incremented = false;
  if (timeMs === lastTime) {
    // Same millisecond: increment the previous random part (80-bit big-endian + 1).
    for (let i = 9; i >= 0; i--) {
      if (lastRandom[i] !== 0xff) {
        lastRandom[i]++;
        incremented = true;
        break;
      }
      lastRandom[i] = 0;
    }
  }
  if (!incremented) crypto.getRandomValues(lastRandom);
  lastTime = timeMs;

  let t = timeMs;
  const timeChars: string[] = new Array(10);
  for (let i = 9; i >= 0; i--) {
    timeChars[i] = ALPHABET[t % 32];
    t = Math.floor(t / 32);
  }
  let out = timeChars.join("");
  // 80 random bits = 16 groups of 5, read MSB-first.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | lastRandom[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}
