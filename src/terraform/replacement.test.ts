import { describe, expect, it } from "vitest";
import { describeForcingAttributes, replacementsInPlan, withoutPreventDestroy } from "./replacement.js";

/** The shape of `tofu show -json` for a saved plan (only what the functions read). */
function plan(changes: unknown[]) {
  return { format_version: "1.2", resource_changes: changes };
}

describe("replacementsInPlan", () => {
  it("names the paths that force a replacement, with the values when they are plain and not sensitive", () => {
    const replacements = replacementsInPlan(
      plan([
        {
          address: "proxmox_virtual_environment_vm.vm",
          action_reason: "replace_because_cannot_update",
          change: {
            actions: ["delete", "create"],
            before: { node_name: "pve2", initialization: [{ user_account: [{ password: "hunter2hunter2" }] }] },
            after: { node_name: "pve1", initialization: [{ user_account: [{ password: "hunter2hunter2" }] }] },
            after_sensitive: { initialization: [{ user_account: [{ password: true }] }] },
            replace_paths: [["node_name"], ["initialization", 0, "user_account", 0, "password"]],
          },
        },
        { address: "null_resource.kept", change: { actions: ["update"], replace_paths: [["x"]] } },
      ]),
    );
    expect(replacements).toEqual([
      {
        address: "proxmox_virtual_environment_vm.vm",
        actions: ["delete", "create"],
        reason: "replace_because_cannot_update",
        forcedBy: [{ path: "node_name", before: "pve2", after: "pve1" }, { path: "initialization.0.user_account.0.password" }],
      },
    ]);
    expect(JSON.stringify(replacements)).not.toContain("hunter2");
  });

  it("hides a value whose parent is marked sensitive as a whole", () => {
    const [r] = replacementsInPlan(
      plan([{ address: "a.b", change: { actions: ["create", "delete"], before: { disk: [{ file_id: "x" }] }, after: { disk: [{ file_id: "y" }] }, before_sensitive: { disk: true }, replace_paths: [["disk", 0, "file_id"]] } }]),
    );
    expect(r!.forcedBy).toEqual([{ path: "disk.0.file_id", after: "y" }]);
  });

  it("finds nothing in a plan without deletions, or in something that is not a plan", () => {
    expect(replacementsInPlan(plan([{ address: "a.b", change: { actions: ["update"] } }]))).toEqual([]);
    expect(replacementsInPlan(null)).toEqual([]);
    expect(replacementsInPlan({})).toEqual([]);
  });
});

describe("describeForcingAttributes", () => {
  it("names the spec field a user can change, and both values", () => {
    const text = describeForcingAttributes([
      { address: "x", actions: ["delete", "create"], forcedBy: [{ path: "node_name", before: "pve2", after: "pve1" }, { path: "tpm_state.0.version" }] },
    ]);
    expect(text).toBe('node_name (spec.nodeName): Proxmox has "pve2", the spec says "pve1" (set spec.migrate: true to migrate the VM instead); tpm_state.0.version');
  });

  it("says so when tofu names no attribute", () => {
    expect(describeForcingAttributes([{ address: "x", actions: ["delete", "create"], forcedBy: [] }])).toMatch(/^no attribute named by tofu/);
  });
});

describe("withoutPreventDestroy", () => {
  it("drops prevent_destroy and keeps the rest of the lifecycle and configuration", () => {
    const config = {
      terraform: { backend: { pg: {} } },
      resource: { proxmox_virtual_environment_vm: { vm: { node_name: "pve1", lifecycle: { prevent_destroy: true, ignore_changes: ["clone"] } } } },
      import: [{ to: "proxmox_virtual_environment_vm.vm", id: "pve1/100" }],
    };
    expect(JSON.parse(withoutPreventDestroy(JSON.stringify(config)))).toEqual({
      ...config,
      resource: { proxmox_virtual_environment_vm: { vm: { node_name: "pve1", lifecycle: { ignore_changes: ["clone"] } } } },
    });
  });
});
