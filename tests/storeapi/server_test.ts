// StoreAPI server + client round trips on 127.0.0.1 over an in-memory backend: Series semantics
// (external labels, matchers, time range, skip_chunks, limits), label APIs, Info, health,
// snappy compression, cancellation and TLS.

import http2 from "node:http2";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { compareLabels, compareStrings, getLabel } from "../../tsdb/labels.ts";
import { type Matcher, Matcher as M, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding, type Labels, type SeriesWithChunks } from "../../tsdb/series.ts";
import {
  decodeSeriesResponse,
  encodeSeriesRequest,
  INT64_MAX,
  type LabelNamesRequest,
  type LabelValuesRequest,
  type SeriesRequest,
  ServingStatus,
  type StoreInfo,
} from "../../storeapi/codec.ts";
import { GrpcChannel, GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import {
  type SeriesItem,
  type StoreBackend,
  StoreServer,
  type StoreServerOptions,
} from "../../storeapi/server.ts";
import { StoreClient, type StoreClientOptions } from "../../storeapi/client.ts";
import { SPARE_BUFFER_BYTES } from "../../storeapi/h2server.ts";
import { NO_MATCHERS_MESSAGE, withExternalLabels } from "../../storeapi/external_labels.ts";
import { snappyFrameDecode, snappyFrameEncode } from "../../storeapi/snappy.ts";

const TESTDATA = new URL("./testdata/", import.meta.url).pathname;

function matchesAll(ls: Labels, ms: readonly Matcher[]): boolean {
  for (const m of ms) if (!m.matches(getLabel(ls, m.name))) return false;
  return true;
}

/** Builds a series with one chunk per [minTime, maxTime] pair; chunk bytes derive from labels. */
function makeSeries(labels: Labels, ranges: [number, number][]): SeriesWithChunks {
  return {
    labels,
    chunks: ranges.map(([minTime, maxTime], i) => ({
      minTime,
      maxTime,
      encoding: ChunkEncoding.XOR,
      data: new TextEncoder().encode(`${labels.join(",")}#${i}`),
    })),
  };
}

/** In-memory backend; `series` are kept sorted by labels. */
class MemoryBackend implements StoreBackend {
  readonly series_: SeriesWithChunks[];
  lastSeriesRequest: SeriesRequest | null = null;
  warnings: string[] = [];
  info_: StoreInfo = {
    componentType: "sidecar",
    labelSets: [],
    minTime: 0,
    maxTime: 1_000_000,
    supportsSharding: false,
  };

  constructor(series: SeriesWithChunks[]) {
    this.series_ = [...series].sort((a, b) => compareLabels(a.labels, b.labels));
  }

  info(): Promise<StoreInfo> {
    return Promise.resolve(this.info_);
  }

  async *series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    this.lastSeriesRequest = req;
    for (const w of this.warnings) yield { warning: w };
    for (const s of this.series_) {
      if (signal.aborted) throw signal.reason;
      if (!matchesAll(s.labels, req.matchers)) continue;
      const chunks = s.chunks.filter((c) => c.maxTime >= req.minTime && c.minTime <= req.maxTime);
      if (chunks.length === 0) continue;
      yield { labels: s.labels, chunks: req.skipChunks ? [] : chunks };
      await Promise.resolve();
    }
  }

  labelNames(req: LabelNamesRequest): Promise<{ names: string[]; warnings: string[] }> {
    const names = new Set<string>();
    for (const s of this.series_) {
      if (!matchesAll(s.labels, req.matchers)) continue;
      for (let i = 0; i < s.labels.length; i += 2) names.add(s.labels[i]);
    }
    return Promise.resolve({ names: [...names].sort(compareStrings), warnings: [] });
  }

  labelValues(req: LabelValuesRequest): Promise<{ values: string[]; warnings: string[] }> {
    const values = new Set<string>();
    for (const s of this.series_) {
      if (!matchesAll(s.labels, req.matchers)) continue;
      const v = getLabel(s.labels, req.label);
      if (v !== "") values.add(v);
    }
    return Promise.resolve({ values: [...values].sort(compareStrings), warnings: [] });
  }
}

