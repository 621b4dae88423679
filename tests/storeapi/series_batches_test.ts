// Series streams by the batch (issue 19: fewer awaits per series in the querier): the gRPC
// channel's serverStreamBatches, StoreClient.seriesBatches and StoreProxy.seriesBatches over a
// real StoreServer on 127.0.0.1 give the same series, in the same order, as the per-series
// streams, in fewer steps than series; a series split over several frames arrives merged.

import { assert, assertEquals } from "../helpers/assert.ts";
import { compareLabels } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../../tsdb/series.ts";
import {
  encodeSeriesRequest,
  type LabelNamesRequest,
  type LabelValuesRequest,
  type SeriesRequest,
  type StoreInfo,
} from "../../storeapi/codec.ts";
import {
  type SeriesItem,
  STORE_METHODS,
  type StoreBackend,
  StoreServer,
  type StoreServerOptions,
} from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcChannel } from "../../storeapi/grpc.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** `n` series `m{i="00000"}`…, each with `chunksPer` small chunks, sorted by labels. */
function fixture(n: number, chunksPer = 1): SeriesWithChunks[] {
  const out: SeriesWithChunks[] = [];
  for (let i = 0; i < n; i++) {
    const labels = ["__name__", "m", "i", String(i).padStart(5, "0")];
    const chunks = [];
    for (let c = 0; c < chunksPer; c++) {
      chunks.push({
        minTime: c * 1000,
        maxTime: c * 1000 + 999,
        encoding: ChunkEncoding.XOR,
        data: new TextEncoder().encode(`${labels.join(",")}#${c}`.padEnd(64, ".")),
      });
    }
    out.push({ labels, chunks });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

class FixedBackend implements StoreBackend {
  constructor(private readonly all: SeriesWithChunks[]) {}
  info(): Promise<StoreInfo> {
    return Promise.resolve({ componentType: "store", labelSets: [], minTime: 0, maxTime: 1e9 });
  }
  async *series(_req: SeriesRequest, _signal: AbortSignal): AsyncIterable<SeriesItem> {
    yield { warning: "first warning" };
    for (const s of this.all) yield s;
    await Promise.resolve();
  }
  labelNames(_r: LabelNamesRequest) {
    return Promise.resolve({ names: [], warnings: [] });
  }
  labelValues(_r: LabelValuesRequest) {
    return Promise.resolve({ values: [], warnings: [] });
  }
}

async function withServer(
  all: SeriesWithChunks[],
  fn: (addr: string) => Promise<void>,
  serverOpts: StoreServerOptions = {},
): Promise<void> {
  const server = new StoreServer(new FixedBackend(all), { serving: true, ...serverOpts });
  const { port } = await server.listen("127.0.0.1", 0);
  try {
    await fn(`127.0.0.1:${port}`);
  } finally {
    await server.close();
  }
}

const REQ: SeriesRequest = {
  minTime: 0,
  maxTime: 1e9,
  matchers: [new Matcher(MatchType.Equal, "__name__", "m")],
};

function summary(items: SeriesItem[]): string[] {
  return items.map((x) =>
    "warning" in x ? `warning ${x.warning}` : `${x.labels.join(",")} ${x.chunks.length}`
  );
}

Deno.test(
  "serverStreamBatches yields every message once, in order, in fewer batches than messages",
  opts,
  async () => {
    await withServer(fixture(400), async (addr) => {
      const ch = new GrpcChannel(addr);
      try {
        const body = encodeSeriesRequest(REQ);
        const one: Uint8Array[] = [];
        for await (const m of ch.serverStream(STORE_METHODS.series, body)) one.push(m);
        const batches: Uint8Array[][] = [];
        for await (const b of ch.serverStreamBatches(STORE_METHODS.series, body)) batches.push(b);
        assert(batches.every((b) => b.length > 0), "no empty batch");
        assertEquals(batches.flat(), one);
        // 400 series of ~150 bytes: a 16 KiB DATA frame holds dozens of messages
        assert(batches.length < one.length / 4, `${batches.length} batches for ${one.length}`);
      } finally {
        ch.close();
      }
    });
  },
);

Deno.test(
  "StoreClient.seriesBatches equals series, merges a series split over frames, keeps warnings",
  opts,
  async () => {
    // 20 chunks of ~100 bytes per series with 256-byte frames: each series spans several frames
    const all = fixture(60, 20);
    await withServer(all, async (addr) => {
      const client = new StoreClient(addr, { timeoutMs: 10_000 });
      try {
        const flat: SeriesItem[] = [];
        for await (const x of client.series(REQ)) flat.push(x);
        const batched: SeriesItem[] = [];
        for await (const b of client.seriesBatches(REQ)) {
          assert(b.length > 0, "no empty batch");
          batched.push(...b);
        }
        const want = ["warning first warning", ...all.map((s) => `${s.labels.join(",")} 20`)];
        assertEquals(summary(flat), want);
        assertEquals(summary(batched), want);
        const last = batched[batched.length - 1] as SeriesWithChunks;
        assertEquals(last.chunks.map((c) => c.minTime), all[59].chunks.map((c) => c.minTime));
      } finally {
        client.close();
      }
    }, { maxFrameBytes: 256, flushBytes: 1024 });
  },
);

Deno.test(
  "StoreProxy.seriesBatches over one store gives its series in order, many per batch",
  opts,
  async () => {
    const all = fixture(300);
    await withServer(all, async (addr) => {
      const client = new StoreClient(addr, { timeoutMs: 10_000 });
      const info = await client.info();
      const proxy = new StoreProxy({ endpoints: () => [{ name: addr, client, info }] });
      try {
        const ac = new AbortController();
        let batches = 0;
        const got: SeriesItem[] = [];
        for await (const b of proxy.seriesBatches(REQ, ac.signal)) {
          assert(b.length > 0, "no empty batch");
          batches++;
          got.push(...b);
        }
        assertEquals(summary(got), [
          `warning warning from ${addr}: first warning`,
          ...all.map((s) => `${s.labels.join(",")} 1`),
        ]);
        assert(batches < all.length / 4, `${batches} batches for ${all.length} series`);
        // the per-series view of the same stream
        const flat: SeriesItem[] = [];
        for await (const x of proxy.series(REQ, ac.signal)) flat.push(x);
        assertEquals(summary(flat), summary(got));
      } finally {
        client.close();
      }
    });
  },
);

Deno.test(
  "StoreProxy.seriesBatches merges two stores in order, joins equal series, batches the merge",
  opts,
  async () => {
    const a = fixture(200);
    // store b: every other series of a with a later chunk, and series of its own
    const b = fixture(300).filter((_, i) => i % 2 === 0 || i >= 200).map((s) => ({
      labels: s.labels,
      chunks: s.chunks.map((c) => ({ ...c, minTime: c.minTime + 5000, maxTime: c.maxTime + 5000 })),
    }));
    await withServer(a, (addrA) =>
      withServer(b, async (addrB) => {
        const ca = new StoreClient(addrA, { timeoutMs: 10_000 });
        const cb = new StoreClient(addrB, { timeoutMs: 10_000 });
        const infoA = await ca.info();
        const infoB = await cb.info();
        const proxy = new StoreProxy({
          endpoints: () => [
            { name: addrA, client: ca, info: infoA },
            { name: addrB, client: cb, info: infoB },
          ],
        });
        try {
          const ac = new AbortController();
          let batches = 0;
          const got: SeriesItem[] = [];
          for await (const batch of proxy.seriesBatches(REQ, ac.signal)) {
            assert(batch.length > 0, "no empty batch");
            batches++;
            got.push(...batch);
          }
          const series = got.filter((x): x is SeriesWithChunks => !("warning" in x));
          assertEquals(got.length - series.length, 2, "one warning per store");
          const want = fixture(300).map((s, i) =>
            `${s.labels.join(",")} ${i < 200 && i % 2 === 0 ? 2 : 1}`
          );
          assertEquals(summary(series), want);
          assert(batches < 300 / 4, `${batches} batches for 300 series`);
          const flat: SeriesItem[] = [];
          for await (const x of proxy.series(REQ, ac.signal)) flat.push(x);
          // where a store's warning lands depends on when its reads arrive: compare as sets
          assertEquals(summary(flat).sort(), summary(got).sort());
        } finally {
          ca.close();
          cb.close();
        }
      }));
  },
);

/** Answers `m` with `short`'s series and any other metric name with `long`'s. */
class ByNameBackend extends FixedBackend {
  constructor(
    private readonly short: SeriesWithChunks[],
    private readonly long: SeriesWithChunks[],
  ) {
    super([]);
  }
  override async *series(req: SeriesRequest, _signal: AbortSignal): AsyncIterable<SeriesItem> {
    for (const s of req.matchers[0].value === "m" ? this.short : this.long) {
      yield s;
      await Promise.resolve();
    }
  }
}

Deno.test(
  "concurrent Series calls that flush between series each answer their own series",
  opts,
  async () => {
    // label strings of other lengths per call: an encoder shared by the calls would write the
    // lengths it measured for one call into the other's frames
    const short = fixture(40, 3);
    const long = fixture(40, 3).map((s) => ({
      labels: ["__name__", "a_much_longer_metric_name", "instance", `host-${s.labels[3]}.local`],
      chunks: s.chunks,
    }));
    const server = new StoreServer(new ByNameBackend(short, long), {
      serving: true,
      flushBytes: 300, // every series or two flushes: the calls take turns between series
    });
    const { port } = await server.listen("127.0.0.1", 0);
    const client = new StoreClient(`127.0.0.1:${port}`, { timeoutMs: 10_000 });
    try {
      const call = async (name: string) => {
        const got: SeriesItem[] = [];
        const req = { ...REQ, matchers: [new Matcher(MatchType.Equal, "__name__", name)] };
        for await (const s of client.series(req)) got.push(s);
        return got;
      };
      const rounds = await Promise.all([call("m"), call("x"), call("m"), call("x")]);
      for (const [i, got] of rounds.entries()) {
        const want = i % 2 === 0 ? short : long;
        assertEquals(summary(got), summary(want));
        const data = (items: SeriesItem[]) =>
          items.flatMap((s) =>
            "warning" in s ? [] : s.chunks.map((c) => new TextDecoder().decode(c.data))
          );
        assertEquals(data(got), data(want));
      }
    } finally {
      client.close();
      await server.close();
    }
  },
);
