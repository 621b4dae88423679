import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import {
  EndpointConfigError,
  EndpointSet,
  endpointSpecSource,
  parseEndpointConfig,
  parseFileSD,
  resolveAddress,
} from "../../query/endpoints.ts";
import { Logger } from "../../logging/log.ts";

Deno.test("endpoint sources re-read files each round and keep the last good targets", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const logger = new Logger("warn", "logfmt", {}, (l) => lines.push(l));
    const cfgPath = `${dir}/endpoints.yaml`;
    const sdPath = `${dir}/sd.json`;
    await Deno.writeTextFile(cfgPath, "endpoints:\n  - address: a:10901\n");
    await Deno.writeTextFile(sdPath, JSON.stringify([{ targets: ["b:10901"] }]));
    const specs = endpointSpecSource({
      staticSpecs: [{ address: "s:10901", strict: true }],
      configFile: { path: cfgPath, contents: "" },
      sdFiles: [sdPath],
      logger,
    });
    const addrs = async () => (await specs()).map((s) => s.address).sort();
    assertEquals(await addrs(), ["a:10901", "b:10901", "s:10901"]);

    await Deno.writeTextFile(cfgPath, "endpoints:\n  - address: c:10901\n");
    await Deno.writeTextFile(sdPath, JSON.stringify([{ targets: ["d:10901"] }]));
    assertEquals(await addrs(), ["c:10901", "d:10901", "s:10901"]);

    await Deno.writeTextFile(cfgPath, "endpoints: [unclosed");
    await Deno.writeTextFile(sdPath, "[oops");
    assertEquals(await addrs(), ["c:10901", "d:10901", "s:10901"]);
    assertEquals(
      lines.filter((l) => l.includes("keeping") && l.includes("previous")).length,
      2,
      lines.join(),
    );
  });
});

Deno.test("--store.sd-files globs are expanded every round", async () => {
  await withTempDir(async (dir) => {
    const logger = new Logger("error", "logfmt", {}, () => {});
    await Deno.writeTextFile(`${dir}/one.json`, JSON.stringify([{ targets: ["a:10901"] }]));
    const specs = endpointSpecSource({ staticSpecs: [], sdFiles: [`${dir}/*.json`], logger });
    const addrs = async () => (await specs()).map((s) => s.address).sort();
    assertEquals(await addrs(), ["a:10901"]);
    await Deno.writeTextFile(`${dir}/two.json`, JSON.stringify([{ targets: ["b:10901"] }]));
    await Deno.writeTextFile(`${dir}/ignored.yaml`, "- targets: ['c:10901']\n");
    assertEquals(await addrs(), ["a:10901", "b:10901"]);
  });
});

Deno.test("a stall of our own longer than the Info timeout does not mark a store unhealthy", async () => {
  let calls = 0;
  const set = new EndpointSet({
    specs: () => [{ address: "store:1", strict: false }],
    logger: new Logger("error", "logfmt", {}, () => {}),
    infoTimeoutMs: 100,
    newClient: () => ({
      // the store answers in 150 ms of wall time, an answer that lands during our stall
      info: (signal?: AbortSignal) =>
        new Promise((resolve, reject) => {
          calls++;
          const t = setTimeout(() =>
            resolve({
              componentType: "store",
              labelSets: [],
              minTime: 0,
              maxTime: 1,
            }), 150);
          signal?.addEventListener("abort", () => {
            clearTimeout(t);
            reject(signal.reason);
          }, { once: true });
        }),
      series: () => (async function* () {})(),
      labelNames: () => Promise.resolve({ names: [], warnings: [] }),
      labelValues: () => Promise.resolve({ values: [], warnings: [] }),
      close: () => {},
    }),
  });
  try {
    const round = set.update();
    // let the round reach the Info call
    for (let i = 0; i < 100 && calls === 0; i++) await Promise.resolve();
    assertEquals(calls, 1);
    // our own thread is busy for 10× the Info timeout (a heavy evaluation)
    const end = performance.now() + 1000;
    while (performance.now() < end) { /* stall */ }
    await round;
    assertEquals(calls, 1);
    const st = set.statuses()[0];
    assertEquals(st.lastError, null);
    assertEquals(st.healthy, true);
    assertEquals(set.unavailable(), []);
  } finally {
    await set.close();
  }
});

