// The frontend in process against a fake querier (every series point is t/1000 at each step):
// what is newer than the max-freshness window is asked again, answers with warnings, dedup=false
// and storeMatch[] are not cached, split answers merge to the unsplit one.

import { assert, assertEquals } from "../helpers/assert.ts";
import { freePort } from "../helpers/ports.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { InMemoryCache } from "../../cache/inmemory.ts";
import { type FrontendOptions, QueryFrontend } from "../../queryfrontend/frontend.ts";
import { MAX_SPLIT_PARTS } from "../../queryfrontend/split.ts";
import { directRequestInfo, HttpError } from "../../server/http.ts";

interface Fake {
  url: string;
  seen: URLSearchParams[];
  close(): Promise<void>;
}

function fakeQuerier(): Fake {
  const seen: URLSearchParams[] = [];
  const ac = new AbortController();
  const port = freePort();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen() {} },
    (req) => {
      const p = new URL(req.url).searchParams;
      seen.push(p);
      if (new URL(req.url).pathname === "/api/v1/labels") {
        return Response.json({ status: "success", data: ["__name__", `from_${p.get("start")}`] });
      }
      const start = Number(p.get("start")) * 1000;
      const end = Number(p.get("end")) * 1000;
      // an instant query (no step) gets one point
      const step = Number(p.get("step")) * 1000 || 1;
      const pts: string[] = [];
      for (let t = start; t <= end; t += step) pts.push(`[${t / 1000},"${t / 1000}"]`);
      const warn = p.get("query")!.includes("warn") ? `,"warnings":["store down"]` : "";
      // "raw_empty": data only at the 1h resolution; "shard1_only": only in shard 1
      const q = p.get("query")!;
      if (
        (q.includes("raw_empty") && p.get("max_source_resolution") !== "3600s") ||
        (q.includes("shard1_only") && !(p.get("shard_info") ?? "").includes(`"shard_index":1`))
      ) pts.length = 0;
      return new Response(
        `{"status":"success","data":{"resultType":"matrix","result":[${
          pts.length === 0 ? "" : `{"metric":{"a":"1"},"values":[${pts.join(",")}]}`
        }]}${warn}}`,
        { headers: { "content-type": "application/json" } },
      );
    },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

const NOW = 1_700_000_000_000;

function frontend(
  url: string,
  now: () => number,
  extra: {
    logger?: Logger;
    logQueriesLongerThanMs?: number;
    opts?: Partial<FrontendOptions>;
  } = {},
): QueryFrontend {
  const registry = new Registry();
  return new QueryFrontend({
    downstreamUrl: url,
    logger: extra.logger ?? new Logger("error"),
    registry,
    splitIntervalMs: 3600_000,
    alignRangeWithStep: false,
    maxQueryLengthMs: 0,
    maxQueryParallelism: 4,
    maxRetries: 1,
    instantMaxRetries: 1,
    requestDownsampled: false,
    maxFreshnessMs: 60_000,
    partialResponse: true,
    labelsPartialResponse: true,
    rangeCache: new InMemoryCache({
      name: "t",
      config: { maxSizeBytes: 0, maxSizeItems: 100, validityMs: 0 },
      registry,
    }),
    labelsSplitIntervalMs: 0,
    labelsMaxRetries: 1,
    labelsMaxQueryParallelism: 1,
    labelsMaxFreshnessMs: 60_000,
    labelsDefaultTimeRangeMs: 3600_000,
    snappy: true,
    compressResponses: false,
    logQueriesLongerThanMs: extra.logQueriesLongerThanMs ?? 0,
    forwardHeaders: [],
    downstreamTimeoutMs: 0,
    enableCors: false,
    now,
    ...extra.opts,
  });
}

async function queryRange(f: QueryFrontend, qs: string, post = false): Promise<string> {
  const route = f.routes().find((r) => r.path === "/api/v1/query_range")!;
  const req = post
    ? new Request("http://fe/api/v1/query_range", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: qs,
    })
    : new Request(`http://fe/api/v1/query_range?${qs}`);
  const res = await route.handler(req, {}, directRequestInfo(req));
  assertEquals(res.status, 200);
  return await res.text();
}

