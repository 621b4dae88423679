// An evaluation Worker's answer arrives in the role's thread as transferred buffers that belong
// to it alone (EvalAnswer.owned). The HTTP API frees each as soon as nothing needs it any more
// (query/api.ts, framedBody): a small answer once copied into the body, a streamed one piece by
// piece once the server has taken it (Deno.serve keeps a chunk's memory until written) — instead
// of holding them all until the thread's next full GC (issue 19, the querier's peak RSS). A
// reader that may keep chunks (in-process, node:https) gets them untouched.

import { assert, assertEquals } from "../helpers/assert.ts";
import { testQueryApi } from "../helpers/query_api.ts";
import type { EvalAnswer } from "../../query/eval_pool.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { directRequestInfo, HttpServer, Probe, type Route } from "../../server/http.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

/** The query API over a pool whose every answer is `answer()` (a label request goes there). */
function apiRoutes(answer: () => EvalAnswer): Route[] {
  const proxy = new StoreProxy({
    endpoints: () => [],
    unavailable: () => [],
    responseTimeoutMs: 0,
  });
  return testQueryApi({
    proxy,
    evalPool: { evaluate: () => Promise.resolve(answer()) },
  }).routes();
}

const utf8 = new TextEncoder();

/** Whether `bytes`' buffer was detached (its memory released). */
const detached = (bytes: Uint8Array) => (bytes.buffer as ArrayBuffer).detached;

/** `data` JSON `["<name>0",…]` cut into `n` pieces of about `size` bytes, each its own buffer. */
function pieces(n: number, size: number): { parts: Uint8Array[]; text: string } {
  const parts: Uint8Array[] = [];
  let text = "";
  for (let k = 0; k < n; k++) {
    const fill = String(k % 10).repeat(size);
    const s = `${k === 0 ? "[" : ","}"${fill}"${k === n - 1 ? "]" : ""}`;
    text += s;
    parts.push(utf8.encode(s));
  }
  return { parts, text };
}

/** A streamed answer of `parts`, as the pool makes one (a piece when asked for). */
function streamed(parts: Uint8Array[], owned: boolean): EvalAnswer {
  let i = 0;
  const data = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (i < parts.length) ctrl.enqueue(parts[i++]);
      else ctrl.close();
    },
  }, { highWaterMark: 0 });
  return { data, warnings: [], owned };
}

async function labels(
  routes: Route[],
  handsOff: boolean | undefined,
): Promise<Response> {
  const url = "http://querier/api/v1/labels";
  const route = routes.find((r) => r.path === "/api/v1/labels")!;
  const req = new Request(url);
  const info = { ...directRequestInfo(req, {}), handsOffBodyChunks: handsOff };
  const res = await route.handler(req, {}, info);
  assertEquals(res.status, 200);
  return res;
}

const envelope = (data: string) => `{"status":"success","data":${data}}`;

Deno.test("a worker's streamed answer frees each piece once the server has taken the next chunk", async () => {
  const { parts, text } = pieces(4, 1000);
  const res = await labels(apiRoutes(() => streamed(parts, true)), true);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let got = "";
  /** How many pieces were detached when each chunk was read. */
  const freed: number[] = [];
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    // as Deno.serve: the chunk's bytes are taken at once (the runtime holds its memory)
    got += dec.decode(r.value, { stream: true });
    freed.push(parts.filter((p) => detached(p)).length);
  }
  assertEquals(got, envelope(text));
  // head, four pieces, tail: a piece is freed only when the chunk after it is asked for
  assertEquals(freed, [0, 0, 1, 2, 3, 4]);
});

Deno.test("a reader that keeps the chunks gets the pieces untouched (no server hand-off)", async () => {
  const { parts, text } = pieces(3, 100);
  // an in-process reader keeps every chunk until the end
  const res = await labels(apiRoutes(() => streamed(parts, true)), undefined);
  assertEquals(await res.text(), envelope(text));
  assertEquals(parts.filter((p) => detached(p)).length, 0);
});

Deno.test("pieces the answer does not own are never freed, whatever the server", async () => {
  const { parts, text } = pieces(3, 100);
  const res = await labels(apiRoutes(() => streamed(parts, false)), true);
  assertEquals(await res.text(), envelope(text));
  assertEquals(parts.filter((p) => detached(p)).length, 0);
});

Deno.test("a small worker answer is copied into one body and its buffer freed at once", async () => {
  const data = utf8.encode('["a","b"]');
  const res = await labels(apiRoutes(() => ({ data, warnings: [], owned: true })), undefined);
  assert(detached(data));
  assertEquals(await res.text(), envelope('["a","b"]'));
  // not the answer's own: left alone
  const kept = utf8.encode('["c"]');
  const again = await labels(apiRoutes(() => ({ data: kept, warnings: [] })), undefined);
  assertEquals(await again.text(), envelope('["c"]'));
  assert(!detached(kept));
});

Deno.test("one large worker buffer is framed without a copy and freed once Deno.serve took it", async () => {
  const { parts, text } = pieces(1, (1 << 20) + 10);
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe: new Probe(),
  });
  srv.add(apiRoutes(() => ({ data: parts[0], warnings: [], owned: true })));
  await srv.start();
  try {
    const r = await fetch(`http://127.0.0.1:${srv.addr!.port}/api/v1/labels`);
    assertEquals(await r.text(), envelope(text));
    assert(detached(parts[0]));
  } finally {
    await srv.shutdown(1000);
  }
});

Deno.test("Deno.serve writes a many-piece answer intact while each piece is freed behind it", async () => {
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe: new Probe(),
  });
  // 1 MiB pieces, as a Worker sends them: more than the runtime's write buffer holds at once
  const made: Uint8Array[][] = [];
  let expected = "";
  srv.add(apiRoutes(() => {
    const { parts, text } = pieces(12, 1 << 20);
    made.push(parts);
    expected = text;
    return streamed(parts, true);
  }));
  await srv.start();
  try {
    const url = `http://127.0.0.1:${srv.addr!.port}/api/v1/labels`;
    // two at once, one read slowly: a piece is freed while the socket still writes it
    const slow = (async () => {
      const r = await fetch(url);
      const reader = r.body!.getReader();
      const chunks: Uint8Array[] = [];
      for (;;) {
        const x = await reader.read();
        if (x.done) break;
        chunks.push(x.value);
        await new Promise((res) => setTimeout(res, 1));
      }
      return new TextDecoder().decode(
        chunks.reduce((a, c) => {
          const o = new Uint8Array(a.length + c.length);
          o.set(a);
          o.set(c, a.length);
          return o;
        }, new Uint8Array(0)),
      );
    })();
    const fast = (await fetch(url)).text();
    const [a, b] = await Promise.all([slow, fast]);
    assertEquals(a.length, envelope(expected).length);
    assert(a === envelope(expected), "slow reader's body differs");
    assert(b === envelope(expected), "fast reader's body differs");
    for (const parts of made) assertEquals(parts.filter((p) => detached(p)).length, 12);
  } finally {
    await srv.shutdown(1000);
  }
});