Deno.test("DNS lookups that find nothing are logged at error level, as Thanos's resolver", async () => {
  const lines: string[] = [];
  const logger = new Logger("warn", "logfmt", {}, (l) => lines.push(l));
  const set = new EndpointSet({
    specs: () => [
      { address: "dnssrv+_grpc._tcp.missing.example", strict: false },
      { address: "dns+gone.example:10901", strict: false },
      { address: "dnssrv+_grpc._tcp.broken.example", strict: false },
    ],
    newClient: () => ({ info: () => Promise.reject(new Error("unused")) }) as never,
    logger,
    dns: {
      a: () => Promise.resolve([]),
      aaaa: () => Promise.resolve([]),
      srv: (n) =>
        n.includes("broken")
          ? Promise.reject(new Error("server misbehaving"))
          : Promise.resolve([]),
    },
  });
  await set.update();
  const has = (...parts: string[]) => lines.some((l) => parts.every((p) => l.includes(p)));
  assert(
    has("level=error", "failed to lookup SRV records", "_grpc._tcp.missing.example"),
    lines.join("\n"),
  );
  assert(has("level=error", "failed to lookup IP addresses", "gone.example"), lines.join("\n"));
  assert(
    has("level=error", "failed to resolve addresses for endpoints", "server misbehaving"),
    lines.join("\n"),
  );
});

Deno.test("dns+ and dnsdualstack+ resolve A and AAAA records (dual stack: IPv6 first, once each)", async () => {
  const dns = {
    a: (h: string) => Promise.resolve(h === "s.example" ? ["10.0.0.1", "10.0.0.2"] : []),
    aaaa: (h: string) => Promise.resolve(h === "s.example" ? ["fd00::1", "fd00::1"] : []),
    srv: () => Promise.resolve([]),
  };
  assertEquals([...new Set(await resolveAddress("dns+s.example:10901", dns))], [
    "10.0.0.1:10901",
    "10.0.0.2:10901",
    "[fd00::1]:10901",
  ]);
  assertEquals(await resolveAddress("dnsdualstack+s.example:10901", dns), [
    "[fd00::1]:10901",
    "10.0.0.1:10901",
    "10.0.0.2:10901",
  ]);
  assertEquals(await resolveAddress("dnsdualstack+127.0.0.1:9", dns), ["127.0.0.1:9"]);
});

Deno.test("file SD and --endpoint.sd-config: an item that is not a mapping is a clear error", () => {
  assertEquals(parseFileSD("- targets: [a:1]\n- targets: [b:2]\n", "f.yml"), ["a:1", "b:2"]);
  const sd = (text: string) => assertThrows(() => parseFileSD(text, "f.yml"), EndpointConfigError);
  // Prometheus's own message for a null item (discovery/file)
  assertEquals(sd("- targets: [a:1]\n-\n").message, "file SD f.yml: nil target group item found");
  assertEquals(sd("- a:1\n").message, "file SD f.yml: a target group is not a mapping");
  assertEquals(sd("- [a:1]\n").message, "file SD f.yml: a target group is not a mapping");
  const ep = (text: string) =>
    assertThrows(() => parseEndpointConfig(text, "e.yml"), EndpointConfigError);
  assertEquals(
    ep("endpoints:\n  - address: a:1\n  -\n").message,
    "endpoint config e.yml: endpoint 1 is not a mapping",
  );
  assertEquals(
    ep("endpoints: [a:1]\n").message,
    "endpoint config e.yml: endpoint 0 is not a mapping",
  );
});
