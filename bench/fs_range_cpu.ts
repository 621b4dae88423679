// Cost of one small FILESYSTEM range read, as the store gateway makes them (issue 19): this
// checkout's bucket against another checkout's (`--baseline`, e.g. a `git archive` of main),
// alternating in one process that runs with read access to the named folders only, like a role's
// sandboxed Worker (in the sandbox every path call resolves the path for the permission check,
// which is most of a small read's cost). Prints µs per call and the ratio, never asserts.
//
//   deno run -A bench/fs_range_cpu.ts --bucket=<dir> --object=<name> --baseline=<checkout>
//       [--offset=0] [--length=16000] [--calls=3000] [--rounds=10]
//
// e.g. `--bucket=/tmp/data/bucket --object=<block>/chunks/000001`, a bucket kept by
// `bench/instant_vs_prometheus.ts --keep=<dir>`; 16000 bytes is the store's read of one chunk.

import type { Bucket } from "../objstore/bucket.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const BUCKET = flag("bucket", "");
const OBJECT = flag("object", "");
const BASELINE = flag("baseline", "");
const OFFSET = Number(flag("offset", "0"));
const LENGTH = Number(flag("length", "16000"));
const CALLS = Number(flag("calls", "3000"));
const ROUNDS = Number(flag("rounds", "10"));
if (BUCKET === "" || OBJECT === "" || BASELINE === "") {
  console.error("usage: bench/fs_range_cpu.ts --bucket=<dir> --object=<name> --baseline=<dir>");
  Deno.exit(2);
}
const here = new URL("..", import.meta.url).pathname;

if (!Deno.args.includes("--child")) {
  // the measuring process: read access to the bucket and the two checkouts only
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${BUCKET},${here},${BASELINE}`,
      new URL(import.meta.url).pathname,
      "--child",
      ...Deno.args,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(out.code);
}

type BucketClass = new (dir: string) => Bucket;
const ours: BucketClass = (await import(`${here}objstore/filesystem.ts`)).FilesystemBucket;
const base: BucketClass = (await import(`${BASELINE}/objstore/filesystem.ts`)).FilesystemBucket;
const sides: [string, Bucket][] = [["ours", new ours(BUCKET)], ["baseline", new base(BUCKET)]];
const times = new Map<string, number[]>();
let sink = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, b] of r % 2 === 0 ? sides : [...sides].reverse()) {
    for (const op of ["getRange", "streamRange"]) {
      const t = performance.now();
      for (let i = 0; i < CALLS; i++) {
        sink += op === "getRange"
          ? (await b.getRange(OBJECT, OFFSET, LENGTH)).length
          : await b.streamRange!(OBJECT, OFFSET, LENGTH, (p) => void (sink += p[0]));
      }
      const key = `${op} ${name}`;
      times.set(key, [...times.get(key) ?? [], (performance.now() - t) * 1000 / CALLS]);
    }
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(
  `${LENGTH} bytes at ${OFFSET}, ${CALLS} calls × ${ROUNDS} rounds per side (${sink > 0})`,
);
for (const op of ["getRange", "streamRange"]) {
  const o = median(times.get(`${op} ours`)!);
  const b = median(times.get(`${op} baseline`)!);
  console.log(
    `${op}: ours ${o.toFixed(1)} µs, baseline ${b.toFixed(1)} µs per call, ratio ${
      (o / b).toFixed(2)
    }`,
  );
}
for (const [, b] of sides) await b.close();
