// An evaluation Worker (query/eval_worker.ts) warms its query path while no task runs: after its
// first PromQL task, once idle, it runs the querier's warm-up (query/warmup.ts) and says
// "warmed"; a task arriving meanwhile is answered (the warm-up stops between two of its queries
// and goes on afterwards); a Worker kept busy, or serving only label calls, warms up nothing, and
// none starts while a streamed answer waits for the role to ask for its next piece.

import { assert, assertEquals } from "../helpers/assert.ts";
import type { EvalTask, FromWorker, ToWorker } from "../../query/eval_pool.ts";
import { WARMUP_ROUNDS } from "../../query/warmup.ts";

const URL_ = new URL("../../query/eval_worker.ts", import.meta.url);

const ENV = { endpoints: [], unavailable: [], responseTimeoutMs: 5000 };

function task(expr: string): EvalTask {
  return {
    kind: "instant",
    expr,
    start: 1_700_000_000_000,
    end: 1_700_000_000_000,
    step: 0,
    engine: {},
    queryable: { partialResponse: false, dedup: true, replicaLabels: [], dedupFunc: "penalty" },
  } as unknown as EvalTask;
}

/** Starts the real Worker; messages from it are collected in `got`. */
async function startWorker() {
  const w = new Worker(URL_, { type: "module", name: "eval-worker-test" });
  await new Promise<void>((resolve) => {
    w.onmessage = (e) => {
      if ((e.data as { type: string }).type === "ready") resolve();
    };
  });
  const ch = new MessageChannel();
  w.postMessage({ type: "port", port: ch.port2 }, [ch.port2]);
  const got: FromWorker[] = [];
  let wake: (() => void) | undefined;
  ch.port1.onmessage = (e) => {
    got.push(e.data as FromWorker);
    wake?.();
  };
  const send = (m: ToWorker) => ch.port1.postMessage(m);
  send({ type: "init", client: {} });
  /** Resolves with the first message matching `pred`, waiting up to `ms`. */
  const next = async (pred: (m: FromWorker) => boolean, ms: number) => {
    const until = Date.now() + ms;
    while (true) {
      const m = got.find(pred);
      if (m) return m;
      const left = until - Date.now();
      if (left <= 0) return undefined;
      const t = setTimeout(() => wake?.(), left);
      await new Promise<void>((r) => wake = r);
      clearTimeout(t);
    }
  };
  const answer = async (id: number) => {
    const m = await next((x) => "id" in x && x.id === id, 30_000);
    assert(m?.type === "result", JSON.stringify(m));
    return JSON.parse(new TextDecoder().decode((m as { data: Uint8Array }).data));
  };
  return {
    got,
    send,
    next,
    answer,
    [Symbol.dispose]() {
      ch.port1.close();
      w.terminate();
    },
  };
}

Deno.test("an evaluation Worker warms up once idle after its first task, and still answers tasks meanwhile", async () => {
  using w = await startWorker();
  // nothing before the first task: a Worker is started for a query, which goes first
  assertEquals(await w.next((m) => m.type === "warming", 500), undefined);
  w.send({ type: "eval", id: 1, task: task("vector(1)"), env: ENV });
  assertEquals((await w.answer(1)).result[0].value[1], "1");
  // a task while the warm-up runs (or is about to) is answered, and the warm-up goes on
  await new Promise((r) => setTimeout(r, 150));
  w.send({ type: "eval", id: 2, task: task("vector(2)"), env: ENV });
  assertEquals((await w.answer(2)).result[0].value[1], "2");
  const warmed = await w.next((m) => m.type === "warmed", 30_000);
  assert(warmed !== undefined, "no warm-up done within 30 s");
  // its start was announced first (what the tests asserting "no warm-up" wait for)
  const started = w.got.findIndex((m) => m.type === "warming");
  assert(started >= 0 && started < w.got.indexOf(warmed), "no warming before warmed");
  const rounds = (warmed as { rounds: number }).rounds;
  assert(rounds > 0 && rounds <= WARMUP_ROUNDS + 1, `rounds ${rounds}`);
  // once: a later idle time runs none again
  w.send({ type: "eval", id: 3, task: task("vector(3)"), env: ENV });
  assertEquals((await w.answer(3)).result[0].value[1], "3");
  await new Promise((r) => setTimeout(r, 500));
  assertEquals(w.got.filter((m) => m.type === "warmed").length, 1);
});

Deno.test("an evaluation Worker kept busy starts no warm-up", async () => {
  using w = await startWorker();
  // tasks closer together than the idle delay (100 ms): the warm-up waits
  for (let id = 1; id <= 10; id++) {
    w.send({ type: "eval", id, task: task(`vector(${id})`), env: ENV });
    assertEquals((await w.answer(id)).result[0].value[1], String(id));
    await new Promise((r) => setTimeout(r, 20));
  }
  assertEquals(w.got.filter((m) => m.type === "warming").length, 0);
});

Deno.test("an evaluation Worker serving only label calls warms up nothing", async () => {
  using w = await startWorker();
  const labels = {
    kind: "labels",
    matchers: [],
    start: 0,
    end: 1000,
    queryable: { partialResponse: false, dedup: true, replicaLabels: [], dedupFunc: "penalty" },
  };
  w.send({ type: "eval", id: 1, task: labels as never, env: ENV });
  // answered (no store here: "No StoreAPIs available"), and then no warm-up
  const m = await w.next((x) => "id" in x && x.id === 1, 30_000);
  assert(m?.type === "error" && /No StoreAPIs/.test(m.message), JSON.stringify(m));
  // the warm-up would start 100 ms after the last task: "warming" (its start), not its end,
  // however slow the machine
  assertEquals(await w.next((x) => x.type === "warming", 1500), undefined);
});

Deno.test("an evaluation Worker starts no warm-up while a streamed answer waits for its next piece", async () => {
  using w = await startWorker();
  // 6 series × 10,001 points: about 1 MB of JSON, answered in more than one piece
  const expr = [1, 2, 3, 4, 5, 6].map((i) => `label_replace(vector(${i}), "i", "${i}", "", "")`)
    .join(" or ");
  const t0 = 1_700_000_000_000;
  const range = { ...task(expr), kind: "range", start: t0, end: t0 + 10_000_000, step: 1000 };
  w.send({ type: "eval", id: 1, task: range as EvalTask, env: ENV });
  const first = await w.next((x) => "id" in x && x.id === 1, 30_000);
  assert(first?.type === "result" && (first as { more?: boolean }).more, JSON.stringify(first));
  // the role has not asked for the rest: no warm-up starts, however long it waits
  assertEquals(await w.next((x) => x.type === "warming", 1500), undefined);
  for (let n = 0;; n++) {
    w.send({ type: "more", id: 1 });
    const p = await w.next((x) => x.type === "piece" && x.id === 1 && !("seen" in x), 30_000);
    assert(p?.type === "piece", JSON.stringify(p));
    Object.assign(p, { seen: true });
    if (p.done) break;
    assert(n < 10);
  }
  // answered in full: the Worker is idle now and warms up
  assert(await w.next((x) => x.type === "warmed", 30_000) !== undefined, "no warm-up after");
});
