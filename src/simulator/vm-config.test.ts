import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { jsonValue, validateOption } from "./qemu-schema.js";
import {
  addPendingDelete,
  cleanupPending,
  configDigest,
  pendingList,
  serializeConfig,
  withPendingApplied,
} from "./vm-config.js";

describe("VM config file and digest", () => {
  const stored = {
    conf: { name: "web", cores: "2", description: "line 1\nline 2", memory: "2048" },
    pending: { cores: "4" } as Record<string, string>,
  };

  it("serialises like qemu-server: description as comments, sorted keys, [PENDING] section", () => {
    expect(serializeConfig(stored)).toBe("#line 1\n#line 2\ncores: 2\nmemory: 2048\nname: web\n\n[PENDING]\ncores: 4\n");
  });

  it("uses the SHA-1 of the file text as digest, which changes with any change", () => {
    const digest = configDigest(stored);
    expect(digest).toBe(createHash("sha1").update(serializeConfig(stored)).digest("hex"));
    expect(digest).toMatch(/^[0-9a-f]{40}$/);
    expect(configDigest({ ...stored, pending: {} })).not.toBe(digest);
  });

  it("applies pending values and deletions for GET config, and lists them for GET pending", () => {
    const s = { conf: { ...stored.conf }, pending: { ...stored.pending } };
    addPendingDelete(s.pending, "memory");
    addPendingDelete(s.pending, "scsi1", true);
    expect(s.pending.delete).toBe("memory,!scsi1");
    expect(withPendingApplied(s)).toEqual({ name: "web", cores: "4", description: "line 1\nline 2" });
    expect(pendingList(s).find((p) => p.key === "memory")).toEqual({ key: "memory", value: "2048", delete: 1 });
    expect(cleanupPending(s)).toBe(true); // scsi1 is not set at all
    expect(s.pending.delete).toBe("memory");
  });
});

describe("qemu option schema", () => {
  it("encodes booleans and integers as JSON numbers, the rest as strings", () => {
    expect(jsonValue("cores", "2")).toBe(2);
    expect(jsonValue("onboot", "1")).toBe(1);
    expect(jsonValue("memory", "2048")).toBe("2048");
    expect(jsonValue("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0")).toBe("virtio=BC:24:11:00:00:01,bridge=vmbr0");
    expect(jsonValue("digest", "abc")).toBe("abc");
  });

  it("validates values as update_vm does", () => {
    expect(validateOption("onboot", "true")).toBe("1");
    expect(() => validateOption("cores", "x")).toThrow("type check ('integer') failed - got 'x'");
    expect(() => validateOption("ostype", "beos")).toThrow(/enumeration/);
    expect(() => validateOption("scsi31", "local-lvm:1")).toThrow(/not defined in schema/);
    expect(() => validateOption("scsi1", "local-lvm:1,cache=bogus")).toThrow(/scsi1\.cache/);
  });
});
