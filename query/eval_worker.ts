// One evaluation Worker of query/eval_pool.ts, started by the launcher with the query role's
// permissions: its own StoreAPI clients (one per address, kept across queries), and per task a
// proxy over the endpoint snapshot, the query's Queryable and an engine. The launcher sends it a
// MessagePort whose other end the role's EvalPool holds; the pool's ToWorker / FromWorker
// messages go over that port. Out to the launcher: {type:"ready"} once the modules are loaded.
// Results leave as the `data` JSON in UTF-8 bytes whose buffer is transferred, so the role's
// thread neither encodes nor copies a large answer; an answer of more than one piece (1 MiB) is
// streamed: the first piece with the result, each next one encoded when the role asks for it.

import { StoreClient, type StoreClientOptions } from "../storeapi/client.ts";
import { StoreProxy } from "../storeapi/proxy.ts";
import { Relabeler } from "../relabel/relabel.ts";
import { EndpointGroupClient } from "./endpoint_group.ts";
import type { EndpointClient } from "./endpoints.ts";
import { Matcher } from "../tsdb/matchers.ts";
import { Engine } from "../promql/engine.ts";
import { PromQLError } from "../promql/errors.ts";
import { JSONPieces, queryStatsMember } from "../promql/value.ts";
import { ProxyQueryable } from "./queryable.ts";
import { joinPieces, labelApiData } from "./label_api.ts";
import { queryValueFrames } from "./grpc_api.ts";
import { evaluateDistributed, remoteCallOptions, remoteEngines } from "./distributed.ts";
import {
  type EvalEnvironment,
  evalSpanName,
  type EvalTask,
  type FromWorker,
  type LabelTask,
  type ToWorker,
} from "./eval_pool.ts";
import { contextFromHeaders, inSpan } from "../tracing/tracer.ts";

/** The worker global scope (typed locally: the project's lib is the main-thread one). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage(msg: unknown): void;
};
let port: MessagePort | null = null;

function send(m: FromWorker): void {
  if (m.type === "result" || m.type === "piece") {
    port?.postMessage(m, [m.data.buffer as ArrayBuffer]);
  } else port?.postMessage(m);
}

/** A streamed answer is dropped when the role asks for no piece for this long (ms). */
const STREAM_IDLE_MS = 5 * 60_000;

/** Streamed answers whose next pieces the role has yet to ask for. */
const streams = new Map<number, { pieces: JSONPieces; idle: ReturnType<typeof setTimeout> }>();

function dropStream(id: number): void {
  const st = streams.get(id);
  if (!st) return;
  clearTimeout(st.idle);
  streams.delete(id);
  warmWhenIdle();
}

function keepStream(id: number, pieces: JSONPieces): void {
  clearTimeout(streams.get(id)?.idle);
  streams.set(id, { pieces, idle: setTimeout(() => dropStream(id), STREAM_IDLE_MS) });
}

/** The next piece of streamed answer `id`; an error when it was dropped. */
function nextPiece(id: number): void {
  const st = streams.get(id);
  if (!st) {
    send({ type: "error", id, errorType: "internal", message: "query answer expired" });
    return;
  }
  const p = st.pieces.next();
  if (p.done) dropStream(id);
  else keepStream(id, st.pieces);
  send({ type: "piece", id, data: p.data, done: p.done });
}

/** Longest evaluation stretch (ms) between socket-reading turns in a worker (engine ioTurnEvery). */
const EVAL_WORKER_IO_TURN_MS = 100;

let clientOpts: StoreClientOptions = {};
const clients = new Map<string, EndpointClient>();
const running = new Map<number, AbortController>();
/**
 * Set when the pool's init message turns tracing on: the OpenTelemetry SDK loads then (not with
 * this module), and evaluations wait for it so that their spans are recorded.
 */
let tracingStarted: Promise<void> | undefined;
let tsdbSelector: Relabeler | undefined;

/** The client of an endpoint: a StoreClient, or for an endpoint group its round-robin client. */
function client(address: string, members?: string[]): EndpointClient {
  let c = clients.get(address);
  if (!c) {
    c = members
      ? new EndpointGroupClient(
        address.slice("thanos:///".length),
        (a) => new StoreClient(a, clientOpts),
      )
      : new StoreClient(address, clientOpts);
    clients.set(address, c);
  }
  if (members && c instanceof EndpointGroupClient) c.setMembers(members);
  return c;
}

