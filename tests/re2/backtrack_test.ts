// Which patterns may run on the backtracking RegExp: the realistic shapes do, every pattern
// whose backtracking is super-linear (nested or overlapping repetition) does not.

import { assert } from "../helpers/assert.ts";
import { parseRe2 } from "../../re2/parser.ts";
import { backtrackSafe } from "../../re2/backtrack.ts";
import { simplify } from "../../re2/translate.ts";
import { HOSTILE } from "../helpers/re2_cases.ts";

const safe = (p: string) => backtrackSafe(simplify(parseRe2(p).ast));
const safeWithoutNewline = (p: string) => backtrackSafe(simplify(parseRe2(p).ast), true);

Deno.test("hostile patterns are never judged safe for a backtracking engine", () => {
  for (const p of HOSTILE) assert(!safe(p), p);
});

Deno.test("common Prometheus regexes are judged safe (they keep the fast RegExp)", () => {
  for (
    const p of [
      "api|web",
      "10\\.0\\..*",
      "/api/v1/.+",
      "(?i)host-.*\\.example\\.com",
      "(.+):\\d+",
      "([^:]+):(\\d+)",
      "(api|web)-\\d+",
      "value_\\d+_(xyz|abc)",
      "[a-z]+-[0-9]+",
      "^foo$",
      "job-[0-9]{1,3}",
      "",
    ]
  ) assert(safe(p), p);
});

Deno.test("one ambiguous repetition is safe only when what follows cannot re-read it", () => {
  assert(safe(".*foo"));
  assert(safe("(.*)-(a|b)"));
  assert(safe(".*-[a-z]+"));
  assert(!safe(".*-[a-z-]+"));
  assert(!safe(".*[0-9]*"));
  assert(!safe(".*foo.*bar"));
  assert(!safe("x?.*y"));
  assert(safe("(ab|ac)"));
  assert(safe("host-1|host-2|host-10|web-1")); // literal alternatives sharing a prefix
  assert(safe("(ab|a)b*c"));
  assert(!safe("(ab|a)(bc|b)"));
  assert(!safe("(ab|a).*b"));
  assert(safe("a\\bb"));
  assert(safe("(?m)^a+$"));
  assert(!safe("(?:^a|b)*"));
});

Deno.test("a final .* makes one ambiguous choice safe only where . takes every input character", () => {
  // with a "\n" in the input, `(.*):.*` retries the final `.*` from every ':' (quadratic)
  assert(!safe("(.*):.*"));
  assert(safeWithoutNewline("(.*):.*"));
  assert(safeWithoutNewline("(.*):(.*)"));
  assert(safeWithoutNewline("(.*)-.+"));
  assert(safe("(?s)(.*):.*"));
  assert(!safe("(.*):[^\\n]*"));
  assert(safeWithoutNewline("(.*):[^\\n]*"));
  // something after the final repetition can still fail and make it re-read the input
  assert(!safeWithoutNewline("(.*):.*\\b"));
  assert(!safeWithoutNewline("(.*):.*x"));
  // the final repetition must take every character, and be the only other unbounded one
  assert(!safeWithoutNewline("(.*):[a-z:]*"));
  assert(!safeWithoutNewline("(.*):x*.*"));
  assert(!safeWithoutNewline(".*:.*:.*"));
  // repetitions of "\\n" take nothing from such inputs, so they are not ambiguous
  assert(!safe("a\\n*\\n*b"));
  assert(safeWithoutNewline("a\\n*\\n*b"));
  for (const p of HOSTILE) assert(!safeWithoutNewline(p), p);
});
