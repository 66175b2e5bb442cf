import { describe, expect, it } from "vitest";
import { parseGoDuration, usesFilesystemMirror } from "./cli-config.js";

describe("usesFilesystemMirror", () => {
  it("finds a filesystem_mirror block in HCL", () => {
    const tofurc = `# bpg/proxmox from the local mirror
provider_installation {
  filesystem_mirror {
    path    = "/opt/mirror"
    include = ["registry.opentofu.org/bpg/proxmox"]
  }
  direct {
    exclude = ["registry.opentofu.org/bpg/proxmox"]
  }
}
`;
    expect(usesFilesystemMirror(tofurc)).toBe(true);
  });

  it("finds one in JSON syntax", () => {
    expect(usesFilesystemMirror(JSON.stringify({ provider_installation: [{ filesystem_mirror: [{ path: "/opt/mirror" }] }] }))).toBe(true);
  });

  it("ignores commented-out blocks and other installation methods", () => {
    expect(usesFilesystemMirror('# filesystem_mirror { path = "/x" }\n// filesystem_mirror {}\n/* filesystem_mirror {\n} */\nprovider_installation {\n  direct {}\n}\n')).toBe(false);
    expect(usesFilesystemMirror('provider_installation {\n  network_mirror {\n    url = "https://mirror.example/providers/"\n  }\n}\nplugin_cache_dir = "/cache"\n')).toBe(false);
    expect(usesFilesystemMirror("")).toBe(false);
  });
});

describe("parseGoDuration", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["90s", 90_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1.5s", 1500],
    ["2h", 7_200_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(["", "90", "s", "-1s", "1 s", "1d"])("refuses %j", (text) => {
    expect(() => parseGoDuration(text)).toThrow(/invalid duration/);
  });
});
