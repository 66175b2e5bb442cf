/**
 * A node's shell for SSH exec requests: a real `bash` runs the client's command line, with a
 * prelude that puts the node's tools in place of the host's:
 *
 * - `qm` and `pvesm` (also as /usr/sbin/qm, /usr/sbin/pvesm) call back into the simulator over a
 *   private Unix socket (curl) and print what the real tools print, with their exit codes;
 * - `tee` and `cat`/`mkdir`/`rm`/`ls`/`test` see node paths (/var/lib/vz/...) mapped onto the
 *   storage directories under the simulator's data directory, everything else under a per-node
 *   root directory;
 * - `id -u` answers 0 and `sudo` runs its command (the login is root);
 * - `/bin/bash -c '...'` (how the provider wraps every script) runs in a subshell that keeps
 *   these functions.
 *
 * Anything else is the host's real command. The SSH endpoint only listens on loopback and
 * only lets in users with credentials in the seed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import type { SimContext } from "./context.js";
import { runNodeCommand } from "./node-commands.js";
import { storagePath } from "./storage-files.js";

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The answer of the command socket: shell code that prints the output and returns the code. */
function asShell(stdout: string, stderr: string, code: number): string {
  const parts: string[] = [];
  if (stdout) parts.push(`printf '%s' ${shellQuote(stdout)}`);
  if (stderr) parts.push(`printf '%s' ${shellQuote(stderr)} >&2`);
  parts.push(`return ${code}`);
  return parts.join("; ");
}

export class NodeShell {
  private readonly server: http.Server;
  readonly socket = path.join(tmpdir(), `pve-sim-${process.pid}-${randomBytes(4).toString("hex")}.sock`);

  constructor(
    private readonly ctx: () => SimContext,
    readonly node: string,
  ) {
    this.server = http.createServer((req, res) => void this.answer(req, res));
  }

  /** The host directory that stands for the node's `/` outside storages. */
  rootDir(): string {
    return path.join(this.ctx().files.root, "nodes", this.node, "rootfs");
  }

  /** A node path as the host sees it. */
  hostPath(nodePath: string): string {
    const ctx = this.ctx();
    const mapped = ctx.files.hostPath(Object.values(ctx.state.storages), nodePath);
    return mapped ?? path.join(this.rootDir(), path.posix.normalize(`/${nodePath}`));
  }

  async listen(): Promise<void> {
    rmSync(this.socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.socket, () => resolve());
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socket, { force: true });
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const argv = new URLSearchParams(Buffer.concat(chunks).toString("utf8")).getAll("arg");
    const ctx = this.ctx();
    const out = await runNodeCommand(ctx, this.node, argv);
    ctx.log(`[pve-sim] ssh ${this.node}: ${argv.join(" ")} -> exit ${out.code}`);
    res.writeHead(200, { "Content-Type": "text/plain" }).end(asShell(out.stdout, out.stderr, out.code));
  }

  /** The prelude: the node's tools as shell functions, path mapping for file commands. */
  private prelude(): string {
    const ctx = this.ctx();
    const cases = Object.values(ctx.state.storages)
      .map((s) => ({ base: storagePath(s), dir: ctx.files.dirOf(s.id) }))
      .filter((m): m is { base: string; dir: string } => !!m.base)
      .map((m) => `    ${m.base}|${m.base}/*) printf '%s' ${shellQuote(m.dir)}"\${1#${m.base}}" ;;`)
      .join("\n");
    const fileCommands = ["tee", "cat", "mkdir", "rm", "ls", "test", "stat", "mv", "cp", "chmod", "touch"];
    return `
__pve_sim_call() {
  local __a=() __x __r
  for __x in "$@"; do __a+=(--data-urlencode "arg=$__x"); done
  __r=$(curl -sS --unix-socket ${shellQuote(this.socket)} "\${__a[@]}" http://node/exec) || return 255
  eval "$__r"
}
__pve_sim_path() {
  case "$1" in
${cases}
    /*) printf '%s' ${shellQuote(this.rootDir())}"$1" ;;
    *) printf '%s' "$1" ;;
  esac
}
__pve_sim_mapped() {
  local __cmd=$1 __a=() __x; shift
  for __x in "$@"; do __a+=("$(__pve_sim_path "$__x")"); done
  command "$__cmd" "\${__a[@]}"
}
qm() { __pve_sim_call qm "$@"; }
/usr/sbin/qm() { __pve_sim_call qm "$@"; }
pvesm() { __pve_sim_call pvesm "$@"; }
/usr/sbin/pvesm() { __pve_sim_call pvesm "$@"; }
${fileCommands.map((c) => `${c}() { __pve_sim_mapped ${c} "$@"; }\n/usr/bin/${c}() { __pve_sim_mapped ${c} "$@"; }\n/bin/${c}() { __pve_sim_mapped ${c} "$@"; }`).join("\n")}
id() { if [ "$1" = -u ]; then echo 0; else command id "$@"; fi; }
sudo() { while [ "\${1#-}" != "$1" ]; do shift; done; "$@"; }
/usr/bin/sudo() { sudo "$@"; }
/bin/bash() { if [ "$1" = -c ] && [ $# -eq 2 ]; then ( eval "$2" ); else command /bin/bash "$@"; fi; }
bash() { /bin/bash "$@"; }
cd ${shellQuote(this.hostPath("/root"))}
`;
  }

  /** Starts `command` as the login shell would (`bash -c command`); stdio is the caller's. */
  spawn(command: string): ChildProcessWithoutNullStreams {
    mkdirSync(this.hostPath("/root"), { recursive: true });
    for (const s of Object.values(this.ctx().state.storages)) if (storagePath(s)) this.ctx().files.activate(s);
    return spawn("bash", ["--noprofile", "--norc", "-c", `${this.prelude()}\neval "$__PVE_SIM_COMMAND"`], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", USER: "root", LOGNAME: "root", SHELL: "/bin/bash", LANG: "C.UTF-8", __PVE_SIM_COMMAND: command },
      cwd: this.hostPath("/root"),
      stdio: "pipe",
    });
  }
}
