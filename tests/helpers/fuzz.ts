// Bounded, deterministic fuzzing for the tests that check "no input crashes or hangs a parser":
// a seeded random source, mutators for text, bytes and decoded YAML/JSON values, random protobuf
// wire messages, and a runner that names the first input a check rejects (with its seed and
// index, so a failure replays exactly).

import { ProtoWriter } from "../../storeapi/wire.ts";

/** A deterministic random source (xorshift32), so a failing seed can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** Bytes as hex, to show a failing binary input. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** An integer in [0, n) from `r`. */
export function below(r: () => number, n: number): number {
  return Math.floor(r() * n);
}

/** One of `xs`, chosen by `r`. */
export function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[below(r, xs.length)];
}

/**
 * `s` with one to three edits: a cut, a token inserted (spaced or not), a piece of another corpus
 * entry spliced in, a random ASCII character, or the whole wrapped in a token's parentheses.
 */
export function mutateText(
  r: () => number,
  s: string,
  tokens: readonly string[],
  corpus: readonly string[],
): string {
  const edits = 1 + below(r, 3);
  for (let j = 0; j < edits; j++) {
    const p = below(r, s.length + 1);
    switch (below(r, 6)) {
      case 0:
        s = s.slice(0, p) + s.slice(p + 1 + below(r, 3));
        break;
      case 1:
        s = s.slice(0, p) + pick(r, tokens) + s.slice(p);
        break;
      case 2:
        s = s.slice(0, p) + ` ${pick(r, tokens)} ` + s.slice(p);
        break;
      case 3: {
        const o = pick(r, corpus);
        const q = below(r, o.length + 1);
        s = s.slice(0, p) + o.slice(q, q + below(r, 25)) + s.slice(p);
        break;
      }
      case 4:
        s = s.slice(0, p) + String.fromCharCode(below(r, 128)) + s.slice(p);
        break;
      default:
        s = `${pick(r, tokens)}(${s})`;
    }
  }
  return s;
}

/** A copy of `b` with one to four byte edits: a cut, an insert, an overwrite or a truncation. */
export function mutateBytes(r: () => number, b: Uint8Array): Uint8Array {
  const out = Array.from(b);
  const edits = 1 + below(r, 4);
  for (let j = 0; j < edits; j++) {
    const p = below(r, out.length + 1);
    switch (below(r, 4)) {
      case 0:
        out.splice(p, 1 + below(r, 3));
        break;
      case 1:
        out.splice(p, 0, below(r, 256));
        break;
      case 2:
        if (p < out.length) out[p] = below(r, 256);
        break;
      default:
        out.length = p;
    }
  }
  return new Uint8Array(out);
}

/**
 * A random protobuf message on the wire: well-formed framing (tags, varints, fixed fields,
 * length-delimited fields holding nested messages, text or noise) with field numbers and values
 * a decoder has to judge: low field numbers, huge varints, 10-byte negative ones, invalid UTF-8.
 */
export function randomProto(r: () => number, depth = 0): Uint8Array {
  const w = ProtoWriter.growable();
  const fields = below(r, 6);
  for (let i = 0; i < fields; i++) {
    const field = 1 + below(r, below(r, 4) === 0 ? 40 : 12);
    const wire = pick(r, [0, 0, 1, 2, 2, 2, 5]);
    w.tag(field, wire);
    if (wire === 0) {
      switch (below(r, 5)) {
        case 0:
          w.varint(below(r, 3));
          break;
        case 1:
          w.varint(below(r, 200));
          break;
        case 2:
          w.varint(2 ** 53 - 1);
          break;
        case 3:
          w.varint(below(r, 2 ** 31));
          break;
        default: // a negative int64: ten bytes
          w.raw(NEGATIVE_ONE);
      }
    } else if (wire === 1 || wire === 5) {
      for (let j = 0; j < (wire === 1 ? 8 : 4); j++) w.byte(below(r, 256));
    } else {
      const k = below(r, 4);
      const body = depth < 4 && k < 2
        ? randomProto(r, depth + 1)
        : k === 2
        ? Uint8Array.from({ length: below(r, 12) }, () =>
          pick(r, [97, 98, 95, 0x7a, 0xff, 0xc3, 0x28]))
        : Uint8Array.from({ length: below(r, 20) }, () =>
          below(r, 256));
      w.varint(body.length);
      w.raw(body);
    }
  }
  return w.finish();
}

