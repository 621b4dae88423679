// gRPC keepalive on our HTTP/2 (issue 20): the client's PINGs (storeapi/h2client.ts, Thanos's
// `keepalive.ClientParameters{Time: 10s, Timeout: 5s}` with grpc-go's semantics) detect a peer
// behind a black-holed TCP path without waiting for the call's deadline, keep slow but live calls,
// and stay quiet on idle connections; the server (storeapi/h2server.ts) answers PINGs and ends a
// connection that pings more often than its minimum interval (GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings"), forgiving PINGs between answers as grpc-go does. Keepalive times are shrunk
// to a few hundred ms so the tests run in seconds; no test asserts a duration.

import { assert, assertEquals } from "../helpers/assert.ts";
import { h2Frame, RawH2 } from "../helpers/h2_raw.ts";
import { freePort } from "../helpers/ports.ts";
import { startTcpProxy } from "../helpers/tcp_proxy.ts";
import { GrpcChannel, GrpcError, GrpcServer, GrpcStatus } from "../../storeapi/grpc.ts";
import { H2Error } from "../../storeapi/h2server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KA = { timeMs: 200, timeoutMs: 200 };
/** Deadline of calls that keepalive must end first: far above KA's 400 ms, bounding the test. */
const DEADLINE_MS = 15_000;

async function server(opts: { keepaliveMinTimeMs?: number; slowMs?: number } = {}) {
  const srv = new GrpcServer({ keepaliveMinTimeMs: opts.keepaliveMinTimeMs });
  srv.unary("/t.T/Echo", (req) => Promise.resolve(req));
  srv.unary("/t.T/Slow", async (req, ctx) => {
    // silent for a while (no headers, no data), as a store working on a heavy Series call
    const end = Date.now() + (opts.slowMs ?? 1500);
    while (Date.now() < end && !ctx.signal.aborted) await sleep(20);
    return req;
  });
  const { port } = await srv.listen("127.0.0.1", freePort());
  return { srv, port };
}

async function failure(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof GrpcError, String(e));
    return e;
  }
  throw new Error("the call succeeded");
}

Deno.test(
  "keepalive: a call over a black-holed connection fails UNAVAILABLE before its deadline; the next call reconnects",
  opts,
  async () => {
    const { srv, port } = await server();
    const proxy = startTcpProxy(port);
    const ch = new GrpcChannel(proxy.address, { keepalive: KA });
    try {
      assertEquals(dec.decode(await ch.unary("/t.T/Echo", enc.encode("a"))), "a");
      proxy.blackhole(); // the connection stays open but nothing reaches either side any more
      const e = await failure(
        ch.unary("/t.T/Echo", enc.encode("b"), { timeoutMs: DEADLINE_MS }),
      );
      assertEquals(e.code, GrpcStatus.UNAVAILABLE, e.message);
      assert(e.message.includes("keepalive"), e.message);
      // a new connection (through the relay, which forwards new connections)
      assertEquals(
        dec.decode(await ch.unary("/t.T/Echo", enc.encode("c"), { timeoutMs: DEADLINE_MS })),
        "c",
      );
      assertEquals(proxy.connections, 2);
    } finally {
      ch.close();
      proxy.close();
      await srv.close();
    }
  },
);

Deno.test(
  "keepalive: a call a live server answers slowly is kept alive by acknowledged PINGs",
  opts,
  async () => {
    // a server tolerating the test's fast PINGs (Thanos's 10 s minimum would end the connection)
    const { srv, port } = await server({ keepaliveMinTimeMs: 50 });
    const proxy = startTcpProxy(port);
    const ch = new GrpcChannel(proxy.address, { keepalive: KA });
    try {
      const res = await ch.unary("/t.T/Slow", enc.encode("slow"), { timeoutMs: DEADLINE_MS });
      assertEquals(dec.decode(res), "slow");
      assert(proxy.clientPings >= 1, `client PINGs seen: ${proxy.clientPings}`);
      assertEquals(proxy.connections, 1);
    } finally {
      ch.close();
      proxy.close();
      await srv.close();
    }
  },
);

Deno.test(
  "keepalive: no PINGs while no call is open; the first call after the pause sends one",
  opts,
  async () => {
    const { srv, port } = await server();
    const proxy = startTcpProxy(port);
    const ch = new GrpcChannel(proxy.address, { keepalive: KA });
    try {
      await ch.unary("/t.T/Echo", enc.encode("a"));
      await sleep(5 * KA.timeMs); // idle: grpc-go's PermitWithoutStream=false sends nothing
      assertEquals(proxy.clientPings, 0);
      assertEquals(dec.decode(await ch.unary("/t.T/Echo", enc.encode("b"))), "b");
      assertEquals(proxy.clientPings, 1);
      assertEquals(proxy.connections, 1);
    } finally {
      ch.close();
      proxy.close();
      await srv.close();
    }
  },
);

