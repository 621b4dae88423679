// Chaos clients for the gRPC server (issue 20): each round opens random Series streams on the
// chaos server (grpc_chaos_server.ts, its own process) and, at a random point of a random stream,
// cancels, resets, sends GOAWAY, closes the socket, stops reading or cuts a frame in half — raw
// HTTP/2 (h2_raw.ts), node:http2 and our own client. Used by tests/storeapi/grpc_chaos_test.ts
// (a few dozen small rounds) and bench/grpc_chaos.ts (thousands of 20 MB rounds).

import http2 from "node:http2";
import { grpcMessage, h2Frame, RawH2 } from "./h2_raw.ts";
import { type Proc, spawnDeno } from "./thanos.ts";
import { freePort } from "./ports.ts";
import { encodeSeriesRequest } from "../../storeapi/codec.ts";
import { STORE_METHODS } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcError } from "../../storeapi/grpc.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const SERVER = new URL("./grpc_chaos_server.ts", import.meta.url).pathname;

/** Bytes of one series frame on the wire (labels + one 4 KiB chunk), approximately. */
export const SERIES_BYTES = 4150;

/** Starts the chaos server on `port` (free by default); resolves once it serves. */
export async function startChaosServer(
  port = freePort(),
  stallTimeoutMs?: number,
): Promise<Proc & { grpcPort: number }> {
  const args = ["run", "-A", SERVER, String(port)];
  if (stallTimeoutMs !== undefined) args.push(String(stallTimeoutMs));
  const p = spawnDeno(args, port, "chaos server");
  await p.waitFor(() => Promise.resolve(p.logs().includes("READY")), "startup");
  return Object.assign(p, { grpcPort: port });
}

/** A Series request for `n` series. */
export function seriesRequest(n: number): Uint8Array {
  return encodeSeriesRequest({
    minTime: 0,
    maxTime: n,
    matchers: [new Matcher(MatchType.Equal, "__name__", "chaos")],
  });
}

/** A deterministic random source (so a failing seed can be replayed). */
export { rng } from "./fuzz.ts";

export const ACTIONS = [
  "rst-one",
  "rst-all",
  "goaway-close",
  "goaway-drain",
  "socket-close",
  "stall-close",
  "partial-frame",
  "rst-before-request",
  "node-close",
  "node-destroy",
  "node-goaway",
  "client-cancel",
] as const;
export type Action = typeof ACTIONS[number];

/** Outcome of one round: the action and whether the streams that should complete did. */
export interface RoundResult {
  action: Action;
  /** Streams expected to finish OK that did not (a server bug even if it survived). */
  incomplete: number;
}

/** One chaos round against `port` with up to `maxSeries` series per stream. */
export async function chaosRound(
  port: number,
  rnd: () => number,
  maxSeries: number,
): Promise<RoundResult> {
  const action = ACTIONS[Math.floor(rnd() * ACTIONS.length)];
  const streams = 1 + Math.floor(rnd() * 4);
  const sizes = Array.from({ length: streams }, () => 1 + Math.floor(rnd() * maxSeries));
  const total = sizes.reduce((a, b) => a + b, 0) * SERIES_BYTES;
  const at = Math.floor(rnd() * total); // the random point, in response bytes received
  if (action.startsWith("node-")) return await nodeRound(port, action, sizes, at);
  if (action === "client-cancel") return await clientRound(port, sizes[0], at, rnd);

  const c = await RawH2.connect(port);
  try {
    const ids: number[] = [];
    if (action === "rst-before-request") {
      const id = await c.call(STORE_METHODS.series, undefined, {}, false);
      await c.rst(id);
      ids.push(await c.call(STORE_METHODS.series, grpcMessage(seriesRequest(sizes[0]))));
      const ok = await c.until(() => c.status(ids[0]) !== undefined, 30_000);
      return { action, incomplete: ok && c.status(ids[0])!.code === 0 ? 0 : 1 };
    }
    for (const n of sizes) {
      ids.push(await c.call(STORE_METHODS.series, grpcMessage(seriesRequest(n))));
    }
    const allDone = () => ids.every((id) => c.status(id) !== undefined || c.streams.get(id)?.reset);
    await c.until(() => c.dataBytes >= at || allDone() || c.eof, 30_000);
    switch (action) {
      case "rst-one": {
        const victim = ids[Math.floor(rnd() * ids.length)];
        await c.rst(victim);
        // the other streams must still complete
        const rest = ids.filter((id) => id !== victim);
        await c.until(() => rest.every((id) => c.status(id) !== undefined) || c.eof, 30_000);
        return { action, incomplete: rest.filter((id) => c.status(id)?.code !== 0).length };
      }
      case "rst-all":
        for (const id of ids) await c.rst(id);
        return { action, incomplete: 0 };
      case "goaway-close":
        await c.sendGoaway();
        await new Promise((r) => setTimeout(r, rnd() * 20));
        return { action, incomplete: 0 };
      case "goaway-drain": {
        // streams opened before the GOAWAY finish; then the server closes the connection
        await c.sendGoaway();
        await c.until(() => ids.every((id) => c.status(id) !== undefined) && c.eof, 30_000);
        return { action, incomplete: ids.filter((id) => c.status(id)?.code !== 0).length };
      }
      case "socket-close":
        return { action, incomplete: 0 };
      case "stall-close":
        c.stopReading();
        await new Promise((r) => setTimeout(r, rnd() * 300));
        return { action, incomplete: 0 };
      case "partial-frame": {
        const f = h2Frame(0x0, 0, ids[0], new Uint8Array(100));
        await c.write(f.subarray(0, 1 + Math.floor(rnd() * (f.length - 1))));
        return { action, incomplete: 0 };
      }
    }
    return { action, incomplete: 0 };
  } finally {
    c.close();
  }
}

