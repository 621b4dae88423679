// The receive handler in-process: three receivers with in-memory TSDB fakes on one hashring,
// forwarding to each other through the gRPC error mapping of writeable.ts (and once over real
// gRPC on 127.0.0.1): replication with RF=3 and RF=2, write quorum with peers down, conflicts
// (409), limits and bad input, the replica header, deadlines.

import { assert, assertEquals } from "../helpers/assert.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { directRequestInfo } from "../../server/http.ts";
import { GrpcError, GrpcServer, GrpcStatus } from "../../storeapi/grpc.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";
import {
  type Hashring,
  newHashring,
  parseHashrings,
  singleNodeHashring,
} from "../../receive/hashring.ts";
import { noLimits, parseLimitsConfig, type ReceiveLimits } from "../../receive/limits.ts";
import { encodeWriteRequest, type PromSeries } from "../../receive/remote_write.ts";
import {
  type Forwarder,
  type LocalWriteOutcome,
  type LocalWriter,
  ReceiveHandler,
  type ReceiverMode,
} from "../../receive/handler.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import { toWriteGrpcError, WriteableClient, writeableService } from "../../receive/writeable.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const quiet = new Logger("error", "logfmt", {}, () => {});

/**
 * In-memory TSDB fake with Prometheus's head rules: per series, a sample older than the newest
 * is out of order, one at the newest timestamp with another value a duplicate.
 */
class FakeDB implements LocalWriter {
  readonly data = new Map<string, Map<string, [number, number][]>>();
  writes = 0;
  write(tenant: string, series: readonly PromSeries[]): Promise<LocalWriteOutcome> {
    this.writes++;
    const o = { appended: 0, outOfOrder: 0, outOfBounds: 0, duplicate: 0 };
    let t = this.data.get(tenant);
    if (!t) this.data.set(tenant, t = new Map());
    for (const s of series) {
      const key = s.labels.join(",");
      let samples = t.get(key);
      if (!samples) t.set(key, samples = []);
      for (let i = 0; i < s.timestamps.length; i++) {
        const last = samples[samples.length - 1];
        const ts = s.timestamps[i], v = s.values[i];
        if (last && ts < last[0]) o.outOfOrder++;
        else if (last && ts === last[0]) {
          if (v !== last[1]) o.duplicate++;
        } else {
          samples.push([ts, v]);
          o.appended++;
        }
      }
    }
    return Promise.resolve(o);
  }
  count(tenant = "default-tenant"): number {
    return this.data.get(tenant)?.size ?? 0;
  }
  has(key: string, tenant = "default-tenant"): boolean {
    return (this.data.get(tenant)?.get(key)?.length ?? 0) > 0;
  }
}

interface Node {
  addr: string;
  db: FakeDB;
  h: ReceiveHandler;
  reg: Registry;
  /** "up", "down" (Unavailable) or "hang" (never answers) as seen by the others. */
  state: "up" | "down" | "hang";
  /** Forwards this node made: [to, replica]. */
  sent: [string, number][];
}

