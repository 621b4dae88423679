// The querier's gRPC Query API (`thanos.Query` Query and QueryRange) through the real CLI: two
// stores with different external labels, a querier over both, with its evaluation Workers and with
// `--query.eval-workers=0` (evaluation on the role's thread). A client on our codec gets the same
// series and values as the HTTP API for instant and range queries (one frame per series and
// batched), the querier's Info advertises the Query API, and errors answer as Thanos's do: a parse
// error Unknown, an evaluation error Aborted, or a warnings frame for an instant query with
// partial response.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  getJSON,
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import { callQuery, callQueryRange, type QueryAnswer } from "../../storeapi/query.ts";
import { labelsFromObject, labelsKey } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

/** Series as comparable rows: `labels → [[ms, value]…]`, sorted by labels. */
type Rows = [string, [number, number][]][];

function fromGrpc(a: QueryAnswer): Rows {
  return a.series.map((s): [string, [number, number][]] => [
    labelsKey(s.labels),
    Array.from(s.ts, (t, i) => [t, s.vs[i]] as [number, number]),
  ]).sort((x, y) => x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
}

function fromHttp(data: { resultType: string; result: unknown }): Rows {
  const pt = (p: [number, string]): [number, number] => [Math.round(p[0] * 1000), Number(p[1])];
  if (data.resultType === "scalar") return [[labelsKey([]), [pt(data.result as [number, string])]]];
  const rows = (data.result as {
    metric: Record<string, string>;
    value?: [number, string];
    values?: [number, string][];
  }[])
    .map((r): [string, [number, number][]] => [
      labelsKey(labelsFromObject(r.metric)),
      r.value ? [pt(r.value)] : r.values!.map(pt),
    ]);
  return rows.sort((x, y) => x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
}

const QUERIES = [
  "up",
  "sum by (job) (rate(http_requests_total[5m]))",
  "count(up)",
  "scalar(count(up))",
  "topk(3, node_temperature_celsius)",
  'up{region="eu-1"} * 2',
  "avg without (instance) (process_resident_memory_bytes)",
  "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
];

Deno.test({
  name: "thanos query serves thanos.Query over gRPC with the HTTP API's answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    const clients: StoreClient[] = [];
    try {
      const ds = smallDataset(23, 8);
      const [dirEu, dirUs] = [await dirs.make(), await dirs.make()];
      await writeBlocks(dirEu, ds.series);
      await writeBlocks(dirUs, withLabels(ds, { extra: "x" }));
      const [eu, us] = await Promise.all([
        startStore(dirEu, { region: "eu-1" }),
        startStore(dirUs, { region: "us-1" }),
      ]);
      procs.push(eu, us);
      for (const workers of ["2", "0"]) {
        await t.step(`--query.eval-workers=${workers}`, async () => {
          const q = await startQuerier([
            `--endpoint=127.0.0.1:${eu.port}`,
            `--endpoint=127.0.0.1:${us.port}`,
            `--query.eval-workers=${workers}`,
          ]);
          procs.push(q);
          const c = new StoreClient(q.grpc);
          clients.push(c);
          const info = await c.info();
          assertEquals(info.query, true, "Info advertises the Query API");

          const at = T0 / 1000 + 3600;
          for (const expr of QUERIES) {
            const http = await getJSON(
              `${q.url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${at}`,
            );
            assertEquals(http.status, 200, http.text);
            const want = fromHttp(http.body.data as { resultType: string; result: unknown });
            assert(want.length > 0, `${expr}: the HTTP API answers something`);
            for (const responseBatchSize of [0, 3]) {
              const got = await callQuery(c, {
                query: expr,
                timeSeconds: at,
                enableDedup: true,
                responseBatchSize,
              });
              assertEquals(fromGrpc(got), want, `${expr} (batch ${responseBatchSize})`);
              assertEquals(got.stats, { samplesTotal: 0, peakSamples: 0 });
            }
            const [s, e] = [at - 1800, at];
            const httpRange = await getJSON(
              `${q.url}/api/v1/query_range?query=${
                encodeURIComponent(expr)
              }&start=${s}&end=${e}&step=60`,
            );
            assertEquals(httpRange.status, 200, httpRange.text);
            for (const responseBatchSize of [0, 64]) {
              const got = await callQueryRange(c, {
                query: expr,
                startTimeSeconds: s,
                endTimeSeconds: e,
                intervalSeconds: 60,
                enableDedup: true,
                responseBatchSize,
              });
              assertEquals(
                fromGrpc(got),
                fromHttp(httpRange.body.data as { resultType: string; result: unknown }),
                `range ${expr} (batch ${responseBatchSize})`,
              );
            }
          }

          // storeMatchers narrow the stores as storeMatch[] does
          const only = await callQuery(c, {
            query: "count(up)",
            timeSeconds: at,
            storeMatchers: [[new Matcher(MatchType.Equal, "__address__", `127.0.0.1:${eu.port}`)]],
          });
          const all = await callQuery(c, { query: "count(up)", timeSeconds: at });
          assertEquals(only.series[0].vs[0] * 2, all.series[0].vs[0]);

          // errors as Thanos's server answers them
          const parse = <GrpcError> await assertRejects(
            () => callQuery(c, { query: "sum(", timeSeconds: at }),
            GrpcError,
          );
          assertEquals(parse.code, GrpcStatus.UNKNOWN);
          assert(parse.details.includes("parse error"), parse.details);
          const bad = "up * on() group_left up";
          const exec = <GrpcError> await assertRejects(
            () => callQuery(c, { query: bad, timeSeconds: at }),
            GrpcError,
          );
          assertEquals(exec.code, GrpcStatus.ABORTED);
          const warned = await callQuery(c, {
            query: bad,
            timeSeconds: at,
            enablePartialResponse: true,
          });
          assertEquals(warned.series, []);
          assertEquals(warned.warnings.length, 1);
          assert(warned.warnings[0].includes("many-to-many"), warned.warnings[0]);
          const execRange = <GrpcError> await assertRejects(
            () =>
              callQueryRange(c, {
                query: bad,
                startTimeSeconds: at - 60,
                endTimeSeconds: at,
                intervalSeconds: 30,
                enablePartialResponse: true,
              }),
            GrpcError,
          );
          assertEquals(execRange.code, GrpcStatus.ABORTED);
          c.close();
          await q.stop();
        });
      }
    } finally {
      for (const c of clients) c.close();
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});
