import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createPasswordSecret, faultVm, newSecrets } from "../support/fault-scenario.js";
import { assertInvariants, checkInvariants, tokenSecretOf } from "../support/invariants.js";
import { kubectl } from "../support/kube.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

interface EncryptedPayload {
  meta?: Record<string, string>;
  encrypted_data?: string;
  encryption_version?: string;
}

/** tofu's encryption envelope, or undefined when `bytes` is not one (plain state, a zip plan). */
function envelope(bytes: Buffer | string): EncryptedPayload | undefined {
  try {
    const parsed = JSON.parse(Buffer.isBuffer(bytes) ? bytes.toString("utf8") : bytes) as EncryptedPayload;
    return parsed.encrypted_data && parsed.encryption_version ? parsed : undefined;
  } catch {
    return undefined;
  }
}

// Encryption on by default (no setting at all): the operator creates the key Secret itself, and
// neither the Terraform state nor a plan kept for approval holds the cloud-init password or the
// connection token. Then a key rotation: old state is read with the previous key and rewritten
// with the new one.
describe.sequential("state and plans encrypted by default, with the operator's key", () => {
  const keySecret = `ptm-state-key-${randomBytes(4).toString("hex")}`;
  const h = useOperatorHarness({ env: { PTM_STATE_KEY_SECRET: keySecret } });
  const { password } = newSecrets();

  const readKeySecret = async () =>
    JSON.parse(await kubectl(["get", "-n", "default", "secret", keySecret, "-o", "json"])) as { data: Record<string, string> };

  async function stateRows(): Promise<{ name: string; data: string }[]> {
    return (await h.pg((c) => c.query<{ name: string; data: string }>(`select name, data from ${h.stateSchema}.states`))).rows;
  }

  it("keeps no password, token or key in any row of the state and plan tables", async () => {
    await createPasswordSecret(h, password);
    await h.apply(faultVm("secretive", 1024, { approval: "Manual" }));
    const waiting = await h.waitForVm("secretive", (v) => v?.status?.pendingPlan !== undefined);

    // The plan kept for approval: tofu's encryption envelope, nothing readable.
    // The row is written as the run ends, the pending approval a moment before.
    const plans = await waitFor("the kept plan", async () => {
      const found = (await h.pg((c) => c.query<{ plan: Buffer }>(`select plan from ${h.dbSchema}.saved_plans where status = 'pending'`))).rows;
      return found.length > 0 ? found : undefined;
    });
    expect(plans).toHaveLength(1);
    const planEnvelope = envelope(plans[0]!.plan);
    expect(planEnvelope?.meta).toHaveProperty(["key_provider.external.current"]);

    await kubectl(["annotate", "-n", h.namespace, "pvm", "secretive", `proxmox.terraform-manager.dev/approve=${waiting!.status!.pendingPlan!.approveWith}`]);
    await h.waitForReady("secretive", 1);

    // The key Secret the worker created: one random 32-byte key.
    const key = Buffer.from((await readKeySecret()).data.key!, "base64").toString();
    expect(Buffer.from(key, "base64")).toHaveLength(32);

    const rows = await stateRows();
    expect(rows.map((r) => r.name)).toContain(`${h.namespace}.secretive`);
    for (const row of rows) expect(envelope(row.data), `state ${row.name} is encrypted`).toBeDefined();

    // Every row of every table in both schemas (runs, events, diffs, saved plans, errored states,
    // Terraform state), Redis, logs, Events and the work directories.
    const report = await checkInvariants(h, { secrets: [password, key] });
    expect(report.violations.filter((v) => !v.includes("work directory file .state-keys/"))).toEqual([]);
    // The same search finds the password where it is: the Secret that holds it (a search that cannot miss).
    expect(await kubectl(["get", "-n", h.namespace, "secret", "vm-password", "-o", "jsonpath={.data.password}"])).toBe(Buffer.from(password).toString("base64"));
    expect(tokenSecretOf(h).length).toBeGreaterThan(8);
  });

  it("rotates the key: old state is read with the previous key and rewritten with the new one", async () => {
    const before = (await stateRows()).find((r) => r.name === `${h.namespace}.secretive`)!;
    const oldKey = Buffer.from((await readKeySecret()).data.key!, "base64").toString();
    const newKey = randomBytes(32).toString("base64");
    const patch = (data: Record<string, string | null>) =>
      kubectl(["patch", "-n", "default", "secret", keySecret, "--type=merge", "-p", JSON.stringify({ stringData: data })]);
    await patch({ key: newKey, "previous-key": oldKey });

    await h.apply(faultVm("secretive", 1536, { approval: "Auto" }));
    await h.waitForReady("secretive", 2);
    expect(Number(h.simVms()[0]!.conf.memory)).toBe(1536);
    const after = (await stateRows()).find((r) => r.name === `${h.namespace}.secretive`)!;
    expect(after.data).not.toBe(before.data);

    // Without the previous key the state is still readable: the apply rewrote it with the new key.
    await kubectl(["patch", "-n", "default", "secret", keySecret, "--type=json", "-p", JSON.stringify([{ op: "remove", path: "/data/previous-key" }])]);
    await h.apply(faultVm("secretive", 2048, { approval: "Auto" }));
    const ready = await h.waitForReady("secretive", 3);
    expect(ready?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(Number(h.simVms()[0]!.conf.memory)).toBe(2048);

    // And the old key alone can no longer read it: the run fails for good, says why, and is not retried.
    await patch({ key: oldKey });
    await h.apply(faultVm("secretive", 1024, { approval: "Auto" }));
    const stalled = await h.waitForVm("secretive", (v) => v?.metadata.generation === 4 && v.status?.conditions?.some((c) => c.type === "Stalled" && c.status === "True") === true);
    const message = stalled?.status?.conditions?.find((c) => c.type === "Stalled")?.message ?? "";
    expect(message).toMatch(/decrypt/i);
    await waitFor("the failed run to leave the queue", async () => (await h.runJobState("secretive")) === undefined);
    await patch({ key: newKey });
    await assertInvariants(h, { secrets: [password, oldKey, newKey], idleTimeoutMs: 60_000 }).catch((error: Error) => {
      // The VM is Stalled on purpose here; only secret findings matter.
      // The key files themselves (mode 0600 in the worker's own directory) are where keys belong.
      const secretFindings = error.message.split("\n").filter((l) => l.includes("a secret") && !l.includes(".state-keys/"));
      expect(secretFindings).toEqual([]);
    });
  });
});

// Terraform has no state encryption (no terraform binary is built here; the refusal comes before
// any tofu or terraform command, so the operator runs with the flavor set and tofu's binary).
describe("plain-text state with a cloud-init password is refused", () => {
  const h = useOperatorHarness({ env: { PTM_TERRAFORM_FLAVOR: "terraform" } });

  it("stalls the VM with what to do, and creates nothing on Proxmox", async () => {
    await createPasswordSecret(h, newSecrets().password);
    await h.apply(faultVm("plaintext"));
    const stalled = await h.waitForVm("plaintext", (v) => v?.status?.conditions?.some((c) => c.type === "Stalled" && c.status === "True") === true);
    const condition = stalled?.status?.conditions?.find((c) => c.type === "Stalled");
    expect(condition?.reason).toBe("PlaintextStateRefused");
    expect(condition?.message).toMatch(/Terraform cannot encrypt its state.*PTM_TERRAFORM_FLAVOR=tofu.*PTM_ALLOW_PLAINTEXT_STATE=true/);
    await waitFor("the refused run to leave the queue", async () => (await h.runJobState("plaintext")) === undefined);
    expect(h.simVms()).toHaveLength(0);
  });
});
