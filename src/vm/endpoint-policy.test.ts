import { describe, expect, it } from "vitest";
import { EndpointPolicy, isEndpointAllowEntry } from "./endpoint-policy.js";

describe("EndpointPolicy", () => {
  const open = new EndpointPolicy({ allowHttp: false, allowlist: [] });

  it("accepts https:// to any host when there is no allow-list", () => {
    expect(open.problem("https://pve.example.com:8006/")).toBeUndefined();
    expect(open.problem("https://192.0.2.10:8006")).toBeUndefined();
  });

  it("refuses http:// unless allowed, and says how to allow it", () => {
    expect(open.problem("http://pve.example.com:8006/")).toMatch(/unencrypted.*PTM_ALLOW_HTTP_ENDPOINTS=true/);
    expect(new EndpointPolicy({ allowHttp: true, allowlist: [] }).problem("http://pve.example.com:8006/")).toBeUndefined();
    expect(open.problem("ftp://pve.example.com/")).toMatch(/https:\/\//);
  });

  it("refuses credentials in the URL", () => {
    expect(open.problem("https://user:pw@pve.example.com/")).toMatch(/must not carry a user or password/);
  });

  it("holds endpoints to the allow-list: names, wildcard domains, addresses and CIDR blocks", () => {
    const policy = new EndpointPolicy({ allowHttp: false, allowlist: ["pve.example.com", "*.lab.example", "10.1.0.0/16", "192.0.2.7", "fd00::/8"] });
    for (const ok of ["https://pve.example.com:8006/", "https://PVE.Example.com./", "https://a.lab.example/", "https://b.c.lab.example/", "https://10.1.2.3:8006/", "https://192.0.2.7/", "https://[fd00::1]:8006/"]) {
      expect(policy.problem(ok), ok).toBeUndefined();
    }
    for (const refused of ["https://evil.example/", "https://lab.example/", "https://pve.example.com.evil.example/", "https://10.2.0.1/", "https://127.0.0.1/", "https://[::1]/", "https://2130706433/"]) {
      expect(policy.problem(refused), refused).toMatch(/not in the operator's endpoint allow-list/);
    }
  });
});

describe("isEndpointAllowEntry", () => {
  it.each(["pve.example.com", "*.example.com", "10.0.0.0/8", "192.0.2.1", "fd00::/8", "::1"])("%s is an entry", (entry) => expect(isEndpointAllowEntry(entry)).toBe(true));
  it.each(["https://pve", "10.0.0.0/33", "fd00::/129", "a..b", "*", "pve.example.com:8006", ""])("%s is not", (entry) => expect(isEndpointAllowEntry(entry)).toBe(false));
});
