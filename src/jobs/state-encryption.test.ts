import { readFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Reason } from "../api/conditions.js";
import { readEnv } from "../config/env.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import { generateStateKey } from "../terraform/state-keys.js";
import type { ConnectionResolver, ResolvedConnection } from "../vm/connection-resolver.js";
import type { StackHasher } from "../vm/stack-hasher.js";
import { admit } from "./admission.js";
import { StateEncryption } from "./state-encryption.js";

const base = { REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db" };
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function encryptionFor(settings: Record<string, string>): StateEncryption {
  return StateEncryption.fromEnv(readEnv({ ...base, ...settings }), undefined);
}

describe("StateEncryption", () => {
  it("refuses plain-text state for a password with Terraform, and says what to do", () => {
    const refusal = encryptionFor({ PTM_TERRAFORM_FLAVOR: "terraform" }).plaintextRefusal();
    expect(refusal).toMatch(/^Terraform cannot encrypt its state/);
    expect(refusal).toContain("PTM_TERRAFORM_FLAVOR=tofu");
    expect(refusal).toContain("PTM_ALLOW_PLAINTEXT_STATE=true");
  });

  it("refuses it with encryption off, and allows it when plain text is accepted", () => {
    expect(encryptionFor({ PTM_STATE_ENCRYPTION: "off" }).plaintextRefusal()).toMatch(/state encryption is off/);
    expect(encryptionFor({ PTM_TERRAFORM_FLAVOR: "terraform", PTM_ALLOW_PLAINTEXT_STATE: "true" }).plaintextRefusal()).toBeUndefined();
  });

  it("writes nothing in plain text by default: a given key becomes TF_ENCRYPTION naming only its file", async () => {
    const workdir = await mkdtemp(path.join(tmpdir(), "ptm-se-"));
    dirs.push(workdir);
    const key = generateStateKey();
    const encryption = encryptionFor({ PTM_STATE_KEY: key, PTM_WORKDIR_ROOT: workdir });
    expect(encryption.plaintextRefusal()).toBeUndefined();
    const config = JSON.parse((await encryption.forRun())!) as { key_provider: { external: { current: { command: string[] } } }; state: { enforced?: boolean } };
    const file = config.key_provider.external.current.command.at(-1)!;
    expect(path.dirname(file)).toBe(path.join(workdir, ".state-keys"));
    expect(await readFile(file, "utf8")).toBe(key);
    expect(config.state.enforced).toBe(true);
    expect(JSON.stringify(config)).not.toContain(key);
  });

  it("gives Terraform no TF_ENCRYPTION", async () => {
    expect(await encryptionFor({ PTM_TERRAFORM_FLAVOR: "terraform" }).forRun()).toBeUndefined();
  });

  it("refuses a key that is not 32 bytes, and a default that has neither a key nor Kubernetes", () => {
    expect(() => encryptionFor({ PTM_STATE_KEY: "dG9vIHNob3J0" })).toThrow(/PTM_STATE_KEY must be 32 random bytes/);
    expect(() => encryptionFor({})).toThrow(/state encryption needs a key/);
  });
});

describe("admission with plain-text state", () => {
  const vm = (initialization?: unknown) =>
    ({
      apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
      kind: "ProxmoxVM",
      metadata: { name: "vm", namespace: "ns", uid: "u1", generation: 1 },
      spec: { connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 }, ...(initialization ? { initialization } : {}) },
    }) as unknown as ProxmoxVMObject;
  const deps = (object: ProxmoxVMObject) => ({
    vms: { get: () => Promise.resolve(object) } as unknown as CustomObjects<ProxmoxVMObject>,
    connections: { resolve: () => Promise.resolve({ spec: { endpoint: "https://pve:8006" } } as ResolvedConnection) } as unknown as ConnectionResolver,
    hasher: { hash: () => ({ ok: false }) } as unknown as StackHasher,
    plaintextStateRefusal: encryptionFor({ PTM_TERRAFORM_FLAVOR: "terraform" }).plaintextRefusal(),
  });
  const job = { namespace: "ns", name: "vm", uid: "u1", reason: "create" as const };

  it("stalls a VM with a cloud-init password, with the message", async () => {
    const withPassword = vm({ userAccount: { username: "ops", passwordSecretRef: { name: "pw", key: "password" } } });
    const admission = await admit(deps(withPassword), job);
    expect(admission).toMatchObject({ kind: "stall", reason: Reason.PlaintextStateRefused });
    expect(admission.kind === "stall" && admission.message).toMatch(/Terraform cannot encrypt its state/);
  });

  it("runs a VM without one", async () => {
    expect(await admit(deps(vm({ userAccount: { username: "ops" } })), job)).toMatchObject({ kind: "admitted" });
  });
});