function cluster(
  rf: number,
  o: {
    n?: number;
    algorithm?: "hashmod" | "ketama";
    limits?: ReceiveLimits;
    forwardTimeoutMs?: number;
    mode?: ReceiverMode;
    relabel?: Relabeler;
    splitTenantLabelName?: string;
    maxArtificialDelayMs?: number;
  } = {},
): Node[] {
  const addrs = Array.from({ length: o.n ?? 3 }, (_, i) => `receive-${i}:10901`);
  const ring: Hashring = newHashring(
    parseHashrings(JSON.stringify([{ endpoints: addrs }])),
    o.algorithm ?? "hashmod",
    rf,
  );
  const nodes: Node[] = [];
  for (const addr of addrs) {
    const db = new FakeDB();
    const reg = new Registry();
    const sent: [string, number][] = [];
    const h = new ReceiveHandler({
      hashring: () => ring,
      localEndpoint: addr,
      replicationFactor: rf,
      tenantHeader: "THANOS-TENANT",
      defaultTenant: "default-tenant",
      replicaHeader: "THANOS-REPLICA",
      db,
      limits: o.limits ?? noLimits(),
      forwardTimeoutMs: o.forwardTimeoutMs ?? 2000,
      logger: quiet,
      registry: reg,
      mode: o.mode,
      relabel: o.relabel,
      splitTenantLabelName: o.splitTenantLabelName,
      maxArtificialDelayMs: o.maxArtificialDelayMs,
      forwarder: (to): Forwarder => ({
        async remoteWrite(tenant, series, replica, signal) {
          sent.push([to, replica]);
          const peer = nodes.find((x) => x.addr === to)!;
          if (peer.state === "down") {
            throw new GrpcError(GrpcStatus.UNAVAILABLE, "connection refused");
          }
          if (peer.state === "hang") {
            await new Promise((_, rej) =>
              signal?.addEventListener("abort", () => rej(signal.reason))
            );
          }
          // what crosses the wire: the series bytes are shared here, errors become gRPC codes
          try {
            await peer.h.onForward(tenant, series, replica);
          } catch (e) {
            throw toWriteGrpcError(e);
          }
        },
        close() {},
      }),
    });
    nodes.push({ addr, db, h, reg, state: "up", sent });
  }
  return nodes;
}

function mkSeries(n: number, ts: number, prefix = "s"): PromSeries[] {
  return Array.from({ length: n }, (_, i) => ({
    labels: ["__name__", "m", "id", `${prefix}${i}`],
    timestamps: new Float64Array([ts, ts + 15000]),
    values: new Float64Array([i, i + 1]),
  }));
}

function body(series: PromSeries[]): Uint8Array {
  return snappyBlockCompress(encodeWriteRequest({ series }));
}

async function post(
  node: Node,
  payload: Uint8Array | PromSeries[],
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const b = payload instanceof Uint8Array ? payload : body(payload);
  const route = node.h.routes()[0];
  const req = new Request("http://x/api/v1/receive", {
    method: "POST",
    body: b as Uint8Array<ArrayBuffer>,
    headers: { "content-type": "application/x-protobuf", ...headers },
  });
  const res = await route.handler(req, {}, directRequestInfo(req));
  return { status: res.status, text: await res.text() };
}

function copies(nodes: Node[], key: string, tenant?: string): number {
  return nodes.filter((n) => n.db.has(key, tenant)).length;
}

/** Waits until background (post-quorum) forwards have finished. */
const settle = () => new Promise((r) => setTimeout(r, 50));

Deno.test("RF=3: every series on all three receivers", opts, async () => {
  for (const algorithm of ["hashmod", "ketama"] as const) {
    const nodes = cluster(3, { algorithm });
    const s = mkSeries(50, 1000);
    const r = await post(nodes[0], s);
    assertEquals(r, { status: 200, text: "" });
    await settle();
    for (const n of nodes) assertEquals(n.db.count(), 50, `${algorithm} ${n.addr}`);
    // forwarded with 1-based replicas; the peers did not forward again
    assert(nodes[0].sent.every(([, rep]) => rep >= 1 && rep <= 3));
    assertEquals(nodes[1].sent.length + nodes[2].sent.length, 0);
    const repl = nodes[0].reg.counter({
      name: "thanos_receive_replications_total",
      help: "",
      labelNames: ["result"],
    });
    assertEquals(repl.get({ result: "error" }), 0);
    assert(repl.get({ result: "success" }) >= 3);
    assert((await nodes[0].reg.expose()).includes("thanos_receive_forward_requests_total{"));
  }
});

