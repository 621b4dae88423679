// Giving the event loop a turn from long synchronous work (a PromQL evaluation). Two kinds, with
// very different costs on Deno 2.9.6 (measured side by side, loaded 2-core machine):
// - a timer turn (`setTimeout(0)`): ≈2 ms each (timers are clamped,
//   https://html.spec.whatwg.org/multipage/timers-and-user-prompts.html#timers), and the only
//   one in which socket reads run: an HTTP server in the same thread answered 1,255 requests
//   in 4.5 s of 20 ms work stretches separated by timer turns;
// - a message turn (a MessageChannel round trip): ≈0.02 ms; it runs timers and delivers
//   MessagePort messages (a worker's cancel), but NOT socket reads: the same server answered
//   0 requests in 4.5 s.

/** Resolves after a turn in which network I/O is read (new requests, store answers). */
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

/** How many {@link TurnPacer.pause} calls pass between two clock reads. */
const PACER_CHECK_EVERY = 32;

/**
 * Paces long work made of many small steps (a series, a label value) on a thread that also
 * serves requests: call {@link pause} between steps; once `everyMs` of work ran since the last
 * turn, it gives a {@link timerTurn} (sockets read: probes and other requests are answered).
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
    return timerTurn().then(() => {
      this.last = performance.now();
    });
  }
}
