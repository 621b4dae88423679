// The tenant on the StoreAPI wire, as Thanos's proxy and stores carry it
// (https://github.com/thanos-io/thanos/blob/main/pkg/store/proxy.go): a StoreClient sends a call's
// tenant as gRPC metadata `thanos-tenant`, a StoreServer hands it to its backend, and the proxy
// puts the caller's tenant, else `default-tenant`, on every call it makes — so a querier serving
// the StoreAPI passes the tenant it received on to its own stores.

import { assertEquals } from "../helpers/assert.ts";
import { TenantRecorder } from "../helpers/tenant_recorder.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import { advertising } from "../../storeapi/api_common.ts";
import { EndpointGroupClient } from "../../query/endpoint_group.ts";
import {
  type LabelNamesRequest,
  type LabelValuesRequest,
  PartialResponseStrategy,
  type SeriesRequest,
} from "../../storeapi/codec.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const MATCHERS = [new Matcher(MatchType.Equal, "__name__", "up")];
const SERIES: SeriesRequest = {
  minTime: 0,
  maxTime: 10,
  matchers: MATCHERS,
  partialResponseStrategy: PartialResponseStrategy.ABORT,
};
const NAMES: LabelNamesRequest = {
  start: 0,
  end: 10,
  matchers: MATCHERS,
  partialResponseStrategy: PartialResponseStrategy.ABORT,
};
const VALUES: LabelValuesRequest = { ...NAMES, label: "job" };

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) { /* nothing */ }
}

Deno.test("tenancy on the wire: client metadata → server → backend; the proxy defaults it", async () => {
  const rec = new TenantRecorder();
  const server = new StoreServer(rec, { serving: true });
  const { port } = await server.listen("127.0.0.1", 0);
  const client = new StoreClient(`127.0.0.1:${port}`);
  try {
    const signal = new AbortController().signal;
    // the client: a call's tenant, none when not given
    await drain(client.series(SERIES, signal, { tenant: "team-a" }));
    await client.labelNames(NAMES, signal, { tenant: "team-b" });
    await client.labelValues(VALUES, signal, { tenant: "team-c" });
    await client.labelValues(VALUES, signal);
    assertEquals(rec.tenants, ["team-a", "team-b", "team-c", undefined]);
    rec.tenants.length = 0;
    // the proxy over that store: the caller's tenant, else the default tenant, on every call
    const proxy = new StoreProxy({
      endpoints: () => [{ name: `127.0.0.1:${port}`, client, info: null }],
    });
    await drain(proxy.series(SERIES, signal, { tenant: "team-a" }));
    await drain(proxy.series(SERIES, signal));
    await proxy.labelNames(NAMES, signal, { tenant: "team-b" });
    await proxy.labelNames(NAMES, signal);
    await proxy.labelValues(VALUES, signal, { tenant: "team-c" });
    await proxy.labelValues(VALUES, signal);
    assertEquals(rec.tenants, [
      "team-a",
      "default-tenant",
      "team-b",
      "default-tenant",
      "team-c",
      "default-tenant",
    ]);
    // a server over the proxy as the querier serves it (a stacked querier) passes the tenant
    // it receives on
    rec.tenants.length = 0;
    const front = new StoreServer(advertising(proxy, { rules: true }), { serving: true });
    const addr = await front.listen("127.0.0.1", 0);
    const upper = new StoreClient(`127.0.0.1:${addr.port}`);
    try {
      await drain(upper.series(SERIES, signal, { tenant: "team-z" }));
      await upper.labelNames(NAMES, signal);
      assertEquals(rec.tenants, ["team-z", "default-tenant"]);
      // an endpoint group (`--endpoint-group`) passes the call's tenant to its member
      rec.tenants.length = 0;
      const group = new EndpointGroupClient("group", (a) => new StoreClient(a));
      group.setMembers([`127.0.0.1:${port}`]);
      try {
        await drain(group.series(SERIES, signal, { tenant: "team-g" }));
        await group.labelNames(NAMES, signal, { tenant: "team-h" });
        await group.labelValues(VALUES, signal, { tenant: "team-i" });
        assertEquals(rec.tenants, ["team-g", "team-h", "team-i"]);
      } finally {
        group.close();
      }
    } finally {
      upper.close();
      await front.close();
    }
  } finally {
    client.close();
    await server.close();
  }
});
