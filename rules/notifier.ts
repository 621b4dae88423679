// Sending alerts to Alertmanagers, as Thanos's ruler does
// (https://thanos.io/tip/components/rule.md/, pkg/alert in thanos-io/thanos):
// - each alert gets the ruler's external labels (they win over the alert's own labels), then
//   the `--alert.label-drop` labels are removed and `--alert.relabel-config` applied (an alert
//   it drops is not sent); the generator URL is `--alert.query-url` + the rule's expression
//   through `--alert.query-template` (a template that fails on it leaves the link out, with a
//   warning, as Thanos does); endsAt is the resolve time of a resolved
//   alert, else its validUntil;
// - alerts wait in a bounded queue (oldest dropped when full, counted) and go out in batches of
//   at most 100 as one `POST <alertmanager URL>/api/v2/alerts` (Alertmanager's v2 API,
//   https://github.com/prometheus/alertmanager/blob/v0.25.0/api/v2/openapi.yaml) to every
//   configured Alertmanager concurrently, each bounded by `--alertmanagers.send-timeout`;
//   a batch counts as sent when at least one Alertmanager accepted it, else it is dropped (the
//   rules resend firing alerts every `--resend-delay`).
// `--alertmanagers.url` takes http(s) URLs; the URL path is the API prefix. With a `dns+` or
// `dnssrv+` prefix the host is looked up by the resolver the caller passes to `refresh` (the DNS
// discovery lives above this layer, in query/endpoints.ts).

import { rfc3339Nano } from "../block/shipper.ts";
import type { Logger } from "../logging/log.ts";
import type { Counter, Gauge, Histogram, Registry } from "../metrics/registry.ts";
import { dropLabels, labelsToObject, mergeLabels } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import type { Alert } from "./alerting.ts";
import type { Relabeler } from "../relabel/relabel.ts";
import { type ExpressionLinkTemplate, tableLinkForExpression } from "./template.ts";
import { DNS_SD_PREFIX } from "../promclient/endpoints_config.ts";

/** An Alertmanager URL that cannot be used. */
export class AlertmanagerConfigError extends Error {
  override name = "AlertmanagerConfigError";
}

/** The alert as the v2 API takes it. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

/** Options of {@link Notifier}. */
export interface NotifierOptions {
  /** `--alertmanagers.url` values. */
  urls: string[];
  /** `--alertmanagers.send-timeout` in ms. */
  sendTimeoutMs: number;
  externalLabels: Labels;
  /** `--alert.label-drop`. */
  labelDrop: string[];
  /** `--alert.query-url`. */
  queryURL: string;
  /** `--alert.query-template` (absent: its default, Prometheus's table link). */
  queryTemplate?: ExpressionLinkTemplate;
  /** `--alert.relabel-config(-file)`, applied last; an alert it drops is not sent. */
  relabel?: Relabeler;
  logger: Logger;
  registry: Registry;
  /** Queue capacity (default 10000, Thanos's). */
  capacity?: number;
  /** Alerts per request (default 100). */
  maxBatch?: number;
}

const DNS_PREFIX = DNS_SD_PREFIX;

/**
 * Validates and normalizes `--alertmanagers.url` values (no trailing slash; port 9093 unless
 * given, except for `dnssrv+`, whose port comes from the SRV records). A `dns+`/`dnssrv+`
 * prefix is kept: such URLs are resolved at run time (see {@link Notifier.refresh}).
 */
export function parseAlertmanagerURLs(urls: readonly string[]): string[] {
  return urls.map((raw) => {
    const v = raw.trim();
    const prefix = DNS_PREFIX.exec(v)?.[0] ?? "";
    let u: URL;
    try {
      u = new URL(v.slice(prefix.length));
    } catch {
      throw new AlertmanagerConfigError(
        `--alertmanagers.url ${JSON.stringify(raw)}: not a URL (the scheme must be given, ` +
          "e.g. http://alertmanager:9093)",
      );
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new AlertmanagerConfigError(
        `--alertmanagers.url ${JSON.stringify(raw)}: scheme must be http or https`,
      );
    }
    if (u.port === "" && !/:\d+/.test(u.host) && !prefix.startsWith("dnssrv")) u.port = "9093";
    return prefix + u.toString().replace(/\/+$/, "");
  });
}

/**
 * Alertmanagers of one `--alertmanagers.config` group, as discovered: their base URLs, the
 * request headers and Deno client of the group's `http_config` (promclient's `httpClientFor`),
 * and its `timeout`.
 */
