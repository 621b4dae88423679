// Remote read as the sidecar speaks it: the streamed framing with CRC checks (fake server) and
// the SAMPLES fallback, then a real Prometheus answering both ways with the same samples.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { createBlocksFromOpenMetrics, PROMTOOL } from "../helpers/promtool.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { LabPrometheus } from "../helpers/sidecar_lab.ts";
import { PrometheusClient } from "../../promclient/client.ts";
import {
  decodeChunkedReadResponse,
  encodeReadRequest,
  ReadResponseType,
  remoteRead,
  RemoteReadError,
  STREAMED_CONTENT_TYPE,
} from "../../promclient/remote_read.ts";
import { snappyBlockCompress, snappyBlockUncompress } from "../../storeapi/snappy.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { crc32c } from "../../tsdb/crc32c.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../../tsdb/series.ts";
import { isStaleAt } from "../../tsdb/value.ts";
import { ProtoReader, ProtoWriter } from "../../storeapi/wire.ts";

function xorChunk(ts: number[], vs: number[]): Uint8Array {
  const a = new XorAppender();
  for (let i = 0; i < ts.length; i++) a.append(ts[i], vs[i]);
  return a.bytes();
}

function chunkedResponse(series: { labels: string[]; chunks: Uint8Array[] }[]): Uint8Array {
  const w = ProtoWriter.growable();
  for (const s of series) {
    w.message(1, (m) => {
      for (let i = 0; i < s.labels.length; i += 2) {
        m.message(1, (l) => {
          l.stringField(1, s.labels[i]);
          l.stringField(2, s.labels[i + 1]);
        });
      }
      for (const c of s.chunks) {
        m.message(2, (x) => {
          x.int64Field(1, 1000);
          x.int64Field(2, 2000);
          x.uintField(3, 1);
          x.bytesField(4, c);
        });
      }
    });
  }
  return w.finish().slice();
}

function frame(msg: Uint8Array, corrupt = false): Uint8Array {
  const w = ProtoWriter.growable();
  w.varint(msg.length);
  const head = w.finish();
  const out = new Uint8Array(head.length + 4 + msg.length);
  out.set(head);
  const crc = crc32c(msg) ^ (corrupt ? 1 : 0);
  new DataView(out.buffer).setUint32(head.length, crc >>> 0);
  out.set(msg, head.length + 4);
  return out;
}

async function withFakePrometheus(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (client: PrometheusClient) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    handler,
  );
  const client = new PrometheusClient(`http://127.0.0.1:${server.addr.port}`);
  try {
    await fn(client);
  } finally {
    client.close();
    ac.abort();
    await server.finished;
  }
}

async function collect(it: AsyncIterable<SeriesWithChunks>): Promise<SeriesWithChunks[]> {
  const out: SeriesWithChunks[] = [];
  for await (const s of it) out.push(s);
  return out;
}

const UP = [new Matcher(MatchType.Equal, "__name__", "up")];

Deno.test("ReadRequest carries the query, matchers, hints and accepted response types", () => {
  const buf = encodeReadRequest({
    start: -5,
    end: 9000,
    matchers: [new Matcher(MatchType.Regexp, "job", "a|b")],
    hints: { stepMs: 30_000, func: "rate", rangeMs: 60_000, by: true, grouping: ["job"] },
  }, [ReadResponseType.STREAMED_XOR_CHUNKS, ReadResponseType.SAMPLES]);
  const r = new ProtoReader(buf, "ReadRequest");
  assertEquals(r.tag(), 0x0a);
  const q = r.sub("Query");
  assertEquals([q.tag(), q.int64()], [0x08, -5]);
  assertEquals([q.tag(), q.int64()], [0x10, 9000]);
  assertEquals(q.tag(), 0x1a);
  const m = q.sub("Matcher");
  assertEquals([m.tag(), m.varint(), m.tag(), m.string(), m.tag(), m.string()], [
    0x08,
    2,
    0x12,
    "job",
    0x1a,
    "a|b",
  ]);
  assertEquals(q.tag(), 0x22);
  q.sub("Hints");
  assertEquals(r.tag(), 0x12);
  const types: number[] = [];
  r.packedVarints(2, types);
  assertEquals(types, [1, 0]);
});

