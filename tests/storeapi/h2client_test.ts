// Our HTTP/2 gRPC client (storeapi/h2client.ts behind GrpcChannel) against a raw HTTP/2 server
// that sends exactly the frames a test wants, and against node:http2's server (interop, test
// only): flow control and backpressure, GOAWAY, RST_STREAM, concurrent-stream limits, cancel,
// deadlines and trailers.

import http2 from "node:http2";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  grpcMessage,
  h2Frame,
  RawH2Server,
  type RawServerConn,
  type RawServerStream,
} from "../helpers/h2_raw.ts";
import { freePort } from "../helpers/ports.ts";
import { GrpcChannel, GrpcError, GrpcServer, GrpcStatus } from "../../storeapi/grpc.ts";
import { CLIENT_STREAM_WINDOW } from "../../storeapi/h2client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A full gRPC answer: headers, the messages, OK trailers. */
async function answer(c: RawServerConn, s: RawServerStream, msgs: string[]): Promise<void> {
  await c.respond(s.id);
  for (const m of msgs) await c.data(s.id, grpcMessage(enc.encode(m)));
  await c.trailers(s.id);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of it) out.push(dec.decode(m));
  return out;
}

function grpcCode(e: unknown): GrpcStatus | undefined {
  return e instanceof GrpcError ? e.code : undefined;
}