Deno.test(
  "RF=3: one peer down → quorum met (200); two down → 503 naming the peers",
  opts,
  async () => {
    const nodes = cluster(3);
    nodes[2].state = "down";
    const r = await post(nodes[0], mkSeries(30, 1000));
    assertEquals(r.status, 200, r.text);
    await settle();
    assertEquals(nodes[0].db.count(), 30);
    assertEquals(nodes[1].db.count(), 30);
    assertEquals(nodes[2].db.count(), 0);

    nodes[1].state = "down";
    const r2 = await post(nodes[0], mkSeries(30, 100000, "b"));
    assertEquals(r2.status, 503, r2.text);
    assert(r2.text.includes("forwarding request to endpoint receive-"), r2.text);
    assert(r2.text.includes("connection refused") || r2.text.includes("backing off"), r2.text);
  },
);

Deno.test("RF=2: quorum is 1 (Thanos); series whose both owners are down → 503", opts, async () => {
  const nodes = cluster(2);
  nodes[2].state = "down";
  const s = mkSeries(60, 1000);
  const r = await post(nodes[0], s);
  assertEquals(r.status, 200, r.text);
  await settle();
  const total = nodes.reduce((a, n) => a + n.db.count(), 0);
  assert(total >= 60 && total < 120, `stored ${total} copies`);
  for (let i = 0; i < 60; i++) assert(copies(nodes, `__name__,m,id,s${i}`) >= 1);

  // node 0 alone: a series owned by nodes 1 and 2 cannot be written
  nodes[1].state = "down";
  const r2 = await post(nodes[0], mkSeries(60, 100000, "c"));
  assertEquals(r2.status, 503, r2.text);
});

Deno.test(
  "conflicts: out-of-order everywhere → 409; mixed with a down peer still 409",
  opts,
  async () => {
    const nodes = cluster(3);
    const s = mkSeries(10, 100000);
    assertEquals((await post(nodes[0], s)).status, 200);
    await settle();
    // the newest sample again, same value: accepted as Prometheus's head does (no error)
    const again = s.map((x) => ({
      ...x,
      timestamps: x.timestamps.slice(1),
      values: x.values.slice(1),
    }));
    assertEquals((await post(nodes[1], again)).status, 200);
    // older samples: out of order on every replica
    const old = mkSeries(10, 1000);
    const r = await post(nodes[1], old);
    assertEquals(r.status, 409, r.text);
    assert(r.text.includes("out of order sample"), r.text);
    // a conflict on two replicas decides the series even with the third down
    nodes[2].state = "down";
    const r2 = await post(nodes[0], mkSeries(10, 500));
    assertEquals(r2.status, 409, r2.text);
    // a different value for an existing timestamp
    nodes[2].state = "up";
    const dup = mkSeries(10, 100000).map((x) => ({ ...x, values: new Float64Array([99, 99]) }));
    const r3 = await post(nodes[2], dup);
    assertEquals(r3.status, 409, r3.text);
    assert(r3.text.includes("duplicate sample for timestamp"), r3.text);
  },
);

Deno.test(
  "replica header: written once, where the replica lives, never re-forwarded",
  opts,
  async () => {
    const nodes = cluster(3);
    const s = mkSeries(30, 1000);
    const r = await post(nodes[0], s, { "THANOS-REPLICA": "2" });
    assertEquals(r.status, 200, r.text);
    await settle();
    const total = nodes.reduce((a, n) => a + n.db.count(), 0);
    assertEquals(total, 30);
    // forwards from node 0 keep replica 2; nobody forwards further
    assert(nodes[0].sent.every(([, rep]) => rep === 2));
    assertEquals(nodes[1].sent.length + nodes[2].sent.length, 0);

    assertEquals((await post(nodes[0], s, { "THANOS-REPLICA": "4" })).status, 400);
    const bad = await post(nodes[0], s, { "THANOS-REPLICA": "x" });
    assertEquals(bad, { status: 400, text: "could not parse replica header\n" });
    // router-only / ingestor-only receivers ignore the header (acyclic topologies)
    const ing = cluster(1, { n: 1, mode: "IngestorOnly" });
    assertEquals((await post(ing[0], s, { "THANOS-REPLICA": "3" })).status, 200);
  },
);

