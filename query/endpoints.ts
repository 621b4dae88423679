// The querier's endpoint set (Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/query/endpointset.go; discovery as in
// https://thanos.io/tip/thanos/service-discovery.md/): addresses from flags, file SD and the
// endpoint SD config, DNS discovery (`dns+`, `dnssrv+`, `dnssrvnoa+`), and a health loop calling
// Info on every endpoint. Healthy (or strict) endpoints are what the proxy queries; the rest are
// listed with their last error until `--store.unhealthy-timeout` passes.

import { type LabelSetSelector, selectedLabelSets } from "../storeapi/tsdb_selector.ts";
import { parse as parseYaml } from "yaml";
import type { StoreInfo } from "../storeapi/codec.ts";
import type { ProxyEndpoint, ProxyStoreClient, UnavailableEndpoint } from "../storeapi/proxy.ts";
import { loopTimeout } from "../runutil/loop_clock.ts";
import type { Logger } from "../logging/log.ts";
import { expandGlob, hasGlobMeta } from "../runutil/glob.ts";
import { EndpointGroupClient, groupEndpointName } from "./endpoint_group.ts";

/** One configured endpoint (before DNS resolution). */
export interface EndpointSpec {
  /** `host:port`, or with a `dns+` / `dnssrv+` / `dnssrvnoa+` prefix. */
  address: string;
  /** Always queried, even when its Info call fails. */
  strict: boolean;
  /**
   * An endpoint group (`--endpoint-group`): one endpoint, named `thanos:///<address>`, whose
   * calls go round-robin over the addresses `address` resolves to (query/endpoint_group.ts).
   */
  group?: boolean;
}

/** A client of one resolved endpoint address. */
export interface EndpointClient extends ProxyStoreClient {
  info(signal?: AbortSignal): Promise<StoreInfo>;
  /** Server-streaming calls of the other APIs (Rules, Targets, Metadata). */
  stream?(path: string, request: Uint8Array, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  close(): void;
}

/** The non-StoreAPI services an endpoint may advertise in its Info answer. */
export type AdvertisedApi = "rules" | "targets" | "metricMetadata" | "exemplars";

/** A healthy endpoint that serves one of the {@link AdvertisedApi}s. */
export interface ApiEndpoint {
  name: string;
  client: Required<Pick<EndpointClient, "stream">>;
}

/** Status of one endpoint, as `/api/v1/stores` shows it. */
export interface EndpointStatus {
  name: string;
  lastCheck: Date | null;
  lastError: string | null;
  info: StoreInfo | null;
  healthy: boolean;
  strict: boolean;
}

/**
 * `/api/v1/stores` under `--selector.relabel-config` (Thanos's stores handler in
 * pkg/api/query/v1.go): an endpoint the rules keep none of the label sets of is left out, the
 * others show only their kept label sets.
 */
export function selectedStatuses(
  statuses: EndpointStatus[],
  selector: LabelSetSelector | undefined,
): EndpointStatus[] {
  if (!selector) return statuses;
  return statuses.flatMap((s) => {
    if (!s.info) return [s];
    const sets = selectedLabelSets(selector, s.info.labelSets);
    return sets === null ? [] : [{ ...s, info: { ...s.info, labelSets: [...sets] } }];
  });
}

/** DNS lookups used by discovery (Deno.resolveDns in production, a fake in tests). */
export interface DnsResolver {
  a(host: string): Promise<string[]>;
  aaaa(host: string): Promise<string[]>;
  srv(name: string): Promise<{ target: string; port: number }[]>;
}

/** Deno.resolveDns as a {@link DnsResolver}; a missing record type is an empty answer. */
export const denoResolver: DnsResolver = {
  a: (h) => resolveOrEmpty(() => Deno.resolveDns(h, "A")),
  aaaa: (h) => resolveOrEmpty(() => Deno.resolveDns(h, "AAAA")),
  srv: (n) => resolveOrEmpty(() => Deno.resolveDns(n, "SRV")),
};

async function resolveOrEmpty<T>(fn: () => Promise<T[]>): Promise<T[]> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Discovery configuration errors (bad SD file or endpoint config). */
export class EndpointConfigError extends Error {
  override name = "EndpointConfigError";
}

/** Splits `host:port` (IPv6 in brackets). Throws EndpointConfigError when the port is missing. */
function splitHostPort(addr: string, what: string): { host: string; port: string } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(addr);
  if (!m) {
    throw new EndpointConfigError(`${what} ${JSON.stringify(addr)}: missing port (want host:port)`);
  }
  return { host: m[1] ?? m[2], port: m[3] };
}

