// JSON string encoders that write byte-for-byte what Go's encoders write: `encoding/json`
// (which escapes more than JSON.stringify) and the jsoniter label encoder of Prometheus's API.

/** Go encoding/json string: JSON.stringify plus escaped `<`, `>`, `&`, U+2028 and U+2029. */
export function goJSONString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/** What {@link labelJSONString} escapes: `"`, `\`, control characters. */
// deno-lint-ignore no-control-regex -- control characters are exactly what is escaped
const LABEL_ESCAPED = /["\\\x00-\x1f]/;

/** Label strings: only `"`, `\`, and control characters escaped (jsoniter fast path). */
export function labelJSONString(s: string): string {
  // nearly every label needs no escaping: one scan by the regex engine, no per-character work
  if (!LABEL_ESCAPED.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20) out += "\\u00" + c.toString(16).padStart(2, "0");
    else out += s[i];
  }
  return out + '"';
}

/**
 * A label set given as flat `[name, value, name, value, …]` pairs, as a JSON object in that
 * order, strings escaped like Prometheus's label encoder ({@link labelJSONString}).
 */
export function labelsJSON(ls: readonly string[]): string {
  let out = "{";
  for (let i = 0; i < ls.length; i += 2) {
    if (i > 0) out += ",";
    out += memoLabelJSON(ls[i], i) + ":" + memoLabelJSON(ls[i + 1], i + 1);
  }
  return out + "}";
}

/**
 * The last string met at each position of a label set and its JSON text: an answer's label sets
 * come sorted, so neighbours share most names and many values (the decoder hands out the same
 * string for a label equal to the previous series'), and an equal string needs no escaping scan
 * again (issue 19: the JSON of an answer of a few hundred series). Only the first positions are
 * kept, one string each, so a long label value is held until the next label set replaces it.
 */
const MEMO_POSITIONS = 32;
const memoStrings: string[] = new Array(MEMO_POSITIONS).fill("");
const memoTexts: string[] = new Array(MEMO_POSITIONS).fill('""');

function memoLabelJSON(s: string, i: number): string {
  if (i >= MEMO_POSITIONS) return labelJSONString(s);
  if (memoStrings[i] === s) return memoTexts[i];
  const text = labelJSONString(s);
  memoStrings[i] = s;
  memoTexts[i] = text;
  return text;
}
