// `--request.logging-config` (server/request_log.ts): Thanos's config format and its errors, and
// the lines the HTTP server and the gRPC server write per request — start and finish, levels from
// the status, the allowlists of `path:port` and `/service/method`.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { RequestLogConfigError } from "../../server/request_log.ts";
import { parseRequestLogConfig } from "../../server/request_log_config.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";

Deno.test("request logging config: Thanos's defaults, precedence and errors", () => {
  assertEquals(parseRequestLogConfig(""), { http: null, grpc: null });
  // global options apply to both protocols
  const g = parseRequestLogConfig(
    "options:\n  level: DEBUG\n  decision:\n    log_start: true\n    log_end: true\n",
  );
  assertEquals(g.http, { level: "DEBUG", logStart: true, allow: null });
  assertEquals(g.grpc, { logStart: true, allow: null });
  // a protocol block overrides the global one; allowlists are exact path:port and /svc/method
  const p = parseRequestLogConfig(
    "options:\n  level: ERROR\n  decision:\n    log_end: true\n" +
      "http:\n  config:\n    - path: /api/v1/query\n      port: 10904\n" +
      "  options:\n    level: INFO\n    decision:\n      log_end: true\n" +
      "grpc:\n  config:\n    - service: thanos.Store\n      method: Info\n",
  );
  assertEquals(p.http, { level: "INFO", logStart: false, allow: new Set(["/api/v1/query:10904"]) });
  assertEquals(p.grpc, { logStart: false, allow: new Set(["/thanos.Store/Info"]) });
  // only an http block: no gRPC logging
  const h = parseRequestLogConfig(
    "http:\n  options:\n    level: DEBUG\n    decision:\n      log_end: true\n",
  );
  assertEquals(h.grpc, null);
  const bad: [string, string][] = [
    ["options:\n  decision:\n    log_end: true\n", "level field is empty"],
    ["options:\n  level: debug\n  decision:\n    log_end: true\n", "format of level is invalid"],
    [
      "options:\n  level: INFO\n  decision:\n    log_start: true\n",
      "log start call is not supported",
    ],
    ["http:\n  bogus: 1\n", "field bogus not found"],
    ["nope: 1\n", "field nope not found"],
    ["options: [\n", "parsing YAML"],
  ];
  for (const [text, want] of bad) {
    const e = assertThrows(() => parseRequestLogConfig(text), RequestLogConfigError);
    assert(e.message.includes(want), `${text}: ${e.message}`);
  }
});

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger("debug", "logfmt", { component: "t" }, (l) => lines.push(l)), lines };
}

