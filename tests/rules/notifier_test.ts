// The Alertmanager notifier (rules/notifier.ts) against a local HTTP server standing in for
// Alertmanager's v2 API: the posted body (external labels win, label drop, generator URL, times),
// batching, the port default, refusing DNS discovery, and failures counted as dropped.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import type { Alert } from "../../rules/alerting.ts";
import {
  AlertmanagerConfigError,
  Notifier,
  parseAlertmanagerURLs,
  type PostableAlert,
} from "../../rules/notifier.ts";
import {
  DEFAULT_ALERT_QUERY_TEMPLATE,
  ExpressionLinkTemplate,
  tableLinkForExpression,
} from "../../rules/template.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

function alert(over: Partial<Alert> = {}): Alert {
  return {
    state: "firing",
    labels: labelsFromObject({ alertname: "A", cluster: "mine", replica: "x", i: "1" }),
    annotations: labelsFromObject({ summary: "s" }),
    value: 1,
    activeAt: 1_700_000_000_000,
    firedAt: 1_700_000_010_000,
    resolvedAt: 0,
    lastSentAt: 0,
    validUntil: 1_700_000_250_500,
    keepFiringSince: 0,
    ...over,
  };
}

Deno.test("notifier: URLs get port 9093 (not dnssrv+), DNS prefixes are kept", () => {
  assertEquals(
    parseAlertmanagerURLs([
      "http://am",
      "https://am2:9443/prefix/",
      "dns+http://am3",
      "dnssrv+http://_am._tcp.example",
    ]),
    [
      "http://am:9093",
      "https://am2:9443/prefix",
      "dns+http://am3:9093",
      "dnssrv+http://_am._tcp.example",
    ],
  );
  assertThrows(() => parseAlertmanagerURLs(["am:9093"]), AlertmanagerConfigError, "scheme");
});

