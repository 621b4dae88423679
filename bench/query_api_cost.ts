// The querier's own JavaScript per instant query, without Deno.serve, sockets or a store process
// (issue 19, the fixed cost of a small query): the query API's route handler called with a
// Request, over an in-process store of `--series` one-chunk series, answered JSON read to the
// end. Optionally the same for another checkout (`--baseline=<dir>`, e.g. a `git archive` of
// main), alternating blocks of queries in this one process. Prints µs per query (wall, and this
// thread's CPU time, which other processes on the machine do not inflate), never asserts.
//
//   deno run -A bench/query_api_cost.ts [--baseline=<checkout dir>] [--n=20000] [--series=40]
//     [query …]

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const BASELINE = flag("baseline", "");
const N = Number(flag("n", "20000"));
const SERIES = Number(flag("series", "40"));
const QUERIES = Deno.args.filter((a) => !a.startsWith("--"));
if (QUERIES.length === 0) QUERIES.push("vector(1)", 'up{job="api"}', "sum(up)");

/** The route handler of `/api/v1/query` of the checkout at `root` (a directory URL). */
async function queryHandler(root: string): Promise<(url: string) => Promise<string>> {
  const { QueryApi } = await import(`${root}query/api.ts`);
  const { StoreProxy } = await import(`${root}storeapi/proxy.ts`);
  const { Registry } = await import(`${root}metrics/registry.ts`);
  const { Logger } = await import(`${root}logging/log.ts`);
  const { directRequestInfo } = await import(`${root}server/http.ts`);
  const { XorAppender } = await import(`${root}tsdb/chunkenc/xor.ts`);
  const { ChunkEncoding } = await import(`${root}tsdb/series.ts`);
  const series: { labels: string[]; chunks: unknown[] }[] = [];
  for (let i = 0; i < SERIES; i++) {
    const app = new XorAppender();
    for (let t = 0; t <= 1_800_000; t += 15_000) app.append(t, i + Math.sin(t));
    series.push({
      labels: [
        "__name__",
        "up",
        "instance",
        `host-${String(i).padStart(3, "0")}:9100`,
        "job",
        "api",
      ],
      chunks: [{
        minTime: 0,
        maxTime: 1_800_000,
        encoding: ChunkEncoding.XOR,
        data: app.bytes().slice(),
      }],
    });
  }
  const registry = new Registry();
  const api = new QueryApi({
    proxy: new StoreProxy({
      endpoints: () => [{
        name: "mem:1",
        info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
        client: {
          async *series() {
            for (const s of series) yield s;
          },
          labelNames: () => Promise.resolve({ names: [], warnings: [] }),
          labelValues: () => Promise.resolve({ values: [], warnings: [] }),
        },
      }],
    }),
    logger: new Logger("error", "logfmt", {}, () => {}),
    registry,
    endpoints: () => [],
    replicaLabels: [],
    dedupFunc: "penalty",
    partialResponse: true,
    queryTimeoutMs: 120_000,
    lookbackDeltaMs: 300_000,
    maxSamples: 50_000_000,
    maxConcurrent: 20,
    maxConcurrentSelect: 4,
    defaultStepMs: 1000,
    defaultEvaluationIntervalMs: 60_000,
    autoDownsampling: false,
    enableCors: true,
    flags: {},
    version: "bench",
  });
  // deno-lint-ignore no-explicit-any
  const route = api.routes().find((r: any) => r.path === "/api/v1/query");
  return async (url: string) => {
    const req = new Request(url);
    const res = await route.handler(req, {}, directRequestInfo(req));
    return await res.text();
  };
}

/**
 * CPU time of this thread so far (ms), from /proc/thread-self/schedstat: unlike wall time, not
 * inflated by other processes on a busy machine (the garbage collector's helper threads are not
 * counted). NaN where /proc is not there.
 */
function threadCpuMs(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1e6;
  } catch {
    return NaN;
  }
}

const sides = [{
  name: "this tree",
  run: await queryHandler(new URL("../", import.meta.url).href),
}];
if (BASELINE) {
  sides.push({
    name: "baseline",
    run: await queryHandler(new URL(`file://${BASELINE.replace(/\/?$/, "/")}`).href),
  });
}
for (const q of QUERIES) {
  const url = `http://querier/api/v1/query?${new URLSearchParams({ query: q, time: "1800" })}`;
  const answers = new Set<string>();
  for (const s of sides) for (let i = 0; i < 2000; i++) answers.add(await s.run(url));
  const spent = sides.map(() => 0);
  const cpu = sides.map(() => 0);
  const BLOCK = 500;
  for (let b = 0; b < N / BLOCK; b++) {
    for (let k = 0; k < sides.length; k++) {
      const i = b % 2 === 0 ? k : sides.length - 1 - k;
      const t = performance.now();
      const c = threadCpuMs();
      for (let j = 0; j < BLOCK; j++) await sides[i].run(url);
      cpu[i] += threadCpuMs() - c;
      spent[i] += performance.now() - t;
    }
  }
  const us = spent.map((ms) => ms * 1000 / N);
  const cpuUs = cpu.map((ms) => ms * 1000 / N);
  console.log(
    `${q}: ${
      sides.map((s, i) => `${s.name} ${us[i].toFixed(1)} µs (CPU ${cpuUs[i].toFixed(1)})`).join(
        ", ",
      )
    }` +
      (sides.length > 1
        ? `, ratio ${(us[0] / us[1]).toFixed(2)} (CPU ${(cpuUs[0] / cpuUs[1]).toFixed(2)})`
        : "") +
      (answers.size > 1 ? " (answers differ!)" : ""),
  );
}
console.log(`load ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
