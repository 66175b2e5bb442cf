/**
 * Password login as Proxmox does it: POST /access/ticket gives a PVEAuthCookie ticket and a
 * CSRFPreventionToken; the ticket authenticates every route, writes also need the CSRF header;
 * failures answer with Proxmox's 401 texts; unknown routes are recorded with or without
 * credentials. The real provider logging in with username/password closes the loop.
 */
import { rm } from "node:fs/promises";
import { Agent, request } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { takeUnknownRoutes } from "../support/unknown-route-guard.js";
import { explain, initWorkdir, run, startTestSimulator, tfConfig, type TestSim } from "./harness.js";

const PASSWORD = "correct horse battery staple";
const SEED = {
  nodes: [{ name: "pve1" }],
  storages: [{ id: "local-lvm", type: "lvmthin" as const, content: ["images" as const] }],
  users: [{ id: "root@pam", password: PASSWORD }, { id: "ops@pve", password: "ops-password", enable: false }],
};

interface Answer {
  status: number;
  statusMessage: string;
  body: { data?: unknown; message?: string } | undefined;
}

function call(t: TestSim, method: string, apiPath: string, options: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> {
  const payload = options.form ? new URLSearchParams(options.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(`api2/json${apiPath}`, t.sim.url),
      {
        method,
        agent: new Agent({ rejectUnauthorized: false }),
        headers: { ...(payload ? { "Content-Type": "application/x-www-form-urlencoded" } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? "", body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function login(t: TestSim, username: string, password: string) {
  return call(t, "POST", "/access/ticket", { form: { username, password } });
}

describe("ticket login", () => {
  let t: TestSim;
  const dirs: string[] = [];
  guardUnknownRoutes(() => [t?.sim]);

  beforeAll(async () => {
    t = await startTestSimulator({ config: SEED });
  });

  afterEach(async () => {
    await t.sim.idle();
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("issues a ticket and CSRF token for the right password only", async () => {
    const wrong = await login(t, "root@pam", "nope");
    expect([wrong.status, wrong.statusMessage]).toEqual([401, "authentication failure"]);
    const disabled = await login(t, "ops@pve", "ops-password");
    expect([disabled.status, disabled.statusMessage]).toEqual([401, "authentication failure"]);
    const unknown = await login(t, "ghost@pam", PASSWORD);
    expect(unknown.status).toBe(401);

    const ok = await call(t, "POST", "/access/ticket", { form: { username: "root", realm: "pam", password: PASSWORD } });
    expect(ok.status).toBe(200);
    const session = ok.body?.data as { username: string; ticket: string; CSRFPreventionToken: string; cap: Record<string, unknown> };
    expect(session.username).toBe("root@pam");
    expect(session.ticket).toMatch(/^PVE:root@pam:[0-9A-F]{8}::\S+$/);
    expect(session.CSRFPreventionToken).toMatch(/^[0-9A-F]{8}:\S+$/);
    expect(session.cap).toHaveProperty("vms");

    // The ticket itself renews the session when given as the password.
    const renewed = await login(t, "root@pam", session.ticket);
    expect(renewed.status).toBe(200);
  });

  it("authenticates any route by the cookie and wants the CSRF token on writes", async () => {
    const session = (await login(t, "root@pam", PASSWORD)).body?.data as { ticket: string; CSRFPreventionToken: string };
    const cookie = { Cookie: `PVEAuthCookie=${encodeURIComponent(session.ticket)}` };

    const read = await call(t, "GET", "/nodes/pve1/qemu", { headers: cookie });
    expect([read.status, read.body?.data]).toEqual([200, []]);

    const create = { vmid: "150", name: "by-ticket", memory: "512" };
    const noCsrf = await call(t, "POST", "/nodes/pve1/qemu", { form: create, headers: cookie });
    expect([noCsrf.status, noCsrf.statusMessage]).toEqual([401, "Permission denied - invalid csrf token"]);
    const forged = await call(t, "POST", "/nodes/pve1/qemu", { form: create, headers: { ...cookie, CSRFPreventionToken: `${session.CSRFPreventionToken.slice(0, 9)}AAAA` } });
    expect(forged.status).toBe(401);
    const written = await call(t, "POST", "/nodes/pve1/qemu", { form: create, headers: { ...cookie, CSRFPreventionToken: session.CSRFPreventionToken } });
    expect(written.status, JSON.stringify(written.body)).toBe(200);
    expect(String(written.body?.data)).toMatch(/:qmcreate:150:root@pam:$/);

    const tampered = await call(t, "GET", "/version", { headers: { Cookie: `PVEAuthCookie=${encodeURIComponent(session.ticket.replace("root@pam", "ops@pve"))}` } });
    expect([tampered.status, tampered.statusMessage]).toEqual([401, "Authentication failed!"]);
    const none = await call(t, "GET", "/version");
    expect([none.status, none.statusMessage]).toEqual([401, "No ticket"]);
    // The login page's dummy needs no credentials.
    expect((await call(t, "GET", "/access/ticket")).status).toBe(200);
  });

  it("records an unknown route whether or not the caller is authenticated", async () => {
    const anonymous = await call(t, "GET", "/nodes/pve1/no-such-thing");
    expect(anonymous.status).toBe(401);
    const withToken = await call(t, "GET", "/nodes/pve1/no-such-thing", { headers: { Authorization: `PVEAPIToken=${t.sim.token}` } });
    expect(withToken.status).toBe(501);
    expect(takeUnknownRoutes(t.sim)).toEqual([
      expect.objectContaining({ method: "GET", path: "/nodes/pve1/no-such-thing", authenticated: false }),
      expect.objectContaining({ method: "GET", path: "/nodes/pve1/no-such-thing", authenticated: true }),
    ]);
  });

  it("lets the real provider work with username and password", async () => {
    const env = { PROXMOX_VE_ENDPOINT: t.sim.url, PROXMOX_VE_USERNAME: "root@pam", PROXMOX_VE_PASSWORD: PASSWORD, PROXMOX_VE_INSECURE: "true" };
    const vm = { node_name: "pve1", vm_id: 160, name: "password-login", started: false, memory: { dedicated: 512 }, disk: [{ datastore_id: "local-lvm", interface: "scsi0", size: 1 }] };
    const dir = await initWorkdir(tfConfig({ vm }), env);
    dirs.push(dir);
    const apply = await run(dir, ["apply", "-auto-approve"], env);
    expect(apply.code, explain(apply)).toBe(0);
    expect(t.sim.state().vms[160]?.conf.name).toBe("password-login");
    expect(t.sim.calls().map((c) => `${c.method} ${c.route}`)).toContain("POST /access/ticket");
  });
});
