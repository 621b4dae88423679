import { assertEquals } from "../helpers/assert.ts";
import { messageTurn, timerTurn } from "../../runutil/loop_turn.ts";
import { freePort } from "../helpers/ports.ts";

/** Busy-waits `ms` (a stretch of synchronous evaluation). */
function spin(ms: number): void {
  const s = performance.now();
  while (performance.now() - s < ms) { /* work */ }
}

Deno.test("message turns run timers and deliver MessagePort messages", async () => {
  let timers = 0;
  setTimeout(() => timers++, 0);
  const ch = new MessageChannel();
  let messages = 0;
  ch.port2.onmessage = () => messages++;
  ch.port1.postMessage("cancel");
  try {
    for (let i = 0; i < 50 && (timers === 0 || messages === 0); i++) {
      spin(2);
      await messageTurn();
    }
    assertEquals([timers, messages], [1, 1]);
  } finally {
    ch.port1.close();
    ch.port2.close();
  }
});

Deno.test("timer turns read sockets: a request to this thread's server is answered", async () => {
  const port = freePort();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    () => new Response("ok"),
  );
  try {
    let body = "";
    const got = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).then((t) => body = t);
    // only work and timer turns, bounded: the answer needs the server's socket read
    for (let i = 0; i < 500 && body === ""; i++) {
      spin(5);
      await timerTurn();
    }
    assertEquals(body, "ok");
    await got;
  } finally {
    await server.shutdown();
  }
});
