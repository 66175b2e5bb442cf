import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { repoRoot } from "../support/paths.js";
import { DESKTOP, launchChromium, openPage, PHONE, screenshot, TcpRelay, type WatchedPage } from "../support/browser.js";

// The status page in a real Chromium, against the real sidecar of a real operator (controller,
// worker, tofu, the Proxmox simulator): what people see while their VMs come up.
// Screenshots go to test/artifacts/status-page-*.png. The project compiles without the DOM lib:
// code that runs in the page reaches the page's globals through an element's ownerDocument.

const TOKEN = randomBytes(16).toString("hex");

function manifest(memory: number, cores = 1) {
  return proxmoxVm("web", {
    cpu: { cores },
    memory: { dedicated: memory },
    initialization: { datastoreId: "local-lvm", ipConfigs: [{ ipv4: { address: "192.0.2.21/24", gateway: "192.0.2.1" } }] },
    agent: { enabled: true, timeout: "2m" },
  });
}

describe("status page", () => {
  // Proxmox tasks (clone, shutdown, start) take 1.5 s each, so a run lasts long enough to be watched.
  const h = new OperatorHarness({ sidecar: true, simulator: { taskDurationMs: 1500 }, env: { PTM_SIDECAR_READ_TOKEN: TOKEN } });
  let relay: TcpRelay;
  let browser: Browser;
  let desktop: WatchedPage;
  const key = () => `${h.namespace}/web`;

  beforeAll(async () => {
    await h.start();
    relay = await new TcpRelay(new URL(h.sidecarUrl)).start();
    browser = await launchChromium();
    desktop = await openPage(browser, DESKTOP);
  });

  afterAll(async () => {
    await browser?.close();
    await relay?.close();
    await h.close();
  });

  /** The sidecar's REST API, as the page's user (with the read token). */
  async function api<T>(path: string): Promise<T> {
    const res = await fetch(`${h.sidecarUrl}/api/v1/${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  }

  /** performance.timeOrigin of the desktop page: it changes only when the page reloads. */
  let pageLoadedAt = 0;
  const pageWidth = (page: Page) => page.locator("html").evaluate((html) => html.scrollWidth);
  const row = (page: Page) => page.locator(`tr.vm-row[data-key="${key()}"]`);
  const lastRunId = async (page: Page) => ((await row(page).locator("a.last-run").getAttribute("href")) ?? "").replace("#/run/", "");

  it("shows a VM applied with kubectl as it appears, provisions and becomes Ready", async () => {
    const { page } = desktop;
    await page.goto(`${relay.url}/?token=${TOKEN}`);
    // The token left the address bar (history, shared links) and lives in this tab's sessionStorage.
    expect(new URL(page.url()).search).toBe("");
    await page.locator('#conn[data-state="live"]').waitFor();
    await expect(page.locator("#conn").textContent()).resolves.toContain("Live");
    await page.locator(".empty-title", { hasText: "No ProxmoxVMs yet" }).waitFor();

    // Every state the row shows, in order: proves it changes live, not just at the end.
    await page.locator("#vm-table tbody").evaluate((tbody) => {
      const win = tbody.ownerDocument.defaultView;
      const seen: string[] = (win.seenStates = []);
      new win.MutationObserver(() => {
        const state = tbody.querySelector("tr.vm-row")?.dataset.state;
        if (state && seen[seen.length - 1] !== state) seen.push(state);
      }).observe(tbody, { subtree: true, childList: true, attributes: true });
    });
    pageLoadedAt = await page.evaluate(() => performance.timeOrigin);

    await h.apply(manifest(1024));
    await row(page).waitFor({ timeout: 30_000 });
    await page.locator(`tr.vm-row[data-key="${key()}"][data-ready="True"]`).waitFor({ timeout: 150_000 });
    const vm = await h.getVm("web");

    const cells = await row(page).evaluate((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.label, td.textContent?.trim() ?? ""])));
    expect(cells.Namespace).toBe(h.namespace);
    expect(cells.Name).toBe("web");
    expect(cells.Node).toBe("pve1");
    expect(cells.VMID).toBe(String(vm?.status?.vmId));
    expect(cells.State).toMatch(/^Running/);
    expect(cells.IPs).toContain("192.0.2.21");
    expect(cells.Ready).toMatch(/^Ready/);
    expect(cells["Last run"]).toMatch(/^ApplySucceeded/);
    expect(cells.Age).toMatch(/^\d+[smh]/);
    // The Ready message is the dot's tooltip and the secondary line.
    const readyMessage = vm?.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "";
    expect(await row(page).locator("td.c-ready .ready-cell").getAttribute("title")).toContain(readyMessage);
    const seen: string[] = await page.locator("body").evaluate((body) => body.ownerDocument.defaultView.seenStates);
    expect(seen).toContain("Provisioning");
    expect(seen[seen.length - 1]).toBe("Running");
    await expect(page.locator('.stat[data-stat="running"] .stat-value').textContent()).resolves.toBe("1");
    await screenshot(page, "desktop-list");
  });

  it("shows a memory patch live: a new run starts, its log streams in the run view, and the row follows", async () => {
    const { page } = desktop;
    const before = await lastRunId(page);
    // A run is one tofu process of well under a second here: slow Proxmox's answers so its log
    // has time to arrive in pieces, as it does against a real one.
    h.sim.setFaults({ latencyMs: 400 });
    await kubectl(["patch", "-n", h.namespace, "pvm", "web", "--type=merge", "-p", JSON.stringify({ spec: { memory: { dedicated: 2048 } } })]);

    // The row's last run turns into the new run while it works: open it from there.
    await row(page).locator(`a.last-run:not([href="#/run/${before}"]) .pill[data-status="running"]`).waitFor({ timeout: 60_000 });
    const runId = await lastRunId(page);
    expect(await row(page).locator("td.c-run").getAttribute("class")).toContain("flash");
    await row(page).locator("a.last-run").click();
    expect(new URL(page.url()).hash).toBe(`#/run/${runId}`);
    await page.locator("#run-log").waitFor();

    // Count the log lines as they arrive, with the run's status shown at that moment.
    await page.locator("#run-log .log-lines").evaluate((lines) => {
      const win = lines.ownerDocument.defaultView;
      const batches: { lines: number; status: string | undefined }[] = (win.logBatches = []);
      new win.MutationObserver(() => {
        batches.push({ lines: lines.children.length, status: lines.ownerDocument.querySelector("#run-status .pill")?.dataset.status });
      }).observe(lines, { childList: true });
    });
    await page.locator("#run-log .ln").first().waitFor();
    await expect(page.locator("#run-status .pill").getAttribute("data-status")).resolves.toBe("running");
    await expect(page.locator("h1").textContent()).resolves.toBe("Apply run");
    await page.locator("#run-log .ln-command").first().waitFor();
    await screenshot(page, "desktop-run-live");

    await page.locator('#run-status .pill[data-status="succeeded"]').waitFor({ timeout: 120_000 });
    h.sim.setFaults({ latencyMs: 0 });
    const batches: { lines: number; status: string }[] = await page.locator("body").evaluate((body) => body.ownerDocument.defaultView.logBatches);
    const whileRunning = batches.filter((b) => b.status === "running");
    // Lines arrived in several pieces while the run worked, not all at once at the end.
    expect(whileRunning.length).toBeGreaterThanOrEqual(2);
    expect(whileRunning[whileRunning.length - 1]!.lines).toBeGreaterThan(whileRunning[0]!.lines);

    // Every line of the run once, in order: the same as the API's copy of the log.
    const { items } = await api<{ items: { seq: number; level: string }[] }>(`runs/${runId}/events`);
    await expect.poll(() => page.locator("#run-log .ln").count()).toBeGreaterThanOrEqual(items.length);
    const shown = await page.locator("#run-log .ln").evaluateAll((lines) => lines.map((l) => Number(l.dataset.seq)));
    expect(shown).toEqual(items.map((e) => e.seq));
    expect(await page.locator("#run-log .ln-command", { hasText: "apply" }).count()).toBeGreaterThan(0);
    // It followed the tail: the last line is in view.
    expect(await page.locator("#run-log").evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)).toBeLessThan(30);
    const run = await api<{ addCount: number; changeCount: number; destroyCount: number }>(`runs/${runId}`);
    await expect(page.locator('[data-fact="changes"]').textContent()).resolves.toBe(`+${run.addCount}~${run.changeCount}−${run.destroyCount}`);
    await expect(page.locator('[data-fact="duration"] .duration').textContent()).resolves.toMatch(/^\d+(ms|s)$|^\d+m \d{2}s$/);
    await screenshot(page, "desktop-run");


    // Back to the VM (breadcrumb): its runs, newest first; then the list, never reloaded.
    await page.locator(".crumbs a", { hasText: "web" }).click();
    await page.locator(`tr.run-row[data-id="${runId}"]`).waitFor();
    const order = await page.locator("tr.run-row").evaluateAll((rows) => rows.map((r) => r.dataset.id));
    expect(order).toEqual([runId, before]);
    await expect(page.locator('[data-fact="generation"]').textContent()).resolves.toBe("2 (up to date)");
    await screenshot(page, "desktop-vm", { fullPage: true });
    await page.locator(".crumbs a", { hasText: "Virtual machines" }).click();
    await page.locator(`tr.vm-row[data-key="${key()}"][data-ready="True"]`).waitFor();
    expect(await lastRunId(page)).toBe(runId);
    await expect(row(page).locator("td.c-ready .sub").textContent()).resolves.toContain("generation 2");
    expect(await page.evaluate(() => performance.timeOrigin)).toBe(pageLoadedAt);
  });

  it("says when it is reconnecting, and catches up on what it missed", async () => {
    const { page } = desktop;
    const before = await lastRunId(page);
    relay.cut();
    await page.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 30_000 });
    await expect(page.locator("#conn").textContent()).resolves.toContain("Reconnecting…");
    await screenshot(page, "desktop-reconnecting");

    // A change while the page is cut off...
    await kubectl(["patch", "-n", h.namespace, "pvm", "web", "--type=merge", "-p", JSON.stringify({ spec: { cpu: { cores: 2 } } })]);
    const changed = await h.waitForVm("web", (vm) => vm?.status?.lastRun?.id !== before && vm?.status?.lastRun?.result === "succeeded" && vm.status.observedGeneration === 3, 120_000);
    relay.restore();
    // ...is on the page once the stream is back, with no reload.
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 30_000 });
    await row(page).locator(`a.last-run[href="#/run/${changed!.status!.lastRun!.id}"]`).waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => performance.timeOrigin)).toBe(pageLoadedAt);
    expect(desktop.problems).toEqual([]);
  });

  it("works on a phone: the table becomes cards", async () => {
    const phone = await openPage(browser, PHONE);
    const { page } = phone;
    await page.goto(`${relay.url}/?token=${TOKEN}`);
    await row(page).waitFor();
    await page.locator('#conn[data-state="live"]').waitFor();
    expect(await row(page).evaluate((tr) => tr.ownerDocument.defaultView.getComputedStyle(tr).display)).toBe("grid");
    expect(await pageWidth(page)).toBeLessThanOrEqual(390);
    await screenshot(page, "phone-list");

    await row(page).click();
    await page.locator("tr.run-row").first().waitFor();
    await screenshot(page, "phone-vm", { fullPage: true });
    await page.locator("tr.run-row").first().click();
    await page.locator("#run-log .ln").first().waitFor();
    await page.locator('#run-status .pill[data-status="succeeded"]').waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(390);
    await screenshot(page, "phone-run");
    expect(phone.problems).toEqual([]);
  });

  it("asks for the read token when it has none, and follows the dark color scheme", async () => {
    const stranger = await openPage(browser, DESKTOP);
    await stranger.page.goto(`${relay.url}/`);
    await stranger.page.locator("#banner", { hasText: "This page needs a read token." }).waitFor();

    const dark = await openPage(browser, DESKTOP, { colorScheme: "dark" });
    await dark.page.goto(`${relay.url}/?token=${TOKEN}`);
    await row(dark.page).waitFor();
    const background = await dark.page.locator("body").evaluate((body) => body.ownerDocument.defaultView.getComputedStyle(body).backgroundColor);
    // The page's own palette: --bg of the dark scheme in styles.css, not the light one.
    const css = readFileSync(path.join(repoRoot, "src/http/public/styles.css"), "utf8");
    const darkBlock = css.slice(css.indexOf("@media (prefers-color-scheme: dark)"));
    const hexToRgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(", ")})`;
    const bgOf = (text: string) => hexToRgb(/--bg:\s*(#[0-9a-f]{6});/i.exec(text)![1]!);
    expect(bgOf(darkBlock)).not.toBe(bgOf(css));
    expect(background).toBe(bgOf(darkBlock));
    await screenshot(dark.page, "desktop-dark");
    expect(dark.problems).toEqual([]);
  });
  it("shows the Proxmox connections and their health, a broken one with what to do", async () => {
    // A second connection whose token Proxmox refuses (a Secret with a wrong secret).
    await kubectl(["apply", "-n", h.namespace, "-f", "-"], JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "refused-token", labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } },
      stringData: { token: `PVEAPIToken=${h.sim.tokenId}=00000000-0000-4000-8000-000000000000` },
    }));
    await h.apply({
      apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
      kind: "ProxmoxConnection",
      metadata: { name: "refused" },
      spec: { endpoint: h.sim.url, tokenSecretRef: { name: "refused-token", key: "token" }, insecureSkipTLSVerify: true },
    });
    const watched = await openPage(browser, DESKTOP);
    const { page } = watched;
    await page.goto(`${relay.url}/?token=${TOKEN}`);
    const item = (name: string) => page.locator(`#connections .pxc-item[data-connection="${h.namespace}/${name}"]`);
    await item("pve").locator(".ready.tone-ok").waitFor({ timeout: 30_000 });
    // The panel reads the connections again every few seconds: the refused one shows up by itself.
    await page.locator(`#connections .pxc-item[data-connection="${h.namespace}/refused"][data-reason="AuthenticationFailed"]`).waitFor({ timeout: 60_000 });

    // What the page shows is what the API says (which the REST test checks against the operator).
    const { items } = await api<{ items: { name: string; endpoint: string; version: string | null; nodeCount: number | null; ready: { reason: string; message: string } }[] }>("connections");
    const pve = items.find((c) => c.name === "pve")!;
    const refused = items.find((c) => c.name === "refused")!;
    expect(await item("pve").locator(".pxc-endpoint").textContent()).toBe(pve.endpoint);
    expect(await item("pve").locator(".pxc-version").textContent()).toBe(pve.version);
    expect(await item("pve").locator(".pxc-nodes").textContent()).toBe(String(pve.nodeCount));
    expect(await item("pve").locator(".pxc-message").textContent()).toBe(pve.ready.message);
    expect(await item("refused").locator(".ready-label").textContent()).toBe(refused.ready.reason);
    expect(await item("refused").locator(".pxc-message").textContent()).toBe(refused.ready.message);
    expect(refused.ready.message).toContain("check the token id and secret");
    // No token or Secret contents anywhere on the page.
    const text = (await page.locator("body").textContent()) ?? "";
    expect(text).not.toContain(h.sim.token.split("=")[1]);
    expect(text).not.toContain("refused-token");
    await screenshot(page, "desktop-connections");
    expect(watched.problems).toEqual([]);
  });
});
