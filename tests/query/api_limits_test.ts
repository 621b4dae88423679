// The querier API's answers to hostile or malformed requests, over a real HttpServer, each
// checked against what Prometheus 2.42 answers (its answers were taken from a real Prometheus
// 2.42 and are written next to each case) or, where Prometheus itself fails, a clear 4xx.

import { assert, assertEquals } from "../helpers/assert.ts";
import { MAX_FORM_BYTES, QueryApi } from "../../query/api.ts";
import { type ProxyEndpoint, StoreProxy } from "../../storeapi/proxy.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { Flags, parseFlags } from "../../components/flags.ts";
import { QUERY_COMMAND } from "../../components/query/flags.ts";
import { queryConfig } from "../../components/query/config.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";

const INFO = { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 };

/** `n` series `up{i="…"}` = 1 every 15 s over [0, 600 s]. */
function store(n: number): ProxyEndpoint {
  const app = new XorAppender();
  for (let t = 0; t <= 600_000; t += 15_000) app.append(t, 1);
  const chunk = { minTime: 0, maxTime: 600_000, encoding: ChunkEncoding.XOR, data: app.bytes() };
  return {
    name: "s:10901",
    info: INFO,
    client: {
      async *series() {
        for (let i = 0; i < n; i++) {
          yield {
            labels: labelsFromObject({ __name__: "up", i: String(i).padStart(3, "0") }),
            chunks: [chunk],
          };
        }
      },
      labelNames: () => Promise.resolve({ names: ["__name__", "i"], warnings: [] }),
      labelValues: () => Promise.resolve({ values: ["000"], warnings: [] }),
    },
  };
}

async function withApi(
  argv: string[],
  fn: (base: string) => Promise<void>,
  bodyReadTimeoutMs?: number,
): Promise<void> {
  const cfg = queryConfig(new Flags(QUERY_COMMAND, parseFlags(QUERY_COMMAND, argv)));
  const registry = new Registry();
  const logger = new Logger("error", "logfmt", {}, () => {});
  const api = new QueryApi({
    proxy: new StoreProxy({ endpoints: () => [store(10)] }),
    logger,
    registry,
    endpoints: () => [],
    replicaLabels: cfg.replicaLabels,
    dedupFunc: cfg.dedupFunc,
    partialResponse: cfg.partialResponse,
    queryTimeoutMs: cfg.queryTimeoutMs,
    lookbackDeltaMs: cfg.lookbackDeltaMs,
    maxSamples: cfg.maxSamples,
    maxConcurrent: cfg.maxConcurrent,
    maxConcurrentSelect: cfg.maxConcurrentSelect,
    defaultStepMs: cfg.defaultStepMs,
    defaultEvaluationIntervalMs: cfg.defaultEvaluationIntervalMs,
    autoDownsampling: cfg.autoDownsampling,
    enableCors: cfg.enableCors,
    flags: cfg.flagValues,
    version: "test",
    now: () => 300_000,
  });
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger,
    registry,
    probe: new Probe(),
    bodyReadTimeoutMs,
  });
  srv.add(api.routes());
  await srv.start();
  try {
    await fn(`http://127.0.0.1:${srv.addr!.port}`);
  } finally {
    await srv.shutdown(0);
  }
}

async function get(url: string, init?: RequestInit): Promise<[number, string]> {
  const r = await fetch(url, init);
  return [r.status, await r.text()];
}

function err(type: string, msg: string): string {
  return JSON.stringify({ status: "error", errorType: type, error: msg });
}

