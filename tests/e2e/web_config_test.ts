// `--http.config` through the real CLI (`main.ts <role>` subprocesses, sandboxed as users run
// them): a querier with TLS and basic auth answers Debian's curl and promtool with the right
// credentials, and refuses them (401, TLS errors) without; every other role starts with the
// flag and answers /-/ready only with credentials, over TLS.

import bcrypt from "bcryptjs";
import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { makeCerts } from "../helpers/certs.ts";
import { freePort } from "../helpers/ports.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { PROMTOOL } from "../helpers/promtool.ts";
import { LabPrometheus } from "../helpers/sidecar_lab.ts";
import { type Proc, spawnMain } from "../helpers/thanos.ts";
import { TempDirs } from "../helpers/tmp.ts";

const USER = "alice";
const PASS = "correct horse";

/** A CA, a server certificate signed by it and a web config with TLS and one user, in `dir`. */
async function webFixture(dir: string): Promise<{ config: string; ca: string }> {
  await makeCerts(dir);
  const hash = bcrypt.hashSync(PASS, 6).replace(/^\$2b\$/, "$2y$");
  // relative file names: resolved against the config file's directory, as the toolkit does
  await Deno.writeTextFile(
    `${dir}/web.yml`,
    `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n` +
      `http_server_config:\n  headers:\n    X-Frame-Options: deny\n` +
      `basic_auth_users:\n  ${USER}: '${hash}'\n`,
  );
  return { config: `${dir}/web.yml`, ca: `${dir}/ca.pem` };
}

const basic = (user: string, pass: string) => "Basic " + btoa(`${user}:${pass}`);

/**
 * Starts `role` with `--http.config` on a fresh HTTP port (and gRPC port when `grpc`), waiting
 * until `/-/ready` answers 200 over HTTPS with the right credentials.
 */
async function startWeb(
  role: string[],
  args: string[],
  web: { config: string; client: Deno.HttpClient },
  grpc = true,
): Promise<{ proc: Proc; base: string }> {
  const port = freePort();
  const proc = spawnMain(
    [
      ...role,
      `--http-address=127.0.0.1:${port}`,
      ...(grpc ? [`--grpc-address=127.0.0.1:${freePort()}`, "--grpc-grace-period=1s"] : []),
      "--http-grace-period=1s",
      `--http.config=${web.config}`,
      "--log.level=info",
      ...args,
    ],
    port,
    role.join(" "),
  );
  const base = `https://127.0.0.1:${port}`;
  await proc.waitFor(
    async () => {
      const r = await fetch(`${base}/-/ready`, {
        client: web.client,
        headers: { authorization: basic(USER, PASS) },
        signal: AbortSignal.timeout(5000),
      });
      await r.body?.cancel();
      return r.status === 200;
    },
    "start (/-/ready over HTTPS with credentials)",
    60_000,
  );
  return { proc, base };
}

/** Runs a command; exit code and output. */
async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const td = new TextDecoder();
  const o = await new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code: o.code, out: td.decode(o.stdout), err: td.decode(o.stderr) };
}

/** Asserts that `/-/ready` refuses a request without or with wrong credentials (401). */
async function assertRefusesWithoutCredentials(base: string, client: Deno.HttpClient) {
  for (const headers of [{}, { authorization: basic(USER, "wrong") }] as HeadersInit[]) {
    const r = await fetch(`${base}/-/ready`, { client, headers });
    assertEquals([r.status, await r.text()], [401, "Unauthorized\n"]);
    assertEquals(r.headers.get("www-authenticate"), "Basic");
  }
}

