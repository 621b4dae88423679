// Abuse suite for the roles' HTTP servers (issue 20): a querier (over a store) and a receiver
// started as processes get many connections that announce a large body and send a few bytes,
// oversized and endless forms, and the bad inputs of the API; every answer is checked, the
// processes must survive, and their resident memory (VmRSS of the spawned process) must stay
// bounded. Bounded data and loop counts; no time is asserted.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { type Proc, startComponent } from "../helpers/thanos.ts";
import {
  smallDataset,
  startQuerier,
  startStore,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";

/** Resident memory of process `pid` in MiB (VmRSS of /proc/<pid>/status). */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/**
 * Opens `n` connections that each send a request head announcing `announced` body bytes and
 * then only `body`; keeps them open while `during` runs, then closes them.
 */
async function slowSenders(
  port: number,
  n: number,
  head: string,
  body: string,
  during: () => Promise<void>,
): Promise<void> {
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(c);
      await c.write(new TextEncoder().encode(head + body));
    }
    await during();
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed by the server */ }
    }
  }
}

async function get(url: string, init?: RequestInit): Promise<[number, string]> {
  const r = await fetch(url, init);
  return [r.status, await r.text()];
}

/** Waits (bounded) until `fn` holds. */
async function settle(fn: () => Promise<boolean>, tries = 50): Promise<void> {
  for (let i = 0; i < tries && !(await fn()); i++) await new Promise((r) => setTimeout(r, 100));
}

const CONNECTIONS = 300;
const ANNOUNCED = 10 << 20;
/** Allowed growth of a role's RSS under the connection flood (the old code reserved ~16 MiB each). */
const MAX_GROWTH_MIB = 150;

Deno.test({
  name: "querier: announced-length floods, oversized forms and bad inputs leave it alive and small",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const procs: Proc[] = [];
    try {
      const d = await dirs.make();
      await writeBlocks(d, withLabels(smallDataset(3, 20), {}));
      const store = await startStore(d, { site: "a" });
      procs.push(store);
      const q = await startQuerier([`--endpoint=127.0.0.1:${store.port}`]);
      procs.push(q);
      const pid = q.child.pid;
      const port = Number(new URL(q.url).port);
      // warm up: one query so the baseline includes the engine's first allocations
      assertEquals((await get(`${q.url}/api/v1/query?query=up`))[0], 200);
      await settle(async () => (await get(`${q.url}/api/v1/stores`))[1].includes("site"));
      const before = await rssMiB(pid);

      // 1. many connections announcing 10 MiB form bodies and sending a few bytes
      const head = "POST /api/v1/query HTTP/1.1\r\nHost: x\r\n" +
        "Content-Type: application/x-www-form-urlencoded\r\n" +
        `Content-Length: ${ANNOUNCED}\r\n\r\n`;
      let during = 0;
      await slowSenders(port, CONNECTIONS, head, "query=u", async () => {
        // the role still answers while they hang
        assertEquals((await get(`${q.url}/-/ready`))[0], 200);
        assertEquals((await get(`${q.url}/api/v1/query?query=up`))[0], 200);
        during = await rssMiB(pid);
      });
      assert(
        during - before < MAX_GROWTH_MIB,
        `querier RSS grew from ${before.toFixed(0)} MiB to ${during.toFixed(0)} MiB ` +
          `with ${CONNECTIONS} connections announcing ${ANNOUNCED} bytes`,
      );

      // 1b. connections that never finish their request head (no header timeout in the
      // runtime's server, nor in Thanos's): the runtime caps a head's size, memory stays flat
      const pad = `X-Pad: ${"a".repeat(1000)}\r\n`.repeat(50);
      let heads = 0;
      await slowSenders(
        port,
        CONNECTIONS,
        "GET /api/v1/query?query=up HTTP/1.1\r\n",
        pad,
        async () => {
          assertEquals((await get(`${q.url}/-/ready`))[0], 200);
          heads = await rssMiB(pid);
        },
      );
      assert(
        heads - before < MAX_GROWTH_MIB,
        `querier RSS grew from ${before.toFixed(0)} MiB to ${heads.toFixed(0)} MiB with ` +
          `${CONNECTIONS} unfinished request heads`,
      );

      // 2. a form past Go's 10 MiB cap: 400, as Prometheus's /series answers it
      const tooLarge = JSON.stringify({
        status: "error",
        errorType: "bad_data",
        error: "error parsing form values: http: POST too large",
      });
      const big = "query=up&x=" + "a".repeat(11 << 20);
      for (let i = 0; i < 3; i++) {
        assertEquals(
          await get(`${q.url}/api/v1/query`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: big,
          }),
          [400, tooLarge],
        );
      }
      // and one streamed without a length, 100 MiB offered: refused after 10 MiB
      let chunks = 0;
      const chunk = new TextEncoder().encode("a".repeat(1 << 20));
      const endless = new ReadableStream<Uint8Array>({
        pull(c) {
          if (chunks++ < 100) c.enqueue(chunk);
          else c.close();
        },
      });
      assertEquals(
        await get(`${q.url}/api/v1/series`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: endless,
        }),
        [400, tooLarge],
      );
      assert(chunks < 100, `the server read all ${chunks} MiB of an oversized form`);

      // 3. bad inputs (each answer checked against Prometheus 2.42's)
      const bad: [string, RequestInit | undefined, number, string][] = [
        ["/api/v1/series?match[]={}", undefined, 400, "at least one non-empty matcher"],
        ["/api/v1/label/%FF%FE/values", undefined, 400, 'invalid label name: \\"\\\\xff\\\\xfe\\"'],
        ["/api/v1/query?query=up&time=1e400", undefined, 400, 'cannot parse \\"1e400\\"'],
        ["/api/v1/query?query=up&timeout=0", undefined, 503, "query timed out in query queue"],
        ["/api/v1/foo", undefined, 404, "404 page not found"],
        [
          "/api/v1/query",
          {
            method: "POST",
            body: new URLSearchParams({ query: "(".repeat(10_000) + "1" + ")".repeat(10_000) }),
          },
          400,
          "expression nested too deeply",
        ],
        [
          "/api/v1/query",
          {
            method: "POST",
            body: new URLSearchParams({ query: Array(10_000).fill("up").join(" or ") }),
          },
          400,
          "expression nested too deeply",
        ],
      ];
      for (const [path, init, status, says] of bad) {
        const [s, body] = await get(`${q.url}${path}`, init);
        assertEquals(s, status, `${path}: ${body.slice(0, 200)}`);
        assert(body.includes(says), `${path}: ${body.slice(0, 300)}`);
      }

      assert(q.alive, "the querier died");
      assertEquals((await get(`${q.url}/api/v1/query?query=up`))[0], 200);
      const after = await rssMiB(pid);
      assert(
        after - before < MAX_GROWTH_MIB,
        `querier RSS grew from ${before.toFixed(0)} MiB to ${after.toFixed(0)} MiB`,
      );
      console.log(
        `querier RSS: ${before.toFixed(0)} MiB before, ${during.toFixed(0)} MiB with ` +
          `${CONNECTIONS} hanging 10 MiB announcements, ${heads.toFixed(0)} MiB with as many ` +
          `unfinished heads, ${after.toFixed(0)} MiB after`,
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
});