/**
 * The querier's start-up warm-up (query/warmup.ts), run here while no task is: a Worker starts
 * cold when concurrent queries need it (after an idle stop too), and its first queries ran 3–4×
 * slower than the same queries on the role's warmed thread (issue 19). It starts once no task
 * has run for {@link WARMUP_IDLE_MS} and no streamed answer waits for the role to ask for its next
 * piece (a Worker kept busy warms up on its tasks), stops between
 * two of its queries when a task arrives, and goes on later with the rounds left, at most
 * {@link WARMUP_ATTEMPTS} times. Only a Worker that has evaluated PromQL warms up: the warm-up
 * grows a Worker's RSS by about 25 MiB beyond what 100 dashboard queries grew it to (compiled
 * code, a grown young generation); one serving only `series` and label calls stays small. The
 * warm-up's code (a synthetic store and a gRPC server and client of its own) is imported when it
 * first starts, not with the Worker: that import was half the Worker's module graph, loaded
 * while the query that started the Worker waited.
 */
const WARMUP_IDLE_MS = 100;
const WARMUP_ATTEMPTS = 5;
/** Rounds still to run; undefined until the warm-up's module is loaded (all of them). */
let warmupRoundsLeft: number | undefined;
let warmupAttempts = 0;
let warmedRounds = 0;
let warmup: AbortController | null = null;
let warmupTimer: ReturnType<typeof setTimeout> | undefined;

/** Set by the first PromQL task: a Worker serving only label calls warms up nothing. */
let warmupWanted = false;

function warmWhenIdle(): void {
  clearTimeout(warmupTimer);
  if (!warmupWanted || warmupRoundsLeft === 0 || warmupAttempts >= WARMUP_ATTEMPTS) return;
  if (running.size > 0 || streams.size > 0) return;
  warmupTimer = setTimeout(startWarmup, WARMUP_IDLE_MS);
  Deno.unrefTimer(warmupTimer);
}

function startWarmup(): void {
  if (warmup !== null || running.size > 0) return;
  const ac = new AbortController();
  warmup = ac;
  warmupAttempts++;
  send({ type: "warming" });
  import("./warmup.ts").then(({ warmInstantQueryPath, WARMUP_ROUNDS }) => {
    warmupRoundsLeft ??= WARMUP_ROUNDS;
    // a task that arrived while the module loaded goes first
    if (ac.signal.aborted) return { rounds: 0 };
    return warmInstantQueryPath({ rounds: warmupRoundsLeft, signal: ac.signal });
  }).then(
    (r) => {
      // a round a task interrupted is done again next time; else the time budget ended it
      warmedRounds += r.rounds;
      warmupRoundsLeft = ac.signal.aborted ? warmupRoundsLeft! - r.rounds : 0;
      if (warmupRoundsLeft === 0) send({ type: "warmed", rounds: warmedRounds });
    },
    () => warmupRoundsLeft = 0, // a bug in the warm-up: not tried again
  ).finally(() => {
    warmup = null;
    warmWhenIdle();
  });
}

/** A task arrived: the warm-up stops after its query in flight, or does not start yet. */
function pauseWarmup(): void {
  clearTimeout(warmupTimer);
  warmup?.abort();
}

