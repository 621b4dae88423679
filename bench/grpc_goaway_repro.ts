// Issue 20 (1): a querier that goes away (SIGTERM: GOAWAY) while it streams large Series answers
// must never take the store down. Starts a store (FILESYSTEM bucket of ~5k series × 8 h) and,
// per round, a querier that runs four concurrent query_range calls over every series, then
// SIGTERMs the querier mid-answer and checks the store is alive. Prints the death count.
//   deno run -A bench/grpc_goaway_repro.ts [--rounds=200] [--series=5000] [--client=querier|node]

import { parseArgs } from "node:util";
import { generateDataset } from "../scripts/dataset.ts";
import { T0, withLabels, writeBlocks } from "../tests/helpers/query_e2e.ts";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";
import { grpcMessage } from "../tests/helpers/h2_raw.ts";
import { encodeSeriesRequest } from "../storeapi/codec.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import http2 from "node:http2";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "200" },
    series: { type: "string", default: "5000" },
    "kill-after-ms": { type: "string", default: "" },
    dir: { type: "string", default: "" },
    // "querier": SIGTERM a querier mid-answer; "node": a plain node:http2 client reads one or
    // more whole ~20 MB Series answers, then closes its session (GOAWAY) or sends GOAWAY mid-call
    client: { type: "string", default: "querier" },
  },
});
const rounds = Number(values.rounds);
const dir = values.dir || await Deno.makeTempDir({ prefix: "grpc-goaway-" });
try {
  await Deno.stat(`${dir}/.ready`);
} catch {
  const ds = generateDataset({
    series: Number(values.series),
    start: T0,
    end: T0 + 8 * 3600_000,
    stepMs: 15_000,
    seed: 7,
    specialValues: false,
  });
  await writeBlocks(`${dir}/bucket`, withLabels(ds, {}));
  await Deno.writeTextFile(`${dir}/.ready`, "");
}
const bucket = `type: FILESYSTEM\nconfig:\n  directory: ${dir}/bucket\n`;

async function startStore(): Promise<ThanosProc> {
  return await startComponent("store", [
    `--objstore.config=${bucket}`,
    `--data-dir=${dir}/store`,
    "--log.level=warn",
  ], { name: "store", timeoutMs: 60_000 });
}

if (values.client === "node") {
  await nodeRounds();
  Deno.exit(0);
}

/** The second reproducer: node:http2 sessions that close after large Series calls. */
async function nodeRounds(): Promise<void> {
  let store = await startStore();
  let deaths = 0;
  const t0 = Date.now();
  const body = grpcMessage(encodeSeriesRequest({
    minTime: T0,
    maxTime: T0 + 8 * 3600_000,
    matchers: [new Matcher(MatchType.Regexp, "__name__", ".+")],
  }));
  let bytes = 0;
  for (let r = 0; r < rounds; r++) {
    const s = http2.connect(`http://${store.grpc}`);
    s.on("error", () => {});
    const calls = 1 + (r % 3);
    const midCall = r % 2 === 1; // odd rounds: GOAWAY while the last answer streams
    for (let c = 0; c < calls; c++) {
      const last = c === calls - 1;
      await new Promise<void>((resolve) => {
        const req = s.request({
          ":method": "POST",
          ":path": "/thanos.Store/Series",
          "content-type": "application/grpc",
          te: "trailers",
        });
        req.on("error", () => resolve());
        let got = 0;
        req.on("data", (b: Uint8Array) => {
          got += b.length;
          bytes += b.length;
          if (last && midCall && got > 2_000_000) {
            s.goaway(0);
            s.close();
            resolve();
          }
        });
        req.on("close", () => resolve());
        req.end(body);
      });
    }
    s.close();
    await new Promise((ok) => setTimeout(ok, 200));
    const alive = await fetch(`${store.http}/-/healthy`).then((x) =>
      x.body?.cancel().then(() => x.ok)
    ).catch(() => false);
    if (!alive || !store.alive) {
      deaths++;
      console.log(`round ${r}: STORE DIED\n${store.logs().slice(-2000)}`);
      await store.stop(2000, "SIGKILL").catch(() => {});
      store = await startStore();
    }
    if ((r + 1) % 20 === 0) console.log(`round ${r + 1}/${rounds}: deaths=${deaths}`);
  }
  await store.stop(5000, "SIGTERM");
  console.log(
    `node:http2 GOAWAY reproducer: ${rounds} rounds, ${deaths} store deaths, ` +
      `${Math.round(bytes / 1e6)} MB received, ${(Date.now() - t0) / 1000}s`,
  );
}

const query = encodeURIComponent(`{__name__=~".+"}`);
const range = `start=${T0 / 1000}&end=${T0 / 1000 + 8 * 3600}&step=60`;
let store = await startStore();
let deaths = 0;
const t0 = Date.now();
for (let r = 0; r < rounds; r++) {
  const q = await startComponent("query", [`--endpoint=${store.grpc}`, "--log.level=error"], {
    name: "querier",
  });
  // wait until the querier sees the store
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${q.http}/api/v1/stores`).then((x) => x.json()).catch(() => null);
    if (JSON.stringify(res ?? {}).includes("lastCheck")) break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  // a few large Series streams first (each query fans out one ~20 MB Series call)
  const warm = r % 3;
  for (let w = 0; w < warm; w++) {
    await Promise.all(
      Array.from(
        { length: 2 },
        () =>
          fetch(`${q.http}/api/v1/query_range?query=${query}&${range}`).then((x) =>
            x.body?.cancel()
          )
            .catch(() => {}),
      ),
    );
  }
  const ac = new AbortController();
  const calls = Array.from(
    { length: 4 },
    () =>
      fetch(`${q.http}/api/v1/query_range?query=${query}&${range}`, { signal: ac.signal })
        .then((x) => x.body?.cancel()).catch(() => {}),
  );
  const killAfter = values["kill-after-ms"]
    ? Number(values["kill-after-ms"])
    : 200 + Math.random() * 2500;
  await new Promise((ok) => setTimeout(ok, killAfter));
  await q.stop(5000, "SIGTERM");
  ac.abort();
  await Promise.all(calls);
  await new Promise((ok) => setTimeout(ok, 300));
  const alive = await fetch(`${store.http}/-/healthy`).then((x) =>
    x.body?.cancel().then(() => x.ok)
  )
    .catch(() => false);
  if (!alive || !store.alive) {
    deaths++;
    console.log(`round ${r}: STORE DIED\n${store.logs().slice(-2000)}`);
    await store.stop(2000, "SIGKILL").catch(() => {});
    store = await startStore();
  }
  if ((r + 1) % 10 === 0) console.log(`round ${r + 1}/${rounds}: deaths=${deaths}`);
}
await store.stop(5000, "SIGTERM");
console.log(
  `goaway reproducer: ${rounds} rounds, ${deaths} store deaths, ${(Date.now() - t0) / 1000}s`,
);
if (!values.dir) await Deno.remove(dir, { recursive: true });
