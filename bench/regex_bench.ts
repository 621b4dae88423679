// User regexes: today's translator (RE2 → backtracking RegExp) vs the RE2 automaton (re2js)
// vs what matchers now do (fast paths, then the translated RegExp only where backtracking is
// provably linear, else re2js), over 100k realistic label values; then the ReDoS inputs of
// issue 20 through the PromQL engine, side by side with a real Prometheus 2.42 when installed.
//
//   deno run -A bench/regex_bench.ts [--values=100000] [--runs=5] [--no-prometheus]
//                                     [--baseline=<checkout of an older commit>]
//
// With --baseline, the "main matcher" column is that checkout's tsdb/matchers.ts (e.g. before
// the RE2 engine: `git archive <commit> | tar -x -C /tmp/base`).
// Timings are medians of `runs`; compare ratios within one run (the machine may be loaded).

import { Re2Regex } from "../re2/regex.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import { createBlocksFromSeries } from "../tsdb/block_writer.ts";
import { openBlocks } from "../tsdb/block.ts";
import { BlocksQuerier } from "../tsdb/querier.ts";
import { Engine } from "../promql/engine.ts";
import { resultToJSONText } from "../promql/value.ts";
import { startPrometheus } from "../tests/helpers/prometheus.ts";

function flag(name: string, def: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
}

const N = flag("values", 100_000);
const baseline = Deno.args.find((x) => x.startsWith("--baseline="))?.slice(11);
type MatcherCtor = new (t: MatchType, n: string, v: string) => { matches(v: string): boolean };
const BaseMatcher: MatcherCtor | null = baseline
  ? (await import(`file://${Deno.realPathSync(baseline)}/tsdb/matchers.ts`)).Matcher
  : null;
const RUNS = flag("runs", 5);

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median ms of one call of `f`, each run repeating it for at least ~20 ms. */
function time(f: () => void): number {
  f(); // warm up
  let reps = 1;
  const warm = performance.now();
  for (; performance.now() - warm < 20; reps++) f();
  const ts: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    for (let k = 0; k < reps; k++) f();
    ts.push((performance.now() - t0) / reps);
  }
  return median(ts);
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

function table(rows: string[][]): void {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(w[c])).join("  "));
}

// --- 1. realistic matchers over N label values --------------------------------------------

const values: string[] = [];
for (let i = 0; i < N; i++) {
  const j = Math.floor(i / 6);
  switch (i % 6) {
    case 0:
      values.push(`10.${j % 3}.${(j >> 3) % 256}.${j % 251}:9100`);
      break;
    case 1:
      values.push(`/api/v${1 + j % 2}/${["query", "series", "labels", "rules"][j % 4]}/${j}`);
      break;
    case 2:
      values.push(["api", "web", "db", "cache", "batch"][j % 5] + `-${j % 97}`);
      break;
    case 3:
      values.push(`${j % 2 ? "Host" : "node"}-${j}.${j % 3 ? "Example" : "other"}.COM`);
      break;
    case 4:
      values.push(["api", "web", "db", "cache", "batch", "worker"][j % 6]);
      break;
    default:
      values.push(`pod_${j.toString(36)}_${["xyz", "abc", "def"][j % 3]}`);
  }
}

const PATTERNS = [
  "api|web",
  "10\\.0\\..*",
  "/api/v1/.+",
  "(?i)host-.*\\.example\\.com",
  "(api|web)-\\d+",
  "[a-z]+-[0-9]+",
  ".*series.*",
  "pod_[0-9a-z]+_(xyz|abc)",
  ".*_1.*xyz", // two overlapping .*: not provably linear, runs on re2js
  "(.+)-(.+)", // idem
];