Deno.test("streamed frames are CRC-checked and a series split over frames comes out once", async () => {
  const c1 = xorChunk([1000, 2000], [1, 2]);
  const c2 = xorChunk([3000, 4000], [3, 4]);
  const body = [
    frame(chunkedResponse([{ labels: ["__name__", "up", "job", "a"], chunks: [c1] }])),
    frame(chunkedResponse([{ labels: ["__name__", "up", "job", "a"], chunks: [c2] }])),
    frame(chunkedResponse([{ labels: ["__name__", "up", "job", "b"], chunks: [c1] }])),
  ];
  await withFakePrometheus(() => {
    // one byte per network chunk: frame parsing must cope with arbitrary splits
    const all = new Uint8Array(body.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of body) {
      all.set(b, o);
      o += b.length;
    }
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i >= all.length) c.close();
        else c.enqueue(all.slice(i, i += 7));
      },
    });
    return new Response(stream, { headers: { "content-type": STREAMED_CONTENT_TYPE } });
  }, async (client) => {
    const got = await collect(remoteRead(client, { start: 0, end: 5000, matchers: UP }));
    assertEquals(got.map((s) => s.labels), [
      ["__name__", "up", "job", "a"],
      ["__name__", "up", "job", "b"],
    ]);
    assertEquals(got[0].chunks.map((c) => c.data), [c1, c2]);
    assertEquals(got[0].chunks[0].encoding, ChunkEncoding.XOR);
  });
});

Deno.test("a streamed frame with a bad CRC or a truncated body is an error, not data", async () => {
  const msg = chunkedResponse([{ labels: ["__name__", "up"], chunks: [xorChunk([1], [1])] }]);
  await withFakePrometheus(
    () =>
      new Response(frame(msg, true) as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": STREAMED_CONTENT_TYPE },
      }),
    async (client) => {
      const e = await assertRejects(
        () => collect(remoteRead(client, { start: 0, end: 5, matchers: UP })),
        RemoteReadError,
      );
      assert(e.message.includes("CRC-32C mismatch"), e.message);
    },
  );
  await withFakePrometheus(
    () =>
      new Response(frame(msg).slice(0, 10), {
        headers: { "content-type": STREAMED_CONTENT_TYPE },
      }),
    async (client) => {
      const e = await assertRejects(
        () => collect(remoteRead(client, { start: 0, end: 5, matchers: UP })),
        RemoteReadError,
      );
      assert(e.message.includes("truncated"), e.message);
    },
  );
});

Deno.test("a SAMPLES answer is re-encoded into sorted XOR chunks of 120 samples, stale markers kept", async () => {
  const w = ProtoWriter.growable();
  const series = [{ name: "zeta", n: 250 }, { name: "alpha", n: 3 }];
  w.message(1, (qr) => {
    for (const s of series) {
      qr.message(1, (ts) => {
        ts.message(1, (l) => {
          l.stringField(1, "__name__");
          l.stringField(2, s.name);
        });
        for (let i = 0; i < s.n; i++) {
          ts.message(2, (smp) => {
            const bits = new DataView(new ArrayBuffer(8));
            bits.setFloat64(0, i === 5 ? NaN : i * 1.5, true);
            if (i === 5) {
              // exact stale-marker bits, little endian
              bits.setUint32(0, 0x00000002, true);
              bits.setUint32(4, 0x7ff00000, true);
            }
            smp.tag(1, 1);
            smp.raw(new Uint8Array(bits.buffer));
            smp.int64Field(2, 1000 * (i + 1));
          });
        }
      });
    }
  });
  const body = snappyBlockCompress(w.finish().slice());
  await withFakePrometheus(async (req) => {
    // the request is a snappy-compressed ReadRequest
    const raw = snappyBlockUncompress(new Uint8Array(await req.arrayBuffer()), 1 << 20);
    assert(raw.length > 0);
    return new Response(body as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "application/x-protobuf", "content-encoding": "snappy" },
    });
  }, async (client) => {
    const got = await collect(remoteRead(client, { start: 0, end: 1e9, matchers: UP }, {
      accepted: [ReadResponseType.SAMPLES],
    }));
    assertEquals(got.map((s) => s.labels[1]), ["alpha", "zeta"]);
    const zeta = got[1];
    assertEquals(zeta.chunks.map((c) => decodeXorSamples(c.data).ts.length), [120, 120, 10]);
    assertEquals(zeta.chunks[0].minTime, 1000);
    assertEquals(zeta.chunks[2].maxTime, 250_000);
    const first = decodeXorSamples(zeta.chunks[0].data);
    assert(isStaleAt(first.vs, 5), "stale marker bits survive re-encoding");
    assertEquals(first.vs[6], 9);
  });
});

