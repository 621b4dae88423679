// A TCP relay on 127.0.0.1 in front of a server that can turn into a black hole: its
// connections stay open but stop forwarding (bytes read from either side are dropped), as a proxy
// or a route that dies without closing anything does. For HTTP/2 (h2c) traffic it also counts the
// PING frames the client sends, so keepalive tests can see them on the wire.

import { freePort } from "./ports.ts";

/** A relay started by {@link startTcpProxy}. */
export interface TcpProxy {
  /** `127.0.0.1:<port>` to dial instead of the server. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** PING frames (not ACKs) sent by clients, parsed from the client → server bytes. */
  readonly clientPings: number;
  /** Stops forwarding on every open connection (they stay open; bytes are dropped). */
  blackhole(): void;
  /** Closes every open connection and the listener. */
  close(): void;
}

/** Relays `127.0.0.1:<new port>` to `127.0.0.1:targetPort`; `close()` it in `finally`. */
export function startTcpProxy(targetPort: number): TcpProxy {
  const port = freePort();
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const open = new Set<{ holed: boolean; conns: Deno.Conn[] }>();
  let connections = 0;
  let clientPings = 0;

  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    link: { holed: boolean },
    onBytes?: (b: Uint8Array) => void,
  ) => {
    const buf = new Uint8Array(64 << 10);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        if (link.holed) continue; // the black hole: read and drop
        onBytes?.(buf.subarray(0, n));
        let o = 0;
        while (o < n) o += await to.write(buf.subarray(o, n));
      }
    } catch { /* either side closed */ }
    try {
      to.close();
    } catch { /* closed */ }
  };

  (async () => {
    for await (const client of listener) {
      connections++;
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        client.close();
        continue;
      }
      const link = { holed: false, conns: [client, server] };
      open.add(link);
      // frames from the client after the 24-byte preface: 9-byte header, then the payload
      let skip = 24;
      let header = new Uint8Array(0);
      const parse = (b: Uint8Array) => {
        let p = 0;
        while (p < b.length) {
          if (skip > 0) {
            const k = Math.min(skip, b.length - p);
            skip -= k;
            p += k;
            continue;
          }
          const need = 9 - header.length;
          const k = Math.min(need, b.length - p);
          const h = new Uint8Array(header.length + k);
          h.set(header);
          h.set(b.subarray(p, p + k), header.length);
          header = h;
          p += k;
          if (header.length < 9) return;
          if (header[3] === 0x6 && (header[4] & 0x1) === 0) clientPings++;
          skip = (header[0] << 16) | (header[1] << 8) | header[2];
          header = new Uint8Array(0);
        }
      };
      Promise.all([
        pipe(client, server, link, parse),
        pipe(server, client, link),
      ]).finally(() => open.delete(link));
    }
  })().catch(() => {});

  return {
    address: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get clientPings() {
      return clientPings;
    },
    blackhole() {
      for (const l of open) l.holed = true;
    },
    close() {
      try {
        listener.close();
      } catch { /* closed */ }
      for (const l of open) {
        for (const c of l.conns) {
          try {
            c.close();
          } catch { /* closed */ }
        }
      }
    },
  };
}
