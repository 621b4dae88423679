// Builds the query UI into ui/dist/ (app.js, app.css and their gzip as
// base64, favicon.svg, index.html,
// manifest.json):
// `deno run -A ui/build.ts`. The bundle is made by `deno bundle` from ui/src/main.ts, npm
// packages pinned in the import specifiers. manifest.json records a hash of the sources so a
// test can tell when ui/dist is stale (`deno run -A ui/build.ts --check` does the same).

const UI = new URL("./", import.meta.url).pathname;
const DIST = `${UI}dist/`;

/** The files whose content determines the build, relative to ui/, sorted. */
export async function sourceFiles(): Promise<string[]> {
  const out: string[] = ["build.ts", "index.html"];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${UI}${rel}`)) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) out.push(p);
    }
  };
  await walk("src");
  return out.sort();
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 over the source files' names and contents: the identity of a build. */
export async function sourceHash(): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of await sourceFiles()) {
    parts.push(enc.encode(`${f}\0`), await Deno.readFile(`${UI}${f}`), enc.encode("\0"));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return await sha256Hex(all);
}

/** Gzip of `data` (what a browser transfers with `Accept-Encoding: gzip`). */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** One built file's record in manifest.json. */
export interface BuiltFile {
  sha256: string;
  bytes: number;
  gzipBytes: number;
}

/** ui/dist/manifest.json. */
export interface UiManifest {
  /** {@link sourceHash} of the sources this build was made from. */
  sourceHash: string;
  /** Short content hash of the assets, used as `?v=` for cache busting. */
  version: string;
  files: Record<string, BuiltFile>;
}

function toBase64(data: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

async function bundle(tmp: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--no-lock",
      "--quiet",
      "--platform",
      "browser",
      "--format",
      "esm",
      "--minify",
      "--outdir",
      tmp,
      `${UI}src/main.ts`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `deno bundle ui/src/main.ts failed:\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** Builds ui/dist from ui/src; returns the manifest written. */
export async function buildUi(): Promise<UiManifest> {
  const tmp = await Deno.makeTempDir({ prefix: "thanos-ui-build-" });
  try {
    await bundle(tmp);
    const files: Record<string, Uint8Array> = {
      "app.js": await Deno.readFile(`${tmp}/main.js`),
      "app.css": await Deno.readFile(`${tmp}/main.css`),
      "favicon.svg": await Deno.readFile(`${UI}src/favicon.svg`),
      "index.html": await Deno.readFile(`${UI}index.html`),
    };
    const records: Record<string, BuiltFile> = {};
    const gzFiles: Record<string, Uint8Array> = {};
    for (const [name, data] of Object.entries(files)) {
      const gz = await gzip(data);
      records[name] = { sha256: await sha256Hex(data), bytes: data.length, gzipBytes: gz.length };
      // the big assets are served pre-compressed, so the server does no work per request;
      // base64 because `bytes` import attributes still need an unstable flag in Deno 2.9
      if (name.startsWith("app.")) {
        gzFiles[`${name}.gz.b64`] = new TextEncoder().encode(toBase64(gz));
      }
    }
    const version = (await sha256Hex(
      new TextEncoder().encode(Object.values(records).map((r) => r.sha256).join(",")),
    )).slice(0, 12);
    const manifest: UiManifest = { sourceHash: await sourceHash(), version, files: records };
    await Deno.mkdir(DIST, { recursive: true });
    for (const [name, data] of Object.entries({ ...files, ...gzFiles })) {
      await Deno.writeFile(`${DIST}${name}`, data);
    }
    await Deno.writeTextFile(`${DIST}manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
    return manifest;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  if (Deno.args.includes("--check")) {
    const manifest = JSON.parse(await Deno.readTextFile(`${DIST}manifest.json`)) as UiManifest;
    if (manifest.sourceHash !== await sourceHash()) {
      console.error("ui/dist is stale: run `deno run -A ui/build.ts` and commit ui/dist");
      Deno.exit(1);
    }
    console.log("ui/dist is up to date");
  } else {
    const m = await buildUi();
    let total = 0;
    for (const [name, f] of Object.entries(m.files)) {
      total += f.gzipBytes;
      console.log(`ui/dist/${name}: ${f.bytes} bytes, ${f.gzipBytes} gzipped`);
    }
    console.log(`page weight (gzip): ${total} bytes; version ${m.version}`);
  }
}