Deno.test({
  name: "receiver: remote-write bodies are read with a cap, never from the announced length",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const data = await dirs.make();
    const rw = freePort();
    const r = await startComponent("receive", [
      `--remote-write.address=127.0.0.1:${rw}`,
      `--tsdb.path=${data}`,
      '--label=replica="r0"',
      "--log.level=warn",
    ]);
    try {
      const pid = r.child.pid;
      const url = `http://127.0.0.1:${rw}/api/v1/receive`;
      await settle(async () => (await get(url, { method: "POST", body: "" }))[0] !== 503);
      const before = await rssMiB(pid);
      const head = "POST /api/v1/receive HTTP/1.1\r\nHost: x\r\n" +
        "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n" +
        `Content-Length: ${ANNOUNCED}\r\n\r\n`;
      let during = 0;
      await slowSenders(rw, CONNECTIONS, head, "abc", async () => {
        assertEquals((await get(`${r.http}/-/ready`))[0], 200);
        during = await rssMiB(pid);
      });
      assert(
        during - before < MAX_GROWTH_MIB,
        `receiver RSS grew from ${before.toFixed(0)} MiB to ${during.toFixed(0)} MiB`,
      );
      // a body past the bound (snappy's worst case for 32 MiB decompressed) is refused with 413
      const [status, text] = await get(url, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf", "content-encoding": "snappy" },
        body: new Uint8Array(40 << 20),
      });
      assertEquals(status, 413, text);
      assert(r.alive, "the receiver died");
      console.log(
        `receiver RSS: ${before.toFixed(0)} MiB before, ${during.toFixed(0)} MiB with ` +
          `${CONNECTIONS} hanging 10 MiB announcements`,
      );
    } finally {
      await r.stop();
    }
  },
});
