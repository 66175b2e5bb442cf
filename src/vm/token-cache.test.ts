import { describe, expect, it } from "vitest";
import { TokenCache } from "./token-cache.js";

const TOKEN = { apiToken: "ptm@pve!ci=5a5a5a5a-0000-4000-8000-000000000001" };

describe("TokenCache", () => {
  it("answers for the connection version it was read at, until it is too old", () => {
    let now = 1_000;
    const cache = new TokenCache({ maxAgeMs: 60_000, now: () => now });
    cache.set("ns/pve", "41", { ...TOKEN, caBundle: "-----BEGIN CERTIFICATE-----" });
    expect(cache.get("ns/pve", "41")).toEqual({ ...TOKEN, caBundle: "-----BEGIN CERTIFICATE-----" });
    now += 59_999;
    expect(cache.get("ns/pve", "41")).toEqual({ ...TOKEN, caBundle: "-----BEGIN CERTIFICATE-----" });
    now += 1;
    expect(cache.get("ns/pve", "41")).toBeUndefined();
    // An expired entry is gone, not merely hidden.
    expect(cache.size).toBe(0);
  });

  it("misses once the connection changed (another resourceVersion) and drops the old entry", () => {
    const cache = new TokenCache();
    cache.set("ns/pve", "41", TOKEN);
    expect(cache.get("ns/pve", "42")).toBeUndefined();
    expect(cache.get("ns/pve", "41")).toBeUndefined();
  });

  it("forgets a connection's token (an auth failure) without touching another's", () => {
    const cache = new TokenCache();
    cache.set("ns/pve", "41", TOKEN);
    cache.set("ns/other", "7", TOKEN);
    cache.forget("ns/pve");
    expect(cache.get("ns/pve", "41")).toBeUndefined();
    expect(cache.get("ns/other", "7")).toEqual(TOKEN);
  });

  it("keeps nothing for an object without a resourceVersion", () => {
    const cache = new TokenCache();
    cache.set("ns/pve", undefined, TOKEN);
    expect(cache.size).toBe(0);
    expect(cache.get("ns/pve", undefined)).toBeUndefined();
  });
});
