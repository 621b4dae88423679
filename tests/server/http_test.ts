import { assert, assertEquals } from "../helpers/assert.ts";
import { HttpServer, plainRequestTarget, Probe, type RequestInfo } from "../../server/http.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

/** A server on a free port without prefix, web config or tenant label. */
function plainServer(): HttpServer {
  return new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe: new Probe(),
  });
}

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

Deno.test("static routes match their exact path only; parameterised ones still use the pattern", async () => {
  const probe = new Probe();
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe,
    routePrefix: "/p",
  });
  srv.add([
    { method: "POST", path: "/api/v1/receive", handler: () => new Response("receive") },
    { method: "GET", path: "/a.b/c~d_e-f", handler: () => new Response("literal") },
    { method: "GET", path: "/api/v1/label/:name/values", handler: (_r, p) => new Response(p.name) },
  ]);
  await srv.start();
  const base = `http://127.0.0.1:${srv.addr!.port}`;
  const get = async (path: string, method = "GET") => {
    const r = await fetch(`${base}${path}`, { method });
    return `${r.status} ${(await r.text()).trim()}`;
  };
  try {
    assertEquals(await get("/p/api/v1/receive", "POST"), "200 receive");
    // dot segments are resolved by the URL parser, as before
    assertEquals(await get("/p/api/v1/./x/../receive", "POST"), "200 receive");
    assertEquals(await get("/p/a.b/c~d_e-f"), "200 literal");
    assertEquals(await get("/p/api/v1/label/job/values"), "200 job");
    for (
      const path of [
        "/p/api/v1/receive/",
        "/p/api/v1/receivex",
        "/p/api/v1/Receive",
        "/p/api/v1/%72eceive",
        "/api/v1/receive",
        "/p/api/v1",
      ]
    ) {
      assertEquals((await get(path, "POST")).slice(0, 3), "404", path);
    }
    assertEquals((await get("/p/api/v1/receive")).slice(0, 3), "405");
    assertEquals((await get("/metrics/")).slice(0, 3), "404");
    assertEquals((await get("/metricsx")).slice(0, 3), "404");
    assertEquals((await get("/-/healthy")).slice(0, 3), "200");
  } finally {
    await srv.shutdown(1000);
  }
});

Deno.test("a handler gets the request's parsed URL and the client's address", async () => {
  const srv = plainServer();
  srv.add([{
    method: "GET",
    path: "/api/v1/query",
    handler: (req, _p, info) =>
      Response.json({
        same: info.url?.href === req.url,
        query: info.url?.searchParams.get("query"),
        remote: info.remoteAddr,
      }),
  }]);
  await srv.start();
  try {
    const r = await fetch(
      `http://127.0.0.1:${srv.addr!.port}/api/v1/query?query=up%7Bjob%3D%22a%22%7D`,
    );
    const got = await r.json();
    assertEquals([got.same, got.query], [true, 'up{job="a"}']);
    assert(/^127\.0\.0\.1:\d+$/.test(got.remote), got.remote);
  } finally {
    await srv.shutdown(1000);
  }
});

Deno.test("the client's address read after the response is done does not throw", async () => {
  const srv = plainServer();
  let later: RequestInfo | undefined;
  let early = "";
  srv.add([{
    method: "GET",
    path: "/a",
    handler: (_req, _p, info) => {
      later = info;
      return new Response("ok");
    },
  }, {
    method: "GET",
    path: "/b",
    handler: (_req, _p, info) => {
      early = info.remoteAddr; // read while handling: kept for later reads
      later = info;
      return new Response("ok");
    },
  }]);
  await srv.start();
  try {
    const base = `http://127.0.0.1:${srv.addr!.port}`;
    await (await fetch(`${base}/a`)).text();
    await new Promise((r) => setTimeout(r, 50));
    // never read while the request was open: Deno has closed it, so there is none to give
    assertEquals(typeof later!.remoteAddr, "string");
    await (await fetch(`${base}/b`)).text();
    await new Promise((r) => setTimeout(r, 50));
    assert(/^127\.0\.0\.1:\d+$/.test(early), early);
    assertEquals(later!.remoteAddr, early);
  } finally {
    await srv.shutdown(1000);
  }
});

