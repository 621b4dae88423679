// The querier's side of a Series stream in process (issue 19): one store gateway over a kept
// bucket, and in this process the StoreAPI client of this checkout and of `--baseline` (another
// checkout's storeapi/client.ts, so its grpc.ts, h2client.ts and h2frame.ts), calls alternating
// between the two. Prints per selector and side the CPU of this process per call (the receiving
// and decoding of the answer), the bytes of the answer and the external memory V8 counted at
// the end of a call. Never asserts.
//
//   deno run -A bench/series_receive.ts --bucket=<dir> [--baseline=<checkout dir>] [--rounds=7]
//       [--calls=5] [--hours=24] [--end=<ms>] ['<metric name>' …]
//
// --bucket: a bucket written by store_memory_vs_prometheus.ts --data (e.g.
//   <data>/scale1-9910x24h). The window of each call is the last `--hours` before `--end`
//   (default: the data set's end, T0 + hours). Metric names default to a large and a small one.

import process from "node:process";
import { parseArgs } from "node:util";
import { startComponent } from "../tests/helpers/thanos.ts";
import { fsConfig } from "../tests/helpers/compact_bucket.ts";
import { TempDirs } from "../tests/helpers/tmp.ts";
import { T0 } from "../tests/helpers/query_e2e.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    bucket: { type: "string" },
    baseline: { type: "string" },
    rounds: { type: "string", default: "7" },
    calls: { type: "string", default: "5" },
    hours: { type: "string", default: "24" },
    end: { type: "string" },
  },
});
if (!values.bucket) throw new Error("--bucket=<dir> is required");
const HOURS = Number(values.hours);
const END = values.end ? Number(values.end) : T0 + HOURS * 3_600_000;
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const names = positionals.length > 0 ? positionals : ["http_request_duration_seconds_bucket", "up"];

type Client = {
  seriesBatches(req: unknown): AsyncGenerator<unknown[]>;
  close?(): void;
};
type ClientModule = { StoreClient: new (address: string) => Client };

const sides: { name: string; mod: ClientModule }[] = [
  { name: "ours", mod: await import("../storeapi/client.ts") as unknown as ClientModule },
];
if (values.baseline) {
  const url = new URL(`file://${values.baseline.replace(/\/?$/, "/")}storeapi/client.ts`);
  sides.push({ name: "baseline", mod: await import(url.href) as unknown as ClientModule });
}

/** CPU of this process (all its threads), ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const dirs = new TempDirs();
const store = await startComponent("store", [
  `--objstore.config=${fsConfig(values.bucket)}`,
  `--data-dir=${await dirs.make()}`,
  "--log.level=warn",
], { timeoutMs: 600_000 });
try {
  const clients = sides.map((s) => new s.mod.StoreClient(store.grpc));
  /** One call: items received and answer bytes (series count as a check). */
  const call = async (c: Client, name: string): Promise<number> => {
    let items = 0;
    const req = {
      minTime: END - HOURS * 3_600_000,
      maxTime: END,
      matchers: [new Matcher(MatchType.Equal, "__name__", name)],
    };
    for await (const b of c.seriesBatches(req)) items += b.length;
    return items;
  };
  for (const name of names) {
    // warm both sides and the store's caches
    for (const c of clients) for (let i = 0; i < 2; i++) await call(c, name);
    const cpu = sides.map(() => [] as number[]);
    const wall = sides.map(() => [] as number[]);
    const ext = sides.map(() => [] as number[]);
    let items = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < clients.length; k++) {
        const i = r % 2 === 0 ? k : clients.length - 1 - k;
        const c0 = cpuMs();
        const t0 = performance.now();
        for (let j = 0; j < CALLS; j++) items = await call(clients[i], name);
        wall[i].push((performance.now() - t0) / CALLS);
        cpu[i].push((cpuMs() - c0) / CALLS);
        ext[i].push(Deno.memoryUsage().external / 2 ** 20);
      }
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
    for (let i = 0; i < sides.length; i++) {
      console.log(
        `${name} (${items} series, ${HOURS} h) ${sides[i].name}: CPU ${
          med(cpu[i]).toFixed(2)
        } ms/call (min ${Math.min(...cpu[i]).toFixed(2)}), wall ${
          med(wall[i]).toFixed(2)
        } ms, external ${med(ext[i]).toFixed(1)} MiB`,
      );
    }
  }
  for (const c of clients) c.close?.();
} finally {
  await store.stop();
  await dirs.cleanup();
}
