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
import { StoreClient } from "../../storeapi/client.ts";

/** 60,000 values like the starvation bench's, some non-ASCII and long, then warnings. */
const VALUES = Array.from(
  { length: 60_000 },
  (_, i) => i % 997 === 0 ? `wert-ä-${i}-${"x".repeat(i % 40)}` : String(i).padStart(6, "0"),
);
const WARNINGS = ["store a: partial", "store b: ünavailable"];

/**
 * Fails unless `got` and `want` are the same answer. Compared as JSON text: a diff of two
 * 60,000-element arrays (assertEquals's message) would take gigabytes.
 */
function assertSameAnswer(got: unknown, want: unknown, what = ""): void {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g === w) return;
  let i = 0;
  while (g[i] === w[i]) i++;
  throw new Error(
    `${what}: answers differ at JSON offset ${i} (lengths ${g.length}, ${w.length}): ` +
      `${g.slice(i, i + 60)} vs ${w.slice(i, i + 60)}`,
  );
}

Deno.test("label values decoded in steps are the one-step decoder's answer", async () => {
  const buf = encodeLabelValuesResponse({ values: VALUES, warnings: WARNINGS });
  const want = decodeLabelValuesResponse(buf);
  assertEquals(want.values.length, VALUES.length);
  assertSameAnswer(await decodeLabelValuesResponseInSteps(buf, new TurnPacer(1)), want);
  assertSameAnswer(await decodeLabelValuesResponseInSteps(buf, new TurnPacer(1e9)), want);
  const empty = encodeLabelValuesResponse({ values: [], warnings: [] });
  assertEquals(await decodeLabelValuesResponseInSteps(empty, new TurnPacer(1)), {
    values: [],
    warnings: [],
  });
});

Deno.test("label names decoded in steps are the one-step decoder's answer", async () => {
  const buf = encodeLabelNamesResponse({ names: VALUES, warnings: WARNINGS });
  const want = decodeLabelNamesResponse(buf);
  assertSameAnswer(want.names, VALUES);
  assertEquals(want.warnings, WARNINGS);
  assertSameAnswer(await decodeLabelNamesResponseInSteps(buf, new TurnPacer(1)), want);
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

/**
 * A StoreClient whose channel answers every unary call with `answer` at once (no network, so
 * no turn but the decoder's own comes between the answer and the decoded result).
 */
function clientAnswering(answer: Uint8Array, labelDecodeTurnEveryMs?: number): StoreClient {
  const c = new StoreClient("127.0.0.1:1", { labelDecodeTurnEveryMs });
  (c as unknown as { channel: { unary: () => Promise<Uint8Array> } }).channel.unary = () =>
    Promise.resolve(answer);
  return c;
}

Deno.test("a StoreClient with labelDecodeTurnEveryMs decodes label answers in steps", async () => {
  const req = { start: 0, end: 1, matchers: [] };
  const values = encodeLabelValuesResponse({ values: VALUES, warnings: WARNINGS });
  const names = encodeLabelNamesResponse({ names: VALUES, warnings: WARNINGS });
  for (const every of [1, undefined]) {
    for (const kind of ["values", "names"] as const) {
      const order: string[] = [];
      const timer = setTimeout(() => order.push("timer"), 0);
      try {
        const res = kind === "values"
          ? await clientAnswering(values, every).labelValues({ ...req, label: "idx" })
          : await clientAnswering(names, every).labelNames(req);
        order.push("decoded");
        assertSameAnswer(
          res,
          kind === "values" ? decodeLabelValuesResponse(values) : decodeLabelNamesResponse(names),
          `${kind} ${every}`,
        );
      } finally {
        clearTimeout(timer);
      }
      // without the option the answer decodes in one go, before any timer
      assertEquals(
        order,
        every === undefined ? ["decoded"] : ["timer", "decoded"],
        `${kind} ${every}`,
      );
    }
  }
});

Deno.test("a malformed label answer decoded in steps is a gRPC INTERNAL error", async () => {
  const cut = encodeLabelValuesResponse({ values: VALUES, warnings: [] }).subarray(0, 1000);
  for (const every of [1, undefined]) {
    const e = await assertRejects(() =>
      clientAnswering(cut, every).labelValues({ label: "idx", start: 0, end: 1, matchers: [] })
    );
    assert(/malformed response/.test((e as Error).message), (e as Error).message);
  }
});
