// Small OTLP trace receivers for tests, on 127.0.0.1: OTLP/HTTP (`POST /v1/traces` with protobuf
// `application/x-protobuf` ExportTraceServiceRequests; other bodies are answered 400 and counted)
// and OTLP/gRPC (`TraceService/Export` served by the project's gRPC server, the transport only). The protobuf is decoded here with a minimal wire reader,
// independently of the exporter under test (https://opentelemetry.io/docs/specs/otlp/, messages
// of opentelemetry/proto/trace/v1/trace.proto).

import { freePort } from "./ports.ts";
import { GrpcServer } from "../../storeapi/grpc.ts";

/** One received span, flattened with its resource's `service.name`. */
export interface ReceivedSpan {
  service: string;
  name: string;
  /** Lower-case hex. */
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  status: number;
}

type Field = { no: number; wire: number; int?: bigint; bytes?: Uint8Array };

/** Splits one protobuf message into its fields (varint, fixed64, length-delimited, fixed32). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let p = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (p >= buf.length) throw new Error("truncated varint");
      const b = buf[p++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
    throw new Error("varint too long");
  };
  while (p < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, int: varint() });
    else if (wire === 1) {
      out.push({ no, wire, bytes: buf.subarray(p, p + 8) });
      p += 8;
    } else if (wire === 2) {
      const n = Number(varint());
      if (p + n > buf.length) throw new Error("truncated field");
      out.push({ no, wire, bytes: buf.subarray(p, p + n) });
      p += n;
    } else if (wire === 5) {
      out.push({ no, wire, bytes: buf.subarray(p, p + 4) });
      p += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const td = new TextDecoder();
const hex = (b: Uint8Array | undefined) =>
  b ? [...b].map((x) => x.toString(16).padStart(2, "0")).join("") : "";

/** KeyValue { key = 1; AnyValue value = 2 { string 1, bool 2, int 3, double 4 } }. */
function keyValue(b: Uint8Array): [string, string | number | boolean] {
  let key = "";
  let value: string | number | boolean = "";
  for (const f of fields(b)) {
    if (f.no === 1) key = td.decode(f.bytes);
    if (f.no === 2) {
      for (const v of fields(f.bytes!)) {
        if (v.no === 1) value = td.decode(v.bytes);
        else if (v.no === 2) value = v.int !== 0n;
        else if (v.no === 3) value = Number(BigInt.asIntN(64, v.int!));
        else if (v.no === 4) {
          value = new DataView(v.bytes!.buffer, v.bytes!.byteOffset, 8).getFloat64(0, true);
        }
      }
    }
  }
  return [key, value];
}

/** Decodes an ExportTraceServiceRequest (protobuf) into spans. */
export function decodeTraceRequest(body: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of fields(body).filter((f) => f.no === 1)) {
    let service = "";
    const scopeSpans: Uint8Array[] = [];
    for (const f of fields(rs.bytes!)) {
      if (f.no === 1) {
        for (const a of fields(f.bytes!).filter((x) => x.no === 1)) {
          const [k, v] = keyValue(a.bytes!);
          if (k === "service.name") service = String(v);
        }
      } else if (f.no === 2) scopeSpans.push(f.bytes!);
    }
    for (const ss of scopeSpans) {
      for (const sp of fields(ss).filter((f) => f.no === 2)) {
        const s: ReceivedSpan = {
          service,
          name: "",
          traceId: "",
          spanId: "",
          parentSpanId: "",
          kind: 0,
          attributes: {},
          status: 0,
        };
        for (const f of fields(sp.bytes!)) {
          if (f.no === 1) s.traceId = hex(f.bytes);
          else if (f.no === 2) s.spanId = hex(f.bytes);
          else if (f.no === 4) s.parentSpanId = hex(f.bytes);
          else if (f.no === 5) s.name = td.decode(f.bytes);
          else if (f.no === 6) s.kind = Number(f.int);
          else if (f.no === 9) {
            const [k, v] = keyValue(f.bytes!);
            s.attributes[k] = v;
          } else if (f.no === 15) {
            for (const st of fields(f.bytes!)) if (st.no === 3) s.status = Number(st.int);
          }
        }
        out.push(s);
      }
    }
  }
  return out;
}

/** A running receiver; `spans` grows as exports arrive. */
export class OtlpReceiver implements AsyncDisposable {
  readonly spans: ReceivedSpan[] = [];
  /** Requests received, and how many could not be decoded. */
  requests = 0;
  badRequests = 0;
  private constructor(private readonly server: Deno.HttpServer, readonly port: number) {}

  /** Starts on 127.0.0.1 (a free port unless given). */
  static start(port = freePort()): OtlpReceiver {
    const holder: { r?: OtlpReceiver } = {};
    const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
      const r = holder.r!;
      if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/traces") {
        return new Response("not found", { status: 404 });
      }
      r.requests++;
      const body = new Uint8Array(await req.arrayBuffer());
      try {
        const ct = req.headers.get("content-type") ?? "";
        if (!ct.startsWith("application/x-protobuf")) throw new Error(`content-type ${ct}`);
        r.spans.push(...decodeTraceRequest(body));
      } catch {
        r.badRequests++;
        return new Response("bad request", { status: 400 });
      }
      // an empty ExportTraceServiceResponse
      return new Response(new Uint8Array(0), {
        headers: { "content-type": "application/x-protobuf" },
      });
    });
    holder.r = new OtlpReceiver(server, port);
    return holder.r;
  }

  /** `host:port` for a tracing config's `endpoint`. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Waits (bounded) until `pred` holds for the spans received so far. */
  waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs = 30_000): Promise<void> {
    return waitForSpans(this.spans, pred, timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.shutdown();
  }
}

/** An OTLP/gRPC receiver: the same span list, filled by unary Export calls. */
export class OtlpGrpcReceiver implements AsyncDisposable {
  readonly spans: ReceivedSpan[] = [];
  requests = 0;
  badRequests = 0;
  private constructor(private readonly server: GrpcServer, readonly port: number) {}

  static async start(port = freePort()): Promise<OtlpGrpcReceiver> {
    const server = new GrpcServer();
    const r = new OtlpGrpcReceiver(server, port);
    server.unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export", (req) => {
      r.requests++;
      try {
        r.spans.push(...decodeTraceRequest(req));
      } catch (e) {
        r.badRequests++;
        throw e;
      }
      return Promise.resolve(new Uint8Array(0)); // an empty ExportTraceServiceResponse
    });
    await server.listen("127.0.0.1", port);
    return r;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs = 30_000): Promise<void> {
    return waitForSpans(this.spans, pred, timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.close(0);
  }
}

async function waitForSpans(
  spans: ReceivedSpan[],
  pred: (spans: ReceivedSpan[]) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 600 && Date.now() < deadline; i++) {
    if (pred(spans)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `spans never arrived; got ${spans.length}: ${
      JSON.stringify(spans.map((s) => `${s.service}/${s.name}`))
    }`,
  );
}

/**
 * The tracing config a test role gets: OTLP (over `client`, default http) to `endpoint`,
 * plaintext, named `service`.
 */
export function otlpConfig(
  endpoint: string,
  service: string,
  extra = "",
  client: "http" | "grpc" = "http",
): string {
  return `type: OTLP
config:
  client_type: ${client}
  endpoint: ${endpoint}
  insecure: true
  service_name: ${service}
  timeout: 2s
${extra}`;
}
