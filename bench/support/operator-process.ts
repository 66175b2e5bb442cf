/**
 * One operator role as a child process: `node --import tsx src/main.ts --role <role>`. Node is
 * started directly (not through npx/tsx's CLI) so the child's pid is the Node process whose
 * /proc/<pid>/status holds the role's memory figures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync, type WriteStream } from "node:fs";
import path from "node:path";
import { once } from "node:events";

export interface LogSummary {
  lines: number;
  warn: number;
  error: number;
  /** Lines that are not pino JSON (uncaught errors, stack traces). */
  other: number;
  /** First lines at warn level or above (and non-JSON lines), trimmed. */
  samples: string[];
}

export class OperatorProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  private readonly log: WriteStream;
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly role: string,
    cwd: string,
    env: Record<string, string>,
    logDir: string,
    /** Node's arguments before `--role`: by default the sources through tsx; a compiled build's main.js instead. */
    entry: string[] = ["--import", "tsx", "src/main.ts"],
  ) {
    this.logFile = path.join(logDir, `${role}.log`);
    this.log = createWriteStream(this.logFile);
    this.child = spawn(process.execPath, [...entry, "--role", role], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.pipe(this.log, { end: false });
    this.child.stderr!.pipe(this.log, { end: false });
    this.exit = once(this.child, "exit").then(([code, signal]) => {
      this.exited = { code: code as number | null, signal: signal as NodeJS.Signals | null };
      return this.exited;
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.role} did not start`);
    return this.child.pid;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    let killed = false;
    if (!this.exited) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => {
        killed = true;
        this.child.kill("SIGKILL");
      }, graceMs);
      await this.exit;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.log.end(resolve));
    return { ...this.exited!, killed };
  }

  /** Counts the log's warn/error lines (pino levels 40 and 50+) and keeps the first few. */
  summarizeLog(maxSamples = 15): LogSummary {
    let text = "";
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      // no log yet
    }
    const summary: LogSummary = { lines: 0, warn: 0, error: 0, other: 0, samples: [] };
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      summary.lines++;
      let level: number | undefined;
      try {
        level = (JSON.parse(line) as { level?: number }).level;
      } catch {
        summary.other++;
        if (summary.samples.length < maxSamples) summary.samples.push(line.slice(0, 600));
        continue;
      }
      if (level === undefined || level < 40) continue;
      if (level >= 50) summary.error++;
      else summary.warn++;
      if (summary.samples.length < maxSamples) summary.samples.push(line.slice(0, 600));
    }
    return summary;
  }
}
