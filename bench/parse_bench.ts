// What parsing a query string the querier has not seen before costs (issue 19: a parse-cache miss
// is most of a one-series query's querier CPU when every query asks for another series). Parses
// distinct strings of the usual shapes with this checkout's parser and, with `--baseline=<checkout
// dir>`, another checkout's, alternating the two in one process; prints µs per parse, never asserts.
//
//   deno run -A bench/parse_bench.ts [--baseline=<dir>] [--n=2000] [--rounds=5] [--mode=warm|cold]
//
// `warm` parses n strings in a row (the parser's code optimized and in cache); `cold` does other
// work between two parses (allocates and walks a few MiB, as a querier evaluates and answers a
// query between two parses), so each parse runs with cold caches, as in a querier. Each parse is
// timed on its own in `cold` mode; the median of the rounds' means is printed.

type ParseFn = (input: string) => unknown;

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const BASELINE = flag("baseline", "");
const N = Number(flag("n", "2000"));
const ROUNDS = Number(flag("rounds", "5"));
const MODE = flag("mode", "warm");
if (MODE !== "warm" && MODE !== "cold") {
  console.error("--mode must be warm or cold");
  Deno.exit(2);
}

/** Query shapes, each a distinct string per counter value (another series each time). */
const SHAPES: [string, (i: number) => string][] = [
  ["selector, 1 matcher", (i) => `node_load1{instance="host-${i}:9100"}`],
  ["big: selector", (i) => `bench_metric_${i % 100}{id="${String(i).padStart(7, "0")}"}`],
  ["selector, 3 matchers", (i) => `up{job="api",instance="host-${i}:9100",env!="dev"}`],
  ["regex matcher", (i) => `up{job=~"api|db",instance="host-${i}:9100"}`],
  ["rate", (i) => `rate(http_requests_total{job="api",instance="host-${i}"}[5m])`],
  ["sum by rate", (i) => `sum by (job) (rate(http_requests_total{instance="h${i}"}[5m]))`],
  [
    "histogram_quantile",
    (i) =>
      `histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{job="j${i}"}[5m])))`,
  ],
  ["escapes, unicode", (i) => `node_load1{instance="h\\"ö-${i}",path='a\\nb'}`],
];

async function load(dir: string): Promise<ParseFn> {
  const m = await import(`${dir}/promql/parser.ts`);
  return (s) => m.parseExpr(s);
}

const sides: { name: string; parse: ParseFn }[] = [{
  name: "ours",
  parse: await load(new URL("..", import.meta.url).pathname.replace(/\/$/, "")),
}];
if (BASELINE) sides.push({ name: "baseline", parse: await load(BASELINE) });

// the "other work" of cold mode: 4 MiB walked and a few thousand small objects made
const scratch = new Float64Array(512 * 1024);
let sink = 0;
function otherWork(): void {
  for (let i = 0; i < scratch.length; i += 8) scratch[i] += 1;
  const objs: { a: number; b: string }[] = [];
  for (let i = 0; i < 2000; i++) objs.push({ a: i, b: "x" + i });
  sink += objs.length + JSON.stringify(objs.slice(0, 50)).length;
}

let counter = 0;
/** µs per parse of `n` new strings of `shape` with `parse`. */
function measure(parse: ParseFn, shape: (i: number) => string, n: number): number {
  const qs: string[] = [];
  for (let i = 0; i < n; i++) qs.push(shape(counter++));
  if (MODE === "warm") {
    const t0 = performance.now();
    for (const q of qs) parse(q);
    return (performance.now() - t0) / n * 1000;
  }
  let total = 0;
  for (const q of qs) {
    otherWork();
    const t0 = performance.now();
    parse(q);
    total += performance.now() - t0;
  }
  return total / n * 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const n = MODE === "cold" ? Math.min(N, 400) : N;
// warm-up: every shape through every side
for (const [, shape] of SHAPES) for (const s of sides) measure(s.parse, shape, 200);

console.log(`mode ${MODE}, ${n} new strings per shape and round, ${ROUNDS} rounds (median)`);
const header = ["shape".padEnd(22), ...sides.map((s) => s.name.padStart(10))];
if (sides.length > 1) header.push("ours/base".padStart(10));
console.log(header.join(""));
for (const [label, shape] of SHAPES) {
  const per = sides.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    // the side that goes first turns every round
    for (let j = 0; j < sides.length; j++) {
      const k = (j + r) % sides.length;
      per[k].push(measure(sides[k].parse, shape, n));
    }
  }
  const meds = per.map(median);
  const row = [label.padEnd(22), ...meds.map((m) => `${m.toFixed(2)} µs`.padStart(10))];
  if (meds.length > 1) row.push((meds[0] / meds[1]).toFixed(2).padStart(10));
  console.log(row.join(""));
}
if (sink < 0) console.log(sink);