/**
 * A backend that streams series forever (bounded by `max`) and resolves `aborted` when the
 * server's abort signal fires, to observe client cancellation end to end.
 */
class EndlessBackend extends MemoryBackend {
  readonly aborted: Promise<unknown>;
  private resolveAborted!: (reason: unknown) => void;
  produced = 0;

  constructor(private readonly max = 1_000_000) {
    super([]);
    this.aborted = new Promise((r) => this.resolveAborted = r);
  }

  override async *series(_req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    signal.addEventListener("abort", () => this.resolveAborted(signal.reason), { once: true });
    for (let i = 0; i < this.max; i++) {
      if (signal.aborted) return;
      this.produced++;
      yield makeSeries(["__name__", "endless", "i", String(i).padStart(8, "0")], [[0, 1000]]);
      if (i % 64 === 0) await new Promise((r) => setTimeout(r, 0));
    }
  }
}

// ---------------------------------------------------------------------------------------------

const eq = (n: string, v: string) => new M(MatchType.Equal, n, v);
const re = (n: string, v: string) => new M(MatchType.Regexp, n, v);

const EXT: Labels = ["cluster", "eu1", "replica", "a"];

function fixtureSeries(): SeriesWithChunks[] {
  return [
    makeSeries(["__name__", "up", "instance", "i1", "job", "api"], [[0, 999], [1000, 1999]]),
    makeSeries(["__name__", "up", "instance", "i2", "job", "api"], [[0, 999]]),
    makeSeries(["__name__", "up", "instance", "i3", "job", "web"], [[5000, 5999]]),
    makeSeries(["__name__", "http_requests_total", "job", "api"], [[0, 999]]),
  ];
}

async function withStore(
  backend: StoreBackend,
  fn: (client: StoreClient, server: StoreServer) => Promise<void>,
  serverOpts: StoreServerOptions = {},
  clientOpts: StoreClientOptions = {},
): Promise<void> {
  const server = new StoreServer(backend, { serving: true, ...serverOpts });
  const { port } = await server.listen("127.0.0.1", 0);
  const client = new StoreClient(`127.0.0.1:${port}`, { timeoutMs: 10_000, ...clientOpts });
  try {
    await fn(client, server);
  } finally {
    client.close();
    await server.close();
  }
}

async function collect(it: AsyncIterable<SeriesItem>) {
  const series: SeriesWithChunks[] = [];
  const warnings: string[] = [];
  for await (const x of it) {
    if ("warning" in x) warnings.push(x.warning);
    else series.push(x);
  }
  return { series, warnings };
}

function req(matchers: Matcher[], extra: Partial<SeriesRequest> = {}): SeriesRequest {
  return { minTime: 0, maxTime: 10_000, matchers, ...extra };
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "Series streams matching series sorted, with external labels attached and chunks intact",
  opts,
  async () => {
    const mem = new MemoryBackend(fixtureSeries());
    await withStore(withExternalLabels(mem, EXT), async (client) => {
      const { series } = await collect(
        client.series(req([eq("__name__", "up"), eq("job", "api")])),
      );
      assertEquals(series.map((s) => s.labels), [
        ["__name__", "up", "cluster", "eu1", "instance", "i1", "job", "api", "replica", "a"],
        ["__name__", "up", "cluster", "eu1", "instance", "i2", "job", "api", "replica", "a"],
      ]);
      assertEquals(series[0].chunks.length, 2);
      const c = series[0].chunks[1];
      assertEquals([c.minTime, c.maxTime, c.encoding], [1000, 1999, ChunkEncoding.XOR]);
      assertEquals(new TextDecoder().decode(c.data), "__name__,up,instance,i1,job,api#1");
      // the external-label matcher was removed before reaching the backend
      const r2 = await collect(client.series(req([eq("cluster", "eu1"), re("job", "web|api")])));
      assertEquals(r2.series.length, 4);
      assertEquals(mem.lastSeriesRequest!.matchers.map(String), ['job=~"web|api"']);
    });
  },
);