e2eTest(
  "--http.config: a querier with TLS and basic auth answers curl and promtool with credentials only",
  {
    peers: ["openssl", "curl", PROMTOOL],
  },
  async () => {
    const dirs = new TempDirs();
    let client: Deno.HttpClient | undefined;
    let q: { proc: Proc; base: string } | undefined;
    try {
      const dir = await dirs.make("thanos-ts-webcfg-");
      const { config, ca } = await webFixture(dir);
      client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
      q = await startWeb(["query"], [], { config, client });
      assert(q.proc.logs().includes('msg="TLS is enabled."'), q.proc.logs());
      const url = `${q.base}/api/v1/query?query=vector(42)`;

      // curl: the right credentials and the CA → 200 and Prometheus's JSON
      let c = await run("curl", ["-sS", "--cacert", ca, "-u", `${USER}:${PASS}`, "-i", url]);
      assertEquals(c.code, 0, c.err);
      assert(/^HTTP\/\S+ 200/.test(c.out), c.out);
      assert(/^x-frame-options: deny\r?$/im.test(c.out), c.out);
      assert(c.out.includes('"result":[') && c.out.includes('"42"'), c.out);
      // no credentials, wrong password, unknown user → 401 with the Basic challenge
      for (const auth of [[], ["-u", `${USER}:nope`], ["-u", `mallory:${PASS}`]]) {
        c = await run("curl", ["-sS", "--cacert", ca, ...auth, "-i", url]);
        assertEquals(c.code, 0, c.err);
        assert(/^HTTP\/\S+ 401/.test(c.out), c.out);
        assert(/^www-authenticate: Basic\r?$/im.test(c.out), c.out);
      }
      // a client that does not trust the certificate: a TLS error (curl's 60), no answer
      c = await run("curl", ["-sS", "-u", `${USER}:${PASS}`, url]);
      assertEquals(c.code, 60, c.out + c.err);
      // plain HTTP to the HTTPS port gets no HTTP answer
      c = await run("curl", ["-sS", "-u", `${USER}:${PASS}`, url.replace("https:", "http:")]);
      assert(c.code !== 0, c.out);

      // promtool: Debian's promtool 2.42 has no --http.config.file (added in later Prometheus
      // versions); when it lacks one, credentials go in the URL and the CA in SSL_CERT_FILE (Go's
      // crypto/x509 reads it), which is what the file would configure
      const help = await run(PROMTOOL, ["query", "instant", "--help-long"]);
      const hasFlag = (help.out + help.err).includes("--http.config.file");
      const promtool = async (user: string | null, trust: boolean, expr: string) => {
        const args = ["query", "instant"];
        let server = q!.base;
        const env: Record<string, string> = {};
        if (hasFlag) {
          const file = `${dir}/promtool_${user ?? "none"}_${trust}.yml`;
          await Deno.writeTextFile(
            file,
            (user === null ? "" : `basic_auth:\n  username: ${user}\n  password: ${PASS}\n`) +
              (trust ? `tls_config:\n  ca_file: ${ca}\n` : ""),
          );
          args.push(`--http.config.file=${file}`);
        } else {
          if (user !== null) {
            server = server.replace("https://", `https://${user}:${encodeURIComponent(PASS)}@`);
          }
          // an empty file trusts nothing (else Go falls back to the system roots)
          env.SSL_CERT_FILE = trust ? ca : `${dir}/ext.cnf`;
        }
        return await run(PROMTOOL, [...args, server, expr], env);
      };
      let p = await promtool(USER, true, "up");
      assertEquals(p.code, 0, p.err);
      p = await promtool(USER, true, "vector(42)");
      assertEquals([p.code, p.out.trim().startsWith("{} => 42 @[")], [0, true], p.out + p.err);
      p = await promtool(null, true, "up");
      assert(p.code !== 0 && /401|Unauthorized/i.test(p.err), p.err);
      p = await promtool("mallory", true, "up");
      assert(p.code !== 0 && /401|Unauthorized/i.test(p.err), p.err);
      p = await promtool(USER, false, "up");
      assert(p.code !== 0 && /x509|certificate/i.test(p.err), p.err);
    } finally {
      await q?.proc.stop();
      client?.close();
      await dirs.cleanup();
    }
  },
);

/** One test per other role: it starts with --http.config and answers /-/ready with auth only. */
function roleTest(
  name: string,
  peers: string[],
  start: (
    root: string,
    web: { config: string; client: Deno.HttpClient },
  ) => Promise<{ proc: Proc; base: string; cleanup?: () => Promise<void> }>,
) {
  e2eTest(`--http.config: ${name} serves /-/ready over TLS to credentials only`, {
    peers: ["openssl", ...peers],
  }, async () => {
    const dirs = new TempDirs();
    let client: Deno.HttpClient | undefined;
    let started: { proc: Proc; base: string; cleanup?: () => Promise<void> } | undefined;
    try {
      const root = await dirs.make("thanos-ts-webcfg-");
      const { config, ca } = await webFixture(root);
      client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
      started = await start(root, { config, client });
      await assertRefusesWithoutCredentials(started.base, client);
    } finally {
      await started?.proc.stop();
      await started?.cleanup?.();
      client?.close();
      await dirs.cleanup();
    }
  });
}

const bucketOf = (root: string) => `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`;

roleTest("store", [], async (root, web) => {
  await Deno.mkdir(`${root}/bucket`);
  return await startWeb(["store"], [
    `--objstore.config=${bucketOf(root)}`,
    `--data-dir=${root}/store`,
  ], web);
});

roleTest("receive", [], (root, web) =>
  startWeb(["receive"], [
    `--remote-write.address=127.0.0.1:${freePort()}`,
    `--tsdb.path=${root}/receive`,
    `--label=replica="r0"`,
  ], web));

roleTest("compact", [], async (root, web) => {
  await Deno.mkdir(`${root}/bucket`);
  return await startWeb(
    ["compact"],
    [
      `--objstore.config=${bucketOf(root)}`,
      `--data-dir=${root}/compact`,
      "--wait",
      "--wait-interval=1h",
    ],
    web,
    false,
  );
});

roleTest("rule", [], async (root, web) => {
  await Deno.mkdir(`${root}/rules`);
  await Deno.writeTextFile(`${root}/rules/r.yml`, "groups: []\n");
  return await startWeb(["rule"], [
    `--data-dir=${root}/rule`,
    `--rule-file=${root}/rules/*.yml`,
    `--query=127.0.0.1:${freePort()}`,
    '--label=replica="A"',
  ], web);
});

roleTest("query-frontend", [], (_root, web) =>
  startWeb(
    ["query-frontend"],
    [
      `--query-frontend.downstream-url=http://127.0.0.1:${freePort()}`,
    ],
    web,
    false,
  ));

roleTest("sidecar", [PROMETHEUS], async (root, web) => {
  const prom = new LabPrometheus({ dataDir: `${root}/prom`, externalLabels: { replica: "p0" } });
  await prom.start();
  try {
    const s = await startWeb(["sidecar"], [`--prometheus.url=${prom.url}`], web);
    return { ...s, cleanup: () => prom.stop() };
  } catch (e) {
    await prom.stop();
    throw e;
  }
});

roleTest("tools bucket replicate", [], async (root, web) => {
  await Deno.mkdir(`${root}/bucket`);
  await Deno.mkdir(`${root}/to`);
  return await startWeb(
    ["tools", "bucket", "replicate"],
    [
      `--objstore.config=${bucketOf(root)}`,
      `--objstore-to.config=type: FILESYSTEM\nconfig:\n  directory: ${root}/to\n`,
    ],
    web,
    false,
  );
});
