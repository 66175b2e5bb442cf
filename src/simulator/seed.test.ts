import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { defaultSeed, loadSeedFile, parseSeed, SeedError } from "./seed.js";
import { stateFromSeed } from "./state.js";

describe("simulator seed", () => {
  it("has the documented default cluster", () => {
    const seed = defaultSeed();
    expect(seed.nodes.map((n) => n.name)).toEqual(["pve1"]);
    expect(seed.nodes[0]?.bridges).toEqual(["vmbr0"]);
    expect(seed.storages.map((s) => [s.id, s.content.includes("images")])).toEqual([
      ["local-lvm", true],
      ["local", false],
    ]);
    const state = stateFromSeed(seed, [{ id: "root@pam!t", secret: "s" }]);
    const template = state.vms[9000]!;
    expect(template.conf.name).toBe("ubuntu-24.04-cloud");
    expect(template.conf.template).toBe("1");
    expect(template.conf.agent).toBe("1");
    expect(template.conf.ide2).toBe("local-lvm:vm-9000-cloudinit,media=cdrom");
    expect(state.storages["local-lvm"]?.volumes["base-9000-disk-0"]?.size).toBe(3584 * 1024 ** 2);
  });

  it("loads YAML and reports every problem with its path", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "seed-"));
    try {
      const file = path.join(dir, "seed.yaml");
      writeFileSync(
        file,
        [
          "nodes:",
          "  - name: pve1",
          "storages:",
          "  - { id: local-lvm, type: lvmthin, content: [images] }",
          "pools: [{ id: prod }]",
          "vms:",
          "  - { vmid: 120, pool: prod, status: running, config: { name: app, cores: 2, scsi0: 'local-lvm:vm-120-disk-0,size=8G' } }",
        ].join("\n"),
      );
      const seed = loadSeedFile(file);
      const state = stateFromSeed(seed, []);
      expect(state.vms[120]?.status).toBe("running");
      expect(state.pools.prod?.vms).toEqual([120]);
      expect(state.storages["local-lvm"]?.volumes["vm-120-disk-0"]?.size).toBe(8 * 1024 ** 3);

      writeFileSync(file, "nodes: []\nstorages: [{ id: 1x, type: zfs, content: [] }]\n");
      expect(() => loadSeedFile(file)).toThrow(SeedError);
      try {
        loadSeedFile(file);
      } catch (err) {
        expect((err as Error).message).toContain("nodes: at least one node is required");
        expect((err as Error).message).toContain("storages.0.id");
        expect((err as Error).message).toContain("storages.0.type");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses unknown references and invalid VM options", () => {
    expect(() => parseSeed({ nodes: [{ name: "a" }], vms: [{ vmid: 100, node: "b", config: {} }] })).toThrow(/vms\.0\.node: unknown node 'b'/);
    expect(() => stateFromSeed(parseSeed({ nodes: [{ name: "a" }], vms: [{ vmid: 100, config: { cores: "x" } }] }), [])).toThrow(
      /vms\.0\.config\.cores: type check/,
    );
  });
});
