// Lowering the scheduling priority of the calling thread, for threads that do bulk work (PromQL
// evaluation Workers) beside a thread that must answer promptly (probes, /metrics, health
// checks). On Linux a nice value belongs to one thread, and setpriority(PRIO_PROCESS, 0, …)
// changes only the caller's; elsewhere it would change the whole process, so nothing is done.
// Needs Deno's `sys` permission `setPriority`. A higher nice value only matters while threads
// compete for a core: an idle machine runs the thread as fast as before.

import { setPriority } from "node:os";

/**
 * Sets the calling thread's nice value to `nice` (0–19; higher yields more) on Linux. Returns
 * undefined when done or not applicable (another OS), else why it failed (no permission, a
 * sandbox refusing the call); the caller reports it, the thread keeps its priority.
 */
export function lowerThreadPriority(
  nice: number,
  os: typeof Deno.build.os = Deno.build.os,
): string | undefined {
  if (os !== "linux") return undefined;
  try {
    setPriority(0, nice);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
