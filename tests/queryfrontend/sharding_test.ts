// The vertical-sharding analyzer decides like Thanos' pkg/querysharding (the cases of its
// analyzer_test.go: https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/querysharding/analyzer_test.go),
// the shard_info parameter is Go's JSON of storepb.ShardInfo, shard answers merge per the sort
// plan.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  analyzeQuery,
  isShardable,
  shardInfoParam,
  shardInfos,
  sortPlanForQuery,
} from "../../queryfrontend/sharding.ts";
import { mergeVectors } from "../../queryfrontend/frontend.ts";

const NOT_SHARDABLE = [
  "sum(http_requests_total)",
  "count(sum by (pod) (http_requests_total))",
  "count(sum without (pod) (http_requests_total))",
  `http_requests_total{code="400"} / 4`,
  `http_requests_total{code="400"} / on () http_requests_total`,
  `sum by (pod) (http_requests_total{code="400"}) / sum by (cluster) (http_requests_total)`,
  `(http_requests_total{code="400"} + on (cluster, pod) http_requests_total{code="500"}) / on () http_requests_total`,
  `sum by (dst_label) (label_replace(metric, "dst_label", "$1", "src_label", "re"))`,
  `sum by (dst_label) (label_join(metric, "dst_label", ",", "src_label"))`,
  `sum by (url) (absent_over_time(http_requests_total{code="400"}[5m]))`,
  `sum by (url) (absent(http_requests_total{code="400"}))`,
  `scalar(sum by (url) (http_requests_total{code="400"}))`,
  `sum by (le) (histogram_quantile(0.99, http_requests_duration_seconds_bucket))`,
  `sum by (le) (http_requests_duration_seconds_bucket) + histogram_quantile(0.99, http_requests_duration_seconds_bucket)`,
  "rate(x[5m])",
  "sum by (job) (",
];

const BY: [string, string[]][] = [
  ["sum by (pod) (http_requests_total)", ["pod"]],
  ["max by (pod) (sum by (pod, cluster) (http_requests_total))", ["pod"]],
  [`http_requests_total{code="400"} / on (pod) http_requests_total`, ["pod"]],
  [`sum by (pod) (http_requests_total{code="400"}) / sum by (pod) (http_requests_total)`, ["pod"]],
  [
    `sum by (cluster, pod) (http_requests_total{code="400"}) / on (pod) sum by (cluster, pod) (http_requests_total)`,
    ["pod"],
  ],
  [`sum(http_requests_total{code="400"} * http_requests_total) by (pod)`, ["pod"]],
  [
    `(http_requests_total{code="400"} + on (cluster, pod) http_requests_total{code="500"}) / on (pod) http_requests_total`,
    ["pod"],
  ],
  [
    `sum by (container) ((http_requests_total{code="400"} + on (cluster, pod, container) http_requests_total{code="500"}) / on (pod, container) http_requests_total)`,
    ["container"],
  ],
  ["histogram_quantile(0.95, sum(rate(metric[1m])) by (le, cluster))", ["cluster"]],
  ["sum(http_requests_total) by (pod, cluster) [1h:1m]", ["cluster", "pod"]],
  ["increase(sum(http_requests_total) by (pod, cluster) [1h:1m])", ["cluster", "pod"]],
  [
    `sum(rate(node_cpu_seconds_total[3h])) by (cluster_id, mode) / ignoring(mode) group_left sum(rate(node_cpu_seconds_total[3h])) by (cluster_id)`,
    ["cluster_id"],
  ],
  [`sum by (pod) (label_replace(metric, "dst_label", "$1", "src_label", "re"))`, ["pod"]],
  [`sum by (pod, dst_label) (label_join(metric, "dst_label", ",", "src_label"))`, ["pod"]],
  [
    `label_join(sum by (pod) (label_join(metric, "dst_label", ",", "src_label")), "dst_label1", ",", "dst_label")`,
    ["pod"],
  ],
  [`sum by (le) (http_requests_duration_seconds_bucket)`, ["le"]],
];

