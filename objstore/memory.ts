// An in-memory bucket for tests of the layers above objstore (same semantics as the providers).

import {
  type Bucket,
  checkObjectName,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
  readAllBytes,
} from "./bucket.ts";

/** A bucket holding objects in a Map; `objects` is exposed for assertions. */
export class MemoryBucket implements Bucket {
  /** Object name → bytes and modification time. */
  readonly objects = new Map<string, { data: Uint8Array; lastModified: Date }>();

  constructor(readonly name = "memory") {}

  private obj(name: string) {
    checkObjectName(name);
    const o = this.objects.get(name);
    if (o === undefined) throw new ObjectNotFoundError(this.name, name);
    return o;
  }

  get(name: string): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.obj(name).data.slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  getRange(name: string, offset: number, length: number): Promise<Uint8Array> {
    try {
      const d = this.obj(name).data;
      const end = length < 0 ? d.length : Math.min(d.length, offset + length);
      return Promise.resolve(d.slice(Math.min(offset, d.length), Math.max(offset, end)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async upload(name: string, data: Uint8Array | ReadableStream<Uint8Array>): Promise<void> {
    checkObjectName(name);
    const bytes = data instanceof Uint8Array ? data.slice() : await readAllBytes(data);
    this.objects.set(name, { data: bytes, lastModified: new Date() });
  }

  async uploadFile(name: string, path: string): Promise<void> {
    await this.upload(name, await Deno.readFile(path));
  }

  delete(name: string): Promise<void> {
    try {
      this.obj(name);
    } catch (e) {
      return Promise.reject(e);
    }
    this.objects.delete(name);
    return Promise.resolve();
  }

  exists(name: string): Promise<boolean> {
    return Promise.resolve(this.objects.has(name));
  }

  attributes(name: string): Promise<ObjectAttributes> {
    try {
      const o = this.obj(name);
      return Promise.resolve({ size: o.data.length, lastModified: o.lastModified });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    const prefix = dir === "" ? "" : dir.replace(/\/+$/, "") + "/";
    const out = new Set<string>();
    for (const k of this.objects.keys()) {
      if (!k.startsWith(prefix)) continue;
      const rest = k.slice(prefix.length);
      const slash = rest.indexOf("/");
      out.add(opts?.recursive || slash < 0 ? k : prefix + rest.slice(0, slash + 1));
    }
    yield* [...out].sort();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