Deno.test("Series honours the time range and skip_chunks", opts, async () => {
  const mem = new MemoryBackend(fixtureSeries());
  await withStore(withExternalLabels(mem, EXT), async (client) => {
    const late = await collect(client.series(req([eq("__name__", "up")], { minTime: 4000 })));
    assertEquals(late.series.map((s) => getLabel(s.labels, "instance")), ["i3"]);
    const skip = await collect(client.series(req([eq("__name__", "up")], { skipChunks: true })));
    assertEquals(skip.series.length, 3);
    assert(skip.series.every((s) => s.chunks.length === 0));
    assertEquals(mem.lastSeriesRequest!.skipChunks, true);
    const lim = await collect(client.series(req([eq("__name__", "up")], { limit: 2 })));
    assertEquals(lim.series.length, 2);
  });
});

Deno.test(
  "a matcher contradicting the external labels yields an empty stream, not an error",
  opts,
  async () => {
    const mem = new MemoryBackend(fixtureSeries());
    await withStore(withExternalLabels(mem, EXT), async (client) => {
      const r = await collect(client.series(req([eq("cluster", "us1"), eq("__name__", "up")])));
      assertEquals(r.series.length, 0);
      assertEquals(mem.lastSeriesRequest, null);
      const names = await client.labelNames({ start: 0, end: 1, matchers: [eq("cluster", "us1")] });
      assertEquals(names.names, []);
    });
  },
);

Deno.test(
  "Series with only external-label matchers fails with InvalidArgument and Thanos's message",
  opts,
  async () => {
    await withStore(withExternalLabels(new MemoryBackend(fixtureSeries()), EXT), async (client) => {
      const err = await assertRejects(
        () => collect(client.series(req([eq("cluster", "eu1")]))),
        GrpcError,
      );
      assertEquals((err as GrpcError).code, GrpcStatus.INVALID_ARGUMENT);
      assertEquals((err as GrpcError).details, NO_MATCHERS_MESSAGE);
      // a regex RE2 rejects, sent as raw bytes (our Matcher would refuse to build it)
      const channel = new GrpcChannel(client.address);
      try {
        const badRegex = new Uint8Array([0x1a, 8, 0x08, 2, 0x12, 1, 0x61, 0x1a, 1, 0x28]);
        const bad = await assertRejects(
          () => channel.unary("/thanos.Store/Series", badRegex),
          GrpcError,
        );
        assertEquals((bad as GrpcError).code, GrpcStatus.INVALID_ARGUMENT);
      } finally {
        channel.close();
      }
    });
  },
);

Deno.test(
  "without_replica_labels drops the replica label; output stays sorted when labels extend others",
  opts,
  async () => {
    // {a} and {a, b} – attaching cluster="x" would put {a,b,cluster} before {a,cluster}
    const mem = new MemoryBackend([
      makeSeries(["__name__", "m"], [[0, 1]]),
      makeSeries(["__name__", "m", "b", "1"], [[0, 1]]),
      makeSeries(["__name__", "m", "d", "1"], [[0, 1]]),
    ]);
    await withStore(withExternalLabels(mem, ["c", "x", "replica", "r1"]), async (client) => {
      const { series } = await collect(
        client.series(req([eq("__name__", "m")], { withoutReplicaLabels: ["replica"] })),
      );
      const got = series.map((s) => s.labels);
      assertEquals(got, [
        ["__name__", "m", "b", "1", "c", "x"],
        ["__name__", "m", "c", "x"],
        ["__name__", "m", "c", "x", "d", "1"],
      ]);
      for (let i = 1; i < got.length; i++) assert(compareLabels(got[i - 1], got[i]) < 0);
    });
  },
);

Deno.test(
  "a series carrying an external label name gets the external value and is re-sorted",
  opts,
  async () => {
    const mem = new MemoryBackend([
      makeSeries(["__name__", "m", "c", "a", "z", "2"], [[0, 1]]),
      makeSeries(["__name__", "m", "c", "b", "z", "1"], [[0, 1]]),
    ]);
    await withStore(withExternalLabels(mem, ["c", "x"]), async (client) => {
      const { series } = await collect(client.series(req([eq("__name__", "m")])));
      assertEquals(series.map((s) => s.labels), [
        ["__name__", "m", "c", "x", "z", "1"],
        ["__name__", "m", "c", "x", "z", "2"],
      ]);
    });
  },
);

