// Azure Blob Storage bucket over @azure/storage-blob (Azure, Azurite), following Thanos' Azure
// provider (https://thanos.io/tip/thanos/storage.md/#azure): block blobs in one container,
// authenticated with a shared key or a connection string. Uploads stage blocks and commit the
// block list last, so a failed upload never leaves a partial object (uncommitted blocks are
// invisible). Errors are classified into ObjectNotFoundError / TransientBucketError; retries
// live in the shared InstrumentedBucket, so the SDK's own retry policy is set to one try.

import {
  ContainerClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import {
  type Bucket,
  checkObjectName,
  checkRangeArgs,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
  TransientBucketError,
} from "./bucket.ts";
import { type AzureConfig, azureConnectionEndpoint } from "./config.ts";
import type { BucketLogger } from "./instrumented.ts";
import { SYSTEM_CA_FILES, systemCaBundle } from "./tls.ts";

/** Block size of staged uploads (Thanos uses 3 MiB blocks, 4 in flight). */
export const AZURE_BLOCK_SIZE = 3 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;

// Network failures worth another try (Node error codes, and core-rest-pipeline's code for a
// request that could not be sent).
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "REQUEST_SEND_ERROR",
]);

// Blob service error codes meaning "no such object" (Thanos' IsObjNotFoundErr).
const NOT_FOUND_CODES = new Set(["BlobNotFound", "InvalidURI"]);

interface RestErrorShape {
  name?: string;
  code?: string;
  message?: string;
  statusCode?: number;
  details?: { errorCode?: string };
  cause?: unknown;
}

function errorCode(e: RestErrorShape): string | undefined {
  return e.details?.errorCode ?? e.code;
}

function isTransient(e: RestErrorShape): boolean {
  const s = e.statusCode;
  if (s !== undefined && (s >= 500 || s === 429 || s === 408)) return true;
  if (e.code !== undefined && TRANSIENT_CODES.has(e.code)) return true;
  if (
    /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|connection (refused|reset)/i.test(e.message ?? "")
  ) {
    return true;
  }
  const c = e.cause as RestErrorShape | undefined;
  return c !== undefined && c !== e && typeof c === "object" && isTransient(c);
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === "AbortError" || e.name === "BucketTimeoutError");
}

/** Options of AzureBucket.create. */
export interface AzureBucketOptions {
  logger?: BucketLogger;
  /** Component for the user agent, e.g. `sidecar`. */
  component?: string;
}

/** A bucket in one Azure Blob Storage container. */
export class AzureBucket implements Bucket {
  readonly name: string;
  /** HTTP requests sent (all kinds), for tests. */
  requests = 0;
  private readonly where: string;

  private constructor(
    private readonly client: ContainerClient,
    private readonly cfg: AzureConfig,
    private readonly agents: { destroy(): void }[],
  ) {
    this.name = cfg.container;
    this.where = client.url;
  }

