// Hostile clients against the gRPC server, byte by byte (tests/helpers/h2_raw.ts): malformed gRPC
// gets grpc-go's status codes and never an allocation from an announced length; malformed HTTP/2
// costs the offender its connection only; a client that stops reading (or never finishes its
// request) is cancelled after the stall timeout, counted, and frees its concurrency slot.

import { assert, assertEquals } from "../helpers/assert.ts";
import { grpcMessage, h2Frame, PREFACE, RawH2 } from "../helpers/h2_raw.ts";
import { GrpcError, GrpcServer, GrpcStatus } from "../../storeapi/grpc.ts";
import { Registry } from "../../metrics/registry.ts";
import { Gate } from "../../runutil/gate.ts";
import { STORE_METHODS, StoreServer } from "../../storeapi/server.ts";

const ECHO = "/t.Test/Echo";
const BIG = "/t.Test/Big";

/**
 * A server with an echo unary (its runs counted in `echoed`), a streaming method sending `bytes`
 * behind a gate of 2 slots.
 */
async function start(opts: { stallTimeoutMs?: number; maxRequestBytes?: number } = {}) {
  const registry = new Registry();
  const gate = new Gate(2);
  const aborted: string[] = [];
  const echoed = { runs: 0 };
  const srv = new GrpcServer({ registry, ...opts });
  srv.unary(ECHO, (req) => {
    echoed.runs++;
    return Promise.resolve(req);
  });
  srv.serverStream(BIG, async (req, ctx, out) => {
    const total = new DataView(req.buffer, req.byteOffset, req.length).getUint32(0);
    await gate.run(async () => {
      try {
        for (let sent = 0; sent < total; sent += 64 << 10) {
          await out.send(new Uint8Array(64 << 10));
        }
      } catch (e) {
        aborted.push(String(e));
        throw e;
      }
    }, ctx.signal);
  });
  const addr = await srv.listen("127.0.0.1", 0);
  return { srv, port: addr.port, registry, aborted, echoed };
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

Deno.test("malformed gRPC messages get grpc-go's status codes", async (t) => {
  const { srv, port } = await start({ maxRequestBytes: 1 << 30 });
  const c = await RawH2.connect(port);
  try {
    const cases: [string, () => Promise<number>, GrpcStatus, RegExp][] = [
      [
        "message cut short by END_STREAM",
        () => c.call(ECHO, grpcMessage(new Uint8Array(10), 100)),
        GrpcStatus.INTERNAL,
        /unexpected EOF/,
      ],
      [
        "4 GiB announced, a few bytes sent",
        () => c.call(ECHO, grpcMessage(new Uint8Array(3), 0xffffffff)),
        GrpcStatus.RESOURCE_EXHAUSTED,
        /larger than max \(4294967295 vs\. 1073741824\)/,
      ],
      [
        "compressed flag with an unknown grpc-encoding",
        () => c.call(ECHO, grpcMessage(new Uint8Array(3), 3, 1), { "grpc-encoding": "br" }),
        GrpcStatus.UNIMPLEMENTED,
        /Decompressor is not installed for grpc-encoding "br"/,
      ],
      [
        "compressed flag without a grpc-encoding",
        () => c.call(ECHO, grpcMessage(new Uint8Array(3), 3, 1)),
        GrpcStatus.INTERNAL,
        /compressed flag set with identity or empty encoding/,
      ],
      [
        "gzip flag with garbage instead of gzip",
        () => c.call(ECHO, grpcMessage(new Uint8Array(8), 8, 1), { "grpc-encoding": "gzip" }),
        GrpcStatus.INTERNAL,
        /decompress/,
      ],
      [
        "an invalid message flag",
        () => c.call(ECHO, grpcMessage(new Uint8Array(3), 3, 7)),
        GrpcStatus.INTERNAL,
        /flag 7/,
      ],
      [
        "two request messages on a unary call",
        () => {
          const one = grpcMessage(new Uint8Array(2));
          const two = new Uint8Array(one.length * 2);
          two.set(one);
          two.set(one, one.length);
          return c.call(ECHO, two);
        },
        GrpcStatus.INTERNAL,
        /protocol violation/,
      ],
      [
        "no request message at all",
        () => c.call(ECHO),
        GrpcStatus.INTERNAL,
        /without a message/,
      ],
      [
        "an unknown method of a known service",
        () => c.call("/t.Test/Nope", grpcMessage(new Uint8Array(0))),
        GrpcStatus.UNIMPLEMENTED,
        /^unknown method Nope for service t\.Test$/,
      ],
      [
        "an unknown service",
        () => c.call("/x.Y/Z", grpcMessage(new Uint8Array(0))),
        GrpcStatus.UNIMPLEMENTED,
        /^unknown service x\.Y$/,
      ],
    ];
    for (const [name, send, code, msg] of cases) {
      await t.step(name, async () => {
        const id = await send();
        assert(await c.until(() => c.status(id) !== undefined), `no status for ${name}`);
        const st = c.status(id)!;
        assertEquals(st.code, code, st.message);
        assert(msg.test(st.message), st.message);
      });
    }
    await t.step("a wrong content-type is HTTP 415, as grpc-go answers", async () => {
      const id = await c.call(ECHO, grpcMessage(new Uint8Array(0)), { "content-type": "text/xml" });
      assert(await c.until(() => c.status(id) !== undefined));
      assertEquals(c.status(id)!.http, "415");
    });
    await t.step("garbage protobuf in a Series request", async () => {
      // served by a StoreServer below; here the transport echoes it back intact
      const body = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
      const id = await c.call(ECHO, grpcMessage(body));
      assert(await c.until(() => c.status(id) !== undefined));
      assertEquals(c.status(id)!.code, GrpcStatus.OK);
    });
    await t.step("the connection still serves a well-formed call", async () => {
      const id = await c.call(ECHO, grpcMessage(new Uint8Array([1, 2, 3])));
      assert(await c.until(() => c.status(id) !== undefined));
      assertEquals(c.status(id)!.code, GrpcStatus.OK);
      assertEquals(c.streams.get(id)!.data, 8);
    });
  } finally {
    c.close();
    await srv.close();
  }
});

Deno.test("an announced length allocates nothing: 100 × 1 GiB announcements cost bytes", async () => {
  const { srv, port } = await start({ maxRequestBytes: 1 << 30 });
  const conns: RawH2[] = [];
  try {
    // `external` counts ArrayBuffer backing stores at their full size, touched or not
    const before = Deno.memoryUsage().external;
    for (let i = 0; i < 4; i++) {
      const c = await RawH2.connect(port);
      conns.push(c);
      for (let k = 0; k < 25; k++) {
        // announce 1 GiB, send 3 bytes, keep the stream open
        await c.call(ECHO, grpcMessage(new Uint8Array(3), (1 << 30) - 1), {}, false);
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    const grown = Deno.memoryUsage().external - before;
    // preallocating would need 100 GiB (or fail the calls); bounded assembly costs bytes
    assert(grown < 64 << 20, `ArrayBuffer memory grew by ${grown} bytes`);
    for (const c of conns) {
      for (const [id] of c.streams) assertEquals(c.status(id), undefined, "a call failed early");
    }
  } finally {
    for (const c of conns) c.close();
    await srv.close();
  }
});

Deno.test("garbage protobuf in a StoreAPI request is Internal, like grpc-go's unmarshal error", async () => {
  const store = new StoreServer({
    info: () => Promise.reject(new Error("unused")),
    // deno-lint-ignore require-yield
    series: async function* () {
      throw new Error("unused");
    },
    labelNames: () => Promise.resolve({ names: [], warnings: [] }),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  }, { serving: true });
  const { port } = await store.listen("127.0.0.1", 0);
  const c = await RawH2.connect(port);
  try {
    const id = await c.call(
      STORE_METHODS.series,
      grpcMessage(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2])),
    );
    assert(await c.until(() => c.status(id) !== undefined));
    assertEquals(c.status(id)!.code, GrpcStatus.INTERNAL, c.status(id)!.message);
    assert(/error unmarshalling request/.test(c.status(id)!.message), c.status(id)!.message);
    // a valid request on the same connection still works
    const ok = await c.call(
      STORE_METHODS.labelNames,
      grpcMessage(new Uint8Array(0)),
    );
    assert(await c.until(() => c.status(ok) !== undefined));
    assertEquals(c.status(ok)!.code, GrpcStatus.OK);
  } finally {
    c.close();
    await store.close();
  }
});

Deno.test("malformed HTTP/2 costs only the offending connection", async (t) => {
  const { srv, port } = await start();
  try {
    const attacks: [string, (c: RawH2) => Promise<unknown>][] = [
      ["an oversized frame", (c) => c.write(h2Frame(0x0, 0, 1, new Uint8Array(20000)))],
      ["garbage HPACK", (c) => c.write(h2Frame(0x1, 0x5, 1, Uint8Array.from([0xff, 0xff, 0xff])))],
      ["an even stream id", (c) => c.write(h2Frame(0x1, 0x5, 2, new Uint8Array(0)))],
      ["DATA on an idle stream", (c) => c.write(h2Frame(0x0, 0, 9, new Uint8Array(3)))],
      ["a window overflow", (c) => c.write(h2Frame(0x8, 0, 0, u32(0x7fffffff)))],
      ["a CONTINUATION without HEADERS", (c) => c.write(h2Frame(0x9, 0x4, 1, new Uint8Array(1)))],
      ["a bad SETTINGS length", (c) => c.write(h2Frame(0x4, 0, 0, new Uint8Array(5)))],
      [
        "an endless header block",
        async (c) => {
          await c.write(h2Frame(0x1, 0, 1, new Uint8Array(16000)));
          for (let i = 0; i < 8; i++) await c.write(h2Frame(0x9, 0, 1, new Uint8Array(16000)));
        },
      ],
    ];
    for (const [name, attack] of attacks) {
      await t.step(name, async () => {
        const c = await RawH2.connect(port);
        await attack(c);
        assert(await c.until(() => c.eof, 5000), `connection not closed after ${name}`);
        assert(c.goaway !== undefined && c.goaway !== 0, `no GOAWAY with an error for ${name}`);
        c.close();
      });
    }
    await t.step("not HTTP/2 at all (an HTTP/1.1 request)", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      const buf = new Uint8Array(1024);
      let n: number | null = 0;
      while (n !== null) n = await conn.read(buf).catch(() => null);
      conn.close();
    });
    await t.step("a PING flood from a client that never reads is cut off", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const ping = h2Frame(0x6, 0, 0, new Uint8Array(8));
      const burst = new Uint8Array(ping.length * 1000);
      for (let i = 0; i < 1000; i++) burst.set(ping, i * ping.length);
      let wrote = 0;
      try {
        await conn.write(PREFACE);
        // 20 MB of PINGs would queue 20 MB of acks; the server stops at its backlog bound
        for (let i = 0; i < 1000; i++) wrote += await conn.write(burst);
      } catch { /* the server closed the connection */ }
      conn.close();
      assert(wrote > 0);
    });
    await t.step("the server still answers", async () => {
      const c = await RawH2.connect(port);
      const id = await c.call(ECHO, grpcMessage(new Uint8Array([7])));
      assert(await c.until(() => c.status(id) !== undefined));
      assertEquals(c.status(id)!.code, GrpcStatus.OK);
      c.close();
    });
  } finally {
    await srv.close();
  }
});

