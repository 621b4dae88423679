// The exact Deno permissions each role gets for a table of flag combinations, as the launcher
// computes them (prepareRole: flag files read, then derivePermissions with the objstore grants).
// A role may listen on, connect to, read and write exactly what its flags name
// (components/permissions.ts, the grant kinds in components/flags.ts):
// - `--objstore.config-file` grants read of that file only (not its directory), plus what the
//   bucket config needs (a FILESYSTEM bucket: read+write of its directory);
// - `--store.sd-files` with a glob grants read of the directory the glob is in (files may come
//   and go there) and any address (targets are known only at run time); without a glob, the
//   file itself;
// - a `write` path grants read+write of that path only; `read-env` (the reloader's config file)
//   grants read of the file and the whole environment (for `$(VAR)` substitution).

import { assert, assertEquals } from "../helpers/assert.ts";
import { dualStackWildcard, type PreparedRole, prepareRole } from "../../main.ts";
import { workerPermissions } from "../../components/permissions.ts";

/**
 * What a role that reads YAML configs may read from the environment (the YAML parser's debug
 * switches); a role without YAML configs gets no environment at all, and the AWS SDK's
 * variables come only with an S3 bucket (its config grants them).
 */
const YAML_ENV = ["LOG_STREAM", "LOG_TOKENS"];

interface Expected {
  net: string[] | true | false;
  read: string[] | false;
  write: string[] | false;
  env: string[] | true | false;
}

async function permissionsOf(argv: string[]): Promise<Deno.PermissionOptionsObject> {
  const p = await prepareRole(argv);
  assert(!("kind" in p), "kind" in p ? p.text : "");
  return workerPermissions((p as PreparedRole).permissions);
}

