import { assert, assertEquals } from "../helpers/assert.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { type GrpcServing, serveUntilStopped } from "../../server/lifecycle.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";

/** A gRPC server stand-in recording what happens to it, in order, into `events`. */
function fakeGrpc(events: string[], failListen = false): GrpcServing {
  return {
    listen(hostname, port) {
      events.push(`grpc listen ${hostname}:${port}`);
      if (failListen) return Promise.reject(new Error("address in use"));
      return Promise.resolve({ hostname, port: 19999 });
    },
    close(graceMs) {
      events.push(`grpc close ${graceMs}`);
      return Promise.resolve();
    },
  };
}

function setup(events: string[]) {
  const logs: string[] = [];
  const logger = new Logger("info", "logfmt", {}, (l) => {
    logs.push(l);
    events.push(`log ${/msg="?([^"]*)"?/.exec(l)?.[1] ?? l}`);
  });
  const probe = new Probe();
  const http = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger,
    registry: new Registry(),
    probe,
  });
  return { logs, logger, probe, http };
}

Deno.test("lifecycle: serve until the signal, then not ready, gRPC, HTTP, resources; exit 0", async () => {
  const events: string[] = [];
  const { logs, logger, probe, http } = setup(events);
  const stop = new AbortController();
  const code = await serveUntilStopped({
    http,
    httpGracePeriodMs: 50,
    grpc: fakeGrpc(events),
    grpcAddress: { hostname: "127.0.0.1", port: 0 },
    grpcGracePeriodMs: 1234,
    probe,
    logger,
    signal: stop.signal,
    listenFields: { component: "test" },
    onStop: () => events.push("onStop"),
    shutdownLog: { message: "shutting down the test", fields: () => ({ reason: "why" }) },
    beforeClose: () => {
      events.push(`beforeClose ready=${probe.ready}`);
      return Promise.resolve();
    },
    afterClose: () => {
      events.push("afterClose");
      return Promise.resolve();
    },
    stoppedMessage: "test stopped",
  }, () => {
    probe.setReady();
    events.push("body");
    setTimeout(() => stop.abort(new Error("received termination signal")), 10);
    return Promise.resolve();
  });
  assertEquals(code, 0);
  assertEquals(events, [
    "log listening for requests and metrics",
    "grpc listen 127.0.0.1:0",
    "log listening for serving gRPC",
    "body",
    "onStop",
    "log shutting down the test",
    "beforeClose ready=false",
    "grpc close 1234",
    "log internal server is shutdown gracefully",
    "afterClose",
    "log test stopped",
  ]);
  assert(
    logs[1].includes("service=gRPC/server component=test address=127.0.0.1:19999"),
    logs[1],
  );
  assert(logs[2].includes("reason=why"), logs[2]);
  assertEquals(probe.notReadyReason, "shutting down");
});

Deno.test("lifecycle: a failure closes everything at once and is rethrown", async () => {
  const events: string[] = [];
  const { logger, probe, http } = setup(events);
  let err: unknown;
  await serveUntilStopped({
    http,
    httpGracePeriodMs: 60_000,
    grpc: fakeGrpc(events),
    grpcAddress: { hostname: "127.0.0.1", port: 0 },
    grpcGracePeriodMs: 60_000,
    probe,
    logger,
    signal: new AbortController().signal,
    shutdownLog: { message: "shutting down", fields: () => ({}) },
    stoppedMessage: "never logged",
  }, () => Promise.reject(new Error("start-up failed"))).catch((e) => err = e);
  assertEquals((err as Error).message, "start-up failed");
  assertEquals(events, [
    "log listening for requests and metrics",
    "grpc listen 127.0.0.1:0",
    "log listening for serving gRPC",
    "log shutting down",
    "grpc close 0",
    "log internal server is shutdown gracefully",
  ]);
});

Deno.test("lifecycle: a gRPC listen failure skips the body and still shuts HTTP down", async () => {
  const events: string[] = [];
  const { logger, probe, http } = setup(events);
  let err: unknown;
  let ran = false;
  await serveUntilStopped({
    http,
    httpGracePeriodMs: 60_000,
    grpc: fakeGrpc(events, true),
    grpcAddress: { hostname: "127.0.0.1", port: 0 },
    grpcGracePeriodMs: 60_000,
    probe,
    logger,
    signal: new AbortController().signal,
    shutdownLog: { message: "shutting down", fields: () => ({}) },
  }, () => {
    ran = true;
    return Promise.resolve();
  }).catch((e) => err = e);
  assertEquals((err as Error).message, "address in use");
  assertEquals(ran, false);
  assertEquals(events.slice(-3), [
    "log shutting down",
    "grpc close 0",
    "log internal server is shutdown gracefully",
  ]);
});
