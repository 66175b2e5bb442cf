import { describe, expect, it } from "vitest";
import { readEnv } from "./env.js";
import { describeWatched, invalidNamespaceEntry, watchedNamespaces } from "./namespaces.js";

const base = { REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/d" };

describe("PTM_NAMESPACE", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    [" , ", undefined],
    ["demo", ["demo"]],
    ["demo,default", ["demo", "default"]],
    [" demo , default,demo ", ["demo", "default"]],
  ])("%j watches %j", (value, expected) => {
    expect(watchedNamespaces(value)).toEqual(expected);
  });

  it("describes what is watched, for the start-up log and the demo", () => {
    expect(describeWatched(undefined)).toBe("all namespaces");
    expect(describeWatched(["demo"])).toBe("namespace demo");
    expect(describeWatched(["demo", "default"])).toBe("namespaces demo, default");
  });

  it("refuses an entry that is not a namespace name, naming it", () => {
    expect(invalidNamespaceEntry("demo,Team_A")).toContain('"Team_A" is not a namespace name');
    expect(invalidNamespaceEntry(`demo,${"a".repeat(64)}`)).toContain("at most 63");
    expect(invalidNamespaceEntry("demo,default")).toBeUndefined();
    expect(() => readEnv({ ...base, PTM_NAMESPACE: "demo,Team_A" })).toThrow(/PTM_NAMESPACE.*"Team_A" is not a namespace name/s);
    expect(readEnv({ ...base, PTM_NAMESPACE: "demo,default" }).PTM_NAMESPACE).toBe("demo,default");
  });
});
