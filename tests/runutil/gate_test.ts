import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { forEachConcurrent, Gate, mapConcurrent } from "../../runutil/gate.ts";

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

Deno.test("Gate: bound respected, waiters served FIFO, newcomers do not overtake", async () => {
  const g = new Gate(2);
  await g.acquire();
  await g.acquire();
  assertEquals(g.inFlight, 2);
  const order: number[] = [];
  const waits = [1, 2, 3].map((i) => g.acquire().then(() => order.push(i)));
  await tick();
  assertEquals([g.inFlight, g.waiting, order], [2, 3, []]);
  g.release();
  // a fresh acquire after the release must queue behind the earlier waiters
  const late = g.acquire().then(() => order.push(4));
  await tick();
  assertEquals([g.inFlight, g.waiting, order], [2, 3, [1]]);
  g.release();
  g.release();
  await tick();
  assertEquals(order, [1, 2, 3]);
  g.release();
  await Promise.all([...waits, late]);
  assertEquals(order, [1, 2, 3, 4]);
  assertEquals(g.inFlight, 2);
  g.release();
  g.release();
  assertEquals(g.inFlight, 0);
  let threw = false;
  try {
    g.release();
  } catch {
    threw = true;
  }
  assert(threw, "release without acquire throws");
});

Deno.test("Gate.run bounds concurrent work", async () => {
  const g = new Gate(3);
  let running = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 20 }, (_, i) =>
    g.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, i % 3));
      running--;
    })));
  assertEquals([peak, g.inFlight], [3, 0]);
});

Deno.test("Gate: max <= 0 is unlimited", async () => {
  for (const max of [0, -1]) {
    const g = new Gate(max);
    for (let i = 0; i < 100; i++) await g.acquire();
    assertEquals(g.inFlight, 100);
  }
});

Deno.test("Gate: abort while waiting rejects with the reason and frees the queue slot", async () => {
  const g = new Gate(1);
  await g.acquire();
  const ctl = new AbortController();
  const aborted = g.acquire(ctl.signal);
  let nextGot = false;
  const next = g.acquire().then(() => nextGot = true);
  await tick();
  assertEquals(g.waiting, 2);
  const reason = new Error("client went away");
  ctl.abort(reason);
  const e = await assertRejects(() => aborted);
  assertEquals(e, reason);
  assertEquals(g.waiting, 1);
  // the slot goes to the remaining waiter, not to the aborted one
  g.release();
  await next;
  assert(nextGot);
  assertEquals(g.inFlight, 1);
  // an already-aborted signal: rejected at once when it would wait, served when a slot is free
  await assertRejects(() => g.acquire(ctl.signal), Error, "client went away");
  assertEquals(g.waiting, 0);
  g.release();
  await g.acquire(ctl.signal);
  assertEquals(g.inFlight, 1);
});

Deno.test("forEachConcurrent: bounded, every item once, index passed", async () => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  const items = Array.from({ length: 25 }, (_, i) => i * 10);
  await forEachConcurrent(items, 4, async (item, i) => {
    assertEquals(item, i * 10);
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, i % 2));
    seen.push(i);
    running--;
  });
  assertEquals(peak, 4);
  assertEquals(seen.sort((a, b) => a - b), items.map((_, i) => i));
  // a limit below 1 runs one at a time; no items is a no-op
  for (const limit of [0, -3, NaN]) {
    running = 0;
    peak = 0;
    await forEachConcurrent([1, 2, 3], limit, async () => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
    });
    assertEquals(peak, 1, `limit ${limit}`);
  }
  await forEachConcurrent([], 5, () => Promise.reject(new Error("never called")));
});

Deno.test("forEachConcurrent: first error rejects after running calls settle; no new items", async () => {
  const started: number[] = [];
  let settled = 0;
  const e = await assertRejects(() =>
    forEachConcurrent([0, 1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      started.push(i);
      if (i === 1) throw new Error("first");
      await new Promise((r) => setTimeout(r, 20));
      settled++;
      if (i === 2) throw new Error("second");
    })
  );
  assertEquals(e.message, "first");
  assertEquals(started, [0, 1, 2]);
  // the calls in flight when the error happened finished before the rejection
  assertEquals(settled, 2);
});

Deno.test("forEachConcurrent: an abort stops handing out items and rejects with the reason", async () => {
  const ctl = new AbortController();
  const done: number[] = [];
  const e = await assertRejects(() =>
    forEachConcurrent([0, 1, 2, 3, 4], 2, async (i) => {
      if (i === 1) ctl.abort(new Error("deadline"));
      await tick();
      done.push(i);
    }, ctl.signal)
  );
  assertEquals(e.message, "deadline");
  assertEquals(done.sort(), [0, 1]);
});

Deno.test("mapConcurrent keeps the order of the items", async () => {
  const out = await mapConcurrent([5, 1, 3, 0], 2, async (n) => {
    await new Promise((r) => setTimeout(r, n));
    return n * 2;
  });
  assertEquals(out, [10, 2, 6, 0]);
});
