// The querier's `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values` do their
// fan-out and merge in the evaluation Workers (query/label_api.ts through query/eval_pool.ts):
// every answer (status, headers that matter, body bytes) equals the HTTP-thread path's
// (`--query.eval-workers=0`, what the querier did before), partial-response warnings and errors
// included; and `/-/ready` keeps answering while a heavy `/series` call runs. No latency is
// asserted: the test checks that readiness answers complete while the call is still running.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc, ThanosProc } from "../helpers/thanos.ts";
import { freePort } from "../helpers/ports.ts";
import {
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";

const S = T0 / 1000;
/** Series of the heavy store: one sample each, so only their labels weigh. */
const HEAVY_SERIES = 60_000;

function heavyDataset(): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < HEAVY_SERIES; i++) {
    out.push({
      labels: labelsFromObject({
        __name__: "heavy_series",
        idx: String(i).padStart(6, "0"),
        job: `job-${i % 7}`,
        pad: `padding-${"x".repeat(40)}-${i % 1000}`,
      }),
      ts: Float64Array.of(T0 + 60_000),
      vs: Float64Array.of(i),
    });
  }
  return out;
}

interface Answer {
  status: number;
  contentType: string | null;
  cache: string | null;
  body: string;
}

async function answer(url: string, init?: RequestInit): Promise<Answer> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  return {
    status: r.status,
    contentType: r.headers.get("content-type"),
    cache: r.headers.get("cache-control"),
    body: await r.text(),
  };
}

Deno.test({
  name: "series, labels and label values: answered in the evaluation Workers as on the HTTP thread",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dirs = new TempDirs();
    const procs: Proc[] = [];
    try {
      const root = await dirs.make();
      await writeBlocks(`${root}/small`, withLabels(smallDataset(3, 40), {}));
      await writeBlocks(`${root}/heavy`, heavyDataset());
      const small = await startStore(`${root}/small`, { region: "east" });
      procs.push(small);
      const heavy = await startStore(`${root}/heavy`, { region: "west" });
      procs.push(heavy);
      // an endpoint that never answers: unhealthy from the first discovery round on
      const dead = `127.0.0.1:${freePort()}`;
      const stores = [
        `--store=127.0.0.1:${small.port}`,
        `--store=127.0.0.1:${heavy.port}`,
        `--store=${dead}`,
      ];
      const inWorkers: ThanosProc = await startQuerier([...stores, "--query.eval-workers=2"]);
      procs.push(inWorkers);
      const onThread: ThanosProc = await startQuerier([...stores, "--query.eval-workers=0"]);
      procs.push(onThread);

      const live = encodeURIComponent(`{__address__!="${dead}"}`);
      const heavyPath = `/api/v1/series?match[]=heavy_series&storeMatch[]=${live}`;

      await t.step(
        "every answer equals the HTTP thread's, warnings and errors included",
        async () => {
          const paths = [
            `/api/v1/series?match[]=up&storeMatch[]=${live}`,
            "/api/v1/series?match[]=up",
            "/api/v1/series?match[]=up&partial_response=false",
            `/api/v1/series?match[]=up&match[]=${
              encodeURIComponent('http_requests_total{job=~"api|web"}')
            }&start=${S}&end=${S + 3600}&storeMatch[]=${live}`,
            `/api/v1/series?match[]=${encodeURIComponent('{job="job-3",idx=~"0001.*"}')}`,
            "/api/v1/series?match[]={}",
            "/api/v1/series?match[]=up{",
            heavyPath,
            "/api/v1/labels",
            `/api/v1/labels?storeMatch[]=${live}`,
            `/api/v1/labels?match[]=up&start=${S}&end=${S + 600}`,
            "/api/v1/labels?partial_response=false",
            "/api/v1/label/job/values",
            `/api/v1/label/job/values?match[]=heavy_series&storeMatch[]=${live}`,
            `/api/v1/label/__name__/values?storeMatch[]=${live}`,
            "/api/v1/label/region/values?partial_response=false",
            "/api/v1/label/%FF%FE/values",
          ];
          for (const path of paths) {
            const [w, h] = [
              await answer(inWorkers.http + path),
              await answer(onThread.http + path),
            ];
            assertEquals(w, h, path);
          }
          // form POSTs too
          const form = {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: `match[]=${encodeURIComponent('up{job="api"}')}&storeMatch[]=${live}`,
          };
          const w = await answer(`${inWorkers.http}/api/v1/series`, form);
          assertEquals(w, await answer(`${onThread.http}/api/v1/series`, form));

          // and the answers are what they should be: data, the dead store named, the failure
          const up = JSON.parse((await answer(`${inWorkers.http}/api/v1/series?match[]=up`)).body);
          assertEquals(up.status, "success");
          assert(up.data.length > 0, JSON.stringify(up).slice(0, 300));
          assertEquals(up.warnings.length, 1);
          assert(up.warnings[0].includes(dead), up.warnings[0]);
          const abort = await answer(
            `${inWorkers.http}/api/v1/labels?partial_response=false`,
          );
          assertEquals(abort.status, 422, abort.body);
          assert(abort.body.includes(dead), abort.body);
          const all = JSON.parse((await answer(inWorkers.http + heavyPath)).body);
          assertEquals(all.data.length, HEAVY_SERIES);
          assertEquals(all.warnings, undefined);
        },
      );

      await t.step("/-/ready answers while a heavy /series call runs", async () => {
        let settled = false;
        const call = answer(inWorkers.http + heavyPath).finally(() => settled = true);
        let answeredDuring = 0;
        for (let i = 0; i < 200 && !settled; i++) {
          const r = await fetch(`${inWorkers.http}/-/ready`, {
            signal: AbortSignal.timeout(30_000),
          });
          assertEquals(r.status, 200, await r.text());
          if (!settled) answeredDuring++;
        }
        const res = await call;
        assertEquals(res.status, 200);
        assertEquals(JSON.parse(res.body).data.length, HEAVY_SERIES);
        assert(answeredDuring >= 2, `readiness answered ${answeredDuring} times during the call`);
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});
