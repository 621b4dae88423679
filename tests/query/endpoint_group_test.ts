// `--endpoint-group(-strict)` (query/endpoint_group.ts, query/endpoints.ts): a group is one
// endpoint named `thanos:///<address>` whose calls go round-robin over the addresses it resolves
// to; a member that is down (UNAVAILABLE) is skipped by retrying on the next one; a strict group
// stays queryable when its Info fails. The last test runs two real StoreAPI servers on
// 127.0.0.1 and 127.0.0.2 (same port) behind one DNS name.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { EndpointGroupClient } from "../../query/endpoint_group.ts";
import {
  type DnsResolver,
  type EndpointClient,
  EndpointSet,
  parseEndpointConfig,
} from "../../query/endpoints.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import { Logger } from "../../logging/log.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import { freePort } from "../helpers/ports.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});
const signal = new AbortController().signal;
const info = { componentType: "store", labelSets: [], minTime: 0, maxTime: 1 };

/** A fake member: answers with its address, or fails with `fail`. */
function member(address: string, calls: string[], fail?: GrpcStatus): EndpointClient {
  const go = <T>(v: T) => {
    calls.push(address);
    return fail === undefined
      ? Promise.resolve(v)
      : Promise.reject(new GrpcError(fail, `${address} failed`));
  };
  return {
    info: () => go(info),
    labelNames: () => go({ names: [address], warnings: [] }),
    labelValues: () => go({ values: [address], warnings: [] }),
    async *series(): AsyncIterable<SeriesItem> {
      await go(null);
      yield { labels: ["a", address], chunks: [] };
    },
    close: () => calls.push(`close ${address}`),
  };
}

Deno.test("a group calls its members round-robin and retries UNAVAILABLE on the next", async () => {
  const calls: string[] = [];
  const down = new Set(["b:1"]);
  const g = new EndpointGroupClient(
    "dns+g:1",
    (a) => member(a, calls, down.has(a) ? GrpcStatus.UNAVAILABLE : undefined),
  );
  await assertRejects(() => g.info(), GrpcError, "no addresses resolved");
  g.setMembers(["a:1", "c:1"]);
  const names = [];
  for (let i = 0; i < 4; i++) {
    names.push((await g.labelNames({ start: 0, end: 1, matchers: [] }, signal)).names[0]);
  }
  assertEquals(names, ["a:1", "c:1", "a:1", "c:1"]);
  // a member down: its turn is retried on the next member
  g.setMembers(["a:1", "b:1", "c:1"]);
  calls.length = 0;
  const got = [];
  for (let i = 0; i < 3; i++) {
    got.push(
      (await g.labelValues({ label: "x", start: 0, end: 1, matchers: [] }, signal)).values[0],
    );
  }
  assertEquals(got, ["a:1", "c:1", "a:1"]);
  assert(calls.includes("b:1"), calls.join());
  // streams too, before the first answer
  const series = [];
  for (let i = 0; i < 3; i++) {
    for await (const s of g.series({ minTime: 0, maxTime: 1, matchers: [] }, signal)) {
      if (!("warning" in s)) series.push(s.labels[1]);
    }
  }
  assertEquals(series.length, 3);
  assert(!series.includes("b:1"));
  // removed members are closed
  g.setMembers(["c:1"]);
  assert(
    calls.includes("close a:1") && calls.includes("close b:1") && !calls.includes("close c:1"),
  );
});

Deno.test("a group does not retry errors other than UNAVAILABLE, nor past 3 attempts", async () => {
  const calls: string[] = [];
  const g = new EndpointGroupClient("g:1", (a) => member(a, calls, GrpcStatus.INTERNAL));
  g.setMembers(["a:1", "b:1"]);
  await assertRejects(() => g.info(), GrpcError, "a:1 failed");
  assertEquals(calls, ["a:1"]);
  const all = new EndpointGroupClient("g:2", (a) => member(a, calls, GrpcStatus.UNAVAILABLE));
  all.setMembers(["a:1", "b:1", "c:1", "d:1"]);
  calls.length = 0;
  await assertRejects(() => all.info(), GrpcError);
  assertEquals(calls.length, 3);
});