console.log(`# matchers over ${N} label values (median of ${RUNS} runs, ms)`);
const rows: string[][] = [[
  "pattern",
  "matches",
  "RegExp (translator)",
  "re2js only",
  "main matcher",
  "matcher now",
  "now path",
  "now/main",
  "re2js/translator",
]];
for (const p of PATTERNS) {
  const js = Re2Regex.compile(p, "regexp");
  const re2 = Re2Regex.compile(p, "re2js");
  const m = new Matcher(MatchType.Regexp, "l", p);
  let hits = 0;
  for (const v of values) if (m.matches(v)) hits++;
  for (const v of values) {
    if (js.test(v) !== m.matches(v) || re2.test(v) !== m.matches(v)) {
      throw new Error(`engines disagree on ${p} / ${v}`);
    }
  }
  let sink = 0;
  const tJs = time(() => {
    for (const v of values) if (js.test(v)) sink++;
  });
  const tRe2 = time(() => {
    for (const v of values) if (re2.test(v)) sink++;
  });
  const tNow = time(() => {
    for (const v of values) if (m.matches(v)) sink++;
  });
  let tMain = NaN;
  if (BaseMatcher) {
    const old = new BaseMatcher(MatchType.Regexp, "l", p);
    tMain = time(() => {
      for (const v of values) if (old.matches(v)) sink++;
    });
  }
  if (sink < 0) console.log(sink);
  const path = m.regexPath!;
  rows.push([
    p,
    String(hits),
    tJs.toFixed(1),
    tRe2.toFixed(1),
    tMain.toFixed(1),
    tNow.toFixed(1),
    path,
    (tNow / tMain).toFixed(2),
    (tRe2 / tJs).toFixed(2),
  ]);
}
table(rows);

// --- 2. ReDoS: the translator's growth --------------------------------------------------------

console.log("\n# (a+)+$ on 'a'×n + '!' with today's translator (one value; ms)");
const growth: string[][] = [["n", "translator ms", "re2js ms"]];
const hostileJs = Re2Regex.compile("(a+)+$", "regexp");
const hostileRe2 = Re2Regex.compile("(a+)+$", "re2js");
let last = 0;
let factor = 0;
for (const n of [16, 18, 20, 22]) {
  const s = "a".repeat(n) + "!";
  const t0 = performance.now();
  hostileJs.test(s);
  const tj = performance.now() - t0;
  const t1 = performance.now();
  hostileRe2.test(s);
  const tr = performance.now() - t1;
  if (last > 0) factor = Math.sqrt(tj / last);
  last = tj;
  growth.push([String(n), tj.toFixed(1), tr.toFixed(3)]);
}
table(growth);
console.log(
  `growth ×${factor.toFixed(2)} per character: extrapolated translator time for n=28 ≈ ` +
    `${(last * factor ** 6 / 1000).toFixed(1)} s, n=40 ≈ ${
      (last * factor ** 18 / 3.6e6).toFixed(0)
    } h`,
);

// --- 3. PromQL over blocks: realistic regexes over N series and the ReDoS inputs, vs main (with
// --baseline, skipping its ReDoS queries) and vs Prometheus 2.42 --------------------------------

