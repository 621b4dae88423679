// The mutation list of `deno task mutate` (scripts/mutate.ts): small, realistic bugs, each
// applied alone to a scratch copy of the repository and run against the test files that must
// catch it. `find` must occur exactly once in `file` — when the code changes, the run fails
// with "STALE" until the entry is updated, so the list stays in step with the source.
// New components add their own entries as they land (issue 21).

/** One deliberate bug. */
export interface Mutation {
  /** Unique name, `<area>-<what>`; `--only=<substring>` selects by it. */
  name: string;
  /** Repository-relative file to mutate. */
  file: string;
  /** Exact source text; must occur exactly once in `file`. */
  find: string;
  /** Its replacement (the bug). */
  replace: string;
  /** Test files (repository-relative) run in order; the first failing one caught the bug. */
  tests: string[];
  /** The planted bug this reproduces (issue 21, 1–8), if any. */
  planted?: number;
  /**
   * An environment variable the catching tests need (e.g. `DENORT_BIN` for the compiled-binary
   * test). When it is unset the mutation is reported as skipped, by name, instead of run.
   */
  requiresEnv?: string;
}

export const MUTATIONS: Mutation[] = [
  // ---------------------------------------------------------------- tsdb: XOR chunks
  {
    name: "xor-iterator-dod14-bound",
    file: "tsdb/chunkenc/xor.ts",
    find: "\n        dod = (w >>> 16) & 0x3fff;\n        if (dod > 8192) dod -= 16384;",
    replace: "\n        dod = (w >>> 16) & 0x3fff;\n        if (dod >= 8192) dod -= 16384;",
    tests: ["tests/tsdb/xor_test.ts"],
    planted: 3,
  },
  {
    name: "xor-bulk-dod14-bound",
    file: "tsdb/chunkenc/xor.ts",
    find: "\n          dod = (w >>> 16) & 0x3fff;\n          if (dod > 8192) dod -= 16384;",
    replace: "\n          dod = (w >>> 16) & 0x3fff;\n          if (dod >= 8192) dod -= 16384;",
    tests: ["tests/tsdb/xor_test.ts"],
    planted: 3,
  },
  {
    name: "xor-iterator-dod20-bound",
    file: "tsdb/chunkenc/xor.ts",
    find: "\n        if (dod > 524288) dod -= 1048576;",
    replace: "\n        if (dod >= 524288) dod -= 1048576;",
    tests: ["tests/tsdb/xor_test.ts"],
  },
  {
    name: "xor-bulk-dod17-bound",
    file: "tsdb/chunkenc/xor.ts",
    find: "\n          if (dod > 65536) dod -= 131072;",
    replace: "\n          if (dod >= 65536) dod -= 131072;",
    tests: ["tests/tsdb/xor_test.ts"],
  },
  {
    name: "xor-encoder-dod14-lower-bound",
    file: "tsdb/chunkenc/xor.ts",
    find: "dod >= -8191 && dod <= 8192",
    replace: "dod >= -8192 && dod <= 8192",
    tests: ["tests/tsdb/xor_test.ts", "tests/tsdb/chunks_test.ts"],
  },
  {
    name: "xor-iterator-value-window-shift",
    file: "tsdb/chunkenc/xor.ts",
    find: "vw[0] ^= x << (tr - 32);",
    replace: "vw[0] ^= x << (tr - 31);",
    tests: ["tests/tsdb/xor_test.ts"],
    planted: 4,
  },
  {
    name: "xor-iterator-new-window-trailing",
    file: "tsdb/chunkenc/xor.ts",
    find: "this.trailing = 64 - lead - size;",
    replace: "this.trailing = 63 - lead - size;",
    tests: ["tests/tsdb/xor_test.ts"],
    planted: 4,
  },
  {
    name: "xor-bulk-value-window-shift",
    file: "tsdb/chunkenc/xor.ts",
    find: "vh ^= x >>> (32 - trailing);",
    replace: "vh ^= x >>> (31 - trailing);",
    tests: ["tests/tsdb/xor_test.ts"],
  },
  // ---------------------------------------------------------------- tsdb: postings
  {
    name: "postings-intersect-gallop-match",
    file: "tsdb/index/postings.ts",
    find: "if (b[j] === v) out[n++] = v;",
    replace: "if (b[j] >= v) out[n++] = v;",
    tests: ["tests/tsdb/postings_test.ts", "tests/tsdb/postings_for_matchers_test.ts"],
  },
  {
    name: "postings-seek-start-inclusive",
    file: "tsdb/index/postings.ts",
    find: "if (from >= n || list[from] >= target) return from;",
    replace: "if (from >= n || list[from] > target) return from;",
    tests: ["tests/tsdb/postings_test.ts"],
  },
  {
    name: "postings-merge-drops-odd-list",
    file: "tsdb/index/postings.ts",
    find: "    if (level.length % 2 === 1) next.push(level[level.length - 1]);\n",
    replace: "",
    tests: ["tests/tsdb/postings_test.ts", "tests/tsdb/postings_for_matchers_test.ts"],
  },
  {
    name: "postings-subtract-skips-equal",
    file: "tsdb/index/postings.ts",
    find: "while (j < bl && b[j] < v) j++;",
    replace: "while (j < bl && b[j] <= v) j++;",
    tests: ["tests/tsdb/postings_test.ts", "tests/tsdb/postings_for_matchers_test.ts"],
  },
  // ---------------------------------------------------------------- tsdb: index, chunks
  {
    name: "index-series-crc-unchecked",
    file: "tsdb/index/reader.ts",
    find: "const got = crc32c(b, bodyStart, bodyEnd);\n    if (want !== got) {",
    replace: "const got = crc32c(b, bodyStart, bodyEnd);\n    if (want !== got && bodyEnd < 0) {",
    tests: ["tests/tsdb/index_test.ts"],
  },
  {
    name: "index-postings-table-sample-search",
    file: "tsdb/index/reader.ts",
    find: "if (compareStrings(e.sampleValues[mid], value) <= 0) lo = mid;",
    replace: "if (compareStrings(e.sampleValues[mid], value) < 0) lo = mid;",
    tests: ["tests/tsdb/index_test.ts"],
  },
  {
    name: "chunk-record-crc-skips-encoding-byte",
    file: "tsdb/chunks/segment.ts",
    find: "const got = crc32c(buf, encAt, end);",
    replace: "const got = crc32c(buf, encAt + 1, end);",
    tests: ["tests/tsdb/chunks_test.ts"],
  },
  // ---------------------------------------------------------------- tsdb: matchers, labels
  {
    name: "matcher-nonempty-accepts-empty",
    file: "tsdb/matchers.ts",
    find: 'return v.length > 0 && (this.dotNL || !v.includes("\\n"));',
    replace: 'return v.length >= 0 && (this.dotNL || !v.includes("\\n"));',
    tests: ["tests/tsdb/matchers_test.ts"],
  },
  {
    name: "matcher-contains-ignores-newline",
    file: "tsdb/matchers.ts",
    find: 'return v.includes(this.lit) && (this.dotNL || !v.includes("\\n"));',
    replace: "return v.includes(this.lit);",
    tests: ["tests/tsdb/matchers_test.ts"],
  },
  {
    name: "labels-compare-longer-first",
    file: "tsdb/labels.ts",
    find:
      "    if (a[i + 1] !== b[i + 1]) return compareStrings(a[i + 1], b[i + 1]);\n  }\n  return a.length - b.length;",
    replace:
      "    if (a[i + 1] !== b[i + 1]) return compareStrings(a[i + 1], b[i + 1]);\n  }\n  return b.length - a.length;",
    tests: ["tests/tsdb/primitives_test.ts", "tests/tsdb/index_test.ts"],
  },
  {
    name: "labels-compare-surrogate-order",
    file: "tsdb/labels.ts",
    find: "return sa ? 1 : -1;",
    replace: "return sa ? -1 : 1;",
    tests: ["tests/tsdb/primitives_test.ts", "tests/tsdb/index_test.ts"],
  },
  // ---------------------------------------------------------------- storeapi
  {
    name: "codec-matcher-nre-as-re",
    file: "storeapi/codec.ts",
    find: "[MatchType.NotRegexp]: LabelMatcherType.NRE,",
    replace: "[MatchType.NotRegexp]: LabelMatcherType.RE,",
    tests: ["tests/storeapi/wire_test.ts", "tests/storeapi/interop_test.ts"],
  },
  {
    name: "codec-series-request-skip-chunks-field",
    file: "storeapi/codec.ts",
    find: "w.boolField(8, req.skipChunks);",
    replace: "w.boolField(18, req.skipChunks);",
    tests: ["tests/storeapi/wire_test.ts", "tests/storeapi/interop_test.ts"],
  },
  {
    name: "proxy-store-selection-equal-only",
    file: "storeapi/proxy.ts",
    find: "      if (!m.matches(v)) {\n        ok = false;",
    replace: "      if (m.value !== v) {\n        ok = false;",
    tests: ["tests/storeapi/proxy_test.ts"],
    planted: 2,
  },
  {
    name: "store-external-labels-equal-only",
    file: "storeapi/external_labels.ts",
    find: "if (!m.matches(v)) return null;",
    replace: "if (m.value !== v) return null;",
    tests: ["tests/storeapi/external_labels_test.ts", "tests/storeapi/server_test.ts"],
    planted: 2,
  },
  {
    name: "proxy-time-selection-touching",
    file: "storeapi/proxy.ts",
    find: "info.maxTime < mint || info.minTime > maxt",
    replace: "info.maxTime <= mint || info.minTime > maxt",
    tests: ["tests/storeapi/selection_mutation_gaps_test.ts", "tests/storeapi/proxy_test.ts"],
  },
  {
    name: "proxy-merge-descending",
    file: "storeapi/proxy.ts",
    find: "compareLabels(a.s.labels, b.s.labels) < 0",
    replace: "compareLabels(a.s.labels, b.s.labels) > 0",
    tests: ["tests/storeapi/proxy_test.ts"],
  },
  {
    name: "external-labels-series-label-wins",
    file: "storeapi/external_labels.ts",
    find: "      conflict = true;\n      out.push(ext[j], ext[j + 1]);",
    replace: "      conflict = true;\n      out.push(ls[i], ls[i + 1]);",
    tests: ["tests/storeapi/server_test.ts"],
  },
  {
    name: "dedup-penalty-single-interval",
    file: "storeapi/dedup.ts",
    find: "penB = lastT === -Infinity ? INITIAL_PENALTY_MS : 2 * (ta - lastT);",
    replace: "penB = lastT === -Infinity ? INITIAL_PENALTY_MS : 1 * (ta - lastT);",
    tests: ["tests/storeapi/dedup_test.ts"],
  },
  {
    name: "dedup-tie-prefers-second-replica",
    file: "storeapi/dedup.ts",
    find: "pickA = ta <= tb;",
    replace: "pickA = ta < tb;",
    tests: ["tests/storeapi/selection_mutation_gaps_test.ts", "tests/storeapi/dedup_test.ts"],
  },
  {
    name: "dedup-counter-correction-doubled",
    file: "storeapi/dedup.ts",
    find: "if (pickA) adjA += lastV - v;",
    replace: "if (pickA) adjA += 2 * (lastV - v);",
    tests: ["tests/storeapi/dedup_test.ts"],
    planted: 5,
  },
  {
    name: "dedup-counter-plus-50-per-switch",
    file: "storeapi/dedup.ts",
    find: "    useA = pickA;\n    started = true;",
    replace: "    if (counterAdjust && started && pickA !== useA) {\n" +
      "      if (pickA) adjA += 50;\n      else adjB += 50;\n    }\n" +
      "    useA = pickA;\n    started = true;",
    tests: ["tests/storeapi/dedup_test.ts"],
    planted: 5,
  },
  // ---------------------------------------------------------------- promql
  {
    name: "rate-extrapolation-threshold",
    file: "promql/functions.ts",
    find: "const threshold = avgInterval * 1.1;",
    replace: "const threshold = avgInterval * 1.5;",
    tests: ["tests/promql/functions_test.ts"],
  },
  {
    name: "rate-extrapolate-full-interval",
    file: "promql/functions.ts",
    find: "interval += durationToEnd < threshold ? durationToEnd : avgInterval / 2;",
    replace: "interval += durationToEnd < threshold ? durationToEnd : avgInterval;",
    tests: ["tests/promql/functions_test.ts"],
  },
  {
    name: "rate-counter-reset-adds-current",
    file: "promql/functions.ts",
    find: "if (cur < prev) result += prev;",
    replace: "if (cur < prev) result += cur;",
    tests: ["tests/promql/functions_test.ts"],
  },
  {
    name: "lookback-default-30s",
    file: "promql/engine.ts",
    find: "opts.lookbackDelta ?? 5 * 60_000",
    replace: "opts.lookbackDelta ?? 5 * 6_000",
    tests: ["tests/promql/engine_test.ts", "tests/promql/functions_test.ts"],
  },
  {
    name: "lookback-boundary-exclusive",
    file: "promql/engine.ts",
    find: "if (j < 0 || ts[j] < r - lookback || b.stale[j] !== 0) continue;",
    replace: "if (j < 0 || ts[j] <= r - lookback || b.stale[j] !== 0) continue;",
    tests: ["tests/promql/engine_test.ts", "tests/promql/functions_test.ts"],
  },
  {
    // the exported per-step aggregate(); queries reach it only for topk/bottomk/quantile/
    // count_values, so for max only its direct callers (and tests) see this bug
    name: "aggr-max-ignores-leading-nan",
    file: "promql/aggregations.ts",
    find: "if (g.value < v || g.value !== g.value) g.value = v;",
    replace: "if (g.value < v) g.value = v;",
    tests: [
      "tests/promql/aggregation_mutation_gaps_test.ts",
      "tests/promql/functions_test.ts",
    ],
  },
  {
    // the engine's column aggregator: every max() of a query (Prometheus 2.42 engine.go:
    // `group.value < s.V || math.IsNaN(group.value)`)
    name: "engine-max-ignores-leading-nan",
    file: "promql/engine.ts",
    find: "if (vals[i] < v || vals[i] !== vals[i]) vals[i] = v;",
    replace: "if (vals[i] < v) vals[i] = v;",
    tests: [
      "tests/promql/aggregation_mutation_gaps_test.ts",
      "tests/promql/binary_mutation_gaps_test.ts",
    ],
  },
  {
    name: "engine-min-ignores-leading-nan",
    file: "promql/engine.ts",
    find: "if (vals[i] > v || vals[i] !== vals[i]) vals[i] = v;",
    replace: "if (vals[i] > v) vals[i] = v;",
    tests: [
      "tests/promql/aggregation_mutation_gaps_test.ts",
      "tests/promql/binary_mutation_gaps_test.ts",
    ],
  },
  {
    name: "aggr-stdvar-sample-variance",
    file: "promql/aggregations.ts",
    find: "out.push({ labels: g.labels, value: g.value / g.count });",
    replace: "out.push({ labels: g.labels, value: g.value / (g.count - 1) });",
    tests: ["tests/promql/functions_test.ts", "tests/promql/engine_test.ts"],
  },
  {
    name: "binop-gte-strict",
    file: "promql/binary.ts",
    find: "      return a >= b;",
    replace: "      return a > b;",
    tests: [
      "tests/promql/binary_mutation_gaps_test.ts",
      "tests/promql/engine_test.ts",
      "tests/promql/functions_test.ts",
    ],
  },
  {
    name: "binop-ignoring-keeps-metric-name",
    file: "promql/binary.ts",
    find: "const listed = names.includes(n);\n" +
      "    if (matching.on ? !listed : (listed || n === METRIC_NAME)) continue;",
    replace: "const listed = names.includes(n);\n    if (matching.on ? !listed : listed) continue;",
    tests: ["tests/promql/engine_test.ts", "tests/promql/functions_test.ts"],
  },
  {
    name: "binop-one-to-one-on-keeps-all",
    file: "promql/binary.ts",
    find: "if (matching.on ? listed : !listed) kept.push(out[i], out[i + 1]);",
    replace: "if (matching.on ? !listed : !listed) kept.push(out[i], out[i + 1]);",
    tests: [
      "tests/promql/binary_mutation_gaps_test.ts",
      "tests/promql/engine_test.ts",
      "tests/promql/functions_test.ts",
    ],
  },
  {
    name: "parser-mul-precedence-as-add",
    file: "promql/parser.ts",
    find: "  MUL: 5,",
    replace: "  MUL: 4,",
    tests: ["tests/promql/parser_test.ts"],
  },
  {
    name: "parser-pow-left-associative",
    file: "promql/parser.ts",
    find: 'this.parseBinary(opTok.type === "POW" ? prec : prec + 1)',
    replace: "this.parseBinary(prec + 1)",
    tests: ["tests/promql/parser_test.ts"],
  },
  // ---------------------------------------------------------------- query
  {
    name: "replica-labels-param-needs-two",
    file: "query/replica_labels.ts",
    find: "return fromParam.length > 0 ? fromParam : configured;",
    replace: "return fromParam.length > 1 ? fromParam : configured;",
    tests: ["tests/query/replica_labels_test.ts"],
  },
  {
    name: "replica-labels-keeps-duplicates",
    file: "query/replica_labels.ts",
    find: 'if (s !== "" && !out.includes(s)) out.push(s);',
    replace: 'if (s !== "") out.push(s);',
    tests: ["tests/query/replica_labels_test.ts"],
  },
  {
    name: "api-label-names-drop-partial-warnings",
    file: "query/api.ts",
    find: "const list = [...names].sort(compareStrings);\n" +
      '    return { data: `[${list.map(goJSONString).join(",")}]`, warnings: q.warnings };',
    replace: "const list = [...names].sort(compareStrings);\n" +
      '    return { data: `[${list.map(goJSONString).join(",")}]` };',
    tests: ["tests/query/api_test.ts"],
    planted: 6,
  },
  {
    name: "api-label-values-drop-partial-warnings",
    file: "query/api.ts",
    find: "const list = [...values].sort(compareStrings);\n" +
      '    return { data: `[${list.map(goJSONString).join(",")}]`, warnings: q.warnings };',
    replace: "const list = [...values].sort(compareStrings);\n" +
      '    return { data: `[${list.map(goJSONString).join(",")}]` };',
    tests: ["tests/query/api_test.ts"],
    planted: 6,
  },
  {
    name: "api-partial-response-ignores-flag",
    file: "query/api.ts",
    find: 'partialResponse: this.boolParam(p, "partial_response", this.o.partialResponse),',
    replace: 'partialResponse: this.boolParam(p, "partial_response", true),',
    tests: ["tests/query/api_params_test.ts", "tests/e2e/query_faults_test.ts"],
  },
  {
    name: "api-dedup-default-off",
    file: "query/api.ts",
    find: 'dedup: this.boolParam(p, "dedup", true),',
    replace: 'dedup: this.boolParam(p, "dedup", false),',
    tests: ["tests/e2e/query_dedup_test.ts"],
  },
  {
    name: "api-max-points-off-by-one",
    file: "query/api.ts",
    find: "if (Math.trunc((end - start) / step) > 11000) {",
    replace: "if (Math.trunc((end - start) / step) >= 11000) {",
    tests: ["tests/query/api_params_test.ts", "tests/e2e/query_prometheus_test.ts"],
  },
  {
    name: "query-ui-routes-removed",
    file: "components/query/main.ts",
    find:
      "  http.add(uiRoutes({ routePrefix: cfg.routePrefix, externalPrefix: cfg.externalPrefix }));\n",
    replace: "",
    tests: ["tests/components/query/ui_test.ts"],
    planted: 1,
  },
  // ---------------------------------------------------------------- store, block
  {
    name: "bucket-block-overlap-includes-maxtime",
    file: "store/bucket_store.ts",
    find: "return this.meta.minTime <= maxt && mint < this.meta.maxTime;",
    replace: "return this.meta.minTime <= maxt && mint <= this.meta.maxTime;",
    tests: ["tests/store/bucket_store_time_test.ts", "tests/store/bucket_store_test.ts"],
  },
  {
    name: "bucket-chunk-time-filter",
    file: "store/bucket_store.ts",
    find: "if (c.maxTime < mint || c.minTime > maxt) continue;",
    replace: "if (c.maxTime < mint || c.minTime >= maxt) continue;",
    tests: ["tests/store/bucket_store_time_test.ts", "tests/store/bucket_store_test.ts"],
  },
  {
    name: "bucket-clamp-min-time",
    file: "store/bucket_store.ts",
    find: "Math.max(t, this.opts.minTime)",
    replace: "Math.min(t, this.opts.minTime)",
    tests: ["tests/store/bucket_store_time_test.ts", "tests/store/bucket_store_test.ts"],
  },
  {
    name: "bucket-clamp-max-time",
    file: "store/bucket_store.ts",
    find: "Math.min(t, this.opts.maxTime)",
    replace: "Math.max(t, this.opts.maxTime)",
    tests: ["tests/store/bucket_store_time_test.ts", "tests/store/bucket_store_test.ts"],
  },
  {
    name: "fetcher-time-filter-uses-mintime",
    file: "block/fetcher.ts",
    find: 'if (!(m.maxTime >= minT && m.minTime <= maxT)) drop(id, "time-excluded");',
    replace: 'if (!(m.minTime >= minT && m.minTime <= maxT)) drop(id, "time-excluded");',
    tests: ["tests/block/fetcher_mutation_gaps_test.ts", "tests/block/fetcher_test.ts"],
  },
  {
    name: "fetcher-consistency-delay-trusts-all",
    file: "block/fetcher.ts",
    find: 'if (now - uploadTime(m) < delay) drop(id, "too-fresh");',
    replace: 'if (now - uploadTime(m) < 0) drop(id, "too-fresh");',
    tests: ["tests/block/fetcher_test.ts"],
  },
  {
    name: "fetcher-deletion-mark-seconds-as-ms",
    file: "block/fetcher.ts",
    find: "this.now() - mark.deletion_time * 1000 > markDelay",
    replace: "this.now() - mark.deletion_time > markDelay",
    tests: ["tests/block/fetcher_test.ts"],
  },
  {
    name: "fetcher-duplicate-partial-overlap",
    file: "block/fetcher.ts",
    find: "if (kept.some((k) => src.every((s) => k.has(s)))) dups.push(m.ulid);",
    replace: "if (kept.some((k) => src.some((s) => k.has(s)))) dups.push(m.ulid);",
    tests: ["tests/block/fetcher_mutation_gaps_test.ts", "tests/block/fetcher_test.ts"],
  },
  // ---------------------------------------------------------------- launcher
  {
    name: "flags-kb-decimal",
    file: "components/flags.ts",
    find: "  kb: 1024,",
    replace: "  kb: 1000,",
    tests: [
      "tests/components/flags_mutation_gaps_test.ts",
      "tests/components/launcher_test.ts",
      "tests/components/config_test.ts",
    ],
  },
  {
    name: "flags-repeatable-overwrites",
    file: "components/flags.ts",
    find: "if (f.repeatable) (values[f.name] ??= []).push(value);",
    replace: "if (f.repeatable) values[f.name] = [value];",
    tests: ["tests/components/launcher_test.ts", "tests/components/config_test.ts"],
  },
  {
    name: "flags-relative-time-sign",
    file: "components/flags.ts",
    find: "return now + parseDurationFlag(s, true);",
    replace: "return now - parseDurationFlag(s, true);",
    tests: ["tests/components/launcher_test.ts", "tests/components/config_test.ts"],
  },
  {
    name: "flags-listen-empty-host-loopback",
    file: "components/flags.ts",
    find: 'hostname === "" ? "0.0.0.0" : hostname',
    replace: 'hostname === "" ? "127.0.0.1" : hostname',
    tests: ["tests/components/launcher_test.ts", "tests/components/config_test.ts"],
  },
  {
    name: "permissions-sd-files-no-read",
    file: "components/query/flags.ts",
    find: 'grants: "discover-glob",',
    replace: 'grants: "discover",',
    tests: ["tests/components/permissions_test.ts", "tests/components/query/sandbox_test.ts"],
    planted: 7,
  },
  {
    name: "permissions-objstore-file-grants-directory",
    file: "components/permissions.ts",
    find: 'if (grant === "objstore-file") set.read.add(value);',
    replace: 'if (grant === "objstore-file") set.read.add(value.replace(/[^/]*$/, "") || ".");',
    tests: ["tests/components/permissions_test.ts"],
    planted: 7,
  },
  {
    name: "permissions-write-without-read",
    file: "components/permissions.ts",
    find: '    case "write":\n      set.read.add(value);\n',
    replace: '    case "write":\n',
    tests: ["tests/components/permissions_test.ts"],
  },
  {
    name: "permissions-dns-srv-keeps-port",
    file: "components/permissions.ts",
    find: 'srv = sd[1] !== "dns";',
    replace: 'srv = sd[1] === "dnssrvnoa";',
    tests: ["tests/components/flags_mutation_gaps_test.ts", "tests/components/launcher_test.ts"],
  },
  // ---------------------------------------------------------------- compiled binary
  {
    name: "compile-launcher-without-net",
    file: "scripts/compile.ts",
    find: '"--allow-all", // the launcher itself',
    replace: '"--allow-read", // the launcher itself',
    tests: ["tests/scripts/compile_test.ts"],
    planted: 8,
    // only the compiled binary's run catches it, and that needs a denort runtime
    requiresEnv: "DENORT_BIN",
  },
  // ---------------------------------------------------------------- receive: hashring, handler, validation, limits
  {
    name: "receive-hashmod-ignores-replica-offset",
    file: "receive/hashring.ts",
    find: "addSmall(R[0], R[1], n);",
    replace: "addSmall(R[0], R[1], 0);",
    tests: ["tests/receive/hashring_test.ts"],
  },
  {
    name: "receive-ketama-no-wrap-around",
    file: "receive/hashring.ts",
    find: "if (a === this.hi.length) a = 0;",
    replace: "if (a === this.hi.length) a = this.hi.length - 1;",
    tests: ["tests/receive/hashring_test.ts", "tests/receive/hashring_mutation_gaps_test.ts"],
  },
  {
    name: "receive-tenant-glob-prefix-match",
    file: "runutil/glob.ts",
    find: "    return si === cps.length;\n  };\n  return m(0, 0);",
    replace: "    return true;\n  };\n  return m(0, 0);",
    tests: ["tests/runutil/glob_test.ts", "tests/receive/hashring_mutation_gaps_test.ts"],
  },
  {
    name: "receive-tenant-glob-star-crosses-slash",
    file: "runutil/glob.ts",
    find: "          if (j < cps.length && cps[j] === 0x2f) return false;\n",
    replace: "",
    tests: ["tests/runutil/glob_test.ts", "tests/receive/hashring_mutation_gaps_test.ts"],
  },
  {
    name: "receive-write-quorum-rf2-majority",
    file: "receive/handler.ts",
    find: "return this.rf === 2 ? 1 : Math.floor(this.rf / 2) + 1;",
    replace: "return Math.floor(this.rf / 2) + 1;",
    tests: ["tests/receive/handler_test.ts"],
  },
  {
    name: "receive-write-quorum-no-majority",
    file: "receive/handler.ts",
    find: "return this.rf === 2 ? 1 : Math.floor(this.rf / 2) + 1;",
    replace: "return this.rf === 2 ? 1 : Math.floor(this.rf / 2);",
    tests: ["tests/receive/handler_test.ts"],
  },
  {
    name: "receive-validate-skips-first-label-pair",
    file: "receive/remote_write.ts",
    find: "    if (i > 0) {\n      const c = compareStrings(ls[i], ls[i - 2]);",
    replace: "    if (i > 2) {\n      const c = compareStrings(ls[i], ls[i - 2]);",
    tests: ["tests/receive/remote_write_test.ts"],
  },
  {
    name: "receive-validate-empty-label-name",
    file: "receive/remote_write.ts",
    find: 'if (ls[i] === "" || ls[i + 1] === "") {',
    replace: 'if (ls[i + 1] === "") {',
    tests: ["tests/receive/remote_write_test.ts"],
  },
  {
    name: "receive-limits-size-inclusive",
    file: "receive/limits.ts",
    find: "l.sizeBytesLimit > 0 && bodyBytes > l.sizeBytesLimit",
    replace: "l.sizeBytesLimit > 0 && bodyBytes >= l.sizeBytesLimit",
    tests: ["tests/receive/limits_test.ts"],
  },
  // ---------------------------------------------------------------- tsdb: WAL and head
  {
    name: "wal-crc-check-skipped",
    file: "tsdb/wal/wal.ts",
    find: "          if (got2 !== crc) {",
    replace: "          if (got2 !== crc && len === 0) {",
    tests: ["tests/tsdb/wal_test.ts"],
  },
  {
    name: "wal-orphan-last-fragment-accepted",
    file: "tsdb/wal/wal.ts",
    find: "          } else if (!inRecord) {",
    replace: "          } else if (!inRecord && typ === Frag.Middle) {",
    tests: ["tests/tsdb/wal_test.ts", "tests/tsdb/wal_mutation_gaps_test.ts"],
  },
  {
    name: "wal-first-inside-record-accepted",
    file: "tsdb/wal/wal.ts",
    find: "          if (typ === Frag.Full || typ === Frag.First) {\n            if (inRecord) {",
    replace:
      "          if (typ === Frag.Full || typ === Frag.First) {\n            if (inRecord && typ === Frag.Full) {",
    tests: ["tests/tsdb/wal_test.ts", "tests/tsdb/wal_mutation_gaps_test.ts"],
  },
  {
    name: "wal-samples-time-delta-cumulative",
    file: "tsdb/wal/records.ts",
    find: "    ts[n] = t0 + dt;",
    replace: "    ts[n] = (n > 0 ? ts[n - 1] : t0) + dt;",
    tests: ["tests/tsdb/wal_test.ts"],
  },
  {
    name: "wal-samples-time-delta-no-zigzag",
    file: "tsdb/wal/records.ts",
    find: "      dt = (c >>> 1) ^ -(c & 1);",
    replace: "      dt = c >>> 1;",
    tests: ["tests/tsdb/wal_test.ts", "tests/tsdb/wal_mutation_gaps_test.ts"],
  },
  {
    name: "head-equal-timestamp-accepted",
    file: "tsdb/head.ts",
    find: "      if (t > mx) return null;",
    replace: "      if (t >= mx) return null;",
    tests: ["tests/tsdb/head_test.ts"],
  },
  {
    name: "head-duplicate-compares-high-word-only",
    file: "tsdb/head.ts",
    find: "if (this.lastHi !== hi || this.lastLo !== lo) return new DuplicateSampleError();",
    replace: "if (this.lastHi !== hi) return new DuplicateSampleError();",
    tests: ["tests/tsdb/head_test.ts", "tests/tsdb/head_mutation_gaps_test.ts"],
  },
  {
    name: "head-chunk-end-estimate-at-half",
    file: "tsdb/head.ts",
    find: "    if (num === SAMPLES_PER_CHUNK / 4) {",
    replace: "    if (num === SAMPLES_PER_CHUNK / 2) {",
    tests: ["tests/tsdb/head_test.ts"],
  },
  {
    name: "head-chunk-hard-cap-off-by-one",
    file: "tsdb/head.ts",
    find: "num >= SAMPLES_PER_CHUNK * 2",
    replace: "num > SAMPLES_PER_CHUNK * 2",
    tests: ["tests/tsdb/head_test.ts"],
  },
  // ---------------------------------------------------------------- compact: planner, groups, downsampling, retention
  {
    name: "compact-planner-skips-second-level",
    file: "compact/planner.ts",
    find: "for (const iv of ranges.slice(1)) {",
    replace: "for (const iv of ranges.slice(2)) {",
    tests: ["tests/compact/planner_test.ts"],
  },
  {
    name: "compact-overlap-includes-adjacent",
    file: "compact/planner.ts",
    find: "if (m.minTime < globalMaxt) {",
    replace: "if (m.minTime <= globalMaxt) {",
    tests: ["tests/compact/planner_test.ts"],
  },
  {
    name: "compact-group-key-ignores-resolution",
    file: "compact/group.ts",
    find: "const key = groupKeyOf(labels, resolution);",
    replace: "const key = groupKeyOf(labels, 0);",
    tests: ["tests/compact/planner_test.ts", "tests/compact/compactor_test.ts"],
  },
  {
    name: "downsample-current-window-past-end",
    file: "compact/downsample.ts",
    find: "return t - (t % r) + r - 1;",
    replace: "return t - (t % r) + r;",
    tests: ["tests/compact/downsample_test.ts"],
  },
  {
    name: "downsample-counter-reset-drops-new-value",
    file: "compact/downsample.ts",
    find: "this.counter += v < this.last ? v : v - this.last;",
    replace: "this.counter += v < this.last ? 0 : v - this.last;",
    tests: ["tests/compact/downsample_test.ts"],
  },
  {
    name: "downsample-apply-counter-resets-equal-is-reset",
    file: "compact/downsample.ts",
    find: "totalV += v >= lastV ? v - lastV : v;",
    replace: "totalV += v > lastV ? v - lastV : v;",
    tests: ["tests/compact/downsample_test.ts"],
  },
  {
    name: "retention-inclusive-boundary",
    file: "compact/retention.ts",
    find: "if (now > maxTimeMs + keep) {",
    replace: "if (now >= maxTimeMs + keep) {",
    tests: ["tests/compact/retention_test.ts"],
  },
  // ---------------------------------------------------------------- store: contained failures
  {
    name: "store-corrupt-block-fails-whole-call",
    file: "store/bucket_store.ts",
    find: "      if (signal.aborted || e instanceof GrpcError) throw e;",
    replace: "      if (signal.aborted || !(e instanceof RangeError)) throw e;",
    tests: ["tests/store/bucket_store_test.ts"],
  },
  {
    name: "store-failed-block-silently-missing",
    file: "store/bucket_store.ts",
    find: "      for (const w of stats.blockWarnings) yield { warning: w };\n" +
      "      for (const w of this.failedBlockWarnings(r.minTime, r.maxTime, r.matchers)) {",
    replace: "      for (const w of stats.blockWarnings) yield { warning: w };\n" +
      "      for (const w of this.failedBlockWarnings(r.minTime, r.maxTime, []).slice(1)) {",
    tests: ["tests/store/bucket_store_test.ts"],
  },
  // ---------------------------------------------------------------- query: store health
  {
    name: "endpoints-info-timeout-counts-own-stalls",
    file: "query/endpoints.ts",
    find: "const timeout = loopTimeout(this.opts.infoTimeoutMs ?? 5000);",
    replace: "const timeout = { signal: AbortSignal.timeout(this.opts.infoTimeoutMs ?? 5000), " +
      "clear: () => {} };",
    tests: ["tests/query/endpoints_test.ts"],
  },
  {
    name: "loop-timeout-fires-on-late-tick",
    file: "runutil/loop_clock.ts",
    find: "if (late) return schedule(Math.min(GRACE_MS, tickMs));",
    replace: "if (late && credited < 0) return schedule(Math.min(GRACE_MS, tickMs));",
    tests: ["tests/runutil/loop_clock_test.ts", "tests/query/endpoints_test.ts"],
  },
  {
    name: "proxy-unhealthy-store-silently-missing",
    file: "storeapi/proxy.ts",
    find: "      if (!mayAnswer(ep.name, ep.info, mint, maxt, matchers, call)) continue;",
    replace:
      "      if (ep.info === null || !mayAnswer(ep.name, ep.info, mint, maxt, matchers, call)) {\n" +
      "        continue;\n      }",
    tests: ["tests/storeapi/proxy_test.ts"],
  },
  {
    name: "proxy-pruned-unhealthy-store-warned",
    file: "storeapi/proxy.ts",
    find: "  if (info && (info.maxTime < mint || info.minTime > maxt)) return false;\n" +
      "  if (info && !labelSetsMatch",
    replace: "  if (info && (info.maxTime < mint && info.minTime > maxt)) return false;\n" +
      "  if (info && !labelSetsMatch",
    tests: ["tests/storeapi/proxy_test.ts"],
  },
  // ---------------------------------------------------------------- promql: no starvation
  {
    name: "engine-never-yields-to-the-loop",
    file: "promql/engine.ts",
    find: "    await yieldToLoop();\n    this.lastYield = performance.now();",
    replace: "    await Promise.resolve();\n    this.lastYield = performance.now();",
    tests: ["tests/e2e/query_starvation_test.ts"],
  },
  {
    name: "store-series-in-flight-not-released",
    file: "store/bucket_store.ts",
    find: "      this.metrics?.seriesInFlight.dec();",
    replace: "      if (!signal.aborted) this.metrics?.seriesInFlight.dec();",
    tests: ["tests/e2e/query_starvation_test.ts"],
  },
  {
    name: "querier-unhealthy-stores-not-reported",
    file: "components/query/main.ts",
    find: "    unavailable: () => endpoints.unavailable(),\n",
    replace: "",
    tests: ["tests/e2e/query_store_restart_test.ts"],
  },
  {
    name: "eval-pool-cancel-not-forwarded",
    file: "query/eval_pool.ts",
    find:
      '    const onAbort = () => slot.port.postMessage({ type: "cancel", id } satisfies ToWorker);',
    replace: "    const onAbort = () => {};",
    tests: ["tests/e2e/query_starvation_test.ts"],
  },
];
