/**
 * A process and all its descendants, read from /proc, and a SIGKILL of the whole tree: a crash
 * of a worker pod takes tofu and the provider with it, with no chance for any of them to shut
 * down gracefully (tofu runs in its own process group, so killing the worker's group would miss it).
 */
import { readdirSync, readFileSync } from "node:fs";

export interface TreeProcess {
  pid: number;
  /** The command line, arguments joined by spaces. */
  command: string;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in parentheses may hold spaces: the fields after the last ")" are fixed.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/** `root` and every live descendant, deepest first. */
export function processTree(root: number): TreeProcess[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const ordered: number[] = [];
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) visit(child);
    ordered.push(pid);
  };
  visit(root);
  return ordered.map((pid) => ({ pid, command: commandOf(pid) }));
}

/**
 * Freezes the whole tree (SIGSTOP), then SIGKILLs it: no member sees another die first, so no
 * parent-death signal or closed pipe can start a graceful shutdown. Returns what was killed.
 */
export function killTree(root: number): TreeProcess[] {
  const tree = processTree(root);
  for (const p of tree) signal(p.pid, "SIGSTOP");
  for (const p of tree) signal(p.pid, "SIGKILL");
  return tree;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
