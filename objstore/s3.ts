// S3 bucket over the AWS SDK v3 (works with AWS, MinIO and other S3-compatible servers). Large
// uploads use multipart with `part_size` parts read one at a time (files are streamed from disk);
// a failed multipart upload is aborted so no partial object remains. Errors are classified into
// ObjectNotFoundError / TransientBucketError; retries live in the shared InstrumentedBucket.

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";
import {
  type Bucket,
  checkObjectName,
  checkRangeArgs,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
  TransientBucketError,
} from "./bucket.ts";
import type { S3Config } from "./config.ts";
import { s3RegionFor, s3UsesVirtualHost } from "./s3_address.ts";
import type { BucketLogger } from "./instrumented.ts";
import { systemCaBundle } from "./tls.ts";

/** Part size used when `part_size` is 0 (minio-go's minimum part size). */
const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
/** S3 allows at most this many parts per upload. */
const MAX_PARTS = 10_000;

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
]);

const TRANSIENT_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "TimeoutError",
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionAborted",
  "BrokenPipe",
  "TimedOut",
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
  cause?: unknown;
}

function statusOf(e: SdkErrorShape): number | undefined {
  return e.$metadata?.httpStatusCode;
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === "AbortError" || e.name === "BucketTimeoutError");
}

/** Whether an SDK or network error is worth retrying. */
function isTransient(e: SdkErrorShape): boolean {
  const status = statusOf(e);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  const msg = e.message ?? "";
  if (
    /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|Connection refused|connection reset/i.test(msg)
  ) {
    return true;
  }
  const cause = e.cause as SdkErrorShape | undefined;
  return cause !== undefined && cause !== e && typeof cause === "object" && isTransient(cause);
}

/** Options of S3Bucket.create. */
export interface S3BucketOptions {
  logger?: BucketLogger;
  /** Component for the user agent, e.g. `sidecar`. */
  component?: string;
}

/** A bucket on an S3-compatible object store. */
export class S3Bucket implements Bucket {
  readonly name: string;
  /** Requests sent to the server (all kinds), for benchmarks and tests. */
  requests = 0;
  private readonly partSize: number;
  private readonly sse: Record<string, string>;
  private readonly ssec: Record<string, string>;
  private readonly metadata: Record<string, string>;
  private readonly storageClass?: string;

