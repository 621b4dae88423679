// Receive ingestion benchmarks (issue 14), printed, never asserted:
//   deno run -A bench/receive_bench.ts [series=10000] [requests=200] [seriesPerRequest=2000]
// Pre-encoded, snappy-compressed remote write requests shaped like Prometheus's (one sample per
// series per request, `seriesPerRequest` series each, timestamps advancing by 15s per round):
// - decode only (snappy + protobuf + validation): requests/s, samples/s, MB/s of bodies
// - decode + MultiTSDB.write (append + commit to the WAL) with fsync "none" (Prometheus's own
//   durability) and "per-commit" (group commit), one writer and 4 concurrent writers
// The end-to-end comparison with Prometheus over HTTP is a separate load generator.

import { Logger } from "../logging/log.ts";
import { Registry } from "../metrics/registry.ts";
import { MultiTSDB } from "../receive/multitsdb.ts";
import {
  decodeWriteRequest,
  encodeWriteRequest,
  type PromSeries,
} from "../receive/remote_write.ts";
import { snappyBlockCompress } from "../storeapi/snappy.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import type { FsyncPolicy } from "../tsdb/head.ts";
import type { Labels } from "../tsdb/series.ts";

const SERIES = Number(Deno.args[0] ?? 10_000);
const REQUESTS = Number(Deno.args[1] ?? 200);
const PER_REQUEST = Math.min(Number(Deno.args[2] ?? 2000), SERIES);

function labelsOf(n: number): Labels[] {
  return Array.from({ length: n }, (_, i) =>
    labelsFromObject({
      __name__: `bench_metric_${i % 50}`,
      instance: `host-${i % 500}:9100`,
      job: "node",
      mode: `m${Math.floor(i / 25_000)}`,
      series: String(i),
    }));
}

/** Request r carries series [r*PER_REQUEST, …) mod SERIES at the time of its round. */
function buildBodies(): { bodies: Uint8Array[]; samples: number; bytes: number } {
  const all = labelsOf(SERIES);
  const perRound = Math.ceil(SERIES / PER_REQUEST);
  const bodies: Uint8Array[] = [];
  let bytes = 0;
  for (let r = 0; r < REQUESTS; r++) {
    const round = Math.floor(r / perRound);
    const first = (r % perRound) * PER_REQUEST;
    const series: PromSeries[] = [];
    for (let i = 0; i < PER_REQUEST && first + i < SERIES; i++) {
      series.push({
        labels: all[first + i],
        timestamps: Float64Array.of(1_700_000_000_000 + round * 15_000),
        values: Float64Array.of(Math.sin(i + round) * 1000),
      });
    }
    const b = snappyBlockCompress(encodeWriteRequest({ series }));
    bytes += b.length;
    bodies.push(b);
  }
  let samples = 0;
  for (const b of bodies) samples += decodeWriteRequest(b).series.length;
  return { bodies, samples, bytes };
}

function fmt(n: number): string {
  return n >= 1e6
    ? `${(n / 1e6).toFixed(2)}M`
    : n >= 1e3
    ? `${(n / 1e3).toFixed(1)}k`
    : n.toFixed(0);
}

const { bodies, samples, bytes } = buildBodies();
console.log(
  `receive bench: ${SERIES} series, ${REQUESTS} requests × ≤${PER_REQUEST} series ` +
    `(${samples} samples, ${(bytes / 1e6).toFixed(1)} MB compressed)`,
);

// decode only (warm up once)
for (const b of bodies.slice(0, 10)) decodeWriteRequest(b);
{
  const t0 = performance.now();
  let n = 0;
  for (const b of bodies) n += decodeWriteRequest(b).series.length;
  const s = (performance.now() - t0) / 1000;
  console.log(
    `decode only:                 ${fmt(REQUESTS / s)} req/s  ${fmt(n / s)} samples/s  ` +
      `${(bytes / 1e6 / s).toFixed(1)} MB/s`,
  );
}

async function ingest(fsync: FsyncPolicy, writers: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "receive-bench-" });
  const m = await MultiTSDB.open({
    dir,
    tenantLabelName: "tenant_id",
    defaultTenant: "default-tenant",
    externalLabels: ["replica", "bench"],
    retentionMs: 0,
    blockRangeMs: 7_200_000,
    walCompression: false,
    logger: new Logger("error"),
    registry: new Registry(),
    fsync,
  });
  try {
    const lat: number[] = [];
    let next = 0;
    let appended = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: writers }, async () => {
      while (next < bodies.length) {
        const b = bodies[next++];
        const s0 = performance.now();
        const req = decodeWriteRequest(b);
        const out = await m.write("default-tenant", req.series);
        appended += out.appended;
        lat.push(performance.now() - s0);
      }
    }));
    const s = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const p99 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))];
    console.log(
      `decode+write fsync=${fsync.mode.padEnd(10)} writers=${writers}: ` +
        `${fmt(appended / s)} samples/s  p99 ${p99.toFixed(2)} ms/request  ` +
        `(${appended} appended)`,
    );
  } finally {
    await m.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const fsync of [{ mode: "none" }, { mode: "per-commit" }] as FsyncPolicy[]) {
  for (const writers of [1, 4]) await ingest(fsync, writers);
}
