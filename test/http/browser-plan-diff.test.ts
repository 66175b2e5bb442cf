import { randomBytes } from "node:crypto";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { DESKTOP, launchChromium, openPage, screenshot, TcpRelay, type WatchedPage } from "../support/browser.js";

// A plan that waits for approval, as a person sees it in a real Chromium: the VM page shows the
// pending plan, its change lines and the exact approve command; the plan's run page shows the
// diff (attribute, before, after) above the log. Screenshots: test/artifacts/status-page-plan-*.png.

const TOKEN = randomBytes(16).toString("hex");
const manual = (memory: number) => proxmoxVm("reviewed", { approval: "Manual", memory: { dedicated: memory } });

describe("status page: plans", () => {
  const h = new OperatorHarness({ sidecar: true, env: { PTM_SIDECAR_READ_TOKEN: TOKEN } });
  let relay: TcpRelay;
  let browser: Browser;
  let desktop: WatchedPage;

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

  const pending = (generation: number) => (v: ProxmoxVMObject | undefined) => v?.status?.pendingPlan !== undefined && v.metadata.generation === generation;

  it("shows the pending plan on the VM page and its diff, coloured, above the log on the run page", async () => {
    await h.apply(manual(2048));
    const created = (await h.waitForVm("reviewed", pending(1)))!.status!.pendingPlan!;
    await kubectl(["annotate", "-n", h.namespace, "pvm", "reviewed", `proxmox.terraform-manager.dev/approve=${created.approveWith}`]);
    await h.waitForReady("reviewed", 1);
    await h.apply(manual(3072));
    const plan = (await h.waitForVm("reviewed", pending(2)))!.status!.pendingPlan!;

    const { page, problems } = desktop;
    await page.goto(`${relay.url}/?token=${TOKEN}#/vm/${h.namespace}/reviewed`);
    const card = page.locator("#pending-plan");
    await card.waitFor();
    await expect(card.locator(".approval-changes li", { hasText: "memory.dedicated: 2048 → 3072" }).count()).resolves.toBe(1);
    await expect(card.locator(".approval-command").textContent()).resolves.toBe(
      `kubectl annotate pvm reviewed -n ${h.namespace} proxmox.terraform-manager.dev/approve=${plan.approveWith} --overwrite`,
    );
    await expect(card.locator("button.approve").count()).resolves.toBe(1);
    await screenshot(page, "plan-vm", { fullPage: true });

    await card.locator(`a[href="#/run/${plan.runId}"]`).click();
    const row = page.locator('#run-diff tr.diff-row[data-path="memory.dedicated"]');
    await row.waitFor();
    await expect(row.getAttribute("class")).resolves.toContain("diff-change");
    await expect(row.locator(".diff-before").textContent()).resolves.toBe("2048");
    await expect(row.locator(".diff-after").textContent()).resolves.toBe("3072");
    await expect(page.locator('#run-diff .diff-resource[data-address="proxmox_virtual_environment_vm.vm"] .diff-actions').textContent()).resolves.toBe("update");
    await expect(page.locator("#run-diff .diff-replace-badge").count()).resolves.toBe(0);
    // Above the log.
    const [diffTop, logTop] = await Promise.all([page.locator("#run-diff").boundingBox(), page.locator("#run-log").boundingBox()]);
    expect(diffTop!.y).toBeLessThan(logTop!.y);
    await screenshot(page, "plan-run", { fullPage: true });
    expect(problems).toEqual([]);
  });
});
