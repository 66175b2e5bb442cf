import { randomInt } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { runProcess, type ProcessSpec } from "./process.js";

// Plain `sh` stands in for tofu: these check spawning, output and stopping, not tofu.
function spec(script: string, overrides: Partial<ProcessSpec> = {}) {
  const lines: [string, string][] = [];
  const stops: string[] = [];
  const s: ProcessSpec = {
    command: "sh",
    args: ["-c", script],
    cwd: os.tmpdir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    timeoutMs: 10_000,
    killGraceMs: 300,
    onLine: (stream, line) => lines.push([stream, line]),
    onStop: (reason, step) => stops.push(`${reason}:${step}`),
    ...overrides,
  };
  return { s, lines, stops };
}

async function running(arg: string): Promise<boolean> {
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").includes(arg)) return true;
  }
  return false;
}

/** Polls `check` (up to 5 s) until it holds; returns whether it did. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe("runProcess", () => {
  it("hands over stdout and stderr lines in order, and the exit code", async () => {
    const { s, lines } = spec('echo one; echo two >&2; printf "three"; exit 3');
    const result = await runProcess(s);
    expect(result).toMatchObject({ exitCode: 3, signal: null, stopReason: undefined });
    expect(lines).toEqual([
      ["stdout", "one"],
      ["stderr", "two"],
      ["stdout", "three"],
    ]);
  });

  it("passes only the given environment", async () => {
    const { s, lines } = spec('echo "[$FOO][$HOME]"', { env: { PATH: process.env.PATH ?? "", FOO: "bar" } });
    await runProcess(s);
    expect(lines).toEqual([["stdout", "[bar][]"]]);
  });

  it("sends SIGTERM on timeout, then SIGKILL to the group after the grace period", async () => {
    const { s, stops } = spec("trap '' TERM; sleep 30", { timeoutMs: 200 });
    const result = await runProcess(s);
    // Killed, not finished: the 30 s sleep never got to exit by itself.
    expect(result).toMatchObject({ stopReason: "timeout", exitCode: null, signal: "SIGKILL" });
    expect(stops).toEqual(["timeout:SIGTERM", "timeout:SIGKILL"]);
  });

  it("lets a process that handles SIGTERM exit by itself, then clears its process group", async () => {
    const arg = `30.${randomInt(100_000, 999_999)}`;
    const { s, lines, stops } = spec(`sleep ${arg} & trap 'echo stopping; exit 0' TERM; echo started; wait`, { timeoutMs: 300 });
    const result = await runProcess(s);
    expect(result).toMatchObject({ stopReason: "timeout", exitCode: 0 });
    expect(stops).toEqual(["timeout:SIGTERM"]);
    expect(lines.map(([, l]) => l)).toEqual(["started", "stopping"]);
    // The background sleep did not get SIGTERM (only the leader does) but went with the group
    // (SIGKILL is sent before runProcess resolves; the kernel takes a moment to reap it).
    expect(await eventually(async () => !(await running(arg)))).toBe(true);
  });

  it("stops on abort", async () => {
    const controller = new AbortController();
    const { s } = spec("echo ready; sleep 30", { signal: controller.signal });
    s.onLine = () => controller.abort();
    await expect(runProcess(s)).resolves.toMatchObject({ stopReason: "aborted", signal: "SIGTERM" });
  });

  it("rejects when the binary cannot be started", async () => {
    const { s } = spec("", { command: "/nonexistent/tofu", args: [], parentDeathSignal: false });
    await expect(runProcess(s)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("leaves no output files behind", async () => {
    const scratch = await mkdtemp(`${os.tmpdir()}/ptm-scratch-`);
    try {
      const { s, lines } = spec("echo hi", { scratchDir: scratch });
      await runProcess(s);
      expect(lines).toEqual([["stdout", "hi"]]);
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
