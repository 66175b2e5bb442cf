import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperatorHarness } from "../support/operator-harness.js";
import { waitFor } from "../support/wait.js";
import { DESKTOP, launchChromium, openPage, PrefixProxy, publicDir } from "../support/browser.js";

// The status page is ES modules with no build step: each one is a file the real sidecar must
// serve as JavaScript (browsers refuse a module with any other MIME type), reachable by a relative
// import (so the page works behind a path prefix). test/http/browser.test.ts covers what the page
// does; this covers how it loads.

const TOKEN = randomBytes(16).toString("hex");
const STATIC_IMPORT = /^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']/gm;

interface ServedModule {
  path: string;
  status: number;
  contentType: string;
  specifiers: string[];
}

/** Follows the page's module graph from index.html's module script, over HTTP. */
async function servedModules(base: URL): Promise<ServedModule[]> {
  const html = await (await fetch(base)).text();
  const entries = [...html.matchAll(/<script\s+type="module"\s+src="([^"]+)"/g)].map((m) => new URL(m[1]!, base).href);
  const seen = new Map<string, ServedModule>();
  const queue = [...entries];
  for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
    if (seen.has(url)) continue;
    const res = await fetch(url);
    const source = await res.text();
    const specifiers = [...source.matchAll(STATIC_IMPORT)].map((m) => m[1]!);
    seen.set(url, { path: new URL(url).pathname.slice(base.pathname.length), status: res.status, contentType: res.headers.get("content-type") ?? "", specifiers });
    queue.push(...specifiers.map((s) => new URL(s, url).href));
  }
  return [...seen.values()];
}

async function jsFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".js")).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"));
}

describe("status page modules", () => {
  // Only the sidecar role: no controller or worker is needed to load the page.
  const h = new OperatorHarness({ roles: [], sidecar: true, connection: false, env: { PTM_SIDECAR_READ_TOKEN: TOKEN } });
  let proxy: PrefixProxy;
  let browser: Browser;

  beforeAll(async () => {
    await h.start();
    // Ready as a Service would see it: before its VM cache fills, /vms answers 503 (which the
    // page handles, but the browser logs as a console error).
    await waitFor("the sidecar to be ready", async () => (await fetch(`${h.sidecarUrl}/readyz`)).ok);
    proxy = await new PrefixProxy(new URL(h.sidecarUrl), "/clusters/lab/ptm/").start();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await h.close();
  });

  it("serves every module the page imports, and only those, as JavaScript, imported by relative paths", async () => {
    const modules = await servedModules(new URL(`${h.sidecarUrl}/`));
    expect(modules.map((m) => m.path).sort()).toEqual((await jsFilesIn(publicDir)).sort());
    for (const m of modules) {
      expect({ path: m.path, status: m.status }).toEqual({ path: m.path, status: 200 });
      expect(m.contentType, m.path).toMatch(/^text\/javascript\b/);
      for (const specifier of m.specifiers) expect(specifier, m.path).toMatch(/^\.\.?\//);
    }
  });

  it("loads behind a path prefix with no console error, failed request or CSP refusal", async () => {
    const { page, problems, consoleErrors } = await openPage(browser, DESKTOP);
    await page.goto(`${proxy.url}${proxy.prefix}?token=${TOKEN}`);
    await page.locator('#conn[data-state="live"]').waitFor();
    await page.locator(".empty-title", { hasText: "No ProxmoxVMs yet" }).waitFor();
    // The token left the address, and the prefix stayed.
    expect(new URL(page.url()).pathname).toBe(proxy.prefix);
    expect(new URL(page.url()).search).toBe("");
    expect(problems).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
