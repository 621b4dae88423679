// A stand-in for the launcher's evaluation Workers (components/eval_workers.ts) in tests of
// query/eval_pool.ts: each start takes the next fake Worker `make` gives (or fails when it
// throws), records starts and stops, and lets a test wait for the next stop.

import type { EvalWorkerLauncher } from "../../query/eval_pool.ts";

/** A fake launcher of at most `max` Workers made by `make`. */
export function fakeLauncher<W extends { port: MessagePort }>(max: number, make: () => W) {
  const started: W[] = [];
  const stopped: number[] = [];
  let onStop: ((id: number) => void) | undefined;
  const launcher: EvalWorkerLauncher = {
    max,
    start: () => {
      try {
        const w = make();
        started.push(w);
        return Promise.resolve({ id: started.length, port: w.port });
      } catch (e) {
        return Promise.reject(e);
      }
    },
    stop: (id) => {
      stopped.push(id);
      onStop?.(id);
    },
  };
  return {
    launcher,
    /** The Workers started, in order (Worker `i + 1` is `started[i]`). */
    started,
    /** The ids stopped, in order. */
    stopped,
    /** Resolves with the id of the next Worker stopped. */
    nextStop: () => new Promise<number>((resolve) => onStop = resolve),
  };
}