Deno.test(
  "LabelNames and LabelValues include external labels and honour replica removal",
  opts,
  async () => {
    await withStore(withExternalLabels(new MemoryBackend(fixtureSeries()), EXT), async (client) => {
      const names = await client.labelNames({ start: 0, end: 10_000, matchers: [] });
      assertEquals(names.names, ["__name__", "cluster", "instance", "job", "replica"]);
      const noReplica = await client.labelNames({
        start: 0,
        end: 10_000,
        matchers: [eq("job", "web")],
        withoutReplicaLabels: ["replica"],
      });
      assertEquals(noReplica.names, ["__name__", "cluster", "instance", "job"]);
      const jobs = await client.labelValues({ label: "job", start: 0, end: 10_000, matchers: [] });
      assertEquals(jobs.values, ["api", "web"]);
      const inst = await client.labelValues({
        label: "instance",
        start: 0,
        end: 10_000,
        matchers: [eq("job", "api"), eq("cluster", "eu1")],
      });
      assertEquals(inst.values, ["i1", "i2"]);
      const cluster = await client.labelValues({
        label: "cluster",
        start: 0,
        end: 10_000,
        matchers: [],
      });
      assertEquals(cluster.values, ["eu1"]);
      const none = await client.labelValues({
        label: "cluster",
        start: 0,
        end: 10_000,
        matchers: [eq("job", "nope")],
      });
      assertEquals(none.values, []);
      const replica = await client.labelValues({
        label: "replica",
        start: 0,
        end: 10_000,
        matchers: [],
        withoutReplicaLabels: ["replica"],
      });
      assertEquals(replica.values, []);
      const empty = await assertRejects(
        () => client.labelValues({ label: "", start: 0, end: 1, matchers: [] }),
        GrpcError,
      );
      assertEquals((empty as GrpcError).code, GrpcStatus.INVALID_ARGUMENT);
    });
  },
);

Deno.test(
  "Info and legacy Store/Info describe the store; Info fails until the server is ready",
  opts,
  async () => {
    const mem = new MemoryBackend(fixtureSeries());
    mem.info_ = { componentType: "sidecar", labelSets: [], minTime: 1000, maxTime: INT64_MAX };
    await withStore(withExternalLabels(mem, EXT), async (client, server) => {
      const info = await client.info();
      assertEquals(info.componentType, "sidecar");
      assertEquals(info.labelSets, [EXT]);
      assertEquals([info.minTime, info.maxTime], [1000, INT64_MAX]);
      assertEquals([info.storeApi, info.supportsWithoutReplicaLabels], [true, true]);
      const legacy = await client.legacyInfo();
      assertEquals(legacy.componentType, "sidecar");
      assertEquals(legacy.labelSets, [EXT]);
      assertEquals(legacy.maxTime, INT64_MAX);
      server.setServing(false);
      const err = await assertRejects(() => client.info(), GrpcError);
      assertEquals((err as GrpcError).code, GrpcStatus.UNAVAILABLE);
    });
  },
);