Deno.test("a client that stops reading is cancelled after the stall timeout and frees its slot", async () => {
  const { srv, port, registry, aborted } = await start({ stallTimeoutMs: 400 });
  const stalled: RawH2[] = [];
  try {
    // two streams that never grant flow-control credit hold both slots of the gate
    for (let i = 0; i < 2; i++) {
      const c = await RawH2.connect(port, { autoWindow: false });
      await c.call(BIG, grpcMessage(u32(20 << 20)));
      stalled.push(c);
    }
    // a third, well-behaved call waits for a slot, then completes in full
    const ok = await RawH2.connect(port);
    const id = await ok.call(BIG, grpcMessage(u32(1 << 20)));
    assert(await ok.until(() => ok.status(id) !== undefined, 10_000), "third call never finished");
    assertEquals(ok.status(id)!.code, GrpcStatus.OK);
    assertEquals(ok.streams.get(id)!.data, 16 * ((64 << 10) + 5));
    ok.close();
    // the stalled streams were reset (CANCEL) and their handlers saw the abort
    for (const c of stalled) {
      assert(await c.until(() => c.streams.get(1)?.reset === 0x8), "stalled stream not reset");
    }
    assertEquals(aborted.length, 2, aborted.join("; "));
    const text = await registry.expose();
    assert(
      text.includes(
        'thanos_grpc_server_stalled_calls_total{direction="send",grpc_method="Big",grpc_service="t.Test",grpc_type="server_stream"} 2',
      ),
      text,
    );
  } finally {
    for (const c of stalled) c.close();
    await srv.close();
  }
});

