// Hashrings: xxHash64 and the Thanos series hash against reference digests, hashmod and ketama
// owners against values computed independently (libxxhash, the C reference implementation, over
// Thanos's byte layout) and against the expectations of Thanos's own hashring_test.go, tenant
// matching, zone spreading and configuration errors.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  type HashringConfig,
  newHashring,
  parseHashrings,
  seriesHash,
  singleNodeHashring,
  xxhash64,
} from "../../receive/hashring.ts";

Deno.test("xxhash64 matches the reference digests", () => {
  // from the xxHash reference implementation (seed 0)
  assertEquals(xxhash64(""), 0xef46db3751d8e999n);
  assertEquals(xxhash64("a"), 0xd24ec4f1a98c6e5bn);
  assertEquals(xxhash64("abc"), 0x44bc2cf5ad770999n);
  assertEquals(xxhash64("Nobody inspects the spammish repetition"), 0xfbcea83c8a378bf1n);
});

// Digests computed with libxxhash (XXH64, seed 0) over tenant 0xFF (name 0xFF value 0xFF)*.
const EPS = [0, 1, 2].map((i) =>
  `thanos-receive-${i}.thanos-receive.monitoring.svc.cluster.local:10901`
);
const VECTORS: { tenant: string; labels: string[]; hash: bigint; hashmod: number[] }[] = [
  {
    tenant: "default-tenant",
    labels: ["__name__", "up", "instance", "localhost:9090", "job", "prometheus"],
    hash: 0xcb7a3eb434a9984cn,
    hashmod: [2, 0, 1],
  },
  {
    tenant: "default-tenant",
    labels: ["__name__", "go_goroutines", "instance", "localhost:9100", "job", "node"],
    hash: 0xe27eb3dfffeb8bd4n,
    hashmod: [2, 0, 1],
  },
  {
    tenant: "team-a",
    labels: ["__name__", "up", "instance", "localhost:9090", "job", "prometheus"],
    hash: 0x52b49a1bac86ad89n,
    hashmod: [0, 1, 2],
  },
  {
    tenant: "tenant",
    labels: ["foo", "bar", "baz", "qux"],
    hash: 0xe1136e903d1ed545n,
    hashmod: [1, 2, 0],
  },
  {
    tenant: "ünïcode",
    labels: ["__name__", "métrique", "le", "0.5"],
    hash: 0x1b0ce31ee3245331n,
    hashmod: [1, 2, 0],
  },
];

Deno.test("series hash is Thanos's HashWithPrefix byte layout", () => {
  for (const v of VECTORS) assertEquals(seriesHash(v.tenant, v.labels), v.hash, v.tenant);
  // over 1 KiB (Thanos switches to the streaming hasher there: same digest)
  assertEquals(seriesHash("t", ["__name__", "x", "v", "y".repeat(1500)]), 0x7033b8877192dd7dn);
});

Deno.test("hashmod owners: (hash + replica) mod len over endpoints sorted by address", () => {
  // endpoints listed unsorted: hashmod sorts them
  const ring = newHashring(
    [{
      hashring: "",
      tenants: [],
      tenantMatcherType: "exact",
      endpoints: [EPS[2], EPS[0], EPS[1]].map((address) => ({ address, az: "" })),
      externalLabels: {},
    }],
    "hashmod",
    3,
  );
  for (const v of VECTORS) {
    for (let n = 0; n < 3; n++) {
      assertEquals(ring.get(v.tenant, v.labels, n), EPS[v.hashmod[n]], `${v.tenant} replica ${n}`);
    }
  }
  // and the arithmetic agrees with BigInt for many random series over 5 endpoints
  const five = newHashring(
    parseHashrings(JSON.stringify([{ endpoints: ["e", "a", "d", "b", "c"] }])),
    "hashmod",
    5,
  );
  const sorted = ["a", "b", "c", "d", "e"];
  for (let i = 0; i < 2000; i++) {
    const labels = ["__name__", `m${i % 7}`, "i", String(i * 7919)];
    const h = seriesHash("t", labels);
    for (let n = 0; n < 5; n++) {
      const want = sorted[Number(((h + BigInt(n)) % (1n << 64n)) % 5n)];
      assertEquals(five.get("t", labels, n), want);
    }
  }
});

function ring(endpoints: (string | { address: string; az: string })[]): HashringConfig[] {
  return parseHashrings(JSON.stringify([{ endpoints }]));
}

