/**
 * The Proxmox command-line tools a node's shell offers, as far as clients run them over SSH:
 * `pvesm path|apiinfo|status` and `qm disk import|set|config|--help`. Each returns what the
 * real tool prints on stdout/stderr and its exit code (255 for a `die`, as Perl exits), after
 * pve-storage's PVE/CLI/pvesm.pm and qemu-server's PVE/CLI/qm.pm.
 */
import { statSync } from "node:fs";
import { splitVolumeId } from "./config-strings.js";
import type { SimContext } from "./context.js";
import { PveError } from "./errors.js";
import { allocVolume, isBlockStorage, requireStorage } from "./state.js";
import { imageVirtualSize, volumeAtNodePath, volumeNodePath } from "./storage-files.js";
import { jsonValue } from "./qemu-schema.js";
import { updateVmConfigSync, checkLock } from "./vm-update.js";
import { withPendingApplied } from "./vm-config.js";

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

const API_VERSION = { APIVER: 12, APIAGE: 3 };

class CommandFailure extends Error {
  constructor(
    message: string,
    readonly code = 255,
  ) {
    super(message);
  }
}

function die(message: string): never {
  throw new CommandFailure(message.endsWith("\n") ? message : `${message}\n`);
}

/** `-key value` / `--key value` / `--key=value` options and positional arguments, as PVE::RESTHandler's CLI parser. */
function parseCli(args: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const m = /^--?([a-zA-Z][\w-]*)(?:=(.*))?$/.exec(a);
    if (!m) {
      positional.push(a);
      continue;
    }
    if (m[2] !== undefined) options[m[1] as string] = m[2];
    else if (i + 1 < args.length && !/^--?[a-zA-Z]/.test(args[i + 1] as string)) options[m[1] as string] = args[++i] as string;
    else options[m[1] as string] = "1";
  }
  return { positional, options };
}

function pvesm(ctx: SimContext, args: string[]): string {
  const [sub, ...rest] = args;
  const { positional } = parseCli(rest);
  switch (sub) {
    case "apiinfo":
      return `APIVER ${API_VERSION.APIVER}\nAPIAGE ${API_VERSION.APIAGE}\n`;
    case "path": {
      const volid = positional[0];
      if (!volid) die("400 not enough arguments\npvesm path <volume>");
      const parts = splitVolumeId(volid);
      if (!parts) die(`unable to parse volume ID '${volid}'`);
      const s = ctx.state.storages[parts.storage];
      if (!s) die(`storage '${parts.storage}' does not exist`);
      return `${volumeNodePath(s, parts.volname)}\n`;
    }
    case "status": {
      const lines = ["Name             Type     Status           Total            Used       Available        %"];
      for (const s of Object.values(ctx.state.storages)) {
        ctx.files.rescan(s);
        const used = Object.values(s.volumes).reduce((n, v) => n + v.size, 0);
        const kib = (b: number) => String(Math.floor(b / 1024));
        lines.push(
          `${s.id.padEnd(16)} ${s.type.padEnd(8)} ${"active".padEnd(8)} ${kib(s.total).padStart(15)} ${kib(used).padStart(15)} ${kib(s.total - used).padStart(15)} ${((used / s.total) * 100).toFixed(2).padStart(7)}%`,
        );
      }
      return `${lines.join("\n")}\n`;
    }
    default:
      die(`unknown command 'pvesm ${sub ?? ""}'`);
  }
}