  /** Builds the client and, with storage_create_container, creates a missing container. */
  static async create(cfg: AzureConfig, opts: AzureBucketOptions = {}): Promise<AzureBucket> {
    if (cfg.msi_resource !== "") {
      opts.logger?.("The field msi_resource has been deprecated and should no longer be set");
    }
    const h = cfg.http_config;
    const tls = h.tls_config;
    const readText = async (p: string) => p === "" ? undefined : await Deno.readTextFile(p);
    const endpoint = cfg.storage_connection_string !== ""
      ? azureConnectionEndpoint(cfg.storage_connection_string)
      : new URL(`https://${cfg.storage_account}.${cfg.endpoint}`);
    let ca = await readText(tls.ca_file);
    if (ca === undefined && endpoint.protocol === "https:") {
      ca = await systemCaBundle();
      if (ca === undefined) {
        throw new Error(
          `azure: no system CA bundle found (${SYSTEM_CA_FILES.join(", ")}); set ` +
            "config.http_config.tls_config.ca_file",
        );
      }
    }
    const agentOpts = {
      keepAlive: true,
      maxSockets: h.max_conns_per_host > 0 ? h.max_conns_per_host : Infinity,
      maxFreeSockets: h.max_idle_conns_per_host > 0 ? h.max_idle_conns_per_host : 256,
      timeout: h.idle_conn_timeout > 0 ? h.idle_conn_timeout : undefined,
    };
    const httpAgent = new http.Agent(agentOpts);
    const httpsAgent = new https.Agent({
      ...agentOpts,
      rejectUnauthorized: !(h.insecure_skip_verify || tls.insecure_skip_verify),
      ca,
      cert: await readText(tls.cert_file),
      key: await readText(tls.key_file),
      servername: tls.server_name !== "" ? tls.server_name : undefined,
    });
    const options: StoragePipelineOptions = {
      // one try: InstrumentedBucket retries every provider the same way (the SDK's
      // tryTimeoutInMs only asks the server for a timeout; try_timeout is applied below)
      retryOptions: { maxTries: 1 },
      userAgentOptions: { userAgentPrefix: `Thanos thanos-${opts.component ?? "tools"}` },
    };
    const client = cfg.storage_connection_string !== ""
      ? new ContainerClient(cfg.storage_connection_string, cfg.container, options)
      : new ContainerClient(
        `https://${cfg.storage_account}.${cfg.endpoint}/${cfg.container}`,
        new StorageSharedKeyCredential(cfg.storage_account, cfg.storage_account_key),
        options,
      );
    const b = new AzureBucket(client, cfg, [httpAgent, httpsAgent]);
    // The http_config connection settings apply through Node agents set on every request. The
    // SDK keeps one core pipeline per client pipeline (shared by the blob clients made from
    // this container client); a policy added to it sees every request.
    const core = (client as unknown as {
      pipeline: {
        _corePipeline?: {
          addPolicy(p: {
            name: string;
            sendRequest(
              req: { url: string; agent?: unknown; abortSignal?: AbortSignal; timeout: number },
              next: (r: unknown) => Promise<unknown>,
            ): Promise<unknown>;
          }): void;
        };
      };
    }).pipeline._corePipeline;
    if (core === undefined) {
      throw new Error("azure: the storage SDK has no core pipeline to configure");
    }
    const tryMs = cfg.pipeline_config.try_timeout;
    core.addPolicy({
      name: "thanosConnection",
      async sendRequest(req, next) {
        b.requests++;
        req.agent = req.url.startsWith("https:") ? httpsAgent : httpAgent;
        // http_config.response_header_timeout: the SDK's request timeout ends when the headers
        // arrive (from the start of the request, where Go counts from its end)
        if (h.response_header_timeout > 0) req.timeout = h.response_header_timeout;
        if (tryMs <= 0) return next(req);
        // pipeline_config.try_timeout: the deadline of one HTTP request (until its headers; a
        // body still streaming when it fires is cut, which getRange reports as transient)
        const timer = AbortSignal.timeout(tryMs);
        const caller = req.abortSignal;
        req.abortSignal = caller ? AbortSignal.any([caller, timer]) : timer;
        try {
          return await next(req);
        } catch (e) {
          if (timer.aborted && !caller?.aborted) {
            throw Object.assign(
              new Error(`request timed out after ${tryMs}ms (pipeline_config.try_timeout)`),
              { code: "ETIMEDOUT", cause: e },
            );
          }
          throw e;
        }
      },
    });
    if (cfg.storage_create_container) await b.ensureContainer();
    return b;
  }

  // Thanos creates the container at start when it does not exist.
  private async ensureContainer(): Promise<void> {
    try {
      await this.client.createIfNotExists({ abortSignal: AbortSignal.timeout(60_000) });
    } catch (e) {
      throw this.mapError("create container", "", e);
    }
  }

  // Maps an SDK error to the objstore error classes, naming the operation and object.
  private mapError(op: string, name: string, e: unknown, signal?: AbortSignal): Error {
    if (isAbort(e)) {
      if (signal === undefined || signal.aborted) return e as Error;
      // not the caller's signal: the SDK's request timeout (response_header_timeout) or
      // try_timeout cutting a response body
      return new TransientBucketError(
        `azure ${op} ${this.cfg.container}/${name} at ${this.where}: request timed out ` +
          "(http_config.response_header_timeout or pipeline_config.try_timeout)",
        { cause: e },
      );
    }
    const err = (e ?? {}) as RestErrorShape;
    const code = errorCode(err);
    if (code === "ContainerNotFound") {
      return new Error(
        `azure ${op} ${name}: container ${this.cfg.container} does not exist at ${this.where}`,
        { cause: e },
      );
    }
    if (code !== undefined && NOT_FOUND_CODES.has(code)) {
      return new ObjectNotFoundError(this.name, name, { cause: e });
    }
    const detail = `${code ?? err.name ?? "Error"}${
      err.statusCode ? ` (HTTP ${err.statusCode})` : ""
    }: ${(err.message ?? "no message").split("\n")[0]}`;
    const msg = `azure ${op} ${this.cfg.container}/${name} at ${this.where}: ${detail}`;
    if (isTransient(err)) return new TransientBucketError(msg, { cause: e });
    return new Error(msg, { cause: e });
  }

