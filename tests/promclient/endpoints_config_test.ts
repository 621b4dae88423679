// Thanos's query and Alertmanager endpoint configs and Prometheus's remote_write list as the
// ruler reads them: defaults, strict fields, refusals, and the sandbox grants they imply.

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  EndpointsConfigError,
  endpointsConfigPermissions,
  endpointURL,
  parseAlertingConfig,
  parseQueryConfig,
  parseRemoteWriteConfig,
} from "../../promclient/endpoints_config.ts";

Deno.test("query config: groups with defaults, path prefix, file SD", () => {
  const [a, b] = parseQueryConfig(`
- static_configs: ["q1:9090", "dns+q.example:9090"]
  path_prefix: /thanos/
  http_config:
    basic_auth: {username: u, password_file: /etc/pw}
- scheme: https
  file_sd_configs:
  - files: [/etc/sd/*.json]
    refresh_interval: 1m
`);
  assertEquals(a.scheme, "http");
  assertEquals(a.pathPrefix, "/thanos");
  assertEquals(endpointURL(a, "q1:9090"), "http://q1:9090/thanos");
  assertEquals(a.sdRefreshMs, 300_000);
  assertEquals(b.sdFiles, ["/etc/sd/*.json"]);
  assertEquals(b.sdRefreshMs, 60_000);
  assertEquals(endpointURL(b, "q2:443"), "https://q2:443");
  for (
    const [yaml, msg] of [
      ["- static_configs: [q:1]\n  bogus: 1\n", "field bogus not found"],
      ["- grpc_config: {endpoint_addresses: [q:1]}\n", "not in this build"],
      ["- scheme: ftp\n  static_configs: [q:1]\n", "want http or https"],
      ["- static_configs: [http://q:1]\n", "not a host:port"],
      ["- path_prefix: /x\n", "no static_configs or file_sd_configs"],
      ["- static_configs: [q:1]\n  http_config: {oauth2: {}}\n", "field oauth2 not found"],
      [
        "- scheme: https\n  static_configs: [q:1]\n  http_config:\n" +
        "    tls_config: {insecure_skip_verify: true}\n",
        "insecure_skip_verify is not supported",
      ],
      ["static_configs: [q:1]\n", "want a list"],
    ]
  ) assertThrows(() => parseQueryConfig(yaml), EndpointsConfigError, msg);
});

Deno.test("alerting config: timeout and api_version", () => {
  const [g] = parseAlertingConfig("alertmanagers:\n- static_configs: [am:9093]\n");
  assertEquals([g.timeoutMs, g.apiVersion, g.scheme], [10_000, "v2", "http"]);
  const [h] = parseAlertingConfig(
    "alertmanagers:\n- static_configs: [am:9093]\n  timeout: 3s\n  api_version: v2\n",
  );
  assertEquals(h.timeoutMs, 3000);
  for (
    const [yaml, msg] of [
      ["alertmanagers:\n- static_configs: [a:1]\n  api_version: v1\n", "v1 is not in this build"],
      ["alertmanagers:\n- static_configs: [a:1]\n  api_version: v3\n", 'but got "v3"'],
      ["alertmanagers:\n- static_configs: [a:1]\n  timeout: soon\n", "timeout"],
      ["alertmanager: []\n", "field alertmanager not found"],
    ]
  ) assertThrows(() => parseAlertingConfig(yaml), EndpointsConfigError, msg);
});

Deno.test("remote write config: Prometheus's defaults, auth, refusals", () => {
  assertEquals(parseRemoteWriteConfig(""), []);
  const [a, b] = parseRemoteWriteConfig(`remote_write:
- url: http://recv:19291/api/v1/receive
  name: recv
  headers: {THANOS-TENANT: t1}
  authorization: {credentials: tok}
  metadata_config: {send: false}
- url: https://other/api/v1/write
  remote_timeout: 5s
  queue_config: {max_samples_per_send: 100, min_backoff: 1s, max_backoff: 1m, retry_on_http_429: true}
  tls_config: {ca_file: /etc/ca.pem}
`);
  assertEquals(a.name, "recv");
  assertEquals(a.headers, { "THANOS-TENANT": "t1" });
  assertEquals(a.httpConfig, { bearer_token: "tok" });
  assertEquals(a.remoteTimeoutMs, 30_000);
  assertEquals(a.queue, {
    capacity: 2500,
    maxSamplesPerSend: 500,
    batchSendDeadlineMs: 5000,
    minBackoffMs: 30,
    maxBackoffMs: 5000,
    retryOnRateLimit: false,
  });
  assertEquals(b.name.length, 8); // unnamed: a hash of the URL
  assertEquals(b.remoteTimeoutMs, 5000);
  assertEquals(
    [b.queue.maxSamplesPerSend, b.queue.minBackoffMs, b.queue.maxBackoffMs],
    [100, 1000, 60_000],
  );
  assertEquals(b.queue.retryOnRateLimit, true);
  for (
    const [yaml, msg] of [
      ["remote_write:\n- name: x\n", "url for remote_write is empty"],
      ["remote_write:\n- url: http://a\n  sigv4: {region: x}\n", "not in this build"],
      ["remote_write:\n- url: http://a\n  headers: {Authorization: x}\n", "reserved header"],
      ["remote_write:\n- {url: http://a, name: n}\n- {url: http://b, name: n}\n", "multiple"],
      ["remote_write:\n- url: http://a\n  queue_config: {max_samples_per_send: 0}\n", "positive"],
      ["remote_write:\n- url: http://a\n  unknown: 1\n", "field unknown not found"],
      [
        "remote_write:\n- url: https://a\n  tls_config: {insecure_skip_verify: true}\n",
        "insecure_skip_verify is not supported",
      ],
    ]
  ) assertThrows(() => parseRemoteWriteConfig(yaml), EndpointsConfigError, msg);
});

Deno.test("endpoint configs: what the sandbox grants", () => {
  assertEquals(
    endpointsConfigPermissions(
      "- static_configs: [q1:9090, q2]\n  http_config: {bearer_token_file: /etc/tok}\n",
    ),
    { net: ["q1:9090", "q2:80"], read: ["/etc/tok"] },
  );
  assertEquals(
    endpointsConfigPermissions(
      "alertmanagers:\n- file_sd_configs: [{files: [/etc/am/*.json]}]\n",
    ),
    { net: true, read: ["/etc/am/"] },
  );
  assertEquals(
    endpointsConfigPermissions("- static_configs: [dns+q.example:9090]\n").net,
    true,
  );
  assertEquals(
    endpointsConfigPermissions(
      "remote_write:\n- url: https://r.example/api/v1/write\n  tls_config: {cert_file: /c, key_file: /k}\n",
    ),
    { net: ["r.example:443"], read: ["/c", "/k"] },
  );
});
