// Vertical query sharding (`--query-frontend.vertical-shards`,
// https://thanos.io/tip/proposals-accepted/202205-vertical-query-sharding.md): a query whose
// every aggregation and vector matching groups by common labels can be run N times, each run
// seeing only the series whose grouping labels hash into its shard (the stores filter, see
// storeapi/shard.ts); the N answers hold disjoint series and merge into the whole answer.
// The analyzer follows Thanos' pkg/querysharding (analyzer.go, analysis.go): which queries are
// shardable and by (or without) which labels.

import { parseExpr } from "../promql/parser.ts";
import type { FunctionOptions } from "../promql/functions_table.ts";
import type { Expr } from "../promql/ast.ts";
import { inspect } from "../promql/ast.ts";
import type { ShardInfo } from "../storeapi/codec.ts";

/** How a query can be sharded: by (or without) `labels`; not shardable when `labels` is empty. */
export interface QueryAnalysis {
  /** null: nothing seen yet (Thanos' nil slice). */
  labels: string[] | null;
  by: boolean;
}

/** Thanos' scopeToLabels: narrows an analysis by one grouping (or vector matching). */
function scope(q: QueryAnalysis, labels: string[], by: boolean): QueryAnalysis {
  if (q.labels === null) return { labels: [...labels], by };
  if (q.by && by) return { labels: q.labels.filter((l) => labels.includes(l)), by: true };
  if (!q.by && !by) return { labels: [...new Set([...q.labels, ...labels])], by: false };
  // by and without at once: the by labels that are not without labels
  const [byLabels, withoutLabels] = q.by ? [q.labels, labels] : [labels, q.labels];
  return { labels: byLabels.filter((l) => !withoutLabels.includes(l)), by: true };
}

/** `label_replace`/`label_join`'s destination label (the second argument), if a literal. */
function stringArg(e: Expr | undefined): string | null {
  while (e?.kind === "ParenExpr") e = e.expr;
  return e?.kind === "StringLiteral" ? e.val : null;
}

const NOT_SHARDABLE: QueryAnalysis = { labels: null, by: false };

/**
 * Analyzes `query`: functions that see across series (`absent`, `absent_over_time`, `scalar`)
 * make it not shardable; every aggregation scopes the sharding labels to its grouping (`by`) or
 * widens the labels to shard without (`without`); every vector matching scopes them to its
 * `on` labels or shards without its `ignoring` labels plus `__name__`; `histogram_quantile`
 * shards without `le`; labels written by `label_replace`/`label_join` are never sharded by.
 * Shardable when labels are left. A query that does not parse is not shardable.
 */
export function analyzeQuery(query: string, functions: FunctionOptions = {}): QueryAnalysis {
  let expr: Expr;
  try {
    expr = parseExpr(query, functions);
  } catch {
    return NOT_SHARDABLE;
  }
  let a: QueryAnalysis = { labels: null, by: false };
  const dynamic: string[] = [];
  let shardable = true;
  inspect(expr, (n) => {
    if (!shardable) return false;
    switch (n.kind) {
      case "Call":
        switch (n.func.name) {
          case "label_join":
          case "label_replace": {
            const dst = stringArg(n.args[1]);
            if (dst === null) shardable = false;
            else dynamic.push(dst);
            break;
          }
          case "absent_over_time":
          case "absent":
          case "scalar":
            shardable = false;
            return false;
          case "histogram_quantile":
            a = scope(a, ["le"], false);
            break;
        }
        break;
      case "BinaryExpr":
        if (n.vectorMatching !== null) {
          const m = n.vectorMatching;
          a = scope(a, m.on ? m.matchingLabels : [...m.matchingLabels, "__name__"], m.on);
        }
        break;
      case "AggregateExpr":
        a = scope(a, n.grouping, !n.without);
        break;
    }
  });
  if (!shardable) return NOT_SHARDABLE;
  if (dynamic.length > 0) a = scope(a, dynamic, false);
  return a;
}

/** Whether an analysis allows sharding. */
export function isShardable(a: QueryAnalysis): boolean {
  return a.labels !== null && a.labels.length > 0;
}

/** The `ShardInfo` of each of `n` shards of a shardable query. */
export function shardInfos(a: QueryAnalysis, n: number): ShardInfo[] {
  const out: ShardInfo[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ shardIndex: i, totalShards: n, by: a.by, labels: [...(a.labels ?? [])] });
  }
  return out;
}

/**
 * The `shard_info` parameter sent to the querier: the JSON Go's encoding/json writes for
 * storepb.ShardInfo (fields in declaration order, zero values omitted).
 */
export function shardInfoParam(info: ShardInfo): string {
  const o: Record<string, unknown> = {};
  if (info.shardIndex !== 0) o.shard_index = info.shardIndex;
  if (info.totalShards !== 0) o.total_shards = info.totalShards;
  if (info.by) o.by = true;
  if (info.labels.length > 0) o.labels = info.labels;
  return JSON.stringify(o);
}

/** How merged instant vectors are ordered (Thanos' sortPlanForQuery). */
export type SortPlan = "merge-only" | "values-asc" | "values-desc" | "labels";

/**
 * `topk`/`bottomk`/`limitk`/`limit_ratio` at the root: shard answers are concatenated;
 * `sort`/`sort_by_label` (or `_desc`) at the root or a root binary operation's side: by value;
 * otherwise by labels.
 */
export function sortPlanForQuery(query: string, functions: FunctionOptions = {}): SortPlan {
  let expr: Expr;
  try {
    expr = parseExpr(query, functions);
  } catch {
    return "labels";
  }
  if (
    expr.kind === "AggregateExpr" &&
    ["topk", "bottomk", "limitk", "limit_ratio"].includes(expr.op)
  ) return "merge-only";
  const sortOf = (e: Expr): SortPlan | null => {
    if (e.kind !== "Call") return null;
    const f = e.func.name;
    if (f === "sort" || f === "sort_by_label") return "values-asc";
    if (f === "sort_desc" || f === "sort_by_label_desc") return "values-desc";
    return null;
  };
  const root = sortOf(expr);
  if (root !== null) return root;
  if (expr.kind === "BinaryExpr") return sortOf(expr.lhs) ?? sortOf(expr.rhs) ?? "labels";
  return "labels";
}
