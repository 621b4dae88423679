// `thanos query`: wires the endpoint set, the proxy (served again as a StoreAPI so queriers
// stack), the PromQL engine and the HTTP API, and runs until the launcher's stop signal.

import denoConfig from "../../deno.json" with { type: "json" };
import { labelsFromPairs } from "../../tsdb/labels.ts";
import { StoreClient, type StoreClientOptions } from "../../storeapi/client.ts";
import { type DedupFunc } from "../../storeapi/dedup.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { Registry } from "../../metrics/registry.ts";
import { type Flags, parseLabelFlag, parseListenAddress } from "../flags.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import type { RunContext } from "../runtime.ts";
import { QueryApi } from "../../query/api.ts";
import {
  type EndpointClient,
  EndpointConfigError,
  EndpointSet,
  type EndpointSpec,
  parseEndpointConfig,
  parseFileSD,
} from "../../query/endpoints.ts";
import { uiRoutes } from "../../ui/routes.ts";
import { serverTlsFromFlags } from "../grpc.ts";

/** Replica labels from repeatable, comma-separated `--query.replica-label` values. */
export function replicaLabelsOf(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(",")) {
      const s = part.trim();
      if (s !== "" && !out.includes(s)) out.push(s);
    }
  }
  return out;
}

/** Client options from the `--grpc-client-*` flags. */
function clientOptions(flags: Flags): StoreClientOptions {
  const opts: StoreClientOptions = {
    compression: flags.string("grpc-compression") === "snappy" ? "snappy" : "none",
  };
  if (flags.bool("grpc-client-tls-secure")) {
    opts.tls = {
      certFile: flags.string("grpc-client-tls-cert") || undefined,
      keyFile: flags.string("grpc-client-tls-key") || undefined,
      caFile: flags.string("grpc-client-tls-ca") || undefined,
      serverName: flags.string("grpc-client-server-name") || undefined,
      skipVerify: flags.bool("grpc-client-tls-skip-verify"),
    };
  }
  return opts;
}

/** Reads a file, falling back to what the launcher read at start (e.g. no read access). */
async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