function joinHostPort(host: string, port: string | number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A discovery address: `<kind>+<rest>`. */
const DNS_ADDRESS = /^(dns|dnssrv|dnssrvnoa|dnsdualstack)\+(.*)$/;

/**
 * Resolves one address: plain `host:port` is returned as is; `dns+host:port` → every A/AAAA
 * address with the port (`dnsdualstack+`: AAAA first, then A, each address once); `dnssrv+name` → SRV targets resolved to addresses (SRV port unless the
 * name carries one); `dnssrvnoa+name` → SRV `target:port` as is. A lookup that finds nothing is
 * logged at error level as Thanos's resolver logs it (pkg/discovery/dns/resolver.go).
 */
export async function resolveAddress(
  address: string,
  dns: DnsResolver,
  logger?: Logger,
): Promise<string[]> {
  const m = DNS_ADDRESS.exec(address);
  if (!m) return [address];
  const [, kind, rest] = m;
  if (kind === "dns" || kind === "dnsdualstack") {
    const { host, port } = splitHostPort(rest, "DNS address");
    if (/^[\d.]+$/.test(host) || host.includes(":")) return [joinHostPort(host, port)];
    // dnsdualstack+: Thanos's LookupIPAddrDualStack asks for IPv6 then IPv4 and drops repeats
    // (pkg/discovery/dns/godns/resolver.go)
    const ips = kind === "dnsdualstack"
      ? [...new Set([...await dns.aaaa(host), ...await dns.a(host)])]
      : [...await dns.a(host), ...await dns.aaaa(host)];
    if (ips.length === 0) {
      logger?.error("failed to lookup IP addresses", { host, err: `lookup ${host}: no such host` });
    }
    return ips.map((ip) => joinHostPort(ip, port));
  }
  const pm = /^(.*):(\d+)$/.exec(rest);
  const name = pm ? pm[1] : rest;
  const fixedPort = pm ? pm[2] : undefined;
  const records = await dns.srv(name);
  if (records.length === 0) {
    logger?.error("failed to lookup SRV records", {
      host: name,
      err: `lookup ${name}: no such host`,
    });
  }
  const out: string[] = [];
  for (const r of records) {
    const target = r.target.replace(/\.$/, "");
    const port = fixedPort ?? String(r.port);
    if (kind === "dnssrvnoa") {
      out.push(joinHostPort(target, port));
      continue;
    }
    const ips = [...await dns.a(target), ...await dns.aaaa(target)];
    if (ips.length === 0) {
      logger?.error("failed to lookup IP addresses", {
        srv: name,
        a: target,
        err: `lookup ${target}: no such host`,
      });
    }
    for (const ip of ips) out.push(joinHostPort(ip, port));
  }
  return out;
}

/**
 * Parses a Prometheus file_sd file (YAML or JSON: a list of `{targets: [...], labels: {...}}`);
 * returns the targets (labels are ignored, as Thanos does). Throws EndpointConfigError.
 */
export function parseFileSD(text: string, file: string): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new EndpointConfigError(`file SD ${file}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) {
    throw new EndpointConfigError(`file SD ${file}: want a list of target groups`);
  }
  const out: string[] = [];
  for (const g of doc) {
    // Prometheus's own check (discovery/file: "nil target group item found")
    if (g === null || typeof g !== "object" || Array.isArray(g)) {
      throw new EndpointConfigError(
        `file SD ${file}: ${
          g === null ? "nil target group item found" : "a target group is not a mapping"
        }`,
      );
    }
    const targets = (g as { targets?: unknown }).targets;
    if (!Array.isArray(targets)) {
      throw new EndpointConfigError(`file SD ${file}: a target group has no 'targets' list`);
    }
    for (const t of targets) out.push(String(t));
  }
  return out;
}

/** Parses the `--endpoint.sd-config` YAML (`endpoints: [{address, strict}]`). */
export function parseEndpointConfig(text: string, source: string): EndpointSpec[] {
  if (text.trim() === "") return [];
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new EndpointConfigError(`endpoint config ${source}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  const eps = (doc as { endpoints?: unknown }).endpoints;
  if (eps === undefined) return [];
  if (!Array.isArray(eps)) {
    throw new EndpointConfigError(`endpoint config ${source}: 'endpoints' must be a list`);
  }
  return eps.map((e, i) => {
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      throw new EndpointConfigError(`endpoint config ${source}: endpoint ${i} is not a mapping`);
    }
    const address = (e as { address?: unknown }).address;
    if (typeof address !== "string" || address === "") {
      throw new EndpointConfigError(`endpoint config ${source}: endpoint ${i} has no address`);
    }
    const group = (e as { group?: unknown }).group === true;
    return {
      address,
      strict: (e as { strict?: unknown }).strict === true,
      ...(group ? { group } : {}),
    };
  });
}

