// What the launcher hands a running command inside its worker.

import type { Flags } from "./flags.ts";
import type { Logger } from "../logging/log.ts";

/** Context of one running command. */
export interface RunContext {
  /** Aborted on SIGINT/SIGTERM: stop accepting work, finish in-flight work, return. */
  signal: AbortSignal;
  logger: Logger;
  /** Writes text to stdout (buffered; flushed before the command returns). */
  stdout: (text: string) => void;
}

/** A command's entry point; resolves to the process exit code. */
export type RunFunction = (flags: Flags, ctx: RunContext) => Promise<number>;
