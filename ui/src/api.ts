/// <reference lib="dom" />
// The querier's HTTP API as the UI uses it: relative URLs under the page's prefix, the
// Prometheus JSON envelope unwrapped, warnings kept, errors turned into readable messages.

/** The prefix the page was served under (`--web.external-prefix` / `--web.route-prefix`). */
export function pathPrefix(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="thanos-prefix"]');
  return (meta?.content ?? "").replace(/\/+$/, "");
}

/** A failed API call: the API's `errorType` (or `network`/`http`) and its message. */
export class ApiCallError extends Error {
  constructor(readonly errorType: string, message: string, readonly status: number) {
    super(message);
    this.name = "ApiCallError";
  }
}

/** A successful API answer. */
export interface ApiAnswer<T> {
  data: T;
  warnings: string[];
}

/**
 * GETs `<prefix>/api/v1<path>?<params>` and unwraps the envelope.
 * Throws ApiCallError with the server's message on `status: "error"` or a transport failure.
 */
export async function apiGet<T>(
  path: string,
  params?: URLSearchParams,
  signal?: AbortSignal,
): Promise<ApiAnswer<T>> {
  const qs = params && [...params.keys()].length > 0 ? `?${params}` : "";
  const url = `${pathPrefix()}/api/v1${path}${qs}`;
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { accept: "application/json" } });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiCallError("network", `cannot reach ${url}: ${(e as Error).message}`, 0);
  }
  const text = await res.text();
  let body: {
    status?: string;
    data?: T;
    warnings?: string[];
    errorType?: string;
    error?: string;
  };
  try {
    body = JSON.parse(text);
  } catch {
    const snippet = text.length > 200 ? text.slice(0, 200) + "…" : text;
    throw new ApiCallError(
      "http",
      `${url} answered HTTP ${res.status} with a body that is not JSON: ${snippet}`,
      res.status,
    );
  }
  if (body.status !== "success") {
    throw new ApiCallError(
      body.errorType ?? "http",
      body.error ?? `${url} answered HTTP ${res.status}`,
      res.status,
    );
  }
  return { data: body.data as T, warnings: body.warnings ?? [] };
}

/** One series of a matrix result. */
export interface MatrixSeries {
  metric: Record<string, string>;
  values?: [number, string][];
  histograms?: [number, unknown][];
}

/** One sample of a vector result. */
export interface VectorSample {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, unknown];
}

/** `data` of `/query` and `/query_range`. */
export type QueryData =
  | { resultType: "matrix"; result: MatrixSeries[] }
  | { resultType: "vector"; result: VectorSample[] }
  | { resultType: "scalar"; result: [number, string] }
  | { resultType: "string"; result: [number, string] };

/** One endpoint of `/api/v1/stores`. */
export interface StoreStatus {
  name: string;
  lastCheck: string;
  lastError: string | null;
  labelSets: Record<string, string>[];
  minTime: number;
  maxTime: number;
}

/** Formats a label set like PromQL: `name{a="b", c="d"}`. */
export function formatSeriesName(metric: Record<string, string>): string {
  const name = metric.__name__ ?? "";
  const pairs = Object.keys(metric)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}=${JSON.stringify(metric[k])}`);
  return pairs.length === 0 && name !== "" ? name : `${name}{${pairs.join(", ")}}`;
}
