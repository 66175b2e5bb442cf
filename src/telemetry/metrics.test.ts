import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";

describe("Metrics", () => {
  it("keeps its own registry and exposes the ptm_ series", async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.setBuildInfo({ version: "1.2.3", tool: "tofu 1.12.6", provider: "0.111.1" });
    m.observeReconcile("success", 0.02);
    m.observeRun("apply", "succeeded", 12);
    m.observeTofuPhase("plan", "ok", 3);
    m.observeQueueWait(0.5);
    m.setQueueDepthSource(async () => ({ waiting: 2, active: 1, delayed: 0, prioritized: 0 }));
    m.setVmSource(() => [{ status: { state: "Running" } }, { status: { state: "Running" } }, {}]);
    m.setSseClientsSource(() => 7);
    const text = await m.text();
    expect(text).toContain('ptm_build_info{version="1.2.3",tool="tofu 1.12.6",provider="0.111.1"} 1');
    expect(text).toContain('ptm_reconcile_total{result="success"} 1');
    expect(text).toContain('ptm_runs_total{action="apply",result="succeeded"} 1');
    expect(text).toContain('ptm_run_duration_seconds_sum{action="apply",result="succeeded"} 12');
    expect(text).toContain('ptm_tofu_phase_duration_seconds_count{phase="plan",result="ok"} 1');
    expect(text).toContain("ptm_queue_wait_seconds_count 1");
    expect(text).toContain('ptm_queue_jobs{state="waiting"} 2');
    expect(text).toContain('ptm_vms{state="Running"} 2');
    expect(text).toContain('ptm_vms{state="Pending"} 1');
    expect(text).toContain('ptm_vms{state="Failed"} 0');
    expect(text).toContain("ptm_sse_clients 7");
    expect(text).not.toMatch(/^process_/m);
  });

  it("answers without the queue depth when Redis does not", async () => {
    const m = new Metrics({ defaultMetrics: false, collectTimeoutMs: 20 });
    m.setQueueDepthSource(() => new Promise(() => undefined));
    const text = await m.text();
    expect(text).toContain("# TYPE ptm_queue_jobs gauge");
    expect(text).not.toMatch(/^ptm_queue_jobs\{/m);
  });

  it("two instances do not share series", async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.observeRun("apply", "failed", 1);
    expect(await b.text()).not.toContain('ptm_runs_total{action="apply",result="failed"}');
  });
});
