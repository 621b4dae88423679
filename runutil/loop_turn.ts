// Giving the event loop a turn from long synchronous work (a PromQL evaluation, a label walk).
// Three kinds, measured on Deno 2.9.6 (a thread spinning in 2 ms slices separated by turns, an
// HTTP server on the same thread, 300 sequential requests from a Worker; 2-core machine shared
// with other benchmarks, load 1.6–6):
// - a timer turn (`setTimeout(0)`): ≈2.1 ms even idle (timers are clamped to 1 ms,
//   https://html.spec.whatwg.org/multipage/timers-and-user-prompts.html#timers, and run from a
//   millisecond wheel); sockets are read in it. Requests p50/p99 0.28/2.8 ms, but the work ran
//   only 55 % of the time;
// - an I/O turn ({@link ioTurn}): bytes through a loopback TCP pair this thread owns. A read can
//   only complete once the runtime polls its I/O driver, and that poll reads every other ready
//   socket too (new requests, store answers). ≈0.02 ms a round trip idle; with one round trip
//   requests p50/p99 2.1/2.9–7.6 ms (the answer left one slice later), work 79–91 % of the time;
//   in 5 ms slices p50 5.5–5.7 ms with one round trip, 2.8–4.7 ms with two (the second lets the
//   request's handler run and its answer be written), so a turn is two. Without its pair (no
//   grant for the port, port taken) it is a timer turn;
// - a message turn ({@link messageTurn}, a MessageChannel round trip): ≈0.02 ms; it runs timers
//   and delivers MessagePort messages (a worker's cancel) but does NOT read sockets: the runtime
//   polls I/O only every 61 scheduler ticks while work is ready (requests waited 61–120 ms).
// Dropped: an async op on the blocking pool (`crypto.subtle.digest`) needs no grant and usually
// makes the thread poll I/O, but not when the op finishes before the thread parks: under load
// requests' p99 was 4.7–264 ms against 2.4–7.6 ms with the loopback pair (4 runs each).

/** Resolves after a turn in which network I/O is read (new requests, store answers); ≈2 ms. */
export function timerTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Resolves after a cheap turn: pending timers and MessagePort messages run, sockets are not
 * read (see above). A channel per turn (≈0.025 ms), closed at once, so nothing holds the process.
 */
export function messageTurn(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port2.onmessage = () => {
      ch.port1.close();
      ch.port2.close();
      resolve();
    };
    ch.port1.postMessage(0);
  });
}

/** This thread's connected loopback pair: a byte written to `writer` is read from `reader`. */
interface TurnPair {
  writer: Deno.Conn;
  reader: Deno.Conn;
}

/** The loopback port of this thread's I/O turns, or undefined: I/O turns are timer turns. */
let turnPort: number | undefined;
let reportUnavailable: ((reason: string) => void) | undefined;
let reportOpen: ((port: number) => void) | undefined;
let pair: TurnPair | undefined;
/** The pair being opened (concurrent first turns wait for the same one). */
let opening: Promise<TurnPair | undefined> | undefined;
/** The turn under way: concurrent callers share it (one poll serves all of them). */
let current: Promise<void> | undefined;
const ONE = new Uint8Array([1]);
const SINK = new Uint8Array(16);

/**
 * Makes this thread's {@link ioTurn}s go through a loopback TCP pair on `127.0.0.1:port`
 * (0: any free port; the thread then needs net access to all of 127.0.0.1), opened on the
 * first turn. A role's thread gets the port from the launcher, which grants it exactly that
 * port. When the pair cannot be opened or breaks, turns are timer turns from then on and
 * `onUnavailable` hears why, once; `onOpen` hears the pair's port once it is open. Replaces an
 * earlier setup (its pair is closed).
 */
export function useIoTurnPort(
  port: number,
  onUnavailable?: (reason: string) => void,
  onOpen?: (port: number) => void,
): void {
  closeIoTurns();
  turnPort = port;
  reportUnavailable = onUnavailable;
  reportOpen = onOpen;
}

/** Closes this thread's pair; I/O turns are timer turns until {@link useIoTurnPort} again. */
export function closeIoTurns(): void {
  turnPort = undefined;
  reportUnavailable = undefined;
  reportOpen = undefined;
  opening = undefined;
  if (pair) closePair(pair);
  pair = undefined;
}

/** True when this thread's I/O turns currently go through its loopback pair. */
export function ioTurnsUseSocket(): boolean {
  return pair !== undefined;
}