Deno.test("the HTTP server logs requests as Thanos: start at debug, finish by status, allowlist", async () => {
  const { logger, lines } = capture();
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger,
    registry: new Registry(),
    probe: new Probe(),
    requestLog: { level: "DEBUG", logStart: true, allow: null },
  });
  srv.add([
    { method: "GET", path: "/ok", name: "ok", handler: () => new Response("x") },
    {
      method: "GET",
      path: "/boom",
      name: "boom",
      handler: () => new Response("", { status: 503 }),
    },
  ]);
  await srv.start();
  const base = `http://127.0.0.1:${srv.addr!.port}`;
  try {
    for (const p of ["/ok?a=1", "/boom", "/metrics", "/-/ready"]) {
      await (await fetch(`${base}${p}`, { headers: { "x-request-id": "r1" } })).body?.cancel();
    }
  } finally {
    await srv.shutdown(0);
  }
  const calls = lines.filter((l) => l.includes("call"));
  assertEquals(calls.length, 4, calls.join("\n"));
  assert(calls[0].includes("level=debug") && calls[0].includes('msg="started call"'), calls[0]);
  assert(calls[0].includes('http.method="GET /ok?a=1"') && calls[0].includes("http.request_id=r1"));
  assert(calls[1].includes("level=debug") && calls[1].includes('msg="finished call"'), calls[1]);
  assert(calls[1].includes("http.status_code=200") && calls[1].includes("thanos.method_name=ok"));
  assert(calls[1].includes("protocol=http") && calls[1].includes("http.time_ms="), calls[1]);
  assert(calls[3].includes("level=error") && calls[3].includes("http.status_code=503"), calls[3]);

  // ERROR level and an allowlist: only a 5xx of an allowed path:port is logged
  const c2 = capture();
  const srv2 = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: c2.logger,
    registry: new Registry(),
    probe: new Probe(),
    requestLog: { level: "ERROR", logStart: true, allow: null },
  });
  srv2.add([
    { method: "GET", path: "/ok", handler: () => new Response("x") },
    { method: "GET", path: "/boom", handler: () => new Response("", { status: 500 }) },
  ]);
  await srv2.start();
  try {
    const port = srv2.addr!.port;
    await (await fetch(`http://127.0.0.1:${port}/ok`)).body?.cancel();
    await (await fetch(`http://127.0.0.1:${port}/boom`)).body?.cancel();
  } finally {
    await srv2.shutdown(0);
  }
  const l2 = c2.lines.filter((l) => l.includes("call"));
  assertEquals(l2.length, 1, l2.join("\n"));
  assert(l2[0].includes("http.status_code=500"), l2[0]);

  const allow = new Set<string>();
  const c3 = capture();
  const srv3 = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: c3.logger,
    registry: new Registry(),
    probe: new Probe(),
    requestLog: { level: "DEBUG", logStart: false, allow },
  });
  srv3.add([
    { method: "GET", path: "/a", name: "a", handler: () => new Response("x") },
    { method: "GET", path: "/b", name: "b", handler: () => new Response("x") },
  ]);
  await srv3.start();
  try {
    const port = srv3.addr!.port;
    // the allowlist names path:port pairs; the Host header gives the port
    allow.add(`/a:${port}`);
    allow.add("/b:1");
    for (const p of ["/a?x=1", "/b"]) {
      await (await fetch(`http://127.0.0.1:${port}${p}`)).body?.cancel();
    }
  } finally {
    await srv3.shutdown(0);
  }
  const l3 = c3.lines.filter((l) => l.includes("call"));
  assertEquals(l3.length, 1, l3.join("\n"));
  assert(l3[0].includes("thanos.method_name=a") && l3[0].includes('msg="finished call"'), l3[0]);
});

Deno.test("the gRPC server logs calls as Thanos: finished call with code, errors at error", async () => {
  const { logger, lines } = capture();
  const backend = {
    info: () => Promise.resolve({ componentType: "store", labelSets: [], minTime: 0, maxTime: 1 }),
    async *series() {},
    labelNames: () => Promise.reject(new GrpcError(GrpcStatus.INTERNAL, "disk on fire")),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  };
  const srv = new StoreServer(backend, {
    logger,
    requestLog: {
      logStart: true,
      allow: new Set(["/thanos.Store/LabelNames", "/thanos.info.Info/Info"]),
    },
  });
  srv.setServing(true);
  const addr = await srv.listen("127.0.0.1", 0);
  const client = new StoreClient(`127.0.0.1:${addr.port}`, {
    metadata: { "x-request-id": "req-7" },
  });
  try {
    await client.info();
    await client.labelValues({ label: "a", start: 0, end: 1, matchers: [] }).catch(() => {});
    await client.labelNames({ start: 0, end: 1, matchers: [] }).catch(() => {});
  } finally {
    client.close();
    await srv.close();
  }
  const calls = lines.filter((l) => l.includes("call"));
  // LabelValues is not in the allowlist; Info and LabelNames log start and finish
  assertEquals(calls.length, 4, calls.join("\n"));
  assert(
    calls[0].includes('msg="started call"') && calls[0].includes("grpc.service=thanos.info.Info"),
  );
  assert(calls[1].includes("level=debug") && calls[1].includes("grpc.code=OK"), calls[1]);
  assert(calls[1].includes("requestID=req-7") && calls[1].includes("grpc.method_type=unary"));
  assert(calls[3].includes("level=error") && calls[3].includes("grpc.code=Internal"), calls[3]);
  assert(
    calls[3].includes("disk on fire") && calls[3].includes("grpc.method=LabelNames"),
    calls[3],
  );
});