Deno.test("frontend: results newer than the freshness window are asked again", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW);
    const qs = `query=up&start=${(NOW - 600_000) / 1000}&end=${NOW / 1000}&step=10`;
    const first = await queryRange(f, qs);
    assertEquals(fake.seen.length, 1);
    const second = await queryRange(f, qs);
    assertEquals(second, first);
    assertEquals(fake.seen.length, 2, "the fresh minute is asked again");
    // only after the last cached point (now - 1m)
    assertEquals(fake.seen[1].get("start"), String((NOW - 50_000) / 1000));
    // split answers merge to the unsplit answer: a 3h range crosses 1h boundaries
    const long = `query=up&start=${(NOW - 3 * 3600_000 - 7_000) / 1000}&end=${
      (NOW - 3_000) / 1000
    }&step=97`;
    const before = fake.seen.length;
    const merged = await queryRange(f, long);
    assert(fake.seen.length - before >= 3, "split in parts");
    const direct = await (await fetch(`${fake.url}/api/v1/query_range?${long}`)).text();
    assertEquals(merged, direct);
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: warnings, dedup=false and storeMatch[] are never cached", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW);
    const range = `&start=${(NOW - 7200_000) / 1000}&end=${(NOW - 3600_000) / 1000}&step=60`;
    for (const qs of ["query=warn_me", "query=up&dedup=false", "query=up&storeMatch[]=x"]) {
      const before = fake.seen.length;
      const a = await queryRange(f, qs + range);
      const b = await queryRange(f, qs + range);
      assertEquals(a, b);
      assertEquals(fake.seen.length - before, 4, `${qs}: asked both times (2 parts each)`);
    }
    const before = fake.seen.length;
    await queryRange(f, "query=up" + range);
    await queryRange(f, "query=up" + range);
    assertEquals(fake.seen.length - before, 2, "a plain query is cached");
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: a form POST (Grafana's default) is answered like a GET", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW);
    const qs = `query=up&start=${(NOW - 3 * 3600_000) / 1000}&end=${
      (NOW - 7200_000) / 1000
    }&step=30`;
    const post = await queryRange(f, qs, true);
    assertEquals(fake.seen.at(-1)!.get("query"), "up");
    const before = fake.seen.length;
    const get = await queryRange(f, qs);
    assertEquals(get, post);
    assertEquals(fake.seen.length, before, "the POST filled the same cache entries");
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: --query-frontend.log-queries-longer-than < 0 logs every query", async () => {
  const fake = fakeQuerier();
  const lines: string[] = [];
  try {
    const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
    const f = frontend(fake.url, () => NOW, { logger, logQueriesLongerThanMs: -1 });
    await queryRange(f, `query=up&start=${(NOW - 3600_000) / 1000}&end=${NOW / 1000}&step=60`);
    const slow = lines.filter((l) => l.includes("slow query detected"));
    assertEquals(slow.length, 1, lines.join("\n"));
    assert(slow[0].includes("param_query=up") && slow[0].includes("time_taken_ms="), slow[0]);
    lines.length = 0;
    const quiet = frontend(fake.url, () => NOW, { logger, logQueriesLongerThanMs: 60_000 });
    await queryRange(quiet, `query=up&start=${(NOW - 3600_000) / 1000}&end=${NOW / 1000}&step=60`);
    assertEquals(lines.filter((l) => l.includes("slow query detected")).length, 0);
  } finally {
    await fake.close();
  }
});

/** One logfmt line's fields (values unquoted). */
function logfmtFields(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    out[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
  }
  return out;
}

