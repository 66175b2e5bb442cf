/**
 * Five concurrent `tofu apply`s cloning the same template while someone edits the template
 * (an async config update holding the template's config lock, as Proxmox does). Each apply
 * either succeeds or fails with Proxmox's lock-timeout message, and nothing is left half-made
 * without an error: every VM in the simulator belongs to an apply that succeeded or that
 * reported an error (tofu keeps such a VM as tainted), no VM keeps a lock, no volume is orphaned.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { tofu, type TofuResult } from "../support/tofu.js";
import {
  api,
  clonedVm,
  expectNoUnknownRoutes,
  initWorkdir,
  run,
  saveCalls,
  startTestSimulator,
  tfConfig,
  waitTask,
  type TestSim,
} from "./harness.js";

const LOCK_TIMEOUT = /can't lock file '\/var\/lock\/qemu-server\/lock-\d+\.conf' - got timeout/;

interface StateResource {
  mode: string;
  type: string;
  instances: Array<{ status?: string; attributes: { vm_id: number; name: string } }>;
}

describe("five concurrent applies cloning one template", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  const dirs: string[] = [];

  beforeAll(async () => {
    // clones take a while (disk copy); a template edit holds the template lock for longer
    // than a clone waits for it (1 s in Proxmox).
    t = await startTestSimulator({ taskDurations: { qmclone: 1200, qmconfig: 2200 } });
    for (let i = 1; i <= 5; i++) {
      const config = tfConfig({
        vm: clonedVm({
          name: `worker-${i}`,
          initialization: {
            datastore_id: "local-lvm",
            user_account: { username: "ubuntu" },
            ip_config: [{ ipv4: { address: `192.168.20.${10 + i}/24`, gateway: "192.168.20.1" } }],
          },
        }),
      });
      dirs.push(await initWorkdir(config, t.env));
    }
  });

  afterAll(async () => {
    await saveCalls(t, "concurrency");
    await t.sim.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("each apply succeeds or fails with the lock timeout; nothing half-made", async () => {
    // someone edits the template just as the applies start (slightly staggered, as a
    // controller's workers would start them); clones that reach Proxmox while the edit holds
    // the template's lock wait 1 s for it and fail, later ones go through.
    const edit = await api(t, "POST", "/nodes/pve1/qemu/9000/config", { description: "golden image, edited during clones" });
    const applies = dirs.map(async (dir, i) => {
      await new Promise((r) => setTimeout(r, i * 200));
      return run(dir, ["apply", "-auto-approve"], t.env);
    });
    expect(edit.status).toBe(200);
    const results: TofuResult[] = await Promise.all(applies);
    expect((await waitTask(t, "pve1", (edit.body as { data: string }).data)).exitstatus).toBe("OK");
    await t.sim.idle();

    const outcomes = results.map((r) => (r.code === 0 ? "ok" : LOCK_TIMEOUT.test(r.stdout + r.stderr) ? "lock-timeout" : "other"));
    console.log(`[concurrency] outcomes: ${JSON.stringify(outcomes)}`);
    results.forEach((r, i) => {
      expect(outcomes[i], `apply ${i + 1} failed for another reason:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`).not.toBe("other");
    });

    const owned = new Map<number, { name: string; ok: boolean }>();
    for (const [i, dir] of dirs.entries()) {
      const pulled = await tofu(dir, ["state", "pull"], t.env);
      const state = JSON.parse(pulled.stdout || "{}") as { resources?: StateResource[] };
      for (const res of state.resources ?? []) {
        for (const inst of res.instances) {
          expect(owned.has(inst.attributes.vm_id), `VM ${inst.attributes.vm_id} claimed twice`).toBe(false);
          owned.set(inst.attributes.vm_id, { name: inst.attributes.name, ok: results[i]!.code === 0 });
          // a VM kept after a failed apply is marked tainted: the error was reported
          if (results[i]!.code !== 0) expect(inst.status).toBe("tainted");
        }
      }
      if (results[i]!.code === 0) expect([...owned.values()].some((o) => o.name === `worker-${i + 1}`)).toBe(true);
    }

    const state = t.sim.state();
    const vms = Object.values(state.vms).filter((vm) => vm.vmid !== 9000);
    expect(vms.map((vm) => vm.vmid).sort()).toEqual([...owned.keys()].sort());
    for (const vm of vms) {
      expect(vm.conf.lock, `VM ${vm.vmid} is still locked`).toBeUndefined();
      expect(vm.conf.name).toBe(owned.get(vm.vmid)!.name);
      if (owned.get(vm.vmid)!.ok) {
        expect(vm.status).toBe("running");
        expect(vm.pending).toEqual({});
      }
    }
    const template = state.vms[9000]!;
    expect(template.conf.lock).toBeUndefined();
    expect(template.conf.description).toBe("golden image, edited during clones");
    for (const [name, vol] of Object.entries(state.storages["local-lvm"]!.volumes)) {
      expect(state.vms[vol.vmid ?? -1], `orphaned volume ${name}`).toBeDefined();
    }
    expect(Object.keys(t.sim.context.locks.snapshot())).toEqual([]);
    expectNoUnknownRoutes(t);
  });
});