Deno.test("a request that never completes is cancelled after the stall timeout", async () => {
  const { srv, port, registry } = await start({ stallTimeoutMs: 300 });
  const c = await RawH2.connect(port);
  try {
    const id = await c.call(ECHO, grpcMessage(new Uint8Array(10), 100), {}, false);
    assert(await c.until(() => c.streams.get(id)?.reset === 0x8), "slow request not reset");
    const text = await registry.expose();
    assert(text.includes('direction="receive",grpc_method="Echo"'), text);
  } finally {
    c.close();
    await srv.close();
  }
});

Deno.test("a request still arriving at its deadline ends DEADLINE_EXCEEDED without running the handler", async () => {
  const { srv, port, echoed } = await start();
  const c = await RawH2.connect(port);
  try {
    const id = await c.call(
      ECHO,
      grpcMessage(new Uint8Array(10), 100),
      { "grpc-timeout": "100m" },
      false,
    );
    assert(await c.until(() => c.status(id) !== undefined), "no status at the deadline");
    assertEquals(c.status(id)!.code, GrpcStatus.DEADLINE_EXCEEDED);
    // the rest of the request, after the deadline: the failed read must not deliver it
    await c.write(h2Frame(0x0, 1, id, new Uint8Array(90)));
    const next = await c.call(ECHO, grpcMessage(new Uint8Array(3)));
    assert(await c.until(() => c.status(next) !== undefined));
    assertEquals(c.status(next)!.code, GrpcStatus.OK);
    assertEquals(echoed.runs, 1);
  } finally {
    c.close();
    await srv.close();
  }
});

