// LabelNames and LabelValues answers decoded in steps (storeapi/codec.ts `…InSteps`, used by the
// querier's HTTP-thread clients, storeapi/client.ts `labelDecodeTurnEveryMs`): the same answer as
// the one-step decoder, and the event loop gets turns while tens of thousands of strings decode
// (issue 20).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  decodeLabelNamesResponse,
  decodeLabelNamesResponseInSteps,
  decodeLabelValuesResponse,
  decodeLabelValuesResponseInSteps,
  encodeLabelNamesResponse,
  encodeLabelValuesResponse,
} from "../../storeapi/codec.ts";
import { ProtoDecodeError } from "../../storeapi/wire.ts";
import { TurnPacer } from "../../runutil/loop_turn.ts";

/** 60,000 values like the starvation bench's, some non-ASCII and long, then warnings. */
const VALUES = Array.from(
  { length: 60_000 },
  (_, i) => i % 997 === 0 ? `wert-ä-${i}-${"x".repeat(i % 40)}` : String(i).padStart(6, "0"),
);
const WARNINGS = ["store a: partial", "store b: ünavailable"];

Deno.test("label values decoded in steps are the one-step decoder's answer", async () => {
  const buf = encodeLabelValuesResponse({ values: VALUES, warnings: WARNINGS });
  const want = decodeLabelValuesResponse(buf);
  assertEquals(want.values.length, VALUES.length);
  assertEquals(await decodeLabelValuesResponseInSteps(buf, new TurnPacer(1)), want);
  assertEquals(await decodeLabelValuesResponseInSteps(buf, new TurnPacer(1e9)), want);
  const empty = encodeLabelValuesResponse({ values: [], warnings: [] });
  assertEquals(await decodeLabelValuesResponseInSteps(empty, new TurnPacer(1)), {
    values: [],
    warnings: [],
  });
});

Deno.test("label names decoded in steps are the one-step decoder's answer", async () => {
  const buf = encodeLabelNamesResponse({ names: VALUES, warnings: WARNINGS });
  const want = decodeLabelNamesResponse(buf);
  assertEquals(want.names, VALUES);
  assertEquals(want.warnings, WARNINGS);
  assertEquals(await decodeLabelNamesResponseInSteps(buf, new TurnPacer(1)), want);
});

for (
  const [what, decode, buf] of [
    [
      "values",
      decodeLabelValuesResponseInSteps,
      encodeLabelValuesResponse({ values: VALUES, warnings: [] }),
    ],
    [
      "names",
      decodeLabelNamesResponseInSteps,
      encodeLabelNamesResponse({ names: VALUES, warnings: [] }),
    ],
  ] as const
) {
  Deno.test(`a timer runs while 60,000 label ${what} decode in steps`, async () => {
    const order: string[] = [];
    const timer = setTimeout(() => order.push("timer"), 0);
    try {
      await (decode as (b: Uint8Array, p: TurnPacer) => Promise<unknown>)(buf, new TurnPacer(1))
        .then(() => order.push("decoded"));
    } finally {
      clearTimeout(timer);
    }
    assertEquals(order, ["timer", "decoded"]);
  });
}

Deno.test("a truncated answer decoded in steps fails as the one-step decoder does", async () => {
  const buf = encodeLabelValuesResponse({ values: VALUES, warnings: [] });
  const cut = buf.subarray(0, buf.length - 3);
  let oneStep: unknown;
  try {
    decodeLabelValuesResponse(cut);
  } catch (e) {
    oneStep = e;
  }
  assert(oneStep instanceof ProtoDecodeError);
  const e = await assertRejects(() => decodeLabelValuesResponseInSteps(cut, new TurnPacer(1)));
  assert(e instanceof ProtoDecodeError);
  assertEquals(e.message, (oneStep as Error).message);
});