Deno.test("tenants, bad input, limits, readiness", opts, async () => {
  const nodes = cluster(1, { n: 1 });
  const n = nodes[0];
  assertEquals((await post(n, mkSeries(2, 1000), { "THANOS-TENANT": "team-a" })).status, 200);
  assertEquals(n.db.count("team-a"), 2);
  assertEquals(n.db.count("default-tenant"), 0);
  assertEquals((await post(n, mkSeries(2, 1000), { "THANOS-TENANT": "a/b" })).status, 400);

  const garbage = await post(n, new Uint8Array([1, 2, 3, 4, 5]));
  assertEquals(garbage.status, 400, garbage.text);
  const empty = await post(n, []);
  assertEquals(empty.status, 200);

  const limited = cluster(1, {
    n: 1,
    limits: parseLimitsConfig(`write:\n  default:\n    request:\n      series_limit: 3\n`),
  });
  const lr = await post(limited[0], mkSeries(4, 1000));
  assertEquals(lr.status, 413, lr.text);
  assertEquals(limited[0].db.count(), 0);

  // size_bytes_limit: a larger body is refused while it is read (Thanos's message), a body
  // within it is written
  const sized = cluster(1, {
    n: 1,
    limits: parseLimitsConfig(`write:\n  default:\n    request:\n      size_bytes_limit: 200\n`),
  });
  const big = body(mkSeries(20, 1000));
  assert(big.length > 200, String(big.length));
  const sr = await post(sized[0], big, { "content-length": String(big.length) });
  assertEquals(
    [sr.status, sr.text.trim()],
    [
      413,
      `write request too large: ${big.length} bytes exceeds the size_bytes_limit of 200 for tenant default-tenant`,
    ],
  );
  const chunked = await post(sized[0], big);
  assertEquals(
    [chunked.status, chunked.text.trim()],
    [413, "write request too large: over the size_bytes_limit of 200 for tenant default-tenant"],
  );
  assertEquals(sized[0].db.count(), 0);
  assertEquals((await post(sized[0], mkSeries(1, 1000))).status, 200);

  // no hashring yet → 503
  const h = new ReceiveHandler({
    hashring: () => null,
    localEndpoint: "a",
    replicationFactor: 1,
    tenantHeader: "THANOS-TENANT",
    defaultTenant: "default-tenant",
    replicaHeader: "THANOS-REPLICA",
    db: new FakeDB(),
    limits: noLimits(),
    forwardTimeoutMs: 1000,
    logger: quiet,
    registry: new Registry(),
  });
  const nr = await post({ h } as Node, mkSeries(1, 1));
  assertEquals(nr.status, 503);
});

Deno.test(
  "hanging peers: one → quorum without waiting; two → 503 after the forward timeout",
  opts,
  async () => {
    const nodes = cluster(3, { forwardTimeoutMs: 300 });
    nodes[1].state = "hang";
    let t0 = performance.now();
    const r = await post(nodes[0], mkSeries(20, 1000));
    assertEquals(r.status, 200, r.text);
    assert(performance.now() - t0 < 250, "answered before the timeout");
    nodes[2].state = "hang";
    t0 = performance.now();
    const r2 = await post(nodes[0], mkSeries(20, 100000, "z"));
    assertEquals(r2.status, 503, r2.text);
    assert(performance.now() - t0 >= 290);
    await new Promise((r) => setTimeout(r, 400));
  },
);

