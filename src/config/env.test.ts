import { describe, expect, it } from "vitest";
import { ConfigError, parseDuration, readEnv } from "./env.js";

const base = { REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db?sslmode=disable" };

describe("readEnv", () => {
  it("applies defaults", () => {
    const env = readEnv(base);
    expect(env.PTM_TERRAFORM_FLAVOR).toBe("tofu");
    expect(env.PTM_RUN_TIMEOUT).toBe(30 * 60_000);
    expect(env.PTM_LEADER_ELECTION).toBe(true);
    expect(env.PTM_WORKER_CONCURRENCY).toBe(2);
  });

  it("encrypts state by default with the key Secret, and refuses plain text for passwords unless asked", () => {
    const env = readEnv(base);
    expect(env.PTM_STATE_ENCRYPTION).toBe("on");
    expect(env.PTM_STATE_KEY_SECRET).toBe("proxmox-terraform-manager-state-key");
    expect(env.PTM_STATE_KEY_NAMESPACE).toBeUndefined();
    expect(env.PTM_ALLOW_PLAINTEXT_STATE).toBe(false);
    expect(() => readEnv({ ...base, PTM_STATE_ENCRYPTION: "maybe" })).toThrow(/PTM_STATE_ENCRYPTION/);
    expect(() => readEnv({ ...base, PTM_STATE_KEY_SECRET: "Not A Name" })).toThrow(/must be a Secret name/);
  });

  it("parses durations, booleans and numbers", () => {
    const env = readEnv({ ...base, PTM_RUN_TIMEOUT: "1h30m", PTM_LEADER_ELECTION: "false", PTM_WORKER_CONCURRENCY: "8" });
    expect(env.PTM_RUN_TIMEOUT).toBe(90 * 60_000);
    expect(env.PTM_LEADER_ELECTION).toBe(false);
    expect(env.PTM_WORKER_CONCURRENCY).toBe(8);
  });

  it("names every bad setting and what is wrong with it", () => {
    expect(() => readEnv({ ...base, REDIS_URL: "http://x", PTM_RUN_TIMEOUT: "soon", PTM_STATE_ENCRYPTION_PASSPHRASE: "short" })).toThrow(ConfigError);
    // Both settings named in one error (toThrow fails if nothing is thrown at all).
    expect(() => readEnv({ ...base, REDIS_URL: "http://x", PTM_RUN_TIMEOUT: "soon" })).toThrow(/REDIS_URL: must be a redis:\/\/[\s\S]*PTM_RUN_TIMEOUT: must be a duration|PTM_RUN_TIMEOUT: must be a duration[\s\S]*REDIS_URL: must be a redis:\/\//);
  });

  it("requires REDIS_URL and DATABASE_URL", () => {
    expect(() => readEnv({})).toThrow(/REDIS_URL[\s\S]*DATABASE_URL/);
  });
});

describe("readEnv: what keeps a shared cluster safe", () => {
  it("defaults to consent-required Secrets, https:// endpoints for any host, and bounded sidecar streams", () => {
    const env = readEnv(base);
    expect(env.PTM_SECRET_CONSENT).toBe("required");
    expect(env.PTM_SECRET_CONSUMER).toBe("proxmox-terraform-manager");
    expect(env.PTM_ALLOW_HTTP_ENDPOINTS).toBe(false);
    expect(env.PTM_ENDPOINT_ALLOWLIST).toEqual([]);
    expect(env.PTM_SSE_MAX_LIFETIME).toBe(30 * 60_000);
    expect(env.PTM_SSE_MAX_CLIENTS_PER_ADDRESS).toBe(32);
    expect(env.PTM_HTTP_HEADERS_TIMEOUT).toBe(20_000);
    expect(env.PTM_HTTP_REQUEST_TIMEOUT).toBe(60_000);
  });

  it("reads the endpoint allow-list as hosts, wildcard domains, addresses and CIDR blocks", () => {
    const env = readEnv({ ...base, PTM_ENDPOINT_ALLOWLIST: " pve.example.com, *.lab.example ,10.0.0.0/8,fd00::/8, 192.0.2.7" });
    expect(env.PTM_ENDPOINT_ALLOWLIST).toEqual(["pve.example.com", "*.lab.example", "10.0.0.0/8", "fd00::/8", "192.0.2.7"]);
    expect(() => readEnv({ ...base, PTM_ENDPOINT_ALLOWLIST: "pve.example.com,10.0.0.0/33" })).toThrow(/PTM_ENDPOINT_ALLOWLIST.*10\.0\.0\.0\/33/);
    expect(() => readEnv({ ...base, PTM_ENDPOINT_ALLOWLIST: "https://pve.example.com" })).toThrow(/PTM_ENDPOINT_ALLOWLIST/);
  });

  it("refuses a read token equal to the admin token", () => {
    const token = "the-same-token-0123456789";
    expect(() => readEnv({ ...base, PTM_SIDECAR_READ_TOKEN: token, PTM_SIDECAR_ADMIN_TOKEN: token })).toThrow(/PTM_SIDECAR_ADMIN_TOKEN: must differ from PTM_SIDECAR_READ_TOKEN/);
    const env = readEnv({ ...base, PTM_SIDECAR_READ_TOKEN: token, PTM_SIDECAR_ADMIN_TOKEN: `${token}-admin` });
    expect(env.PTM_SIDECAR_ADMIN_TOKEN).toBe(`${token}-admin`);
  });
});

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
  ])("%s", (text, ms) => expect(parseDuration(text)).toBe(ms));
});
