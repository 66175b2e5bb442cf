import { describe, expect, it } from "vitest";
import { decodeUpid, encodeUpid } from "./upid.js";

describe("UPID", () => {
  it("encodes Proxmox's format with 8-digit upper-case hex fields and a trailing colon", () => {
    const upid = encodeUpid({ node: "pve1", pid: 0x1a2b, pstart: 0x55d99, starttime: 1735689600, type: "qmclone", id: "9000", user: "root@pam!tf" });
    expect(upid).toBe("UPID:pve1:00001A2B:00055D99:67748580:qmclone:9000:root@pam!tf:");
  });

  it("decodes what it encodes and what Proxmox produces", () => {
    const real = "UPID:pve:0018D8E0:0A1B2C3D:65F0A1B2:qmstart:100:root@pam:";
    expect(decodeUpid(real)).toEqual({ node: "pve", pid: 0x18d8e0, pstart: 0x0a1b2c3d, starttime: 0x65f0a1b2, type: "qmstart", id: "100", user: "root@pam" });
    const u = { node: "pve1", pid: 5, pstart: 0x123456789, starttime: 7, type: "vzdump", id: "", user: "a@pve!b" };
    expect(decodeUpid(encodeUpid(u))).toEqual(u);
  });

  it("rejects malformed task ids", () => {
    expect(decodeUpid("UPID:pve1:1:2:3:qmstart:100:root@pam:")).toBeUndefined();
    expect(decodeUpid("UPID:pve1:00001A2B:00055D99:67748580:qmclone:9000:root@pam")).toBeUndefined();
    expect(decodeUpid("nonsense")).toBeUndefined();
  });
});
