// The receive flags a Thanos v0.42 deployment carries, through the real CLI: one receiver with
// `--remote-write.server-tls-cert/-key` (HTTPS), `--receive.relabel-config-file`,
// `--receive.split-tenant-label-name` and `--tsdb.too-far-in-future.time-window`; a real
// Prometheus 2.42 remote-writes to it over HTTPS (trusting the test CA), the project's client
// posts hand-made requests, and a querier over the receiver reads back what was stored.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { freePort } from "../helpers/ports.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import {
  eventually,
  instant,
  type LabProc,
  LabPrometheus,
  type LabPrometheusOptions,
  startLabQuerier,
} from "../helpers/sidecar_lab.ts";
import { series } from "../helpers/receive_lab.ts";
import { encodeWriteRequest, type PromSeries } from "../../receive/remote_write.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";

const CERTS = new URL("../storeapi/testdata/", import.meta.url).pathname;

/** A Prometheus remote-writing over HTTPS, verifying the receiver against the test CA. */
class TlsWritingPrometheus extends LabPrometheus {
  constructor(
    opts: LabPrometheusOptions,
    readonly writeUrl: string,
    readonly clientCert = false,
  ) {
    super(opts);
  }

  override config(): string {
    return super.config() + [
      "remote_write:",
      `  - url: ${this.writeUrl}`,
      "    send_exemplars: true",
      "    tls_config:",
      `      ca_file: ${CERTS}ca.crt`,
      ...(this.clientCert
        ? [`      cert_file: ${CERTS}client.crt`, `      key_file: ${CERTS}client.key`]
        : []),
      "    queue_config:",
      "      batch_send_deadline: 500ms",
      "      min_backoff: 50ms",
      "      max_backoff: 500ms",
      "",
    ].join("\n");
  }
}

