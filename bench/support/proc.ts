/**
 * Linux /proc readers for the benchmark: memory (VmRSS, VmHWM), CPU ticks (own and reaped
 * children), process trees, and a sampler that records peaks while a scenario runs.
 */
import { readFileSync, readdirSync } from "node:fs";

/** USER_HZ: 100 on every Linux build that matters; /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

export interface ProcMemory {
  /** Resident set size now, KiB. */
  rssKiB: number;
  /** Peak resident set size since the process started (the kernel's high-water mark), KiB. */
  hwmKiB: number;
}

export function readMemory(pid: number): ProcMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
}

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, seconds. */
  selfCpu: number;
  /** cutime + cstime: CPU of children this process has waited for (recursively), seconds. */
  childrenCpu: number;
}

function readStat(pid: number | "self"): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm is in parentheses and may contain spaces: split after the last ')'.
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const f = text.slice(close + 2).split(" ");
  // f[0] is field 3 (state); field n is f[n - 3].
  return {
    pid: Number(text.slice(0, text.indexOf(" "))),
    comm,
    ppid: Number(f[1]),
    selfCpu: (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND,
    childrenCpu: (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND,
  };
}

export interface CpuTimes {
  /** CPU seconds of the process itself. */
  self: number;
  /** CPU seconds of its children that have exited and been waited for (tofu and its providers, for a worker). */
  children: number;
}

export function readCpu(pid: number | "self"): CpuTimes | undefined {
  const s = readStat(pid);
  return s ? { self: s.selfCpu, children: s.childrenCpu } : undefined;
}

export function diffCpu(before: CpuTimes | undefined, after: CpuTimes | undefined): CpuTimes | undefined {
  if (!before || !after) return undefined;
  return { self: round(after.self - before.self, 2), children: round(after.children - before.children, 2) };
}

/** Every process now: pid → stat. */
function allProcesses(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(Number(entry));
    if (s) out.set(s.pid, s);
  }
  return out;
}

function descendantsOf(root: number, procs: Map<number, ProcStat>): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of procs.values()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const out: ProcStat[] = [];
  const stack = [root];
  while (stack.length) {
    for (const child of children.get(stack.pop()!) ?? []) {
      out.push(child);
      stack.push(child.pid);
    }
  }
  return out;
}

export interface SampledPeaks {
  samples: number;
  /** Largest VmRSS seen in a sample, KiB. */
  maxRssKiB: number;
  /** Largest sum of VmRSS over the process and all its descendants (tofu, providers, esbuild), KiB. */
  maxTreeRssKiB: number;
  /** Most `tofu` processes alive at once under this process. */
  maxTofuProcesses: number;
  /** Most provider plugin processes alive at once under this process. */
  maxProviderProcesses: number;
}

/** Samples the given processes every `intervalMs` and keeps the peaks. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  readonly peaks: Record<string, SampledPeaks> = {};

  constructor(
    private readonly targets: Record<string, number>,
    private readonly intervalMs = 500,
  ) {
    for (const name of Object.keys(targets)) {
      this.peaks[name] = { samples: 0, maxRssKiB: 0, maxTreeRssKiB: 0, maxTofuProcesses: 0, maxProviderProcesses: 0 };
    }
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): Record<string, SampledPeaks> {
    clearInterval(this.timer);
    this.sample();
    return this.peaks;
  }

  private sample(): void {
    let procs: Map<number, ProcStat>;
    try {
      procs = allProcesses();
    } catch {
      return;
    }
    for (const [name, pid] of Object.entries(this.targets)) {
      const own = readMemory(pid);
      if (!own) continue;
      const peak = this.peaks[name]!;
      peak.samples++;
      peak.maxRssKiB = Math.max(peak.maxRssKiB, own.rssKiB);
      const tree = descendantsOf(pid, procs);
      let treeRss = own.rssKiB;
      for (const p of tree) treeRss += readMemory(p.pid)?.rssKiB ?? 0;
      peak.maxTreeRssKiB = Math.max(peak.maxTreeRssKiB, treeRss);
      peak.maxTofuProcesses = Math.max(peak.maxTofuProcesses, tree.filter((p) => p.comm === "tofu").length);
      peak.maxProviderProcesses = Math.max(peak.maxProviderProcesses, tree.filter((p) => p.comm.startsWith("terraform-prov")).length);
    }
  }
}

export function mib(kib: number | undefined): number | undefined {
  return kib === undefined ? undefined : round(kib / 1024, 1);
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export interface MachineCpu {
  /** CPU seconds spent (user, nice, system, irq, softirq, steal) by every process on the machine. */
  busy: number;
  idle: number;
}

/** Machine-wide CPU time from /proc/stat (all CPUs together). */
export function readMachineCpu(): MachineCpu | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    return { busy: (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND, idle: (idle! + iowait!) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}
