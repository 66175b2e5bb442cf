import { describe, expect, it } from "vitest";
import { HttpError } from "./errors.js";
import { matchesLabels, parseLabelSelector } from "./label-selector.js";
import { parseEventsQuery, parseRunEventsQuery, parseRunListQuery, parseVmListQuery } from "./query.js";

function status400(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    return (error as HttpError).message;
  }
  throw new Error("no error");
}

describe("query parameters", () => {
  it("runs: defaults, limits and filters", () => {
    expect(parseRunListQuery({})).toEqual({ limit: 50 });
    expect(parseRunListQuery({ namespace: "ns", name: "web.a", limit: "1", cursor: "abc_-1" })).toEqual({ namespace: "ns", name: "web.a", limit: 1, cursor: "abc_-1" });
  });

  it.each([
    [{ limit: "abc" }, /limit: must be an integer from 1 to 500, got "abc"/],
    [{ limit: "0" }, /limit/],
    [{ limit: "501" }, /limit/],
    [{ limit: "1.5" }, /limit/],
    [{ limit: "-1" }, /limit/],
    [{ limit: ["1", "2"] }, /limit: give it once/],
    [{ cursor: "not a cursor!" }, /cursor/],
    [{ namespace: "Bad_NS" }, /namespace/],
    [{ name: "-x" }, /name/],
    [{ limt: "5" }, /unknown query parameter "limt"/],
  ])("runs: %j is a 400", (q, message) => {
    expect(status400(() => parseRunListQuery(q))).toMatch(message);
  });

  it("run events: after and limit", () => {
    expect(parseRunEventsQuery({})).toEqual({ after: 0, limit: 1000 });
    expect(parseRunEventsQuery({ after: "12", limit: "5" })).toEqual({ after: 12, limit: 5 });
    expect(status400(() => parseRunEventsQuery({ after: "-1" }))).toMatch(/after/);
    expect(status400(() => parseRunEventsQuery({ after: "x" }))).toMatch(/after/);
    expect(status400(() => parseRunEventsQuery({ limit: "10001" }))).toMatch(/limit/);
  });

  it("vms: namespace and label selector", () => {
    expect(parseVmListQuery({ namespace: "ns", labelSelector: "app=web" })).toEqual({ namespace: "ns", labelSelector: [{ key: "app", op: "=", value: "web" }] });
    expect(status400(() => parseVmListQuery({ labelSelector: "app in (a" }))).toMatch(/labelSelector/);
  });

  it("events: filter, lastEventId and the access token", () => {
    const run = "0f0e0d0c-0b0a-4908-8706-050403020100";
    expect(parseEventsQuery({ namespace: "ns", name: "web", run: run.toUpperCase(), lastEventId: "0012-3", access_token: "t" })).toEqual({
      filter: { namespace: "ns", name: "web", run },
      lastEventId: "12-3",
    });
    expect(status400(() => parseEventsQuery({ run: "nope" }))).toMatch(/run/);
    expect(status400(() => parseEventsQuery({ lastEventId: "yesterday" }))).toMatch(/lastEventId/);
  });
});

describe("label selectors", () => {
  const labels = { app: "web", tier: "front", "example.com/team": "ops" };
  it.each([
    ["app=web", true],
    ["app==web", true],
    ["app=db", false],
    ["app!=db", true],
    ["app!=web", false],
    ["missing!=x", true],
    ["app in (db, web)", true],
    ["app notin (db,web)", false],
    ["missing notin (a)", true],
    ["tier", true],
    ["!tier", false],
    ["!missing", true],
    ["app=web,tier=front,example.com/team=ops", true],
    ["app=web, tier=back", false],
    ["", true],
  ])("%j → %s", (selector, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it.each(["app=", "=web", "a b", "app in (x", "app in x)", "app=w eb", "-app=x"])("refuses %j unless it is valid", (selector) => {
    if (selector === "app=") {
      // An empty value is valid in Kubernetes: app has the empty value.
      expect(matchesLabels(parseLabelSelector(selector), { app: "" })).toBe(true);
      return;
    }
    expect(status400(() => parseLabelSelector(selector))).toMatch(/labelSelector/);
  });
});
