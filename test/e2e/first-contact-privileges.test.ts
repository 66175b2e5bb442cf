/**
 * First contact with a token that may not do what the operator needs: a privilege-separated
 * token with no ACL of its own, and one that may do everything but clone the template. Each says
 * which privileges on which paths are missing, creates nothing on Proxmox, and heals by itself
 * once root grants them. Real apiserver, tofu, provider and simulator (which checks privileges as
 * pve-access-control does).
 */
import { afterAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/api/conditions.js";
import { OPERATOR_ROLE_PRIVILEGES, requiredOn } from "../../src/api/required-privileges.js";
import { DEFAULT_SEED } from "../../src/simulator/seed.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { applyAndExpect as applyAndExpectIn, condition, ShownTimes, simCall, simConnection, tokenSecret, waitForConnection } from "./first-contact-support.js";

const ADMIN = { id: "root@pam!admin", secret: "5a5a5a5a-0000-4000-8000-000000000001", privsep: false };
/** Privilege separation and no ACL entry: it holds nothing, whatever its user holds. */
const BARE = { id: "ptm@pve!bare", secret: "5a5a5a5a-0000-4000-8000-000000000002" };
/** The operator's role on /, but on the template a role without VM.Clone (a deeper ACL path wins). */
const NO_CLONE = { id: "ptm@pve!noclone", secret: "5a5a5a5a-0000-4000-8000-000000000003" };
const full = (t: { id: string; secret: string }) => `${t.id}=${t.secret}`;

const ROLE_WITHOUT_CLONE = OPERATOR_ROLE_PRIVILEGES.filter((p) => p !== "VM.Clone");

describe("first contact with a token that lacks privileges", () => {
  const h = useOperatorHarness({
    // The connection "pve" (the harness's) uses the first token: root's, for the person's calls.
    simulator: {
      config: {
        ...DEFAULT_SEED,
        tokens: [ADMIN, BARE, NO_CLONE],
        users: [{ id: "ptm@pve" }],
        roles: [
          { id: "PTMOperator", privs: [...OPERATOR_ROLE_PRIVILEGES] },
          { id: "PTMNoClone", privs: [...ROLE_WITHOUT_CLONE] },
        ],
        acl: [
          { path: "/", role: "PTMOperator", user: "ptm@pve" },
          { path: "/", role: "PTMOperator", token: NO_CLONE.id },
          { path: "/vms/9000", role: "PTMNoClone", token: NO_CLONE.id },
        ],
      },
    },
    // A grant is seen at the next check: make that soon.
    env: { PTM_CONNECTION_CHECK_INTERVAL: "3s" },
  });
  const shown = new ShownTimes();
  afterAll(() => shown.print("first contact (privileges)"));

  /** Proxmox VMs named like this manifest (the VM name is metadata.name): 0 means nothing was created. */
  const madeFor = (name: string) => h.simVms().filter((vm) => vm.conf.name === name).length;

  const applyAndExpect = (label: string, name: string, spec: Record<string, unknown>, type: "Ready" | "Stalled", reason: string) =>
    applyAndExpectIn(h, shown, { label, name, spec, type, reason });

  it("a token without privileges: PermissionDenied naming what it lacks where, the VM waits, and a grant heals both", async () => {
    const started = Date.now();
    await tokenSecret(h, "bare-token", full(BARE));
    await simConnection(h, "bare");
    const pxc = await waitForConnection(h, "bare", (c) => condition(c, "Ready")?.reason === Reason.PermissionDenied);
    shown.record("token without privileges (pxc)", Reason.PermissionDenied, started);
    const message = condition(pxc, "Ready")!.message;
    expect(condition(pxc, "Ready")?.status).toBe("False");
    // Every privilege the operator needs on /vms and on the node, each with its path.
    expect(message).toContain(`token ${BARE.id} lacks ${requiredOn("/vms").join(", ")} on /vms`);
    expect(message).toContain(`${requiredOn("/nodes/{node}").join(", ")} on /nodes/pve1`);
    expect(message).toContain("Connecting your Proxmox");
    expect(pxc.status?.missingPrivileges?.["/vms"]).toEqual([...requiredOn("/vms")]);
    expect(JSON.stringify(pxc.status)).not.toContain(BARE.secret);

    const vm = await applyAndExpect("token without privileges (VM)", "on-bare", { connectionRef: { name: "bare" } }, "Ready", Reason.ConnectionNotReady);
    expect(condition(vm, "Ready")?.message).toBe(`ProxmoxConnection bare is not ready (PermissionDenied): ${message}`);
    expect(vm.status?.vmId).toBeUndefined();
    expect(await h.runsOf("on-bare")).toEqual([]);
    expect(madeFor("on-bare")).toBe(0);

    // Root grants the operator's role to the token on /, as a person would (pveum acl modify).
    await simCall(h, "PUT", "/access/acl", { path: "/", roles: "PTMOperator", tokens: BARE.id }, full(ADMIN));
    const healed = await waitForConnection(h, "bare", (c) => condition(c, "Ready")?.status === "True", 60_000);
    expect(condition(healed, "Ready")?.reason).toBe(Reason.Connected);
    expect(healed.status?.missingPrivileges).toBeUndefined();
    const ready = await h.waitForReady("on-bare", 1, 120_000);
    expect(ready?.status?.vmId).toBeGreaterThanOrEqual(100);
    expect(madeFor("on-bare")).toBe(1);
  });

  it("a token lacking only VM.Clone on the template: the connection is Ready, the VM is Stalled naming VM.Clone on /vms/9000, and a grant heals it", async () => {
    await tokenSecret(h, "noclone-token", full(NO_CLONE));
    await simConnection(h, "noclone");
    const pxc = await waitForConnection(h, "noclone", (c) => condition(c, "Ready")?.status === "True");
    // What the token lacks there is in status, for preflight and for a person.
    expect(pxc.status?.missingPrivileges).toEqual({ "/vms/9000": ["VM.Clone"] });

    const vm = await applyAndExpect("token lacks VM.Clone on template", "no-clone", { connectionRef: { name: "noclone" } }, "Stalled", Reason.PermissionDenied);
    const message = condition(vm, "Stalled")!.message;
    expect(message).toContain("spec.clone.vmId 9000");
    expect(message).toContain("VM.Clone on /vms/9000");
    expect(condition(vm, "Ready")?.reason).toBe(Reason.PermissionDenied);
    expect(vm.status?.vmId).toBeUndefined();
    expect(await h.runsOf("no-clone")).toEqual([]);
    expect(madeFor("no-clone")).toBe(0);

    // Root adds the full role on the template's path (roles on one path add up).
    await simCall(h, "PUT", "/access/acl", { path: "/vms/9000", roles: "PTMOperator", tokens: NO_CLONE.id }, full(ADMIN));
    await waitForConnection(h, "noclone", (c) => c.status?.missingPrivileges === undefined, 60_000);
    const ready = await h.waitForReady("no-clone", 1, 120_000);
    expect(ready?.status?.vmId).toBeGreaterThanOrEqual(100);
    expect(condition(ready, "Stalled")?.status).not.toBe("True");
    expect(madeFor("no-clone")).toBe(1);
  });
});
