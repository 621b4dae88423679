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