  private constructor(
    private readonly client: S3Client,
    private readonly cfg: S3Config,
    sse: { sse: Record<string, string>; ssec: Record<string, string> },
    private readonly log?: BucketLogger,
  ) {
    this.name = cfg.bucket;
    this.partSize = cfg.part_size > 0 ? cfg.part_size : DEFAULT_PART_SIZE;
    this.sse = sse.sse;
    this.ssec = sse.ssec;
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.put_user_metadata)) {
      if (k.toLowerCase() === "x-amz-storage-class") this.storageClass = v;
      else md[k] = v;
    }
    this.metadata = md;
  }

  /** Whether requests address the bucket as `<bucket>.<endpoint>` rather than `<endpoint>/<bucket>`. */
  static usesVirtualHost(cfg: S3Config): boolean {
    return s3UsesVirtualHost(cfg);
  }

  /** The signing region: configured, else taken from an AWS endpoint, else us-east-1. */
  static regionFor(cfg: S3Config): string {
    return s3RegionFor(cfg);
  }

  /** Creates the client (reads TLS and SSE-C key files). */
  static async create(cfg: S3Config, opts: S3BucketOptions = {}): Promise<S3Bucket> {
    const h = cfg.http_config;
    const tls = h.tls_config;
    const readText = async (p: string) => p === "" ? undefined : await Deno.readTextFile(p);
    const agentOpts = {
      keepAlive: true,
      maxSockets: h.max_conns_per_host > 0 ? h.max_conns_per_host : Infinity,
      maxFreeSockets: h.max_idle_conns_per_host > 0 ? h.max_idle_conns_per_host : 256,
      timeout: h.idle_conn_timeout > 0 ? h.idle_conn_timeout : undefined,
    };
    const httpsAgent = new https.Agent({
      ...agentOpts,
      rejectUnauthorized: !(h.insecure_skip_verify || tls.insecure_skip_verify),
      // without a CA file, HTTPS trusts the system bundle read from its usual paths: the
      // sandbox cannot grant what node:https's default CAs ask for (see objstore/tls.ts)
      ca: tls.ca_file !== ""
        ? await readText(tls.ca_file)
        : cfg.insecure
        ? undefined
        : await systemCaBundle(),
      cert: await readText(tls.cert_file),
      key: await readText(tls.key_file),
      servername: tls.server_name !== "" ? tls.server_name : undefined,
    });
    const handler = new NodeHttpHandler({
      httpAgent: new http.Agent(agentOpts),
      httpsAgent,
      connectionTimeout: h.tls_handshake_timeout > 0 ? h.tls_handshake_timeout + 30_000 : 30_000,
      requestTimeout: h.response_header_timeout > 0 ? h.response_header_timeout : undefined,
    });
    const config: S3ClientConfig = {
      region: S3Bucket.regionFor(cfg),
      endpoint: `${cfg.insecure ? "http" : "https"}://${cfg.endpoint}`,
      forcePathStyle: !S3Bucket.usesVirtualHost(cfg),
      // Retries are done once, for every provider, by InstrumentedBucket.
      maxAttempts: 1,
      requestHandler: handler,
      // MinIO-style servers do not all understand the newer flexible checksums.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      customUserAgent: `thanos-${opts.component ?? "tools"}`,
      followRegionRedirects: cfg.region === "",
    };
    if (cfg.access_key !== "") {
      config.credentials = {
        accessKeyId: cfg.access_key,
        secretAccessKey: cfg.secret_key,
        sessionToken: cfg.session_token !== "" ? cfg.session_token : undefined,
      };
    }
    // Otherwise the SDK's default chain: environment, shared config/credentials files, SSO,
    // web identity, ECS and EC2 instance metadata.
    const client = new S3Client(config);
    const b = new S3Bucket(client, cfg, await sseParams(cfg), opts.logger);
    client.middlewareStack.add(
      (next) => (args) => {
        b.requests++;
        if (cfg.trace.enable) {
          const req = args.request as { method?: string; path?: string };
          opts.logger?.("s3 request", { method: req.method, path: req.path });
        }
        return next(args);
      },
      { step: "finalizeRequest", name: "thanosRequestCounter" },
    );
    return b;
  }

  // Maps an SDK error to the objstore error classes, naming the operation and object.
  private mapError(op: string, key: string, e: unknown): Error {
    if (isAbort(e)) return e as Error;
    const err = (e ?? {}) as SdkErrorShape;
    const status = statusOf(err);
    if (err.name === "NoSuchBucket") {
      return new Error(
        `s3 ${op} ${this.cfg.bucket}/${key}: bucket ${this.cfg.bucket} does not exist at ` +
          `endpoint ${this.cfg.endpoint}`,
        { cause: e },
      );
    }
    if (err.name === "NoSuchKey" || err.name === "NotFound" || status === 404) {
      return new ObjectNotFoundError(this.name, key, { cause: e });
    }
    const detail = `${err.name ?? "Error"}${status ? ` (HTTP ${status})` : ""}: ${
      err.message || err.code || "no message"
    }`;
    const msg = `s3 ${op} ${this.cfg.bucket}/${key} at ${this.cfg.endpoint}: ${detail}`;
    if (isTransient(err)) return new TransientBucketError(msg, { cause: e });
    return new Error(msg, { cause: e });
  }

  private async send<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.mapError(op, key, e);
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
    let range: string | undefined;
    if (length > 0) range = `bytes=${offset}-${offset + length - 1}`;
    else if (offset > 0) range = `bytes=${offset}-`;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.cfg.bucket, Key: name, Range: range, ...this.ssec }),
        { abortSignal: signal },
      );
      if (!res.Body) return new Uint8Array(0);
      return await res.Body.transformToByteArray();
    } catch (e) {
      const err = e as SdkErrorShape;
      // Reading past the end: an empty read, like the filesystem bucket.
      if (statusOf(err) === 416 || err.name === "InvalidRange") return new Uint8Array(0);
      throw this.mapError("get", name, e);
    }
  }

  private putParams(name: string) {
    return {
      Bucket: this.cfg.bucket,
      Key: name,
      Metadata: Object.keys(this.metadata).length > 0 ? this.metadata : undefined,
      // deno-lint-ignore no-explicit-any
      StorageClass: this.storageClass as any,
      ...this.sse,
      ...this.ssec,
    };
  }

  private md5(data: Uint8Array): string | undefined {
    if (!this.cfg.send_content_md5) return undefined;
    return createHash("md5").update(data).digest("base64");
  }

  private async putObject(name: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.send("upload", name, () =>
      this.client.send(
        new PutObjectCommand({
          ...this.putParams(name),
          Body: data,
          ContentLength: data.length,
          ContentMD5: this.md5(data),
        }),
        { abortSignal: signal },
      ));
  }

  // Part size for an object of `size` bytes (unknown: -1) within S3's 10000-part limit.
  private partSizeFor(size: number): number {
    let ps = this.partSize;
    if (size > 0) { while (Math.ceil(size / ps) > MAX_PARTS) ps *= 2; }
    return ps;
  }

  // Uploads parts from `reader` (first part already read) with multipart; aborts on failure.
  private async multipart(
    name: string,
    first: Uint8Array,
    reader: PartReader,
    partSize: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const created = await this.send(
      "upload",
      name,
      () =>
        this.client.send(new CreateMultipartUploadCommand(this.putParams(name)), {
          abortSignal: signal,
        }),
    );
    const uploadId = created.UploadId!;
    const parts: { ETag: string; PartNumber: number }[] = [];
    try {
      let part: Uint8Array | null = first;
      for (let n = 1; part !== null; n++) {
        if (n > MAX_PARTS) throw new Error(`s3 upload ${name}: more than ${MAX_PARTS} parts`);
        const body: Uint8Array = part;
        const res = await this.send("upload", name, () =>
          this.client.send(
            new UploadPartCommand({
              Bucket: this.cfg.bucket,
              Key: name,
              UploadId: uploadId,
              PartNumber: n,
              Body: body,
              ContentLength: body.length,
              ContentMD5: this.md5(body),
              ...this.ssec,
            }),
            { abortSignal: signal },
          ));
        parts.push({ ETag: res.ETag ?? "", PartNumber: n });
        part = await reader.read(partSize, signal);
      }
      await this.send("upload", name, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.cfg.bucket,
            Key: name,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
          { abortSignal: signal },
        ));
    } catch (e) {
      // Never leave an incomplete upload behind (it is invisible but billed). The caller's
      // signal may be aborted already, so the abort gets its own short deadline.
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.cfg.bucket,
            Key: name,
            UploadId: uploadId,
          }),
          { abortSignal: AbortSignal.timeout(30_000) },
        );
      } catch (abortErr) {
        this.log?.("failed to abort multipart upload", {
          bucket: this.name,
          object: name,
          upload_id: uploadId,
          err: String(abortErr),
        });
      }
      throw e;
    }
  }

  // Single PUT for small objects (or multipart disabled), multipart otherwise.
  private async uploadFrom(
    name: string,
    reader: PartReader,
    size: number,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      checkObjectName(name);
      if (this.cfg.disable_multipart) {
        const all = await reader.read(Infinity, signal);
        return await this.putObject(name, all ?? new Uint8Array(0), signal);
      }
      const partSize = this.partSizeFor(size);
      const first = await reader.read(partSize, signal);
      if (first === null || first.length < partSize || await reader.atEnd(signal)) {
        return await this.putObject(name, first ?? new Uint8Array(0), signal);
      }
      return await this.multipart(name, first, reader, partSize, signal);
    } finally {
      await reader.close();
    }
  }

  upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    if (data instanceof Uint8Array) {
      return this.uploadFrom(name, PartReader.fromBytes(data), data.length, signal);
    }
    return this.uploadFrom(name, PartReader.fromStream(data), -1, signal);
  }

  async uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    const f = await Deno.open(path, { read: true });
    let size: number;
    try {
      size = (await f.stat()).size;
    } catch (e) {
      f.close();
      throw e;
    }
    return this.uploadFrom(name, PartReader.fromFile(f, size), size, signal);
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    checkObjectName(name);
    // S3 deletes silently succeed on missing keys; Thanos' contract is an error.
    await this.head(name, signal);
    await this.send(
      "delete",
      name,
      () =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: name }), {
          abortSignal: signal,
        }),
    );
  }

  private head(name: string, signal?: AbortSignal) {
    checkObjectName(name);
    return this.send(
      "attributes",
      name,
      () =>
        this.client.send(
          new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: name, ...this.ssec }),
          {
            abortSignal: signal,
          },
        ),
    );
  }

  async exists(name: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.head(name, signal);
      return true;
    } catch (e) {
      if (e instanceof ObjectNotFoundError) return false;
      throw e;
    }
  }

  async attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    const res = await this.head(name, signal);
    return { size: res.ContentLength ?? 0, lastModified: res.LastModified ?? new Date(0) };
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    const prefix = dir === "" ? "" : dir.replace(/\/+$/, "") + "/";
    const delimiter = opts?.recursive ? undefined : "/";
    const signal = opts?.signal;
    const v1 = this.cfg.list_objects_version === "v1";
    let token: string | undefined;
    for (let page = 0; page < 10_000_000; page++) {
      let keys: string[];
      let prefixes: string[];
      let truncated: boolean;
      let next: string | undefined;
      if (v1) {
        const res = await this.send("iter", prefix, () =>
          this.client.send(
            new ListObjectsCommand({
              Bucket: this.cfg.bucket,
              Prefix: prefix,
              Delimiter: delimiter,
              Marker: token,
            }),
            { abortSignal: signal },
          ));
        keys = (res.Contents ?? []).map((c) => c.Key ?? "");
        prefixes = (res.CommonPrefixes ?? []).map((p) => p.Prefix ?? "");
        truncated = res.IsTruncated ?? false;
        const lastKey = keys.at(-1) ?? "";
        const lastPrefix = prefixes.at(-1) ?? "";
        next = res.NextMarker ?? (lastKey > lastPrefix ? lastKey : lastPrefix);
      } else {
        const res = await this.send("iter", prefix, () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.cfg.bucket,
              Prefix: prefix,
              Delimiter: delimiter,
              ContinuationToken: token,
            }),
            { abortSignal: signal },
          ));
        keys = (res.Contents ?? []).map((c) => c.Key ?? "");
        prefixes = (res.CommonPrefixes ?? []).map((p) => p.Prefix ?? "");
        truncated = res.IsTruncated ?? false;
        next = res.NextContinuationToken;
      }
      // Keys and common prefixes come as two sorted lists per page: merge them.
      const all = [...keys.filter((k) => k !== "" && k !== prefix), ...prefixes];
      all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const n of all) yield n;
      if (!truncated || !next) return;
      token = next;
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}