/** -1 as an int64 varint. */
const NEGATIVE_ONE = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);

/** Values a config field should never be trusted to hold. */
const ODD_VALUES: readonly unknown[] = [
  null,
  "",
  "x",
  0,
  -1,
  1.5,
  1e300,
  true,
  [],
  {},
  [null],
  { a: null },
  "5m",
  "-5m",
  "1e3",
  [[1]],
  { "": 1 },
  2 ** 53 + 2,
];

/**
 * A copy of a decoded YAML/JSON value with one node replaced by an odd value (null, a list
 * where a mapping belongs, a huge number…), an item appended to a list, or a key dropped.
 */
export function mutateValue(r: () => number, v: unknown, depth = 0): unknown {
  if (below(r, depth === 0 ? 8 : 4) === 0) return pick(r, ODD_VALUES);
  if (Array.isArray(v)) {
    if (v.length === 0) return below(r, 2) ? [pick(r, ODD_VALUES)] : v;
    const a = v.slice();
    const i = below(r, a.length);
    a[i] = mutateValue(r, a[i], depth + 1);
    if (below(r, 6) === 0) a.push(pick(r, ODD_VALUES));
    return a;
  }
  if (v !== null && typeof v === "object") {
    const o = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(o);
    if (keys.length === 0) return below(r, 2) ? { k: pick(r, ODD_VALUES) } : o;
    const k = pick(r, keys);
    if (below(r, 8) === 0) delete o[k];
    else o[k] = mutateValue(r, o[k], depth + 1);
    return o;
  }
  return pick(r, ODD_VALUES);
}

/** Errors that mean a parser met input it did not expect, rather than judging it. */
const CRASH_NAMES = new Set(["TypeError", "RangeError", "ReferenceError", "InternalError"]);

/**
 * Whether `e` is a crash rather than a clear rejection: not an Error, one of JavaScript's own
 * (a property of null read, an invalid Date or array length), or a message showing a value that
 * was not meant to be printed.
 */
export function isCrash(e: unknown): boolean {
  if (!(e instanceof Error)) return true;
  if (CRASH_NAMES.has(e.constructor.name) || CRASH_NAMES.has(e.name)) return true;
  return /Cannot read prop|is not a function|is not iterable|\[object Object\]/.test(e.message);
}

/**
 * Runs each of `decoders` on `input` and returns how many accepted it; throws, naming the
 * decoder, when one fails with an error that `clear` does not accept or that is a crash.
 */
export function decodeEach<T>(
  decoders: Record<string, (input: T) => unknown>,
  input: T,
  clear: (e: unknown) => boolean,
): number {
  let accepted = 0;
  for (const [name, decode] of Object.entries(decoders)) {
    try {
      decode(input);
      accepted++;
    } catch (e) {
      if (!clear(e) || isCrash(e)) throw new Error(`${name}: ${(e as Error)?.stack ?? e}`);
    }
  }
  return accepted;
}

/**
 * Runs `check` on `n` inputs from `make` (given the random source and the case's index) and
 * throws on the first one it rejects, naming the seed, the index and the input; also when one
 * input takes longer than `slowMs` (a parser that loops on hostile input). For a longer
 * campaign, `FUZZ_SEED=<n>` replaces every test's seed (a failure names it) and
 * `FUZZ_SCALE=<k>` runs `k` times the cases.
 */
export async function fuzz<T>(
  name: string,
  seed: number,
  n: number,
  make: (r: () => number, i: number) => T,
  check: (input: T) => void | Promise<void>,
  show: (input: T) => string = (x) => JSON.stringify(x),
  slowMs = 5_000,
): Promise<void> {
  const env = Deno.env.get("FUZZ_SEED");
  if (env !== undefined && env !== "") seed = Number(env);
  const scale = Number(Deno.env.get("FUZZ_SCALE") ?? "1");
  if (scale > 0) n = Math.round(n * scale);
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const input = make(r, i);
    const t0 = performance.now();
    try {
      await check(input);
    } catch (e) {
      throw new Error(
        `${name}: seed ${seed}, case ${i}: ${show(input)}: ${(e as Error).stack ?? e}`,
      );
    }
    const ms = performance.now() - t0;
    if (ms > slowMs) {
      throw new Error(`${name}: seed ${seed}, case ${i} took ${ms.toFixed(0)} ms: ${show(input)}`);
    }
  }
}