Deno.test("notifier: posts v2 alerts with external labels, label drop, generator URL", async () => {
  const got: { path: string; body: PostableAlert[] }[] = [];
  let fail = false;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      got.push({ path: new URL(req.url).pathname, body: await req.json() });
      return new Response("", { status: fail ? 500 : 200 });
    },
  );
  const registry = new Registry();
  const n = new Notifier({
    urls: [`http://127.0.0.1:${server.addr.port}/am`],
    sendTimeoutMs: 5000,
    externalLabels: labelsFromObject({ cluster: "eu", replica: "A" }),
    labelDrop: ["replica"],
    queryURL: "http://q.example/",
    logger: quiet,
    registry,
    maxBatch: 2,
  });
  const stop = new AbortController();
  const run = n.run(stop.signal);
  try {
    await n.send("up == 0", [
      alert(),
      alert({ labels: labelsFromObject({ alertname: "A", i: "2" }) }),
    ]);
    await n.send("up == 0", [alert({ resolvedAt: 1_700_000_020_000 })]);
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assertEquals(got.map((g) => [g.path, g.body.length]), [["/am/api/v2/alerts", 2], [
      "/am/api/v2/alerts",
      1,
    ]]);
    assertEquals(got[0].body[0], {
      labels: { alertname: "A", cluster: "eu", i: "1" },
      annotations: { summary: "s" },
      startsAt: "2023-11-14T22:13:30Z",
      endsAt: "2023-11-14T22:17:30.5Z",
      generatorURL: "http://q.example/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
    });
    assertEquals(got[1].body[0].endsAt, "2023-11-14T22:13:40Z", "resolved: endsAt = resolvedAt");
    fail = true;
    await n.send("x", [alert()]);
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    let text = "";
    for (let i = 0; i < 100; i++) {
      text = await registry.expose();
      if (text.includes("thanos_alert_sender_alerts_dropped_total 1")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert(text.includes("thanos_alert_sender_alerts_dropped_total 1"), text);
    assert(/thanos_alert_sender_errors_total\{alertmanager="[^"]+"\} 1/.test(text), text);
    assert(/thanos_alert_sender_alerts_sent_total\{alertmanager="[^"]+"\} 3/.test(text), text);
  } finally {
    stop.abort();
    await run;
    ac.abort();
    await server.finished;
  }
});

Deno.test("notifier: --alert.relabel-config runs after the label drop; dropped alerts are not sent", async () => {
  const n = new Notifier({
    urls: ["http://127.0.0.1:1"],
    sendTimeoutMs: 1000,
    externalLabels: labelsFromObject({ cluster: "eu", replica: "A" }),
    labelDrop: ["replica"],
    queryURL: "",
    relabel: new Relabeler(parseRelabelConfigs(`
- source_labels: [i]
  regex: "2"
  action: drop
- source_labels: [cluster]
  target_label: team
  replacement: team-$1
- regex: replica
  action: labeldrop
`)),
    logger: quiet,
    registry: new Registry(),
  });
  const out = await n.toPostable("x", [
    alert(),
    alert({ labels: labelsFromObject({ alertname: "A", i: "2" }) }),
  ]);
  assertEquals(out.map((a) => a.labels), [
    { alertname: "A", cluster: "eu", i: "1", team: "team-eu" },
  ]);
});

Deno.test("notifier: dns+ Alertmanager URLs post to the resolved addresses", async () => {
  const got: string[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      await req.body?.cancel();
      got.push(new URL(req.url).pathname);
      return new Response("", { status: 200 });
    },
  );
  const n = new Notifier({
    urls: ["dns+http://am.example/am/"],
    sendTimeoutMs: 5000,
    externalLabels: [],
    labelDrop: [],
    queryURL: "",
    logger: quiet,
    registry: new Registry(),
  });
  try {
    assertEquals(await n.post(await n.toPostable("x", [alert()])), false, "nothing resolved yet");
    const asked: string[] = [];
    await n.refresh((a) => {
      asked.push(a);
      return Promise.resolve([`127.0.0.1:${server.addr.port}`]);
    });
    assertEquals(asked, ["dns+am.example:9093"]);
    assertEquals(n.currentTargets(), [`http://127.0.0.1:${server.addr.port}/am`]);
    assertEquals(await n.post(await n.toPostable("x", [alert()])), true);
    assertEquals(got, ["/am/api/v2/alerts"]);
    await n.refresh(() => Promise.reject(new Error("SERVFAIL")));
    assertEquals(n.currentTargets().length, 1, "a failed lookup keeps the previous targets");
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("notifier: --alert.query-template shapes the generator URL; a failing one leaves the link out", async () => {
  const make = async (template: string, queryURL = "http://q.example/") =>
    new Notifier({
      urls: ["http://127.0.0.1:1"],
      sendTimeoutMs: 1000,
      externalLabels: [],
      labelDrop: [],
      queryURL,
      queryTemplate: await ExpressionLinkTemplate.parse(template),
      logger: quiet,
      registry: new Registry(),
    });
  const expr = 'rate(x{a="b c"}[5m]) > 0.5';
  const custom = await make("/explore?left={{.Expr}}&from=now-1h{{if .Expr}}&ok{{end}}");
  assertEquals(
    (await custom.toPostable(expr, [alert()]))[0].generatorURL,
    "http://q.example/explore?left=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29+%3E+0.5&from=now-1h&ok",
  );
  const byDefault = await make(DEFAULT_ALERT_QUERY_TEMPLATE);
  assertEquals(
    (await byDefault.toPostable(expr, [alert()]))[0].generatorURL,
    "http://q.example" + tableLinkForExpression(expr),
  );
  // valid on "test_expr", fails on this expression: the link is left out (Thanos logs a warning)
  const failing = await make('{{if eq .Expr "test_expr"}}/ok{{else}}{{index .Expr 1}}{{end}}');
  assertEquals((await failing.toPostable(expr, [alert()]))[0].generatorURL, "http://q.example");
});
