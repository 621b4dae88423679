// The dashboard-style expressions of the memory benchmarks (issue 19, goal 3), one list for
// bench/store_memory_vs_prometheus.ts and bench/querier_memory.ts, so their figures are of the
// same suite.

export const MEMORY_SUITE_EXPRS: readonly string[] = [
  "up",
  "absent(nonexistent)",
  "process_resident_memory_bytes",
  "sum by (job) (rate(http_requests_total[5m]))",
  "sum without (instance) (irate(http_requests_total[5m]))",
  "topk(5, increase(http_requests_total[1h]))",
  "count by (code) (http_requests_total)",
  "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
  "avg_over_time(node_temperature_celsius[30m])",
  "max_over_time(process_resident_memory_bytes[1h])",
  "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
  "http_requests_total * on (job, instance) group_left up",
  "max_over_time(rate(http_requests_total[5m])[30m:1m])",
  'label_replace(up, "host", "$1", "instance", "(.*):.*")',
];
