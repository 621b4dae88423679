// What the launcher hands a running command inside its worker.

import type { CommandSpec, Flags } from "./flags.ts";
import type { Logger } from "../logging/log.ts";
import type { EvalWorkerLauncher } from "../query/eval_pool.ts";

/** Context of one running command. */
export interface RunContext {
  /** Aborted on SIGINT/SIGTERM: stop accepting work, finish in-flight work, return. */
  signal: AbortSignal;
  logger: Logger;
  /** Writes text to stdout (buffered; flushed before the command returns). */
  stdout: (text: string) => void;
  /** Registers a handler for SIGHUP (only sent to commands with `reloadOnSighup`). */
  onReload?: (handler: () => void) => void;
  /**
   * The launcher's PromQL evaluation Workers (query role, `--query.eval-workers`): started and
   * stopped on the role's request; `onExit` registers a handler for one that died.
   */
  evalWorkers?: EvalWorkerLauncher & {
    onExit(handler: (id: number, cause: string) => void): void;
  };
}

/** A command's entry point; resolves to the process exit code. */
export type RunFunction = (flags: Flags, ctx: RunContext) => Promise<number>;

/**
 * The entry point of a role: its flags (checked to be those of `spec`) are read once into a
 * typed config by `config`, which throws UsageError on bad values; `run` assembles the role
 * from that config.
 */
export function roleRun<N extends string, C>(
  spec: CommandSpec<N>,
  config: (flags: Flags<N>) => C,
  run: (cfg: C, ctx: RunContext) => Promise<number>,
): RunFunction {
  // async: a config error rejects the promise like any other failure of the role
  return async (flags, ctx) => await run(config(flags.of(spec)), ctx);
}
