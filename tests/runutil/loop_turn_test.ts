// The three event-loop turns of runutil/loop_turn.ts: message turns run timers and MessagePort
// messages; timer turns and I/O turns read sockets; an I/O turn through the thread's loopback
// pair costs far less than a timer turn (counted in turns per timer tick, no time asserted),
// falls back to timer turns without its pair, and never holds a process open. The role's grant
// of its turn port: tests/components/io_turn_grant_test.ts.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  closeIoTurns,
  ioTurn,
  ioTurnsUseSocket,
  messageTurn,
  timerTurn,
  useIoTurnPort,
} from "../../runutil/loop_turn.ts";
import { freePort } from "../helpers/ports.ts";
import type { IoTurnProbeResult } from "../helpers/io_turn_probe.ts";

const PROBE = new URL("../helpers/io_turn_probe.ts", import.meta.url);

/** Busy-waits `ms` (a stretch of synchronous evaluation). */
function spin(ms: number): void {
  const s = performance.now();
  while (performance.now() - s < ms) { /* work */ }
}

/** Answers one request from this thread's own server while only `turn`s separate work slices. */
async function answeredBetweenSlices(turn: () => Promise<void>): Promise<string> {
  const port = freePort();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    () => new Response("ok"),
  );
  try {
    let body = "";
    const got = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).then((t) => body = t);
    // only work and turns, bounded: the answer needs the server's socket read
    for (let i = 0; i < 500 && body === ""; i++) {
      spin(5);
      await turn();
    }
    await got;
    return body;
  } finally {
    await server.shutdown();
  }
}

/** Median number of `turn`s that complete while one 0 ms timer waits to run (15 timers). */
async function turnsPerTimerTick(turn: () => Promise<void>): Promise<number> {
  const counts: number[] = [];
  for (let t = 0; t < 15; t++) {
    let fired = false;
    const timer = setTimeout(() => fired = true, 0);
    let n = 0;
    while (!fired && n < 100_000) {
      await turn();
      n++;
    }
    clearTimeout(timer);
    counts.push(n);
  }
  counts.sort((a, b) => a - b);
  return counts[7];
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
  assertEquals(await answeredBetweenSlices(timerTurn), "ok");
});

Deno.test("I/O turns read sockets through the thread's loopback pair", async () => {
  useIoTurnPort(0);
  try {
    assertEquals(await answeredBetweenSlices(ioTurn), "ok");
    assert(ioTurnsUseSocket(), "the turns did not go through the loopback pair");
  } finally {
    closeIoTurns();
  }
  assert(!ioTurnsUseSocket());
});

Deno.test("I/O turns run timers too", async () => {
  useIoTurnPort(0);
  try {
    let timers = 0;
    setTimeout(() => timers++, 0);
    for (let i = 0; i < 50 && timers === 0; i++) {
      spin(2);
      await ioTurn();
    }
    assertEquals(timers, 1);
  } finally {
    closeIoTurns();
  }
});

Deno.test("an I/O turn costs far less than a timer turn: many fit in one timer tick", async () => {
  const timer = await turnsPerTimerTick(timerTurn);
  useIoTurnPort(0);
  let io: number;
  try {
    io = await turnsPerTimerTick(ioTurn);
    assert(ioTurnsUseSocket());
  } finally {
    closeIoTurns();
  }
  // ≈50 I/O turns per 1 ms tick on an idle machine (≈0.02 ms each); a timer turn is one tick
  assert(timer <= 2, `${timer} timer turns per timer tick`);
  assert(io >= 5 * timer, `${io} I/O turns per timer tick, ${timer} timer turns`);
});

Deno.test("concurrent I/O turns share one turn and all resolve", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  useIoTurnPort(0);
  try {
    // two reads under way on the pair would wait for a byte the other took: bounded here
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<string>((r) => timer = setTimeout(() => r("stuck"), 10_000));
    const rounds = (async () => {
      for (let round = 0; round < 20; round++) {
        await Promise.all(Array.from({ length: 8 }, () => ioTurn()));
      }
      return "done";
    })();
    try {
      assertEquals(await Promise.race([rounds, stuck]), "done");
    } finally {
      clearTimeout(timer);
    }
    assert(ioTurnsUseSocket());
  } finally {
    closeIoTurns();
  }
});

Deno.test("without its pair an I/O turn is a timer turn: not set up, or the port is taken", async () => {
  // never set up: one turn per timer tick, like a timer turn
  assertEquals(await turnsPerTimerTick(ioTurn), await turnsPerTimerTick(timerTurn));
  assert(!ioTurnsUseSocket());
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const reasons: string[] = [];
  try {
    useIoTurnPort((taken.addr as Deno.NetAddr).port, (r) => reasons.push(r));
    assertEquals(await answeredBetweenSlices(ioTurn), "ok");
    assert(!ioTurnsUseSocket());
    // reported once, however many turns fell back
    assertEquals(reasons.length, 1);
    assert(reasons[0].includes("no loopback pair"), reasons[0]);
  } finally {
    closeIoTurns();
    taken.close();
  }
});

Deno.test("once the pair is open its port is closed: nothing else can connect to it", async () => {
  const port = freePort();
  useIoTurnPort(port);
  try {
    await ioTurn();
    assert(ioTurnsUseSocket());
    let refused = false;
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch (e) {
      refused = e instanceof Deno.errors.ConnectionRefused;
    }
    assert(refused, "the turn port still accepts connections");
    // and the pair still turns
    assertEquals(await answeredBetweenSlices(ioTurn), "ok");
    assert(ioTurnsUseSocket());
  } finally {
    closeIoTurns();
  }
});

Deno.test("a turn under way when the pair is closed still resolves", async () => {
  useIoTurnPort(0);
  await ioTurn();
  assert(ioTurnsUseSocket());
  const turn = ioTurn();
  closeIoTurns();
  await turn;
  // and later turns are timer turns
  await ioTurn();
  assert(!ioTurnsUseSocket());
});

Deno.test("a process whose thread opened its pair and never closed it exits by itself", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", PROBE.pathname, "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill(), 60_000);
  try {
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout)) as IoTurnProbeResult;
    assertEquals(r, { socket: true, reasons: [], turns: 20 });
  } finally {
    clearTimeout(killer);
  }
});
