import { describe, expect, it } from "vitest";
import { Router } from "./router.js";
import { registerAccessRoutes } from "./routes/access.js";
import { registerAccessControlRoutes } from "./routes/access-control.js";
import { registerAgentRoutes } from "./routes/agent.js";
import { registerClusterRoutes } from "./routes/cluster.js";
import { registerMappingRoutes } from "./routes/mapping.js";
import { registerNodeRoutes } from "./routes/nodes.js";
import { registerQemuDiskRoutes } from "./routes/qemu-disks.js";
import { registerQemuMigrateRoutes } from "./routes/qemu-migrate.js";
import { registerHaRoutes } from "./routes/ha.js";
import { registerQemuRoutes } from "./routes/qemu.js";
import { registerStorageRoutes } from "./routes/storage.js";
import { DECLARED_PERMISSIONS } from "./route-permissions.js";
import { BUILTIN_ROLES } from "./privileges.js";

function routes(): string[] {
  const router = new Router();
  for (const register of [registerAccessRoutes, registerAccessControlRoutes, registerClusterRoutes, registerMappingRoutes, registerNodeRoutes, registerStorageRoutes, registerQemuRoutes, registerQemuDiskRoutes, registerQemuMigrateRoutes, registerHaRoutes, registerAgentRoutes]) register(router);
  return router.list().map((r) => `${r.method} ${r.template}`);
}

describe("declared permissions", () => {
  it("declare a permission for every route (a route without one is root@pam's alone, as in Proxmox)", () => {
    expect(routes().filter((r) => !DECLARED_PERMISSIONS[r])).toEqual([]);
  });
});

describe("built-in roles", () => {
  it("derive from the privilege tiers as pve-access-control's create_roles does", () => {
    expect(BUILTIN_ROLES.PVETemplateUser).toEqual(["VM.Audit", "VM.Clone"]);
    expect(BUILTIN_ROLES.PVEVMAdmin).toContain("VM.Allocate");
    expect(BUILTIN_ROLES.PVEVMAdmin).not.toContain("Datastore.AllocateSpace");
    expect(BUILTIN_ROLES.PVEAdmin).not.toContain("Mapping.Modify");
    expect(BUILTIN_ROLES.PVEAdmin).not.toContain("Sys.Modify");
    expect(BUILTIN_ROLES.Administrator).toContain("Permissions.Modify");
    expect(BUILTIN_ROLES.PVEAuditor).toEqual(["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"]);
    expect(BUILTIN_ROLES.NoAccess).toEqual([]);
  });
});
