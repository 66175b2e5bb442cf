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

  it("parses durations, booleans and numbers", () => {
    const env = readEnv({ ...base, PTM_RUN_TIMEOUT: "1h30m", PTM_LEADER_ELECTION: "false", PTM_WORKER_CONCURRENCY: "8" });
    expect(env.PTM_RUN_TIMEOUT).toBe(90 * 60_000);
    expect(env.PTM_LEADER_ELECTION).toBe(false);
    expect(env.PTM_WORKER_CONCURRENCY).toBe(8);
  });

  it("names every bad setting and what is wrong with it", () => {
    expect(() => readEnv({ ...base, REDIS_URL: "http://x", PTM_RUN_TIMEOUT: "soon", PTM_STATE_ENCRYPTION_PASSPHRASE: "short" })).toThrow(ConfigError);
    try {
      readEnv({ ...base, REDIS_URL: "http://x", PTM_RUN_TIMEOUT: "soon" });
    } catch (error) {
      expect((error as Error).message).toMatch(/REDIS_URL: must be a redis:\/\//);
      expect((error as Error).message).toMatch(/PTM_RUN_TIMEOUT: must be a duration/);
    }
  });

  it("requires REDIS_URL and DATABASE_URL", () => {
    expect(() => readEnv({})).toThrow(/REDIS_URL[\s\S]*DATABASE_URL/);
  });
});

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
  ])("%s", (text, ms) => expect(parseDuration(text)).toBe(ms));
});
