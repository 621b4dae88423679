// JSON string encoders: Go's encoding/json and Prometheus's jsoniter label encoder.

import { assertEquals } from "../helpers/assert.ts";
import { goJSONString, labelJSONString, labelsJSON } from "../../strconv/json.ts";

Deno.test("goJSONString escapes like encoding/json (HTML characters and U+2028/9 too)", () => {
  assertEquals(goJSONString("plain"), '"plain"');
  assertEquals(goJSONString('a"b\\c\n'), '"a\\"b\\\\c\\n"');
  assertEquals(goJSONString("<a&b>"), '"\\u003ca\\u0026b\\u003e"');
  assertEquals(goJSONString("x\u2028y\u2029"), '"x\\u2028y\\u2029"');
  assertEquals(goJSONString("\x01é"), '"\\u0001é"');
});

Deno.test("labelJSONString escapes only quotes, backslashes and control characters", () => {
  assertEquals(labelJSONString("<a&b>"), '"<a&b>"');
  assertEquals(labelJSONString('q"\\\n\r\t\x01'), '"q\\"\\\\\\n\\r\\t\\u0001"');
  assertEquals(labelJSONString("x\u2028é"), '"x\u2028é"');
});

Deno.test("labelsJSON writes flat label pairs as an object in their order", () => {
  assertEquals(labelsJSON([]), "{}");
  assertEquals(
    labelsJSON(["__name__", "up", "job", 'a"<b>']),
    '{"__name__":"up","job":"a\\"<b>"}',
  );
});

Deno.test("labelsJSON escapes each label set's own strings when sets follow each other", () => {
  // consecutive sets share some strings and differ in others (same length, other escaping)
  assertEquals(labelsJSON(["job", 'a"b', "x", "1"]), '{"job":"a\\"b","x":"1"}');
  assertEquals(labelsJSON(["job", "a_b", "x", "1"]), '{"job":"a_b","x":"1"}');
  assertEquals(labelsJSON(["job", 'a"b', "y", "1"]), '{"job":"a\\"b","y":"1"}');
  assertEquals(labelsJSON(["job", "", "y", ""]), '{"job":"","y":""}');
  // label sets longer than the positions remembered
  const long = Array.from({ length: 80 }, (_, i) => i % 2 === 0 ? `l${i}` : `v"${i}`);
  const want = "{" +
    Array.from({ length: 40 }, (_, k) => `"l${2 * k}":"v\\"${2 * k + 1}"`).join(",") + "}";
  assertEquals(labelsJSON(long), want);
  assertEquals(labelsJSON(long), want);
  assertEquals(labelsJSON(["a", "b"]), '{"a":"b"}');
});