Deno.test("match[] that selects every series is refused as Prometheus refuses it", async () => {
  await withApi([], async (base) => {
    for (const m of ["{}", '{i=""}', '{i=~".*"}']) {
      const q = `match[]=${encodeURIComponent(m)}`;
      // Prometheus 2.42: 400 bad_data; /series prefixes the parameter, labels and values do not
      assertEquals(
        await get(`${base}/api/v1/series?${q}`),
        [
          400,
          err(
            "bad_data",
            'invalid parameter "match[]": match[] must contain at least one non-empty matcher',
          ),
        ],
      );
      for (const path of ["/api/v1/labels", "/api/v1/label/i/values"]) {
        assertEquals(
          await get(`${base}${path}?${q}`),
          [400, err("bad_data", "match[] must contain at least one non-empty matcher")],
        );
      }
    }
    const [status] = await get(`${base}/api/v1/series?match[]=${encodeURIComponent('{i="001"}')}`);
    assertEquals(status, 200);
  });
});

Deno.test("a label name with undecodable bytes is a 400 quoting the bytes", async () => {
  await withApi([], async (base) => {
    // Prometheus 2.42: 400 {"error":"invalid label name: \"\\xff\\xfe\""}
    assertEquals(
      await get(`${base}/api/v1/label/%FF%FE/values`),
      [400, err("bad_data", 'invalid label name: "\\xff\\xfe"')],
    );
  });
});

Deno.test("times and durations out of float64's range are refused", async () => {
  await withApi([], async (base) => {
    // Prometheus 2.42 answers exactly these
    assertEquals(
      await get(`${base}/api/v1/query?query=up&time=1e400`),
      [
        400,
        err(
          "bad_data",
          `invalid parameter "time": Invalid time value for 'time': cannot parse "1e400" to a valid timestamp`,
        ),
      ],
    );
    assertEquals(
      await get(`${base}/api/v1/query_range?query=up&start=0&end=1e400&step=1`),
      [400, err("bad_data", 'invalid parameter "end": cannot parse "1e400" to a valid timestamp')],
    );
    assertEquals(
      await get(`${base}/api/v1/query?query=up&timeout=1e400`),
      [
        400,
        err("bad_data", 'invalid parameter "timeout": cannot parse "1e400" to a valid duration'),
      ],
    );
  });
});

Deno.test("a zero or negative timeout has expired: 503 from the queue, parse errors first", async () => {
  await withApi([], async (base) => {
    for (const t of ["0", "-1"]) {
      assertEquals(
        await get(`${base}/api/v1/query?query=up&timeout=${t}`),
        [503, err("timeout", "query timed out in query queue")],
      );
    }
    const [status, body] = await get(`${base}/api/v1/query?query=up(&timeout=0`);
    assertEquals(status, 400, body);
    assert(body.includes("parse error"), body);
    // a timeout the query fits in answers
    assertEquals((await get(`${base}/api/v1/query?query=up&timeout=1m`))[0], 200);
  });
});

Deno.test("nesting deeper than the engine can recurse is a 400, not a stack overflow", async () => {
  await withApi([], async (base) => {
    const deep = [
      "(".repeat(10_000) + "1" + ")".repeat(10_000),
      Array(10_000).fill("up").join(" or "),
      "-".repeat(10_000) + "up",
      "abs(".repeat(5_000) + "up" + ")".repeat(5_000),
    ];
    for (const q of deep) {
      const [status, body] = await get(`${base}/api/v1/query`, {
        method: "POST",
        body: new URLSearchParams({ query: q }),
      });
      assertEquals(status, 400, body.slice(0, 300));
      assert(body.includes("expression nested too deeply"), body.slice(0, 300));
    }
    // 500 operands evaluate
    const [status, body] = await get(`${base}/api/v1/query`, {
      method: "POST",
      body: new URLSearchParams({ query: Array(500).fill("up").join(" or ") }),
    });
    assertEquals(status, 200, body.slice(0, 300));
    assertEquals(JSON.parse(body).data.result.length, 10);
  });
});

