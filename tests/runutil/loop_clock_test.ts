// Loop timeouts: they fire after their time when the loop is free, and a synchronous stall of
// our own longer than the timeout does not make them fire before pending I/O is read.

import { assertEquals } from "../helpers/assert.ts";
import { loopTimeout, withLoopTimeout } from "../../runutil/loop_clock.ts";

function blockFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* a stall of our own */ }
}

Deno.test("a loop timeout fires when the loop is free, with a TimeoutError", async () => {
  const t = loopTimeout(60, 10);
  await new Promise<void>((r) => t.signal.addEventListener("abort", () => r(), { once: true }));
  assertEquals((t.signal.reason as DOMException).name, "TimeoutError");
});

Deno.test("a stall longer than the timeout does not beat an answer that is already waiting", async () => {
  // the answer arrives as a macrotask queued during the stall (as a socket read would)
  const answer = new Promise<string>((r) => setTimeout(() => r("info"), 0));
  const p = withLoopTimeout(answer, 200, () => new Error("timed out"));
  blockFor(600);
  assertEquals(await p, "info");
});

Deno.test("after a stall the timeout still fires if nothing arrives", async () => {
  const t = loopTimeout(100, 20);
  blockFor(300);
  await new Promise<void>((r) => t.signal.addEventListener("abort", () => r(), { once: true }));
  assertEquals((t.signal.reason as DOMException).name, "TimeoutError");
});

Deno.test("a cleared loop timeout never fires", async () => {
  const t = loopTimeout(20, 5);
  t.clear();
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(t.signal.aborted, false);
});
