// A heavy query does not starve the querier (issue 20): while one runs, `/-/ready`, `/metrics`
// and a cheap `up` query answer correctly; a timeout or a client disconnect stops the query and
// the store gateway it reads from stops its Series call (in-flight gauge back to 0, the call
// counted as cancelled). Latency figures are the benchmark's job (bench/starvation_bench.ts);
// this test checks answers and that the work stops, with bounded loops.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import { smallDataset, startQuerier, T0, withLabels, writeBlocks } from "../helpers/query_e2e.ts";

const S = T0 / 1000;
const END = S + 3 * 3600;
/**
 * Heavy, and read lazily: every series is pulled from the store only when the engine gets to
 * it, so the store's Series call stays open (flow-controlled) while the query evaluates. Its
 * Series answer must be well over the querier's stream window (1 MiB, storeapi/h2client.ts):
 * 8,000 series give about twice the size at which the call stays open (3,000 do not).
 */
const HEAVY = "quantile_over_time(0.5, http_requests_total[3h])";

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const l = text.split("\n").find((x) => x.startsWith(line + " "));
  return l ? Number(l.slice(line.length + 1)) : 0;
}

async function until(what: string, fn: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

Deno.test({
  name:
    "a heavy query leaves probes and cheap queries answering; timeout and cancel stop the store",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dirs = new TempDirs();
    const procs: ThanosProc[] = [];
    try {
      const root = await dirs.make();
      await writeBlocks(`${root}/bucket`, withLabels(smallDataset(3, 8000), {}));
      await Deno.writeTextFile(
        `${root}/bucket.yml`,
        `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
      );
      const store = await startComponent("store", [
        `--objstore.config-file=${root}/bucket.yml`,
        `--data-dir=${root}/store`,
        "--log.level=warn",
      ]);
      procs.push(store);
      const q = await startQuerier([`--store=${store.grpc}`, "--query.timeout=10m"]);
      procs.push(q);
      const heavyUrl = `${q.url}/api/v1/query_range?query=${
        encodeURIComponent(HEAVY)
      }&start=${S}&end=${END}&step=1`;
      const upUrl = `${q.url}/api/v1/query?query=count(up)&time=${END}`;
      const inFlight = "thanos_bucket_store_series_gate_queries_in_flight";
      const canceled = "thanos_bucket_store_series_canceled_total";
      const idleUp = await (await fetch(upUrl)).text();

      await t.step("probes, /metrics and a cheap query answer during a heavy query", async () => {
        const ac = new AbortController();
        let settled = false;
        const heavy = fetch(heavyUrl, { signal: ac.signal })
          .then((r) => r.text())
          .catch(() => "")
          .finally(() => settled = true);
        // the heavy query is reading from the store
        await until("the store serving the heavy query", async () => {
          return await metric(store.http, inFlight) >= 1;
        });
        let answeredDuring = 0;
        // a bound, not a latency assertion: a starved querier fails here instead of hanging
        const bounded = (url: string) => fetch(url, { signal: AbortSignal.timeout(30_000) });
        for (let i = 0; i < 10; i++) {
          const ready = await bounded(`${q.url}/-/ready`);
          assertEquals(ready.status, 200, await ready.text());
          const m = await bounded(`${q.url}/metrics`);
          const mt = await m.text();
          assertEquals(m.status, 200);
          assert(mt.includes("thanos_query_endpoint_healthy"), mt.slice(0, 500));
          const up = await bounded(upUrl);
          assertEquals(up.status, 200);
          assertEquals(await up.text(), idleUp);
          if (!settled) answeredDuring++;
        }
        assert(answeredDuring > 0, "the heavy query ended before any probe: not heavy enough");
        // the store is still healthy in the querier's eyes
        const stores = await (await fetch(`${q.url}/api/v1/stores`)).json();
        const all = Object.values(stores.data as Record<string, { lastError: string | null }[]>)
          .flat();
        assert(all.length === 1 && all[0].lastError === null, JSON.stringify(stores));
        // the querier stopped the query on its own thread at the work bound (that Series call
        // cancelled) and evaluates it again in a Worker, whose Series call is open
        await until("the Worker's Series call", async () => {
          return await metric(store.http, canceled) >= 1 &&
            await metric(store.http, inFlight) >= 1;
        });
        // a client disconnect stops the query and the store's Series call
        const before = await metric(store.http, canceled);
        ac.abort();
        await heavy;
        await until("the store to stop the cancelled Series call", async () => {
          return await metric(store.http, inFlight) === 0;
        });
        assert(await metric(store.http, canceled) > before, "store did not see the cancel");
      });

      await t.step("timeout=2s answers the timeout and the store stops its work", async () => {
        const before = await metric(store.http, canceled);
        const r = await fetch(`${heavyUrl}&timeout=2s`);
        const body = await r.json();
        assertEquals(r.status, 503, JSON.stringify(body));
        assertEquals(body.errorType, "timeout");
        await until("the store to stop the timed-out Series call", async () => {
          return await metric(store.http, inFlight) === 0;
        });
        assert(await metric(store.http, canceled) > before, "store did not see the cancel");
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});