// SSE request parameters: for object creation (`sse`) and for every object request (`ssec`).
async function sseParams(
  cfg: S3Config,
): Promise<{ sse: Record<string, string>; ssec: Record<string, string> }> {
  const s = cfg.sse_config;
  switch (s.type) {
    case "SSE-S3":
      return { sse: { ServerSideEncryption: "AES256" }, ssec: {} };
    case "SSE-KMS": {
      const sse: Record<string, string> = {
        ServerSideEncryption: "aws:kms",
        SSEKMSKeyId: s.kms_key_id,
      };
      if (Object.keys(s.kms_encryption_context).length > 0) {
        sse.SSEKMSEncryptionContext = btoa(JSON.stringify(s.kms_encryption_context));
      }
      return { sse, ssec: {} };
    }
    case "SSE-C": {
      const key = await Deno.readFile(s.encryption_key);
      if (key.length !== 32) {
        throw new Error(
          `s3 sse_config.encryption_key ${s.encryption_key}: SSE-C needs a 32-byte key, ` +
            `the file has ${key.length} bytes`,
        );
      }
      let bin = "";
      for (const b of key) bin += String.fromCharCode(b);
      return { sse: {}, ssec: { SSECustomerAlgorithm: "AES256", SSECustomerKey: btoa(bin) } };
    }
    default:
      return { sse: {}, ssec: {} };
  }
}

