import { assert, assertEquals } from "../helpers/assert.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

Deno.test("every role serves /metrics, /-/healthy and /-/ready, and routes by table", async () => {
  const probe = new Probe();
  const registry = new Registry();
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry,
    probe,
    routePrefix: "/p",
  });
  srv.add([{
    method: "GET",
    path: "/api/v1/label/:name/values",
    handler: (_r, p) => new Response(p.name),
  }]);
  await srv.start();
  const base = `http://127.0.0.1:${srv.addr!.port}`;
  try {
    let r = await fetch(`${base}/-/ready`);
    assertEquals(r.status, 503);
    assert((await r.text()).startsWith("NOT OK"));
    probe.setReady();
    r = await fetch(`${base}/-/ready`);
    assertEquals([r.status, await r.text()], [200, "OK\n"]);
    r = await fetch(`${base}/-/healthy`);
    assertEquals(r.status, 200);
    await r.body?.cancel();
    r = await fetch(`${base}/p/api/v1/label/job/values`);
    assertEquals(await r.text(), "job");
    r = await fetch(`${base}/p/api/v1/label/job/values`, { method: "DELETE" });
    assertEquals(r.status, 405);
    await r.body?.cancel();
    r = await fetch(`${base}/nope`);
    assertEquals(r.status, 404);
    await r.body?.cancel();
    const m = await (await fetch(`${base}/metrics`)).text();
    assert(
      m.includes(
        'http_request_duration_seconds_count{code="200",handler="/api/v1/label/:name/values",method="get"} 1',
      ),
      m,
    );
  } finally {
    await srv.shutdown(1000);
  }
});