function closePair(p: TurnPair): void {
  for (const r of [p.writer, p.reader]) {
    try {
      r.close();
    } catch { /* already closed */ }
  }
}

/** Gives up on the pair for this setup: reports why once, turns become timer turns. */
function unavailable(reason: string): undefined {
  turnPort = undefined;
  const report = reportUnavailable;
  reportUnavailable = undefined;
  report?.(reason);
  return undefined;
}

async function openPair(port: number): Promise<TurnPair | undefined> {
  let listener: Deno.Listener | undefined;
  let writer: Deno.Conn | undefined;
  let reader: Deno.Conn | undefined;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port, transport: "tcp" });
    const addr = listener.addr as Deno.NetAddr;
    const accepted = listener.accept();
    writer = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    reader = await accepted;
    // Another process on this host may have connected first: its connection would be `reader`,
    // ours would wait unaccepted, and every turn would wait for a byte that never comes.
    const ours = (writer.localAddr as Deno.NetAddr).port;
    const peer = (reader.remoteAddr as Deno.NetAddr).port;
    if (ours !== peer) throw new Error(`a connection from port ${peer} came first, not ours`);
    // one byte per turn: sent at once, not held back to be merged with the next
    (writer as Deno.TcpConn).setNoDelay(true);
    reportOpen?.((listener.addr as Deno.NetAddr).port);
    return { writer, reader };
  } catch (e) {
    for (const c of [writer, reader]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
    return unavailable(
      `event-loop turns read sockets through timer turns (≈2 ms each): no loopback pair on ` +
        `127.0.0.1:${port}: ${(e as Error).message}`,
    );
  } finally {
    // the pair needs no more connections: nothing else can reach the port from now on
    try {
      listener?.close();
    } catch { /* closed */ }
  }
}

async function socketTurn(): Promise<void> {
  if (!pair) {
    const port = turnPort;
    if (port === undefined) return await timerTurn();
    opening ??= openPair(port);
    const p = await opening;
    opening = undefined;
    // closed or replaced meanwhile: this pair is not ours to keep
    if (p && turnPort !== port) closePair(p);
    else if (p) pair = p;
    if (!pair) return await timerTurn();
  }
  const p = pair;
  try {
    // Two round trips: each byte is seen only through the I/O driver's readiness, so each read
    // completes after a poll. The first poll reads what arrived (a request); while the second
    // waits, what the first started runs (its handler) and its answer is written, instead of
    // one slice of work later (a request in 5 ms slices: p50 2.8–4.7 ms against 5.5–5.7).
    for (let i = 0; i < 2; i++) {
      const read = p.reader.read(SINK);
      await p.writer.write(ONE);
      if (await read === null) throw new Error("the loopback pair was closed");
    }
  } catch (e) {
    // only our own pair can break it (closed under a turn): timer turns from then on
    if (pair === p) {
      closePair(p);
      pair = undefined;
      unavailable(
        `event-loop turns read sockets through timer turns (≈2 ms each): the loopback pair ` +
          `failed: ${(e as Error).message}`,
      );
    }
    await timerTurn();
  }
}

/**
 * Resolves after a turn in which sockets are read (new requests, store answers): through this
 * thread's loopback pair (≈0.02 ms) when {@link useIoTurnPort} set one up and it works, else a
 * {@link timerTurn} (≈2 ms). Never rejects. Concurrent callers share one turn.
 */
export function ioTurn(): Promise<void> {
  if (current) return current;
  if (turnPort === undefined && !pair) return timerTurn();
  const turn = socketTurn().finally(() => {
    if (current === turn) current = undefined;
  });
  current = turn;
  return turn;
}

/** How many {@link TurnPacer.pause} calls pass between two clock reads. */
const PACER_CHECK_EVERY = 32;

/**
 * Paces long work made of many small steps (a series, a label value) on a thread that also
 * serves requests: call {@link pause} between steps; once `everyMs` of work ran since the last
 * turn, it gives an {@link ioTurn} (sockets read: probes and other requests are answered).
 */
export class TurnPacer {
  private last = performance.now();
  private calls = 0;

  constructor(private readonly everyMs: number) {}

  /** A turn to await when one is due, else undefined (nothing to await, no microtask). */
  pause(): Promise<void> | undefined {
    if (++this.calls < PACER_CHECK_EVERY) return undefined;
    this.calls = 0;
    if (performance.now() - this.last < this.everyMs) return undefined;
    return ioTurn().then(() => {
      this.last = performance.now();
    });
  }
}
