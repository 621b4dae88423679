import { assert, assertEquals } from "../helpers/assert.ts";
import { afterMs, deadlineStats } from "../../runutil/deadline.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadlines fire in due order, never before their time, cancelled ones never", async () => {
  const fired: string[] = [];
  const start = performance.now();
  const at: Record<string, number> = {};
  const mark = (name: string) => () => {
    fired.push(name);
    at[name] = performance.now() - start;
  };
  afterMs(60, mark("60"));
  afterMs(20, mark("20"));
  const cancelled = afterMs(40, mark("40"));
  afterMs(40, mark("40b"));
  cancelled.cancel();
  cancelled.cancel(); // idempotent
  await sleep(120);
  assertEquals(fired, ["20", "40b", "60"]);
  assert(at["20"] >= 19, `fired at ${at["20"]} ms`);
  assert(at["60"] >= 59, `fired at ${at["60"]} ms`);
});

Deno.test("a sooner deadline re-arms the shared timer", async () => {
  const fired: string[] = [];
  const long = afterMs(10_000, () => fired.push("long"));
  afterMs(10, () => fired.push("short"));
  await sleep(60);
  assertEquals(fired, ["short"]);
  long.cancel();
});

Deno.test("cancelled deadlines do not pile up: the heap is compacted", () => {
  const before = deadlineStats().entries;
  const keep = afterMs(60_000, () => {});
  for (let i = 0; i < 5000; i++) afterMs(60_000, () => {}).cancel();
  assert(deadlineStats().entries - before < 2100, `${deadlineStats().entries} entries`);
  keep.cancel();
});

Deno.test("a deadline that throws does not stop the others", async () => {
  const fired: string[] = [];
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    errors.push(e.error);
    e.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    afterMs(10, () => {
      throw new Error("boom");
    });
    afterMs(10, () => fired.push("after"));
    await sleep(50);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  assertEquals(fired, ["after"]);
  assertEquals((errors[0] as Error).message, "boom");
});