Deno.test("frontend: slow query log has Thanos v0.42's fields: org_id from --query-frontend.org-id-header, remote_user from its header or basic auth", async () => {
  const fake = fakeQuerier();
  const lines: string[] = [];
  try {
    const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
    const range = `start=${(NOW - 3600_000) / 1000}&end=${NOW / 1000}&step=60`;
    const ask = async (
      f: QueryFrontend,
      path: string,
      headers: Record<string, string>,
      post = "",
    ) => {
      const route = f.routes().find((r) => r.path === path)!;
      const req = post
        ? new Request(`http://fe${path}?dedup=true`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
          body: post,
        })
        : new Request(`http://fe${path}?query=up&${range}`, { headers });
      const res = await route.handler(req, {}, directRequestInfo(req, {}, "10.1.2.3:4567"));
      await res.body?.cancel();
      const line = lines.pop();
      lines.length = 0;
      return line === undefined ? null : logfmtFields(line);
    };
    const withOrg = frontend(fake.url, () => NOW, {
      logger,
      logQueriesLongerThanMs: -1,
      opts: { orgIdHeaders: ["X-Org", "X-Team"], slowQueryLogsUserHeader: "X-User" },
    });
    const a = (await ask(withOrg, "/api/v1/query_range", {
      "X-Team": "team-1",
      "X-Org": "org-1",
      "THANOS-TENANT": "acme",
      "X-User": "alice",
      "Authorization": `Basic ${btoa("bob:pw")}`,
      "X-Dashboard-Uid": "dash-9",
      "X-Panel-Id": "7",
    }))!;
    assertEquals(a.msg, "slow query detected");
    assertEquals(
      [a.org_id, a.remote_user, a.remote_addr, a.method, a.host, a.path],
      ["org-1", "alice", "10.1.2.3:4567", "GET", "fe", "/api/v1/query_range"],
    );
    assertEquals([a.grafana_dashboard_uid, a.grafana_panel_id, a.trace_id], ["dash-9", "7", "-"]);
    assertEquals([a.param_query, a.param_step, a.query_range_hours, a.query_range_human], [
      "up",
      "60",
      "1",
      "1h0m0s",
    ]);
    assert(/^\d+$/.test(a.time_taken_ms), a.time_taken_ms);
    // the first org-ID header with a value wins; then THANOS-TENANT; else "anonymous"
    assertEquals((await ask(withOrg, "/api/v1/query_range", { "X-Team": "t" }))!.org_id, "t");
    const b = (await ask(withOrg, "/api/v1/labels", {
      "THANOS-TENANT": "acme",
      "Authorization": `Basic ${btoa("bob:pw")}`,
    }))!;
    // a user header that is configured but absent: empty, no fallback (Thanos's code)
    assertEquals([b.org_id, b.remote_user], ["acme", ""]);
    assertEquals((await ask(withOrg, "/api/v1/query_range", {}))!.org_id, "anonymous");
    // only /api/v1 paths are slow queries
    assertEquals(await ask(withOrg, "/*", {}), null);

    const plain = frontend(fake.url, () => NOW, { logger, logQueriesLongerThanMs: -1 });
    const c = (await ask(plain, "/api/v1/query_range", {
      "X-Org": "org-1",
      "Authorization": `Basic ${btoa("bob:pw")}`,
    }, `query=sum(up)&${range}&query=again`))!;
    assertEquals([c.org_id, c.remote_user, c.method], ["anonymous", "bob", "POST"]);
    // a form body's parameters, then the query string's; repeated values joined by ","
    assertEquals([c.param_query, c.param_dedup, c.query_range_human], [
      "sum(up),again",
      "true",
      "1h0m0s",
    ]);
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: with --query-frontend.org-id-header, cached answers are per org ID and per tenant", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW, { opts: { orgIdHeaders: ["X-Org"] } });
    const route = f.routes().find((r) => r.path === "/api/v1/query_range")!;
    const qs = `query=up&start=${(NOW - 7200_000) / 1000}&end=${(NOW - 3600_000) / 1000}&step=60`;
    const ask = async (headers: Record<string, string>) => {
      const req = new Request(`http://fe/api/v1/query_range?${qs}`, { headers });
      const before = fake.seen.length;
      const res = await route.handler(req, {}, directRequestInfo(req));
      assertEquals(res.status, 200);
      await res.body?.cancel();
      return fake.seen.length - before;
    };
    assert(await ask({ "X-Org": "a" }) > 0);
    assertEquals(await ask({ "X-Org": "a" }), 0, "same org ID: cached");
    assert(await ask({ "X-Org": "b" }) > 0, "another org ID is not answered from a's cache");
    assert(
      await ask({ "X-Org": "a", "THANOS-TENANT": "other" }) > 0,
      "another tenant with the same org ID is not answered from the cache either",
    );
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: request bodies are read with the 10 MiB form cap, not as announced", async () => {
  // no querier at all: a request that got past the cap fails fast with 503 instead of 413
  const closed = await freePort();
  {
    const f = frontend(`http://127.0.0.1:${closed}`, () => NOW);
    for (const path of ["/api/v1/query_range", "/api/v1/query", "/api/v1/series"]) {
      const route = f.routes().find((r) => r.path === path)!;
      // a body larger than the cap, sent without a Content-Length (chunked)
      const big = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 11; i++) c.enqueue(new Uint8Array(1 << 20).fill(0x61));
          c.close();
        },
      });
      const req = new Request(`http://fe${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: big,
      });
      const err = await Promise.resolve().then(() => route.handler(req, {}, directRequestInfo(req)))
        .then(
          () => null,
          (e: unknown) => e as HttpError,
        );
      assert(err instanceof HttpError, `${path}: ${err}`);
      assertEquals(err.status, 413, path);
      // an announced length over the cap is refused before any byte is read
      const announced = new Request(`http://fe${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "content-length": String(100 << 20),
        },
        body: "query=up",
      });
      const err2 = await Promise.resolve().then(() =>
        route.handler(announced, {}, directRequestInfo(announced))
      ).then(
        () => null,
        (e: unknown) => e as HttpError,
      );
      assertEquals(err2?.status, 413, path);
    }
  }
});

