// The bucket web UI's API and pages served by real processes (`main.ts tools bucket web`,
// `main.ts compact --wait`, `main.ts store`) on a FILESYSTEM bucket of real blocks: `/api/v1/blocks` in Thanos's
// shape (pkg/api/blocks: label, blocks as meta.json, refreshedAt, err), the marks, the admin
// mark operation and its refusal, route prefixes and `--web.disable`; the "loaded" view of the
// store gateway and the compactor (`?view=loaded`, the `/loaded` page).

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { refreshedBlocks, startWeb, writeWebBucket } from "../helpers/bucket_web.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { readMarker } from "../../block/markers.ts";
import { freePort } from "../helpers/ports.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "tools bucket web serves Thanos's /api/v1/blocks, marks, the mark operation and /blocks",
  ...opts,
  fn: async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const bucket = new FilesystemBucket(b.dir);
    const { p, url } = await startWeb([
      "tools",
      "bucket",
      "web",
      `--objstore.config=${b.config}`,
      "--label=region",
      "--refresh=30m",
      "--timeout=5m",
    ], "bucket-web");
    try {
      const raw = await (await fetch(`${url}/api/v1/blocks`)).text();
      const first = JSON.parse(raw);
      assertEquals(first.status, "success");
      // Thanos's BlocksInfo field order
      assertEquals(Object.keys(first.data), ["label", "blocks", "refreshedAt", "err"]);
      const data = await refreshedBlocks(url);
      assertEquals(data.label, "region");
      assertEquals(data.err, null);
      assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(data.refreshedAt), data.refreshedAt);
      // every block of the bucket, each exactly its meta.json (marked ones included)
      const want = [...b.east, ...b.west, b.downsampled].map((m) => m.ulid).sort();
      assertEquals(data.blocks.map((m) => m.ulid).sort(), want);
      for (const m of data.blocks) {
        const stored = JSON.parse(
          new TextDecoder().decode(await bucket.get(`${m.ulid}/meta.json`)),
        );
        assertEquals(m, stored, m.ulid);
      }
      // marks as the bucket holds them
      const marks = (await (await fetch(`${url}/api/v1/blocks/marks`)).json()).data;
      assertEquals(Object.keys(marks).sort(), [b.deleted, b.noCompact].sort());
      assertEquals(marks[b.deleted].deletion.details, "test: replaced");
      assertEquals(marks[b.noCompact].noCompact.reason, "manual");
      // the admin operation writes Thanos's marker into the bucket
      const target = b.west[1].ulid;
      const res = await fetch(`${url}/api/v1/blocks/mark`, {
        method: "POST",
        body: new URLSearchParams({ id: target, action: "NO_COMPACTION", detail: "from UI" }),
      });
      assertEquals(res.status, 200, await res.clone().text());
      assertEquals(await res.json(), { status: "success" });
      const nc = await readMarker(bucket, target, "no-compact-mark.json");
      assertEquals([nc?.reason, nc?.details], ["manual", "from UI"]);
      // bad input: Thanos's messages, 400 bad_data
      for (
        const [form, msg] of [
          [{ action: "DELETION" }, "ID cannot be empty"],
          [{ id: target }, "Action cannot be empty"],
          [{ id: "nope", action: "DELETION" }, 'ULID "nope" is not valid'],
          [{ id: target, action: "SHRED" }, "not supported marker SHRED"],
        ] as const
      ) {
        const r = await fetch(`${url}/api/v1/blocks/mark`, {
          method: "POST",
          body: new URLSearchParams(form),
        });
        assertEquals(r.status, 400);
        const body = await r.json();
        assertEquals([body.status, body.errorType], ["error", "bad_data"]);
        assert(body.error.startsWith(msg), body.error);
      }
      // CORS on by default
      const c = await fetch(`${url}/api/v1/blocks`);
      assertEquals(c.headers.get("access-control-allow-origin"), "*");
      await c.body?.cancel();
      // the page: / → /blocks, the app's HTML naming the bucket component
      const root = await fetch(`${url}/`, { redirect: "manual" });
      assertEquals([root.status, root.headers.get("location")], [302, "/blocks"]);
      await root.body?.cancel();
      const page = await (await fetch(`${url}/blocks`)).text();
      assert(page.includes('name="thanos-component" content="bucket"'), page);
      assert(page.includes("<title>Thanos | Bucket</title>"), page);
      const graph = await fetch(`${url}/graph`);
      assertEquals(graph.status, 404);
      await graph.body?.cancel();
    } finally {
      await p.stop();
    }
    assertEquals((await p.status).code, 0, p.logs());
  },
});

