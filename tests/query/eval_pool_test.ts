// A large answer of an evaluation Worker comes as a byte stream (query/eval_pool.ts): each next
// piece is asked of the Worker only when the reader wants it, a cancelled stream tells the Worker
// to drop the rest, and a Worker that dies or drops the answer fails the stream with a clear
// error instead of cutting the JSON short.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { EvalPool, type EvalTask, type FromWorker, type ToWorker } from "../../query/eval_pool.ts";
import { PromQLError } from "../../promql/errors.ts";
import { fakeLauncher } from "../helpers/eval_launcher.ts";

const TASK = {
  kind: "range",
  expr: "up",
  start: 0,
  end: 1000,
  step: 1,
  engine: { timeout: 1000 },
  queryable: { partialResponse: false, dedup: false, replicaLabels: [], dedupFunc: "penalty" },
} as unknown as EvalTask;

const utf8 = new TextEncoder();

/** A fake worker whose answers are streamed in `pieces`; records what the pool asks. */
function streamingWorker(pieces: string[]) {
  const ch = new MessageChannel();
  const asked: string[] = [];
  let next = 1;
  const send = (m: FromWorker) => ch.port2.postMessage(m);
  ch.port2.onmessage = (e) => {
    const m = e.data as ToWorker;
    if (m.type === "init") return;
    asked.push(m.type);
    if (m.type === "eval") {
      send({ type: "result", id: m.id, data: utf8.encode(pieces[0]), warnings: ["w"], more: true });
    } else if (m.type === "more") {
      if (next === -1) {
        send({ type: "error", id: m.id, errorType: "internal", message: "query answer expired" });
        return;
      }
      const done = next === pieces.length - 1;
      send({ type: "piece", id: m.id, data: utf8.encode(pieces[next++]), done });
    }
  };
  return {
    port: ch.port1,
    asked,
    expire() {
      next = -1;
    },
    close() {
      ch.port1.close();
      ch.port2.close();
    },
  };
}

/** A pool of one Worker: each start takes the next of `workers`. */
function pool(...workers: { port: MessagePort }[]): EvalPool {
  let next = 0;
  return new EvalPool({
    workers: fakeLauncher(1, () => workers[next++]).launcher,
    client: {},
    environment: () => ({ endpoints: [], unavailable: [], responseTimeoutMs: 1000 }),
  });
}

/** Like {@link pool}, its Worker stopped as soon as it is idle; `stopped` lists the stops. */
function eagerPool(worker: { port: MessagePort }) {
  const l = fakeLauncher(1, () => worker);
  return {
    ...l,
    pool: new EvalPool({
      workers: l.launcher,
      idleMs: 1,
      client: {},
      environment: () => ({ endpoints: [], unavailable: [], responseTimeoutMs: 1000 }),
    }),
  };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

Deno.test("a Worker still holding a streamed answer is not idle; it is stopped once read", async () => {
  const w = streamingWorker(["[", "1", "]"]);
  const p = eagerPool(w);
  try {
    const a = await p.pool.evaluate(TASK);
    const r = (a.data as ReadableStream<Uint8Array>).getReader();
    await r.read();
    await tick();
    assertEquals(p.stopped, []);
    const stop = p.nextStop();
    while (!(await r.read()).done);
    assertEquals(await stop, 1);
    assertEquals(w.asked, ["eval", "more", "more"]);
  } finally {
    p.pool.close();
    w.close();
  }
});

Deno.test("a streamed answer: pieces asked for one at a time as they are read, joined whole", async () => {
  const parts = ['{"resultType":"matrix","result":[', '{"metric":{},"values":[]}', "]}"];
  const w = streamingWorker(parts);
  const p = pool(w);
  try {
    const a = await p.evaluate(TASK);
    assertEquals(a.warnings, ["w"]);
    assert(a.data instanceof ReadableStream);
    const r = a.data.getReader();
    const got: string[] = [];
    got.push(new TextDecoder().decode((await r.read()).value));
    await tick();
    // nothing asked beyond what was read
    assertEquals(w.asked, ["eval"]);
    for (let i = 0; i < 10; i++) {
      const x = await r.read();
      if (x.done) break;
      got.push(new TextDecoder().decode(x.value));
    }
    assertEquals(got.join(""), parts.join(""));
    assertEquals(w.asked, ["eval", "more", "more"]);
  } finally {
    p.close();
    w.close();
  }
});

Deno.test("a cancelled streamed answer tells the worker to drop the rest", async () => {
  const w = streamingWorker(["[", "1", "2", "]"]);
  const p = pool(w);
  try {
    const a = await p.evaluate(TASK);
    const r = (a.data as ReadableStream<Uint8Array>).getReader();
    await r.read();
    await r.read();
    await r.cancel("client went away");
    await tick();
    assertEquals(w.asked, ["eval", "more", "cancel"]);
  } finally {
    p.close();
    w.close();
  }
});

Deno.test("a streamed answer fails when its worker dies or drops it, never ends short", async () => {
  const dead = streamingWorker(["[", "1", "]"]);
  const fresh = streamingWorker(["[", "]"]);
  const p = pool(dead, fresh);
  try {
    const a = await p.evaluate(TASK);
    const r = (a.data as ReadableStream<Uint8Array>).getReader();
    await r.read();
    p.workerExited(1, "crashed (evaluation bug)");
    const err = await assertRejects(() => r.read());
    assert(err instanceof PromQLError, String(err));
    assert(err.message.includes("worker 1 crashed"), err.message);
    // the replacement's answer expires before it is read: an error, not a short answer
    const b = await p.evaluate(TASK);
    const rb = (b.data as ReadableStream<Uint8Array>).getReader();
    await rb.read();
    fresh.expire();
    const err2 = await assertRejects(() => rb.read());
    assert(String(err2).includes("query answer expired"), String(err2));
    // the next query went to a new Worker
    assertEquals(dead.asked, ["eval"]);
    assertEquals(fresh.asked, ["eval", "more"]);
  } finally {
    p.close();
    dead.close();
    fresh.close();
  }
});
