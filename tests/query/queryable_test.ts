// ProxyQueryable's Series requests: what the querier asks of its stores, and when (a binary
// operator's two operands are selected at once, in the order the engine reads them, as
// Prometheus selects every operand before evaluating; issue 19).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { ProxyQueryable, SERIES_RESPONSE_BATCH_SIZE } from "../../query/queryable.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { SeriesRequest } from "../../storeapi/codec.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import { Engine } from "../../promql/engine.ts";
import { encodeXorChunks } from "../../tsdb/chunkenc/samples.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { Labels, SeriesWithChunks } from "../../tsdb/series.ts";

/** One series per metric name `a`, `b`, `c` (value 2, 4, 8) sampled every 15 s up to 300 s. */
function seriesOf(name: string): SeriesItem {
  const n = 21;
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  const value = { a: 2, b: 4, c: 8 }[name] ?? 1;
  for (let i = 0; i < n; i++) {
    ts[i] = i * 15_000;
    vs[i] = value;
  }
  const labels: Labels = ["__name__", name, "job", "j"];
  return { labels, chunks: encodeXorChunks({ ts, vs, n }) };
}

/** The metric name a Series request selects. */
function nameOf(r: SeriesRequest): string {
  return r.matchers.find((m) => m.name === "__name__")?.value ?? "";
}

interface Recorder {
  /** "open <name>" when a Series call starts, "close <name>" when its stream ends. */
  events: string[];
  /** Resolves when a call for `name` has started. */
  opened(name: string): Promise<void>;
}

function queryable(
  maxConcurrentSelect: number,
  serve: (r: SeriesRequest, rec: Recorder) => AsyncGenerator<SeriesItem>,
): { q: ProxyQueryable; rec: Recorder } {
  const waiters = new Map<string, () => void>();
  const rec: Recorder = {
    events: [],
    opened: (name) =>
      rec.events.includes(`open ${name}`)
        ? Promise.resolve()
        : new Promise((resolve) => waiters.set(name, resolve)),
  };
  const proxy = new StoreProxy({
    endpoints: () => [{
      name: "s:1",
      info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
      client: {
        async *series(r: SeriesRequest) {
          const name = nameOf(r);
          rec.events.push(`open ${name}`);
          waiters.get(name)?.();
          try {
            yield* serve(r, rec);
          } finally {
            rec.events.push(`close ${name}`);
          }
        },
        labelNames: () => Promise.resolve({ names: [], warnings: [] }),
        labelValues: () => Promise.resolve({ values: [], warnings: [] }),
      },
    }],
  });
  const q = new ProxyQueryable(proxy, {
    partialResponse: false,
    dedup: false,
    replicaLabels: [],
    dedupFunc: "penalty",
    maxConcurrentSelect,
  });
  return { q, rec };
}

Deno.test("select asks the stores for batched Series responses (Thanos's 64 per message)", async () => {
  const reqs: SeriesRequest[] = [];
  // deno-lint-ignore require-yield
  const { q } = queryable(4, async function* (r) {
    reqs.push(r);
  });
  const m = [new Matcher(MatchType.Equal, "__name__", "up")];
  for await (const _ of q.select(m, { start: 0, end: 1000 })) { /* none */ }
  assertEquals(SERIES_RESPONSE_BATCH_SIZE, 64);
  assertEquals(reqs.map((r) => r.responseBatchSize), [64]);
});

/** `p`'s value, or "late" when it takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<"late">((r) => timer = setTimeout(() => r("late"), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a binary operator's right operand is selected while its left one is still read", async () => {
  for (
    const query of [
      "a / b",
      "sum by (job) (rate(a[5m])) / sum by (job) (rate(b[5m]))",
      "topk(1, (a)) + on (job) max_over_time(b[1m])",
    ]
  ) {
    const { q, rec } = queryable(4, async function* (r, rec) {
      // the left operand's stream stays open until the right one's call has started
      if (nameOf(r) === "a") {
        const got = await within(rec.opened("b"), 2000);
        if (got === "late") rec.events.push("b not started while a was read");
      }
      yield seriesOf(nameOf(r));
    });
    const res = await new Engine().instantQuery(q, query, 300_000);
    assertEquals(rec.events, ["open a", "open b", "close a", "close b"], query);
    assert(res.value.type === "vector");
    assertEquals(res.value.samples.length, 1, query);
  }
});

Deno.test("operands selected at once stay in reading order with one select at a time", async () => {
  const { q, rec } = queryable(1, async function* (r) {
    yield seriesOf(nameOf(r));
  });
  const res = await within(new Engine().instantQuery(q, "(a / b) * c", 300_000), 5000);
  assert(res !== "late", "the query waits forever for a select slot");
  assert(res.value.type === "vector");
  assertEquals(res.value.samples.map((s) => s.v), [4]);
  assertEquals(rec.events, ["open a", "close a", "open b", "close b", "open c", "close c"]);
});

Deno.test("a failed left operand ends the right operand's started call and is the error reported", async () => {
  const { q, rec } = queryable(4, async function* (r, rec) {
    if (nameOf(r) === "a") {
      await rec.opened("b");
      throw new Error("store a is down");
    }
    yield seriesOf(nameOf(r));
  });
  await assertRejects(
    () => new Engine().instantQuery(q, "a / b", 300_000),
    Error,
    "store a is down",
  );
  // the right operand's call is closed with the query, not left running
  for (let i = 0; i < 50 && !rec.events.includes("close b"); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert(rec.events.includes("close b"), rec.events.join(", "));
});

Deno.test("a store's raw series reach the engine as they came (no copy per series)", async () => {
  const a = seriesOf("a") as SeriesWithChunks;
  const sent = [a, { labels: ["__name__", "a", "job", "k"], chunks: a.chunks }];
  const { q } = queryable(4, async function* () {
    yield* sent;
  });
  const m = [new Matcher(MatchType.Equal, "__name__", "a")];
  const got = [];
  for await (const s of q.select(m, { start: 0, end: 300_000 })) got.push(s);
  assertEquals(got.length, 2);
  assert(got[0] === sent[0] && got[1] === sent[1], "the series objects were copied");
});
