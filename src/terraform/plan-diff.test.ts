import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { changeLines, desiredChange, diffValues, KNOWN_AFTER_APPLY, plannedChange, SENSITIVE } from "./plan-diff.js";

/** `tofu show -json` of real plans: bpg/proxmox 0.111.1 against the simulator (test/terraform/plan-diff.test.ts makes them). */
const shown = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/show-plan-${name}.json`, import.meta.url), "utf8"));
const PASSWORD = "plan-diff-password-0x5f3a";
const VM = ["proxmox_virtual_environment_vm", "vm"] as const;

describe("plannedChange", () => {
  it("reduces an update to the one attribute it changes, before → after", () => {
    const { resources } = plannedChange(shown("update"));
    expect(resources).toHaveLength(1);
    expect(resources[0]).toMatchObject({ address: "proxmox_virtual_environment_vm.vm", actions: ["update"], replace: false });
    expect(resources[0]!.replacedBy).toBeUndefined();
    const known = resources[0]!.changes.filter((c) => c.after !== KNOWN_AFTER_APPLY);
    expect(known).toEqual([{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }]);
  });

  it("lists what a create sets, the password as (sensitive) and computed values as (known after apply)", () => {
    const [vm] = plannedChange(shown("create")).resources;
    expect(vm!.actions).toEqual(["create"]);
    expect(vm!.changes).toContainEqual({ path: "memory.dedicated", action: "add", before: null, after: 2048 });
    expect(vm!.changes).toContainEqual({ path: "node_name", action: "add", before: null, after: "pve1" });
    expect(vm!.changes.find((c) => c.path === "initialization.user_account.password")).toEqual({
      path: "initialization.user_account.password",
      action: "add",
      before: null,
      after: SENSITIVE,
    });
    expect(vm!.changes.find((c) => c.path === "ipv4_addresses")).toMatchObject({ after: KNOWN_AFTER_APPLY });
    expect(JSON.stringify(vm)).not.toContain(PASSWORD);
  });

  it("calls out a replacement and the attribute that forces it", () => {
    const [vm] = plannedChange(shown("replace")).resources;
    expect(vm).toMatchObject({ actions: ["delete", "create"], replace: true, replacedBy: ["node_name"] });
    expect(vm!.changes).toContainEqual({ path: "node_name", action: "change", before: "pve1", after: "pve2" });
    expect(JSON.stringify(vm)).not.toContain(PASSWORD);
  });

  it("masks values tofu marks sensitive and values under secret-looking paths", () => {
    const changes = diffValues({ a: { x: "old" }, api_token: "t1" }, { a: { x: "new" }, api_token: "t2" }, { afterSensitive: { a: { x: true } } });
    expect(changes).toEqual([
      { path: "a.x", action: "change", before: "old", after: SENSITIVE },
      { path: "api_token", action: "change", before: SENSITIVE, after: SENSITIVE },
    ]);
  });

  it("keeps list indexes where a list holds more than one block", () => {
    const changes = diffValues({ disk: [{ size: 8 }, { size: 10 }] }, { disk: [{ size: 8 }, { size: 20 }, { size: 5 }] }, {});
    expect(changes).toEqual([
      { path: "disk[1].size", action: "change", before: 10, after: 20 },
      { path: "disk[2].size", action: "add", before: null, after: 5 },
    ]);
  });

  it("skips resources with nothing to do and a plan with no resource changes", () => {
    expect(plannedChange({ resource_changes: [{ address: "x.y", change: { actions: ["no-op"] } }] })).toEqual({ resources: [] });
    expect(plannedChange({})).toEqual({ resources: [] });
  });
});

describe("desiredChange", () => {
  const stack = (memory: number, version = "0.111.1") => ({
    terraform: { required_providers: { proxmox: { version } } },
    resource: { proxmox_virtual_environment_vm: { vm: { memory: { dedicated: memory }, node_name: "pve1" } } },
  });

  it("names VM attributes relative to the VM, and anything else by its full path", () => {
    expect(desiredChange(stack(2048), stack(3072, "0.112.0"), VM).changes).toEqual([
      { path: "memory.dedicated", action: "change", before: 2048, after: 3072 },
      { path: "terraform.required_providers.proxmox.version", action: "change", before: "0.111.1", after: "0.112.0" },
    ]);
  });

  it("is everything added for a first run, and nothing for equal stacks", () => {
    expect(desiredChange(undefined, stack(2048), VM).changes.map((c) => c.action)).toEqual(["add", "add", "add"]);
    expect(desiredChange(stack(2048), stack(2048), VM).changes).toEqual([]);
  });
});

describe("changeLines", () => {
  it("writes known changes first, at most the limit", () => {
    const lines = changeLines(
      [
        { path: "ipv4_addresses", action: "change", before: ["10.0.0.2"], after: KNOWN_AFTER_APPLY },
        { path: "memory.dedicated", action: "change", before: 2048, after: 3072 },
      ],
      1,
    );
    expect(lines).toEqual(["memory.dedicated: 2048 → 3072"]);
  });
});
