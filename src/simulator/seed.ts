/**
 * The simulator's seed: the cluster it starts with. A config file (JSON or YAML) lists API
 * tokens, users (with passwords for ticket login), nodes, storages, pools, templates and VMs, and optional behaviour settings; it is
 * validated with zod and every problem is reported with its path. Without a file the default
 * seed is used: node `pve1`, storages `local-lvm` and `local`, bridge `vmbr0` and template 9000
 * `ubuntu-24.04-cloud` (guest agent on, cloud-init drive).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { accessSeedFields, accessSeedProblems } from "./access-seed.js";

const tokenId = z
  .string()
  .regex(/^[^\s@!:]+@[A-Za-z][A-Za-z0-9.\-_]*![A-Za-z][A-Za-z0-9.\-_]*$/, "must look like USER@REALM!TOKENID");

const nodeName = z.string().regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, "must be a valid node name");
const storageId = z.string().regex(/^[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]$/, "must be a valid storage id");

export const STORAGE_TYPES = ["lvmthin", "lvm", "dir", "nfs", "cifs", "zfspool", "rbd", "btrfs"] as const;
export const CONTENT_TYPES = ["images", "rootdir", "iso", "vztmpl", "snippets", "backup", "import"] as const;

const configValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => (typeof v === "boolean" ? (v ? "1" : "0") : String(v)));

const vmSchema = z.object({
  vmid: z.number().int().min(100).max(999999999),
  node: nodeName.optional(),
  status: z.enum(["running", "stopped"]).default("stopped"),
  pool: z.string().optional(),
  config: z.record(z.string(), configValue),
});

export const seedSchema = z.object({
  version: z
    .string()
    .regex(/^\d+\.\d+(\.\d+)?$/, "must be a Proxmox VE version like 9.2.11")
    .default("9.2.11"),
  tokens: z.array(z.object({ id: tokenId, secret: z.string().min(1), privsep: z.boolean().default(true) })).optional(),
  /** Users (root@pam always exists); a password enables password login (POST /access/ticket). */
  users: z
    .array(
      z.object({
        id: z.string().regex(/^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$/, "must look like USER@REALM"),
        password: z.string().min(1).optional(),
        enable: z.boolean().default(true),
        expire: z.number().int().nonnegative().default(0),
        comment: z.string().optional(),
        email: z.string().optional(),
        /** authorized_keys lines for the node's SSH (pam users). */
        sshKeys: z.array(z.string().min(1)).optional(),
      }),
    )
    .default([]),
  /** The nodes' SSH endpoints (off unless enabled: they cost a start-up and a port per node). */
  ssh: z.object({ enabled: z.boolean().default(false), port: z.number().int().min(0).max(65535).optional() }).default({ enabled: false }),
  nodes: z
    .array(
      z.object({
        name: nodeName,
        cpus: z.number().int().positive().default(8),
        memoryGiB: z.number().positive().default(64),
        bridges: z.array(z.string().min(1)).default(["vmbr0"]),
      }),
    )
    .min(1, "at least one node is required"),
  storages: z
    .array(
      z.object({
        id: storageId,
        type: z.enum(STORAGE_TYPES),
        content: z.array(z.enum(CONTENT_TYPES)).min(1),
        sizeGiB: z.number().positive().default(500),
        shared: z.boolean().default(false),
        nodes: z.array(nodeName).optional(),
        files: z
          .array(z.object({ volume: z.string().min(1), sizeMiB: z.number().nonnegative().default(1) }))
          .default([]),
      }),
    )
    .default([]),
  pools: z.array(z.object({ id: z.string().regex(/^[A-Za-z0-9\-_]+$/), comment: z.string().optional() })).default([]),
  /** Custom roles, groups and ACL entries (see access-seed.ts; no `acl`: everyone is Administrator). */
  ...accessSeedFields,
  templates: z.array(vmSchema).default([]),
  vms: z.array(vmSchema).default([]),
  behaviour: z
    .object({
      taskDurationMs: z.number().int().nonnegative().optional(),
      taskDurations: z.record(z.string(), z.number().int().nonnegative()).optional(),
      bootDelayMs: z.number().int().nonnegative().optional(),
      lockWaitMs: z.number().int().positive().optional(),
      unauthorizedDelayMs: z.number().int().nonnegative().optional(),
    })
    .default({}),
});