/** `thanos query` */
export async function runQuery(flags: Flags, ctx: RunContext): Promise<number> {
  const logger = ctx.logger.with({ component: "query" });
  const registry = new Registry();
  const probe = new Probe();
  const replicaLabels = replicaLabelsOf(flags.strings("query.replica-label"));
  const selectorLabels = labelsFromPairs(
    flags.strings("selector-label").map((s) => parseLabelFlag("selector-label", s)),
  );
  const dedupFunc = flags.string("deduplication.func") as DedupFunc;

  const staticSpecs: EndpointSpec[] = [
    ...flags.strings("store").map((address) => ({ address, strict: false })),
    ...flags.strings("endpoint").map((address) => ({ address, strict: false })),
    ...flags.strings("endpoint-strict").map((address) => ({ address, strict: true })),
  ];
  const sdConfigFile = flags.string("endpoint.sd-config-file");
  const sdConfigInline = flags.string("endpoint.sd-config");
  if (sdConfigFile !== "" && sdConfigInline !== "") {
    throw new EndpointConfigError(
      "--endpoint.sd-config-file and --endpoint.sd-config are mutually exclusive",
    );
  }
  // validate configs once at start so mistakes fail fast; the inline one never changes
  const inlineSpecs = sdConfigInline !== ""
    ? parseEndpointConfig(sdConfigInline, "--endpoint.sd-config")
    : [];
  if (sdConfigFile !== "") {
    parseEndpointConfig(flags.fileContents("endpoint.sd-config-file"), sdConfigFile);
  }
  const sdFiles = flags.strings("store.sd-files");
  const lastFileTargets = new Map<string, string[]>();

  const specs = async (): Promise<EndpointSpec[]> => {
    const out = [...staticSpecs, ...inlineSpecs];
    if (sdConfigFile !== "") {
      const text = await readOr(sdConfigFile, flags.fileContents("endpoint.sd-config-file"));
      try {
        out.push(...parseEndpointConfig(text, sdConfigFile));
      } catch (e) {
        logger.warn("bad endpoint config, keeping the previous one", { err: e });
      }
    }
    for (const f of sdFiles) {
      // re-read every round: a changed file takes effect within one info interval
      try {
        lastFileTargets.set(f, parseFileSD(await Deno.readTextFile(f), f));
      } catch (e) {
        logger.warn("cannot read file SD, keeping its previous targets", { file: f, err: e });
      }
      for (const t of lastFileTargets.get(f) ?? []) out.push({ address: t, strict: false });
    }
    return out;
  };

  const infoTimeoutMs = flags.duration("endpoint.info-timeout") || 5000;
  const clientOpts = clientOptions(flags);
  const healthGauge = registry.gauge({
    name: "thanos_store_nodes_grpc_connections",
    help: "Number of gRPC connection to Store APIs. Opened connection means healthy store APIs " +
      "available for Querier.",
    labelNames: ["external_labels", "store_type"],
  });
  const endpointUp = registry.gauge({
    name: "thanos_query_endpoint_healthy",
    help: "1 when the endpoint answered its last Info call, else 0.",
    labelNames: ["address"],
  });
  const endpoints = new EndpointSet({
    specs,
    newClient: (address): EndpointClient => new StoreClient(address, clientOpts),
    logger,
    infoTimeoutMs,
    dnsIntervalMs: flags.duration("store.sd-dns-interval"),
    unhealthyTimeoutMs: flags.duration("store.unhealthy-timeout"),
    onUpdate: (statuses) => {
      healthGauge.reset();
      endpointUp.reset();
      for (const s of statuses) {
        endpointUp.set({ address: s.name }, s.healthy ? 1 : 0);
        if (!s.healthy) continue;
        const ext = (s.info?.labelSets ?? []).map((ls) => `{${ls.join(",")}}`).join(",");
        healthGauge.inc({ external_labels: ext, store_type: s.info?.componentType ?? "" });
      }
    },
  });

  const proxy = new StoreProxy({
    endpoints: () => endpoints.queryable(),
    responseTimeoutMs: flags.duration("store.response-timeout"),
    selectorLabels,
  });

  const flagValues: Record<string, string> = {};
  for (const f of flags.spec.flags) {
    flagValues[f.name] = f.repeatable ? flags.strings(f.name).join(",") : flags.string(f.name);
  }
  const api = new QueryApi({
    proxy,
    logger,
    registry,
    endpoints: () => endpoints.statuses(),
    replicaLabels,
    dedupFunc,
    partialResponse: flags.bool("query.partial-response"),
    queryTimeoutMs: flags.duration("query.timeout"),
    lookbackDeltaMs: flags.duration("query.lookback-delta"),
    maxSamples: flags.int("query.max-samples"),
    maxConcurrent: Math.max(1, flags.int("query.max-concurrent")),
    maxConcurrentSelect: Math.max(1, flags.int("query.max-concurrent-select")),
    defaultStepMs: flags.duration("query.default-step"),
    defaultEvaluationIntervalMs: flags.duration("query.default-evaluation-interval"),
    autoDownsampling: flags.bool("query.auto-downsampling"),
    enableCors: !flags.bool("web.disable-cors"),
    flags: flagValues,
    version: denoConfig.version,
  });

  const prefixFlag = flags.string("web.route-prefix") || flags.string("web.external-prefix");
  const routePrefix = prefixFlag === "" ? "" : "/" + prefixFlag.replace(/^\/+|\/+$/g, "");
  const http = new HttpServer({
    address: parseListenAddress(flags.string("http-address")),
    logger,
    registry,
    probe,
    routePrefix: routePrefix === "" ? undefined : routePrefix,
  });
  http.add(api.routes());
  http.add(uiRoutes({
    routePrefix,
    externalPrefix: flags.string("web.external-prefix") || undefined,
  }));
  probe.setNotReady("waiting for the first endpoint discovery round");

  const grpc = new StoreServer(proxy, { registry, tls: serverTlsFromFlags(flags) });
  const grpcAddr = parseListenAddress(flags.string("grpc-address"));

  await http.start();
  try {
    const bound = await grpc.listen(grpcAddr.hostname, grpcAddr.port);
    logger.info("listening for serving gRPC", {
      service: "gRPC/server",
      address: `${bound.hostname}:${bound.port}`,
    });
    const discovery = endpoints.start().then(() => {
      probe.setReady();
      grpc.setServing(true);
      logger.info("first endpoint discovery round done; ready", {
        endpoints: endpoints.statuses().length,
      });
    });
    const stopped = new Promise<void>((r) => {
      if (ctx.signal.aborted) r();
      else ctx.signal.addEventListener("abort", () => r(), { once: true });
    });
    // a failed first discovery round still fails the command, unless it is already stopping
    await Promise.race([discovery, stopped]);
    await stopped;
    logger.info("shutting down", { reason: String(ctx.signal.reason?.message ?? "signal") });
  } finally {
    probe.setNotReady("shutting down");
    await endpoints.close();
    await grpc.close(flags.duration("grpc-grace-period"));
    await http.shutdown(flags.duration("http-grace-period"));
  }
  return 0;
}
