import { describe, expect, it } from "vitest";
import { Reason } from "../api/conditions.js";
import { describeFailure, STORAGE_FULL_HINT, type FailureProblem } from "../terraform/classify-error.js";
import { TerraformError } from "../terraform/terraform-error.js";
import { classifyRunFailure } from "./run-failure.js";

/** A tofu failure as the runner builds it: its kind and problem come from the error table. */
function tofuError(kind: "transient" | "permanent" | "lock", summary: string, detail: string, extra: { hint?: string; problem?: FailureProblem } = {}) {
  return new TerraformError({ kind, phase: "apply", exitCode: 1, diagnostics: [{ severity: "error", summary, detail }], ...extra });
}

const at = (error: unknown, attempt = 1, maxAttempts = 6) => classifyRunFailure({ error, attempt, maxAttempts, namespace: "ns", name: "web" });

describe("classifyRunFailure", () => {
  // Real texts: bpg/proxmox v0.111.1 through tofu 1.12.6, and Proxmox VE's own messages.
  it.each([
    [
      "a busy node's config lock",
      tofuError("transient", "error waiting for VM start", "received an HTTP 500 response - Reason: can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout", { problem: "lock-timeout" }),
      Reason.LockTimeout,
      false,
    ],
    [
      "the pg backend's state lock",
      tofuError("lock", "Error acquiring the state lock", "Error message: Workspace is already locked: ns.web", { problem: "lock-timeout" }),
      Reason.LockTimeout,
      false,
    ],
    [
      "a full datastore",
      tofuError("permanent", "Disk resize", "error resizing volume 'local-lvm:vm-101-disk-0': no space left on storage 'local-lvm'", { hint: STORAGE_FULL_HINT, problem: "storage-full" }),
      Reason.InsufficientStorage,
      true,
    ],
    ["a Proxmox 5xx", tofuError("transient", "error creating VM", "received an HTTP 503 response - Reason: Service Unavailable"), Reason.ApplyFailed, false],
    ["a refused parameter", tofuError("permanent", "error updating VM", "received an HTTP 400 response - Reason: Parameter verification failed. (memory: value must be at least 16)"), Reason.ApplyFailed, true],
  ])("%s", (_name, error, reason, permanent) => {
    const failure = at(error);
    expect(failure.reason).toBe(reason);
    expect(failure.permanent).toBe(permanent);
    expect(failure.lastAttempt).toBe(permanent);
    expect(failure.message).toBe(error.message);
    expect(failure.kind).toBe(error.kind);
  });

  it("looks up the problem of an error that did not come from tofu, and keeps it retryable", () => {
    const failure = at(new Error("received an HTTP 500 response - Reason: can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"));
    expect(failure).toMatchObject({ reason: Reason.LockTimeout, permanent: false, lastAttempt: false, kind: "error" });
    expect(at("connect ECONNREFUSED 127.0.0.1:5432")).toMatchObject({ reason: Reason.ApplyFailed, kind: "error", message: "connect ECONNREFUSED 127.0.0.1:5432" });
  });

  it("counts attempts for transient failures and gives up at the last one", () => {
    const error = tofuError("transient", "error creating VM", "received an HTTP 500 response - Reason: Internal Server Error");
    expect(at(error, 4, 6).detail).toBe(`${error.message} — attempt 4 of 6, retrying with backoff`);
    expect(at(error, 4, 6).lastAttempt).toBe(false);
    expect(at(error, 6, 6).detail).toBe(`${error.message} — gave up after 6 attempts; the controller tries again later`);
    expect(at(error, 6, 6).lastAttempt).toBe(true);
  });

  it("says a permanent failure cannot be retried, with the hint and the way to ask for a run", () => {
    const withHint = at(tofuError("permanent", "Disk resize", "no space left on storage 'local-lvm'", { hint: STORAGE_FULL_HINT, problem: "storage-full" }));
    expect(withHint.detail).toContain(STORAGE_FULL_HINT);
    expect(withHint.detail).toContain("POST /api/v1/namespaces/ns/vms/web/reconcile");
    const plain = at(tofuError("permanent", "Unsupported argument", 'An argument named "bogus" is not expected here.'));
    expect(plain.detail).toBe(`${plain.message} — fix the spec; retrying cannot help`);
  });

  it("does not retry a refused token, and says the connection is re-checked (not Stalled: the spec is not at fault)", () => {
    const failure = at(new Error("GET /api2/json/cluster/nextid: 401 authentication failure"));
    expect(failure).toMatchObject({ reason: Reason.AuthenticationFailed, permanent: false, lastAttempt: true, retry: false });
    expect(failure.detail).toContain("fix the token Secret of the ProxmoxConnection");
    expect(at(tofuError("permanent", "error creating VM", "received an HTTP 403 response - Reason: Permission check failed (/vms/9000, VM.Clone)", { problem: "permission-denied" }))).toMatchObject({
      reason: Reason.PermissionDenied,
      permanent: false,
      retry: false,
    });
  });

  it.each([
    ["a missing template", "error cloning VM: received an HTTP 500 response - Reason: Configuration file 'nodes/pve1/qemu-server/9999.conf' does not exist", Reason.CloneSourceNotFound],
    ["an unknown node", "received an HTTP 500 response - Reason: hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or service not known", Reason.NodeNotFound],
    ["a missing storage", "received an HTTP 500 response - Reason: storage 'nvme' does not exist", Reason.StorageNotFound],
    ["a missing bridge", "task failed: TASK ERROR: bridge 'vmbr9' does not exist", Reason.BridgeNotFound],
  ])("names %s as a configuration problem, before the 5xx row can call it transient", (_name, text, reason) => {
    const kind = describeFailure({ texts: [text] });
    expect(kind.kind).toBe("permanent");
    expect(kind.hint).toBeDefined();
    const error = tofuError("permanent", "error", text, { problem: kind.problem! });
    expect(at(error)).toMatchObject({ reason, permanent: true, retry: false });
  });
});
