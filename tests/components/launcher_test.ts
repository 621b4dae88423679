import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { main, resolveArgs } from "../../main.ts";
import {
  type CommandSpec,
  parseBytesFlag,
  parseDurationFlag,
  parseFlags,
  parseListenAddress,
  parseTimeFlag,
  UsageError,
} from "../../components/flags.ts";
import { derivePermissions, netTarget, workerPermissions } from "../../components/permissions.ts";

const SPEC: CommandSpec = {
  path: ["demo"],
  help: "demo",
  flags: [
    { name: "http-address", kind: "string", default: "0.0.0.0:10902", help: "", grants: "listen" },
    { name: "store", kind: "string", repeatable: true, help: "", grants: "connect" },
    { name: "data-dir", kind: "string", default: "./data", help: "", grants: "write" },
    { name: "wait", short: "w", kind: "bool", default: "false", help: "" },
    { name: "timeout", kind: "duration", default: "5m", help: "" },
    { name: "output", short: "o", kind: "enum", choices: ["json", "wide"], help: "" },
  ],
};

Deno.test("flags parse in --a=b, --a b, -o b and --no-x forms", () => {
  const raw = parseFlags(SPEC, [
    "--store=a:1",
    "--store",
    "dns+b:2",
    "-o",
    "json",
    "--wait",
    "--no-wait",
    "--timeout=1h30m",
  ]);
  assertEquals(raw.values.store, ["a:1", "dns+b:2"]);
  assertEquals(raw.values.output, ["json"]);
  assertEquals(raw.values.wait, ["false"]);
  assertEquals(raw.values.timeout, ["1h30m"]);
});

Deno.test("a bad flag or value is a usage error naming the word", () => {
  assertThrows(() => parseFlags(SPEC, ["--nope"]), UsageError, "unknown flag --nope");
  assertThrows(() => parseFlags(SPEC, ["--timeout=5x"]), UsageError, "--timeout");
  assertThrows(() => parseFlags(SPEC, ["-o", "xml"]), UsageError, "want one of json, wide");
  assertThrows(() => parseFlags(SPEC, ["extra"]), UsageError, "unexpected argument");
});

Deno.test("durations, byte sizes and times parse like Thanos", () => {
  assertEquals(parseDurationFlag("1h30m"), 5400000);
  assertEquals(parseDurationFlag("2w"), 14 * 86400e3);
  assertEquals(parseDurationFlag("-2w", true), -14 * 86400e3);
  assertThrows(() => parseDurationFlag("30m1h"), UsageError);
  assertEquals(parseBytesFlag("250MB"), 250 * 1024 * 1024);
  assertEquals(parseBytesFlag("1GiB"), 1024 ** 3);
  assertEquals(parseTimeFlag("-2h", 10_000_000), 10_000_000 - 7200e3);
  assertEquals(parseTimeFlag("2020-01-01T00:00:00Z"), Date.UTC(2020, 0, 1));
  assertEquals(parseTimeFlag("9999-12-31T23:59:59Z"), Date.UTC(9999, 11, 31, 23, 59, 59));
  assert(parseTimeFlag("0000-01-01T00:00:00Z") < Date.UTC(1, 0, 1));
});

Deno.test("permissions come from the flag values and defaults only", () => {
  const raw = parseFlags(SPEC, ["--store=10.0.0.1:10901", "--store=store-2:10901"]);
  const p = derivePermissions(SPEC, raw);
  assert(p.net !== true);
  assertEquals([...p.net].sort(), ["0.0.0.0:10902", "10.0.0.1:10901", "store-2:10901"]);
  assertEquals([...p.write], ["./data"]);
  const w = workerPermissions(p);
  assertEquals(w.run, false);
  assertEquals(w.ffi, false);
  assertEquals(netTarget("http://localhost:9090/"), "localhost:9090");
  assertEquals(netTarget("https://s3.amazonaws.com"), "s3.amazonaws.com:443");
  assertEquals(netTarget("dns+store.svc:10901"), "store.svc:10901");
});

Deno.test("DNS or file discovery grants any address, since targets are known only at run time", () => {
  const p = derivePermissions(SPEC, parseFlags(SPEC, ["--store=dnssrv+_grpc._tcp.store"]));
  assertEquals(p.net, true);
  assertEquals(workerPermissions(p).net, true);
});

Deno.test("launcher prints help and version, and exits 2 on unknown commands", () => {
  const top = resolveArgs([]);
  assert(top.kind === "print" && top.code === 0 && top.text.includes("tools"));
  const ver = resolveArgs(["--version"]);
  assert(ver.kind === "print" && ver.text.includes("deno version:"));
  // kingpin accepts the app's --version after a command too; prometheus/common's layout
  for (
    const argv of [["--version"], ["query", "--version"], ["tools", "bucket", "ls", "--version"]]
  ) {
    const v = resolveArgs(argv);
    assert(v.kind === "print" && v.code === 0, argv.join(" "));
    const lines = v.text.split("\n");
    assert(
      /^thanos, version \d+\.\d+\.\d+\S* \(branch: \S+, revision: \S+\)$/.test(lines[0]),
      lines[0],
    );
    for (const key of ["build user", "build date", "go version", "platform", "tags"]) {
      assert(lines.some((l) => l.startsWith(`  ${key}:`)), `${key} in ${v.text}`);
    }
  }
  // --help-long: a command's help, or a group's with every command's flags below it
  const long = resolveArgs(["--help-long"]);
  assert(long.kind === "print" && long.code === 0);
  for (const c of ["query", "store", "tools bucket inspect"]) {
    assert(long.text.includes(`usage: thanos ${c} [<flags>]`), c);
  }
  assert(long.text.includes("--objstore.config-file"));
  const toolsLong = resolveArgs(["tools", "bucket", "--help-long"]);
  assert(toolsLong.kind === "print" && toolsLong.text.includes("usage: thanos tools bucket ls"));
  assert(!toolsLong.text.includes("usage: thanos query"));
  const queryLong = resolveArgs(["query", "--help-long"]);
  assert(queryLong.kind === "print" && queryLong.code === 0);
  assert(queryLong.text.includes("--http-address") && queryLong.text.includes("--version"));
  const bad = resolveArgs(["frobnicate"]);
  assert(bad.kind === "print" && bad.code === 2 && bad.text.includes('"frobnicate"'));
  assert(!bad.text.includes("\n"));
  const help = resolveArgs(["tools", "tsdb", "dump", "--help"]);
  assert(help.kind === "print" && help.code === 0 && help.text.includes("--min-time"));
  const badFlag = resolveArgs(["tools", "tsdb", "dump", "x", "--frob"]);
  assert(badFlag.kind === "print" && badFlag.code === 2 && badFlag.text.includes("--frob"));
});

Deno.test("the thanos process exits 2 with one line on a bad flag", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, "tools", "bogus"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  const err = new TextDecoder().decode(out.stderr).trim();
  assertEquals(err.split("\n").length, 1);
  assert(err.includes('"bogus"'));
});

Deno.test("main() returns 0 for --help", async () => {
  assertEquals(await main(["--help"]), 0);
});

Deno.test("listen addresses parse as Thanos writes them", () => {
  assertEquals(parseListenAddress("0.0.0.0:10902"), { hostname: "0.0.0.0", port: 10902 });
  assertEquals(parseListenAddress(":9090"), { hostname: "0.0.0.0", port: 9090 });
  assertEquals(parseListenAddress("[::1]:80"), { hostname: "::1", port: 80 });
});
