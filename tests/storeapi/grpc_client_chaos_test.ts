// Issue 20, the client side: a hostile HTTP/2 server (raw frames, tests/helpers/h2_raw.ts) answers
// each of 1,200 gRPC calls from one GrpcChannel (8 in flight, sharing connections) with a random
// abuse at a random point: RST_STREAM, GOAWAY below or above the stream, garbage frames, bad HPACK,
// oversized frames, PUSH_PROMISE, zero window increments, PING floods, a cut-short message,
// missing trailers, a dropped socket or a stall. The client process survives all of it, every
// call ends with its own answer or a GrpcError (none hangs past its deadline), and the channel
// answers normally afterwards. Bounded: 1,200 calls, a 400 ms deadline each.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  grpcMessage,
  h2Frame,
  RawH2Server,
  type RawServerConn,
  type RawServerStream,
} from "../helpers/h2_raw.ts";
import { rng } from "../helpers/grpc_chaos.ts";
import { freePort } from "../helpers/ports.ts";
import { GrpcChannel, GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";

const ACTIONS = [
  "ok",
  "ok-many",
  "rst-early",
  "rst-mid",
  "goaway-above",
  "goaway-below",
  "garbage",
  "bad-hpack",
  "oversized-frame",
  "push-promise",
  "window-zero",
  "ping-flood",
  "stall",
  "stall-mid",
  "close",
  "half-frame-close",
  "no-trailers",
  "cut-message",
  "error-status",
  "bad-settings",
] as const;
type Action = typeof ACTIONS[number];

const CALLS = 1200;
const IN_FLIGHT = 8;
const DEADLINE_MS = 400;

Deno.test({
  name: "hostile server: random resets, GOAWAYs, garbage and stalls never kill or hang our client",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const rnd = rng(2020);
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    let calm = false;
    const used = new Map<Action, number>();
    const bodies = new Map<string, Uint8Array>();

    const act = async (c: RawServerConn, s: RawServerStream) => {
      // half the calls are answered normally, so that calls succeed among the abuse
      const action: Action = calm || rnd() < 0.5
        ? "ok"
        : ACTIONS[Math.floor(rnd() * ACTIONS.length)];
      used.set(action, (used.get(action) ?? 0) + 1);
      const echo = grpcMessage(enc.encode(s.headers["x-call"] ?? "?"));
      const okAnswer = async () => {
        await c.respond(s.id);
        await c.data(s.id, echo);
        await c.trailers(s.id);
      };
      // a random point: some actions come after headers and part of the answer
      const partial = async () => {
        await c.respond(s.id);
        await c.data(s.id, echo.subarray(0, Math.floor(rnd() * echo.length)));
      };
      switch (action) {
        case "ok":
          return await okAnswer();
        case "ok-many": {
          await c.respond(s.id);
          for (let i = 0; i < 20; i++) await c.data(s.id, echo);
          return await c.trailers(s.id);
        }
        case "rst-early":
          return await c.rst(s.id, Math.floor(rnd() * 14));
        case "rst-mid":
          await partial();
          return await c.rst(s.id, Math.floor(rnd() * 14));
        case "goaway-above":
          // the stream was never processed: the client retries it elsewhere
          await c.goaway(Math.max(0, s.id - 2));
          return;
        case "goaway-below":
          await c.goaway(s.id, rnd() < 0.5 ? 0 : 2);
          return await okAnswer();
        case "garbage": {
          if (rnd() < 0.5) await partial();
          const junk = new Uint8Array(9 + Math.floor(rnd() * 40));
          for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
          junk[0] = 0;
          junk[1] = 0;
          junk[2] = junk.length - 9;
          return void await c.write(junk);
        }
        case "bad-hpack": {
          const block = new Uint8Array(8).map(() => Math.floor(rnd() * 256));
          return void await c.write(h2Frame(0x1, 0x4, s.id, block));
        }
        case "oversized-frame":
          await partial();
          return void await c.write(h2Frame(0x0, 0, s.id, new Uint8Array(20_000)));
        case "push-promise":
          return void await c.write(h2Frame(0x5, 0x4, s.id, new Uint8Array([0, 0, 0, 2])));
        case "window-zero":
          await c.write(h2Frame(0x8, 0, s.id, new Uint8Array(4)));
          return await okAnswer();
        case "ping-flood":
          for (let i = 0; i < 200; i++) await c.write(h2Frame(0x6, 0, 0, new Uint8Array(8)));
          return await okAnswer();
        case "stall":
          return;
        case "stall-mid":
          return await partial();
        case "close":
          if (rnd() < 0.5) await partial();
          return c.close();
        case "half-frame-close": {
          await c.respond(s.id);
          const f = h2Frame(0x0, 0, s.id, echo);
          await c.write(f.subarray(0, Math.floor(f.length / 2)));
          return c.close();
        }
        case "no-trailers":
          await c.respond(s.id);
          return void await c.data(s.id, echo, true);
        case "cut-message":
          await c.respond(s.id);
          await c.data(s.id, grpcMessage(enc.encode("short"), 1000));
          return await c.trailers(s.id);
        case "error-status":
          await c.respond(s.id);
          return await c.trailers(s.id, 13, "boom");
        case "bad-settings":
          return void await c.settings([[0x5, 1]]);
      }
    };
    const srv = RawH2Server.listen(freePort(), (c, s) => {
      act(c, s).catch(() => {});
    });
    const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
    let ok = 0;
    let failed = 0;
    const wrong: string[] = [];
    const codes = new Map<number, number>();
    const samples: string[] = [];
    try {
      let next = 0;
      const worker = async () => {
        while (next < CALLS) {
          const n = next++;
          const id = String(n);
          bodies.set(id, enc.encode(id));
          let watchdog: ReturnType<typeof setTimeout> | undefined;
          const hang = new Promise<"hang">((r) => watchdog = setTimeout(() => r("hang"), 5000));
          const call = (async () => {
            const out: string[] = [];
            for await (
              const m of ch.serverStream("/t.Chaos/Call", new Uint8Array(0), {
                timeoutMs: DEADLINE_MS,
                metadata: { "x-call": id },
              })
            ) out.push(dec.decode(m));
            return out;
          })();
          try {
            const r = await Promise.race([call, hang]);
            if (r === "hang") wrong.push(`call ${n} hung`);
            else if (r.length === 0 || r.some((x) => x !== id)) {
              wrong.push(`call ${n} got ${JSON.stringify(r.slice(0, 3))}`);
            } else ok++;
          } catch (e) {
            if (!(e instanceof GrpcError)) wrong.push(`call ${n} threw ${e}`);
            else {
              failed++;
              if (samples.length < 50) samples.push(e.message);
              codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
            }
          } finally {
            clearTimeout(watchdog);
          }
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      assertEquals(wrong, [], "every call ends with its own answer or a GrpcError");
      assertEquals(ok + failed, CALLS);
      // every abuse happened, and plenty of calls still succeeded among them
      assertEquals([...used.keys()].sort(), [...ACTIONS].sort());
      assert(
        ok >= CALLS / 20,
        `only ${ok} of ${CALLS} calls succeeded: ${JSON.stringify([...codes])} ${
          samples.slice(0, 8).join("\n")
        }`,
      );
      assert(codes.has(GrpcStatus.DEADLINE_EXCEEDED) && codes.has(GrpcStatus.UNAVAILABLE));
      // a well-behaved server again: the channel answers normally
      calm = true;
      for (let i = 0; i < 20; i++) {
        const got: string[] = [];
        for await (
          const m of ch.serverStream("/t.Chaos/Call", new Uint8Array(0), {
            timeoutMs: 5000,
            metadata: { "x-call": `calm${i}` },
          })
        ) got.push(dec.decode(m));
        assertEquals(got, [`calm${i}`]);
      }
    } finally {
      ch.close();
      srv.close();
    }
  },
});