Deno.test("each role gets exactly the permissions its flags grant (table)", async () => {
  const d = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${d}/sd`);
    await Deno.writeTextFile(
      `${d}/bucket.yml`,
      `type: FILESYSTEM\nconfig:\n  directory: ${d}/bucket\n`,
    );
    await Deno.writeTextFile(`${d}/sd/stores.yml`, `- targets: ["127.0.0.1:1"]\n`);
    await Deno.writeTextFile(`${d}/endpoints.yml`, `endpoints: []\n`);
    await Deno.writeTextFile(`${d}/relabel.yml`, `[]\n`);
    await Deno.writeTextFile(
      `${d}/query.yml`,
      "- static_configs: [q1.example:9090]\n  http_config:\n" +
        "    basic_auth: {username: u, password_file: /etc/q-password}\n",
    );
    await Deno.writeTextFile(
      `${d}/memcached.yml`,
      `type: MEMCACHED\nconfig:\n  addresses: [mc1.example:11211, "dns+mc2.example:11212"]\n`,
    );
    await Deno.writeTextFile(`${d}/prom.yml.tmpl`, `global: {}\n`);
    await Deno.writeTextFile(
      `${d}/web.yml`,
      "tls_server_config:\n  cert_file: tls/server.pem\n  key_file: /etc/tls/server.key\n",
    );
    const listen = ["--http-address=127.0.0.1:18001", "--grpc-address=127.0.0.1:18002"];
    const listenNet = ["127.0.0.1:18001", "127.0.0.1:18002"];
    // `:port`: all interfaces, dual-stack `[::]` where this machine allows it, else IPv4
    const any = (await dualStackWildcard()) ? "[::]" : "0.0.0.0";
    const cases: [string, string[], Expected][] = [
      [
        "store with a FILESYSTEM bucket config file",
        ["store", ...listen, `--objstore.config-file=${d}/bucket.yml`, `--data-dir=${d}/data`],
        {
          net: listenNet,
          read: [`${d}/bucket`, `${d}/bucket.yml`, `${d}/data`],
          // the store only reads its bucket
          write: [`${d}/data`],
          env: YAML_ENV,
        },
      ],
      [
        "store with default addresses and data dir, plus a relabel config file",
        [
          "store",
          `--objstore.config-file=${d}/bucket.yml`,
          `--selector.relabel-config-file=${d}/relabel.yml`,
        ],
        {
          net: ["0.0.0.0:10901", "0.0.0.0:10902"],
          read: ["./data", `${d}/bucket`, `${d}/bucket.yml`, `${d}/relabel.yml`],
          write: ["./data"],
          env: YAML_ENV,
        },
      ],
      [
        "store with an inline FILESYSTEM bucket config",
        [
          "store",
          ...listen,
          `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${d}/b2\n`,
          `--data-dir=${d}/data`,
        ],
        {
          net: listenNet,
          read: [`${d}/b2`, `${d}/data`],
          write: [`${d}/data`],
          env: YAML_ENV,
        },
      ],
      [
        "rule: data dir, rule-file glob directory, queriers and Alertmanagers (9093 by default)",
        [
          "rule",
          ...listen,
          `--data-dir=${d}/rule`,
          `--rule-file=${d}/sd/*.yml`,
          "--query=10.0.0.1:10902",
          "--query=http://query.example/prefix",
          "--alertmanagers.url=http://am.example",
          "--alertmanagers.url=https://am2.example:9443/am",
        ],
        {
          net: [
            ...listenNet,
            "10.0.0.1:10902",
            "am.example:9093",
            "am2.example:9443",
            "query.example:80",
          ].sort(),
          read: [`${d}/rule`, `${d}/sd/`],
          write: [`${d}/rule`],
          env: YAML_ENV,
        },
      ],
      [
        "rule with --query.sd-files (a glob) and dns+ queriers: any address",
        [
          "rule",
          ...listen,
          `--data-dir=${d}/rule`,
          `--query.sd-files=${d}/sd/*.yml`,
          "--query=dns+query.example:10902",
        ],
        // `rules/`: the default of --rule-file (Thanos's), a list default
        {
          net: true,
          read: [`${d}/rule`, `${d}/sd/`, "rules/"],
          write: [`${d}/rule`],
          env: YAML_ENV,
        },
      ],
      [
        "rule with --query.config-file, --alertmanagers.config and --remote-write.config",
        [
          "rule",
          ...listen,
          `--data-dir=${d}/rule`,
          `--rule-file=${d}/sd/*.yml`,
          `--query.config-file=${d}/query.yml`,
          "--alertmanagers.config=alertmanagers: [{static_configs: [am.example:9093]}]",
          "--remote-write.config=remote_write: [{url: https://recv.example/api/v1/receive, " +
          "bearer_token_file: /etc/rw-token}]",
        ],
        {
          net: [
            ...listenNet,
            "am.example:9093",
            "q1.example:9090",
            "recv.example:443",
          ].sort(),
          read: [`${d}/query.yml`, `${d}/rule`, `${d}/sd/`, "/etc/q-password", "/etc/rw-token"]
            .sort(),
          write: [`${d}/rule`],
          env: YAML_ENV,
        },
      ],
      [
        "tools rules-check: the glob's directory only",
        ["tools", "rules-check", `--rules=${d}/sd/*.yml`],
        { net: false, read: [`${d}/sd/`], write: false, env: YAML_ENV },
      ],
      [
        "query with static stores",
        ["query", ...listen, "--store=10.0.0.1:10901", "--endpoint=store-2:10901"],
        {
          net: [...listenNet, "10.0.0.1:10901", "store-2:10901"],
          read: false,
          write: false,
          env: YAML_ENV,
        },
      ],
      [
        "query with --store.sd-files as a glob: the glob's directory",
        ["query", ...listen, `--store.sd-files=${d}/sd/*.yml`],
        { net: true, read: [`${d}/sd/`], write: false, env: YAML_ENV },
      ],
      [
        "query with --store.sd-files naming one file: that file",
        ["query", ...listen, `--store.sd-files=${d}/sd/stores.yml`],
        { net: true, read: [`${d}/sd/stores.yml`], write: false, env: YAML_ENV },
      ],
      [
        "query with DNS discovery",
        ["query", ...listen, "--endpoint=dns+store.example:10901"],
        { net: true, read: false, write: false, env: YAML_ENV },
      ],
      [
        "query with dnsdualstack+ discovery (A and AAAA at run time)",
        ["query", ...listen, "--endpoint=dnsdualstack+store.example:10901"],
        { net: true, read: false, write: false, env: YAML_ENV },
      ],
      [
        "query with an endpoint SD config file",
        ["query", ...listen, `--endpoint.sd-config-file=${d}/endpoints.yml`],
        { net: true, read: [`${d}/endpoints.yml`], write: false, env: YAML_ENV },
      ],
      [
        "sidecar with reloader files and a bucket",
        [
          "sidecar",
          ...listen,
          "--prometheus.url=http://127.0.0.1:9090",
          `--tsdb.path=${d}/prom`,
          `--objstore.config-file=${d}/bucket.yml`,
          `--reloader.config-file=${d}/prom.yml.tmpl`,
          `--reloader.config-envsubst-file=${d}/out/prom.yml`,
          `--reloader.rule-dir=${d}/rules`,
          `--reloader.rule-dir=${d}/rules2`,
        ],
        {
          net: [...listenNet, "127.0.0.1:9090"],
          read: [
            `${d}/bucket`,
            `${d}/bucket.yml`,
            `${d}/out/prom.yml`,
            `${d}/prom`,
            `${d}/prom.yml.tmpl`,
            `${d}/rules`,
            `${d}/rules2`,
          ],
          write: [`${d}/bucket`, `${d}/out/prom.yml`, `${d}/prom`],
          env: true,
        },
      ],
      [
        "sidecar without reloader files",
        [
          "sidecar",
          ...listen,
          "--prometheus.url=http://prom.example:9090",
          `--tsdb.path=${d}/prom`,
        ],
        {
          net: [...listenNet, "prom.example:9090"],
          read: [`${d}/prom`],
          write: [`${d}/prom`],
          env: YAML_ENV,
        },
      ],
      [
        "tools bucket ls with --objstore.config-file",
        ["tools", "bucket", "ls", `--objstore.config-file=${d}/bucket.yml`],
        {
          net: false,
          read: [`${d}/bucket`, `${d}/bucket.yml`],
          write: false,
          env: YAML_ENV,
        },
      ],
      [
        "compact writes its bucket",
        ["compact", "--http-address=:18003", `--objstore.config-file=${d}/bucket.yml`],
        {
          net: [`${any}:18003`],
          read: ["./data", `${d}/bucket`, `${d}/bucket.yml`],
          write: ["./data", `${d}/bucket`],
          env: YAML_ENV,
        },
      ],
      [
        "tools bucket web: its bucket (marks are written) and its listen address",
        [
          "tools",
          "bucket",
          "web",
          "--http-address=127.0.0.1:18006",
          `--objstore.config-file=${d}/bucket.yml`,
        ],
        {
          net: ["127.0.0.1:18006"],
          read: [`${d}/bucket`, `${d}/bucket.yml`],
          write: [`${d}/bucket`],
          env: YAML_ENV,
        },
      ],
      [
        "tools bucket upload-blocks: the blocks path (its shipper state file) and the bucket",
        [
          "tools",
          "bucket",
          "upload-blocks",
          `--objstore.config-file=${d}/bucket.yml`,
          `--path=${d}/blocks`,
          "--label=a=b",
        ],
        {
          net: false,
          read: [`${d}/blocks`, `${d}/bucket`, `${d}/bucket.yml`],
          write: [`${d}/blocks`, `${d}/bucket`],
          env: YAML_ENV,
        },
      ],
      [
        "tools bucket verify --repair: both buckets and its scratch directory",
        [
          "tools",
          "bucket",
          "verify",
          `--objstore.config-file=${d}/bucket.yml`,
          `--objstore-backup.config=type: FILESYSTEM\nconfig:\n  directory: ${d}/backup\n`,
          "--repair",
          "-i",
          "index_known_issues",
          `--repair.tmp-dir=${d}/repair`,
        ],
        {
          net: false,
          read: [`${d}/backup`, `${d}/bucket`, `${d}/bucket.yml`, `${d}/repair`],
          write: [`${d}/backup`, `${d}/bucket`, `${d}/repair`],
          env: YAML_ENV,
        },
      ],
      [
        "query on :port (all interfaces: [::] dual-stack, else 0.0.0.0) and [::]:port",
        ["query", "--http-address=:18004", "--grpc-address=[::]:18005"],
        { net: [`${any}:18004`, "[::]:18005"].sort(), read: false, write: false, env: YAML_ENV },
      ],
      [
        "store with --http.config: the file, and its certificate and key (relative to the file)",
        [
          "store",
          ...listen,
          `--http.config=${d}/web.yml`,
          `--objstore.config-file=${d}/bucket.yml`,
        ],
        {
          net: listenNet,
          read: [
            "./data",
            "/etc/tls/server.key",
            `${d}/bucket`,
            `${d}/bucket.yml`,
            `${d}/tls/server.pem`,
            `${d}/web.yml`,
          ],
          write: ["./data"],
          env: YAML_ENV,
        },
      ],
      [
        "tools tsdb analyze of a block: no YAML, no environment",
        ["tools", "tsdb", "analyze", `${d}/block`],
        { net: false, read: [`${d}/block`], write: false, env: false },
      ],
      [
        "query-frontend with a memcached cache file and an inline redis TLS cache config",
        [
          "query-frontend",
          "--http-address=127.0.0.1:18001",
          "--query-frontend.downstream-url=http://querier.example:10902/prefix",
          `--query-range.response-cache-config-file=${d}/memcached.yml`,
          "--labels.response-cache-config=type: REDIS\nconfig:\n  addr: redis.example:6380\n" +
          `  tls_enabled: true\n  tls_config:\n    ca_file: ${d}/ca.pem\n`,
        ],
        {
          net: [
            "127.0.0.1:18001",
            "querier.example:10902",
            "mc1.example:11211",
            "mc2.example:11212",
            "redis.example:6380",
          ],
          read: [`${d}/memcached.yml`, `${d}/ca.pem`],
          write: false,
          env: YAML_ENV,
        },
      ],
    ];
    // workerPermissions lists are sorted
    const sorted = <T>(x: string[] | T) => Array.isArray(x) ? [...x].sort() : x;
    for (const [what, argv, want] of cases) {
      const w = await permissionsOf(argv);
      assertEquals(
        { net: w.net, read: w.read, write: w.write, env: w.env },
        {
          net: sorted(want.net),
          read: sorted(want.read),
          write: sorted(want.write),
          env: sorted(want.env),
        },
        what,
      );
      // never granted to any role
      assertEquals(
        { sys: w.sys, run: w.run, ffi: w.ffi, import: w.import },
        { sys: false, run: false, ffi: false, import: false },
        what,
      );
    }
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});
