/**
 * /cluster/mapping/{pci,usb,dir}: cluster-wide resource mappings that VMs refer to by name in
 * hostpciN (`mapping=`), usbN (`mapping=`) and virtiofsN (the directory id), after pve-manager's
 * API2/Cluster/Mapping/{PCI,USB,Dir}.pm and pve-guest-common's PVE::Mapping::*. Each entry keeps
 * its `map` list (one property string per node) and description; reads carry the config digest.
 */
import { createHash } from "node:crypto";
import { parsePropertyString, PropertyStringError, type PropFormat } from "../config-strings.js";
import { fail, paramError } from "../errors.js";
import type { ParamSpec } from "../params.js";
import type { RequestContext, Router } from "../router.js";
import type { MappingEntry, MappingType } from "../state.js";
import { verify } from "./common.js";

const CONFIG_ID = { type: "string", pattern: /[a-zA-Z][a-zA-Z0-9_-]*/ } as const;
const str = { type: "string" as const };
const opt = { type: "string" as const, optional: true };

/** The per-node `map` formats (pve-guest-common's PVE::Mapping::{PCI,USB,Dir} map schemas). */
const MAP_FORMATS: Record<MappingType, PropFormat> = {
  pci: { keys: { node: str, path: str, id: str, "subsystem-id": opt, iommugroup: { type: "integer", optional: true }, description: opt } },
  usb: { keys: { node: str, path: opt, id: str, description: opt } },
  dir: { keys: { node: str, path: str, description: opt } },
};


function digestOf(entries: Record<string, MappingEntry>): string {
  const text = Object.entries(entries)
    .map(([id, e]) => `${id}\n${e.map.join("\n")}\n${e.description ?? ""}\n${e.mdev ?? ""}`)
    .join("\n");
  return createHash("sha1").update(text).digest("hex");
}

function mapList(type: MappingType, value: string | undefined): string[] {
  if (value === undefined) return [];
  // Array parameters arrive as repeated values; the JSON body joins them with newlines or commas
  // between entries that each start with `node=`.
  const items = value.split(/\n|,(?=node=)|(?<=\S)\s+(?=node=)/).map((v) => v.trim()).filter(Boolean);
  const perNode = new Map<string, number>();
  for (const item of items) {
    try {
      const entry = parsePropertyString(MAP_FORMATS[type], item);
      perNode.set(entry.node as string, (perNode.get(entry.node as string) ?? 0) + 1);
    } catch (err) {
      if (err instanceof PropertyStringError) throw paramError({ map: err.describe("map") });
      throw err;
    }
  }
  // Mapping::Dir::assert_valid_map_list: one directory per node (PCI and USB allow several).
  if (type === "dir") {
    for (const [node, count] of perNode) if (count > 1) throw fail(`Node '${node}' is specified ${count} times.`);
  }
  return items;
}

function entryView(type: MappingType, id: string, e: MappingEntry, digest: string): Record<string, unknown> {
  return {
    id,
    type,
    map: [...e.map],
    digest,
    ...(e.description !== undefined ? { description: e.description } : {}),
    ...(e.mdev ? { mdev: 1 } : {}),
    ...(e.liveMigration ? { "live-migration-capable": 1 } : {}),
  };
}

function registerType(router: Router, type: MappingType): void {
  const base = `/cluster/mapping/${type}`;
  const store = (req: RequestContext) => req.ctx.state.mappings[type];
  const extra: ParamSpec = type === "pci" ? { mdev: { type: "boolean", optional: true }, "live-migration-capable": { type: "boolean", optional: true } } : {};

  router.get(base, (req) => {
    const p = verify(req, { "check-node": { type: "string", optional: true } });
    const node = p["check-node"];
    if (node !== undefined && node !== "localhost" && !req.ctx.state.nodes[node]) {
      throw fail(type === "usb" ? "Wrong node to check" : `wrong node to check - ${node} != ${Object.keys(req.ctx.state.nodes)[0]}`);
    }
    const entries = store(req);
    const digest = digestOf(entries);
    return Object.entries(entries)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, e]) => {
        const view = entryView(type, id, e, digest);
        if (node === undefined) return view;
        const mine = e.map.filter((m) => /(?:^|,)node=([^,]+)/.exec(m)?.[1] === node);
        const checks = mine.length === 0 ? [{ severity: "warning", message: `No mapping for node ${node}.` }] : [];
        return { ...view, [type === "usb" ? "errors" : "checks"]: checks };
      });
  });

  router.get(`${base}/{id}`, (req) => {
    verify(req, { id: CONFIG_ID });
    const entries = store(req);
    const e = entries[req.path.id as string];
    if (!e) throw fail(`mapping '${req.path.id}' not found`);
    const { id: _id, ...view } = entryView(type, req.path.id as string, e, digestOf(entries));
    return view;
  });

  router.post(base, (req) => {
    const p = verify(req, { id: CONFIG_ID, map: { type: "string" }, description: { type: "string", optional: true }, ...extra });
    const entries = store(req);
    const id = p.id as string;
    if (entries[id]) throw fail(`${type} ID '${id}' already defined`);
    entries[id] = { map: mapList(type, p.map), ...(p.description !== undefined ? { description: p.description } : {}), ...(p.mdev === "1" ? { mdev: true } : {}), ...(p["live-migration-capable"] === "1" ? { liveMigration: true } : {}) };
    req.ctx.changed();
    return null;
  });

  router.put(`${base}/{id}`, (req) => {
    const p = verify(req, { id: CONFIG_ID, map: { type: "string", optional: true }, description: { type: "string", optional: true }, delete: { type: "string", optional: true }, digest: { type: "string", optional: true }, ...extra });
    const entries = store(req);
    const id = p.id as string;
    const e = entries[id];
    if (!e) throw fail(`${type} ID '${id}' does not exist`);
    if (p.digest && p.digest !== digestOf(entries)) throw fail("detected modified configuration - file changed by other user? Try again.");
    for (const key of (p.delete ?? "").split(/[,;\s]+/).filter(Boolean)) {
      if (key === "description") delete e.description;
      else if (key === "mdev") delete e.mdev;
      else if (key === "live-migration-capable") delete e.liveMigration;
      else if (key === "map") throw paramError({ delete: "cannot delete required option 'map'" });
    }
    if (p.map !== undefined) e.map = mapList(type, p.map);
    if (p.description !== undefined) e.description = p.description;
    if (p.mdev !== undefined) e.mdev = p.mdev === "1";
    if (p["live-migration-capable"] !== undefined) e.liveMigration = p["live-migration-capable"] === "1";
    req.ctx.changed();
    return null;
  });

  router.delete(`${base}/{id}`, (req) => {
    verify(req, { id: CONFIG_ID });
    const entries = store(req);
    const id = req.path.id as string;
    if (!entries[id]) throw fail(`${type} ID '${id}' does not exist`);
    delete entries[id];
    req.ctx.changed();
    return null;
  });
}

export function registerMappingRoutes(router: Router): void {
  router.get("/cluster/mapping", (req) => {
    verify(req, {});
    return [{ name: "dir" }, { name: "pci" }, { name: "usb" }];
  });
  for (const type of ["pci", "usb", "dir"] as const) registerType(router, type);
}
