// The engine's parsed expressions, by expression text (issue 19: a dashboard repeats the same
// queries, and parsing a short one cost the querier about as much as its JSON answer). The engine
// never changes a tree it evaluates (per-query state lives in its query context, keyed by node),
// so queries share one. Only trees that parsed and passed the evaluation depth check are kept.

import type { Expr } from "./ast.ts";
import type { FunctionOptions } from "./functions_table.ts";
import { checkEvalDepth, MAX_EXPR_DEPTH, parseExpr } from "./parser.ts";
import { CountLru } from "../runutil/lru.ts";

/**
 * Expressions kept (least recently used dropped first): a few dashboards' worth. A tree takes
 * tens of bytes per character of its text, so at most a few MiB are held.
 */
export const PARSE_CACHE_ENTRIES = 128;
/** Longer expressions are parsed every time: their trees would hold the memory, not dashboards. */
export const PARSE_CACHE_MAX_EXPR_LENGTH = 1024;

/** A bounded LRU of parsed, depth-checked expressions by (function options, text). */
export class ParseCache {
  private readonly trees: CountLru<string, Expr>;

  constructor(
    entries = PARSE_CACHE_ENTRIES,
    private readonly maxLength = PARSE_CACHE_MAX_EXPR_LENGTH,
  ) {
    this.trees = new CountLru(entries);
  }

  /** Entries held. */
  get size(): number {
    return this.trees.size;
  }

  /**
   * The tree of `input` parsed with `functions` (the optional function sets change what parses),
   * checked against the evaluation depth limit. Throws ParseError as parseExpr and
   * checkEvalDepth do; a failure is not kept.
   */
  parse(input: string, functions: FunctionOptions): Expr {
    if (input.length > this.maxLength) return parsedAndChecked(input, functions);
    const key = `${functions.experimentalFunctions ? 1 : 0}${functions.xFunctions ? 1 : 0}${input}`;
    const hit = this.trees.get(key);
    if (hit !== undefined) return hit;
    const expr = parsedAndChecked(input, functions);
    this.trees.set(key, expr);
    return expr;
  }
}

function parsedAndChecked(input: string, functions: FunctionOptions): Expr {
  const expr = parseExpr(input, functions);
  // evaluation recurses per level: refuse what would overflow the stack (400, not 500). Each node
  // of a tree has a token of its own in the text, so a shorter text cannot nest that deep.
  if (input.length > MAX_EXPR_DEPTH) checkEvalDepth(input, expr);
  return expr;
}