interface ExemplarJSON {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

/** `/api/v1/query_exemplars` of the querier over the hour before `atMs` (and a minute after). */
async function exemplarsVia(queryUrl: string, q: string, atMs: number): Promise<ExemplarJSON[]> {
  const u = `${queryUrl}/api/v1/query_exemplars?query=${encodeURIComponent(q)}&start=${
    (atMs - 3600_000) / 1000
  }&end=${(atMs + 60_000) / 1000}`;
  const r = await fetch(u, { signal: AbortSignal.timeout(10_000) });
  const body = await r.json();
  assertEquals(r.status, 200, JSON.stringify(body));
  return body.data;
}

/** POSTs `series` over HTTPS with `client` (trusting the test CA). */
async function postTls(
  client: Deno.HttpClient,
  url: string,
  s: PromSeries[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const r = await fetch(url, {
    client,
    method: "POST",
    body: snappyBlockCompress(encodeWriteRequest({ series: s })) as Uint8Array<ArrayBuffer>,
    headers: {
      "content-type": "application/x-protobuf",
      "content-encoding": "snappy",
      "x-prometheus-remote-write-version": "0.1.0",
      ...headers,
    },
    signal: AbortSignal.timeout(30_000),
  });
  return { status: r.status, body: await r.text() };
}

e2eTest(
  "receive: remote write over TLS from Prometheus 2.42, relabel, split tenants, future window",
  { peers: [PROMETHEUS, "openssl"] },
  async () => {
    const dirs = new TempDirs();
    let receiver: ThanosProc | undefined;
    let querier: LabProc | undefined;
    let prom: TlsWritingPrometheus | undefined;
    let exporter: Deno.HttpServer<Deno.NetAddr> | undefined;
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${CERTS}ca.crt`)] });
    try {
      const root = await dirs.make("thanos-ts-receive-flags-");
      // keep Prometheus's head-series gauge and the hand-written metrics; mark what was kept
      await Deno.writeTextFile(
        `${root}/relabel.yml`,
        [
          "- source_labels: [__name__]",
          "  regex: prometheus_tsdb_head_series|hand_.*",
          "  action: keep",
          "- target_label: via",
          "  replacement: relabel",
          "",
        ].join("\n"),
      );
      const rwPort = freePort();
      const writeUrl = `https://127.0.0.1:${rwPort}/api/v1/receive`;
      receiver = await startComponent("receive", [
        `--remote-write.address=127.0.0.1:${rwPort}`,
        `--remote-write.server-tls-cert=${CERTS}server.crt`,
        `--remote-write.server-tls-key=${CERTS}server.key`,
        `--tsdb.path=${root}/data`,
        '--label=replica="r0"',
        `--receive.relabel-config-file=${root}/relabel.yml`,
        "--receive.split-tenant-label-name=team",
        "--tsdb.too-far-in-future.time-window=5m",
        "--tsdb.max-exemplars=1000",
        "--log.level=info",
      ], { name: "receive", timeoutMs: 60_000 });
      querier = await startLabQuerier([receiver.grpc]);

      // plain HTTP on the HTTPS address is not served
      let plainAnswered = false;
      try {
        const r = await fetch(writeUrl.replace("https:", "http:"), {
          method: "POST",
          body: "x",
          signal: AbortSignal.timeout(5000),
        });
        await r.body?.cancel();
        plainAnswered = true;
      } catch { /* refused: expected */ }
      assert(!plainAnswered, "the remote-write address answered plain HTTP");
      // Thanos's default --remote-write.server-tls-min-version=1.3: a TLS 1.2 client fails
      const tls12 = await new Deno.Command("openssl", {
        args: ["s_client", "-connect", `127.0.0.1:${rwPort}`, "-tls1_2"],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        signal: AbortSignal.timeout(20_000),
      }).output();
      assert(
        !/^New, TLSv1\.2,/m.test(new TextDecoder().decode(tls12.stdout)),
        "TLS 1.2 accepted with min version 1.3",
      );

      // split tenants: team=a and team=b go to their tenants without the label; the rest to
      // the header's tenant
      const now = Date.now();
      const w = await postTls(client, writeUrl, [
        series({ __name__: "hand_split", id: "1", team: "a" }, [[now, 1]]),
        series({ __name__: "hand_split", id: "2", team: "b" }, [[now, 2]]),
        series({ __name__: "hand_split", id: "3" }, [[now, 3]]),
        series({ __name__: "dropped_by_relabel", id: "4" }, [[now, 4]]),
      ], { "THANOS-TENANT": "hdr" });
      assertEquals(w, { status: 200, body: "" });
      await eventually("the split series through the querier", async () => {
        const r = await instant(querier!.http, "hand_split", now / 1000);
        return r.length === 3;
      });
      const got = (await instant(querier.http, "hand_split", now / 1000)).map((s) => s.metric)
        .sort((a, b) => a.id.localeCompare(b.id));
      assertEquals(got, [
        { __name__: "hand_split", id: "1", replica: "r0", tenant_id: "a", via: "relabel" },
        { __name__: "hand_split", id: "2", replica: "r0", tenant_id: "b", via: "relabel" },
        { __name__: "hand_split", id: "3", replica: "r0", tenant_id: "hdr", via: "relabel" },
      ]);
      assertEquals(await instant(querier.http, "dropped_by_relabel", now / 1000), []);
      // an invalid tenant in the split label: 400, nothing stored
      const bad = await postTls(client, writeUrl, [
        series({ __name__: "hand_bad", team: "../x" }, [[now, 1]]),
      ]);
      assertEquals(bad.status, 400, bad.body);

      // too far in the future: the sample an hour ahead is refused (409, out of bounds), the
      // one inside the 5m window of the same request is stored
      const fut = await postTls(client, writeUrl, [
        series({ __name__: "hand_future", id: "near" }, [[now + 60_000, 1]]),
        series({ __name__: "hand_future", id: "far" }, [[now + 3_600_000, 2]]),
      ]);
      assertEquals(fut.status, 409, fut.body);
      assert(fut.body.includes("out of bounds"), fut.body);
      // every sample of the last 2h as of after the far one: only the near series has any
      const futGot = await instant(querier.http, "hand_future[2h]", (now + 3_601_000) / 1000);
      assertEquals(futGot.map((s) => s.metric.id), ["near"]);

      // exemplars from the project's client: stored with the series, served by the Exemplars API
      const exT = Date.now();
      const exW = await postTls(client, writeUrl, [{
        ...series({ __name__: "hand_ex", team: "a" }, [[exT, 1]]),
        exemplars: [{ labels: ["trace_id", "abc123"], value: 1, timestamp: exT }],
      }]);
      assertEquals(exW, { status: 200, body: "" });
      const exAnswer = await exemplarsVia(querier.http, "hand_ex", exT);
      assertEquals(exAnswer, [{
        seriesLabels: { __name__: "hand_ex", replica: "r0", tenant_id: "a", via: "relabel" },
        exemplars: [{ labels: { trace_id: "abc123" }, value: "1", timestamp: exT / 1000 }],
      }]);

      // Prometheus 2.42 over HTTPS: its head-series gauge arrives relabeled, nothing else; the
      // exemplars it scrapes (OpenMetrics, exemplar storage on) arrive with send_exemplars
      exporter = Deno.serve(
        { hostname: "127.0.0.1", port: freePort(), onListen: () => {} },
        () =>
          new Response(
            "# TYPE hand_requests counter\n" +
              `hand_requests_total 7 # {trace_id="prom-trace"} 0.5 ${Date.now() / 1000}\n` +
              "# EOF\n",
            { headers: { "content-type": "application/openmetrics-text; version=1.0.0" } },
          ),
      );
      prom = new TlsWritingPrometheus(
        {
          dataDir: `${root}/prom`,
          externalLabels: { source: "prom" },
          targets: [`127.0.0.1:${exporter.addr.port}`],
          extraFlags: ["--enable-feature=exemplar-storage"],
        },
        writeUrl,
      );
      await prom.start();
      await eventually("Prometheus's samples through TLS and relabeling", async () => {
        const r = await instant(querier!.http, '{source="prom"}');
        return r.length > 0;
      }, 60_000);
      const fromProm = await instant(querier.http, '{source="prom"}');
      const names = [...new Set(fromProm.map((s) => s.metric.__name__))];
      // the relabel rules keep these two names only (Prometheus writes hundreds of others)
      for (const n of names) {
        assert(n === "prometheus_tsdb_head_series" || n === "hand_requests_total", n);
      }
      for (const s of fromProm) {
        assertEquals(s.metric.via, "relabel");
        assertEquals(s.metric.tenant_id, "default-tenant");
      }
      assert(!prom.logs().includes("x509"), prom.logs().slice(-2000));
      await eventually("Prometheus's exemplars through the receiver", async () => {
        const r = await exemplarsVia(querier!.http, "hand_requests_total", Date.now());
        return r.some((d) => d.exemplars.some((e) => e.labels.trace_id === "prom-trace"));
      }, 60_000);
      const promEx = await exemplarsVia(querier.http, "hand_requests_total", Date.now());
      assertEquals(promEx[0].seriesLabels.source, "prom");
      assertEquals(promEx[0].seriesLabels.via, "relabel");
    } finally {
      await prom?.stop();
      await exporter?.shutdown();
      await querier?.stop();
      await receiver?.stop();
      client.close();
      await dirs.cleanup();
    }
  },
);

e2eTest(
  "receive: --remote-write.server-tls-client-ca (mutual TLS), tenant from the certificate",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    let receiver: ThanosProc | undefined;
    let querier: LabProc | undefined;
    let prom: TlsWritingPrometheus | undefined;
    const ca = await Deno.readTextFile(`${CERTS}ca.crt`);
    const anonymous = Deno.createHttpClient({ caCerts: [ca] });
    const withCert = Deno.createHttpClient({
      caCerts: [ca],
      cert: await Deno.readTextFile(`${CERTS}client.crt`),
      key: await Deno.readTextFile(`${CERTS}client.key`),
    });
    try {
      const root = await dirs.make("thanos-ts-receive-mtls-");
      const rwPort = freePort();
      const writeUrl = `https://127.0.0.1:${rwPort}/api/v1/receive`;
      receiver = await startComponent("receive", [
        `--remote-write.address=127.0.0.1:${rwPort}`,
        `--remote-write.server-tls-cert=${CERTS}server.crt`,
        `--remote-write.server-tls-key=${CERTS}server.key`,
        `--remote-write.server-tls-client-ca=${CERTS}ca.crt`,
        "--receive.tenant-certificate-field=commonName",
        `--tsdb.path=${root}/data`,
        '--label=replica="r0"',
      ], { name: "receive", timeoutMs: 60_000 });
      querier = await startLabQuerier([receiver.grpc]);
      const now = Date.now();
      // no client certificate: the handshake fails, nothing is stored
      let refused = false;
      try {
        await postTls(anonymous, writeUrl, [series({ __name__: "anon_metric" }, [[now, 1]])]);
      } catch {
        refused = true;
      }
      assert(refused, "a client without a certificate was served");
      // the tenant is the certificate's common name, whatever the tenant header says
      const ok = await postTls(withCert, writeUrl, [
        series({ __name__: "mtls_metric" }, [[now, 1]]),
      ], { "THANOS-TENANT": "from-header" });
      assertEquals(ok, { status: 200, body: "" });
      await eventually("the mTLS write through the querier", async () => {
        return (await instant(querier!.http, "mtls_metric", now / 1000)).length === 1;
      });
      const got = await instant(querier.http, "mtls_metric", now / 1000);
      assertEquals(got[0].metric.tenant_id, "thanos-ts test client");
      assertEquals(await instant(querier.http, "anon_metric", now / 1000), []);
      // the receiver's own answers still apply over mutual TLS (bad body → 400)
      const bad = await fetch(writeUrl, {
        client: withCert,
        method: "POST",
        body: "not snappy",
        signal: AbortSignal.timeout(10_000),
      });
      assertEquals(bad.status, 400, await bad.text());
      // Prometheus 2.42 with its client certificate
      prom = new TlsWritingPrometheus(
        { dataDir: `${root}/prom`, externalLabels: { source: "prom-mtls" } },
        writeUrl,
        true,
      );
      await prom.start();
      await eventually("Prometheus's samples over mutual TLS", async () => {
        return (await instant(querier!.http, '{source="prom-mtls"}')).length > 0;
      }, 60_000);
    } finally {
      await prom?.stop();
      await querier?.stop();
      await receiver?.stop();
      anonymous.close();
      withCert.close();
      await dirs.cleanup();
    }
  },
);
