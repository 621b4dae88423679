// The query API as unit tests build it: the querier's defaults (10 s timeout, 5 m lookback,
// penalty dedup, partial responses, no CORS) around the test's proxy, with the options a test
// names on top.

import { QueryApi, type QueryApiOptions } from "../../query/api.ts";
import { directRequestInfo, type Route } from "../../server/http.ts";
import type { ProxyEndpoint } from "../../storeapi/proxy.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";

/** A QueryApi over `opts.proxy`; every other option defaults as below unless `opts` sets it. */
export function testQueryApi(
  opts: Pick<QueryApiOptions, "proxy"> & Partial<QueryApiOptions>,
): QueryApi {
  return new QueryApi({
    logger: new Logger("error", "logfmt", {}, () => {}),
    registry: new Registry(),
    endpoints: () => [],
    replicaLabels: [],
    dedupFunc: "penalty",
    partialResponse: true,
    queryTimeoutMs: 10_000,
    lookbackDeltaMs: 300_000,
    maxSamples: 1_000_000,
    maxConcurrent: 4,
    maxConcurrentSelect: 4,
    defaultStepMs: 1000,
    defaultEvaluationIntervalMs: 60_000,
    autoDownsampling: false,
    enableCors: false,
    flags: {},
    version: "test",
    ...opts,
  });
}

/**
 * Answers `req` with the first of `routes` that takes its method and whose path pattern matches
 * its URL, as the HTTP server would (no server in between). Throws when none does.
 */
export async function serveRoute(routes: readonly Route[], req: Request): Promise<Response> {
  for (const r of routes) {
    const methods = typeof r.method === "string" ? [r.method] : r.method;
    if (!methods.includes(req.method)) continue;
    const m = new URLPattern({ pathname: r.path }).exec(req.url);
    if (!m) continue;
    const groups = m.pathname.groups as Record<string, string>;
    return await r.handler(req, groups, directRequestInfo(req, groups));
  }
  throw new Error(`no route for ${req.method} ${req.url}`);
}

/**
 * A store of `n` series `x{id="<k>"}` (k zero-padded to four digits), one sample a minute over
 * [0, `minutes`], value k + minute.
 */
export function minuteSeriesStore(n: number, minutes: number): ProxyEndpoint {
  return {
    name: "many:10901",
    info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
    client: {
      async *series() {
        for (let k = 0; k < n; k++) {
          const app = new XorAppender();
          for (let i = 0; i <= minutes; i++) app.append(i * 60_000, k + i);
          const labels = labelsFromObject({ __name__: "x", id: String(k).padStart(4, "0") });
          yield {
            labels,
            chunks: [{
              minTime: 0,
              maxTime: minutes * 60_000,
              encoding: ChunkEncoding.XOR,
              data: app.bytes().slice(),
            }],
          };
        }
      },
      labelNames: () => Promise.resolve({ names: [], warnings: [] }),
      labelValues: () => Promise.resolve({ values: [], warnings: [] }),
    },
  };
}