Deno.test("range sum() counts its operand's samples against --query.max-samples", async () => {
  // Prometheus 2.42's rangeEval holds the operand (10 series × 41 steps = 410 samples) and, at
  // the last step, that step's 10 inputs and the 41 results: 461 is needed, 460 fails with 422
  // (the same arithmetic checked on a real Prometheus 2.42: 5 series × 15 steps pass a limit of
  // 100, 16 steps do not)
  await withApi(["--query.max-samples=460"], async (base) => {
    assertEquals(
      await get(`${base}/api/v1/query_range?query=sum(up)&start=0&end=600&step=15`),
      [
        422,
        err(
          "execution",
          "query processing would load too many samples into memory in query execution",
        ),
      ],
    );
  });
  await withApi(["--query.max-samples=461"], async (base) => {
    assertEquals(
      (await get(`${base}/api/v1/query_range?query=sum(up)&start=0&end=600&step=15`))[0],
      200,
    );
    // topk: its k is an operand too (41 samples); at the last step 451 held, 400 earlier
    // results, 1 + 10 inputs and 10 results: 872 (a real Prometheus 2.42: topk(2, x) over 5
    // series passes a limit of 100 at 11 steps, 8 × 11 + 6 = 94, and fails at 12, 102)
    const topk = `${base}/api/v1/query_range?query=topk(10,up)&start=0&end=600&step=15`;
    assertEquals((await get(topk))[0], 422);
  });
  await withApi(["--query.max-samples=872"], async (base) => {
    const topk = `${base}/api/v1/query_range?query=topk(10,up)&start=0&end=600&step=15`;
    assertEquals((await get(topk))[0], 200);
  });
  await withApi(["--query.max-samples=871"], async (base) => {
    const topk = `${base}/api/v1/query_range?query=topk(10,up)&start=0&end=600&step=15`;
    assertEquals((await get(topk))[0], 422);
  });
});

Deno.test("unknown API paths are 404, wrong methods 405, CORS as Thanos's", async () => {
  await withApi([], async (base) => {
    // Thanos (httprouter): the catch-all OPTIONS route does not turn unknown paths into 405
    assertEquals(await get(`${base}/api/v1/foo`), [404, "404 page not found\n"]);
    assertEquals(await get(`${base}/api/v1/foo`, { method: "POST" }), [
      404,
      "404 page not found\n",
    ]);
    const r = await fetch(`${base}/api/v1/query`, { method: "DELETE" });
    assertEquals([r.status, await r.text()], [405, "Method Not Allowed\n"]);
    assertEquals(r.headers.get("allow"), "GET, OPTIONS, POST");
    const o = await fetch(`${base}/api/v1/query`, { method: "OPTIONS" });
    await o.body?.cancel();
    assertEquals(o.status, 204);
    assertEquals(o.headers.get("access-control-allow-methods"), "GET, POST, OPTIONS");
    assertEquals(o.headers.get("access-control-allow-origin"), "*");
    assertEquals(
      o.headers.get("access-control-allow-headers"),
      "Accept, Accept-Encoding, Authorization, Content-Type, Origin",
    );
    assertEquals(o.headers.get("access-control-expose-headers"), "Date");
    // answers and errors carry all of them beside their content type
    const cors = (r: Response) =>
      ["content-type", ...[...o.headers.keys()].filter((k) => k.startsWith("access-control-"))]
        .map((k) => [k, r.headers.get(k)]);
    const q = await fetch(`${base}/api/v1/query?query=1`);
    await q.body?.cancel();
    assertEquals(cors(q), [["content-type", "application/json"], ...cors(o).slice(1)]);
    assertEquals(cors(o).length, 5);
    const e = await fetch(`${base}/api/v1/query?query=(`);
    await e.body?.cancel();
    assertEquals(e.status, 400);
    assertEquals(cors(e), [["content-type", "application/json"], ...cors(o).slice(1)]);
  });
  await withApi(["--web.disable-cors"], async (base) => {
    const o = await fetch(`${base}/api/v1/query`, { method: "OPTIONS" });
    await o.body?.cancel();
    assertEquals([o.status, o.headers.get("access-control-allow-origin")], [204, null]);
    const q = await fetch(`${base}/api/v1/query?query=1`);
    await q.body?.cancel();
    assertEquals([...q.headers.keys()].filter((k) => k.startsWith("access-control-")), []);
  });
});

