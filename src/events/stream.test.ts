import { describe, expect, it } from "vitest";
import { matchesFilter } from "./filter.js";
import { decodeEntry, encodeFields, eventsStreamKey } from "./stream.js";

describe("stream entries", () => {
  it("round-trip through Redis' flat field list", () => {
    const fields = encodeFields({ kind: "log", namespace: "ns", name: "web", runId: "r1", data: { message: "a\nb", seq: 1 } });
    expect(fields).toEqual(["k", "log", "ns", "ns", "n", "web", "r", "r1", "d", '{"message":"a\\nb","seq":1}']);
    expect(decodeEntry("5-0", fields)).toEqual({ id: "5-0", kind: "log", namespace: "ns", name: "web", runId: "r1", data: '{"message":"a\\nb","seq":1}' });
  });

  it("gives VM events no run and skips kinds it does not know", () => {
    expect(decodeEntry("1-0", encodeFields({ kind: "vm", namespace: "ns", name: "web", data: {} }))?.runId).toBeUndefined();
    expect(decodeEntry("1-0", ["k", "future", "d", "{}"])).toBeUndefined();
    expect(decodeEntry("1-0", ["k", "vm"])).toBeUndefined();
  });

  it("names the stream after the deployment's prefix", () => {
    expect(eventsStreamKey("ptm")).toBe("ptm:events");
  });
});

describe("event filters", () => {
  const vm = { namespace: "a", name: "web" };
  const log = { namespace: "a", name: "web", runId: "r1" };
  it("match everything when empty", () => {
    expect(matchesFilter({}, vm)).toBe(true);
    expect(matchesFilter({}, log)).toBe(true);
  });
  it("need every given part to match", () => {
    expect(matchesFilter({ namespace: "a" }, vm)).toBe(true);
    expect(matchesFilter({ namespace: "b" }, vm)).toBe(false);
    expect(matchesFilter({ namespace: "a", name: "web" }, vm)).toBe(true);
    expect(matchesFilter({ namespace: "a", name: "db" }, vm)).toBe(false);
    expect(matchesFilter({ name: "web" }, { namespace: "other", name: "web" })).toBe(true);
  });
  it("select one run's events; VM events carry no run", () => {
    expect(matchesFilter({ run: "r1" }, log)).toBe(true);
    expect(matchesFilter({ run: "r2" }, log)).toBe(false);
    expect(matchesFilter({ run: "r1" }, vm)).toBe(false);
  });
});