Deno.test("shutting down cancels a call still reading its request: UNAVAILABLE, handler never run", async () => {
  const { srv, port, echoed } = await start();
  const c = await RawH2.connect(port);
  try {
    const id = await c.call(ECHO, grpcMessage(new Uint8Array(10), 100), {}, false);
    await new Promise((r) => setTimeout(r, 50));
    await srv.close(0);
    assert(await c.until(() => c.status(id) !== undefined), "no status at shutdown");
    assertEquals(c.status(id)!.code, GrpcStatus.UNAVAILABLE);
    assertEquals(c.status(id)!.message, "server shutting down");
    assertEquals(echoed.runs, 0);
  } finally {
    c.close();
    await srv.close();
  }
});

Deno.test("response headers become one-byte indices, and stay literals for a client whose header table is 0", async () => {
  const { srv, port } = await start();
  const plain = await RawH2.connect(port);
  const zero = await RawH2.connect(port, { settings: [[0x1, 0]] });
  try {
    for (const c of [plain, zero]) {
      for (let i = 0; i < 2; i++) {
        const id = await c.call(ECHO, grpcMessage(new Uint8Array(3)));
        assert(await c.until(() => c.status(id) !== undefined));
        assertEquals(c.status(id)!.code, GrpcStatus.OK);
      }
    }
    // each call's header blocks: its response headers, then its trailers
    assertEquals(plain.headerBlocks.length, 4);
    // ":status: 200" from the static table, content type and accept-encoding from the dynamic one
    assertEquals([...plain.headerBlocks[2]], [0x88, 0xbf, 0xbe]);
    // told the table is 0 bytes: a size update first, then literals that index nothing
    assertEquals(zero.headerBlocks[0][0], 0x20);
    assertEquals(zero.headerBlocks[2][0], 0x88);
    assert(zero.headerBlocks[2].length > 40, `${zero.headerBlocks[2].length} bytes`);
  } finally {
    plain.close();
    zero.close();
    await srv.close();
  }
});

Deno.test("grpc-message is percent-encoded outside printable ASCII, plain text as it is", async () => {
  const srv = new GrpcServer({});
  srv.unary(ECHO, (req) => {
    const msg = new TextDecoder().decode(req);
    return Promise.reject(new GrpcError(GrpcStatus.INVALID_ARGUMENT, msg));
  });
  const { port } = await srv.listen("127.0.0.1", 0);
  const c = await RawH2.connect(port);
  try {
    const cases: [string, string][] = [
      ["plain text: kept (quotes, braces) as it is", "plain text: kept (quotes, braces) as it is"],
      ["100% done", "100%25 done"],
      ["é\nnext\ttab~\x7f", "%C3%A9%0Anext%09tab~%7F"],
      ["", ""],
    ];
    for (const [msg, wire] of cases) {
      const id = await c.call(ECHO, grpcMessage(new TextEncoder().encode(msg)));
      assert(await c.until(() => c.status(id) !== undefined));
      const trailers = c.streams.get(id)!.headers.find((h) => h["grpc-status"] !== undefined)!;
      assertEquals([trailers["grpc-status"], trailers["grpc-message"]], ["3", wire]);
      assertEquals(c.status(id)!.message, msg);
    }
  } finally {
    c.close();
    await srv.close();
  }
});
