import { describe, expect, it } from "vitest";
import { canonicalStreamId, compareStreamIds } from "./stream-id.js";

describe("stream ids", () => {
  it("accepts ids as Redis writes them and canonicalizes client input", () => {
    expect(canonicalStreamId("1700000000000-0")).toBe("1700000000000-0");
    expect(canonicalStreamId(" 0017-03 ")).toBe("17-3");
    expect(canonicalStreamId("0-0")).toBe("0-0");
  });

  it.each(["", "abc", "12", "12-", "-1", "1-2-3", "1.5-0", "18446744073709551616-0", "1-18446744073709551616"])("refuses %j", (id) => {
    expect(canonicalStreamId(id)).toBeUndefined();
  });

  it("compares numerically, not as text", () => {
    expect(compareStreamIds("9-0", "10-0")).toBeLessThan(0);
    expect(compareStreamIds("10-0", "9-0")).toBeGreaterThan(0);
    expect(compareStreamIds("10-2", "10-10")).toBeLessThan(0);
    expect(compareStreamIds("10-10", "10-10")).toBe(0);
    expect(compareStreamIds("1700000000001-0", "1700000000000-99")).toBeGreaterThan(0);
    const ids = ["10-1", "9-5", "10-0", "100-0", "9-10"];
    expect([...ids].sort(compareStreamIds)).toEqual(["9-5", "9-10", "10-0", "10-1", "100-0"]);
  });
});
