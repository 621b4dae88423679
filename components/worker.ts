// Worker entry: runs one command with the permissions the launcher derived from its flags.
// Out: {type:"ready"} once its modules are evaluated; in: {type:"run", raw, evalWorkers,
// turnPort} (turnPort: the loopback port granted for this thread's event-loop turns), then
// optionally {type:"stop"}; out: {type:"exit", code}. The query role's evaluation Workers
// (components/eval_workers.ts): out {type:"evalStart", req} → in {type:"evalStarted", req, id,
// port} or {type:"evalStartFailed", req, message}; out {type:"evalStop", id}; in
// {type:"evalExit", id, cause} when one died.

import { commandKey, findCommand } from "./commands.ts";
import { requestLogForRole, requestLogFromFlags } from "./request_logging.ts";
import { setRequestLogConfig } from "../server/request_log.ts";
import { Flags, logConfig, noEffectNotes, type RawFlags } from "./flags.ts";
import { Logger } from "../logging/log.ts";
import { RUN_TABLE } from "./run_table.ts";
import { tracingConfig } from "./tracing.ts";
import type { TracingHandle } from "../tracing/setup.ts";
import type { RunContext } from "./runtime.ts";
import { useIoTurnPort } from "../runutil/loop_turn.ts";

const encoder = new TextEncoder();
const controller = new AbortController();
const reloadHandlers: (() => void)[] = [];
const evalExitHandlers: ((id: number, cause: string) => void)[] = [];
/** Evaluation Worker starts asked of the launcher and not yet answered, by request number. */
const evalStarts = new Map<
  number,
  { resolve: (w: { id: number; port: MessagePort }) => void; reject: (e: Error) => void }
>();
let nextEvalStart = 1;
let outBuf: string[] = [];
let outLen = 0;

function flushStdout(): void {
  if (outBuf.length === 0) return;
  const data = encoder.encode(outBuf.join(""));
  outBuf = [];
  outLen = 0;
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

function stdout(text: string): void {
  outBuf.push(text);
  outLen += text.length;
  if (outLen > 1 << 16) flushStdout();
}

/** The launcher's evaluation Workers, reached through messages (at most `max`). */
function evalWorkerLauncher(max: number): NonNullable<RunContext["evalWorkers"]> {
  return {
    max,
    start: () =>
      new Promise((resolve, reject) => {
        const req = nextEvalStart++;
        evalStarts.set(req, { resolve, reject });
        scope.postMessage({ type: "evalStart", req });
      }),
    stop: (id) => scope.postMessage({ type: "evalStop", id }),
    onExit: (h) => evalExitHandlers.push(h),
  };
}

async function run(
  raw: RawFlags,
  evalWorkers: number,
  turnPort: number | undefined,
): Promise<number> {
  const key = commandKey(raw.command);
  const spec = findCommand(raw.command);
  const fn = RUN_TABLE[key];
  if (!spec || !fn) throw new Error(`bug: no run function for command "${key}"`);
  const flags = new Flags(spec, raw);
  const hasLog = spec.flags.some((f) => f.name === "log.level");
  const log = hasLog ? logConfig(flags) : { level: "info" as const, format: "logfmt" as const };
  const logger = new Logger(log.level, log.format);
  for (const note of noEffectNotes(spec, raw)) logger.warn(note);
  if (turnPort !== undefined) {
    useIoTurnPort(
      turnPort,
      (reason) => logger.debug(reason),
      (port) => logger.debug("event-loop turns read sockets through a loopback pair", { port }),
    );
  }
  if (spec.flags.some((f) => f.name === "request.logging-config")) {
    setRequestLogConfig(requestLogForRole(key, requestLogFromFlags(raw)));
  }
  let tracing: TracingHandle | null = null;
  try {
    const tc = tracingConfig(raw);
    if (tc !== null) {
      // the OpenTelemetry SDK and its exporters load only when tracing is on
      const { initTracing } = await import("../tracing/setup.ts");
      const { otlpGrpcChannel } = await import("../storeapi/otlp_channel.ts");
      tracing = initTracing(tc, {
        defaultServiceName: `thanos-${key}`,
        logger,
        grpcChannel: otlpGrpcChannel,
      });
      logger.info("tracing spans to an OTLP collector", { url: tc.url });
    }
    return await fn(flags, {
      signal: controller.signal,
      logger,
      stdout,
      onReload: (h) => reloadHandlers.push(h),
      evalWorkers: evalWorkerLauncher(evalWorkers),
    });
  } catch (e) {
    logger.error("command failed", { err: (e as Error).message });
    return 1;
  } finally {
    // what is still queued gets a short flush; a collector that is down cannot hold the exit
    if (tracing) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        tracing.shutdown(),
        new Promise((r) => timer = setTimeout(r, 2000)),
      ]);
      clearTimeout(timer);
    }
    flushStdout();
  }
}

/** The worker global scope (typed locally: the project's lib is the main-thread one). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage(msg: unknown): void;
};

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data as {
    type: string;
    raw?: RawFlags;
    evalWorkers?: number;
    turnPort?: number;
    req?: number;
    id?: number;
    port?: MessagePort;
    message?: string;
    cause?: string;
  };
  if (msg.type === "stop") controller.abort(new Error("received termination signal"));
  else if (msg.type === "evalStarted" || msg.type === "evalStartFailed") {
    const start = evalStarts.get(msg.req!);
    evalStarts.delete(msg.req!);
    if (msg.type === "evalStartFailed") start?.reject(new Error(msg.message));
    else if (start) start.resolve({ id: msg.id!, port: msg.port! });
    else msg.port?.close();
  } else if (msg.type === "evalExit") {
    for (const h of evalExitHandlers) h(msg.id!, msg.cause ?? "crashed");
  } else if (msg.type === "reload") { for (const h of reloadHandlers) h(); }
  else if (msg.type === "run") {
    const code = await run(msg.raw!, msg.evalWorkers ?? 0, msg.turnPort);
    scope.postMessage({ type: "exit", code });
  }
};

// Every import (including top-level awaits in them) has finished evaluating: ask for the command.
scope.postMessage({ type: "ready" });