Deno.test({
  name: "tools bucket web: route prefix, selector, no CORS, admin operations disabled",
  ...opts,
  fn: async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const { p, url } = await startWeb([
      "tools",
      "bucket",
      "web",
      `--objstore.config=${b.config}`,
      "--web.route-prefix=/bkt",
      "--web.disable-cors",
      "--disable-admin-operations",
      '--selector.relabel-config=[{action: keep, source_labels: [region], regex: "west"}]',
    ], "bucket-web-prefix");
    try {
      const data = await refreshedBlocks(`${url}/bkt`);
      assertEquals(data.blocks.map((m) => m.ulid).sort(), b.west.map((m) => m.ulid).sort());
      const c = await fetch(`${url}/bkt/api/v1/blocks`);
      assertEquals(c.headers.get("access-control-allow-origin"), null);
      await c.body?.cancel();
      const r = await fetch(`${url}/bkt/api/v1/blocks/mark`, {
        method: "POST",
        body: new URLSearchParams({ id: b.west[1].ulid, action: "DELETION" }),
      });
      assertEquals(r.status, 400);
      assertEquals((await r.json()).error, "Admin operations are disabled");
      assertEquals(
        await readMarker(new FilesystemBucket(b.dir), b.west[1].ulid, "deletion-mark.json"),
        null,
      );
      const page = await (await fetch(`${url}/bkt/blocks`)).text();
      assert(page.includes('name="thanos-prefix" content="/bkt"'), page);
      const root = await fetch(`${url}/`, { redirect: "manual" });
      assertEquals([root.status, root.headers.get("location")], [302, "/bkt/"]);
      await root.body?.cancel();
      const home = await fetch(`${url}/bkt/`, { redirect: "manual" });
      assertEquals([home.status, home.headers.get("location")], [302, "/bkt/blocks"]);
      await home.body?.cancel();
      const unprefixed = await fetch(`${url}/api/v1/blocks`);
      assertEquals(unprefixed.status, 404);
      await unprefixed.body?.cancel();
    } finally {
      await p.stop();
    }
  },
});

Deno.test({
  name: "compact --wait serves the global blocks view; --web.disable turns it off",
  ...opts,
  fn: async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const base = [
      "compact",
      `--objstore.config=${b.config}`,
      "--wait",
      "--wait-interval=1h",
      "--downsampling.disable",
      "--bucket-web-label=region",
      "--block-viewer.global.sync-block-interval=1s",
    ];
    const { p, url } = await startWeb([...base, `--data-dir=${await dirs.make()}`], "compact");
    try {
      const data = await refreshedBlocks(url);
      assertEquals(data.label, "region");
      const ids = new Set(data.blocks.map((m) => m.ulid));
      // the global view: marked blocks and the 5m block are listed too
      for (const id of [b.deleted, b.noCompact, b.downsampled.ulid]) assert(ids.has(id), id);
      const page = await (await fetch(`${url}/blocks`)).text();
      assert(page.includes('content="compact"'), page);
    } finally {
      await p.stop();
    }
    const off = await startWeb(
      [...base, "--web.disable", `--data-dir=${await dirs.make()}`],
      "compact-noweb",
    );
    try {
      const r = await fetch(`${off.url}/api/v1/blocks`);
      assertEquals(r.status, 404);
      await r.body?.cancel();
    } finally {
      await off.p.stop();
    }
  },
});

