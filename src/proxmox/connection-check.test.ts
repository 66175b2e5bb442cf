import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Reason } from "../api/conditions.js";
import { OPERATOR_ROLE_PRIVILEGES, requiredOn } from "../api/required-privileges.js";
import { DEFAULT_SEED } from "../simulator/seed.js";
import { startSimulator, type RunningSimulator } from "../simulator/index.js";
import { ProxmoxApiClient } from "./api-client.js";
import { checkConnection } from "./connection-check.js";

const ADMIN = { id: "root@pam!admin", secret: "7b7b7b7b-0000-4000-8000-000000000001", privsep: false };
const BARE = { id: "ptm@pve!bare", secret: "7b7b7b7b-0000-4000-8000-000000000002" };
const NO_CLONE = { id: "ptm@pve!noclone", secret: "7b7b7b7b-0000-4000-8000-000000000003" };

/**
 * The connection check against the simulator, which computes effective privileges the way
 * pve-access-control does (privilege separation, deeper ACL paths replacing inherited roles).
 */
describe("checkConnection: the token's privileges", () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({
      port: 0,
      taskDurationMs: 0,
      log: false,
      unauthorizedDelayMs: 0,
      config: {
        ...DEFAULT_SEED,
        tokens: [ADMIN, BARE, NO_CLONE],
        users: [{ id: "ptm@pve" }],
        roles: [
          { id: "PTMOperator", privs: [...OPERATOR_ROLE_PRIVILEGES] },
          { id: "PTMNoClone", privs: OPERATOR_ROLE_PRIVILEGES.filter((p) => p !== "VM.Clone") },
        ],
        acl: [
          { path: "/", role: "PTMOperator", user: "ptm@pve" },
          { path: "/", role: "PTMOperator", token: NO_CLONE.id },
          { path: "/vms/9000", role: "PTMNoClone", token: NO_CLONE.id },
        ],
      },
    });
  });
  afterAll(() => sim?.close());

  const check = (token: { id: string; secret: string }) =>
    checkConnection(new ProxmoxApiClient({ endpoint: sim.url, apiToken: `${token.id}=${token.secret}`, insecureSkipTLSVerify: true, timeoutMs: 10_000 }), sim.url, token.id);

  it("a privilege-separated token with no ACL of its own: PermissionDenied, naming each missing privilege with its path", async () => {
    const health = await check(BARE);
    expect(health.ready).toBe(false);
    expect(health.reason).toBe(Reason.PermissionDenied);
    expect(health.message).toContain(`token ${BARE.id} lacks ${requiredOn("/vms").join(", ")} on /vms; ${requiredOn("/nodes/{node}").join(", ")} on /nodes/pve1`);
    expect(health.message).toContain("Connecting your Proxmox");
    expect(health.missing["/vms"]).toEqual([...requiredOn("/vms")]);
    expect(health.message).not.toContain(BARE.secret);
  });

  it("a token lacking only VM.Clone on the template: Ready, with that one gap recorded for preflight", async () => {
    const health = await check(NO_CLONE);
    expect(health).toMatchObject({ ready: true, reason: Reason.Connected });
    expect(health.missing).toEqual({ "/vms/9000": ["VM.Clone"] });
  });

  it("root's token without privilege separation lacks nothing", async () => {
    const health = await check(ADMIN);
    expect(health).toMatchObject({ ready: true, reason: Reason.Connected, missing: {} });
    expect(health.inventory?.templates.map((t) => t.vmid)).toEqual([9000]);
  });
});
