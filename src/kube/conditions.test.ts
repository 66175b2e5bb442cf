import { describe, expect, it } from "vitest";
import { setCondition } from "./conditions.js";

describe("setCondition", () => {
  const t0 = new Date("2026-01-01T00:00:00.000Z");
  const t1 = new Date("2026-01-01T00:05:00.000Z");

  it("adds a condition with a second-precision transition time", () => {
    const list = setCondition(undefined, { type: "Ready", status: "False", reason: "Queued", message: "m" }, t0);
    expect(list).toEqual([{ type: "Ready", status: "False", reason: "Queued", message: "m", lastTransitionTime: "2026-01-01T00:00:00Z" }]);
  });

  it("keeps lastTransitionTime while the status stays, and moves it when the status flips", () => {
    const a = setCondition(undefined, { type: "Ready", status: "False", reason: "Queued", message: "" }, t0);
    const b = setCondition(a, { type: "Ready", status: "False", reason: "Applying", message: "x", observedGeneration: 2 }, t1);
    expect(b[0]).toMatchObject({ reason: "Applying", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 2 });
    const c = setCondition(b, { type: "Ready", status: "True", reason: "Provisioned", message: "" }, t1);
    expect(c[0]!.lastTransitionTime).toBe("2026-01-01T00:05:00Z");
  });

  it("leaves other conditions alone", () => {
    const a = setCondition(undefined, { type: "Ready", status: "True", reason: "Provisioned", message: "" }, t0);
    const b = setCondition(a, { type: "Stalled", status: "False", reason: "UpToDate", message: "" }, t1);
    expect(b.map((c) => c.type)).toEqual(["Ready", "Stalled"]);
    expect(b[0]).toEqual(a[0]);
  });
});