async function nodeRound(
  port: number,
  action: Action,
  sizes: number[],
  at: number,
): Promise<RoundResult> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on("error", () => {});
  let got = 0;
  const reqs: http2.ClientHttp2Stream[] = [];
  await new Promise<void>((resolve) => {
    let done = 0;
    const timer = setTimeout(resolve, 30_000);
    const finish = () => {
      clearTimeout(timer);
      resolve();
    };
    for (const n of sizes) {
      const r = s.request({
        ":method": "POST",
        ":path": STORE_METHODS.series,
        "content-type": "application/grpc",
        te: "trailers",
      });
      reqs.push(r);
      r.on("error", () => {});
      r.on("data", (b: Uint8Array) => {
        got += b.length;
        if (got >= at) finish();
      });
      r.on("close", () => {
        if (++done === sizes.length) finish();
      });
      r.end(grpcMessage(seriesRequest(n)));
    }
  });
  if (action === "node-close") s.close();
  else if (action === "node-goaway") s.goaway(http2.constants.NGHTTP2_NO_ERROR);
  s.destroy();
  return { action, incomplete: 0 };
}

async function clientRound(
  port: number,
  n: number,
  at: number,
  rnd: () => number,
): Promise<RoundResult> {
  const client = new StoreClient(`127.0.0.1:${port}`);
  const ac = new AbortController();
  let series = 0;
  try {
    for await (
      const item of client.series(
        { minTime: 0, maxTime: n, matchers: [new Matcher(MatchType.Equal, "__name__", "chaos")] },
        ac.signal,
      )
    ) {
      if (!("warning" in item)) series++;
      if (series * SERIES_BYTES >= at) {
        if (rnd() < 0.5) ac.abort();
        else break;
      }
    }
  } catch (e) {
    if (!(e instanceof GrpcError)) throw e;
  } finally {
    client.close();
  }
  return { action: "client-cancel", incomplete: 0 };
}

/** Reads `n` series in full with our client; returns how many arrived. */
export async function readAll(port: number, n: number): Promise<number> {
  const client = new StoreClient(`127.0.0.1:${port}`);
  let series = 0;
  try {
    for await (
      const item of client.series({
        minTime: 0,
        maxTime: n,
        matchers: [new Matcher(MatchType.Equal, "__name__", "chaos")],
      })
    ) {
      if (!("warning" in item)) series++;
    }
  } finally {
    client.close();
  }
  return series;
}

/**
 * The client side: our StoreClient reads while the server goes away (SIGTERM: GOAWAY and
 * cancelled streams; SIGKILL: the socket drops) at a random moment and comes back on the same
 * port. Every call must end in a GrpcError or a complete answer, never hang or crash; after the
 * restart the same client must read in full. Returns the restarted server.
 */
export async function restartRound(
  server: Proc & { grpcPort: number },
  rnd: () => number,
  series: number,
): Promise<{ server: Proc & { grpcPort: number }; outcome: "error" | "complete"; after: number }> {
  const client = new StoreClient(`127.0.0.1:${server.grpcPort}`);
  try {
    const reading = (async () => {
      let got = 0;
      try {
        for await (
          const item of client.series({
            minTime: 0,
            maxTime: series,
            matchers: [new Matcher(MatchType.Equal, "__name__", "chaos")],
          })
        ) {
          if (!("warning" in item)) got++;
        }
        return got === series ? "complete" as const : "short" as const;
      } catch (e) {
        if (e instanceof GrpcError) return "error" as const;
        throw e;
      }
    })();
    await new Promise((r) => setTimeout(r, rnd() * 400));
    await server.stop(3000, rnd() < 0.5 ? "SIGTERM" : "SIGKILL");
    const outcome = await reading;
    if (outcome === "short") throw new Error("a call ended OK with part of the answer");
    const next = await startChaosServer(server.grpcPort);
    // the first call may still meet the old connection's end; a querier retries next query
    let after = 0;
    for (let attempt = 0; attempt < 3 && after === 0; attempt++) {
      try {
        for await (
          const item of client.series({
            minTime: 0,
            maxTime: 100,
            matchers: [new Matcher(MatchType.Equal, "__name__", "chaos")],
          })
        ) {
          if (!("warning" in item)) after++;
        }
      } catch (e) {
        if (!(e instanceof GrpcError)) throw e;
        after = 0;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { server: next, outcome, after };
  } finally {
    client.close();
  }
}
