/**
 * Shared pieces of the fault tests (test/e2e/faults*.test.ts) and the soak (bench/soak.ts): a VM
 * with a cloud-init password from a Secret (so there is a second secret to look for), state
 * encryption on (the state row may then hold the password only encrypted), signals from the
 * simulator that a given task is running, and a printed time to recovery.
 */
import { randomBytes } from "node:crypto";
import type { OperatorHarness } from "./operator-harness.js";
import { proxmoxVm } from "./manifests.js";
import { waitFor } from "./wait.js";

export const PASSWORD_SECRET = "vm-password";

/** Operator settings every fault test uses: state encryption, fast resyncs, several attempts. */
export function faultEnv(passphrase: string): Record<string, string> {
  return { PTM_STATE_ENCRYPTION_PASSPHRASE: passphrase, PTM_MAX_ATTEMPTS: "10", PTM_RESYNC_INTERVAL: "15s" };
}

/** The secrets of one fault scenario: the cloud-init password and the state passphrase. */
export function newSecrets(): { password: string; passphrase: string } {
  return { password: `pw-${randomBytes(12).toString("hex")}`, passphrase: `pp-${randomBytes(16).toString("hex")}` };
}

/** Creates the Secret holding the cloud-init password (with the operator's consent label). */
export async function createPasswordSecret(h: OperatorHarness, password: string): Promise<void> {
  await h.kubectl(
    ["apply", "-n", h.namespace, "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: PASSWORD_SECRET, labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } },
      stringData: { password },
    }),
  );
}

/** A small started VM with the guest agent and a cloud-init user whose password is a Secret. */
export function faultVm(name: string, memoryMiB = 1024, extra: Record<string, unknown> = {}) {
  return proxmoxVm(name, {
    cpu: { cores: 1 },
    memory: { dedicated: memoryMiB },
    agent: { enabled: true, timeout: "2m" },
    initialization: { userAccount: { username: "ubuntu", passwordSecretRef: { name: PASSWORD_SECRET, key: "password" } } },
    ...extra,
  });
}

/** Waits until the simulator runs a task of `type` (e.g. qmclone): the positive signal for "mid-task". */
export function waitForRunningTask(h: OperatorHarness, type: string, timeoutMs = 180_000): Promise<true> {
  return waitFor(`a running ${type} task in the simulator`, () => h.sim.context.tasks.list().some((t) => t.type === type && t.status === "running") || undefined, timeoutMs);
}

/** Starts a clock at the fault; `recovered()` prints and returns the seconds to recovery. */
export function recoveryClock(fault: string): { recovered(): number } {
  const started = Date.now();
  return {
    recovered() {
      const seconds = (Date.now() - started) / 1000;
      console.log(`[recovery] ${fault}: ${seconds.toFixed(1)} s`);
      return seconds;
    },
  };
}
