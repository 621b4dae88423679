import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  formatMetricValue,
  METRICS_CONTENT_TYPE,
  MetricsRegistrationError,
  Registry,
} from "../../metrics/registry.ts";

Deno.test("values are formatted like Go's strconv.FormatFloat(v, 'g', -1, 64)", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [1, "1"],
    [-1, "-1"],
    [1.5, "1.5"],
    [100000, "100000"],
    [123456.7, "123456.7"],
    [1234567, "1.234567e+06"],
    [1e6, "1e+06"],
    [1e21, "1e+21"],
    [0.001, "0.001"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [0.1 + 0.2, "0.30000000000000004"],
    [-2.5e-7, "-2.5e-07"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [NaN, "NaN"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
  ];
  for (const [v, want] of cases) assertEquals(formatMetricValue(v), want, `value ${v}`);
});

Deno.test("exposition is text format 0.0.4 with families sorted by name like client_golang", async () => {
  const reg = new Registry();
  const ops = reg.counter({
    name: "thanos_objstore_bucket_operations_total",
    help: "Total number of all attempted operations against a bucket.",
    labelNames: ["bucket", "operation"],
  });
  ops.inc({ bucket: "b", operation: "get" });
  ops.inc({ bucket: "b", operation: "get" }, 2);
  ops.labels("b", "attributes").inc();
  const up = reg.gauge({ name: "a_up", help: "Line one\nback\\slash" });
  up.set(1);
  const h = reg.histogram({
    name: "req_duration_seconds",
    help: "Request duration.",
    labelNames: ["path"],
    buckets: [0.1, 1],
  });
  h.observe({ path: 'q"x' }, 0.05);
  h.observe({ path: 'q"x' }, 0.5);
  h.observe({ path: 'q"x' }, 3);
  reg.counter({ name: "never_used_total", help: "no series" });
  assertEquals(
    await reg.expose(),
    [
      "# HELP a_up Line one\\nback\\\\slash",
      "# TYPE a_up gauge",
      "a_up 1",
      "# HELP req_duration_seconds Request duration.",
      "# TYPE req_duration_seconds histogram",
      'req_duration_seconds_bucket{path="q\\"x",le="0.1"} 1',
      'req_duration_seconds_bucket{path="q\\"x",le="1"} 2',
      'req_duration_seconds_bucket{path="q\\"x",le="+Inf"} 3',
      'req_duration_seconds_sum{path="q\\"x"} 3.55',
      'req_duration_seconds_count{path="q\\"x"} 3',
      "# HELP thanos_objstore_bucket_operations_total Total number of all attempted operations against a bucket.",
      "# TYPE thanos_objstore_bucket_operations_total counter",
      'thanos_objstore_bucket_operations_total{bucket="b",operation="attributes"} 1',
      'thanos_objstore_bucket_operations_total{bucket="b",operation="get"} 3',
      "",
    ].join("\n"),
  );
  assertEquals(METRICS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("registering a name again returns the family; a conflicting kind is refused", () => {
  const reg = new Registry();
  const a = reg.counter({ name: "x_total", help: "x", labelNames: ["a"] });
  const b = reg.counter({ name: "x_total", help: "x", labelNames: ["a"] });
  assert(a === b);
  assertThrows(() => reg.gauge({ name: "x_total", help: "x" }), MetricsRegistrationError);
  assertThrows(() => reg.counter({ name: "bad-name", help: "x" }), MetricsRegistrationError);
  assertThrows(() => a.labels("1", "2"), MetricsRegistrationError);
  assertThrows(() => a.inc({ a: "1" }, -1), MetricsRegistrationError);
});

Deno.test("gauges go up and down; const labels and collect hooks appear in the output", async () => {
  const reg = new Registry();
  const g = reg.gauge({ name: "g", help: "h", labelNames: ["k"], constLabels: { z: "1" } });
  g.inc({ k: "v" }, 5);
  g.dec({ k: "v" });
  let calls = 0;
  reg.onCollect(() => {
    calls++;
    g.set({ k: "w" }, 0.25);
  });
  const text = await reg.expose();
  assertEquals(calls, 1);
  assert(text.includes('g{k="v",z="1"} 4\n'), text);
  assert(text.includes('g{k="w",z="1"} 0.25\n'), text);
  assertEquals(g.get({ k: "v" }), 4);
});

Deno.test("a label object and label values in labelNames order find the same series", async () => {
  const reg = new Registry();
  const c = reg.counter({ name: "calls_total", help: "h", labelNames: ["a", "b", "c"] });
  c.inc({ a: "1", b: "2", c: "3" });
  c.labels("1", "2", "3").inc(2);
  c.inc({ c: "3", b: "2", a: "1" }, 4); // key order of the object does not matter
  c.inc({ a: "1", b: "2", c: "4" });
  c.inc({ a: "1", c: "3" }); // a missing name is the empty value
  assert(c.labels("1", "2", "3") === c.with({ a: "1", b: "2", c: "3" }));
  assertEquals(c.get({ a: "1", b: "2", c: "3" }), 7);
  assertEquals(c.get({ a: "1", b: "2", c: "4" }), 1);
  assertEquals(c.labels("1", "", "3").value, 1);
  assertEquals(c.labels("2", "2", "3").value, 0);
  assertEquals(
    await reg.expose(),
    "# HELP calls_total h\n# TYPE calls_total counter\n" +
      'calls_total{a="1",b="",c="3"} 1\n' +
      'calls_total{a="1",b="2",c="3"} 7\n' +
      'calls_total{a="1",b="2",c="4"} 1\n' +
      'calls_total{a="2",b="2",c="3"} 0\n',
  );
});

Deno.test("label values that would join into one key stay distinct series", async () => {
  const reg = new Registry();
  const g = reg.gauge({ name: "g", help: "h", labelNames: ["x", "y"] });
  g.set({ x: "a\xffb", y: "c" }, 1);
  g.set({ x: "a", y: "b\xffc" }, 2);
  g.set({ x: "", y: "" }, 3);
  assertEquals(g.get({ x: "a\xffb", y: "c" }), 1);
  assertEquals(g.get({ x: "a", y: "b\xffc" }), 2);
  assertEquals(g.get({}), 3);
  assertEquals((await reg.expose()).split("\n").length, 6); // help, type, 3 series, ""
});

Deno.test("remove leaves no empty lookup level behind (label values that come and go)", () => {
  const reg = new Registry();
  const g = reg.gauge({ name: "g", help: "h", labelNames: ["group", "rule", "kind"] });
  // white-box: the family's lookup tree (one map per label) must not keep a level per value ever
  // used, or a long-running rule manager reloading groups would grow without bound
  const lookup = (g as unknown as { lookup: Map<string, unknown> }).lookup;
  for (let i = 0; i < 50; i++) {
    g.set({ group: `g${i}`, rule: "r", kind: "a" }, 1);
    g.set({ group: `g${i}`, rule: "r", kind: "b" }, 1);
    g.set({ group: `g${i}`, rule: "s", kind: "a" }, 1);
  }
  g.set({ group: "kept", rule: "r", kind: "a" }, 2);
  for (let i = 0; i < 50; i++) {
    g.remove(`g${i}`, "r", "a");
    g.remove(`g${i}`, "s", "a");
    assertEquals(lookup.has(`g${i}`), true); // ("r", "b") is still there
    g.remove(`g${i}`, "r", "b");
    assertEquals(lookup.has(`g${i}`), false);
  }
  assertEquals([...lookup.keys()], ["kept"]);
  assertEquals(g.get({ group: "kept", rule: "r", kind: "a" }), 2);
  g.remove("kept", "r", "zz"); // absent: no-op, the path stays
  assertEquals(g.get({ group: "kept", rule: "r", kind: "a" }), 2);
});

Deno.test("remove drops one series and reset all; both come back at 0 when used again", async () => {
  const reg = new Registry();
  const h = reg.histogram({ name: "h", help: "h", labelNames: ["k", "l"], buckets: [1] });
  h.observe({ k: "a", l: "1" }, 0.5);
  h.observe({ k: "a", l: "2" }, 0.5);
  h.observe({ k: "b", l: "1" }, 2);
  h.remove("a", "1");
  h.remove("zz", "1"); // absent: no-op
  h.remove("a"); // wrong arity: no-op
  assertEquals(h.get({ k: "a", l: "1" }).count, 0); // a new, empty series
  assertEquals(h.get({ k: "a", l: "2" }).count, 1);
  assertEquals(h.get({ k: "b", l: "1" }), { count: 1, sum: 2 });
  const text = await reg.expose();
  assert(text.includes('h_count{k="a",l="1"} 0\n'), text);
  assert(text.includes('h_count{k="a",l="2"} 1\n'), text);
  h.reset();
  assertEquals(await reg.expose(), "");
  assertEquals(h.get({ k: "b", l: "1" }).count, 0);
  const u = reg.counter({ name: "u_total", help: "h" });
  u.inc(3);
  u.remove();
  assertEquals(
    await reg.expose(),
    '# HELP h h\n# TYPE h histogram\nh_bucket{k="b",l="1",le="1"} 0\n' +
      'h_bucket{k="b",l="1",le="+Inf"} 0\nh_sum{k="b",l="1"} 0\nh_count{k="b",l="1"} 0\n',
  );
  u.inc();
  assertEquals(u.get(), 1);
});