/** qm disk import: a file (or volume) becomes a new volume of the VM, listed as unusedN. */
function diskImport(ctx: SimContext, node: string, args: string[]): string {
  const { positional, options } = parseCli(args);
  const [vmidRaw, source, storeid] = positional;
  if (!vmidRaw || !source || !storeid) die("400 not enough arguments\nqm disk import <vmid> <source> <storage> [OPTIONS]");
  const vmid = Number(vmidRaw);
  const vm = ctx.state.vms[vmid];
  if (!vm || vm.node !== node) die(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
  checkLock(vm);
  const storages = Object.values(ctx.state.storages);
  const at = volumeAtNodePath(storages, source);
  let size: number;
  if (at) {
    ctx.files.rescan(at.storage);
    const v = at.storage.volumes[at.volname];
    if (!v) die(`${source}: non-existent or non-regular file`);
    // file_size_info(..., 'auto-detect'): the header decides, whatever the file is called
    size = v.onDisk ? imageVirtualSize(ctx.files.pathOf(at.storage.id, at.volname)).virtualSize : v.size;
  } else {
    let st;
    try {
      st = statSync(source);
    } catch {
      die(`${source}: non-existent or non-regular file`);
    }
    if (!st.isFile()) die(`${source}: non-existent or non-regular file`);
    size = st.size;
  }
  const target = requireStorage(ctx.state, storeid, node);
  if (!target.content.includes("images")) die(`storage ${storeid} does not support vm images`);
  const format = isBlockStorage(target) ? "raw" : (options.format ?? "raw");
  const volid = allocVolume(ctx.state, storeid, node, vmid, size, { format });
  let n = 0;
  while (vm.conf[`unused${n}`] !== undefined || vm.pending[`unused${n}`] !== undefined) n++;
  vm.conf[`unused${n}`] = volid;
  ctx.changed();
  const gib = (size / 1024 ** 3).toFixed(1);
  return [
    `importing disk '${source}' to VM ${vmid} ...`,
    ...(isBlockStorage(target) ? [`  Logical volume "${volid.split(":")[1]}" created.`] : []),
    `transferred 0.0 B of ${gib} GiB (0.00%)`,
    `transferred ${gib} GiB of ${gib} GiB (100.00%)`,
    `unused${n}: successfully imported disk '${volid}'`,
    "",
  ].join("\n");
}

async function qmSet(ctx: SimContext, node: string, args: string[], user: string): Promise<string> {
  const { positional, options } = parseCli(args);
  const vmid = Number(positional[0]);
  if (!positional[0]) die("400 not enough arguments\nqm set <vmid> [OPTIONS]");
  const shown = Object.entries(options)
    .map(([k, v]) => `-${k} ${k === "cipassword" ? "<hidden>" : v}`)
    .join(" ");
  await updateVmConfigSync(ctx, node, vmid, { params: options, user });
  return `update VM ${vmid}: ${shown}\n`;
}

function qmConfig(ctx: SimContext, node: string, args: string[]): string {
  const vmid = Number(parseCli(args).positional[0]);
  const vm = ctx.state.vms[vmid];
  if (!vm || vm.node !== node) die(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
  const conf = withPendingApplied(vm);
  return Object.keys(conf)
    .sort()
    .map((k) => `${k}: ${jsonValue(k, conf[k] as string)}\n`)
    .join("");
}

async function qm(ctx: SimContext, node: string, args: string[], user: string): Promise<string> {
  const [sub, ...rest] = args;
  if (sub === "--help" || sub === "help") return "USAGE: qm <COMMAND> [ARGS] [OPTIONS]\n";
  if (sub === "disk" && rest[0] === "import") return diskImport(ctx, node, rest.slice(1));
  if (sub === "importdisk") return diskImport(ctx, node, rest);
  if (sub === "set") return qmSet(ctx, node, rest, user);
  if (sub === "config") return qmConfig(ctx, node, rest);
  die(`unknown command 'qm ${[sub, rest[0]].filter(Boolean).join(" ")}'`);
}

/** Runs one tool invocation (argv[0] is `qm` or `pvesm`) on `node` as `user` (root@pam for root). */
export async function runNodeCommand(ctx: SimContext, node: string, argv: string[], user = "root@pam"): Promise<CommandResult> {
  const [tool, ...args] = argv;
  try {
    let stdout: string;
    if (tool === "pvesm") stdout = pvesm(ctx, args);
    else if (tool === "qm") stdout = await qm(ctx, node, args, user);
    else return { stdout: "", stderr: `bash: ${tool ?? ""}: command not found\n`, code: 127 };
    return { stdout, stderr: "", code: 0 };
  } catch (err) {
    if (err instanceof CommandFailure) return { stdout: "", stderr: err.message, code: err.code };
    if (err instanceof PveError) {
      const detail = err.errors ? Object.entries(err.errors).map(([k, v]) => `${k}: ${v}\n`).join("") : "";
      return { stdout: "", stderr: `${detail}${err.message}\n`, code: err.status === 400 ? 2 : 255 };
    }
    return { stdout: "", stderr: `${(err as Error).message}\n`, code: 255 };
  }
}
