// Vertical query sharding on the store side: a Series request may carry a `ShardInfo` (shard
// index, shard count, `by`/`without` and the grouping labels the query frontend found,
// https://thanos.io/tip/proposals-accepted/202205-vertical-query-sharding.md); a store answers
// only the series whose hash falls in that shard. The hash is Thanos's (storepb.ShardMatcher in
// pkg/store/storepb/shard_info.go): xxHash64 (seed 0) over `name\xffvalue\xff` of every label of
// the series' complete label set (external labels attached, replica labels of
// `without_replica_labels` removed) that is among the labels (`by`) or not among them
// (`without`), in label order; the series belongs to shard `hash mod totalShards`. Go and
// TypeScript stores of one fleet thus split a query the same way.

import { separatedHash } from "../tsdb/label_hash.ts";
import type { Labels } from "../tsdb/series.ts";
import type { ShardInfo } from "./codec.ts";

/** Tests whether a series (its complete label set) belongs to the request's shard. */
export type ShardMatcher = (labels: Labels) => boolean;

/** The hash Thanos shards series by (an unsigned 64-bit BigInt). */
export function shardHash(labels: Labels, by: boolean, names: ReadonlySet<string>): bigint {
  return separatedHash(null, labels, (name) => names.has(name) === by);
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