Deno.test("ketama owners match Thanos's TestKetamaHashringGet (10 sections per node)", () => {
  // https://github.com/thanos-io/thanos/blob/v0.42.0/pkg/receive/hashring_test.go
  const pod = ["pod", "nginx"];
  const cases: { eps: string[]; labels: string[]; n: number; want: string }[] = [
    { eps: ["node-1", "node-2", "node-3"], labels: pod, n: 0, want: "node-2" },
    { eps: ["node-1", "node-2", "node-3"], labels: pod, n: 1, want: "node-1" },
    { eps: ["node-1", "node-2", "node-3"], labels: pod, n: 2, want: "node-3" },
    { eps: ["node-1", "node-3", "node-2"], labels: pod, n: 2, want: "node-3" },
    { eps: ["node-0", "node-1", "node-2", "node-3"], labels: pod, n: 0, want: "node-2" },
    { eps: ["node-1", "node-2", "node-3", "node-4"], labels: pod, n: 0, want: "node-2" },
    { eps: ["node-1", "node-2", "node-3"], labels: ["pod", "thanos"], n: 0, want: "node-3" },
  ];
  for (const c of cases) {
    const h = newHashring(ring(c.eps), "ketama", c.n + 1, { sectionsPerNode: 10 });
    assertEquals(h.get("tenant", c.labels, c.n), c.want, JSON.stringify(c));
  }
});

Deno.test("ketama: replicas on distinct endpoints, even spread, stable when nodes are added", () => {
  const eps = ["a", "b", "c", "d", "e", "f"];
  const h = newHashring(ring(eps), "ketama", 3);
  const count = new Map<string, number>();
  const owners: string[][] = [];
  for (let i = 0; i < 6000; i++) {
    const labels = ["foo", String(i)];
    const o = [0, 1, 2].map((n) => h.get("default-tenant", labels, n));
    assertEquals(new Set(o).size, 3);
    for (const e of o) count.set(e, (count.get(e) ?? 0) + 1);
    owners.push(o);
  }
  for (const e of eps) {
    const c = count.get(e)!;
    assert(Math.abs(c - 3000) / 3000 < 0.1, `${e} owns ${c} of 18000 replicas`);
  }
  // adding a node moves series only onto the new node
  const bigger = newHashring(ring([...eps, "g"]), "ketama", 1);
  const smaller = newHashring(ring(eps), "ketama", 1);
  for (let i = 0; i < 3000; i++) {
    const labels = ["foo", String(i)];
    const now = bigger.get("t", labels, 0);
    if (now !== "g") assertEquals(now, smaller.get("t", labels, 0));
  }
});

Deno.test("ketama spreads replicas across availability zones", () => {
  const cfg = ring([
    { address: "a", az: "1" },
    { address: "b", az: "1" },
    { address: "c", az: "1" },
    { address: "d", az: "2" },
    { address: "e", az: "2" },
    { address: "f", az: "3" },
  ]);
  const azOf: Record<string, string> = { a: "1", b: "1", c: "1", d: "2", e: "2", f: "3" };
  const h = newHashring(cfg, "ketama", 3);
  for (let i = 0; i < 2000; i++) {
    const zones = [0, 1, 2].map((n) => azOf[h.get("t", ["foo", String(i)], n)]);
    assertEquals(new Set(zones).size, 3, `series ${i}: ${zones}`);
  }
  // RF 4 over zones of 3, 2 and 1 endpoints: the fourth replica goes to zone 1 or 2
  const h4 = newHashring(cfg, "ketama", 4);
  for (let i = 0; i < 500; i++) {
    const zones = [0, 1, 2, 3].map((n) => azOf[h4.get("t", ["foo", String(i)], n)]);
    assertEquals(new Set(zones.slice(0, 3)).size, 3);
  }
  // zones that cannot be balanced are an error, not a hang
  assertThrows(
    () =>
      newHashring(
        ring([{ address: "a", az: "1" }, { address: "b", az: "1" }, { address: "c", az: "1" }, {
          address: "d",
          az: "2",
        }]),
        "ketama",
        4,
      ),
    Error,
    "availability zones",
  );
});

