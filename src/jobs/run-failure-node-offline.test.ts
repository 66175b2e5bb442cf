import { describe, expect, it } from "vitest";
import { Reason } from "../api/conditions.js";
import { CONNECTION_FAILURES } from "../controller/run-gate.js";
import { ProxmoxApiError } from "../proxmox/api-client.js";
import { describeFailure } from "../terraform/classify-error.js";
import { TerraformError } from "../terraform/terraform-error.js";
import { classifyRunFailure } from "./run-failure.js";

/**
 * A 595 is what Proxmox's API proxy answers when it cannot forward a /nodes/<node>/... call to an
 * offline node. A run that meets one must neither retry blindly (it would fail the same way until
 * the node is back) nor stall: it names the node problem and asks for a connection re-check.
 */
describe("a run that meets an offline node", () => {
  // The provider's wording (bpg/proxmox: "received an HTTP %d response - Reason: %s") and the
  // operator's own API client's ("GET <path>: <status> <status text>").
  const providerText = "error retrieving VM 100: received an HTTP 595 response - Reason: No route to host";
  const clientText = "GET /api2/json/nodes/pve1/qemu/100/config: 595 Connection refused";

  it.each([providerText, clientText])("classifies %j as transient, node offline", (text) => {
    expect(describeFailure({ texts: [text] })).toMatchObject({ kind: "transient", problem: "node-offline" });
  });

  it("keeps other 5xx answers as plain transient failures (retried with backoff)", () => {
    const plain = describeFailure({ texts: ["received an HTTP 503 response - Reason: Service Unavailable"] });
    expect(plain.kind).toBe("transient");
    expect(plain.problem).toBeUndefined();
  });

  it("does not retry a tofu run that met a 595, and names the reason NodeOffline", () => {
    const { kind, hint, problem } = describeFailure({ texts: [providerText] });
    const error = new TerraformError({ kind, phase: "apply", exitCode: 1, diagnostics: [{ severity: "error", summary: "error retrieving VM", detail: providerText }], ...(hint ? { hint } : {}), ...(problem ? { problem } : {}) });
    const failure = classifyRunFailure({ error, attempt: 1, maxAttempts: 6, namespace: "ns", name: "web" });
    expect(failure).toMatchObject({ reason: Reason.NodeOffline, permanent: false, lastAttempt: true, retry: false });
    expect(failure.detail).toContain("the operator checks the ProxmoxConnection again");
    expect(failure.detail).not.toContain("retrying with backoff");
  });

  it("does not retry a 595 met before tofu started (the operator's own API call)", () => {
    const failure = classifyRunFailure({ error: new ProxmoxApiError(595, clientText), attempt: 1, maxAttempts: 6, namespace: "ns", name: "web" });
    expect(failure).toMatchObject({ reason: Reason.NodeOffline, permanent: false, retry: false });
  });

  it("leaves a Ready VM as it was when only a drift check met the offline node", () => {
    const drift = classifyRunFailure({ error: new ProxmoxApiError(595, clientText), attempt: 1, maxAttempts: 6, namespace: "ns", name: "web", runReason: "drift" });
    expect(drift).toMatchObject({ reason: Reason.NodeOffline, keepsReady: true, retry: false });
    expect(drift.detail).toContain("this was a drift check");
    // A change that met it is not a drift check: the VM says it waits.
    expect(classifyRunFailure({ error: new ProxmoxApiError(595, clientText), attempt: 1, maxAttempts: 6, namespace: "ns", name: "web", runReason: "update" }).keepsReady).toBe(false);
    // Any other failure of a drift check is reported as before.
    expect(classifyRunFailure({ error: new Error("received an HTTP 503 response"), attempt: 1, maxAttempts: 6, namespace: "ns", name: "web", runReason: "drift" }).keepsReady).toBe(false);
  });

  it("makes the controller check the connection again before the next run", () => {
    expect(CONNECTION_FAILURES.has(Reason.NodeOffline)).toBe(true);
  });
});
