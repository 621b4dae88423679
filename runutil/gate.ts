// Concurrency limits: the one copy of "at most N at a time". A Gate bounds long-lived work that
// arrives on its own (Series calls, queries, selects), like Thanos' `pkg/gate`
// (https://github.com/thanos-io/thanos/blob/main/pkg/gate/gate.go); forEachConcurrent and
// mapConcurrent run a known list of items with bounded parallelism (meta fetches, block loads,
// uploads). Metrics-free: callers export `inFlight`/`waiting` under their own metric names.

/** A waiter in a Gate's queue: granted a slot, or rejected when its signal aborts. */
interface Waiter {
  grant: () => void;
}

/**
 * A counting semaphore with a FIFO queue. `max <= 0` (or NaN) means unlimited: every `acquire`
 * succeeds at once (and still counts in `inFlight`).
 */
export class Gate {
  #active = 0;
  readonly #waiters: Waiter[] = [];

  constructor(readonly max: number) {}

  /** Slots currently held. */
  get inFlight(): number {
    return this.#active;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes a slot, waiting in FIFO order while all are held. A free slot is taken even when
   * `signal` has already aborted; a caller that has to wait is rejected with the signal's
   * reason as soon as it aborts (at once when it already has), and leaves the queue.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (!(this.max > 0) || this.#active < this.max) {
      this.#active++;
      return Promise.resolve();
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      const w: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  /**
   * Gives back a slot taken by `acquire`. The slot passes straight to the longest waiter, so a
   * newcomer can never overtake the queue or push the count past `max`.
   */
  release(): void {
    if (this.#active <= 0) throw new Error("Gate.release without a matching acquire");
    const w = this.#waiters.shift();
    if (w) w.grant();
    else this.#active--;
  }

  /** Runs `fn` holding a slot (see `acquire` for `signal`). */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/**
 * Calls `fn` for every item with at most `limit` calls in flight, items taken in order. A limit
 * below 1 (or NaN) runs one at a time; `Infinity` runs all at once. The first failure (or an
 * abort of `signal`, checked before each item) stops handing out items; the calls already
 * running are awaited, then the first error is thrown (the signal's reason for an abort).
 */
export async function forEachConcurrent<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const fail = (e: unknown) => {
    if (!failed) {
      failed = true;
      firstError = e;
    }
  };
  const worker = async () => {
    while (!failed && next < items.length) {
      if (signal?.aborted) {
        fail(signal.reason);
        return;
      }
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (e) {
        fail(e);
      }
    }
  };
  const n = Math.min(limit >= 1 ? Math.floor(limit) : 1, items.length);
  const workers: Promise<void>[] = [];
  for (let w = 0; w < n; w++) workers.push(worker());
  await Promise.all(workers);
  if (failed) throw firstError;
}

/**
 * Like {@link forEachConcurrent}, collecting `fn`'s results in the order of `items`.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  await forEachConcurrent(items, limit, async (item, i) => {
    out[i] = await fn(item, i);
  }, signal);
  return out;
}
