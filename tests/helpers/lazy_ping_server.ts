// Test peer for keepalive (tests/storeapi/keepalive_test.ts): a minimal HTTP/2 server process that
// never answers calls and acknowledges each PING only after a delay, printing "PING" to stdout
// when one arrives, so a test can stall its own event loop while the ACK is on its way.
//   deno run -A tests/helpers/lazy_ping_server.ts <port> <ackDelayMs>
// Prints "READY" once listening.

const frame = (type: number, flags: number, payload: Uint8Array) => {
  const f = new Uint8Array(9 + payload.length);
  f[0] = payload.length >>> 16;
  f[1] = (payload.length >>> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[4] = flags;
  f.set(payload, 9);
  return f;
};

async function write(c: Deno.Conn, b: Uint8Array): Promise<void> {
  try {
    let o = 0;
    while (o < b.length) o += await c.write(b.subarray(o));
  } catch { /* the client is gone */ }
}

async function serve(c: Deno.Conn, ackDelayMs: number): Promise<void> {
  await write(c, frame(0x4, 0, new Uint8Array(0))); // our SETTINGS
  const tmp = new Uint8Array(64 << 10);
  let buf = new Uint8Array(0);
  let preface = 24;
  while (true) {
    let n: number | null;
    try {
      n = await c.read(tmp);
    } catch {
      n = null;
    }
    if (n === null) break;
    const all = new Uint8Array(buf.length + n);
    all.set(buf);
    all.set(tmp.subarray(0, n), buf.length);
    let p = Math.min(preface, all.length);
    preface -= p;
    while (preface === 0 && all.length - p >= 9) {
      const len = (all[p] << 16) | (all[p + 1] << 8) | all[p + 2];
      if (all.length - p < 9 + len) break;
      const type = all[p + 3];
      const flags = all[p + 4];
      const payload = all.slice(p + 9, p + 9 + len);
      p += 9 + len;
      if (type === 0x4 && (flags & 1) === 0) await write(c, frame(0x4, 1, new Uint8Array(0)));
      if (type === 0x6 && (flags & 1) === 0) {
        console.log("PING");
        setTimeout(() => write(c, frame(0x6, 1, payload)), ackDelayMs);
      }
    }
    buf = all.slice(p);
  }
  try {
    c.close();
  } catch { /* closed */ }
}

if (import.meta.main) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0]) });
  const delay = Number(Deno.args[1] ?? 100);
  console.log("READY");
  for await (const c of l) serve(c, delay);
}
