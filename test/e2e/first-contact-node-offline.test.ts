/**
 * A node goes offline under VMs that are Ready. They stay Ready (their drift checks wait quietly);
 * a change waits, saying the node is offline, with no run that fails or retries in silence; the
 * node back, the change applies by itself. And a run that meets the offline node before any check
 * saw it (Proxmox answers 595) is classified as such, not retried blindly, and makes the
 * controller check the connection again. Real apiserver, tofu, provider and simulator.
 */
import { afterAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/api/conditions.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import type { OperatorHarness } from "../support/operator-harness.js";
import { waitFor } from "../support/wait.js";
import { condition, getConnection, ShownTimes, simCall, waitForConnection } from "./first-contact-support.js";

const shown = new ShownTimes();
afterAll(() => shown.print("first contact (node offline)"));

const nodeOnline = (h: OperatorHarness, online: boolean) => simCall(h, "PUT", "/_sim/nodes/pve1", { online, ...(online ? {} : { error: "No route to host" }) });
const pve1Online = async (h: OperatorHarness) => (await getConnection(h, "pve")).status?.inventory?.nodes.find((n) => n.name === "pve1")?.online;

/** Waits until `predicate` holds (a signal, polled; never a fixed pause). */
const until = (what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 60_000) => waitFor(what, predicate, timeoutMs);

describe("a node goes offline while VMs are Ready (connections checked every 2 s)", () => {
  const DRIFT_S = 30;
  const h = useOperatorHarness({ env: { PTM_CONNECTION_CHECK_INTERVAL: "2s", PTM_DRIFT_INTERVAL: `${DRIFT_S}s` } });

  it("keeps them Ready, holds their drift checks, makes a change wait saying so, and applies it once the node is back", async () => {
    await h.apply(proxmoxVm("steady", { started: false }));
    await h.apply(proxmoxVm("changing", { started: false }));
    await h.waitForReady("steady", 1, 180_000);
    await h.waitForReady("changing", 1, 180_000);
    // Start from a quiet moment: no run queued or running, and no drift check due before the next
    // connection check (2 s) has seen the node go offline (the gate decides on what checks saw).
    const driftDueAt = async () => Math.min(...(await Promise.all(["steady", "changing"].map(async (n) => Date.parse((await h.getVm(n))!.status!.lastRun!.finishedAt!) + DRIFT_S * 1000))));
    await until(
      "no run is queued or running and no drift check is due for 10 s",
      async () => (await h.runJobState("steady")) === undefined && (await h.runJobState("changing")) === undefined && (await driftDueAt()) - Date.now() > 10_000,
      DRIFT_S * 1000 * 4,
    );

    const offlineAt = Date.now();
    await nodeOnline(h, false);
    await until("the connection check sees pve1 offline", async () => (await pve1Online(h)) === false, 30_000);
    shown.record("node offline (connection)", "inventory: offline", offlineAt);
    const pxc = await getConnection(h, "pve");
    // One offline node does not make the connection unusable: the others may still take VMs.
    expect(condition(pxc, "Ready")).toMatchObject({ status: "True", reason: Reason.Connected });
    expect(condition(pxc, "Ready")?.message).toContain("0 of 1 nodes online");

    const runsBefore = { steady: (await h.runsOf("steady")).length, changing: (await h.runsOf("changing")).length };
    // Both drift checks come due while the node is offline; the controller looks at each after that.
    const dueAt = Math.max(...(await Promise.all(["steady", "changing"].map(async (n) => Date.parse((await h.getVm(n))!.status!.lastRun!.finishedAt!))))) + DRIFT_S * 1000;
    let reconcilesAfterDue: number | undefined;
    await until(
      "both drift checks came due and the controller looked at the VMs again",
      async () => {
        if (Date.now() < dueAt) return false;
        reconcilesAfterDue ??= await h.reconcileCount();
        return (await h.reconcileCount()) >= reconcilesAfterDue + 2;
      },
      DRIFT_S * 1000 + 90_000,
    );
    for (const name of ["steady", "changing"] as const) {
      const vm = await h.getVm(name);
      expect(condition(vm, "Ready"), name).toMatchObject({ status: "True" });
      expect((await h.runsOf(name)).length, `${name}: no drift run against an offline node`).toBe(runsBefore[name]);
      expect(await h.runJobState(name)).toBeUndefined();
    }

    // A change waits, and says why.
    const changedAt = Date.now();
    await h.apply(proxmoxVm("changing", { started: false, memory: { dedicated: 3072 } }));
    const waiting = await h.waitForVm("changing", (v) => condition(v, "Ready")?.reason === Reason.NodeOffline && v?.metadata.generation === 2, 60_000);
    shown.record("node offline (a spec change)", Reason.NodeOffline, changedAt);
    expect(condition(waiting, "Ready")).toMatchObject({ status: "False", message: "node pve1 is offline: the VM waits until it is back" });
    expect(condition(waiting, "Stalled")?.status).not.toBe("True");
    expect((await h.runsOf("changing")).length, "no run was started against the offline node").toBe(runsBefore.changing);
    expect(await h.runJobState("changing")).toBeUndefined();
    expect(condition(await h.getVm("steady"), "Ready")?.status).toBe("True");

    await nodeOnline(h, true);
    const ready = await h.waitForReady("changing", 2, 120_000);
    expect(h.sim.state().vms[ready!.status!.vmId!]?.conf.memory).toBe("3072");
    expect(condition(await h.getVm("steady"), "Ready")?.status).toBe("True");
    // The change applied in place: still the two VMs made at the start, nothing re-created.
    expect(h.simVms().map((v) => v.vmid).sort()).toEqual([(await h.getVm("steady"))!.status!.vmId, ready!.status!.vmId].sort());
  });
});

describe("a run meets a node that went offline after the last connection check", () => {
  // The default interval (5 min): no periodic check sees the node go offline during this test.
  const h = useOperatorHarness({});

  it("names the offline node, does not retry blindly, re-checks the connection and applies once the node is back", async () => {
    await h.apply(proxmoxVm("unlucky", { started: false }));
    await h.waitForReady("unlucky", 1, 180_000);
    await until("no run is queued or running", async () => (await h.runJobState("unlucky")) === undefined, 120_000);
    expect(await pve1Online(h)).toBe(true);
    const runsBefore = (await h.runsOf("unlucky")).length;
    const checkedBefore = (await getConnection(h, "pve")).status?.lastCheckTime;

    await nodeOnline(h, false);
    const changedAt = Date.now();
    await h.apply(proxmoxVm("unlucky", { started: false, memory: { dedicated: 3072 } }));
    const failed = await h.waitForVm("unlucky", (v) => condition(v, "Ready")?.reason === Reason.NodeOffline && v?.metadata.generation === 2, 120_000);
    shown.record("node offline (run meets 595)", Reason.NodeOffline, changedAt);
    expect(condition(failed, "Ready")?.status).toBe("False");
    expect(condition(failed, "Stalled")?.status).not.toBe("True");
    // The run met the 595 (in tofu, or in the operator's own reads before it) and gave up at once:
    // at most one run record, failed, no retry pending, and an Event that says what Proxmox said.
    const runs = (await h.runsOf("unlucky")).slice(runsBefore);
    expect(runs.length).toBeLessThanOrEqual(1);
    expect(runs.every((r) => r.status === "failed")).toBe(true);
    await until("no retry of the run is pending", async () => (await h.runJobState("unlucky")) === undefined, 30_000);
    const events = JSON.parse(await kubectl(["get", "events", "-n", h.namespace, "--field-selector", "involvedObject.name=unlucky,reason=NodeOffline", "-o", "json"])) as { items: { message: string }[] };
    const fromRun = events.items.find((e) => /\b595\b/.test(e.message));
    expect(fromRun?.message).toContain("No route to host");
    expect(fromRun?.message).toContain("the operator checks the ProxmoxConnection again");
    expect(fromRun?.message).not.toContain("retrying with backoff");
    // The failure made the controller check the connection again, which found the node offline.
    await waitForConnection(h, "pve", (c) => c.status?.lastCheckTime !== checkedBefore && c.status?.inventory?.nodes.find((n) => n.name === "pve1")?.online === false, 120_000);
    await h.waitForVm("unlucky", (v) => condition(v, "Ready")?.message === "node pve1 is offline: the VM waits until it is back", 120_000);
    expect((await h.runsOf("unlucky")).length, "no further run while the node is offline").toBe(runsBefore + runs.length);

    await nodeOnline(h, true);
    const ready = await h.waitForReady("unlucky", 2, 180_000);
    expect(h.sim.state().vms[ready!.status!.vmId!]?.conf.memory).toBe("3072");
    expect(h.simVms().map((v) => v.vmid)).toEqual([ready!.status!.vmId]);
  });
});

describe("a drift check meets a node that went offline after the last connection check", () => {
  // Drift checks every 15 s; connections checked every 5 min (the default): the drift check is
  // what meets the offline node first.
  const h = useOperatorHarness({ env: { PTM_DRIFT_INTERVAL: "15s" } });

  it("leaves the VM Ready, says so in an Event, does not retry, and drift checks pass again once the node is back", async () => {
    await h.apply(proxmoxVm("watched", { started: false }));
    await h.waitForReady("watched", 1, 180_000);
    await until("no run is queued or running", async () => (await h.runJobState("watched")) === undefined, 120_000);
    const lastRunBefore = (await h.getVm("watched"))!.status!.lastRun!.id;

    const offlineAt = Date.now();
    await nodeOnline(h, false);
    // The next drift check runs (the connection check has not seen the node go offline) and meets the 595.
    const event = await until("an Event saying the drift check met the offline node", async () => {
      const events = JSON.parse(await kubectl(["get", "events", "-n", h.namespace, "--field-selector", "involvedObject.name=watched,reason=NodeOffline", "-o", "json"])) as { items: { message: string }[] };
      return events.items.find((e) => e.message.includes("this was a drift check")) !== undefined;
    }, 120_000);
    expect(event).toBe(true);
    shown.record("node offline (drift check meets 595)", "Event NodeOffline", offlineAt);
    const vm = await h.getVm("watched");
    expect(condition(vm, "Ready")?.status, "a drift check that cannot reach the node leaves Ready as it was").toBe("True");
    await until("no retry of the drift check is pending", async () => (await h.runJobState("watched")) === undefined, 30_000);
    const runs = await h.runsOf("watched");
    // At most the one failed drift run against the offline node (it may also fail before tofu starts).
    expect(runs.filter((r) => r.status === "failed").length).toBeLessThanOrEqual(1);

    await nodeOnline(h, true);
    const passed = await h.waitForVm("watched", (v) => v?.status?.lastRun?.id !== lastRunBefore && v?.status?.lastRun?.result !== "failed" && condition(v, "Ready")?.status === "True", 120_000);
    expect(condition(passed, "Ready")?.status).toBe("True");
    expect(h.simVms()).toHaveLength(1);
  });
});
