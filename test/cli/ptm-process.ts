import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { platformEnv } from "../support/platform-env.js";
import { repoRoot } from "../support/paths.js";

export interface PtmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The executable users run (bin/kubectl-ptm), as a child process with only the environment given. */
export class PtmProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<PtmResult>;
  private readonly waiters: (() => void)[] = [];

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(path.join(repoRoot, "bin/kubectl-ptm"), args, {
      cwd: repoRoot,
      // Nothing of the test's own environment (no PTM_SERVER, PTM_TOKEN) leaks in.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", KUBECONFIG: platformEnv().KUBECONFIG, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (c: Buffer) => {
      this.stdout += c.toString();
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr!.on("data", (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", (code) => {
        for (const w of this.waiters.splice(0)) w();
        resolve({ code, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** Resolves once stdout holds a whole line; rejects if the process ends first. */
  async firstLine(): Promise<string> {
    for (;;) {
      const nl = this.stdout.indexOf("\n");
      if (nl >= 0) return this.stdout.slice(0, nl);
      if (this.child.exitCode !== null) throw new Error(`kubectl-ptm exited (${this.child.exitCode}) before printing a line: ${this.stderr}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

export function ptm(args: string[], env: Record<string, string> = {}): Promise<PtmResult> {
  return new PtmProcess(args, env).exited;
}
