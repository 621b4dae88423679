// Assertions for tests (JSR's @std/assert is not reachable here): thin wrappers over node:assert.

import nodeAssert from "node:assert";

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep strict equality (typed arrays, maps and NaN handled as node:assert does). */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, msg);
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