Deno.test("three receivers forwarding over real gRPC (RF=3, snappy)", opts, async () => {
  const servers = [new GrpcServer(), new GrpcServer(), new GrpcServer()];
  const ports = await Promise.all(servers.map(async (s) => (await s.listen("127.0.0.1", 0)).port));
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const ring = newHashring(parseHashrings(JSON.stringify([{ endpoints: addrs }])), "ketama", 3);
  const dbs = addrs.map(() => new FakeDB());
  const handlers = addrs.map((addr, i) =>
    new ReceiveHandler({
      hashring: () => ring,
      localEndpoint: addr,
      replicationFactor: 3,
      tenantHeader: "THANOS-TENANT",
      defaultTenant: "default-tenant",
      replicaHeader: "THANOS-REPLICA",
      db: dbs[i],
      limits: noLimits(),
      forwardTimeoutMs: 5000,
      logger: quiet,
      registry: new Registry(),
    })
  );
  handlers.forEach((h, i) =>
    writeableService((t, s, r, sig) => h.onForward(t, s, r, sig)).register(servers[i])
  );
  try {
    const r = await post({ h: handlers[1] } as Node, mkSeries(40, 1000), { "THANOS-TENANT": "t" });
    assertEquals(r.status, 200, r.text);
    await settle();
    for (const db of dbs) assertEquals(db.count("t"), 40);
    // out of order on every receiver → 409 through AlreadyExists answers
    const r2 = await post({ h: handlers[2] } as Node, mkSeries(40, 10), { "THANOS-TENANT": "t" });
    assertEquals(r2.status, 409, r2.text);
    // a receiver goes away: still 200 with RF=3
    await servers[0].close();
    const r3 = await post({ h: handlers[1] } as Node, mkSeries(40, 500000), {
      "THANOS-TENANT": "t",
    });
    assertEquals(r3.status, 200, r3.text);
    // a forwarded write of replica 3 (1-based) to the owner of that replica: stored there only
    const direct = mkSeries(40, 900000, "direct").filter((x) =>
      ring.get("t", x.labels, 2) === addrs[2]
    );
    assert(direct.length > 0);
    const c = new WriteableClient(addrs[2], { timeoutMs: 2000 });
    try {
      await c.remoteWrite("t", direct, 3);
    } finally {
      c.close();
    }
    const key = direct[0].labels.join(",");
    assertEquals([dbs[0].has(key, "t"), dbs[1].has(key, "t"), dbs[2].has(key, "t")], [
      false,
      false,
      true,
    ]);
  } finally {
    handlers.forEach((h) => h.close());
    await Promise.all(servers.map((s) => s.close()));
  }
});

Deno.test(
  "single-node ring (ingestor only): one local write of every series; RF=2 still fails",
  opts,
  async () => {
    for (const rf of [1, 2]) {
      const db = new FakeDB();
      const h = new ReceiveHandler({
        hashring: () => singleNodeHashring("local"),
        localEndpoint: "",
        replicationFactor: rf,
        tenantHeader: "THANOS-TENANT",
        defaultTenant: "default-tenant",
        replicaHeader: "THANOS-REPLICA",
        db,
        limits: noLimits(),
        forwardTimeoutMs: 2000,
        logger: quiet,
        registry: new Registry(),
        mode: "IngestorOnly",
      });
      const node: Node = { addr: "local", db, h, reg: new Registry(), state: "up", sent: [] };
      const r = await post(node, mkSeries(40, 1000));
      if (rf === 1) {
        assertEquals(r, { status: 200, text: "" });
        assertEquals([db.writes, db.count()], [1, 40]);
        for (let i = 0; i < 40; i++) assert(db.has(`__name__,m,id,s${i}`), `s${i}`);
        // an out-of-order sample is a conflict, as before
        const o = await post(node, mkSeries(1, 500));
        assertEquals(o.status, 409, o.text);
      } else {
        // the ring has no second node for replica 1 (Thanos's insufficient nodes error)
        assertEquals(r.status, 500, r.text);
        assert(r.text.includes("insufficient nodes"), r.text);
      }
    }
  },
);