export interface AlertmanagerTargets {
  urls: string[];
  headers: Record<string, string>;
  client?: Deno.HttpClient;
  timeoutMs: number;
}

/** Resolves a `dns+host:port` / `dnssrv+name` address to `host:port` targets. */
export type AddressResolver = (address: string) => Promise<string[]>;

function rfc3339(ms: number): string {
  return rfc3339Nano(new Date(ms));
}

/** Queue + sender of alerts to Alertmanagers. */
export class Notifier {
  private queue: PostableAlert[] = [];
  private readonly urls: string[];
  /** The URLs posted to: static ones plus the current resolution of the DNS ones. */
  private targets: string[];
  /** `--alertmanagers.config` groups (set by {@link setConfigTargets}); replace `targets`. */
  private configTargets: AlertmanagerTargets[] | null = null;
  private wake: (() => void) | null = null;
  private readonly m: {
    dropped: Counter;
    pushed: Counter;
    queueLen: Gauge;
    sent: Counter;
    errors: Counter;
    senderDropped: Counter;
    latency: Histogram;
  };

  constructor(private readonly opts: NotifierOptions) {
    this.urls = parseAlertmanagerURLs(opts.urls);
    this.targets = this.urls.filter((u) => !DNS_PREFIX.test(u));
    const r = opts.registry;
    this.m = {
      dropped: r.counter({
        name: "thanos_alert_queue_alerts_dropped_total",
        help: "Total number of alerts that were dropped from the queue.",
      }),
      pushed: r.counter({
        name: "thanos_alert_queue_alerts_pushed_total",
        help: "Total number of alerts pushed to the queue.",
      }),
      queueLen: r.gauge({
        name: "thanos_alert_queue_length",
        help: "The number of alerts in the queue.",
      }),
      sent: r.counter({
        name: "thanos_alert_sender_alerts_sent_total",
        help: "Total number of alerts sent by alertmanager.",
        labelNames: ["alertmanager"],
      }),
      errors: r.counter({
        name: "thanos_alert_sender_errors_total",
        help: "Total number of errors while sending alerts to alertmanager.",
        labelNames: ["alertmanager"],
      }),
      senderDropped: r.counter({
        name: "thanos_alert_sender_alerts_dropped_total",
        help: "Total number of alerts dropped in case of all sends to alertmanagers failed.",
      }),
      latency: r.histogram({
        name: "thanos_alert_sender_latency_seconds",
        help: "Latency for sending alert notifications (not including dropped notifications).",
        labelNames: ["alertmanager"],
      }),
    };
    this.m.dropped.labels();
    this.m.senderDropped.labels();
    this.m.queueLen.set(0);
  }

  /** `expr`'s generator URL: `--alert.query-url` + `--alert.query-template` of `expr`. */
  async generatorURL(expr: string): Promise<string> {
    let link = "";
    try {
      link = this.opts.queryTemplate
        ? await this.opts.queryTemplate.link(expr)
        : tableLinkForExpression(expr);
    } catch (e) {
      this.opts.logger.warn("failed to generate link for expression", {
        expr,
        err: (e as Error).message,
      });
    }
    return this.opts.queryURL.replace(/\/+$/, "") + link;
  }

  /** The alerts as they will be posted (external labels, label drop, generator URL). */
  async toPostable(expr: string, alerts: readonly Alert[]): Promise<PostableAlert[]> {
    const out: PostableAlert[] = [];
    const generatorURL = await this.generatorURL(expr);
    for (const a of alerts) {
      let ls: Labels | null = mergeLabels(a.labels, this.opts.externalLabels, true);
      if (this.opts.labelDrop.length > 0) ls = dropLabels(ls, this.opts.labelDrop);
      if (this.opts.relabel) ls = this.opts.relabel.process(ls);
      if (ls === null || ls.length === 0) continue; // dropped by the relabel rules
      out.push({
        labels: labelsToObject(ls),
        annotations: labelsToObject(a.annotations),
        startsAt: rfc3339(a.firedAt),
        endsAt: rfc3339(a.resolvedAt !== 0 ? a.resolvedAt : a.validUntil),
        generatorURL,
      });
    }
    return out;
  }