const WITHOUT: [string, string[]][] = [
  ["sum without (pod) (http_requests_total)", ["pod"]],
  ["max without (pod) (sum without (pod, cluster) (http_requests_total))", ["cluster", "pod"]],
  [`sum(http_requests_total{code="400"} * http_requests_total) without (pod)`, ["__name__", "pod"]],
  [
    `sum without (cluster, pod) (http_requests_total{code="400"}) / ignoring (pod) sum without (cluster, pod) (http_requests_total)`,
    ["__name__", "cluster", "pod"],
  ],
  ["histogram_quantile(0.95, sum(rate(metric[1m])) without (le, cluster))", ["cluster", "le"]],
  [`sum without (pod) (label_replace(metric, "dst_label", "$1", "src_label", "re"))`, [
    "dst_label",
    "pod",
  ]],
  [`http_requests_total{code="400"} / http_requests_total`, ["__name__"]],
  ["aaaa - bbb > 1000", ["__name__"]],
  ["aaaa and bbb", ["__name__"]],
];

Deno.test("analyzeQuery: Thanos' shardable and non-shardable queries", () => {
  for (const q of NOT_SHARDABLE) assert(!isShardable(analyzeQuery(q)), q);
  for (const [q, labels] of BY) {
    const a = analyzeQuery(q);
    assert(isShardable(a) && a.by, q);
    assertEquals([...a.labels!].sort(), labels, q);
  }
  for (const [q, labels] of WITHOUT) {
    const a = analyzeQuery(q);
    assert(isShardable(a) && !a.by, q);
    assertEquals([...a.labels!].sort(), labels, q);
  }
});

Deno.test("shard_info: Go's JSON of storepb.ShardInfo, one per shard", () => {
  const infos = shardInfos(analyzeQuery("sum by (job) (x)"), 3);
  assertEquals(infos.map(shardInfoParam), [
    `{"total_shards":3,"by":true,"labels":["job"]}`,
    `{"shard_index":1,"total_shards":3,"by":true,"labels":["job"]}`,
    `{"shard_index":2,"total_shards":3,"by":true,"labels":["job"]}`,
  ]);
  assertEquals(
    shardInfoParam(shardInfos(analyzeQuery("sum without (i) (x)"), 2)[1]),
    `{"shard_index":1,"total_shards":2,"labels":["i"]}`,
  );
});

Deno.test("sort plans and the merge of shard vectors", () => {
  assertEquals(sortPlanForQuery("topk(3, sum by (a) (x))"), "merge-only");
  assertEquals(sortPlanForQuery("sort(sum by (a) (x))"), "values-asc");
  assertEquals(sortPlanForQuery("sort_desc(sum by (a) (x)) * 2"), "values-desc");
  assertEquals(sortPlanForQuery("sum by (a) (x)"), "labels");
  const s = (a: string, v: string) => ({ labels: ["a", a], point: [1000, v] as [number, string] });
  const parts = [[s("2", "5"), s("4", "+Inf")], [s("1", "7"), s("3", "-Inf")]];
  assertEquals(mergeVectors(parts, "labels").map((x) => x.labels[1]), ["1", "2", "3", "4"]);
  assertEquals(mergeVectors(parts, "values-asc").map((x) => x.point[1]), [
    "-Inf",
    "5",
    "7",
    "+Inf",
  ]);
  assertEquals(mergeVectors(parts, "values-desc").map((x) => x.point[1]), [
    "+Inf",
    "7",
    "5",
    "-Inf",
  ]);
  assertEquals(mergeVectors(parts, "merge-only").map((x) => x.labels[1]), ["2", "4", "1", "3"]);
});

Deno.test("with --query-frontend.enable-x-functions and experimental functions, such queries are analyzed", () => {
  const fns = { xFunctions: true, experimentalFunctions: true };
  // unknown without the options: not shardable (the querier answers them whole)
  assert(!isShardable(analyzeQuery("sum by (pod) (xrate(x[5m]))")));
  const a = analyzeQuery("sum by (pod) (xrate(x[5m]))", fns);
  assert(isShardable(a), JSON.stringify(a));
  assertEquals(a.by, true);
  assertEquals(a.labels, ["pod"]);
  // sort_by_label at the root orders merged instant answers; limitk concatenates them
  assertEquals(sortPlanForQuery('sort_by_label(x, "a")'), "labels");
  assertEquals(sortPlanForQuery('sort_by_label(x, "a")', fns), "values-asc");
  assertEquals(sortPlanForQuery("limitk(2, x)", fns), "merge-only");
});
