import { describe, expect, it } from "vitest";
import { orphanedVms } from "./orphans.js";

const LIVE = "0b6f8c6e-1111-4a8e-9d7e-000000000001";
const GONE = "0b6f8c6e-2222-4a8e-9d7e-000000000002";

describe("orphanedVms", () => {
  it("lists VMs whose ownership tag names no existing ProxmoxVM, and only those", () => {
    const guests = [
      { vmid: 102, node: "pve1", name: "gone", tags: `env-prod;ptm-owner-${GONE}` },
      { vmid: 100, node: "pve1", name: "live", tags: `ptm-owner-${LIVE}` },
      { vmid: 101, node: "pve2", name: "hand-made", tags: "env-prod" },
      { vmid: 103, node: "pve2", name: "untagged" },
      { vmid: 99, node: "pve2", name: "comma", tags: `ptm-owner-${GONE},other` },
    ];
    expect(orphanedVms(guests, new Set([LIVE]))).toEqual([
      { vmid: 99, node: "pve2", name: "comma", ownerUid: GONE },
      { vmid: 102, node: "pve1", name: "gone", ownerUid: GONE },
    ]);
  });

  it("finds none when every owner exists", () => {
    expect(orphanedVms([{ vmid: 100, node: "pve1", name: "live", tags: `ptm-owner-${LIVE}` }], new Set([LIVE]))).toEqual([]);
  });
});