export type SeedInput = z.input<typeof seedSchema>;
export type Seed = z.output<typeof seedSchema>;
export type SeedVm = z.output<typeof vmSchema>;

export class SeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SeedError";
  }
}

export const DEFAULT_SEED: SeedInput = {
  version: "9.2.11",
  nodes: [{ name: "pve1", cpus: 8, memoryGiB: 64, bridges: ["vmbr0"] }],
  storages: [
    { id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"], sizeGiB: 500 },
    {
      id: "local",
      type: "dir",
      content: ["iso", "vztmpl", "snippets", "backup", "import"],
      sizeGiB: 100,
      files: [{ volume: "iso/ubuntu-24.04.2-live-server-amd64.iso", sizeMiB: 3100 }],
    },
  ],
  templates: [
    {
      vmid: 9000,
      node: "pve1",
      config: {
        agent: "1",
        boot: "order=scsi0",
        cores: 2,
        cpu: "x86-64-v2-AES",
        ide2: "local-lvm:vm-9000-cloudinit,media=cdrom",
        memory: "2048",
        meta: "creation-qemu=9.2.0,ctime=1735689600",
        name: "ubuntu-24.04-cloud",
        net0: "virtio=BC:24:11:90:00:00,bridge=vmbr0",
        numa: 0,
        ostype: "l26",
        scsi0: "local-lvm:base-9000-disk-0,discard=on,size=3584M",
        scsihw: "virtio-scsi-single",
        serial0: "socket",
        smbios1: "uuid=5c0cbd12-0a59-4b2a-9a4f-6f3a2b9c9000",
        sockets: 1,
        template: 1,
        vga: "serial0",
        vmgenid: "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f9000",
      },
    },
  ],
};

function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    return `  ${where}: ${issue.message}`;
  });
  return `invalid simulator config ${source}:\n${lines.join("\n")}`;
}

/** Validates a seed object; throws SeedError listing every problem with its path. */
export function parseSeed(input: unknown, source = "(inline)"): Seed {
  const result = seedSchema.safeParse(input);
  if (!result.success) throw new SeedError(formatIssues(result.error, source));
  const seed = result.data;
  const problems: string[] = [];
  const nodes = new Set(seed.nodes.map((n) => n.name));
  const storages = new Set<string>();
  seed.storages.forEach((s, i) => {
    if (storages.has(s.id)) problems.push(`  storages.${i}.id: duplicate storage '${s.id}'`);
    storages.add(s.id);
    for (const n of s.nodes ?? []) if (!nodes.has(n)) problems.push(`  storages.${i}.nodes: unknown node '${n}'`);
  });
  const pools = new Set(seed.pools.map((p) => p.id));
  const vmids = new Set<number>();
  for (const [list, name] of [
    [seed.templates, "templates"],
    [seed.vms, "vms"],
  ] as const) {
    list.forEach((vm, i) => {
      if (vmids.has(vm.vmid)) problems.push(`  ${name}.${i}.vmid: duplicate vmid ${vm.vmid}`);
      vmids.add(vm.vmid);
      const node = vm.node ?? seed.nodes[0]?.name;
      if (node && !nodes.has(node)) problems.push(`  ${name}.${i}.node: unknown node '${node}'`);
      if (vm.pool && !pools.has(vm.pool)) problems.push(`  ${name}.${i}.pool: unknown pool '${vm.pool}'`);
      if (name === "templates" && vm.status === "running") problems.push(`  ${name}.${i}.status: a template cannot run`);
    });
  }
  const userIds = new Set(["root@pam", ...seed.users.map((u) => u.id), ...(seed.tokens ?? []).map((t) => t.id.split("!")[0] as string)]);
  problems.push(...accessSeedProblems(seed, userIds, seed.tokens ? new Set(seed.tokens.map((t) => t.id)) : undefined));
  if (problems.length > 0) throw new SeedError(`invalid simulator config ${source}:\n${problems.join("\n")}`);
  return seed;
}

/** Reads a JSON or YAML seed file (by extension; YAML is a superset of JSON, so either parses). */
export function loadSeedFile(file: string): Seed {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SeedError(`cannot read simulator config ${file}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new SeedError(`cannot parse simulator config ${file}: ${(err as Error).message}`);
  }
  return parseSeed(data, file);
}

export function defaultSeed(): Seed {
  return parseSeed(DEFAULT_SEED, "(default)");
}