Deno.test("remote read errors carry Prometheus's status and message", async () => {
  await withFakePrometheus(
    () => new Response("exceeded sample limit", { status: 400 }),
    async (client) => {
      const e = await assertRejects(
        () => collect(remoteRead(client, { start: 0, end: 5, matchers: UP })),
        RemoteReadError,
      );
      assert(e.message.includes("HTTP 400") && e.message.includes("exceeded sample limit"));
    },
  );
});

Deno.test("decodeChunkedReadResponse returns chunk data as views of the frame (no copy)", () => {
  const c = xorChunk([5, 6], [1, 2]);
  const msg = chunkedResponse([{ labels: ["a", "b"], chunks: [c] }]);
  const out: SeriesWithChunks[] = [];
  decodeChunkedReadResponse(msg, out);
  assertEquals(out[0].chunks[0].data.buffer, msg.buffer);
});

e2eTest(
  "remote read from real Prometheus: streamed chunks and SAMPLES give the same samples",
  { peers: [PROMETHEUS, PROMTOOL] },
  async () => {
    const dirs = new TempDirs();
    let prom: LabPrometheus | undefined;
    try {
      const dir = await dirs.make();
      // backfill 3 series × 1h at 10s into blocks, ending 1h ago
      const end = Math.floor(Date.now() / 1000 / 3600) * 3600 - 3600;
      const lines: string[] = ["# TYPE rr_test gauge"];
      const want = new Map<string, [number, number][]>();
      for (const inst of ["a", "b", "c"]) want.set(inst, []);
      for (let t = end - 3600; t < end; t += 10) {
        for (const [k, inst] of ["a", "b", "c"].entries()) {
          const v = (t % 1000) * (k + 1) + 0.25;
          lines.push(`rr_test{inst="${inst}"} ${v} ${t}`);
          want.get(inst)!.push([t * 1000, v]);
        }
      }
      lines.push("# EOF", "");
      await Deno.writeTextFile(`${dir}/in.om`, lines.join("\n"));
      await createBlocksFromOpenMetrics(`${dir}/in.om`, `${dir}/data`, { quiet: true });
      prom = new LabPrometheus({ dataDir: `${dir}/data`, externalLabels: { site: "x" } });
      await prom.start();
      const client = new PrometheusClient(prom.url);
      try {
        const q = {
          start: (end - 7200) * 1000,
          end: end * 1000,
          matchers: [new Matcher(MatchType.Equal, "__name__", "rr_test")],
        };
        for (
          const accepted of [[ReadResponseType.STREAMED_XOR_CHUNKS], [ReadResponseType.SAMPLES]]
        ) {
          const got = await collect(remoteRead(client, q, { accepted }));
          assertEquals(got.length, 3);
          for (const s of got) {
            // Prometheus merges its external labels into remote-read series
            assertEquals(s.labels.slice(2), ["inst", s.labels[3], "site", "x"]);
            const samples: [number, number][] = [];
            for (const c of s.chunks) {
              const d = decodeXorSamples(c.data);
              for (let i = 0; i < d.ts.length; i++) samples.push([d.ts[i], d.vs[i]]);
            }
            assertEquals(samples, want.get(s.labels[3]), `series ${s.labels} via ${accepted}`);
          }
        }
      } finally {
        client.close();
      }
    } finally {
      await prom?.dispose();
      await dirs.cleanup();
    }
  },
);