Deno.test(
  "health reports NOT_SERVING until setServing(true), then SERVING; Watch streams changes",
  opts,
  async () => {
    await withStore(new MemoryBackend([]), async (client, server) => {
      server.setServing(false);
      assertEquals(await client.health(), ServingStatus.NOT_SERVING);
      assertEquals(await client.health("thanos.Store"), ServingStatus.NOT_SERVING);
      const unknown = await assertRejects(() => client.health("nope"), GrpcError);
      assertEquals((unknown as GrpcError).code, GrpcStatus.NOT_FOUND);

      // Watch over a raw HTTP/2 stream: first NOT_SERVING, then SERVING after the switch
      const session = http2.connect(`http://${client.address}`);
      try {
        const stream = session.request({
          ":method": "POST",
          ":path": "/grpc.health.v1.Health/Watch",
          "content-type": "application/grpc",
          te: "trailers",
        });
        stream.end(new Uint8Array([0, 0, 0, 0, 0]));
        const seen: number[] = [];
        for await (const chunk of stream) {
          const b = chunk as Uint8Array;
          for (let p = 0; p + 5 <= b.length; p += 5 + b[p + 4]) seen.push(b[p + 6] ?? 0);
          if (seen.length === 1) server.setServing(true);
          if (seen.length >= 2) break;
        }
        stream.close(http2.constants.NGHTTP2_CANCEL);
        assertEquals(seen, [ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
      } finally {
        session.destroy();
      }
      assertEquals(await client.health(), ServingStatus.SERVING);
    }, { serving: false });
  },
);

Deno.test(
  "snappy compression works in both directions and for a raw Go-style snappy request",
  opts,
  async () => {
    await withStore(
      withExternalLabels(new MemoryBackend(fixtureSeries()), EXT),
      async (client) => {
        // StoreClient compressing requests; the server answers in snappy too
        const { series } = await collect(client.series(req([eq("__name__", "up")])));
        assertEquals(series.length, 3);
        assertEquals(
          (await client.labelValues({ label: "job", start: 0, end: 1e4, matchers: [] })).values,
          [
            "api",
            "web",
          ],
        );

        // a request as grpc-go sends it with UseCompressor("snappy"): compressed flag + framed snappy
        const session = http2.connect(`http://${client.address}`);
        try {
          const body = snappyFrameEncode(encodeSeriesRequest(req([eq("job", "web")])));
          const frame = new Uint8Array(5 + body.length);
          frame[0] = 1;
          new DataView(frame.buffer).setUint32(1, body.length);
          frame.set(body, 5);
          const stream = session.request({
            ":method": "POST",
            ":path": "/thanos.Store/Series",
            "content-type": "application/grpc",
            te: "trailers",
            "grpc-encoding": "snappy",
            "grpc-accept-encoding": "snappy,gzip",
          });
          let headers: http2.IncomingHttpHeaders = {};
          let trailers: http2.IncomingHttpHeaders = {};
          stream.on("response", (h) => headers = h);
          stream.on("trailers", (t) => trailers = t);
          stream.end(frame);
          const parts: Uint8Array[] = [];
          for await (const c of stream) parts.push(c as Uint8Array);
          const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let o = 0;
          for (const p of parts) {
            all.set(p, o);
            o += p.length;
          }
          assertEquals(headers["grpc-encoding"], "snappy");
          assertEquals(trailers["grpc-status"], "0");
          assertEquals(all[0], 1, "response message is flagged compressed");
          const len = new DataView(all.buffer).getUint32(1);
          const res = decodeSeriesResponse(snappyFrameDecode(all.subarray(5, 5 + len)));
          assert(res !== null && "series" in res);
          assertEquals(getLabel(res.series.labels, "instance"), "i3");
        } finally {
          session.destroy();
        }
      },
      {},
      { compression: "snappy" },
    );
  },
);

Deno.test(
  "cancelling the client stops the server stream: the backend sees the abort signal",
  opts,
  async () => {
    const endless = new EndlessBackend();
    await withStore(endless, async (client) => {
      const ac = new AbortController();
      let received = 0;
      const err = await assertRejects(async () => {
        for await (const x of client.series(req([eq("__name__", "endless")]), ac.signal)) {
          if (!("warning" in x)) received++;
          if (received === 100) ac.abort();
        }
      }, GrpcError);
      assertEquals((err as GrpcError).code, GrpcStatus.CANCELLED);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reason = await Promise.race([
        endless.aborted,
        new Promise((_r, rej) =>
          timer = setTimeout(() => rej(new Error("server never saw the abort")), 5000)
        ),
      ]);
      clearTimeout(timer);
      assert(reason instanceof GrpcError);
      // backpressure: the server did not run far ahead of the 100 series the client read
      assert(endless.produced < 200_000, `server produced ${endless.produced} series`);
    });
  },
);

Deno.test("a deadline cancels a slow Series call with DeadlineExceeded", opts, async () => {
  const endless = new EndlessBackend();
  await withStore(
    endless,
    async (client) => {
      const err = await assertRejects(async () => {
        for await (const _ of client.series(req([eq("__name__", "endless")]))) {
          await new Promise((r) => setTimeout(r, 5));
        }
      }, GrpcError);
      assertEquals((err as GrpcError).code, GrpcStatus.DEADLINE_EXCEEDED);
    },
    {},
    { timeoutMs: 300 },
  );
});

Deno.test(
  "exceeding the series or samples limit fails with ResourceExhausted naming the limit",
  opts,
  async () => {
    const mem = new MemoryBackend(fixtureSeries());
    await withStore(withExternalLabels(mem, EXT), async (client) => {
      const err = await assertRejects(
        () => collect(client.series(req([eq("__name__", "up")]))),
        GrpcError,
      );
      assertEquals((err as GrpcError).code, GrpcStatus.RESOURCE_EXHAUSTED);
      assertEquals((err as GrpcError).details, "exceeded series limit: limit 2 violated (got 3)");
    }, { limits: { seriesLimit: 2 } });
    await withStore(withExternalLabels(mem, EXT), async (client) => {
      const err = await assertRejects(
        () => collect(client.series(req([eq("job", "api")]))),
        GrpcError,
      );
      assertEquals((err as GrpcError).code, GrpcStatus.RESOURCE_EXHAUSTED);
      assert((err as GrpcError).details.includes("limit 240"), (err as GrpcError).details);
    }, { limits: { samplesLimit: 240 } });
  },
);

Deno.test(
  "large series are split over frames and batches are unpacked; the client merges them back",
  opts,
  async () => {
    const many = makeSeries(
      ["__name__", "big"],
      Array.from({ length: 50 }, (_, i) => [i * 100, i * 100 + 99] as [number, number]),
    );
    const mem = new MemoryBackend([many, ...fixtureSeries()]);
    mem.warnings = ["partial: one block unreadable"];
    await withStore(mem, async (client) => {
      const r = await collect(client.series(req([re("__name__", "big|up")])));
      assertEquals(r.warnings, ["partial: one block unreadable"]);
      assertEquals(r.series.length, 4);
      assertEquals(r.series[0].chunks.length, 50);
      assertEquals(
        r.series[0].chunks.map((c) => new TextDecoder().decode(c.data)),
        many.chunks.map((c) => new TextDecoder().decode(c.data)),
      );
      const b = await collect(
        client.series(req([re("__name__", "big|up")], { responseBatchSize: 2 })),
      );
      assertEquals(b.series.map((s) => s.labels), r.series.map((s) => s.labels));
    }, { maxFrameBytes: 64, flushBytes: 256 });
  },
);

Deno.test("an unknown method answers Unimplemented", opts, async () => {
  await withStore(new MemoryBackend([]), async (client) => {
    const session = http2.connect(`http://${client.address}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/thanos.Rules/Rules",
        "content-type": "application/grpc",
      });
      let headers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => headers = h);
      stream.end(new Uint8Array(5));
      for await (const _ of stream) { /* drain */ }
      assertEquals(headers["grpc-status"], String(GrpcStatus.UNIMPLEMENTED));
    } finally {
      session.destroy();
    }
  });
});

const TLS_SERVER = { certFile: TESTDATA + "server.crt", keyFile: TESTDATA + "server.key" };

Deno.test("TLS: server-only TLS with a client that verifies the server's CA", opts, async () => {
  await withStore(
    withExternalLabels(new MemoryBackend(fixtureSeries()), EXT),
    async (client) => {
      const { series } = await collect(client.series(req([eq("job", "web")])));
      assertEquals(series.length, 1);
      assertEquals((await client.info()).componentType, "sidecar");
    },
    { tls: TLS_SERVER },
    { tls: { caFile: TESTDATA + "ca.crt", serverName: "localhost" } },
  );
});

Deno.test(
  "TLS: mutual TLS accepts a client certificate from the CA and refuses a client without one",
  opts,
  async () => {
    const backend = withExternalLabels(new MemoryBackend(fixtureSeries()), EXT);
    const server = new StoreServer(backend, {
      serving: true,
      tls: { ...TLS_SERVER, clientCaFile: TESTDATA + "ca.crt" },
    });
    const { port } = await server.listen("127.0.0.1", 0);
    const good = new StoreClient(`127.0.0.1:${port}`, {
      timeoutMs: 5000,
      tls: {
        caFile: TESTDATA + "ca.crt",
        certFile: TESTDATA + "client.crt",
        keyFile: TESTDATA + "client.key",
        serverName: "localhost",
      },
    });
    const anonymous = new StoreClient(`127.0.0.1:${port}`, {
      timeoutMs: 5000,
      tls: { caFile: TESTDATA + "ca.crt", serverName: "localhost" },
    });
    try {
      const names = await good.labelNames({ start: 0, end: 1e4, matchers: [] });
      assertEquals(names.names.includes("cluster"), true);
      const err = await assertRejects(() =>
        anonymous.labelNames({ start: 0, end: 1e4, matchers: [] })
      );
      assert(err instanceof GrpcError && err.code === GrpcStatus.UNAVAILABLE, String(err));
    } finally {
      good.close();
      anonymous.close();
      await server.close();
    }
  },
);

/** The buffers a Series call over `count` series of 600-byte chunks hands its HTTP/2 stream. */
async function seriesWrites(
  responseBatchSize: number,
  count = 200,
): Promise<{ writes: { data: Uint8Array; spare: boolean }[]; series: number }> {
  const series = Array.from({ length: count }, (_, i) => ({
    labels: ["__name__", "m", "i", String(i).padStart(4, "0")],
    chunks: [{ minTime: 0, maxTime: 10, encoding: ChunkEncoding.XOR, data: new Uint8Array(600) }],
  }));
  const backend = new MemoryBackend(series);
  const server = new StoreServer({
    ...backend,
    info: () => backend.info(),
    series: (r, s) => backend.series(r, s),
    // one backend batch, as the bucket store hands over a block's series
    seriesBatches: async function* () {
      yield series;
    },
    labelNames: (r) => backend.labelNames(r),
    labelValues: (r) => backend.labelValues(r),
  }, { serving: true });
  const writes: { data: Uint8Array; spare: boolean }[] = [];
  let ended: (() => void) | null = null;
  const done = new Promise<void>((r) => ended = r);
  // the call's HTTP/2 stream, as h2server.ts's H2Stream presents it to the gRPC layer
  const stream = {
    headers: {
      ":method": "POST",
      ":path": "/thanos.Store/Series",
      "content-type": "application/grpc",
    },
    closed: false,
    onData: (_: Uint8Array) => {},
    onEnd: () => {},
    onClose: () => {},
    respond: () => {},
    write: (data: Uint8Array, spare = false) => {
      writes.push({ data, spare });
      return Promise.resolve();
    },
    end: () => ended!(),
    reset: () => ended!(),
  };
  try {
    (server.grpc as unknown as { onStream(s: typeof stream): void }).onStream(stream);
    const body = encodeSeriesRequest(req([eq("__name__", "m")], { responseBatchSize }));
    const framed = new Uint8Array(5 + body.length);
    new DataView(framed.buffer).setUint32(1, body.length);
    framed.set(body, 5);
    stream.onData(framed);
    stream.onEnd();
    await done;
  } finally {
    await server.close();
  }
  // the bytes are the answer: its series in gRPC frames
  let got = 0;
  for (const w of writes) {
    const dv = new DataView(w.data.buffer, w.data.byteOffset, w.data.length);
    for (let o = 0; o < w.data.length;) {
      const len = dv.getUint32(o + 1);
      const r = decodeSeriesResponse(w.data.subarray(o + 5, o + 5 + len));
      if (r !== null && "series" in r) got++;
      if (r !== null && "batch" in r) got += (r as { batch: unknown[] }).batch.length;
      o += 5 + len;
    }
  }
  return { writes, series: got };
}

function assertSpare(writes: { data: Uint8Array; spare: boolean }[]): void {
  for (const w of writes) {
    assert(w.spare, "a frame buffer handed over without its spare room");
    assert(w.data.byteOffset >= 256, `${w.data.byteOffset} bytes free before the frames`);
    assert(w.data.buffer.byteLength - w.data.byteOffset - w.data.length >= 64);
  }
}

Deno.test(
  "a Series answer's frame buffers go to the transport as spare, with room for its HTTP/2 frames",
  opts,
  async () => {
    // 200 series of about 640 bytes: two buffers at the 64 KiB flush size
    const { writes, series } = await seriesWrites(0);
    assertEquals(series, 200);
    assertEquals(writes.length, 2);
    assertSpare(writes);
  },
);

Deno.test(
  "a small Series answer goes out in a buffer lent by the HTTP/2 layer, with room for its frames",
  opts,
  async () => {
    for (const batch of [0, 64]) {
      const { writes, series } = await seriesWrites(batch, 3);
      assertEquals(series, 3);
      assertEquals(writes.length, 1);
      assertEquals(writes[0].data.buffer.byteLength, SPARE_BUFFER_BYTES, `batch ${batch}`);
      assertSpare(writes);
    }
  },
);

Deno.test(
  "batch frames share a buffer until it holds the flush size, not one buffer per batch",
  opts,
  async () => {
    // batches of 64 series (about 41 KB each): 64 + 64 in the first buffer, 64 + 8 in the second
    const { writes, series } = await seriesWrites(64);
    assertEquals(series, 200);
    assertEquals(writes.map((w) => w.data.length >= 64 << 10), [true, false]);
    assertSpare(writes);
  },
);

/**
 * A TCP proxy to `port` that reads the server's bytes slowly (16 KiB a millisecond), so the
 * server's socket writes stay pending while its calls go on.
 */
function slowReadingProxy(port: number): { port: number; close: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn, slow: boolean) => {
    const buf = new Uint8Array(slow ? 16 << 10 : 64 << 10);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        for (let o = 0; o < n;) o += await to.write(buf.subarray(o, n));
        if (slow) await new Promise((r) => setTimeout(r, 1));
      }
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* closed */ }
  };
  void (async () => {
    try {
      for await (const c of l) {
        const s = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.push(c, s);
        void pipe(c, s, false);
        void pipe(s, c, true);
      }
    } catch { /* listener closed */ }
  })();
  return {
    port: (l.addr as Deno.NetAddr).port,
    close: () => {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test(
  "two concurrent Series calls on one connection, read slowly, each get their own bytes intact",
  opts,
  async () => {
    // small flushes: every frame buffer is one the HTTP/2 layer lends and takes back once
    // written, cycling between the two calls (a write held by the socket while its buffer is
    // lent again: h2_batching_test.ts)
    const series: SeriesWithChunks[] = [];
    for (const job of ["a", "b"]) {
      for (let i = 0; i < 1500; i++) {
        // 1 KB of chunk bytes per series, distinct per series: a mixed-up buffer shows
        const data = Uint8Array.from({ length: 1000 }, (_, k) => (i * 7 + k + job.length) & 0xff);
        data[0] = job.charCodeAt(0);
        series.push({
          labels: ["__name__", "m", "i", String(i).padStart(5, "0"), "job", job],
          chunks: [{ minTime: 0, maxTime: 999, encoding: ChunkEncoding.XOR, data }],
        });
      }
    }
    const mem = new MemoryBackend(series);
    const server = new StoreServer(mem, { serving: true, flushBytes: 3000 });
    const { port } = await server.listen("127.0.0.1", 0);
    const proxy = slowReadingProxy(port);
    const client = new StoreClient(`127.0.0.1:${proxy.port}`, { timeoutMs: 30_000 });
    try {
      for (let round = 0; round < 2; round++) {
        const [a, b] = await Promise.all(
          ["a", "b"].map((job) => collect(client.series(req([eq("job", job)])))),
        );
        for (const [got, job] of [[a, "a"], [b, "b"]] as const) {
          const want = mem.series_.filter((s) => getLabel(s.labels, "job") === job);
          assertEquals(got.series.length, want.length, `round ${round}, job ${job}`);
          assertEquals(got.series, want, `round ${round}, job ${job}`);
        }
      }
    } finally {
      client.close();
      proxy.close();
      await server.close();
    }
  },
);
