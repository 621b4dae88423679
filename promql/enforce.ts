// Label enforcement in PromQL, as prom-label-proxy's `PromQLEnforcer` does it with
// `errorOnReplace` off (what Thanos's querier uses for `--query.enforce-tenancy`:
// https://github.com/prometheus-community/prom-label-proxy/blob/main/injectproxy/enforce.go,
// https://thanos.io/tip/components/query.md/#tenant-enforcement): every vector selector (also
// inside range selectors and subqueries) gets the enforced equality matcher; a matcher of the
// query on the same label is dropped, whatever its operator and value, so a query cannot widen or
// redirect it (`x{tenant_id="b"}` asked as tenant "a" selects `x{tenant_id="a"}`).

import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { type Expr, inspect } from "./ast.ts";
import { parseExpr } from "./parser.ts";
import { exprToString } from "./printer.ts";

/**
 * `matchers` without those on `enforced.name`, then `enforced` (an equality matcher): the
 * selector as prom-label-proxy's `EnforceMatchers` leaves it.
 */
export function enforceMatchers(matchers: readonly Matcher[], enforced: Matcher): Matcher[] {
  if (enforced.type !== MatchType.Equal) {
    throw new Error(`only an equality matcher can be enforced, not ${enforced}`);
  }
  const out = matchers.filter((m) => m.name !== enforced.name);
  out.push(enforced);
  return out;
}

/** Enforces `enforced` on every selector of `expr`, in place. */
export function enforceExpr(expr: Expr, enforced: Matcher): void {
  inspect(expr, (node) => {
    if (node.kind === "VectorSelector") node.matchers = enforceMatchers(node.matchers, enforced);
  });
}

/**
 * `query` with `name="value"` enforced on every selector, printed back as PromQL (Thanos's
 * `tenancy.EnforceQueryTenancy`). Throws the parser's ParseError when `query` does not parse.
 */
export function enforceQuery(query: string, name: string, value: string): string {
  const expr = parseExpr(query);
  enforceExpr(expr, new Matcher(MatchType.Equal, name, value));
  return exprToString(expr);
}