/**
 * Reads an upload source in parts of a given size, holding at most one part (plus one chunk of
 * look-ahead) in memory.
 */
class PartReader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private eof = false;

  private constructor(
    private readonly next: () => Promise<Uint8Array | null>,
    private readonly onClose: () => Promise<void> | void,
  ) {}

  static fromBytes(data: Uint8Array): PartReader {
    let given = false;
    return new PartReader(() => {
      if (given) return Promise.resolve(null);
      given = true;
      return Promise.resolve(data);
    }, () => {});
  }

  static fromStream(stream: ReadableStream<Uint8Array>): PartReader {
    const reader = stream.getReader();
    let finished = false;
    return new PartReader(async () => {
      const { done, value } = await reader.read();
      if (done) finished = true;
      return done ? null : value;
    }, async () => {
      if (!finished) await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    });
  }

  static fromFile(file: Deno.FsFile, size: number): PartReader {
    let pos = 0;
    const chunk = 8 * 1024 * 1024;
    return new PartReader(async () => {
      if (pos >= size) return null;
      const buf = new Uint8Array(Math.min(chunk, size - pos));
      let got = 0;
      while (got < buf.length) {
        const r = await file.read(buf.subarray(got));
        if (r === null) break;
        got += r;
      }
      pos += got;
      return got === 0 ? null : buf.subarray(0, got);
    }, () => file.close());
  }

  private async pull(signal?: AbortSignal): Promise<boolean> {
    if (this.eof) return false;
    if (signal?.aborted) throw signal.reason;
    const c = await this.next();
    if (c === null) {
      this.eof = true;
      return false;
    }
    if (c.length > 0) {
      this.pending.push(c);
      this.pendingBytes += c.length;
    }
    return true;
  }

  /** Whether the source has no more bytes. */
  async atEnd(signal?: AbortSignal): Promise<boolean> {
    while (this.pendingBytes === 0) if (!(await this.pull(signal))) return true;
    return false;
  }

  /** Up to `size` bytes (fewer only at the end); null when nothing is left. */
  async read(size: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    while (this.pendingBytes < size) if (!(await this.pull(signal))) break;
    if (this.pendingBytes === 0) return null;
    const n = Math.min(size, this.pendingBytes);
    // Zero copy when the first pending chunk already holds the whole part.
    if (this.pending[0].length >= n) {
      const head = this.pending[0];
      const out = head.subarray(0, n);
      if (head.length === n) this.pending.shift();
      else this.pending[0] = head.subarray(n);
      this.pendingBytes -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const head = this.pending[0];
      const take = Math.min(head.length, n - o);
      out.set(head.subarray(0, take), o);
      o += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingBytes -= n;
    return out;
  }

  private closed = false;

  /** Releases the source (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    await this.onClose();
  }
}
