/**
 * The simulator's API behaviour that users and the provider can tell, exercised directly over
 * HTTPS: error shapes, tasks, locks, pending changes, the guest agent, faults, persistence and
 * the CLI.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { startSimulator } from "../../src/simulator/index.js";
import { repoRoot } from "../support/paths.js";
import { api, expectNoUnknownRoutes, startTestSimulator, waitTask, type TestSim } from "./harness.js";

type Body = { data: unknown; message?: string; errors?: Record<string, string> };
const data = <T>(res: { body: unknown }) => (res.body as { data: T }).data;
const UPID_RE = /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:\w+:\d*:root@pam!pve-sim:$/;

async function clone(t: TestSim, newid: number, extra: Record<string, string> = {}) {
  const res = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: String(newid), ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return data<string>(res);
}

async function okTask(t: TestSim, upid: string) {
  expect(await waitTask(t, "pve1", upid)).toMatchObject({ status: "stopped", exitstatus: "OK" });
}

describe("simulator API", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);

  beforeAll(async () => {
    t = await startTestSimulator({ token: "root@pam!pve-sim=s3cret-value" });
  });

  afterEach(async () => {
    await t.sim.idle();
    expectNoUnknownRoutes(t);
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
  });

  it("answers with Proxmox's envelopes and error shapes", async () => {
    const version = await api(t, "GET", "/version");
    expect(version.body).toEqual({ data: { version: "9.2.11", release: "9.2", repoid: expect.any(String) } });

    const noAuth = await api(t, "GET", "/version", undefined, "");
    expect([noAuth.status, noAuth.statusMessage]).toEqual([401, "No ticket"]);
    const badAuth = await api(t, "GET", "/version", undefined, "root@pam!pve-sim=wrong");
    expect([badAuth.status, badAuth.statusMessage]).toEqual([401, "Authentication failed!"]);

    const badParam = await api(t, "PUT", "/nodes/pve1/qemu/9000/config", { cores: "many", bogus: "1" });
    expect(badParam.status).toBe(400);
    expect(badParam.statusMessage).toBe("Parameter verification failed.");
    expect((badParam.body as Body).errors).toEqual({
      cores: "type check ('integer') failed - got 'many'",
      bogus: "property is not defined in schema and the schema does not allow additional properties",
    });

    const badNet = await api(t, "PUT", "/nodes/pve1/qemu/9000/config", { net1: "virtio,bridge=vmbr0,tag=5000" });
    expect(badNet.status).toBe(400);
    expect((badNet.body as Body).errors?.net1).toContain("value must have a maximum value of 4094");

    const missing = await api(t, "GET", "/nodes/pve1/qemu/4711/config");
    expect(missing.status).toBe(500);
    expect(missing.statusMessage).toBe("Configuration file 'nodes/pve1/qemu-server/4711.conf' does not exist");
    expect(missing.body).toEqual({ data: null, message: "Configuration file 'nodes/pve1/qemu-server/4711.conf' does not exist\n" });

    const node = await api(t, "GET", "/nodes/pve9/qemu");
    expect(node.statusMessage).toMatch(/^hostname lookup 'pve9' failed/);
  });

  it("refuses a taken vmid, an unknown storage and a full storage", async () => {
    const taken = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "9000" });
    expect([taken.status, taken.statusMessage]).toEqual([500, "unable to create VM 9000: config file already exists"]);
    const nextTaken = await api(t, "GET", "/cluster/nextid?vmid=9000");
    expect(nextTaken.status).toBe(400);
    expect((nextTaken.body as Body).errors).toEqual({ vmid: "VM 9000 already exists" });
    expect(data(await api(t, "GET", "/cluster/nextid"))).toBe("100");

    const badStorage = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "101", full: "1", storage: "nope" });
    expect([badStorage.status, badStorage.statusMessage]).toEqual([500, "storage 'nope' does not exist"]);

    await okTask(t, await clone(t, 101, { full: "1" }));
    const full = await api(t, "PUT", "/nodes/pve1/qemu/101/config", { scsi1: "local-lvm:600" });
    expect(full.status).toBe(500);
    expect(full.statusMessage).toMatch(/^lvcreate 'pve\/vm-101-disk-1' error: .*insufficient free space/);
    expect(t.sim.state().vms[101]!.conf.scsi1).toBeUndefined();
  });

  it("runs tasks with real UPIDs, status, exit status and logs", async () => {
    const upid = await clone(t, 102, { name: "task-test" });
    expect(upid).toMatch(UPID_RE);
    expect(upid).toContain(":qmclone:9000:");
    await okTask(t, upid);
    // the provider path-escapes '!' and ':' in the UPID; both spellings work
    const escaped = upid.replace(/!/g, "%21").replace(/:/g, "%3A");
    const status = await api(t, "GET", `/nodes/pve1/tasks/${escaped}/status`);
    expect(data(status)).toMatchObject({ upid, status: "stopped", exitstatus: "OK", type: "qmclone", id: "9000", user: "root@pam!pve-sim" });
    const log = data<Array<{ n: number; t: string }>>(await api(t, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`));
    expect(log[0]).toEqual({ n: 1, t: "create linked clone of VM 9000 with ID 102" });
    expect(log.at(-1)?.t).toBe("TASK OK");

    const failing = data<string>(await api(t, "POST", "/nodes/pve1/qemu/9000/status/start"));
    expect(await waitTask(t, "pve1", failing)).toMatchObject({ exitstatus: "you can't start a vm if it's a template" });
    const failLog = data<Array<{ t: string }>>(await api(t, "GET", `/nodes/pve1/tasks/${encodeURIComponent(failing)}/log`));
    expect(failLog.at(-1)?.t).toBe("TASK ERROR: you can't start a vm if it's a template");
  });

  it("holds config locks: lock timeouts, clone locks and concurrent clones to one vmid", async () => {
    t.sim.setBehaviour({ lockWaitMs: 300, taskDurations: { qmconfig: 700, qmclone: 700 } });
    await okTask(t, await clone(t, 103));
    const slow = await api(t, "POST", "/nodes/pve1/qemu/103/config", { description: "slow" });
    const blocked = await api(t, "PUT", "/nodes/pve1/qemu/103/config", { cores: "4" });
    expect([blocked.status, blocked.statusMessage]).toEqual([500, "can't lock file '/var/lock/qemu-server/lock-103.conf' - got timeout"]);
    await okTask(t, data<string>(slow));

    // while a clone runs, the new VM exists with lock=clone and refuses changes
    const running = await clone(t, 104);
    const current = data<Record<string, unknown>>(await api(t, "GET", "/nodes/pve1/qemu/104/status/current"));
    expect(current.lock).toBe("clone");
    const locked = await api(t, "PUT", "/nodes/pve1/qemu/104/config", { cores: "4" });
    expect([locked.status, locked.statusMessage]).toEqual([500, "VM is locked (clone)"]);
    const again = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "104" });
    expect(again.statusMessage).toBe("unable to create VM 104: config file already exists");
    await okTask(t, running);

    // two clones sent together to one free vmid: one wins, the other waits for the target's
    // lock and gives up with Proxmox's message
    const [a, b] = await Promise.all([
      api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "105" }),
      api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "105" }),
    ]);
    const results = await Promise.all(
      [a, b].map(async (r) => (r.status === 200 ? (await waitTask(t, "pve1", data<string>(r))).exitstatus : r.statusMessage)),
    );
    expect(results).toContain("OK");
    expect(results.filter((r) => r !== "OK")[0]).toMatch(
      /^(can't lock file '\/var\/lock\/qemu-server\/lock-105\.conf' - got timeout|unable to create VM 105: config file already exists)$/,
    );
  });

  it("keeps pending changes of a running VM until it restarts", async () => {
    await okTask(t, await clone(t, 106, { full: "1" }));
    await okTask(t, data<string>(await api(t, "POST", "/nodes/pve1/qemu/106/status/start")));
    expect((await api(t, "PUT", "/nodes/pve1/qemu/106/config", { cores: "4", description: "now", cipassword: "hunter2" })).status).toBe(200);
    const vm = t.sim.state().vms[106]!;
    expect(vm.conf.description).toBe("now"); // fast-plugged
    expect(vm.conf.cores).toBe("2");
    expect(vm.pending.cores).toBe("4");
    expect(vm.conf.cipassword).toMatch(/^\$5\$/);
    const merged = data<Record<string, unknown>>(await api(t, "GET", "/nodes/pve1/qemu/106/config"));
    expect(merged.cores).toBe(4);
    expect(merged.cipassword).toBe("**********");
    const cur = data<Record<string, unknown>>(await api(t, "GET", "/nodes/pve1/qemu/106/config?current=1"));
    expect(cur.cores).toBe(2);
    const pending = data<Array<Record<string, unknown>>>(await api(t, "GET", "/nodes/pve1/qemu/106/pending"));
    expect(pending.find((p) => p.key === "cores")).toEqual({ key: "cores", value: 2, pending: 4 });
    await okTask(t, data<string>(await api(t, "POST", "/nodes/pve1/qemu/106/status/reboot")));
    expect(vm.conf.cores).toBe("4");
    expect(vm.pending).toEqual({});
    expect(JSON.stringify(t.logs)).not.toContain("hunter2");
    const digest = data<{ digest: string }>(await api(t, "GET", "/nodes/pve1/qemu/106/config")).digest;
    const stale = await api(t, "PUT", "/nodes/pve1/qemu/106/config", { name: "x", digest: "0".repeat(40) });
    expect(stale.statusMessage).toBe("checksum mismatch (file change by other user?)");
    expect((await api(t, "PUT", "/nodes/pve1/qemu/106/config", { name: "x", digest })).status).toBe(200);
  });

  it("answers the guest agent after the boot delay with static or DHCP-style addresses", async () => {
    t.sim.setBehaviour({ bootDelayMs: 300 });
    await okTask(t, await clone(t, 107, { full: "1" }));
    const agentPath = "/nodes/pve1/qemu/107/agent/network-get-interfaces";
    expect((await api(t, "GET", agentPath)).statusMessage).toBe("VM 107 is not running");
    await api(t, "PUT", "/nodes/pve1/qemu/107/config", { ipconfig0: "ip=10.1.2.3/24,gw=10.1.2.1", net1: "virtio,bridge=vmbr0,tag=20" });
    await okTask(t, data<string>(await api(t, "POST", "/nodes/pve1/qemu/107/status/start")));
    // The clock alone moves (timers stay real): the agent answers exactly once the boot delay is over.
    const startedAt = t.sim.state().vms[107]!.startedAt!;
    vi.useFakeTimers({ toFake: ["Date"], now: startedAt + 299 });
    try {
      expect((await api(t, "GET", agentPath)).statusMessage).toBe("QEMU guest agent is not running");
      vi.setSystemTime(startedAt + 300);
      const result = data<{ result: Array<{ name: string; "hardware-address": string; "ip-addresses": Array<{ "ip-address": string }> }> }>(
        await api(t, "GET", agentPath),
      ).result;
      expect(result.map((i) => i.name)).toEqual(["lo", "eth0", "eth1"]);
      expect(result[1]!["ip-addresses"][0]!["ip-address"]).toBe("10.1.2.3");
      const dhcp = result[2]!["ip-addresses"][0]!["ip-address"];
      expect(dhcp).toMatch(/^10\.20\.\d+\.\d+$/);
      // deterministic: asking again gives the same address
      const again = data<{ result: Array<{ "ip-addresses": Array<{ "ip-address": string }> }> }>(await api(t, "GET", agentPath)).result;
      expect(again[2]!["ip-addresses"][0]!["ip-address"]).toBe(dhcp);
      // removing the agent from a running VM is a pending change; after a restart it is gone
      await api(t, "PUT", "/nodes/pve1/qemu/107/config", { delete: "agent" });
      expect((await api(t, "GET", agentPath)).status).toBe(200);
      await okTask(t, data<string>(await api(t, "POST", "/nodes/pve1/qemu/107/status/reboot")));
      expect((await api(t, "GET", agentPath)).statusMessage).toBe("No QEMU guest agent configured");
    } finally {
      vi.useRealTimers();
    }
  });

  it("injects faults, counts each one that fires, and resets", async () => {
    const none = { delayedRequests: 0, http500: 0, failedTasks: 0, lockTimeouts: 0, connectionResets: 0 };
    expect(t.sim.injectedFaults()).toEqual(none);
    t.sim.setFaults({ http500Rate: 1 });
    expect((await api(t, "GET", "/version")).status).toBe(500);
    expect(t.sim.injectedFaults()).toEqual({ ...none, http500: 1 });
    t.sim.setFaults({ http500Rate: 0, taskFailureRate: 1 });
    const failed = await waitTask(t, "pve1", await clone(t, 108));
    expect(failed.exitstatus).toBe("clone failed: qmclone failed: simulated failure (fault injection)");
    expect(t.sim.state().vms[108]).toBeUndefined(); // rolled back like Proxmox does
    expect(t.sim.injectedFaults()).toEqual({ ...none, http500: 1, failedTasks: 1 });
    t.sim.setFaults({ taskFailureRate: 0, lockTimeoutVmIds: [9000] });
    const forced = await waitTask(t, "pve1", await clone(t, 109));
    expect(forced.exitstatus).toBe("can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout");
    expect(t.sim.injectedFaults()).toEqual({ ...none, http500: 1, failedTasks: 1, lockTimeouts: 1 });
    // Latency is shown by its count, not by a clock: two requests, two delays.
    t.sim.setFaults({ lockTimeoutVmIds: [], latencyMs: 20 });
    expect((await api(t, "GET", "/version")).status).toBe(200);
    expect((await api(t, "GET", "/nodes")).status).toBe(200);
    expect(t.sim.injectedFaults()).toEqual({ ...none, delayedRequests: 2, http500: 1, failedTasks: 1, lockTimeouts: 1 });
    t.sim.setFaults({ latencyMs: 0 });

    // the same controls and counts over HTTP, guarded by the token
    const unauth = await fetchSim(t, "GET", "state", undefined, "");
    expect(unauth.status).toBe(401);
    expect((await fetchSim(t, "GET", "injected-faults")).body).toEqual({ data: { ...none, delayedRequests: 2, http500: 1, failedTasks: 1, lockTimeouts: 1 } });
    const put = await fetchSim(t, "PUT", "faults", { latencyMs: 0, http500Rate: 2 });
    expect(put.status).toBe(400);
    expect((await fetchSim(t, "POST", "reset")).status).toBe(200);
    const dump = (await fetchSim(t, "GET", "state")).body as { data: { faults: { latencyMs: number }; injectedFaults: object; state: { vms: object } } };
    expect(dump.data.faults.latencyMs).toBe(0);
    expect(dump.data.injectedFaults).toEqual(none);
    expect(Object.keys(dump.data.state.vms)).toEqual(["9000"]);
  });

  it("resets the connection of the Nth matching request, once; after handling, the request took effect", async () => {
    t.sim.setFaults({ resetConnection: { method: "POST", route: "/nodes/{node}/qemu/{vmid}/clone", nth: 2, afterHandling: true } });
    await okTask(t, await clone(t, 110));
    await expect(api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "111" })).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(t.sim.injectedFaults().connectionResets).toBe(1);
    await t.sim.idle();
    // The clone ran although its caller never learnt the task.
    expect(t.sim.state().vms[111]?.conf.lock).toBeUndefined();
    expect(t.sim.context.tasks.list().filter((task) => task.type === "qmclone" && task.id === "9000")).toHaveLength(2);
    await okTask(t, await clone(t, 112)); // the rule fired once
    // Before handling: the request never happened.
    t.sim.setFaults({ resetConnection: { method: "POST", route: "/nodes/{node}/qemu/{vmid}/clone", nth: 1, afterHandling: false } });
    await expect(api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "113" })).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(t.sim.injectedFaults().connectionResets).toBe(2);
    expect(t.sim.state().vms[113]).toBeUndefined();
  });

  it("persists state to a file and restores it after a restart", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "pve-sim-state-"));
    const stateFile = path.join(dir, "state.json");
    try {
      const first = await startSimulator({ stateFile, unauthorizedDelayMs: 0 });
      const t1: TestSim = { sim: first, logs: [], env: {} };
      await okTask(t1, await clone(t1, 110, { name: "survivor" }));
      await first.close();
      const second = await startSimulator({ stateFile, unauthorizedDelayMs: 0 });
      try {
        expect(second.token).toBe(first.token);
        expect(second.state().vms[110]?.conf.name).toBe("survivor");
        const t2: TestSim = { sim: second, logs: [], env: {} };
        expect(data<{ name: string }>(await api(t2, "GET", "/nodes/pve1/qemu/110/config")).name).toBe("survivor");
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("starts from the CLI and prints the PVE_SIM_* lines", async () => {
    // its own process group, so the whole npm -> tsx -> node chain can be stopped together
    const child = spawn("npm", ["run", "--silent", "simulator", "--", "--port", "0", "--quiet"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const lines = await new Promise<Record<string, string>>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`no PVE_SIM lines: ${out}`)), 30_000);
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const found = Object.fromEntries([...out.matchAll(/^(PVE_SIM_\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
          if (found.PVE_SIM_FINGERPRINT) {
            clearTimeout(timer);
            resolve(found as Record<string, string>);
          }
        });
      });
      expect(lines.PVE_SIM_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
      expect(lines.PVE_SIM_TOKEN).toMatch(/^root@pam!pve-sim=[0-9a-f-]{36}$/);
      expect(lines.PVE_SIM_FINGERPRINT).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      const cli: TestSim = { sim: { url: lines.PVE_SIM_URL, token: lines.PVE_SIM_TOKEN } as TestSim["sim"], logs: [], env: {} };
      expect(data<{ version: string }>(await api(cli, "GET", "/version")).version).toBe("9.2.11");
    } finally {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
      await exited;
    }
  });
});

async function fetchSim(t: TestSim, method: string, name: string, body?: unknown, token = t.sim.token) {
  const { Agent, request } = await import("node:https");
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      new URL(`_sim/${name}`, t.sim.url),
      {
        method,
        agent: new Agent({ rejectUnauthorized: false }),
        headers: { Authorization: `PVEAPIToken=${token}`, ...(payload ? { "Content-Type": "application/json" } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