  private async send<T>(
    op: string,
    name: string,
    fn: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.mapError(op, name, e, signal);
    }
  }

  get(name: string, signal?: AbortSignal): Promise<Uint8Array> {
    return this.getRange(name, 0, -1, signal);
  }

  async getRange(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    checkRangeArgs(name, offset);
    if (length === 0) return new Uint8Array(0);
    try {
      const res = await this.client.getBlobClient(name).download(
        offset,
        length > 0 ? length : undefined,
        { abortSignal: signal, maxRetryRequests: this.cfg.reader_config.max_retry_requests },
      );
      const body = res.readableStreamBody;
      if (body === undefined) return new Uint8Array(0);
      const parts: Uint8Array[] = [];
      let total = 0;
      for await (const c of body as AsyncIterable<Uint8Array>) {
        parts.push(c);
        total += c.length;
      }
      const out = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      return out;
    } catch (e) {
      const err = e as RestErrorShape;
      // Reading past the end: an empty read, like the other providers.
      if (err.statusCode === 416 || errorCode(err) === "InvalidRange") return new Uint8Array(0);
      throw this.mapError("get", name, e, signal);
    }
  }

  upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    checkObjectName(name);
    const blob = this.client.getBlockBlobClient(name);
    if (data instanceof Uint8Array) {
      // one Put Blob up to a block, else staged blocks and a final Put Block List
      return this.send("upload", name, () =>
        blob.uploadData(data, {
          abortSignal: signal,
          blockSize: AZURE_BLOCK_SIZE,
          maxSingleShotSize: AZURE_BLOCK_SIZE,
          concurrency: UPLOAD_CONCURRENCY,
        }), signal).then(() => undefined);
    }
    // deno-lint-ignore no-explicit-any
    const readable = Readable.fromWeb(data as any);
    return this.send(
      "upload",
      name,
      () =>
        blob.uploadStream(readable, AZURE_BLOCK_SIZE, UPLOAD_CONCURRENCY, {
          abortSignal: signal,
        }),
      signal,
    ).then(() => undefined).finally(() => readable.destroy());
  }

  async uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    checkObjectName(name);
    const f = await Deno.open(path, { read: true });
    try {
      await this.upload(name, f.readable, signal);
    } finally {
      try {
        f.close();
      } catch {
        // closed by the fully read stream
      }
    }
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    checkObjectName(name);
    await this.send(
      "delete",
      name,
      () =>
        this.client.getBlobClient(name).delete({ abortSignal: signal, deleteSnapshots: "include" }),
      signal,
    );
  }

  async exists(name: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.attributes(name, signal);
      return true;
    } catch (e) {
      if (e instanceof ObjectNotFoundError) return false;
      throw e;
    }
  }

  async attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    checkObjectName(name);
    const p = await this.send(
      "attributes",
      name,
      () => this.client.getBlobClient(name).getProperties({ abortSignal: signal }),
      signal,
    );
    return { size: p.contentLength ?? 0, lastModified: p.lastModified ?? new Date(0) };
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    const prefix = dir === "" ? "" : dir.replace(/\/+$/, "") + "/";
    const signal = opts?.signal;
    const pages = opts?.recursive
      ? this.client.listBlobsFlat({ prefix: prefix || undefined, abortSignal: signal }).byPage()
      : this.client.listBlobsByHierarchy("/", { prefix: prefix || undefined, abortSignal: signal })
        .byPage();
    const it = pages[Symbol.asyncIterator]();
    for (let page = 0; page < 10_000_000; page++) {
      const r = await this.send("iter", prefix, () => it.next(), signal);
      if (r.done) return;
      const seg = r.value.segment as {
        blobItems?: { name: string }[];
        blobPrefixes?: { name: string }[];
      };
      // Blobs and prefixes come as two sorted lists per page: merge them.
      const all = [
        ...(seg.blobItems ?? []).map((b) => b.name).filter((n) => n !== prefix),
        ...(seg.blobPrefixes ?? []).map((p) => p.name),
      ];
      all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const n of all) yield n;
    }
  }

  close(): Promise<void> {
    for (const a of this.agents) a.destroy();
    return Promise.resolve();
  }
}
