// Replica labels, the labels along which the querier deduplicates
// (https://thanos.io/tip/components/query.md/#deduplication). They come from the repeatable
// `--query.replica-label` flag ("Flag may be specified multiple times as well as a comma
// separated list of labels") and from the `replicaLabels[]` request parameter, which replaces
// the flag's labels for that request when given. Both are read by the same rules here.

/**
 * Replica labels from repeated values, each possibly a comma-separated list: parts are trimmed,
 * empty parts dropped and duplicates removed (first occurrence kept).
 */
export function parseReplicaLabels(values: Iterable<string>): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(",")) {
      const s = part.trim();
      if (s !== "" && !out.includes(s)) out.push(s);
    }
  }
  return out;
}

/**
 * The replica labels of one request: those of the `replicaLabels[]` parameter when it names
 * any, else the flag's (`configured`).
 */
export function requestReplicaLabels(
  param: Iterable<string>,
  configured: readonly string[],
): readonly string[] {
  const fromParam = parseReplicaLabels(param);
  return fromParam.length > 0 ? fromParam : configured;
}