/** Options of {@link EndpointSet}. */
export interface EndpointSetOptions {
  /** Current configured endpoints (flags + SD files + config); called each discovery round. */
  specs: () => Promise<EndpointSpec[]> | EndpointSpec[];
  newClient: (address: string) => EndpointClient;
  logger: Logger;
  dns?: DnsResolver;
  /** Info call timeout and health-check interval (default 5 s). */
  infoTimeoutMs?: number;
  /** DNS re-resolution interval (default 30 s). */
  dnsIntervalMs?: number;
  /** Unhealthy endpoints disappear from the status after this (default 5 m). */
  unhealthyTimeoutMs?: number;
  /** Called after every health round (metrics). */
  onUpdate?: (statuses: readonly EndpointStatus[]) => void;
}

/** A resolved address and the configured address it came from. */
interface ResolvedEndpoint {
  address: string;
  strict: boolean;
  from: string;
  /** An endpoint group's member addresses (its `address` is the group's name). */
  members?: string[];
}

interface EndpointState extends EndpointStatus {
  client: EndpointClient;
  /** Last time the address was produced by discovery. */
  lastSeen: number;
  /** Last successful Info (ms). */
  lastOk: number;
}

/** The set of discovered endpoints and their health. */
export class EndpointSet {
  private readonly states = new Map<string, EndpointState>();
  private resolved: ResolvedEndpoint[] = [];
  private lastDns = -Infinity;
  private timer?: ReturnType<typeof setTimeout>;
  private closed = false;
  private round?: Promise<void>;

  constructor(private readonly opts: EndpointSetOptions) {}

  /** Runs the first discovery round, then keeps checking every info interval. */
  async start(): Promise<void> {
    await this.update();
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(async () => {
      try {
        await this.update();
      } catch (e) {
        this.opts.logger.warn("endpoint discovery failed", { err: e });
      }
      this.schedule();
    }, this.opts.infoTimeoutMs ?? 5000);
  }

  /** One round: (re)resolve addresses when due, then call Info on every endpoint in parallel. */
  update(): Promise<void> {
    if (!this.round) {
      this.round = this.doUpdate().finally(() => this.round = undefined);
    }
    return this.round;
  }