Deno.test({
  name: "store serves the loaded blocks view and its page; marks are refused (read-only bucket)",
  ...opts,
  fn: async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const base = [
      "store",
      `--objstore.config=${b.config}`,
      `--grpc-address=127.0.0.1:${freePort()}`,
      "--bucket-web-label=region",
    ];
    const { p, url } = await startWeb(
      [...base, `--data-dir=${await dirs.make()}`, "--web.external-prefix=/st"],
      "store-web",
    );
    try {
      // ready means the first sync is done, so the loaded view is set
      const loaded = await refreshedBlocks(url, "loaded");
      assertEquals(loaded.label, "region");
      assertEquals(loaded.err, null);
      const ids = new Set(loaded.blocks.map((m) => m.ulid));
      for (const m of [...b.east, ...b.west]) assert(ids.has(m.ulid), m.ulid);
      // the blocks are meta.json as the bucket holds them
      const east0 = loaded.blocks.find((m) => m.ulid === b.east[0].ulid)!;
      assertEquals(east0.thanos?.labels, b.east[0].thanos?.labels);
      assertEquals([east0.minTime, east0.maxTime], [b.east[0].minTime, b.east[0].maxTime]);
      // the global view is never refreshed by a store (as Thanos's)
      const global = (await (await fetch(`${url}/api/v1/blocks`)).json()).data;
      assertEquals([global.blocks, global.refreshedAt], [[], "0001-01-01T00:00:00Z"]);
      // the page: / → the external prefix's /loaded, the app's HTML naming the store
      const root = await fetch(`${url}/`, { redirect: "manual" });
      await root.body?.cancel();
      assertEquals([root.status, root.headers.get("location")], [302, "/st/loaded"]);
      const page = await (await fetch(`${url}/loaded`)).text();
      assert(page.includes('content="store"'), page);
      assert(page.includes("Thanos | Store"), page);
      const blocksPage = await fetch(`${url}/blocks`);
      await blocksPage.body?.cancel();
      assertEquals(blocksPage.status, 404);
      // marking: refused with the reason, nothing written
      const r = await fetch(`${url}/api/v1/blocks/mark`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ id: b.east[0].ulid, action: "NO_COMPACTION" }),
      });
      const body = await r.json();
      assertEquals([r.status, body.errorType], [400, "bad_data"]);
      assert(String(body.error).includes("read-only"), body.error);
      const bucket = new FilesystemBucket(b.dir);
      assertEquals(await readMarker(bucket, b.east[0].ulid, "no-compact-mark.json"), null);
    } finally {
      await p.stop();
    }
    const off = await startWeb(
      [...base.slice(0, 2), `--grpc-address=127.0.0.1:${freePort()}`, "--web.disable"].concat(
        `--data-dir=${await dirs.make()}`,
      ),
      "store-noweb",
    );
    try {
      const r = await fetch(`${off.url}/api/v1/blocks?view=loaded`);
      assertEquals(r.status, 404);
      await r.body?.cancel();
    } finally {
      await off.p.stop();
    }
  },
});

Deno.test({
  name: "compact --wait serves the loaded view of its last sync; / leads to /loaded",
  ...opts,
  fn: async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const { p, url } = await startWeb([
      "compact",
      `--objstore.config=${b.config}`,
      "--wait",
      "--wait-interval=1h",
      "--downsampling.disable",
      `--data-dir=${await dirs.make()}`,
    ], "compact-loaded");
    try {
      const loaded = await refreshedBlocks(url, "loaded");
      assertEquals(loaded.err, null);
      assert(loaded.blocks.length > 0, JSON.stringify(loaded));
      // every loaded block is one the bucket holds (or held: the compactor may have merged it)
      const bucket = new FilesystemBucket(b.dir);
      for (const m of loaded.blocks) {
        const known = [...b.east, ...b.west, b.downsampled].some((x) => x.ulid === m.ulid) ||
          (await bucket.exists(`${m.ulid}/meta.json`));
        assert(known, m.ulid);
      }
      const root = await fetch(`${url}/`, { redirect: "manual" });
      await root.body?.cancel();
      assertEquals([root.status, root.headers.get("location")], [302, "/loaded"]);
      for (const page of ["/loaded", "/blocks"]) {
        const r = await fetch(`${url}${page}`);
        assertEquals(r.status, 200, page);
        assert((await r.text()).includes('content="compact"'), page);
      }
    } finally {
      await p.stop();
    }
  },
});
