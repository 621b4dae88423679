// Timeouts that count only the time this thread's event loop was free to run. A plain
// AbortSignal.timeout(5s) started just before a 10 s stall of our own (a heavy evaluation, a
// long GC) fires right after the stall, before the answer already waiting in the socket buffer
// is read — the peer is then blamed for our stall (issue 20: a busy querier marked healthy
// stores unhealthy). A loop timeout ticks in short steps, credits each step at most its planned
// length, and never fires on a tick that came late (a stall): it then waits one more short,
// on-time step, in which pending I/O is read first.

/** A timeout signal and its cancel. */
export interface LoopTimeout {
  signal: AbortSignal;
  /** Stops the timer (call when the guarded work ended). */
  clear(): void;
}

/** Default length of one tick (ms). */
const TICK_MS = 250;
/** A tick later than planned by more than this was held up by a stall. */
const LATE_MS = 50;
/** The on-time step that must pass after a stall before the timeout may fire (ms). */
const GRACE_MS = 50;

/**
 * A signal that aborts with a `TimeoutError` DOMException once `ms` of event-loop time has been
 * credited: each tick adds the time since the previous one, at most its planned length, so time
 * spent blocked in a synchronous stall is not counted, and the timeout fires only on a tick that
 * came on time (so whatever arrived during a stall is read before it can fire).
 */
export function loopTimeout(ms: number, tickMs = TICK_MS): LoopTimeout {
  const ctrl = new AbortController();
  let credited = 0;
  let last = performance.now();
  let planned = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (delay: number) => {
    planned = Math.max(1, delay);
    timer = setTimeout(tick, planned);
  };
  const tick = () => {
    const now = performance.now();
    const elapsed = now - last;
    last = now;
    const late = elapsed > planned + LATE_MS;
    credited += Math.min(elapsed, planned);
    if (credited < ms) return schedule(Math.min(tickMs, ms - credited));
    if (late) return schedule(Math.min(GRACE_MS, tickMs));
    timer = undefined;
    ctrl.abort(new DOMException(`timed out after ${ms / 1000}s`, "TimeoutError"));
  };
  if (ms <= 0) ctrl.abort(new DOMException("timed out after 0s", "TimeoutError"));
  else schedule(Math.min(tickMs, ms));
  return {
    signal: ctrl.signal,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * Races `p` against a loop timeout of `ms`; rejects with `onTimeout()` when it fires first.
 * The timer is cleared either way.
 */
export function withLoopTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  const t = loopTimeout(ms);
  return new Promise<T>((resolve, reject) => {
    const fire = () => reject(onTimeout());
    t.signal.addEventListener("abort", fire, { once: true });
    p.then(resolve, reject).finally(() => {
      t.clear();
      t.signal.removeEventListener("abort", fire);
    });
  });
}