Deno.test("frontend: dynamic horizontal splitting (min/max split interval, horizontal shards)", async () => {
  const fake = fakeQuerier();
  try {
    const H = 3600_000;
    const f = frontend(fake.url, () => NOW, {
      opts: {
        splitIntervalMs: 0,
        minSplitIntervalMs: H,
        maxSplitIntervalMs: 24 * H,
        horizontalShards: 4,
        rangeCache: undefined,
      },
    });
    const unsplit = frontend(fake.url, () => NOW, {
      opts: { splitIntervalMs: 0, rangeCache: undefined },
    });
    // a start on a multiple of 3h is on the 45m and on the 1h grid
    const s = Math.floor(NOW / (3 * H)) * 3 * H - 30 * H;
    const cases: [number, number, number][] = [
      // 3h (between min and 2×max): 4 equal parts of 45m
      [s, s + 3 * H, 4],
      // 30m (below min): split by min (1h), one part here
      [s, s + H / 2, 1],
      // 5 days (at least 2×max): parts of max (1 day), cut at UTC midnights
      [s - 5 * 24 * H, s, 6],
    ];
    for (const [start, end, parts] of cases) {
      const qs = `query=up&start=${start / 1000}&end=${end / 1000}&step=60`;
      const before = fake.seen.length;
      const got = await queryRange(f, qs);
      assertEquals(fake.seen.length - before, parts, `${(end - start) / H}h`);
      assertEquals(got, await queryRange(unsplit, qs), "split answer equals the unsplit one");
    }
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: a range far longer than the split interval asks at most MAX_SPLIT_PARTS parts", async () => {
  const fake = fakeQuerier();
  try {
    const D = 24 * 3600_000;
    const f = frontend(fake.url, () => NOW, { opts: { rangeCache: undefined } });
    const unsplit = frontend(fake.url, () => NOW, {
      opts: { splitIntervalMs: 0, rangeCache: undefined },
    });
    // three years at a daily step: 26,304 parts of the 1h interval, 1,096 points
    const end = Math.floor(NOW / D) * D - 30 * D;
    const qs = `query=up&start=${(end - 1095 * D) / 1000}&end=${end / 1000}&step=86400`;
    const before = fake.seen.length;
    const got = await queryRange(f, qs);
    const asked = fake.seen.length - before;
    assert(asked > 1 && asked <= MAX_SPLIT_PARTS, `${asked} parts`);
    assertEquals(got, await queryRange(unsplit, qs), "split answer equals the unsplit one");
    assertEquals(JSON.parse(got).data.result[0].values.length, 1096);
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: a label request since 1970 asks at most MAX_SPLIT_PARTS parts", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW, { opts: { labelsSplitIntervalMs: 24 * 3600_000 } });
    const route = f.routes().find((r) => r.path === "/api/v1/labels")!;
    // 19,675 days of the 24h interval
    const req = new Request(`http://fe/api/v1/labels?start=0&end=${NOW / 1000}`);
    const res = await route.handler(req, {}, directRequestInfo(req));
    assertEquals(res.status, 200);
    const names = JSON.parse(await res.text()).data as string[];
    assert(fake.seen.length > 1 && fake.seen.length <= MAX_SPLIT_PARTS, `${fake.seen.length}`);
    // every part answered: its own start's name is in the merged answer, the first one at 0
    assertEquals(names.length, fake.seen.length + 1);
    assert(names.includes("from_0"), names.slice(0, 3).join());
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: vertical shards ask once per shard with shard_info, else once", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW, {
      opts: { splitIntervalMs: 0, verticalShards: 3, rangeCache: undefined },
    });
    const range = `start=${(NOW - 3600_000) / 1000}&end=${NOW / 1000}&step=60`;
    const cases: [string, number][] = [["sum by (a) (x)", 3], ["sum(x)", 1], ["up", 1]];
    for (const [q, n] of cases) {
      for (const kind of ["range", "instant"]) {
        const before = fake.seen.length;
        const path = kind === "range" ? "/api/v1/query_range" : "/api/v1/query";
        const qs = `query=${encodeURIComponent(q)}&${kind === "range" ? range : "time=5"}`;
        const route = f.routes().find((r) => r.path === path)!;
        const req = new Request(`http://fe${path}?${qs}`);
        const res = await route.handler(req, {}, directRequestInfo(req));
        assertEquals(res.status, 200, await res.text());
        const seen = fake.seen.slice(before);
        assertEquals(seen.length, n, `${kind} ${q}`);
        const infos = seen.map((p) => p.get("shard_info"));
        if (n === 1) assertEquals(infos, [null]);
        else {
          assertEquals(infos.sort(), [
            `{"shard_index":1,"total_shards":3,"by":true,"labels":["a"]}`,
            `{"shard_index":2,"total_shards":3,"by":true,"labels":["a"]}`,
            `{"total_shards":3,"by":true,"labels":["a"]}`,
          ]);
        }
      }
    }
  } finally {
    await fake.close();
  }
});

