// Client certificates through the real CLI (`main.ts query` / `query-frontend` subprocesses,
// sandboxed as users run them): a querier whose `--http.config` requires certificates signed by
// a client CA answers curl's /api/v1/query only with such a certificate, and with
// `--query.tenant-certificate-field=organization` takes the tenant from the certificate (not the
// tenant header): a StoreAPI server in this test records the `thanos-tenant` metadata and the
// enforced `tenant_id` matcher. A query frontend with `--query-frontend.tenant-certificate-field`
// passes the certificate's tenant on to its querier.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { makeCerts, makeClientCerts } from "../helpers/certs.ts";
import { freePort } from "../helpers/ports.ts";
import { type Proc, spawnMain, startComponent } from "../helpers/thanos.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import type { StoreInfo } from "../../storeapi/codec.ts";
import type { Matcher } from "../../tsdb/matchers.ts";

/** A StoreAPI without series that records each Series call's tenant and matchers. */
class TenantRecorder implements StoreBackend {
  readonly seen: { tenant: string | undefined; matchers: string[] }[] = [];
  info(): Promise<StoreInfo> {
    return Promise.resolve({
      componentType: "store",
      labelSets: [],
      minTime: -(2 ** 53),
      maxTime: 2 ** 53,
      storeApi: true,
    });
  }
  // deno-lint-ignore require-yield
  async *series(
    req: { matchers: Matcher[] },
    _s: AbortSignal,
    call?: { tenant?: string },
  ): AsyncIterable<SeriesItem> {
    this.seen.push({ tenant: call?.tenant, matchers: req.matchers.map(String).sort() });
  }
  labelNames() {
    return Promise.resolve({ names: [], warnings: [] });
  }
  labelValues() {
    return Promise.resolve({ values: [], warnings: [] });
  }
}

/** curl over TLS with `cert` (none: null): exit code, status and body. */
async function curl(dir: string, cert: string | null, url: string, headers: string[] = []) {
  const args = ["-sS", "--max-time", "20", "--cacert", `${dir}/ca.pem`];
  if (cert !== null) args.push("--cert", `${dir}/${cert}.pem`, "--key", `${dir}/${cert}.key`);
  for (const h of headers) args.push("-H", h);
  args.push("-w", "\n%{http_code}", url);
  const o = await new Deno.Command("curl", { args, stdout: "piped", stderr: "piped" }).output();
  const out = new TextDecoder().decode(o.stdout);
  const nl = out.lastIndexOf("\n");
  return { code: o.code, status: out.slice(nl + 1), body: out.slice(0, Math.max(0, nl)) };
}

/** Starts `role` with the mutual-TLS web config; ready once /-/ready answers the client cert. */
async function startMtls(role: string, dir: string, args: string[]): Promise<Proc> {
  const port = freePort();
  const proc = spawnMain(
    [
      role,
      `--http-address=127.0.0.1:${port}`,
      "--http-grace-period=1s",
      `--http.config=${dir}/web.yml`,
      "--log.level=info",
      ...args,
    ],
    port,
    role,
  );
  await proc.waitFor(
    async () => {
      const r = await curl(dir, "client", `https://127.0.0.1:${port}/-/ready`);
      return r.status === "200";
    },
    "start (/-/ready over mutual TLS)",
    60_000,
  );
  return proc;
}

e2eTest(
  "--http.config client certificates: a querier takes the tenant from the certificate",
  { peers: ["openssl", "curl"] },
  async () => {
    const dirs = new TempDirs();
    const rec = new TenantRecorder();
    const recorder = new StoreServer(rec, { serving: true });
    const { port: storePort } = await recorder.listen("127.0.0.1", 0);
    const procs: Proc[] = [];
    try {
      const dir = await dirs.make("thanos-ts-client-cert-");
      await makeCerts(dir);
      await makeClientCerts(dir);
      await Deno.writeTextFile(
        `${dir}/web.yml`,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n" +
          "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
      );
      const grpc = `--grpc-address=127.0.0.1:${freePort()}`;
      const q = await startMtls("query", dir, [
        grpc,
        "--grpc-grace-period=1s",
        `--endpoint=127.0.0.1:${storePort}`,
        "--query.tenant-certificate-field=organization",
        "--query.enforce-tenancy",
      ]);
      procs.push(q);
      assert(q.logs().includes("client_auth_type=RequireAndVerifyClientCert"), q.logs());
      const base = `https://127.0.0.1:${q.port}`;
      const query = `${base}/api/v1/query?query=vector(42)`;

      // the right certificate: Prometheus's JSON
      let r = await curl(dir, "client", query);
      assertEquals([r.code, r.status], [0, "200"], r.body);
      assert(r.body.includes('"result":[') && r.body.includes('"42"'), r.body);
      // no certificate, or one from another CA: no answer (a TLS failure)
      for (const cert of [null, "stranger"]) {
        r = await curl(dir, cert, query);
        assert(r.code !== 0 && r.status === "000", `${cert}: ${r.code} ${r.status} ${r.body}`);
      }

      // the tenant is the certificate's organization, whatever the tenant header says
      const up = `${base}/api/v1/query?query=up`;
      for (let i = 0; i < 300 && rec.seen.length === 0; i++) {
        r = await curl(dir, "client", up, ["THANOS-TENANT: team-b"]);
        assertEquals(r.status, "200", r.body);
        if (rec.seen.length === 0) await new Promise((res) => setTimeout(res, 100));
      }
      r = await curl(dir, "team-b", up, ["THANOS-TENANT: team-a"]);
      assertEquals(r.status, "200", r.body);
      const tenants = [...new Set(rec.seen.map((s) => s.tenant))].sort();
      assertEquals(tenants, ["team-a", "team-b"]);
      for (const s of rec.seen) {
        assert(s.matchers.includes(`tenant_id="${s.tenant}"`), JSON.stringify(s));
      }
      // a certificate without an organization: refused as Thanos refuses it
      r = await curl(dir, "bare", up);
      assertEquals(r.status, "400", r.body);
      assertEquals(JSON.parse(r.body).error, "could not get organization field from client cert");

      // a query frontend with the certificate field sends the certificate's tenant down
      const plainQ = await startComponent("query", [
        "--log.level=warn",
        `--endpoint=127.0.0.1:${storePort}`,
        "--query.enforce-tenancy",
      ], { name: "plain querier" });
      procs.push(plainQ);
      const f = await startMtls("query-frontend", dir, [
        `--query-frontend.downstream-url=${plainQ.http}`,
        "--query-frontend.tenant-certificate-field=organization",
      ]);
      procs.push(f);
      rec.seen.length = 0;
      for (let i = 0; i < 300 && rec.seen.length === 0; i++) {
        r = await curl(dir, "team-b", `https://127.0.0.1:${f.port}/api/v1/query?query=up`, [
          "THANOS-TENANT: team-a",
        ]);
        assertEquals(r.status, "200", r.body);
        if (rec.seen.length === 0) await new Promise((res) => setTimeout(res, 100));
      }
      assertEquals([...new Set(rec.seen.map((s) => s.tenant))], ["team-b"]);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await recorder.close();
      await dirs.cleanup();
    }
  },
);
