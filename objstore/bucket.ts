// The object storage abstraction every component uses (Thanos `objstore.Bucket` semantics), its
// typed errors, and the `prefix` wrapper of the bucket configuration.

/** Size and modification time of an object. */
export interface ObjectAttributes {
  /** Size in bytes. */
  size: number;
  /** Last modification time reported by the provider. */
  lastModified: Date;
}

/** Options of `Bucket.iter`. */
export interface IterOptions {
  /** List every object below `dir` instead of its immediate children. */
  recursive?: boolean;
  /** Stops the listing. */
  signal?: AbortSignal;
}

/**
 * Receives a range of an object a piece at a time (`Bucket.streamRange`). A piece is a view of
 * a buffer the provider reuses once the call returns: copy what is kept, never keep the piece.
 */
export type RangePieceSink = (piece: Uint8Array) => void;

/**
 * An object store bucket. Names use `/` as directory delimiter. Objects are immutable once
 * uploaded (uploads replace them whole) and reads see every completed upload.
 */
export interface Bucket {
  /** Name for the metrics label `bucket` and logs. */
  readonly name: string;
  /** Whole object. Throws ObjectNotFoundError. */
  get(name: string, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * `length` bytes from `offset` (fewer at the end of the object, none past it; `length` -1
   * reads to the end). Throws ObjectNotFoundError.
   */
  getRange(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array>;
  /**
   * `getRange`'s bytes handed to `sink` a piece at a time, in order, without the whole range in
   * memory at once; resolves to the number of bytes handed over (fewer at the end of the object).
   * Optional: read through {@link streamBucketRange}, which falls back to `getRange` for a bucket
   * without it. Throws ObjectNotFoundError; an error thrown by `sink` ends the read with it.
   */
  streamRange?(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): Promise<number>;
  /**
   * `getRange` answered on the caller's thread, when the provider can do it without waiting (a
   * small range of a local file, from the page cache); `null` when it would wait, and then
   * `getRange` is the way. Optional. The instrumented bucket tries it first: a read that is
   * over before it returns needs no deadline, no AbortController and no abort listener, which
   * cost more than such a read (issue 19). Throws what `getRange` rejects with.
   */
  getRangeNow?(name: string, offset: number, length: number): Uint8Array | null;
  /** `streamRange` answered on the caller's thread, or `null` (see {@link getRangeNow}). */
  streamRangeNow?(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
  ): number | null;
  /** Creates or replaces an object; never leaves a partial object under `name` on failure. */
  upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Uploads a local file, streamed from disk (multipart for large files on S3). */
  uploadFile?(name: string, path: string, signal?: AbortSignal): Promise<void>;
  /** Deletes an object. Throws ObjectNotFoundError if it does not exist. */
  delete(name: string, signal?: AbortSignal): Promise<void>;
  /** Whether an object exists (a "directory" is not an object). */
  exists(name: string, signal?: AbortSignal): Promise<boolean>;
  /** Size and modification time. Throws ObjectNotFoundError. */
  attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes>;
  /**
   * Names under `dir`, sorted. One level: objects `dir/x` and sub-directories `dir/sub/` (with a
   * trailing slash); recursive: every object below `dir`. `dir` "" is the root; a trailing `/` on
   * `dir` is optional. A missing directory yields nothing.
   */
  iter(dir: string, opts?: IterOptions): AsyncIterable<string>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** The object does not exist (`IsObjNotFoundErr` in Thanos). */
export class ObjectNotFoundError extends Error {
  override name = "ObjectNotFoundError";
  /**
   * `new ObjectNotFoundError(bucket, object)` names both; `new ObjectNotFoundError(message)`
   * keeps a caller's own message.
   */
  constructor(readonly bucket: string, readonly object?: string, options?: ErrorOptions) {
    super(
      object === undefined
        ? bucket
        : `object ${JSON.stringify(object)} not found in bucket ${bucket}`,
      options,
    );
  }
}

/** The caller passed an object name the bucket cannot store (empty, `..`, absolute path). */
export class InvalidObjectNameError extends Error {
  override name = "InvalidObjectNameError";
  constructor(readonly object: string, detail: string) {
    super(`invalid object name ${JSON.stringify(object)}: ${detail}`);
  }
}

/** The check every provider makes of an object name: it must not be empty. */
export function checkObjectName(name: string): void {
  if (name === "") throw new InvalidObjectNameError(name, "object name is empty");
}

/** The arguments of `getRange` every provider checks: a valid name and a non-negative offset. */
export function checkRangeArgs(name: string, offset: number): void {
  checkObjectName(name);
  if (offset < 0) throw new RangeError(`getRange ${name}: negative offset ${offset}`);
}

/**
 * A failure that may succeed when tried again: HTTP 5xx, throttling, timeouts, connection
 * resets or refusals. Providers throw it; the shared retry layer retries only these.
 */
export class TransientBucketError extends Error {
  override name = "TransientBucketError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** An operation did not finish within the configured timeout (after its retries). */
export class BucketTimeoutError extends Error {
  override name = "BucketTimeoutError";
}

/** Whether `err` means "object not found". */
export function isObjectNotFound(err: unknown): err is ObjectNotFoundError {
  return err instanceof ObjectNotFoundError;
}

/** Trims leading and trailing slashes; "" and "///" mean no prefix. */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+/, "").replace(/\/+$/, "");
}

/**
 * Hands `length` bytes of object `name` from `offset` to `sink` in pieces (see
 * `Bucket.streamRange`): through the bucket's own `streamRange`, else as one `getRange` piece.
 * Resolves to the number of bytes handed over.
 */
export async function streamBucketRange(
  bucket: Bucket,
  name: string,
  offset: number,
  length: number,
  sink: RangePieceSink,
  signal?: AbortSignal,
): Promise<number> {
  if (bucket.streamRange) return await bucket.streamRange(name, offset, length, sink, signal);
  const b = await bucket.getRange(name, offset, length, signal);
  if (b.length > 0) sink(b);
  return b.length;
}

/** Reads a stream fully into one array. */
export async function readAllBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const p of stream) {
    parts.push(p);
    total += p.length;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A view of `inner` where every object name is `<prefix>/<name>` (the config's `prefix`).
 * Listing results are returned without the prefix.
 */
export class PrefixedBucket implements Bucket {
  private readonly p: string;
  constructor(private readonly inner: Bucket, prefix: string) {
    this.p = normalizePrefix(prefix);
  }
  get name(): string {
    return this.inner.name;
  }
  private full(name: string): string {
    return this.p === "" ? name : `${this.p}/${name}`;
  }
  get(name: string, signal?: AbortSignal): Promise<Uint8Array> {
    return this.inner.get(this.full(name), signal);
  }
  getRange(name: string, offset: number, length: number, signal?: AbortSignal) {
    return this.inner.getRange(this.full(name), offset, length, signal);
  }
  streamRange(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): Promise<number> {
    return streamBucketRange(this.inner, this.full(name), offset, length, sink, signal);
  }
  getRangeNow(name: string, offset: number, length: number): Uint8Array | null {
    return this.inner.getRangeNow?.(this.full(name), offset, length) ?? null;
  }
  streamRangeNow(name: string, offset: number, length: number, sink: RangePieceSink) {
    return this.inner.streamRangeNow?.(this.full(name), offset, length, sink) ?? null;
  }
  upload(name: string, data: Uint8Array | ReadableStream<Uint8Array>, signal?: AbortSignal) {
    return this.inner.upload(this.full(name), data, signal);
  }
  uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    if (this.inner.uploadFile) return this.inner.uploadFile(this.full(name), path, signal);
    return uploadFileByStream(this, name, path, signal);
  }
  delete(name: string, signal?: AbortSignal): Promise<void> {
    return this.inner.delete(this.full(name), signal);
  }
  exists(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.inner.exists(this.full(name), signal);
  }
  attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    return this.inner.attributes(this.full(name), signal);
  }
  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    const cut = this.p === "" ? 0 : this.p.length + 1;
    const d = this.p === "" ? dir : dir === "" ? this.p + "/" : this.full(dir);
    for await (const n of this.inner.iter(d, opts)) yield n.slice(cut);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Uploads a file through `bucket.upload` as a stream (for buckets without `uploadFile`). */
export async function uploadFileByStream(
  bucket: Bucket,
  name: string,
  path: string,
  signal?: AbortSignal,
): Promise<void> {
  const f = await Deno.open(path, { read: true });
  try {
    // upload consumes the readable, which closes the file when fully read.
    await bucket.upload(name, f.readable, signal);
  } finally {
    try {
      f.close();
    } catch {
      // Already closed by the fully consumed stream.
    }
  }
}