async function evaluate(
  id: number,
  task: EvalTask | LabelTask,
  env: EvalEnvironment,
): Promise<void> {
  const ctrl = new AbortController();
  running.set(id, ctrl);
  pauseWarmup();
  if (task.kind === "instant" || task.kind === "range") warmupWanted = true;
  try {
    if (tracingStarted) await tracingStarted;
    // clients of endpoints no longer known are closed
    const known = new Set(env.endpoints.map((e) => e.name));
    for (const [a, c] of clients) {
      if (!known.has(a) && running.size === 1) {
        c.close();
        clients.delete(a);
      }
    }
    const proxy = new StoreProxy({
      endpoints: () =>
        env.endpoints.map((e) => ({
          name: e.name,
          info: e.info,
          client: client(e.name, e.members),
        })),
      unavailable: () => env.unavailable,
      responseTimeoutMs: env.responseTimeoutMs,
      selectorLabels: env.selectorLabels,
      tsdbSelector,
    });
    const qo = task.queryable;
    const q = new ProxyQueryable(proxy, {
      ...qo,
      storeMatchers: qo.storeMatchers?.map((set) =>
        set.map(([type, name, value]) => new Matcher(type, name, value))
      ),
    });
    // the work continues the trace of the request's HTTP span on the role's thread
    const parent = contextFromHeaders({ traceparent: task.traceparent || undefined });
    if (!("engine" in task)) {
      const pieces = await inSpan(
        `query_${task.kind}`,
        undefined,
        () =>
          labelApiData(
            q,
            {
              kind: task.kind,
              matchers: task.matchers.map((set) =>
                set.map(([type, name, value]) => new Matcher(type, name, value))
              ),
              name: task.name,
              start: task.start,
              end: task.end,
            },
            ctrl.signal,
            EVAL_WORKER_IO_TURN_MS,
          ),
        undefined,
        parent,
      );
      send({ type: "result", id, data: joinPieces(pieces), warnings: q.warnings });
      return;
    }
    // no probes on this thread: socket reads (other queries' store answers) every 100 ms of
    // evaluation, cheap message turns (the pool's cancel, timers) every 20 ms in between
    const engine = new Engine({ ...task.engine, ioTurnEvery: EVAL_WORKER_IO_TURN_MS });
    const res = await inSpan(
      evalSpanName(task.kind),
      { "promql.query": task.expr },
      () =>
        task.distributed
          ? evaluateDistributed(
            engine,
            q,
            task,
            remoteEngines(
              // an endpoint down: evaluated as local mode does (its warning or error)
              env.unavailable.length > 0
                ? []
                : env.endpoints.map((e) => ({ ...e, client: client(e.name, e.members) })),
            ),
            task.distributed,
            remoteCallOptions(task),
            q.warnings,
            ctrl.signal,
          )
          : task.kind === "instant"
          ? engine.instantQuery(q, task.expr, task.start, ctrl.signal)
          : engine.rangeQuery(q, task.expr, task.start, task.end, task.step, ctrl.signal),
      undefined,
      parent,
    );
    if (task.grpcBatchSize !== undefined) {
      send({
        type: "result",
        id,
        data: queryValueFrames(res.value, task.kind, task.grpcBatchSize),
        warnings: [...res.warnings, ...q.warnings],
        stats: q.stats,
      });
      return;
    }
    const extra = task.stats ? queryStatsMember(res.stats, task.stats.queueMs) : "";
    const pieces = new JSONPieces(res.value, undefined, extra);
    const first = pieces.next();
    if (!first.done) keepStream(id, pieces);
    send({
      type: "result",
      id,
      data: first.data,
      warnings: [...res.warnings, ...q.warnings],
      stats: q.stats,
      more: !first.done,
    });
  } catch (e) {
    const err = e instanceof PromQLError
      ? e
      : new PromQLError("internal", e instanceof Error ? e.message : String(e));
    send({ type: "error", id, errorType: err.type, message: err.message });
  } finally {
    running.delete(id);
    warmWhenIdle();
  }
}

function onTask(e: MessageEvent): void {
  const m = e.data as ToWorker;
  if (m.type === "init") {
    clientOpts = m.client;
    tsdbSelector = m.tsdbSelector?.length ? new Relabeler(m.tsdbSelector) : undefined;
    if (m.tracing && !tracingStarted) {
      const config = m.tracing;
      tracingStarted = (async () => {
        const { initTracing } = await import("../tracing/setup.ts");
        const { otlpGrpcChannel } = await import("../storeapi/otlp_channel.ts");
        initTracing(config, { defaultServiceName: "thanos-query", grpcChannel: otlpGrpcChannel });
      })();
    }
  } else if (m.type === "eval") void evaluate(m.id, m.task, m.env);
  else if (m.type === "more") nextPiece(m.id);
  else if (m.type === "cancel") {
    running.get(m.id)?.abort(new DOMException("query canceled", "AbortError"));
    dropStream(m.id);
  }
}

scope.onmessage = (e: MessageEvent) => {
  const m = e.data as { type: string; port?: MessagePort };
  if (m.type === "port" && m.port) {
    port = m.port;
    port.onmessage = onTask;
  }
};

scope.postMessage({ type: "ready" });
