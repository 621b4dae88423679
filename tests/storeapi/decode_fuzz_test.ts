// Hostile bytes for every StoreAPI-side decoder (tests/helpers/fuzz.ts): random protobuf messages
// and mutations of them must decode or fail with a ProtoDecodeError (the gRPC status
// INVALID_ARGUMENT, or a client's clear error) or, for a matcher's regex, an InvalidRegexError;
// HPACK header blocks must decode or fail with an HpackError. Never a JavaScript error, never a
// hang.

import { assert } from "../helpers/assert.ts";
import { below, decodeEach, fuzz, hex, mutateBytes, randomProto } from "../helpers/fuzz.ts";
import * as codec from "../../storeapi/codec.ts";
import * as exemplars from "../../storeapi/exemplars.ts";
import * as metadata from "../../storeapi/metadata.ts";
import * as query from "../../storeapi/query.ts";
import * as rules from "../../storeapi/rules.ts";
import * as targets from "../../storeapi/targets.ts";
import { ProtoDecodeError } from "../../storeapi/wire.ts";
import { InvalidRegexError } from "../../re2/parser.ts";
import { HpackDecoder, hpackEncode, HpackEncoder, HpackError } from "../../storeapi/hpack.ts";

const DECODERS: Record<string, (b: Uint8Array) => unknown> = {
  SeriesRequest: (b) => codec.decodeSeriesRequest(b),
  SeriesResponse: codec.decodeSeriesResponse,
  LabelNamesRequest: (b) => codec.decodeLabelNamesRequest(b),
  LabelNamesResponse: codec.decodeLabelNamesResponse,
  LabelValuesRequest: (b) => codec.decodeLabelValuesRequest(b),
  LabelValuesResponse: codec.decodeLabelValuesResponse,
  InfoResponse: codec.decodeInfoResponse,
  LegacyInfoResponse: codec.decodeLegacyInfoResponse,
  HealthCheckRequest: codec.decodeHealthCheckRequest,
  HealthCheckResponse: codec.decodeHealthCheckResponse,
  ExemplarsRequest: exemplars.decodeExemplarsRequest,
  ExemplarsResponse: exemplars.decodeExemplarsResponse,
  MetricMetadataRequest: metadata.decodeMetadataRequest,
  MetricMetadataResponse: metadata.decodeMetadataResponse,
  QueryRequest: query.decodeQueryRequest,
  QueryRangeRequest: query.decodeQueryRangeRequest,
  QueryResponse: query.decodeQueryResponse,
  RulesRequest: rules.decodeRulesRequest,
  RulesResponse: rules.decodeRulesResponse,
  TargetsRequest: targets.decodeTargetsRequest,
  TargetsResponse: targets.decodeTargetsResponse,
};

Deno.test("fuzz: every StoreAPI decoder decodes random messages or throws ProtoDecodeError", async () => {
  let decoded = 0;
  await fuzz(
    "decoders",
    3,
    30_000,
    (r) => below(r, 2) === 0 ? randomProto(r) : mutateBytes(r, randomProto(r)),
    (bytes) => {
      // a matcher's bad regex is the server's INVALID_ARGUMENT too (storeapi/server.ts)
      decoded += decodeEach(
        DECODERS,
        bytes,
        (e) => e instanceof ProtoDecodeError || e instanceof InvalidRegexError,
      );
    },
    hex,
  );
  assert(decoded > 50_000, `only ${decoded} messages decoded: the generator misses the fields`);
});

Deno.test("fuzz: HPACK header blocks decode or fail with an HpackError", async () => {
  const encoder = new HpackEncoder();
  await fuzz(
    "hpack",
    4,
    30_000,
    (r) => {
      const fields: [string, string][] = [
        [":path", "/thanos.Store/Series"],
        ["content-type", "application/grpc"],
        [`x-${below(r, 50)}`, "v".repeat(below(r, 300))],
        ["te", "trailers"],
      ];
      const block = below(r, 2) ? hpackEncode(fields) : encoder.encode(fields);
      return below(r, 10) === 0
        ? new Uint8Array(Array.from({ length: below(r, 40) }, () => below(r, 256)))
        : mutateBytes(r, block);
    },
    (block) => {
      try {
        new HpackDecoder().decodeRecord(block);
      } catch (e) {
        assert(e instanceof HpackError, `${e}`);
      }
    },
    hex,
  );
});