Deno.test("a handler's request info holds no function of its own; readBody works unbound", async () => {
  // a per-request closure stored on the info kept the request's objects alive through
  // young-generation GCs (issue 19): readBody is made when a handler asks for it
  const infos: RequestInfo[] = [];
  const srv = plainServer();
  srv.add([{
    method: "POST",
    path: "/body",
    handler: async (_req, _p, info) => {
      infos.push(info);
      const read = info.readBody; // passed on unbound, as the receiver does
      return new Response(new TextDecoder().decode(await read(100)));
    },
  }]);
  await srv.start();
  try {
    const r = await fetch(`http://127.0.0.1:${srv.addr!.port}/body`, {
      method: "POST",
      body: "hello",
    });
    assertEquals(await r.text(), "hello");
    const big = await fetch(`http://127.0.0.1:${srv.addr!.port}/body`, {
      method: "POST",
      body: "x".repeat(200),
    });
    assertEquals(big.status, 413);
    await big.body?.cancel();
    for (const info of infos) {
      for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(info))) {
        assert(typeof d.value !== "function", `own function ${name}`);
      }
    }
  } finally {
    await srv.shutdown(1000);
  }
});

Deno.test("a handler's request info has no accessors of its own (one hidden class for all requests)", async () => {
  // an object literal with a getter gets a map of its own per request, which keeps the request's
  // objects alive through young-generation GCs (issue 19)
  const infos: RequestInfo[] = [];
  const srv = plainServer();
  srv.add([{
    method: "GET",
    path: "/x",
    handler: (_req, _p, info) => {
      infos.push(info);
      return new Response(info.remoteAddr);
    },
  }]);
  await srv.start();
  try {
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`http://127.0.0.1:${srv.addr!.port}/x`);
      assert(/^127\.0\.0\.1:\d+$/.test(await r.text()));
    }
    for (const info of infos) {
      for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(info))) {
        assert(d.get === undefined && d.set === undefined, `own accessor ${name}`);
      }
    }
    assert(Object.getPrototypeOf(infos[0]) === Object.getPrototypeOf(infos[1]));
    assert(Object.getPrototypeOf(infos[0]) !== Object.prototype);
    // read after the response: still the address first read
    assert(/^127\.0\.0\.1:\d+$/.test(infos[0].remoteAddr));
  } finally {
    await srv.shutdown(1000);
  }
});

Deno.test("a plain request target gives the URL parser's path and query parameters", () => {
  const params = (search: string) => [...new URLSearchParams(search)];
  for (
    const href of [
      "http://127.0.0.1:9090/api/v1/query?query=up&time=1700006339",
      "http://h/api/v1/query?query=absent%28nonexistent_metric%29",
      'http://h/api/v1/query?query=up{job="a b"}+1&x=<>\'',
      "http://[::1]:9090/-/healthy",
      "https://h:1//api/v1/labels?",
      "http://h/api/v1/query?q=a%zz&&b=%2B",
    ]
  ) {
    const plain = plainRequestTarget(href);
    const url = new URL(href);
    assert(plain !== null, href);
    assertEquals(plain.pathname, url.pathname, href);
    assertEquals(params(plain.search), params(url.search), href);
  }
  // what the parser would change is left to it
  for (
    const href of [
      "http://h/api/v1/label/a%2Fb/values",
      "http://h/api/v1/../metrics",
      "http://h/api/./v1/query",
      "http://h/api/v1/query?query=up#frag",
      "http://h/api v1",
      "h/api",
      "http://a\\b/api/v1/query",
      "http://a?b/api/v1/query",
      "http://a#b/api/v1/query",
    ]
  ) assertEquals(plainRequestTarget(href), null, href);
});

Deno.test("a route's handler reads the query parameters and the parsed URL of a plain request", async () => {
  const seen: string[] = [];
  const server = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe: new Probe(),
  });
  server.add([{
    method: "GET",
    path: "/api/x",
    handler: (_req, _p, info: RequestInfo) => {
      seen.push(`${info.search}|${info.url?.pathname}|${info.url?.searchParams.get("q")}`);
      return new Response("ok");
    },
  }]);
  await server.start();
  try {
    const base = `http://127.0.0.1:${server.addr!.port}`;
    await (await fetch(`${base}/api/x?q=a%20b`)).text();
    await (await fetch(`${base}/api/x`)).text();
    await (await fetch(`${base}/api/x?q=%41#f`)).text();
  } finally {
    await server.shutdown(0);
  }
  assertEquals(seen, ["?q=a%20b|/api/x|a b", "|/api/x|null", "?q=%41|/api/x|A"]);
});

Deno.test("a handler served by Deno.serve is told that the body's chunks are handed off", async () => {
  const srv = plainServer();
  const seen: (boolean | undefined)[] = [];
  srv.add([{
    method: "GET",
    path: "/x",
    handler: (_req, _p, info) => {
      seen.push(info.handsOffBodyChunks);
      return new Response("ok");
    },
  }]);
  await srv.start();
  try {
    await (await fetch(`http://127.0.0.1:${srv.addr!.port}/x`)).text();
    assertEquals(seen, [true]);
  } finally {
    await srv.shutdown(1000);
  }
});
