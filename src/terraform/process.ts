/**
 * Spawns one tofu command and stops it on timeout or abort without leaving a state lock behind.
 *
 * - `setpriv --pdeathsig SIGTERM -- tofu ...` (util-linux, when on PATH): if the worker dies, the
 *   kernel sends tofu SIGTERM, which tofu handles like Ctrl-C (finishes in-flight operations,
 *   writes state, releases the lock). The signal is tied to the *thread* that spawned the child:
 *   spawn from the main thread (or a worker_thread that outlives the run).
 * - tofu writes stdout/stderr to files, not pipes: once the worker is dead a pipe has no reader,
 *   and a Go program writing to a broken stdout dies of SIGPIPE at once (even when SIGPIPE is
 *   ignored), which would turn that graceful stop into an abrupt one that records nothing. The
 *   files are unlinked right after the spawn (the open descriptors keep them readable), so
 *   nothing stays on disk; they go to /dev/shm when it is there, so nothing reaches a disk either.
 * - `detached: true`: tofu leads its own process group, so the group can be killed as a whole.
 * - Stopping: SIGTERM to tofu alone first. Provider plugins share the group but do not handle
 *   SIGTERM (go-plugin only ignores SIGINT), so signalling the group would kill a provider in the
 *   middle of an API call and tofu could not record what it created. After `killGraceMs`, or as
 *   soon as tofu has exited, SIGKILL goes to the whole group: that ends a provider that hangs and
 *   any orphan a provisioner left (e.g. `sh -c "sleep 60; ..."`'s sleep survives its shell).
 */
import { spawn } from "node:child_process";
import { accessSync, closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LineSplitter } from "./json-stream.js";

export type StopReason = "timeout" | "aborted";

export interface ProcessSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  killGraceMs: number;
  signal?: AbortSignal;
  /** Wrap in `setpriv --pdeathsig SIGTERM` when available (default true). */
  parentDeathSignal?: boolean;
  /** Where the short-lived output files are created (default: /dev/shm if writable, else the OS temp dir). */
  scratchDir?: string;
  onLine: (stream: "stdout" | "stderr", line: string) => void;
  /** Called when the runner starts stopping the process (for a note in the event stream). */
  onStop?: (reason: StopReason, step: "SIGTERM" | "SIGKILL") => void;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stopReason?: StopReason;
  durationMs: number;
  pid?: number;
}

function findOnPath(name: string, pathEnv: string): string | null {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

let setprivPath: string | null | undefined;

/** `setpriv` on the child's PATH, looked up once per process. */
export function findSetpriv(searchPath: string): string | null {
  if (setprivPath === undefined) setprivPath = findOnPath("setpriv", searchPath);
  return setprivPath;
}

let defaultScratch: string | undefined;

function scratchRoot(): string {
  if (defaultScratch === undefined) {
    defaultScratch = os.tmpdir();
    try {
      accessSync("/dev/shm", constants.W_OK | constants.X_OK);
      defaultScratch = "/dev/shm";
    } catch {
      // no tmpfs: the OS temp dir it is
    }
  }
  return defaultScratch;
}

/** How often the output files are read while tofu runs. */
const POLL_MS = 50;

/** Reads what a file has gained since the last call and hands over complete lines. */
class Tail {
  private position = 0;
  private readonly splitter = new LineSplitter();
  private readonly buffer = Buffer.alloc(64 * 1024);

  constructor(
    private readonly handle: FileHandle,
    private readonly emit: (line: string) => void,
  ) {}

  async read(): Promise<void> {
    for (;;) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, this.position);
      if (bytesRead === 0) return;
      this.position += bytesRead;
      for (const line of this.splitter.push(this.buffer.subarray(0, bytesRead))) this.emit(line);
    }
  }

  async finish(): Promise<void> {
    await this.read();
    for (const line of this.splitter.end()) this.emit(line);
    await this.handle.close();
  }
}

export async function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  const started = Date.now();
  const setpriv = spec.parentDeathSignal === false ? null : findSetpriv(spec.env.PATH ?? "");
  const [file, args] = setpriv
    ? [setpriv, ["--pdeathsig", "SIGTERM", "--", spec.command, ...spec.args]]
    : [spec.command, spec.args];

  // Output files: created 0600 in a private 0700 directory, unlinked as soon as tofu has them.
  const dir = mkdtempSync(path.join(spec.scratchDir ?? scratchRoot(), "ptm-tofu-"));
  const writeFds: number[] = [];
  const tails: Tail[] = [];
  let child;
  try {
    for (const stream of ["stdout", "stderr"] as const) {
      const name = path.join(dir, stream);
      writeFds.push(openSync(name, "w", 0o600));
      tails.push(new Tail(await open(name, "r"), (line) => spec.onLine(stream, line)));
    }
    child = spawn(file, args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ["ignore", writeFds[0]!, writeFds[1]!] });
  } catch (error) {
    await Promise.all(tails.map((t) => t.finish().catch(() => undefined)));
    throw error;
  } finally {
    for (const fd of writeFds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const pid = child.pid;

  return new Promise<ProcessResult>((resolve, reject) => {
    let stopReason: StopReason | undefined;
    let exited = false;
    let graceTimer: NodeJS.Timeout | undefined;
    let reading: Promise<void> = Promise.resolve();

    const killGroup = () => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // ESRCH: the group is already gone
      }
    };

    const stop = (reason: StopReason) => {
      if (stopReason || exited) return;
      stopReason = reason;
      spec.onStop?.(reason, "SIGTERM");
      child.kill("SIGTERM");
      graceTimer = setTimeout(() => {
        spec.onStop?.(reason, "SIGKILL");
        killGroup();
      }, spec.killGraceMs);
    };

    const timer = setTimeout(() => stop("timeout"), Math.max(0, spec.timeoutMs));
    const onAbort = () => stop("aborted");
    spec.signal?.addEventListener("abort", onAbort, { once: true });
    if (spec.signal?.aborted) onAbort();

    // Reads are chained so lines come out in order; a read error ends the command's output, not the command.
    const poll = setInterval(() => {
      reading = reading.then(() => Promise.all(tails.map((t) => t.read()))).then(
        () => undefined,
        () => undefined,
      );
    }, POLL_MS);

    const settle = (done: () => void) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      clearInterval(poll);
      spec.signal?.removeEventListener("abort", onAbort);
      reading = reading
        .then(() => Promise.all(tails.map((t) => t.finish())))
        .then(
          () => undefined,
          () => undefined,
        );
      void reading.then(done);
    };

    child.on("error", (error) => {
      if (exited) return;
      exited = true;
      settle(() => reject(error));
    });
    child.on("exit", (code, signal) => {
      if (exited) return;
      exited = true;
      // After a stop, whatever tofu left in its group (a provider, a provisioner's children) goes too.
      if (stopReason) killGroup();
      settle(() => resolve({ exitCode: code, signal, stopReason, durationMs: Date.now() - started, pid }));
    });
  });
}