Deno.test(
  "h2 client: unary and streaming calls, metadata, grpc-timeout and trailers",
  opts,
  async () => {
    let seen: Record<string, string> = {};
    const srv = RawH2Server.listen(freePort(), (c, s) => {
      seen = s.headers;
      if (s.headers[":path"] === "/t.T/Fail") {
        c.headers(s.id, {
          ":status": "200",
          "content-type": "application/grpc",
          "grpc-status": "5",
          "grpc-message": "no%20such thing",
        }, true);
        return;
      }
      answer(c, s, ["a", "b", "c"]);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const got = await collect(
        ch.serverStream("/t.T/S", enc.encode("req"), {
          timeoutMs: 5000,
          metadata: { "X-Trace": "t1" },
        }),
      );
      assertEquals(got, ["a", "b", "c"]);
      assertEquals(seen["x-trace"], "t1");
      assertEquals(seen["te"], "trailers");
      assert(/^\d+m$/.test(seen["grpc-timeout"]), seen["grpc-timeout"]);
      const err = await assertRejects(() => ch.unary("/t.T/Fail", new Uint8Array(0)));
      assertEquals(grpcCode(err), GrpcStatus.NOT_FOUND);
      assertEquals((err as GrpcError).details, "no such thing");
      // both calls shared one connection
      assertEquals(srv.conns.length, 1);
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test(
  "h2 client: an answer of up to 1 MiB is sent whole before the consumer reads (no window round trip)",
  opts,
  async () => {
    const total = 900 << 10;
    let sent = -1;
    let credited: number | undefined;
    const done = Promise.withResolvers<void>();
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      await c.respond(s.id);
      // 900 KiB of 64 KiB messages within the client's windows, not waiting long for credit
      const msg = grpcMessage(new Uint8Array((64 << 10) - 5));
      const all = new Uint8Array(total);
      for (let o = 0; o + msg.length <= total; o += msg.length) all.set(msg, o);
      sent = await c.dataInWindow(s.id, all.subarray(0, total - total % msg.length), 300);
      credited = c.credits.get(s.id);
      await c.trailers(s.id);
      done.resolve();
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const it = ch.serverStream("/t.T/Big", new Uint8Array(0), { timeoutMs: 10_000 });
      const first = it.next();
      // the consumer takes nothing more until the server has sent all it could
      await done.promise;
      assertEquals(sent, total - total % (64 << 10), "the whole answer fit the stream window");
      assertEquals(credited, undefined, "no WINDOW_UPDATE was needed for it");
      assert(!(await first).done);
      let n = 1;
      for await (const _ of { [Symbol.asyncIterator]: () => it }) n++;
      assertEquals(n, Math.floor(total / (64 << 10)));
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test(
  "h2 client: a slow consumer holds back the server (window credited as it reads)",
  opts,
  async () => {
    const total = 8 << 20;
    let conn: RawServerConn | undefined;
    let sid = 0;
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      conn = c;
      sid = s.id;
      await c.respond(s.id);
      // 8 MiB of 64 KiB messages, sent only within the windows the client grants
      const msg = grpcMessage(new Uint8Array((64 << 10) - 5));
      const all = new Uint8Array(total);
      for (let o = 0; o < total; o += msg.length) all.set(msg, o);
      const sent = await c.dataInWindow(s.id, all, 1500);
      if (sent === total) await c.trailers(s.id);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const it = ch.serverStream("/t.T/Big", new Uint8Array(0), { timeoutMs: 20_000 });
      assert(!(await it.next()).done);
      // the consumer pauses: the server can send at most one stream window ahead
      await new Promise((r) => setTimeout(r, 1000));
      // the server is blocked on the stream window: nothing credited beyond what was read
      const s = conn!.streams.get(sid)!;
      assert(s.window <= 16384, `window left ${s.window} while the consumer paused`);
      assert((conn!.credits.get(sid) ?? 0) <= 128 << 10, `credited ${conn!.credits.get(sid)}`);
      // reading on lets the rest through
      let n = 1;
      for await (const _ of { [Symbol.asyncIterator]: () => it }) n++;
      assertEquals(n, total / (64 << 10));
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test(
  "h2 client: a server overrunning the stream window fails that call only",
  opts,
  async () => {
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      if (s.headers[":path"] === "/t.T/Overrun") {
        await c.respond(s.id);
        // one message, then more than the stream window while the client reads nothing
        await c.data(s.id, grpcMessage(enc.encode("first")));
        await new Promise((r) => setTimeout(r, 100));
        await c.data(s.id, new Uint8Array(CLIENT_STREAM_WINDOW + (64 << 10)));
        return;
      }
      await answer(c, s, ["fine"]);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const it = ch.serverStream("/t.T/Overrun", new Uint8Array(0), { timeoutMs: 5000 });
      assertEquals(dec.decode((await it.next()).value!), "first");
      await new Promise((r) => setTimeout(r, 500));
      const err = await assertRejects(async () => {
        while (!(await it.next()).done) { /* drain */ }
      });
      assertEquals(grpcCode(err), GrpcStatus.INTERNAL, String(err));
      // the stream was reset with FLOW_CONTROL_ERROR; the connection still serves
      assertEquals(srv.conns[0].streams.get(1)!.reset, 0x3);
      assertEquals(await collect(ch.serverStream("/t.T/Ok", new Uint8Array(0))), ["fine"]);
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test(
  "h2 client: GOAWAY retries unprocessed streams on a new connection; processed ones finish",
  opts,
  async () => {
    let first = true;
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      if (first && s.id === 3) {
        first = false;
        // stream 1 was processed, 3 was not
        await c.goaway(1);
        return;
      }
      if (first) return; // stream 1 waits for the GOAWAY above
      await answer(c, s, [`conn${srv.conns.indexOf(c)}-${s.id}`]);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const a = collect(ch.serverStream("/t.T/A", new Uint8Array(0), { timeoutMs: 5000 }));
      await new Promise((r) => setTimeout(r, 50));
      const b = collect(ch.serverStream("/t.T/B", new Uint8Array(0), { timeoutMs: 5000 }));
      // stream 3 is retried on a second connection
      assertEquals(await b, ["conn1-1"]);
      // stream 1 (below the last id) still belongs to the first connection
      const c0 = srv.conns[0];
      await answer(c0, c0.streams.get(1)!, ["conn0-1"]);
      assertEquals(await a, ["conn0-1"]);
      // new calls go to the new connection
      assertEquals(await collect(ch.serverStream("/t.T/C", new Uint8Array(0))), ["conn1-3"]);
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test("h2 client: RST_STREAM maps to gRPC codes; REFUSED_STREAM is retried", opts, async () => {
  let refused = 0;
  const srv = RawH2Server.listen(freePort(), async (c, s) => {
    const p = s.headers[":path"];
    if (p === "/t.T/Cancel") await c.rst(s.id, 0x8);
    else if (p === "/t.T/Calm") await c.rst(s.id, 0xb);
    else if (p === "/t.T/Refused" && refused++ === 0) await c.rst(s.id, 0x7);
    else await answer(c, s, ["ok"]);
  });
  const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
  try {
    assertEquals(
      grpcCode(await assertRejects(() => ch.unary("/t.T/Cancel", new Uint8Array(0)))),
      GrpcStatus.CANCELLED,
    );
    assertEquals(
      grpcCode(await assertRejects(() => ch.unary("/t.T/Calm", new Uint8Array(0)))),
      GrpcStatus.RESOURCE_EXHAUSTED,
    );
    assertEquals(dec.decode(await ch.unary("/t.T/Refused", new Uint8Array(0))), "ok");
    assertEquals(refused, 2);
  } finally {
    ch.close();
    srv.close();
  }
});

Deno.test(
  "h2 client: SETTINGS_MAX_CONCURRENT_STREAMS is respected; calls wait for a slot",
  opts,
  async () => {
    let open = 0;
    let peak = 0;
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      open++;
      peak = Math.max(peak, open);
      await new Promise((r) => setTimeout(r, 20));
      open--;
      await answer(c, s, [String(s.id)]);
    }, (c) => {
      c.settings([[0x3, 2]]);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      // let the SETTINGS arrive first
      assertEquals((await ch.unary("/t.T/W", new Uint8Array(0))).length, 1);
      const calls = [];
      for (let i = 0; i < 8; i++) {
        calls.push(
          ch.unary("/t.T/X", new Uint8Array(0), { timeoutMs: 5000 }),
        );
      }
      assertEquals((await Promise.all(calls)).length, 8);
      assert(peak <= 2, `peak ${peak} streams`);
      assertEquals(srv.conns.length, 1);
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test(
  "h2 client: cancel sends RST_STREAM(CANCEL); a stalled server hits the deadline",
  opts,
  async () => {
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      if (s.headers[":path"] === "/t.T/Stall") return; // never answers
      await c.respond(s.id);
      await c.data(s.id, grpcMessage(enc.encode("first")));
      // then nothing: the client cancels
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const err = await assertRejects(() =>
        ch.unary("/t.T/Stall", new Uint8Array(0), { timeoutMs: 200 })
      );
      assertEquals(grpcCode(err), GrpcStatus.DEADLINE_EXCEEDED);
      const ac = new AbortController();
      const it = ch.serverStream("/t.T/Some", new Uint8Array(0), { signal: ac.signal });
      assertEquals(dec.decode((await it.next()).value!), "first");
      ac.abort();
      const e2 = await assertRejects(() => it.next());
      assertEquals(grpcCode(e2), GrpcStatus.CANCELLED);
      const c = srv.conns[0];
      assert(
        await waitFor(() => [...c.streams.values()].filter((s) => s.reset === 0x8).length === 2),
        "RST_STREAM(CANCEL) for both calls",
      );
    } finally {
      ch.close();
      srv.close();
    }
  },
);

Deno.test(
  "h2 client: a server that stops reading its connection costs the calls on it, not later ones",
  opts,
  async () => {
    let dialled = 0;
    const srv = RawH2Server.listen(freePort(), (c, s) => {
      answer(c, s, ["ok"]);
    }, (c) => {
      // the first connection grants large windows, then never reads again
      if (dialled++ === 0) {
        c.settings([[0x4, 64 << 20]]);
        c.write(h2Frame(0x8, 0, 0, new Uint8Array([0x03, 0xff, 0, 0])));
        c.reading = false;
      } else c.settings([]);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      const big = new Uint8Array(32 << 20);
      const e1 = await assertRejects(() => ch.unary("/t.T/Big", big, { timeoutMs: 300 }));
      assertEquals(grpcCode(e1), GrpcStatus.DEADLINE_EXCEEDED);
      const e2 = await assertRejects(() => ch.unary("/t.T/Big", big, { timeoutMs: 1500 }));
      assertEquals(grpcCode(e2), GrpcStatus.DEADLINE_EXCEEDED);
      // the stuck connection was dropped: the next call dials a new one and is answered
      assertEquals(
        dec.decode(await ch.unary("/t.T/Small", enc.encode("x"), { timeoutMs: 3000 })),
        "ok",
      );
      assertEquals(srv.conns.length, 2);
    } finally {
      ch.close();
      srv.close();
    }
  },
);

async function waitFor(pred: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pred();
}

Deno.test(
  "h2 client interop: node:http2's server (unary, streaming, status, large answers)",
  opts,
  async () => {
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        const path = String(headers[":path"]);
        if (path === "/t.T/Missing") {
          stream.respond({
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "12",
            "grpc-message": "unknown",
          }, { endStream: true });
          return;
        }
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
          waitForTrailers: true,
        });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        const n = path === "/t.T/Big" ? 64 : 3;
        for (let i = 0; i < n; i++) {
          stream.write(
            grpcMessage(
              path === "/t.T/Big" ? new Uint8Array(100_000).fill(i) : enc.encode(`m${i}`),
            ),
          );
        }
        stream.end();
      });
    });
    const port = freePort();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
    const ch = new GrpcChannel(`127.0.0.1:${port}`);
    try {
      assertEquals(await collect(ch.serverStream("/t.T/S", enc.encode("x"), { timeoutMs: 5000 })), [
        "m0",
        "m1",
        "m2",
      ]);
      let bytes = 0;
      let i = 0;
      for await (const m of ch.serverStream("/t.T/Big", new Uint8Array(0), { timeoutMs: 10_000 })) {
        assertEquals(m[0], i++);
        bytes += m.length;
      }
      assertEquals(bytes, 64 * 100_000);
      const err = await assertRejects(() => ch.unary("/t.T/Missing", new Uint8Array(0)));
      assertEquals(grpcCode(err), GrpcStatus.UNIMPLEMENTED);
    } finally {
      ch.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  },
);

Deno.test(
  "h2 client TLS: a server refusing our certificate fails each call, never the process",
  opts,
  async () => {
    const certs = new URL("./testdata/", import.meta.url).pathname;
    const server = new GrpcServer({
      tls: {
        certFile: `${certs}server.crt`,
        keyFile: `${certs}server.key`,
        clientCaFile: `${certs}ca.crt`,
      },
    });
    server.unary("/t.T/U", () => Promise.resolve(enc.encode("ok")));
    const { port } = await server.listen("127.0.0.1", 0);
    try {
      // the refusal (an alert right after the handshake) races the connection's set-up: many
      // fresh connections, so an unhandled error event would surface here
      for (let i = 0; i < 40; i++) {
        const ch = new GrpcChannel(`127.0.0.1:${port}`, {
          tls: { caFile: `${certs}ca.crt`, serverName: "localhost" },
        });
        try {
          const err = await assertRejects(() => ch.unary("/t.T/U", new Uint8Array(0)));
          assertEquals(grpcCode(err), GrpcStatus.UNAVAILABLE, String(err));
        } finally {
          ch.close();
        }
      }
      const good = new GrpcChannel(`127.0.0.1:${port}`, {
        tls: {
          caFile: `${certs}ca.crt`,
          certFile: `${certs}client.crt`,
          keyFile: `${certs}client.key`,
          serverName: "localhost",
        },
      });
      try {
        assertEquals(dec.decode(await good.unary("/t.T/U", new Uint8Array(0))), "ok");
      } finally {
        good.close();
      }
    } finally {
      await server.close();
    }
  },
);

Deno.test(
  "h2 client: a call's repeated headers become one-byte indices, literals for a server whose table is 0",
  opts,
  async () => {
    const blocks = async (settings: [number, number][]) => {
      let conn: RawServerConn | undefined;
      const srv = RawH2Server.listen(freePort(), (c, s) => {
        conn = c;
        answer(c, s, ["ok"]);
      }, (c) => {
        c.settings(settings);
      });
      const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
      try {
        // sequential: the server's SETTINGS arrive before its first answer
        for (let i = 0; i < 3; i++) {
          assertEquals(
            await ch.unary("/t.T/U", enc.encode("x"), { metadata: { tenant: "a" } }),
            enc.encode("ok"),
          );
        }
        return conn!.headerBlocks;
      } finally {
        ch.close();
        srv.close();
      }
    };
    const plain = await blocks([]);
    // 9 fields: :method and :scheme from the static table, the rest from the dynamic one
    assertEquals(plain[1].length, 9);
    assertEquals(plain[2].length, 9);
    const zero = await blocks([[0x1, 0]]);
    assertEquals(zero[1][0], 0x20);
    assert(zero[1].length > 100, `${zero[1].length} bytes`);
    assertEquals(zero[2][0], 0x83);
    assert(zero[2].length > 100, `${zero[2].length} bytes`);
  },
);

/** An AbortController whose signal counts the "abort" listeners registered and not removed. */
function countingController(): { ac: AbortController; live: () => number } {
  const ac = new AbortController();
  const live = new Set<unknown>();
  const add = ac.signal.addEventListener.bind(ac.signal);
  const remove = ac.signal.removeEventListener.bind(ac.signal);
  ac.signal.addEventListener = ((t: string, l: EventListener, o?: AddEventListenerOptions) => {
    if (t === "abort") live.add(l);
    add(t, l, o);
  }) as typeof ac.signal.addEventListener;
  ac.signal.removeEventListener = ((t: string, l: EventListener, o?: EventListenerOptions) => {
    if (t === "abort") live.delete(l);
    remove(t, l, o);
  }) as typeof ac.signal.removeEventListener;
  return { ac, live: () => live.size };
}

Deno.test(
  "h2 client: a caller's signal cancels a call with or without a deadline and keeps no listener",
  opts,
  async () => {
    const srv = RawH2Server.listen(freePort(), async (c, s) => {
      if (s.headers[":path"] === "/t.T/Stall") return; // never answers
      await answer(c, s, ["one", "two"]);
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    try {
      // finished calls, with and without a deadline: every listener removed
      for (const timeoutMs of [undefined, 5_000]) {
        const { ac, live } = countingController();
        assertEquals(
          await collect(
            ch.serverStream("/t.T/Ok", new Uint8Array(0), { signal: ac.signal, timeoutMs }),
          ),
          ["one", "two"],
        );
        assertEquals(live(), 0, `listeners left (timeout ${timeoutMs})`);
      }
      // already aborted: CANCELLED by the caller, no stream opened
      const pre = new AbortController();
      pre.abort(new Error("caller's own reason"));
      for (const timeoutMs of [undefined, 5_000]) {
        const e = await assertRejects(() =>
          ch.unary("/t.T/Ok", new Uint8Array(0), { signal: pre.signal, timeoutMs })
        );
        assertEquals(grpcCode(e), GrpcStatus.CANCELLED);
        assert((e as Error).message.includes("/t.T/Ok: call cancelled by the caller"), String(e));
      }
      // aborted while waiting for the answer's headers: CANCELLED, RST_STREAM(CANCEL) sent
      for (const timeoutMs of [undefined, 5_000]) {
        const { ac, live } = countingController();
        const call = ch.unary("/t.T/Stall", new Uint8Array(0), { signal: ac.signal, timeoutMs });
        setTimeout(() => ac.abort(new Error("caller's own reason")), 50);
        const e = await assertRejects(() => call);
        assertEquals(grpcCode(e), GrpcStatus.CANCELLED);
        assert((e as Error).message.includes("call cancelled by the caller"), String(e));
        assertEquals(live(), 0, `listeners left (timeout ${timeoutMs})`);
      }
      // the deadline still wins over a caller's signal that never aborts
      const { ac } = countingController();
      const e = await assertRejects(() =>
        ch.unary("/t.T/Stall", new Uint8Array(0), { signal: ac.signal, timeoutMs: 100 })
      );
      assertEquals(grpcCode(e), GrpcStatus.DEADLINE_EXCEEDED);
      const c = srv.conns[0];
      assert(
        await waitFor(() => [...c.streams.values()].filter((s) => s.reset === 0x8).length === 3),
        "RST_STREAM(CANCEL) for the three stalled calls",
      );
    } finally {
      ch.close();
      srv.close();
    }
  },
);
