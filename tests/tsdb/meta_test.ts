import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  type BlockMeta,
  encodeBlockMeta,
  parseBlockMeta,
  readBlockMeta,
  writeBlockMeta,
} from "../../tsdb/meta.ts";
import { InvalidMetaError, MissingFileError } from "../../tsdb/errors.ts";

// The values of Prometheus's tsdb/testdata/index_format_v1/meta.json, as Prometheus writes it
// (`writeMetaFile` in https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/block.go:
// `BlockMeta` field order, tabs, no trailing newline).
const PROM_EXAMPLE = `{
	"ulid": "01DXXFZDYD1MQW6079WK0K6EDQ",
	"minTime": 0,
	"maxTime": 7200000,
	"stats": {
		"numSamples": 102,
		"numSeries": 102,
		"numChunks": 102
	},
	"compaction": {
		"level": 1,
		"sources": [
			"01DXXFZDYD1MQW6079WK0K6EDQ"
		]
	},
	"version": 1
}`;

// A meta.json with a `thanos` section (fields of
// https://thanos.io/tip/thanos/storage.md/#metadata-file-metajson) in the exact form Thanos's
// `Meta.Write` produces (https://github.com/thanos-io/thanos/blob/main/pkg/block/metadata/meta.go:
// json.Encoder with SetIndent("", "\t"): trailing newline, index_stats always present).
const THANOS_EXAMPLE = `{
	"ulid": "01J0000000000000000000000A",
	"minTime": 1700000000000,
	"maxTime": 1700007200000,
	"stats": {
		"numSamples": 1200000,
		"numSeries": 10000,
		"numChunks": 10000
	},
	"compaction": {
		"level": 1,
		"sources": [
			"01J0000000000000000000000A"
		]
	},
	"version": 1,
	"thanos": {
		"labels": {
			"cluster": "eu1",
			"replica": "a"
		},
		"downsample": {
			"resolution": 0
		},
		"source": "sidecar",
		"segment_files": [
			"000001"
		],
		"files": [
			{
				"rel_path": "chunks/000001",
				"size_bytes": 5120000
			},
			{
				"rel_path": "index",
				"size_bytes": 250000
			},
			{
				"rel_path": "meta.json"
			}
		],
		"index_stats": {},
		"upload_time": "2023-11-14T22:13:25.123456789Z"
	}
}
`;

Deno.test("a Prometheus-written meta.json parses and re-encodes byte-exactly", () => {
  const m = parseBlockMeta(PROM_EXAMPLE, "b/meta.json");
  assertEquals(m, {
    ulid: "01DXXFZDYD1MQW6079WK0K6EDQ",
    minTime: 0,
    maxTime: 7200000,
    stats: { numSamples: 102, numSeries: 102, numChunks: 102 },
    compaction: { level: 1, sources: ["01DXXFZDYD1MQW6079WK0K6EDQ"] },
    version: 1,
  });
  assertEquals(encodeBlockMeta(m), PROM_EXAMPLE);
});

Deno.test("a Thanos-written meta.json parses and re-encodes byte-exactly", () => {
  const m = parseBlockMeta(THANOS_EXAMPLE, "b/meta.json");
  assertEquals(m.thanos?.labels, { cluster: "eu1", replica: "a" });
  assertEquals(m.thanos?.files?.[2], { rel_path: "meta.json" });
  assertEquals(encodeBlockMeta(m), THANOS_EXAMPLE);
});

Deno.test("Go omitempty rules: zero stats dropped, structs kept, unset upload_time is zero time", () => {
  const m: BlockMeta = {
    ulid: "01DXXFZDYD1MQW6079WK0K6EDQ",
    minTime: 10,
    maxTime: 20,
    stats: { numSamples: 0, numTombstones: 3 },
    compaction: {
      level: 2,
      sources: [],
      deletable: false,
      parents: [{ ulid: "01DXXFZDYD1MQW6079WK0K6EDQ", minTime: 10, maxTime: 20 }],
      failed: true,
      hints: ["from-out-of-order"],
    },
    version: 1,
    thanos: {
      labels: { "b<&>": "x\u2028y", a: '\n\t"' },
      downsample: { resolution: 300000 },
      source: "compactor",
      files: [{ rel_path: "index", size_bytes: 0, hash: { hashFunc: "SHA256", value: "ab" } }],
      index_stats: { series_max_size: 100 },
      extensions: { z: 1, a: [true, null, { y: "2", b: 1.5 }] },
    },
  };
  const want = `{
	"ulid": "01DXXFZDYD1MQW6079WK0K6EDQ",
	"minTime": 10,
	"maxTime": 20,
	"stats": {
		"numTombstones": 3
	},
	"compaction": {
		"level": 2,
		"parents": [
			{
				"ulid": "01DXXFZDYD1MQW6079WK0K6EDQ",
				"minTime": 10,
				"maxTime": 20
			}
		],
		"failed": true,
		"hints": [
			"from-out-of-order"
		]
	},
	"version": 1,
	"thanos": {
		"labels": {
			"a": "\\n\\t\\"",
			"b\\u003c\\u0026\\u003e": "x\\u2028y"
		},
		"downsample": {
			"resolution": 300000
		},
		"source": "compactor",
		"files": [
			{
				"rel_path": "index",
				"hash": {
					"hashFunc": "SHA256",
					"value": "ab"
				}
			}
		],
		"index_stats": {
			"series_max_size": 100
		},
		"extensions": {
			"a": [
				true,
				null,
				{
					"b": 1.5,
					"y": "2"
				}
			],
			"z": 1
		},
		"upload_time": "0001-01-01T00:00:00Z"
	}
}
`;
  const text = encodeBlockMeta(m);
  assertEquals(text, want);
  const back = parseBlockMeta(text, "x");
  assertEquals(back.thanos?.labels, m.thanos?.labels);
  assertEquals(encodeBlockMeta(back), want);
  // empty stats are still an object
  const bare = encodeBlockMeta({ ...m, stats: {}, thanos: undefined });
  assert(bare.includes('\t"stats": {},\n'), bare);
  assert(!bare.endsWith("\n"));
});

