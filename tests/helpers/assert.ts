// Assertions for tests (JSR's @std/assert is not reachable here): thin wrappers over node:assert.

import nodeAssert from "node:assert";
import { inspect, isDeepStrictEqual } from "node:util";

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/**
 * Deep strict equality (typed arrays, maps and NaN handled as node:assert does). Large values
 * that differ are reported by the first differing path: node:assert's diff prints every element
 * of both sides, which for a few hundred thousand bytes or series takes gigabytes (a broken
 * read that returns the wrong 128 KiB must fail the test, not exhaust the machine).
 */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (isDeepStrictEqual(actual, expected)) return;
  if (elementsUpTo(actual, BIG_VALUE) + elementsUpTo(expected, BIG_VALUE) > BIG_VALUE) {
    const where = firstDifference(actual, expected, "value");
    nodeAssert.fail(`${msg ? msg + ": " : ""}${where}`);
  }
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Above this many elements on both sides together a failing assertEquals prints no diff. */
const BIG_VALUE = 2000;

/** Elements (array items, bytes, keys) in `v`, counted until `limit` is passed. */
function elementsUpTo(v: unknown, limit: number, seen = new Set<unknown>()): number {
  if (v === null || typeof v !== "object" || seen.has(v)) return 0;
  seen.add(v);
  if (ArrayBuffer.isView(v)) return v.byteLength;
  let n = 0;
  const items = v instanceof Map
    ? [...v.entries()].flat()
    : v instanceof Set
    ? [...v]
    : Object.values(v as Record<string, unknown>);
  for (const x of items) {
    n += 1 + elementsUpTo(x, limit - n, seen);
    if (n > limit) break;
  }
  return n;
}

const short = (v: unknown) =>
  inspect(v, { depth: 1, maxArrayLength: 8, maxStringLength: 120, breakLength: Infinity });

/** The first path at which `a` and `b` differ, with both sides shown briefly. */
function firstDifference(a: unknown, b: unknown, path: string): string {
  const differ = `values differ at ${path}: actual ${short(a)}, expected ${short(b)}`;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return differ;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return differ;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    if (x.length !== y.length) {
      return `${path} has ${x.length} bytes, expected ${y.length}`;
    }
    for (let i = 0; i < x.length; i++) {
      if (x[i] !== y[i]) return `${path} differs first at byte ${i}: ${x[i]}, expected ${y[i]}`;
    }
    return differ;
  }
  if (a instanceof Map || a instanceof Set) return differ;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) {
    return `${path} has ${a.length} elements, expected ${(b as unknown[]).length}`;
  }
  for (const k of kb) {
    if (!(k in a)) return `${path}.${k} is missing`;
  }
  for (const k of ka) {
    if (!(k in b)) return `${path}.${k} is not expected`;
    const x = (a as Record<string, unknown>)[k];
    const y = (b as Record<string, unknown>)[k];
    if (!isDeepStrictEqual(x, y)) return firstDifference(x, y, `${path}[${k}]`);
  }
  return differ;
}

/** Deep strict inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** `|actual - expected| <= tolerance` (relative to |expected| when it exceeds 1). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-9,
  msg?: string,
): void {
  if (Number.isNaN(expected) && Number.isNaN(actual)) return;
  const scale = Math.max(1, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tolerance * scale)) {
    nodeAssert.fail(msg ?? `expected ${actual} to be within ${tolerance} of ${expected}`);
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Runs `fn` and returns its error; fails if it does not throw, or throws another class. */
export function assertThrows(fn: () => unknown, cls?: ErrorClass, includes?: string): Error {
  try {
    fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as Error;
  }
  nodeAssert.fail("expected function to throw");
}

/** Awaits `fn` and returns its error; fails if it resolves, or rejects with another class. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  cls?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as Error;
  }
  nodeAssert.fail("expected promise to reject");
}

function checkError(e: unknown, cls?: ErrorClass, includes?: string): void {
  if (cls && !(e instanceof cls)) {
    nodeAssert.fail(`expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  if (includes && !String((e as Error)?.message).includes(includes)) {
    nodeAssert.fail(
      `expected error message to include ${JSON.stringify(includes)}, got ${
        JSON.stringify((e as Error)?.message)
      }`,
    );
  }
}
