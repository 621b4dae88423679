import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { isULID, newULID, ulidTime } from "../../tsdb/ulid.ts";
import { InvalidInputError } from "../../tsdb/errors.ts";

Deno.test("newULID encodes the time in the first 10 characters and validates", () => {
  const t = 1_700_000_000_123;
  const id = newULID(t);
  assertEquals(id.length, 26);
  assert(isULID(id));
  assertEquals(ulidTime(id), t);
  assert(/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id), id);
  assertEquals(newULID(0).slice(0, 10), "0000000000");
  assertEquals(ulidTime(newULID(2 ** 48 - 1)), 2 ** 48 - 1);
  assertEquals(newULID(2 ** 48 - 1).slice(0, 10), "7ZZZZZZZZZ");
});

Deno.test("known ULIDs decode to their timestamps", () => {
  // ULID spec README: seed time 1469918176385 gives 01ARYZ6S41…
  assertEquals(ulidTime("01ARYZ6S41TSV4RRFFQ69G5FAV"), 1469918176385);
  assertEquals(ulidTime("01aryz6s41tsv4rrffq69g5fav"), 1469918176385);
  assertEquals(newULID(1469918176385).slice(0, 10), "01ARYZ6S41");
  assertEquals(ulidTime("0000000001" + "0".repeat(16)), 1);
  assertEquals(ulidTime("0000000010" + "Z".repeat(16)), 32);
});

Deno.test("ULIDs made in the same millisecond are distinct and sort in creation order", () => {
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) ids.push(newULID(1_700_000_000_000));
  assertEquals(new Set(ids).size, 1000);
  assertEquals([...ids].sort(), ids);
  const later = newULID(1_700_000_000_001);
  assert(later > ids[999]);
});

Deno.test("isULID rejects wrong length, bad characters and time overflow", () => {
  for (
    const s of [
      "",
      "debug",
      "01DXXFZDYD1MQW6079WK0K6ED",
      "01DXXFZDYD1MQW6079WK0K6EDQQ",
      "01DXXFZDYD1MQW6079WK0K6EDU",
      "01DXXFZDYD1MQW6079WK0K6EDI",
      "01DXXFZDYD1MQW6079WK0K6ED-",
      "81DXXFZDYD1MQW6079WK0K6EDQ",
      "01DXXFZDYD1MQW6079WK0K6EDé",
      42,
      null,
    ]
  ) {
    assert(!isULID(s), `${s} should not be a ULID`);
  }
  assertThrows(() => ulidTime("nope"), InvalidInputError);
  assertThrows(() => newULID(-1), InvalidInputError);
  assertThrows(() => newULID(2 ** 48), InvalidInputError);
});
