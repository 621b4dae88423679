// Range-read throughput and request counts of the FILESYSTEM bucket and the S3 bucket (against a
// local s3rver), through the full stack (retry/metrics wrapper, ByteSource). Prints figures only.
//
//   deno run -A bench/objstore_bench.ts [--size-mib=64] [--small-reads=2000] [--large-reads=64]

import { createBucket, parseBucketConfig } from "../objstore/config.ts";
import type { Bucket } from "../objstore/bucket.ts";
import { InstrumentedBucket } from "../objstore/instrumented.ts";
import { S3Bucket } from "../objstore/s3.ts";
import { bucketByteSource } from "../objstore/bytesource.ts";
import { s3ConfigYaml, startS3Server } from "../tests/helpers/s3.ts";

function arg(name: string, def: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
}

const SIZE = arg("size-mib", 64) * 1024 * 1024;
const SMALL_READS = arg("small-reads", 2000);
const LARGE_READS = arg("large-reads", 64);
const CONCURRENCY = arg("concurrency", 8);

function data(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) out[i] = i & 0xff;
  return out;
}

// Deterministic offsets so both backends read the same ranges.
function offsets(n: number, len: number, seed: number): number[] {
  let x = seed;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(x % (SIZE - len));
  }
  return out;
}

async function readAll(
  b: Bucket,
  name: string,
  offs: number[],
  len: number,
): Promise<{ secs: number; bytes: number }> {
  const src = await bucketByteSource(b, name, SIZE);
  let next = 0;
  let bytes = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < offs.length) {
      const o = offs[next++];
      bytes += (await src.read(o, len)).length;
    }
  }));
  return { secs: (performance.now() - start) / 1000, bytes };
}

interface Row {
  backend: string;
  workload: string;
  reads: number;
  mibPerSec: number;
  readsPerSec: number;
  requests: number;
}

async function benchBackend(
  label: string,
  b: Bucket,
  requests: () => number,
): Promise<Row[]> {
  const rows: Row[] = [];
  const t0 = performance.now();
  const r0 = requests();
  await b.upload("bench/chunks/000001", data(SIZE));
  const upSecs = (performance.now() - t0) / 1000;
  console.log(
    `${label}: upload ${SIZE / 1048576} MiB in ${upSecs.toFixed(2)}s ` +
      `(${(SIZE / 1048576 / upSecs).toFixed(1)} MiB/s, ${requests() - r0} requests)`,
  );
  const workloads: [string, number, number][] = [
    ["16KiB random", 16 * 1024, SMALL_READS],
    ["1MiB random", 1024 * 1024, LARGE_READS],
  ];
  for (const [name, len, n] of workloads) {
    const before = requests();
    const { secs, bytes } = await readAll(b, "bench/chunks/000001", offsets(n, len, 7), len);
    rows.push({
      backend: label,
      workload: name,
      reads: n,
      mibPerSec: bytes / 1048576 / secs,
      readsPerSec: n / secs,
      requests: requests() - before,
    });
  }
  await b.delete("bench/chunks/000001");
  return rows;
}

const rows: Row[] = [];
const dir = await Deno.makeTempDir({ prefix: "thanos-objstore-bench-" });
try {
  const fs = await createBucket(parseBucketConfig(`type: FILESYSTEM\nconfig: {directory: ${dir}}`));
  // The filesystem has no requests: count getRange calls on the provider instead.
  const inner = (fs as InstrumentedBucket).unwrapped;
  let fsCalls = 0;
  const origGetRange = inner.getRange.bind(inner);
  inner.getRange = (n, o, l, s) => {
    fsCalls++;
    return origGetRange(n, o, l, s);
  };
  rows.push(...await benchBackend("FILESYSTEM", fs, () => fsCalls));
  await fs.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}

const srv = await startS3Server();
try {
  const s3 = await createBucket(parseBucketConfig(s3ConfigYaml(srv.endpoint)));
  const inner = (s3 as InstrumentedBucket).unwrapped as S3Bucket;
  rows.push(...await benchBackend("S3 (s3rver)", s3, () => inner.requests));
  await s3.close();
} finally {
  await srv.stop();
}

console.log(
  `\nrange reads over a ${SIZE / 1048576} MiB object, ${CONCURRENCY} concurrent readers:`,
);
console.log("backend      workload       reads   MiB/s    reads/s  requests");
for (const r of rows) {
  console.log(
    `${r.backend.padEnd(12)} ${r.workload.padEnd(13)} ${String(r.reads).padStart(6)} ` +
      `${r.mibPerSec.toFixed(1).padStart(7)} ${r.readsPerSec.toFixed(0).padStart(10)} ` +
      `${String(r.requests).padStart(9)}`,
  );
}
const fsSmall = rows.find((r) => r.backend === "FILESYSTEM" && r.workload === "16KiB random");
const s3Small = rows.find((r) => r.backend !== "FILESYSTEM" && r.workload === "16KiB random");
if (fsSmall && s3Small) {
  console.log(
    `\nS3/filesystem throughput ratio (16KiB reads): ${
      (s3Small.mibPerSec / fsSmall.mibPerSec).toFixed(3)
    }`,
  );
}
