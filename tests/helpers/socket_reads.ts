// Counting the event-loop turns in which sockets are read, in tests of long work that must give
// the loop such turns (issue 20): a loopback TCP pair of the test's own sends a byte back and
// forth; each byte read needs the runtime to poll its I/O driver, which is exactly what answers
// probes and other requests. Timer turns and I/O turns (runutil/loop_turn.ts) count, message
// turns do not. No time is asserted.

/** A running count of socket-reading turns; `stop` ends it and resolves to the count. */
export interface SocketReads {
  stop(): Promise<number>;
}

/** Starts counting, from now, the turns in which this thread reads sockets. */
export async function countSocketReads(): Promise<SocketReads> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const writer = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  const reader = await accepted;
  writer.setNoDelay(true);
  let reads = 0;
  let stopped = false;
  const one = new Uint8Array([1]);
  const buf = new Uint8Array(16);
  const loop = (async () => {
    try {
      while (!stopped) {
        const read = reader.read(buf);
        await writer.write(one);
        if (await read === null) return;
        if (!stopped) reads++;
      }
    } catch { /* closed by stop */ }
  })();
  let result: Promise<number> | undefined;
  return {
    stop() {
      result ??= (async () => {
        stopped = true;
        const n = reads;
        // the read under way completes with the byte already sent; then the pair is closed
        await loop;
        writer.close();
        reader.close();
        listener.close();
        return n;
      })();
      return result;
    },
  };
}