  private async doUpdate(): Promise<void> {
    const now = Date.now();
    const dnsDue = now - this.lastDns >= (this.opts.dnsIntervalMs ?? 30_000);
    const specs = await this.opts.specs();
    const fresh: ResolvedEndpoint[] = [];
    const dns = this.opts.dns ?? denoResolver;
    for (const s of specs) {
      if (s.group) {
        const name = groupEndpointName(s.address);
        const prev = this.resolvedFrom(name);
        if (!dnsDue && prev.length > 0) {
          fresh.push(...prev);
          continue;
        }
        let members = prev[0]?.members ?? [];
        try {
          members = await resolveAddress(s.address, dns, this.opts.logger);
        } catch (e) {
          this.opts.logger.error("failed to resolve addresses for endpoint group", {
            address: s.address,
            err: e,
          });
        }
        fresh.push({ address: name, strict: s.strict, from: name, members });
        continue;
      }
      if (!dnsDue && DNS_ADDRESS.test(s.address)) {
        // keep the previous resolution until the DNS interval passes
        for (const r of this.resolvedFrom(s.address)) fresh.push(r);
        continue;
      }
      try {
        for (const a of await resolveAddress(s.address, dns, this.opts.logger)) {
          fresh.push({ address: a, strict: s.strict, from: s.address });
        }
      } catch (e) {
        this.opts.logger.error("failed to resolve addresses for endpoints", {
          address: s.address,
          err: e,
        });
        for (const r of this.resolvedFrom(s.address)) fresh.push(r);
      }
    }
    if (dnsDue) this.lastDns = now;
    this.resolved = fresh;
    const wanted = new Map<string, boolean>();
    const groups = new Map<string, string[]>();
    for (const r of fresh) {
      wanted.set(r.address, (wanted.get(r.address) ?? false) || r.strict);
      if (r.members) groups.set(r.address, r.members);
    }
    for (const [address, strict] of wanted) {
      let st = this.states.get(address);
      if (!st) {
        st = {
          name: address,
          lastCheck: null,
          lastError: null,
          info: null,
          healthy: false,
          strict,
          client: groups.has(address)
            ? new EndpointGroupClient(address.slice("thanos:///".length), this.opts.newClient)
            : this.opts.newClient(address),
          lastSeen: now,
          lastOk: now,
        };
        this.states.set(address, st);
        this.opts.logger.info("adding new endpoint to query endpoint set", { address });
      }
      st.strict = strict;
      st.lastSeen = now;
      const members = groups.get(address);
      if (members && st.client instanceof EndpointGroupClient) st.client.setMembers(members);
    }
    await Promise.all([...wanted.keys()].map((a) => this.check(this.states.get(a)!)));
    const unhealthyTimeout = this.opts.unhealthyTimeoutMs ?? 300_000;
    for (const [address, st] of this.states) {
      const gone = !wanted.has(address);
      if (gone || (!st.healthy && !st.strict && Date.now() - st.lastOk > unhealthyTimeout)) {
        if (gone) this.opts.logger.info("removing endpoint", { address });
        st.client.close();
        this.states.delete(address);
      }
    }
    this.opts.onUpdate?.(this.statuses());
  }

  private resolvedFrom(spec: string): ResolvedEndpoint[] {
    return this.resolved.filter((r) => r.from === spec);
  }

  private async check(st: EndpointState): Promise<void> {
    // the timeout counts only time our event loop was free: a stall of our own (a heavy query
    // on this thread) must not mark a store unhealthy whose answer is waiting to be read
    const timeout = loopTimeout(this.opts.infoTimeoutMs ?? 5000);
    try {
      const info = await st.client.info(timeout.signal);
      if (!st.healthy) {
        this.opts.logger.info("endpoint is healthy", { address: st.name });
      }
      st.info = info;
      st.healthy = true;
      st.lastError = null;
      st.lastOk = Date.now();
    } catch (e) {
      if (st.healthy) {
        this.opts.logger.warn("endpoint is unhealthy", { address: st.name, err: e });
      }
      st.healthy = false;
      st.lastError = e instanceof Error ? e.message : String(e);
    } finally {
      timeout.clear();
    }
    st.lastCheck = new Date();
  }

  /** Endpoints the proxy may query now: healthy or strict ones. */
  queryable(): ProxyEndpoint[] {
    const out: ProxyEndpoint[] = [];
    for (const st of this.states.values()) {
      if (st.healthy || st.strict) out.push({ name: st.name, client: st.client, info: st.info });
    }
    return out;
  }