Deno.test("form bodies: Go's 10 MiB cap, checked as the body arrives", async () => {
  await withApi([], async (base) => {
    const tooLarge = err("bad_data", "error parsing form values: http: POST too large");
    const pad = "x=" + "a".repeat(MAX_FORM_BYTES);
    // announced and sent: refused (Prometheus's /series answer, for every endpoint here)
    for (const path of ["/api/v1/query", "/api/v1/series", "/api/v1/labels"]) {
      assertEquals(
        await get(`${base}${path}`, {
          method: "POST",
          body: new URLSearchParams(`query=up&match[]=up&${pad}`),
        }),
        [400, tooLarge],
      );
    }
    // streamed without a length: counted as it arrives
    const chunk = new TextEncoder().encode("a".repeat(1 << 20));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent === 0) c.enqueue(new TextEncoder().encode("query=up&x="));
        if (sent++ < 12) c.enqueue(chunk);
        else c.close();
      },
    });
    assertEquals(
      await get(`${base}/api/v1/query`, {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      [400, tooLarge],
    );
    // just under the cap: answered
    const ok = "query=up&x=" + "a".repeat(MAX_FORM_BYTES - 20);
    assertEquals(
      (await get(`${base}/api/v1/query`, { method: "POST", body: new URLSearchParams(ok) }))[0],
      200,
    );
  });
});

Deno.test("a form body slower than the body read timeout is cut off with 408", async () => {
  await withApi([], async (base) => {
    const url = new URL(base);
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    try {
      await conn.write(
        new TextEncoder().encode(
          "POST /api/v1/query HTTP/1.1\r\nHost: x\r\n" +
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nquery=u",
        ),
      );
      const buf = new Uint8Array(4096);
      // bounded wait: a server that never times the body out fails the test instead of hanging it
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        conn.read(buf),
        new Promise<"no answer">((r) => timer = setTimeout(() => r("no answer"), 20_000)),
      ]);
      clearTimeout(timer);
      assert(n !== "no answer", "no answer to a body that never completes");
      const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      assert(head.startsWith("HTTP/1.1 408"), head);
    } finally {
      conn.close();
    }
  }, 300);
});

Deno.test("regexes nested 10k deep are refused like Go's regexp refuses them, not a 500", async () => {
  await withApi([], async (base) => {
    const deep = "(".repeat(10_000) + "a" + ")".repeat(10_000);
    // Prometheus 2.42: 400 `… error parsing regexp: expression nests too deeply: …`
    const [s1, b1] = await get(`${base}/api/v1/series`, {
      method: "POST",
      body: new URLSearchParams({ "match[]": `{i=~"${deep}"}` }),
    });
    assertEquals(s1, 400, b1.slice(0, 300));
    assert(
      b1.startsWith(
        '{"status":"error","errorType":"bad_data","error":"invalid parameter \\"match[]\\": 1:2: parse error: error parsing regexp: expression nests too deeply: `^(?:(((',
      ),
      b1.slice(0, 300),
    );
    const [s2, b2] = await get(`${base}/api/v1/query`, {
      method: "POST",
      body: new URLSearchParams({ query: `up{i=~"${deep}"}` }),
    });
    assertEquals(s2, 400, b2.slice(0, 300));
    assert(b2.includes("expression nests too deeply"), b2.slice(0, 300));
    // Prometheus 2.42: 422 `invalid regular expression in label_replace(): (((…`
    const [s3, b3] = await get(`${base}/api/v1/query`, {
      method: "POST",
      body: new URLSearchParams({ query: `label_replace(up, "a", "$1", "i", "${deep}")` }),
    });
    assertEquals(s3, 422, b3.slice(0, 300));
    assert(
      b3.startsWith(
        '{"status":"error","errorType":"execution","error":"invalid regular expression in label_replace(): (((',
      ),
      b3.slice(0, 300),
    );
  });
});