Deno.test("tenants select rings: exact, glob, default; first match wins", () => {
  const cfgs = parseHashrings(JSON.stringify([
    { hashring: "a", tenants: ["tenant-a"], endpoints: ["a1"] },
    {
      hashring: "globs",
      tenants: ["team-*", "x?z", "[b-d]ob", "[^q]uu"],
      tenant_matcher_type: "glob",
      endpoints: ["g1"],
    },
    { hashring: "default", endpoints: ["d1", "d2"] },
    { hashring: "never", tenants: ["late"], endpoints: ["n1"] },
  ]));
  const h = newHashring(cfgs, "hashmod", 1);
  const owner = (t: string) => h.get(t, ["__name__", "up"], 0);
  assertEquals(owner("tenant-a"), "a1");
  assertEquals(owner("team-x"), "g1");
  assertEquals(owner("team-"), "g1");
  assertEquals(owner("xyz"), "g1");
  assertEquals(owner("cob"), "g1");
  assertEquals(owner("auu"), "g1");
  assert(owner("quu").startsWith("d"));
  assert(owner("eob").startsWith("d"));
  assert(owner("tenant-b").startsWith("d"));
  assert(owner("late").startsWith("d"), "the default ring listed first matches every tenant");
  assertEquals(h.endpoints(), ["a1", "d1", "d2", "g1", "n1"]);

  const noDefault = newHashring(
    parseHashrings(`[{"tenants":["a"],"endpoints":["x"]}]`),
    "hashmod",
    1,
  );
  assertThrows(
    () => noDefault.get("b", ["a", "b"], 0),
    Error,
    "no matching hashring to handle tenant",
  );
});

Deno.test("hashrings file: endpoint strings and objects, per-ring algorithm, errors", () => {
  const cfgs = parseHashrings(JSON.stringify([{
    hashring: "r",
    endpoints: ["a:1", { address: "b:1", az: "z1" }, { address: "c:1", capnproto_address: "c:2" }],
    algorithm: "ketama",
    external_labels: { region: "eu" },
    unknown_key: true,
  }]));
  assertEquals(cfgs[0].endpoints, [
    { address: "a:1", az: "" },
    { address: "b:1", az: "z1" },
    { address: "c:1", az: "" },
  ]);
  assertEquals(cfgs[0].algorithm, "ketama");
  assertEquals(cfgs[0].externalLabels, { region: "eu" });
  // the ring's own algorithm (ketama) overrides the flag's (hashmod), which rejects zones
  newHashring(cfgs, "hashmod", 3);

  const bad: [string, string][] = [
    ["{", "not valid JSON"],
    ["{}", "must be a JSON array"],
    ["[]", "empty"],
    [`[{"endpoints": [""]}]`, "endpoint address must be set"],
    [`[{"endpoints": [{"az": "1"}]}]`, "endpoint address must be set"],
    [`[{"endpoints": [3]}]`, "must be a string or an object"],
    [`[{}]`, `"endpoints" is required`],
    [`[{"endpoints": ["a"], "algorithm": "rendezvous"}]`, 'unknown "algorithm"'],
    [
      `[{"endpoints": ["a"], "tenants": ["x"], "tenant_matcher_type": "regex"}]`,
      "tenant_matcher_type",
    ],
    [
      `[{"endpoints": ["a"], "tenants": ["[x"], "tenant_matcher_type": "glob"}]`,
      "syntax error in pattern",
    ],
    [`[{"endpoints": ["a"], "shuffle_sharding_config": {"shard_size": 2}}]`, "not supported"],
  ];
  for (const [json, msg] of bad) assertThrows(() => parseHashrings(json), Error, msg);

  assertThrows(
    () => newHashring(ring(["a", "b"]), "hashmod", 3),
    Error,
    "replication factor 3 exceeds the number of endpoints (2)",
  );
  assertThrows(
    () => newHashring(ring(["a", "b"]), "ketama", 3),
    Error,
    "replication factor 3 exceeds",
  );
  assertThrows(
    () => newHashring(ring([{ address: "a", az: "1" }, { address: "b", az: "2" }]), "hashmod", 2),
    Error,
    "Hashmod algorithm does not support AZ aware hashring configuration",
  );
});

Deno.test("single node ring (ingestor-only)", () => {
  const h = singleNodeHashring("me:10901");
  assertEquals(h.get("t", ["a", "b"], 0), "me:10901");
  assertThrows(() => h.get("t", ["a", "b"], 1), Error, "insufficient nodes; have 1, want 2");
  assertEquals(h.endpoints(), ["me:10901"]);
});