  /** Healthy endpoints whose last Info answer advertises `api` (Thanos's endpoint set). */
  withApi(api: AdvertisedApi | "query"): ApiEndpoint[] {
    const out: ApiEndpoint[] = [];
    for (const st of this.states.values()) {
      const stream = st.client.stream?.bind(st.client);
      if (st.healthy && st.info?.[api] && stream) out.push({ name: st.name, client: { stream } });
    }
    return out;
  }

  /**
   * Endpoints left out of queries because they are unhealthy (not strict): the proxy names
   * those that could have answered a request in its warnings (or fails under ABORT).
   */
  unavailable(): UnavailableEndpoint[] {
    const out: UnavailableEndpoint[] = [];
    for (const st of this.states.values()) {
      if (st.healthy || st.strict) continue;
      out.push({ name: st.name, info: st.info, error: st.lastError ?? "no Info answer yet" });
    }
    return out;
  }

  /** The member addresses of an endpoint group, or undefined for a plain endpoint. */
  groupMembers(name: string): string[] | undefined {
    const c = this.states.get(name)?.client;
    return c instanceof EndpointGroupClient ? c.memberAddresses() : undefined;
  }

  /** Every known endpoint's status. */
  statuses(): EndpointStatus[] {
    return [...this.states.values()].map((s) => ({
      name: s.name,
      lastCheck: s.lastCheck,
      lastError: s.lastError,
      info: s.info,
      healthy: s.healthy,
      strict: s.strict,
    }));
  }

  /** Stops the health loop and closes every client. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.round?.catch(() => {});
    for (const st of this.states.values()) st.client.close();
    this.states.clear();
  }
}

/** Reads a file, falling back to what the launcher read at start (e.g. no read access). */
async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

/** Where the querier's endpoints come from, besides DNS (which the EndpointSet resolves). */
export interface EndpointSources {
  /** `--endpoint`, `--store`, `--endpoint-strict` and the inline `--endpoint.sd-config`. */
  staticSpecs: readonly EndpointSpec[];
  /** `--endpoint.sd-config-file`, re-read every round (contents as read at start as fallback). */
  configFile?: { path: string; contents: string };
  /** `--store.sd-files`, re-read every round. */
  sdFiles: readonly string[];
  logger: Logger;
}

/**
 * The `specs` callback of an EndpointSet: every round re-reads the config file and the file SD
 * files, so a change takes effect within one info interval; a file that cannot be read or
 * parsed keeps its previous targets, with a warning.
 */
export function endpointSpecSource(src: EndpointSources): () => Promise<EndpointSpec[]> {
  const lastFileTargets = new Map<string, string[]>();
  let lastConfigSpecs: EndpointSpec[] = [];
  return async () => {
    const out = [...src.staticSpecs];
    if (src.configFile) {
      const { path, contents } = src.configFile;
      try {
        lastConfigSpecs = parseEndpointConfig(await readOr(path, contents), path);
      } catch (e) {
        src.logger.warn("bad endpoint config, keeping the previous one", { err: e });
      }
      out.push(...lastConfigSpecs);
    }
    for (const pattern of src.sdFiles) {
      // a --store.sd-files value may be a glob (filepath.Glob), expanded every round
      let files: string[];
      try {
        // a literal path is read (and its read errors reported) even when missing
        files = hasGlobMeta(pattern) ? await expandGlob(pattern) : [pattern];
      } catch (e) {
        src.logger.warn("bad file SD pattern", { pattern, err: e });
        continue;
      }
      for (const f of files) {
        try {
          lastFileTargets.set(f, parseFileSD(await Deno.readTextFile(f), f));
        } catch (e) {
          src.logger.warn("cannot read file SD, keeping its previous targets", { file: f, err: e });
        }
        for (const t of lastFileTargets.get(f) ?? []) out.push({ address: t, strict: false });
      }
    }
    return out;
  };
}
