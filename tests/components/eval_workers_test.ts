// The launcher restarts a query evaluation Worker that died of an uncaught error and hands the
// role the new port (components/eval_workers.ts); the role's pool fails the queries the dead
// Worker was evaluating with a clear error and sends new ones to the replacement
// (query/eval_pool.ts).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { EvalWorkers } from "../../components/eval_workers.ts";
import { EvalPool, type EvalTask, type FromWorker, type ToWorker } from "../../query/eval_pool.ts";
import { PromQLError } from "../../promql/errors.ts";

const CRASHING = new URL("../helpers/crash_eval_worker.ts", import.meta.url);

function reply(port: MessagePort): Promise<unknown> {
  return new Promise((resolve) => {
    port.onmessage = (e) => resolve(e.data);
  });
}

Deno.test("a crashed evaluation Worker is restarted and its new port handed over", async () => {
  const reports: string[] = [];
  const set = await EvalWorkers.start({
    url: CRASHING,
    count: 2,
    permissions: {
      read: true,
      write: false,
      net: false,
      env: false,
      run: false,
      ffi: false,
      sys: false,
    },
    report: (i, m) => reports.push(`${i}: ${m}`),
  });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const restarted = new Promise<{ i: number; port: MessagePort; cause: string }>(
      (resolve, reject) => {
        set.onRestart = (i, port, cause) => resolve({ i, port, cause });
        timer = setTimeout(() => reject(new Error("no restart within 10 s")), 10_000);
      },
    ).finally(() => clearTimeout(timer));
    const first = set.ports[1];
    let pong = reply(first);
    first.postMessage("ping");
    assertEquals(await pong, "pong");
    first.postMessage("crash");
    const r = await restarted;
    assertEquals(r.i, 1);
    assert(r.cause.includes("evaluation bug"), r.cause);
    assert(
      reports.some((x) => x.startsWith("1: ") && x.includes("evaluation bug")),
      String(reports),
    );
    assertEquals(set.ports[1], r.port);
    pong = reply(r.port);
    r.port.postMessage("ping");
    assertEquals(await pong, "pong");
    // the other Worker was untouched
    pong = reply(set.ports[0]);
    set.ports[0].postMessage("ping");
    assertEquals(await pong, "pong");
  } finally {
    set.terminate();
    for (const p of set.ports) p.close();
  }
});

const TASK: EvalTask = {
  kind: "instant",
  expr: "up",
  start: 0,
  end: 0,
  step: 0,
  // a worker that never answers fails the query after this + 10 s, not 2 min
  engine: { timeout: 100 },
  queryable: { partialResponse: false, dedup: false, replicaLabels: [], dedupFunc: "penalty" },
} as unknown as EvalTask;

/** A fake worker on the far end of a channel: records tasks, answers when told. */
function fakeWorker() {
  const ch = new MessageChannel();
  const tasks: number[] = [];
  ch.port2.onmessage = (e) => {
    const m = e.data as ToWorker;
    if (m.type === "eval") tasks.push(m.id);
  };
  return {
    port: ch.port1,
    tasks,
    answer(id: number) {
      ch.port2.postMessage(
        {
          type: "result",
          id,
          data: new TextEncoder().encode('{"resultType":"scalar","result":[0,"1"]}'),
          warnings: [],
        } as unknown as FromWorker,
      );
    },
    close() {
      ch.port1.close();
      ch.port2.close();
    },
  };
}

Deno.test("the pool fails a restarted worker's running queries and uses its replacement", async () => {
  const a = fakeWorker();
  const dead = fakeWorker();
  const fresh = fakeWorker();
  const pool = new EvalPool({
    ports: [a.port, dead.port],
    client: {},
    environment: () => ({ endpoints: [], unavailable: [], responseTimeoutMs: 1000 }),
  });
  try {
    const q1 = pool.evaluate(TASK);
    const q2 = pool.evaluate(TASK);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(a.tasks.length + dead.tasks.length, 2);
    assertEquals(dead.tasks.length, 1);
    pool.replaceWorker(1, fresh.port, "crashed (evaluation bug)");
    const onDead = a.tasks.length === 1 ? q2 : q1;
    const onLive = onDead === q1 ? q2 : q1;
    const err = await assertRejects(() => onDead);
    assert(err instanceof PromQLError, String(err));
    assert(err.message.includes("worker 1 crashed"), err.message);
    // the live worker's query is unaffected
    a.answer(a.tasks[0]);
    await onLive;
    // new queries reach the replacement
    const q3 = pool.evaluate(TASK);
    const q4 = pool.evaluate(TASK);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(fresh.tasks.length, 1);
    fresh.answer(fresh.tasks[0]);
    a.answer(a.tasks[1]);
    await Promise.all([q3, q4]);
  } finally {
    pool.close();
    a.close();
    dead.close();
    fresh.close();
  }
});
