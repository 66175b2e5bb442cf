import { describe, expect, it } from "vitest";
import { formatChange, formatPlan, hasPlan, planSummary, type PlannedResource } from "./plan-format.js";

const vm = "proxmox_virtual_environment_vm.vm";

describe("plan format", () => {
  it("prints each attribute change with its action, keeping the API's placeholders bare", () => {
    expect(formatChange({ path: "memory.dedicated", action: "change", before: 2048, after: 3072 })).toBe("~ memory.dedicated: 2048 → 3072");
    expect(formatChange({ path: "disk[1]", action: "add", before: null, after: { size: 8 } })).toBe('+ disk[1]: {"size":8}');
    expect(formatChange({ path: "tags[0]", action: "remove", before: "old", after: null })).toBe('- tags[0]: "old"');
    expect(formatChange({ path: "initialization.user_account.password", action: "change", before: "(sensitive)", after: "(sensitive)" })).toBe(
      "~ initialization.user_account.password: (sensitive) → (sensitive)",
    );
    expect(formatChange({ path: "ipv4_addresses", action: "change", before: [], after: "(known after apply)" })).toBe("~ ipv4_addresses: [] → (known after apply)");
  });

  it("counts as tofu does: a replacement is one to add and one to destroy", () => {
    const resources: PlannedResource[] = [
      { address: vm, actions: ["delete", "create"], replace: true, replacedBy: ["clone.vm_id"], changes: [] },
      { address: "x.y", actions: ["update"], replace: false, changes: [] },
    ];
    expect(planSummary(resources)).toBe("1 to add, 1 to change, 1 to destroy");
  });

  it("lists the planned resources with their changes, a replacement with what forces it, then the desired change", () => {
    const text = formatPlan({
      runId: "r1",
      specHash: "h",
      planned: {
        resources: [
          { address: vm, actions: ["update"], replace: false, changes: [{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }] },
          { address: "proxmox_virtual_environment_vm.other", actions: ["delete", "create"], replace: true, replacedBy: ["disk[0].datastore_id"], changes: [] },
          { address: "data.proxmox_virtual_environment_nodes.all", actions: ["read"], replace: false, changes: [] },
        ],
      },
      desired: { changes: [{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }] },
    });
    expect(text).toBe(
      [
        "Planned by tofu: 1 to add, 1 to change, 1 to destroy",
        `  ~ ${vm} (update)`,
        "      ~ memory.dedicated: 2048 → 3072",
        "  -/+ proxmox_virtual_environment_vm.other (replace, forced by disk[0].datastore_id)",
        "Desired change (this manifest's stack vs the last applied one):",
        "  ~ memory.dedicated: 2048 → 3072",
        "",
      ].join("\n"),
    );
  });

  it("says when tofu's plan was not recorded", () => {
    const plan = { runId: "r", specHash: "h", planned: null, desired: { changes: [] } };
    expect(formatPlan(plan)).toBe("Planned by tofu: not recorded for this run\nDesired change: none (the stack is the one last applied)\n");
    expect(hasPlan(plan)).toBe(true);
    expect(hasPlan({ ...plan, desired: null })).toBe(false);
  });
});
