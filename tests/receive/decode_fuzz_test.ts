// Hostile write bodies (tests/helpers/fuzz.ts): remote write (snappy and protobuf), Thanos's
// forwarded WriteRequest, and OTLP (protobuf and JSON, decoded and translated) must be accepted or
// fail with the receiver's own error (RemoteWriteError: a 400/409/413 answer; OtlpDecodeError,
// OtlpTranslateError: a 400) — never a JavaScript error, never a hang.

import { assert } from "../helpers/assert.ts";
import {
  below,
  decodeEach,
  fuzz,
  hex,
  isCrash,
  mutateBytes,
  mutateValue,
  randomProto,
} from "../helpers/fuzz.ts";
import {
  decodeTimeSeries,
  decodeWriteRequest,
  decodeWriteRequestProto,
  encodeWriteRequest,
  RemoteWriteError,
} from "../../receive/remote_write.ts";
import { decodeForwardRequest } from "../../receive/writeable.ts";
import { decodeOtlpJson, decodeOtlpProtobuf, OtlpDecodeError } from "../../receive/otlp_decode.ts";
import {
  DEFAULT_OTLP_OPTIONS,
  OtlpTranslateError,
  translateOtlp,
} from "../../receive/otlp_translate.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";

/** A valid remote write request body (uncompressed) to mutate. */
function validRequest(): Uint8Array {
  return encodeWriteRequest({
    series: [0, 1, 2].map((i) => ({
      labels: labelsFromObject({ __name__: "up", job: "api", instance: `h${i}:9100` }),
      timestamps: Float64Array.of(1_700_000_000_000 + i, 1_700_000_015_000 + i),
      values: Float64Array.of(i / 3, i),
    })),
  });
}

const DECODERS: Record<string, (b: Uint8Array) => unknown> = {
  "WriteRequest": (b) => decodeWriteRequestProto(b, null),
  "WriteRequest (label cache)": (b) => decodeWriteRequestProto(b),
  "snappy WriteRequest": (b) => decodeWriteRequest(snappyBlockCompress(b), { labelCache: null }),
  "snappy body": (b) => decodeWriteRequest(b, { labelCache: null }),
  "TimeSeries": (b) => decodeTimeSeries(b, null),
  "thanos.WriteRequest": decodeForwardRequest,
  "OTLP protobuf": (b) => translateOtlp(decodeOtlpProtobuf(b), DEFAULT_OTLP_OPTIONS),
};

Deno.test("fuzz: write bodies decode or fail with the receiver's own errors", async () => {
  const valid = validRequest();
  let decoded = 0;
  await fuzz(
    "write",
    5,
    15_000,
    (r) => {
      switch (below(r, 3)) {
        case 0:
          return randomProto(r);
        case 1:
          return mutateBytes(r, randomProto(r));
        default:
          return mutateBytes(r, valid);
      }
    },
    (bytes) => {
      decoded += decodeEach(
        DECODERS,
        bytes,
        (e) =>
          e instanceof RemoteWriteError || e instanceof OtlpDecodeError ||
          e instanceof OtlpTranslateError,
      );
    },
    hex,
  );
  assert(decoded > 20_000, `only ${decoded} bodies decoded: the generator misses the fields`);
});

Deno.test("fuzz: OTLP JSON bodies with odd values translate or fail with the OTLP errors", async () => {
  const valid = {
    resourceMetrics: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "api" } }] },
      scopeMetrics: [{
        scope: { name: "s", version: "1" },
        metrics: [
          {
            name: "requests",
            unit: "1",
            sum: {
              aggregationTemporality: 2,
              isMonotonic: true,
              dataPoints: [{
                attributes: [{ key: "code", value: { intValue: "200" } }],
                timeUnixNano: "1700000000000000000",
                asInt: "5",
              }],
            },
          },
          {
            name: "latency",
            histogram: {
              aggregationTemporality: 2,
              dataPoints: [{
                timeUnixNano: "1700000000000000000",
                count: "3",
                sum: 1.5,
                bucketCounts: ["1", "2", "0"],
                explicitBounds: [0.1, 1],
              }],
            },
          },
          {
            name: "temp",
            gauge: { dataPoints: [{ timeUnixNano: "1700000000000000000", asDouble: 21.5 }] },
          },
        ],
      }],
    }],
  };
  let accepted = 0;
  await fuzz(
    "otlp json",
    6,
    15_000,
    (r) => {
      let v: unknown = valid;
      for (let k = 1 + below(r, 3); k > 0; k--) v = mutateValue(r, v);
      return JSON.stringify(v);
    },
    (text) => {
      try {
        translateOtlp(decodeOtlpJson(new TextEncoder().encode(text)), DEFAULT_OTLP_OPTIONS);
        accepted++;
      } catch (e) {
        const clear = e instanceof OtlpDecodeError || e instanceof OtlpTranslateError;
        assert(clear && !isCrash(e), `${e}`);
      }
    },
    (text) => text,
  );
  assert(accepted > 1_000, `only ${accepted} bodies accepted: the mutations break the top level`);
});
