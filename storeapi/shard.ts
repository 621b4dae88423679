// Vertical query sharding on the store side: a Series request may carry a `ShardInfo` (shard
// index, shard count, `by`/`without` and the grouping labels the query frontend found,
// https://thanos.io/tip/proposals-accepted/202205-vertical-query-sharding.md); a store answers
// only the series whose hash falls in that shard. The hash is Thanos's (storepb.ShardMatcher in
// pkg/store/storepb/shard_info.go): xxHash64 (seed 0) over `name\xffvalue\xff` of every label of
// the series' complete label set (external labels attached, replica labels of
// `without_replica_labels` removed) that is among the labels (`by`) or not among them
// (`without`), in label order; the series belongs to shard `hash mod totalShards`. Go and
// TypeScript stores of one fleet thus split a query the same way.

import xxhash from "xxhash-wasm";
import type { Labels } from "../tsdb/series.ts";
import type { ShardInfo } from "./codec.ts";

const { h64Raw } = await xxhash();
const encoder = new TextEncoder();
/** Reused hash input (grown as needed; one thread, no await while in use). */
let buf = new Uint8Array(1024);

/** Tests whether a series (its complete label set) belongs to the request's shard. */
export type ShardMatcher = (labels: Labels) => boolean;

/** The hash Thanos shards series by (an unsigned 64-bit BigInt). */
export function shardHash(labels: Labels, by: boolean, names: ReadonlySet<string>): bigint {
  let n = 0;
  for (let i = 0; i < labels.length; i += 2) {
    if (names.has(labels[i]) !== by) continue;
    for (const s of [labels[i], labels[i + 1]]) {
      // UTF-8 is at most 3 bytes per UTF-16 unit; the separator is one 0xff byte
      const need = n + s.length * 3 + 1;
      if (need > buf.length) {
        const bigger = new Uint8Array(Math.max(need, buf.length * 2));
        bigger.set(buf.subarray(0, n));
        buf = bigger;
      }
      n += encoder.encodeInto(s, buf.subarray(n)).written;
      buf[n++] = 0xff;
    }
  }
  return BigInt.asUintN(64, h64Raw(buf.subarray(0, n)));
}

/** The matcher of `info`, or null when the request is not sharded (no info, < 1 shard). */
export function shardMatcher(info: ShardInfo | undefined | null): ShardMatcher | null {
  if (!info || info.totalShards < 1) return null;
  const names = new Set(info.labels);
  const total = BigInt(info.totalShards);
  const index = BigInt(info.shardIndex);
  const by = info.by === true;
  return (labels) => shardHash(labels, by, names) % total === index;
}
