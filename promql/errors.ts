// Errors of query evaluation, each carrying the Prometheus HTTP API `errorType` it maps to, with
// Prometheus 2.42's message texts (promql/engine.go).

/**
 * API error classes a query can fail with (the `errorType` of
 * https://prometheus.io/docs/prometheus/latest/querying/api/#format-overview; the values are the
 * `errorType` constants of
 * https://github.com/prometheus/prometheus/blob/v2.42.0/web/api/v1/api.go).
 */
export type PromQLErrorType = "bad_data" | "execution" | "timeout" | "canceled" | "internal";

/**
 * A query failed. `type` is the API `errorType` (`bad_data` → 400, `execution` → 422,
 * `timeout` → 503, `canceled` → 499, `internal` → 500); `message` is Prometheus's text.
 */
export class PromQLError extends Error {
  override name = "PromQLError";

  constructor(readonly type: PromQLErrorType, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Stage name Prometheus uses in limit errors raised while evaluating. */
const QUERY_EXECUTION = "query execution";
/** Stage name Prometheus uses in timeout/cancel errors raised while evaluating. */
const EXPRESSION_EVALUATION = "expression evaluation";

/** `--query.max-samples` exceeded (execution, HTTP 422). */
export function tooManySamplesError(): PromQLError {
  return new PromQLError(
    "execution",
    `query processing would load too many samples into memory in ${QUERY_EXECUTION}`,
  );
}

/** The query ran past its timeout (HTTP 503). */
export function queryTimeoutError(): PromQLError {
  return new PromQLError("timeout", `query timed out in ${EXPRESSION_EVALUATION}`);
}

/** The caller's signal aborted the query (HTTP 499). */
export function queryCanceledError(): PromQLError {
  return new PromQLError("canceled", `query was canceled in ${EXPRESSION_EVALUATION}`);
}

/** "vector cannot contain metrics with the same labelset" (execution). */
export function sameLabelsetError(): PromQLError {
  return new PromQLError("execution", "vector cannot contain metrics with the same labelset");
}
