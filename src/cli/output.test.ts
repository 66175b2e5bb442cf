import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { age, duration, render, table } from "./output.js";

describe("output", () => {
  it("pads table columns to the widest cell, three spaces apart, without trailing blanks", () => {
    expect(table(["NAME", "VMID", "STATE"], [["web", "100", "Running"], ["database-1", "", "Pending"]])).toBe(
      ["NAME         VMID   STATE", "web          100    Running", "database-1          Pending", ""].join("\n"),
    );
  });

  it("renders json and yaml from the data, tables from the table function", () => {
    const data = { items: [{ name: "web", vmId: 100 }] };
    expect(JSON.parse(render("json", data, () => "table"))).toEqual(data);
    expect(parseYaml(render("yaml", data, () => "table"))).toEqual(data);
    expect(render("table", data, (wide) => `wide=${wide}`)).toBe("wide=false");
    expect(render("wide", data, (wide) => `wide=${wide}`)).toBe("wide=true");
  });

  it("shows ages and durations as kubectl does", () => {
    const now = Date.parse("2026-12-03T12:00:00Z");
    const ago = (s: number) => new Date(now - s * 1000).toISOString();
    expect([5, 119, 120, 7199, 7200, 172_799, 172_800, 800 * 86_400].map((s) => age(ago(s), now))).toEqual(["5s", "119s", "2m", "119m", "2h", "47h", "2d", "2y"]);
    expect(age(null, now)).toBe("<unknown>");
    expect(age("garbage", now)).toBe("<unknown>");
    expect(duration("2026-12-03T12:00:00.000Z", "2026-12-03T12:00:00.850Z")).toBe("850ms");
    expect(duration("2026-12-03T12:00:00Z", "2026-12-03T12:00:42Z")).toBe("42s");
    expect(duration("2026-12-03T12:00:00Z", "2026-12-03T12:03:07Z")).toBe("3m07s");
    expect(duration("2026-12-03T12:00:00Z", null)).toBe("");
  });
});
