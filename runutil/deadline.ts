// Long deadlines (a query's timeout, a bucket operation's, a gRPC stall guard) on one shared
// timer. Nearly all of them are cancelled long before they are due, yet each setTimeout +
// clearTimeout pair schedules and cancels a timer in the runtime and wakes its event-loop thread:
// 10–60 µs per pair on a loaded machine, several per instant query (issue 19). Here a deadline is
// an entry in a min-heap; one timer is armed for the earliest live entry, cancelling only marks
// an entry, and the timer is re-armed (or not at all) when it fires. The timer is unref'd, like
// the guarded work's own I/O keeps the process alive, a pending deadline alone does not.

/** A scheduled deadline; `cancel` is idempotent and cheap. */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  due: number;
  fire: (() => void) | null;
}

/** Above this many cancelled entries (and more than half of the heap), the heap is rebuilt. */
const COMPACT_AT = 1024;

const heap: Entry[] = [];
let cancelled = 0;
/** The armed timer and the time it is due at (Infinity when none). */
let timer: ReturnType<typeof setTimeout> | undefined;
let armedAt = Infinity;

function less(a: Entry, b: Entry): boolean {
  return a.due < b.due;
}

function push(e: Entry): void {
  let i = heap.length;
  heap.push(e);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(heap[i], heap[p])) break;
    [heap[i], heap[p]] = [heap[p], heap[i]];
    i = p;
  }
}

function pop(): Entry {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
  return top;
}

function arm(due: number): void {
  if (timer !== undefined) clearTimeout(timer);
  armedAt = due;
  timer = setTimeout(onTimer, Math.max(0, Math.ceil(due - performance.now())));
  Deno.unrefTimer(timer as unknown as number);
}

function onTimer(): void {
  timer = undefined;
  armedAt = Infinity;
  const now = performance.now();
  const due: (() => void)[] = [];
  while (heap.length > 0 && (heap[0].fire === null || heap[0].due <= now)) {
    const e = pop();
    if (e.fire === null) cancelled--;
    else {
      due.push(e.fire);
      e.fire = null;
    }
  }
  if (heap.length > 0) arm(heap[0].due);
  for (const f of due) {
    try {
      f();
    } catch (e) {
      // as from its own timer: the error is uncaught, the other deadlines still fire
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}

function compact(): void {
  const live = heap.filter((e) => e.fire !== null);
  heap.length = 0;
  cancelled = 0;
  for (const e of live) push(e);
}

/**
 * Calls `fire` once `ms` milliseconds have passed, unless cancelled first. Fires in due order;
 * never earlier than a setTimeout of the same length would.
 */
export function afterMs(ms: number, fire: () => void): Deadline {
  const e: Entry = {
    due: performance.now() + Math.max(0, ms),
    fire,
    cancel() {
      if (e.fire === null) return;
      e.fire = null;
      cancelled++;
      if (cancelled > COMPACT_AT && cancelled * 2 > heap.length) compact();
    },
  };
  push(e);
  // an armed timer due no later than this entry will see it when it fires
  if (e.due < armedAt) arm(e.due);
  return e;
}

/** @internal Entries held (live and cancelled) and whether a timer is armed: for tests. */
export function deadlineStats(): { entries: number; cancelled: number; armed: boolean } {
  return { entries: heap.length, cancelled, armed: timer !== undefined };
}