const START = 1_699_999_200_000;
const EVAL = START + 60_000;
const root = await Deno.makeTempDir({ prefix: "thanos-ts-regex-bench-" });
let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
try {
  const series = [];
  const sample = { ts: Float64Array.of(START, START + 30_000, EVAL), vs: Float64Array.of(1, 1, 1) };
  for (let i = 0; i < 200; i++) {
    const tail = i % 2 === 0 ? "a" : "!"; // odd: the non-matching, exponential case
    series.push({
      labels: labelsFromObject({
        __name__: "x",
        i: String(i),
        l: "a".repeat(27) + tail,
        l40: "a".repeat(39) + tail,
      }),
      ...sample,
    });
  }
  values.forEach((v, i) => {
    series.push({ labels: labelsFromObject({ __name__: "v", i: String(i), l: v }), ...sample });
  });
  await createBlocksFromSeries(`${root}/blocks`, series);
  const querier = new BlocksQuerier(await openBlocks(`${root}/blocks`));
  const engine = new Engine();
  let runMain: ((q: string) => Promise<string>) | null = null;
  if (baseline) {
    const base = `file://${Deno.realPathSync(baseline)}`;
    const { Engine: MainEngine } = await import(`${base}/promql/engine.ts`);
    const { BlocksQuerier: MainQuerier } = await import(`${base}/tsdb/querier.ts`);
    const { openBlocks: mainOpen } = await import(`${base}/tsdb/block.ts`);
    const { resultToJSONText: mainJSON } = await import(`${base}/promql/value.ts`);
    const mq = new MainQuerier(await mainOpen(`${root}/blocks`));
    const me = new MainEngine();
    runMain = async (q) => mainJSON((await me.instantQuery(mq, q, EVAL)).value);
  }
  const queries: [string, boolean][] = [
    ...PATTERNS.map((p): [string, boolean] => [`count(v{l=~${JSON.stringify(p)}})`, false]),
    ['count(label_replace(v, "host", "$1", "l", "(.+):(\\\\d+)"))', false],
    ['label_replace(x, "y", "$1", "l", "(a+)+$")', true],
    ['x{l40=~"(a+)+$"}', true],
    ['count(x{l40!~"(a|aa)+"})', true],
    ['label_replace(x, "y", "$2", "l40", "((a|aa)+)(!)")', true],
  ];
  if (!Deno.args.includes("--no-prometheus")) {
    await copyDir(`${root}/blocks`, `${root}/prometheus`);
    prom = await startPrometheus({
      dataDir: `${root}/prometheus`,
      config: "global: {}\n",
      extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
      readyTimeoutMs: 120_000,
    });
  }
  console.log(
    `\n# PromQL instant queries over ${N} + 200 series (median of ${RUNS} runs, ms); ` +
      "x: 200 series with 28/40-char values, half of them the exponential non-match",
  );
  const out: string[][] = [[
    "query",
    "result",
    "main ms",
    "now ms",
    "prometheus ms",
    "now/main",
    "now/prometheus",
  ]];
  const median3 = async (f: () => Promise<string>): Promise<[number, string]> => {
    const ts: number[] = [];
    let text = "";
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      text = await f();
      ts.push(performance.now() - t0);
    }
    return [median(ts), text];
  };
  const summary = (text: string): string => {
    const j = JSON.parse(text);
    const r = j.result as { value: [number, string] }[];
    return r.length === 1 && j.resultType === "vector" && text.includes('"metric":{}')
      ? `=${r[0].value[1]}`
      : `${r.length} series`;
  };
  for (const [q, hostile] of queries) {
    const [o, text] = await median3(async () =>
      resultToJSONText((await engine.instantQuery(querier, q, EVAL)).value)
    );
    let mainMs = NaN;
    if (runMain && !hostile) {
      const [m, mainText] = await median3(() => runMain!(q));
      if (summary(mainText) !== summary(text)) throw new Error(`main disagrees on ${q}`);
      mainMs = m;
    }
    let promMs = NaN;
    if (prom) {
      const ts: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const body = new URLSearchParams({ query: q, time: String(EVAL / 1000) });
        const t0 = performance.now();
        const res = await fetch(`${prom.url}/api/v1/query`, { method: "POST", body });
        const j = await res.json();
        ts.push(performance.now() - t0);
        if (j.status !== "success" || summary(JSON.stringify(j.data)) !== summary(text)) {
          throw new Error(`prometheus disagrees on ${q}: ${JSON.stringify(j).slice(0, 300)}`);
        }
      }
      promMs = median(ts);
    }
    const ratio = (a: number, b: number) => Number.isNaN(a / b) ? "-" : (a / b).toFixed(2);
    out.push([
      q,
      summary(text),
      hostile && runMain ? "not run" : mainMs.toFixed(1),
      o.toFixed(1),
      promMs.toFixed(1),
      ratio(o, mainMs),
      ratio(o, promMs),
    ]);
  }
  table(out);
} finally {
  await prom?.stop();
  await Deno.remove(root, { recursive: true });
}