Deno.test("encode → parse round-trips a compacted block with every field", () => {
  const m: BlockMeta = {
    ulid: "01HZZZZZZZZZZZZZZZZZZZZZZZ",
    minTime: -5,
    maxTime: 1_700_000_000_000,
    stats: {
      numSamples: 9,
      numFloatSamples: 5,
      numHistogramSamples: 4,
      numSeries: 2,
      numChunks: 3,
      numTombstones: 1,
    },
    compaction: {
      level: 3,
      sources: ["01DXXFZDYD1MQW6079WK0K6EDQ", "01HZZZZZZZZZZZZZZZZZZZZZZZ"],
      deletable: true,
      parents: [{ ulid: "01DXXFZDYD1MQW6079WK0K6EDQ", minTime: -5, maxTime: 0 }],
      failed: true,
      hints: ["a", "b"],
    },
    version: 1,
    thanos: {
      version: 1,
      labels: {},
      downsample: { resolution: 3600000 },
      source: "bucket.rewrite",
      segment_files: ["000001", "000002"],
      files: [{ rel_path: "chunks/000001", size_bytes: 7 }],
      rewrites: [{
        sources: ["01DXXFZDYD1MQW6079WK0K6EDQ"],
        deletions_applied: [{ matchers: [{ Type: 0, Name: "a", Value: "b" }] }],
      }],
      index_stats: { series_max_size: 1, chunk_max_size: 2 },
      extensions: { parquet_migrated: true },
      upload_time: "2024-01-02T03:04:05.5Z",
    },
  };
  const back = parseBlockMeta(encodeBlockMeta(m), "x/meta.json");
  assertEquals(back, m);
});

Deno.test("malformed meta.json is an InvalidMetaError naming the file and the field", () => {
  const base = JSON.parse(PROM_EXAMPLE);
  const cases: [unknown, string][] = [
    ["{not json", "JSON"],
    [[], "(root)"],
    [{ ...base, version: 2 }, "version"],
    [{ ...base, version: undefined }, "version"],
    [{ ...base, ulid: undefined }, "ulid"],
    [{ ...base, ulid: "01DXXFZDYD1MQW6079WK0K6ED" }, "ulid"],
    [{ ...base, minTime: 7200001 }, "minTime 7200001 is after maxTime"],
    [{ ...base, minTime: "0" }, "minTime"],
    [{ ...base, maxTime: 1.5 }, "maxTime"],
    [{ ...base, stats: { numSamples: -1 } }, "stats.numSamples"],
    [{ ...base, stats: [] }, "stats"],
    [{ ...base, compaction: undefined }, "compaction"],
    [{ ...base, compaction: { level: 0 } }, "compaction.level"],
    [{ ...base, compaction: { level: 1, sources: ["x"] } }, "compaction.sources[0]"],
    [{ ...base, compaction: { level: 1, deletable: "yes" } }, "compaction.deletable"],
    [{ ...base, compaction: { level: 1, parents: [{ ulid: base.ulid }] } }, "parents[0].minTime"],
    [{ ...base, thanos: { version: 2 } }, "thanos.version"],
    [{ ...base, thanos: { labels: { a: 1 } } }, "thanos.labels.a"],
    [{ ...base, thanos: { downsample: { resolution: -1 } } }, "thanos.downsample.resolution"],
    [{ ...base, thanos: { files: [{}] } }, "thanos.files[0].rel_path"],
    [{ ...base, thanos: { upload_time: "yesterday" } }, "thanos.upload_time"],
  ];
  for (const [input, field] of cases) {
    const text = typeof input === "string" ? input : JSON.stringify(input);
    const err = assertThrows(() => parseBlockMeta(text, "01X/meta.json"), InvalidMetaError);
    assert(err.message.includes("01X/meta.json"), err.message);
    assert(err.message.includes(field), `${err.message} should name ${field}`);
  }
  // minTime == maxTime is accepted (Prometheus does not check the range at all)
  parseBlockMeta(JSON.stringify({ ...base, minTime: 5, maxTime: 5 }), "x");
  // missing thanos labels read as an empty map, as Thanos does
  assertEquals(
    parseBlockMeta(JSON.stringify({ ...base, thanos: { source: "x" } }), "x").thanos?.labels,
    {},
  );
});

Deno.test("writeBlockMeta writes atomically and readBlockMeta reads it back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meta_test_" });
  try {
    await assertRejects(() => readBlockMeta(dir), MissingFileError, "meta.json");
    const m = parseBlockMeta(THANOS_EXAMPLE, "x");
    await writeBlockMeta(dir, m);
    assertEquals(await Deno.readTextFile(`${dir}/meta.json`), THANOS_EXAMPLE);
    assertEquals(await readBlockMeta(dir), m);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["meta.json"]);
    await Deno.writeTextFile(`${dir}/meta.json`, "{}");
    await assertRejects(() => readBlockMeta(dir), InvalidMetaError, `${dir}/meta.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