  /** Queues alerts of one rule (the NotifyFunc of the rule manager). */
  async send(expr: string, alerts: readonly Alert[]): Promise<void> {
    if ((this.urls.length === 0 && this.configTargets === null) || alerts.length === 0) return;
    const cap = this.opts.capacity ?? 10_000;
    const postable = await this.toPostable(expr, alerts);
    if (postable.length === 0) return;
    this.queue.push(...postable);
    this.m.pushed.inc(postable.length);
    if (this.queue.length > cap) {
      const n = this.queue.length - cap;
      this.queue.splice(0, n);
      this.m.dropped.inc(n);
    }
    this.m.queueLen.set(this.queue.length);
    this.wake?.();
  }

  /** Posts one batch to every Alertmanager; true when one accepted it. */
  async post(batch: PostableAlert[], signal?: AbortSignal): Promise<boolean> {
    const body = JSON.stringify(batch);
    const targets: { url: string; group?: AlertmanagerTargets }[] = this.configTargets === null
      ? this.targets.map((url) => ({ url }))
      : this.configTargets.flatMap((group) => group.urls.map((url) => ({ url, group })));
    if (targets.length === 0) {
      this.opts.logger.warn("no Alertmanager discovered; alerts dropped", { alerts: batch.length });
      this.m.senderDropped.inc(batch.length);
      return false;
    }
    const results = await Promise.all(targets.map(async ({ url: u, group }) => {
      const t0 = performance.now();
      const timeout = AbortSignal.timeout(group?.timeoutMs ?? this.opts.sendTimeoutMs);
      const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
      try {
        const res = await fetch(`${u}/api/v2/alerts`, {
          method: "POST",
          headers: { ...group?.headers, "content-type": "application/json" },
          body,
          signal: sig,
          client: group?.client,
        } as RequestInit);
        const text = await res.text();
        if (res.status < 200 || res.status >= 300) {
          throw new Error(`bad response status ${res.status}: ${text.slice(0, 200).trim()}`);
        }
        this.m.sent.labels(u).inc(batch.length);
        this.m.latency.labels(u).observe((performance.now() - t0) / 1000);
        return true;
      } catch (e) {
        this.m.errors.labels(u).inc();
        this.opts.logger.warn("sending alerts failed", {
          alertmanager: u,
          alerts: batch.length,
          err: (e as Error).message,
        });
        return false;
      }
    }));
    if (!results.some((r) => r)) {
      this.m.senderDropped.inc(batch.length);
      return false;
    }
    return true;
  }

  /**
   * Resolves the `dns+`/`dnssrv+` URLs again (Thanos re-resolves every
   * `--alertmanagers.sd-dns-interval`); a lookup that fails keeps that URL's previous targets.
   */
  async refresh(resolve: AddressResolver): Promise<void> {
    const next: string[] = [];
    for (const raw of this.urls) {
      const prefix = DNS_PREFIX.exec(raw)?.[0];
      if (!prefix) {
        next.push(raw);
        continue;
      }
      const u = new URL(raw.slice(prefix.length));
      const base = `${u.protocol}//`;
      const path = u.pathname.replace(/\/+$/, "");
      let resolved: string[];
      try {
        resolved = (await resolve(prefix + u.host)).map((a) => base + a + path);
        this.previous.set(raw, resolved);
      } catch (e) {
        this.opts.logger.warn("cannot resolve Alertmanager address; keeping the previous ones", {
          url: raw,
          err: (e as Error).message,
        });
        resolved = this.previous.get(raw) ?? [];
      }
      next.push(...resolved);
    }
    this.targets = [...new Set(next)];
  }

  private readonly previous = new Map<string, string[]>();

  /** The Alertmanagers of `--alertmanagers.config`, as last discovered (replaces the URLs). */
  setConfigTargets(groups: AlertmanagerTargets[]): void {
    this.configTargets = groups;
  }

  /** The Alertmanager URLs alerts are currently posted to. */
  currentTargets(): readonly string[] {
    if (this.configTargets !== null) return this.configTargets.flatMap((g) => g.urls);
    return this.targets;
  }

  /** Sends queued alerts until `signal`; then sends what is left once. */
  async run(signal: AbortSignal): Promise<void> {
    const max = this.opts.maxBatch ?? 100;
    while (!signal.aborted) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            this.wake = null;
            signal.removeEventListener("abort", done);
            resolve();
          };
          this.wake = done;
          signal.addEventListener("abort", done, { once: true });
        });
        continue;
      }
      const batch = this.queue.splice(0, max);
      this.m.queueLen.set(this.queue.length);
      await this.post(batch);
    }
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, max);
      this.m.queueLen.set(this.queue.length);
      await this.post(batch);
    }
  }
}