Deno.test("frontend: with vertical shards, only an empty merged answer asks for downsampled data", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, () => NOW, {
      opts: {
        splitIntervalMs: 0,
        verticalShards: 3,
        rangeCache: undefined,
        requestDownsampled: true,
      },
    });
    const range = `start=${(NOW - 3600_000) / 1000}&end=${NOW / 1000}&step=60`;
    // two shards empty, one not: no downsampled requests
    let before = fake.seen.length;
    let body = await queryRange(
      f,
      `query=${encodeURIComponent("sum by (a) (shard1_only)")}&${range}`,
    );
    assertEquals(fake.seen.length - before, 3);
    assert(body.includes(`"metric":{"a":"1"}`), body);
    // all shards empty at raw resolution: every shard asked at 5m, then at 1h
    before = fake.seen.length;
    body = await queryRange(f, `query=${encodeURIComponent("sum by (a) (raw_empty)")}&${range}`);
    const asked = fake.seen.slice(before);
    assertEquals(
      asked.map((p) => p.get("max_source_resolution")),
      [null, null, null, "300s", "300s", "300s", "3600s", "3600s", "3600s"],
    );
    for (const p of asked) assert(p.get("shard_info") !== null);
    assert(body.includes(`"metric":{"a":"1"}`), body);
  } finally {
    await fake.close();
  }
});
