// The query role's evaluation Workers start on demand and stop when idle: the launcher starts one
// when asked, up to the most allowed, and reports one that died of an uncaught error
// (components/eval_workers.ts); the role's pool starts none before the first query, starts more
// for concurrent queries up to the limit, stops idle ones, fails a dead Worker's queries with a
// clear error and starts another for the next query (query/eval_pool.ts).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { EvalWorkers } from "../../components/eval_workers.ts";
import { EvalPool, type EvalTask, type FromWorker, type ToWorker } from "../../query/eval_pool.ts";
import { PromQLError } from "../../promql/errors.ts";
import { fakeLauncher } from "../helpers/eval_launcher.ts";
import { eventually } from "../helpers/sidecar_lab.ts";

const CRASHING = new URL("../helpers/crash_eval_worker.ts", import.meta.url);

function reply(port: MessagePort): Promise<unknown> {
  return new Promise((resolve) => {
    port.onmessage = (e) => resolve(e.data);
  });
}

async function ping(port: MessagePort): Promise<unknown> {
  const pong = reply(port);
  port.postMessage("ping");
  return await pong;
}

Deno.test("the launcher starts evaluation Workers only when asked, up to the most allowed", async () => {
  const reports: string[] = [];
  const set = new EvalWorkers({
    url: CRASHING,
    max: 2,
    permissions: {
      read: true,
      write: false,
      net: false,
      env: false,
      run: false,
      ffi: false,
      sys: false,
    },
    report: (id, m) => reports.push(`${id}: ${m}`),
  });
  const ports: MessagePort[] = [];
  try {
    assertEquals(set.count, 0);
    const a = await set.start();
    const b = await set.start();
    ports.push(a.port, b.port);
    assert(a.id !== b.id);
    assertEquals(set.count, 2);
    assertEquals(await ping(a.port), "pong");
    assertEquals(await ping(b.port), "pong");
    await assertRejects(() => set.start(), Error, "the most allowed");
    // a Worker that dies is reported and forgotten; another can start in its place
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = new Promise<{ id: number; cause: string }>((resolve, reject) => {
      set.onExit = (id, cause) => resolve({ id, cause });
      timer = setTimeout(() => reject(new Error("no exit reported within 10 s")), 10_000);
    }).finally(() => clearTimeout(timer));
    b.port.postMessage("crash");
    const x = await exited;
    assertEquals(x.id, b.id);
    assert(x.cause.includes("evaluation bug"), x.cause);
    assert(
      reports.some((r) => r.startsWith(`${b.id}: `) && r.includes("evaluation bug")),
      String(reports),
    );
    assertEquals(set.count, 1);
    const c = await set.start();
    ports.push(c.port);
    assertEquals(await ping(c.port), "pong");
    // the other Worker was untouched; a stopped one leaves room for another
    assertEquals(await ping(a.port), "pong");
    set.stop(a.id);
    assertEquals(set.count, 1);
    const d = await set.start();
    ports.push(d.port);
    assertEquals(await ping(d.port), "pong");
    set.terminate();
    assertEquals(set.count, 0);
    await assertRejects(() => set.start(), Error, "stopped");
  } finally {
    set.terminate();
    for (const p of ports) p.close();
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
  const cancelled: number[] = [];
  ch.port2.onmessage = (e) => {
    const m = e.data as ToWorker;
    if (m.type === "eval") tasks.push(m.id);
    else if (m.type === "cancel") cancelled.push(m.id);
  };
  return {
    port: ch.port1,
    tasks,
    cancelled,
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

/** A pool over fake Workers (a new one per start), at most `max`, idle ones stopped after `idleMs`. */
function fakePool(max: number, idleMs?: number) {
  const workers = fakeLauncher(max, fakeWorker);
  const pool = new EvalPool({
    workers: workers.launcher,
    idleMs,
    client: {},
    environment: () => ({ endpoints: [], unavailable: [], responseTimeoutMs: 1000 }),
  });
  return {
    ...workers,
    pool,
    close() {
      pool.close();
      for (const w of workers.started) w.close();
    },
  };
}

/** A short wait, for what must NOT happen (no Worker started, none stopped). */
const tick = () => new Promise((r) => setTimeout(r, 20));

/** Waits for what crosses the fake Workers' MessageChannels (slow on a loaded machine). */
const until = (done: () => boolean, what: string) =>
  eventually(what, () => Promise.resolve(done()), 10_000);

const taskCount = (ws: { tasks: number[] }[]) => ws.reduce((n, w) => n + w.tasks.length, 0);

Deno.test("the pool starts no Worker before the first query, and more only for concurrent ones", async () => {
  const p = fakePool(2);
  try {
    await tick();
    assertEquals(p.started.length, 0);
    assertEquals(p.pool.size, 0);
    // one query at a time: one Worker does
    const q1 = p.pool.evaluate(TASK);
    await until(() => taskCount(p.started) === 1, "the first task");
    assertEquals(p.started.length, 1);
    p.started[0].answer(p.started[0].tasks[0]);
    await q1;
    const q2 = p.pool.evaluate(TASK);
    await until(() => taskCount(p.started) === 2, "the second task");
    await tick();
    assertEquals(p.started.length, 1);
    assertEquals(p.started[0].tasks.length, 2);
    // concurrent queries: a second Worker, then no more than the limit
    const q3 = p.pool.evaluate(TASK);
    const q4 = p.pool.evaluate(TASK);
    await until(() => taskCount(p.started) === 4, "four tasks");
    await tick();
    assertEquals(p.started.length, 2);
    assertEquals(p.pool.size, 2);
    assertEquals(p.started[0].tasks.length + p.started[1].tasks.length, 4);
    assertEquals(p.started[1].tasks.length, 1);
    for (const w of p.started) for (const id of w.tasks.slice(-2)) w.answer(id);
    await Promise.all([q2, q3, q4]);
    assertEquals(p.stopped, []);
  } finally {
    p.close();
  }
});

Deno.test("an idle Worker is stopped and a later query starts one again", async () => {
  const p = fakePool(2, 1);
  try {
    const q1 = p.pool.evaluate(TASK);
    await tick();
    // a Worker evaluating a query is never idle
    assertEquals(p.stopped, []);
    const stop = p.nextStop();
    p.started[0].answer(p.started[0].tasks[0]);
    await q1;
    assertEquals(await stop, 1);
    assertEquals(p.pool.size, 0);
    const q2 = p.pool.evaluate(TASK);
    await until(() => taskCount(p.started) === 2, "the task after the stop");
    assertEquals(p.started.length, 2);
    assertEquals(p.started[1].tasks.length, 1);
    p.started[1].answer(p.started[1].tasks[0]);
    await q2;
  } finally {
    p.close();
  }
});

Deno.test("a Worker that fails to start fails its query clearly and the next query tries again", async () => {
  let fail = true;
  const made: ReturnType<typeof fakeWorker>[] = [];
  const pool = new EvalPool({
    workers: fakeLauncher(1, () => {
      if (fail) throw new Error("no permission to load modules");
      const w = fakeWorker();
      made.push(w);
      return w;
    }).launcher,
    client: {},
    environment: () => ({ endpoints: [], unavailable: [], responseTimeoutMs: 1000 }),
  });
  try {
    const err = await assertRejects(() => pool.evaluate(TASK));
    assert(err instanceof PromQLError, String(err));
    assert(err.message.includes("cannot start a query evaluation worker"), err.message);
    assert(err.message.includes("no permission to load modules"), err.message);
    assertEquals(pool.size, 0);
    fail = false;
    const q = pool.evaluate(TASK);
    await until(() => taskCount(made) === 1, "the task");
    made[0].answer(made[0].tasks[0]);
    await q;
  } finally {
    pool.close();
    for (const w of made) w.close();
  }
});

Deno.test("the pool fails a dead Worker's running queries and starts another for the next", async () => {
  const p = fakePool(2);
  try {
    const q1 = p.pool.evaluate(TASK);
    const q2 = p.pool.evaluate(TASK);
    await until(() => taskCount(p.started) === 2, "two tasks");
    const [a, dead] = p.started;
    assertEquals(a.tasks.length, 1);
    assertEquals(dead.tasks.length, 1);
    p.pool.workerExited(2, "crashed (evaluation bug)");
    const err = await assertRejects(() => q2);
    assert(err instanceof PromQLError, String(err));
    assert(err.message.includes("worker 2 crashed (evaluation bug)"), err.message);
    // the live Worker's query is unaffected
    a.answer(a.tasks[0]);
    await q1;
    // new concurrent queries reach the live Worker and a new one in the dead one's place
    const q3 = p.pool.evaluate(TASK);
    const q4 = p.pool.evaluate(TASK);
    await until(() => taskCount(p.started) === 4, "the tasks after the death");
    assertEquals(p.started.length, 3);
    const fresh = p.started[2];
    assertEquals(fresh.tasks.length, 1);
    assertEquals(dead.tasks.length, 1);
    fresh.answer(fresh.tasks[0]);
    a.answer(a.tasks[1]);
    await Promise.all([q3, q4]);
  } finally {
    p.close();
  }
});

Deno.test("an aborted query is cancelled in its Worker, also when aborted while the Worker loads", async () => {
  const p = fakePool(1);
  try {
    // aborted while its Worker is still loading: cancelled as soon as it reaches the Worker
    const early = new AbortController();
    const q1 = p.pool.evaluate(TASK, early.signal);
    early.abort();
    await until(() => p.started[0]?.cancelled.length === 1, "the early cancel");
    const [w] = p.started;
    assertEquals(w.tasks.length, 1);
    assertEquals(w.cancelled, [w.tasks[0]]);
    w.answer(w.tasks[0]);
    await q1;
    // aborted while it runs
    const late = new AbortController();
    const q2 = p.pool.evaluate(TASK, late.signal);
    await until(() => w.tasks.length === 2, "the second task");
    late.abort();
    await until(() => w.cancelled.length === 2, "the late cancel");
    assertEquals(w.cancelled, w.tasks);
    w.answer(w.tasks[1]);
    await q2;
  } finally {
    p.close();
  }
});
