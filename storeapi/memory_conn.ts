// An in-memory byte stream between two ends of one process: what one end writes, the other
// reads, in order. The start-up warm-ups (storeapi/loopback.ts) run the StoreAPI's own HTTP/2
// client and server over it, so the transport's code is compiled before the first real call
// without a socket (a role may listen and dial only the addresses its flags name).

import type { ByteConn } from "./h2frame.ts";

/** A write waiting for the peer to read it. */
interface Pending {
  bytes: Uint8Array;
  done: (n: number) => void;
  failed: (e: Error) => void;
}

class MemoryConn implements ByteConn {
  peer!: MemoryConn;
  /** The peer's writes, not read yet (their buffers, not copies). */
  private readonly incoming: Pending[] = [];
  private wake: (() => void) | null = null;
  private closed = false;

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (true) {
      const w = this.incoming[0];
      if (w !== undefined) {
        const b = w.bytes;
        const n = Math.min(b.length, p.length);
        p.set(n === b.length ? b : b.subarray(0, n));
        if (n < b.length) w.bytes = b.subarray(n);
        else {
          this.incoming.shift();
          w.done(n);
        }
        return n;
      }
      if (this.closed || this.peer.closed) return null;
      await new Promise<void>((r) => this.wake = r);
    }
  }

  /**
   * Resolves once the peer has read all of `p` (as a socket with no buffer would): the writer
   * may then reuse its buffer, so nothing is copied in between.
   */
  write(p: Uint8Array): Promise<number> {
    if (this.closed || this.peer.closed) return Promise.reject(new Error("connection closed"));
    const len = p.length;
    return new Promise<number>((done, failed) => {
      this.peer.incoming.push({ bytes: p, done: () => done(len), failed });
      this.peer.notify();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // writes nobody will read now fail, in both directions
    for (const side of [this, this.peer]) {
      for (const w of side.incoming.splice(0)) w.failed(new Error("connection closed"));
      side.notify();
    }
  }
}

/**
 * Two connected ends: each end's writes are the other's reads, a write resolving once read;
 * closing either ends both (unread writes fail, reads return EOF).
 */
export function memoryConnPair(): [ByteConn, ByteConn] {
  const a = new MemoryConn();
  const b = new MemoryConn();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