Deno.test(
  "--receive.relabel-config: series relabeled before routing, dropped ones not stored",
  opts,
  async () => {
    const relabel = new Relabeler(parseRelabelConfigs(`
- source_labels: [id]
  regex: s1.*
  action: drop
- source_labels: [id]
  regex: s(.*)
  target_label: num
  replacement: n$1
- regex: id
  action: labeldrop
`));
    const nodes = cluster(3, { relabel });
    const r = await post(nodes[0], mkSeries(25, 1000));
    assertEquals(r, { status: 200, text: "" });
    await settle();
    // s1, s10..s19 dropped: 25 - 11 left, on every replica, with the relabeled labels only
    for (const n of nodes) {
      assertEquals(n.db.count(), 14, n.addr);
      assert(n.db.has("__name__,m,num,n0"), n.addr);
      assert(n.db.has("__name__,m,num,n24"), n.addr);
      assert(!n.db.has("__name__,m,num,n12"), n.addr);
      assert(!n.db.has("__name__,m,id,s0"), n.addr);
    }
    // a request whose every series is dropped is accepted and stores nothing
    const fresh = cluster(1, { relabel, n: 1 });
    const all = await post(
      fresh[0],
      mkSeries(20, 1000).filter((s) => s.labels[3].startsWith("s1")),
    );
    assertEquals(all, { status: 200, text: "" });
    assertEquals(fresh[0].db.writes, 0);
  },
);

Deno.test(
  "--receive.split-tenant-label-name: series go to the tenant their label names",
  opts,
  async () => {
    const nodes = cluster(2, { n: 2, splitTenantLabelName: "team" });
    const s = (team: string | null, id: string): PromSeries => ({
      labels: team === null
        ? ["__name__", "m", "id", id]
        : ["__name__", "m", "id", id, "team", team],
      timestamps: new Float64Array([1000]),
      values: new Float64Array([1]),
    });
    const r = await post(nodes[0], [s("a", "1"), s("b", "2"), s(null, "3"), s("a", "4")], {
      "THANOS-TENANT": "hdr",
    });
    assertEquals(r, { status: 200, text: "" });
    await settle();
    for (const n of nodes) {
      // RF=2 over two nodes: every node has every series, in its split tenant, without the label
      assertEquals(n.db.count("a"), 2, n.addr);
      assert(n.db.has("__name__,m,id,1", "a"), n.addr);
      assert(n.db.has("__name__,m,id,4", "a"), n.addr);
      assert(n.db.has("__name__,m,id,2", "b"), n.addr);
      assertEquals(n.db.count("b"), 1, n.addr);
      assert(n.db.has("__name__,m,id,3", "hdr"), n.addr);
      assertEquals(n.db.count("hdr"), 1, n.addr);
    }
    // an invalid tenant in the label: 400 for the request, nothing stored
    const bad = await post(nodes[1], [s("x/y", "5"), s("c", "6")]);
    assertEquals(bad.status, 400, bad.text);
    assert(bad.text.includes("tenant name not valid"), bad.text);
    await settle();
    for (const n of nodes) assertEquals(n.db.count("c"), 0);
  },
);

Deno.test(
  "--receive.artificial-max-delay: the second endpoint gets its writes late",
  opts,
  async () => {
    // RF=2 over two nodes, quorum 1: the answer comes from the writes to the first endpoint
    // used while those to the second (local or peer) still wait their artificial delay (≥ 1 s)
    const nodes = cluster(2, { n: 2, maxArtificialDelayMs: 3000 });
    const r = await post(nodes[0], mkSeries(5, 1000));
    assertEquals(r, { status: 200, text: "" });
    assertEquals(nodes.map((n) => n.db.count()).sort(), [0, 5], "one endpoint is delayed");
    for (let i = 0; i < 100 && nodes.some((n) => n.db.count() < 5); i++) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assertEquals(nodes.map((n) => n.db.count()), [5, 5]);
    // without the flag the peer has it as soon as the forwards settle
    const plain = cluster(2, { n: 2 });
    assertEquals((await post(plain[0], mkSeries(5, 1000))).status, 200);
    await settle();
    assertEquals(plain[1].db.count(), 5);
  },
);