const PING = h2Frame(0x6, 0, 0, new Uint8Array(8));

Deno.test(
  "server: PINGs more often than the minimum interval end the connection with GOAWAY too_many_pings",
  opts,
  async () => {
    const { srv, port } = await server({ slowMs: 5000 });
    const c = await RawH2.connect(port);
    try {
      // an open call, then PINGs back to back (Thanos's minimum interval is 10 s)
      await c.call("/t.T/Slow", new Uint8Array(5));
      await c.write(PING, PING, PING, PING, PING);
      assert(await c.until(() => c.eof), "connection still open");
      assertEquals(c.goaway, H2Error.ENHANCE_YOUR_CALM);
      assertEquals(c.goawayDebug, "too_many_pings");
      assert(c.pingAcks >= 1, "PINGs answered before the GOAWAY");
    } finally {
      c.close();
      await srv.close();
    }
  },
);

Deno.test(
  "server: PINGs between answers are forgiven and all acknowledged",
  opts,
  async () => {
    const { srv, port } = await server();
    const c = await RawH2.connect(port);
    try {
      for (let i = 0; i < 6; i++) {
        const id = await c.call("/t.T/Echo", new Uint8Array(5));
        assert(await c.until(() => c.status(id) !== undefined), "call answered");
        assertEquals(c.status(id)!.code, 0);
        await c.write(PING);
        assert(await c.until(() => c.pingAcks === i + 1), `PING ${i} acknowledged`);
      }
      assertEquals(c.goaway, undefined);
      assert(!c.eof);
    } finally {
      c.close();
      await srv.close();
    }
  },
);

Deno.test(
  "keepalive: a client told too_many_pings fails its call UNAVAILABLE and pings half as often",
  opts,
  async () => {
    const { srv, port } = await server({ slowMs: 5000 }); // Thanos's 10 s minimum interval
    const ch = new GrpcChannel(`127.0.0.1:${port}`, { keepalive: { timeMs: 50, timeoutMs: 1000 } });
    try {
      const e = await failure(
        ch.unary("/t.T/Slow", enc.encode("x"), { timeoutMs: DEADLINE_MS }),
      );
      assertEquals(e.code, GrpcStatus.UNAVAILABLE, e.message);
      assertEquals(dec.decode(await ch.unary("/t.T/Echo", enc.encode("y"))), "y");
      assertEquals(ch.keepaliveTimeMs, 100);
    } finally {
      ch.close();
      await srv.close();
    }
  },
);

Deno.test(
  "keepalive: a stall of our own event loop while the PING's ACK is on its way keeps the connection",
  opts,
  async () => {
    // the server process acknowledges PINGs 100 ms late; we stall 1.5 s right after it saw one
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../helpers/lazy_ping_server.ts", import.meta.url).pathname,
        String(port),
        "100",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.getReader();
    const td = new TextDecoder();
    let text = "";
    /** Waits (bounded) until the child printed `word` `count` times in all. */
    const printed = async (word: string, count: number) => {
      const end = Date.now() + DEADLINE_MS;
      while (text.split(word).length - 1 < count && Date.now() < end) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const r = await Promise.race([
          lines.read(),
          new Promise<null>((res) => timer = setTimeout(() => res(null), end - Date.now())),
        ]);
        clearTimeout(timer);
        if (r === null || r.done) break;
        text += td.decode(r.value, { stream: true });
      }
      return text.split(word).length - 1 >= count;
    };
    const ch = new GrpcChannel(`127.0.0.1:${port}`, {
      keepalive: { timeMs: 100, timeoutMs: 400 },
    });
    let failed: unknown;
    try {
      assert(await printed("READY", 1), "server process started");
      // a call the server never answers: keepalive PINGs while it is open
      const call = ch.unary("/t.T/Never", new Uint8Array(0), { timeoutMs: DEADLINE_MS });
      call.catch((e) => failed = e);
      assert(await printed("PING", 1), "first PING");
      const end = Date.now() + 1500;
      while (Date.now() < end) { /* our stall: the ACK arrives meanwhile, unread */ }
      // the connection outlives the stall: the next PING comes on it
      assert(await printed("PING", 2), `second PING (call failed: ${failed})`);
      assertEquals(failed, undefined);
    } finally {
      ch.close();
      child.kill();
      await lines.cancel().catch(() => {});
      await child.status;
    }
  },
);
