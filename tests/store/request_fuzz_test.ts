// Hostile StoreAPI requests to the store gateway (tests/helpers/fuzz.ts): random Series,
// LabelNames and LabelValues requests — any matcher type on present, absent and empty label
// names, regexes that do not compile or match everything, times reversed or at the int64 edges,
// shards, limits, hints, replica labels, downsampling windows — sent through the wire codec to a
// BucketStore over a FILESYSTEM bucket must be answered, or refused with INVALID_ARGUMENT, never
// another gRPC status from a JavaScript error. For plain requests the series (labels) must equal
// what the same block read locally selects (all of its series for no matchers, as a store
// answers a request whose matchers were all external labels).

import { assert, assertEquals } from "../helpers/assert.ts";
import { below, fuzz, pick } from "../helpers/fuzz.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { BucketStore } from "../../store/bucket_store.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { createBucket } from "../../objstore/config.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { Block } from "../../tsdb/block.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import { compareLabels, labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import {
  decodeLabelNamesRequest,
  decodeLabelValuesRequest,
  decodeSeriesRequest,
  encodeLabelNamesRequest,
  encodeLabelValuesRequest,
  encodeSeriesRequest,
  type SeriesRequest,
} from "../../storeapi/codec.ts";
import { toGrpcError } from "../../storeapi/server.ts";
import { GrpcStatus } from "../../storeapi/grpc.ts";

const H = 3_600_000;
const T0 = 1_700_000_000_000;

function series(): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < 60; i++) {
    const n = 40 + (i % 7) * 10;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      ts[k] = T0 + (i % 4) * 1_800_000 + k * 15_000;
      vs[k] = i + k;
    }
    const labels: Record<string, string> = {
      __name__: `m${i % 5}`,
      instance: `host-${i}:9100`,
      job: `j${i % 3}`,
    };
    if (i % 2 === 0) labels.zone = `z${i % 7}`;
    out.push({ labels: labelsFromObject(labels), ts, vs });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

const NAMES = ["__name__", "job", "instance", "zone", "", "nope"];
const VALUES = [
  "m1",
  "j1",
  "",
  ".*",
  ".+",
  "host-1:9100",
  "(?i)M.*",
  "a|b|j0",
  "[",
  "z[0-3]",
  "\\d+",
  "^$",
  "m0|m1|m2",
  ".*-1.*",
  "host-(1|2)\\d:.*",
];
const TIMES = [
  0,
  -1,
  T0,
  T0 + H,
  T0 + 2 * H,
  T0 + 1_799_999,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
];

function matchers(r: () => number): Matcher[] {
  const out: Matcher[] = [];
  for (let k = below(r, 4); k >= 0; k--) {
    const type = pick(r, [
      MatchType.Equal,
      MatchType.NotEqual,
      MatchType.Regexp,
      MatchType.NotRegexp,
    ]);
    try {
      out.push(new Matcher(type, pick(r, NAMES), pick(r, VALUES)));
    } catch {
      // a regex that does not compile never reaches a request
    }
  }
  return out;
}

/** A random request, and whether it is plain (compared with the local read). */
function request(r: () => number): { req: SeriesRequest; plain: boolean } {
  const req: SeriesRequest = {
    minTime: pick(r, TIMES),
    maxTime: pick(r, TIMES),
    matchers: matchers(r),
    skipChunks: true,
  };
  if (below(r, 2) === 0) return { req, plain: true };
  req.skipChunks = below(r, 2) === 0;
  req.maxResolutionWindow = pick(r, [0, 300_000, 3_600_000, 2 ** 40]);
  req.limit = pick(r, [0, 1, 5]);
  req.responseBatchSize = pick(r, [0, 1, 64, 100_000]);
  if (below(r, 3) === 0) req.withoutReplicaLabels = ["zone"];
  if (below(r, 3) === 0) {
    req.shardInfo = {
      shardIndex: pick(r, [0, 1, 5]),
      totalShards: pick(r, [0, 1, 2, 3]),
      by: below(r, 2) === 0,
      labels: below(r, 2) ? ["job"] : [],
    };
  }
  if (below(r, 3) === 0) {
    req.queryHints = {
      stepMillis: pick(r, [0, 60_000]),
      func: pick(r, ["rate", "", "unknown"]),
      rangeMillis: pick(r, [0, 300_000]),
      grouping: { by: below(r, 2) === 0, labels: ["job"] },
    };
  }
  return { req, plain: false };
}

function clear(e: unknown): void {
  const status = toGrpcError(e).code;
  assert(status === GrpcStatus.INVALID_ARGUMENT, `status ${status}: ${(e as Error).stack ?? e}`);
}

Deno.test("fuzz: the store gateway answers random StoreAPI requests or refuses them as invalid", async () => {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const data = series();
    const meta = await writeBlock(`${root}/bucket`, data, {
      minTime: T0,
      maxTime: T0 + 2 * H,
      thanos: { labels: {}, downsample: { resolution: 0 }, source: "test" },
    });
    const registry = new Registry();
    const bucket = await createBucket(
      { type: "FILESYSTEM", config: { directory: `${root}/bucket` }, prefix: "" } as Parameters<
        typeof createBucket
      >[0],
      { registry, maxRetries: 0 },
    );
    const store = new BucketStore(bucket, {
      syncer: new MetaSyncer(bucket, { registry, cacheDir: `${root}/data/meta-syncer` }),
      logger: new Logger("error"),
      registry,
      dataDir: `${root}/data`,
    });
    await store.syncBlocks();
    const local = new BlocksQuerier([await Block.open(`${root}/bucket/${meta.ulid}`)]);
    const signal = new AbortController().signal;
    let compared = 0;
    let found = 0;
    await fuzz(
      "store requests",
      14,
      1_500,
      (r) => ({ ...request(r), label: pick(r, NAMES) }),
      async ({ req, plain, label }) => {
        // through the wire, as a querier's request arrives
        const sent = decodeSeriesRequest(encodeSeriesRequest(req));
        const got: string[] = [];
        try {
          for await (const item of store.series(sent, signal)) {
            if ("labels" in item) got.push(labelsToString(item.labels));
          }
        } catch (e) {
          clear(e);
          return;
        }
        if (plain && req.minTime <= req.maxTime) {
          const want: string[] = [];
          const hints = { start: req.minTime, end: req.maxTime, skipChunks: true };
          // no matchers (all were external labels, removed before the call) selects every series
          const ms = req.matchers.length > 0
            ? req.matchers
            : [new Matcher(MatchType.Regexp, "__name__", ".*")];
          for await (const s of local.select(ms, hints, signal)) {
            want.push(labelsToString(s.labels));
          }
          assertEquals(got, want, `{${req.matchers.join(", ")}} ${req.minTime}..${req.maxTime}`);
          compared++;
          found += got.length;
        }
        const names = { start: req.minTime, end: req.maxTime, matchers: req.matchers };
        try {
          await store.labelNames(decodeLabelNamesRequest(encodeLabelNamesRequest(names)), signal);
          await store.labelValues(
            decodeLabelValuesRequest(encodeLabelValuesRequest({ ...names, label })),
            signal,
          );
        } catch (e) {
          clear(e);
        }
      },
      ({ req }) => JSON.stringify({ ...req, matchers: req.matchers.map(String) }),
    );
    assert(compared > 300 && found > 1_000, `${compared} requests compared, ${found} series`);
  } finally {
    await dirs.cleanup();
  }
});
