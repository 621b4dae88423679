// components/tracing.ts and the launcher: `--tracing.config(-file)` as a user gives it — the
// file variant read by the launcher, the grants derived from the config, one refusal line for
// bad or conflicting configs — and the parsed config the role gets.

import { assert, assertEquals } from "../helpers/assert.ts";
import { prepareRole } from "../../main.ts";
import { tracingConfig } from "../../components/tracing.ts";
import { TempDirs } from "../helpers/tmp.ts";

const OTLP_HTTP = "type: OTLP\nconfig:\n  client_type: http\n  endpoint: collector:4318\n";

Deno.test("a tracing config file grants the collector, its own read, and reaches the role", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  await Deno.writeTextFile(`${dir}/tracing.yml`, OTLP_HTTP);
  const r = await prepareRole(["query", `--tracing.config-file=${dir}/tracing.yml`]);
  assert(!("kind" in r), JSON.stringify(r));
  const net = r.permissions.net;
  assert(net !== true && net.has("collector:4318"), [...(net as Set<string>)].join(","));
  assert(r.permissions.read.has(`${dir}/tracing.yml`));
  assert(r.permissions.env !== true && r.permissions.env.has("OTEL_EXPORTER_OTLP_HEADERS"));
  assertEquals(tracingConfig(r.raw)?.url, "https://collector:4318/v1/traces");
});

Deno.test("no tracing flag: no collector, no OTEL_ variables, no tracer", async () => {
  const r = await prepareRole(["query"]);
  assert(!("kind" in r));
  assert(r.permissions.env !== true && !r.permissions.env.has("OTEL_SERVICE_NAME"));
  assertEquals(tracingConfig(r.raw), null);
});

Deno.test("bad or conflicting tracing flags: exit 2 on one line naming the flag", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  await Deno.writeTextFile(`${dir}/jaeger.yml`, "type: JAEGER\nconfig: {}\n");
  const cases: [string[], RegExp][] = [
    [["store", `--tracing.config-file=${dir}/jaeger.yml`], /--tracing.config-file=.*JAEGER/],
    [["rule", "--tracing.config=type: DATADOG"], /--tracing.config=.*DATADOG.*OTLP/],
    [
      ["query", `--tracing.config=${OTLP_HTTP}`, `--tracing.config-file=${dir}/jaeger.yml`],
      /mutually exclusive/,
    ],
    [
      ["sidecar", "--tracing.config=type: OTLP\nconfig: {timeout: soon}"],
      /--tracing.config=.*config.timeout/,
    ],
    [["query", `--tracing.config-file=${dir}/missing.yml`], /cannot read --tracing.config-file/],
  ];
  for (const [argv, re] of cases) {
    const r = await prepareRole(argv);
    assert("kind" in r, `${argv.join(" ")} was accepted`);
    assertEquals(r.code, 2);
    assertEquals(r.text.split("\n").length, 1, r.text);
    assert(re.test(r.text), r.text);
  }
});