function fakeDns(hosts: Record<string, string[]>): DnsResolver {
  return {
    a: (h) => Promise.resolve(hosts[h] ?? []),
    aaaa: () => Promise.resolve([]),
    srv: () => Promise.resolve([]),
  };
}

Deno.test("the endpoint set keeps a group as one endpoint; a strict group stays queryable", async () => {
  const calls: string[] = [];
  const dead = new Set(["10.0.0.9:1"]);
  const set = new EndpointSet({
    specs: () => [
      { address: "dns+stores.test:10901", strict: false, group: true },
      { address: "10.0.0.9:1", strict: true, group: true },
      { address: "dns+stores.test:10901", strict: false },
    ],
    logger: quiet,
    dns: fakeDns({ "stores.test": ["10.0.0.1", "10.0.0.2"] }),
    newClient: (a) => member(a, calls, dead.has(a) ? GrpcStatus.UNAVAILABLE : undefined),
  });
  try {
    await set.update();
    const st = set.statuses().map((s) => [s.name, s.healthy, s.strict]).sort();
    assertEquals(st, [
      ["10.0.0.1:10901", true, false],
      ["10.0.0.2:10901", true, false],
      ["thanos:///10.0.0.9:1", false, true],
      ["thanos:///dns+stores.test:10901", true, false],
    ]);
    assertEquals(set.groupMembers("thanos:///dns+stores.test:10901"), [
      "10.0.0.1:10901",
      "10.0.0.2:10901",
    ]);
    assertEquals(set.groupMembers("10.0.0.1:10901"), undefined);
    assert(set.queryable().some((e) => e.name === "thanos:///10.0.0.9:1"), "strict group kept");
  } finally {
    await set.close();
  }
});

Deno.test({
  name: "a group over two real StoreAPI servers behind one name: round-robin, then failover",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const port = freePort();
    const hits: Record<string, number> = {};
    const server = (host: string) => {
      const s = new StoreServer({
        info: () => Promise.resolve({ ...info, labelSets: [["replica", host]] }),
        async *series() {},
        labelNames: () => Promise.resolve({ names: [host], warnings: [] }),
        labelValues: () => {
          hits[host] = (hits[host] ?? 0) + 1;
          return Promise.resolve({ values: [host], warnings: [] });
        },
      }, { logger: quiet });
      s.setServing(true);
      return s;
    };
    const a = server("127.0.0.1");
    const b = server("127.0.0.2");
    await a.listen("127.0.0.1", port);
    await b.listen("127.0.0.2", port);
    const set = new EndpointSet({
      specs: () => [{ address: `dns+ha.test:${port}`, strict: false, group: true }],
      logger: quiet,
      dns: fakeDns({ "ha.test": ["127.0.0.1", "127.0.0.2"] }),
      newClient: (addr) => new StoreClient(addr, { timeoutMs: 5000 }),
    });
    try {
      await set.update();
      const eps = set.queryable();
      assertEquals(eps.map((e) => e.name), [`thanos:///dns+ha.test:${port}`]);
      assert(eps[0].info !== null, "Info answered by a member");
      const req = { label: "x", start: 0, end: 1, matchers: [] };
      for (let i = 0; i < 6; i++) await eps[0].client.labelValues(req, signal);
      assertEquals(hits, { "127.0.0.1": 3, "127.0.0.2": 3 });
      await b.close();
      const answers = new Set<string>();
      for (let i = 0; i < 4; i++) {
        answers.add((await eps[0].client.labelValues(req, signal)).values[0]);
      }
      assertEquals([...answers], ["127.0.0.1"]);
    } finally {
      await set.close();
      await a.close();
      await b.close();
    }
  },
});

Deno.test("--endpoint.sd-config takes Thanos's `group` field", () => {
  assertEquals(
    parseEndpointConfig(
      "endpoints:\n  - address: dns+g:1\n    group: true\n  - address: b:1\n",
      "test",
    ),
    [{ address: "dns+g:1", strict: false, group: true }, { address: "b:1", strict: false }],
  );
});
