import { describe, expect, it } from "vitest";
import { LineSplitter, parseLine } from "./json-stream.js";
import { Redactor } from "./redact.js";

const now = () => new Date("2026-01-02T03:04:05.000Z");
const ctx = { phase: "plan" as const, stream: "stdout" as const, now };

// Lines as OpenTofu 1.12 prints them.
const lines = {
  version: `{"@level":"info","@message":"OpenTofu 1.12.6","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:23.140978Z","tofu":"1.12.6","type":"version","ui":"1.2"}`,
  planned: `{"@level":"info","@message":"terraform_data.b: Plan to create","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:23.164410Z","change":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create"},"type":"planned_change"}`,
  summary: `{"@level":"info","@message":"Plan: 2 to add, 0 to change, 0 to destroy.","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:23.164505Z","changes":{"add":2,"change":0,"import":0,"remove":0,"forget":0,"operation":"plan"},"type":"change_summary"}`,
  applyComplete: `{"@level":"info","@message":"terraform_data.b: Creation complete after 3s [id=2fe6]","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:28.264119Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create","id_key":"id","id_value":"2fe6","elapsed_seconds":3},"type":"apply_complete"}`,
  diagnostic: `{"@level":"error","@message":"Error: Unsupported argument","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:56.747319Z","diagnostic":{"severity":"error","summary":"Unsupported argument","detail":"An argument named \\"bogus\\" is not expected here.","address":"terraform_data.a","range":{"filename":"main.tf.json","start":{"line":1,"column":2,"byte":1},"end":{"line":1,"column":3,"byte":2}}},"type":"diagnostic"}`,
  untyped: `{"@level":"info","@message":"Initializing the backend...","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:23.032012Z"}`,
  drift: `{"@level":"info","@message":"terraform_data.a: Drift detected (update)","@module":"tofu.ui","@timestamp":"2026-11-28T03:41:23Z","change":{"resource":{"addr":"terraform_data.a"},"action":"update"},"type":"resource_drift"}`,
};

describe("parseLine", () => {
  it("reads the common fields of a version line", () => {
    expect(parseLine(lines.version, ctx)).toEqual({
      phase: "plan",
      stream: "stdout",
      level: "info",
      type: "version",
      message: "OpenTofu 1.12.6",
      timestamp: "2026-11-28T03:41:23.140978Z",
    });
  });

  it("takes resource and action from a planned_change", () => {
    expect(parseLine(lines.planned, ctx)).toMatchObject({ type: "planned_change", resource: "terraform_data.b", action: "create" });
  });

  it("takes the counts of a change_summary", () => {
    expect(parseLine(lines.summary, ctx).changes).toEqual({ add: 2, change: 0, import: 0, remove: 0, forget: 0 });
  });

  it("takes elapsed seconds from apply hooks", () => {
    expect(parseLine(lines.applyComplete, ctx)).toMatchObject({
      type: "apply_complete",
      resource: "terraform_data.b",
      action: "create",
      elapsedSeconds: 3,
    });
  });

  it("takes a diagnostic and its address", () => {
    const e = parseLine(lines.diagnostic, ctx);
    expect(e.level).toBe("error");
    expect(e.diagnostic).toEqual({
      severity: "error",
      summary: "Unsupported argument",
      detail: 'An argument named "bogus" is not expected here.',
      address: "terraform_data.a",
    });
    expect(e.resource).toBe("terraform_data.a");
  });

  it("calls a JSON line without a type a log", () => {
    expect(parseLine(lines.untyped, ctx)).toMatchObject({ type: "log", message: "Initializing the backend..." });
  });

  it("reads the address of a resource_drift", () => {
    expect(parseLine(lines.drift, ctx)).toMatchObject({ type: "resource_drift", resource: "terraform_data.a", action: "update" });
  });

  it("turns plain and broken lines into log events stamped now", () => {
    expect(parseLine("Initializing provider plugins...", ctx)).toEqual({
      phase: "plan",
      stream: "stdout",
      level: "info",
      type: "log",
      message: "Initializing provider plugins...",
      timestamp: "2026-01-02T03:04:05.000Z",
    });
    expect(parseLine("{not json", { ...ctx, stream: "stderr" })).toMatchObject({ type: "log", level: "warn", message: "{not json" });
    expect(parseLine('{"a":1}', ctx)).toMatchObject({ type: "log", message: '{"a":1}' });
  });

  it("maps trace to debug and unknown levels to info", () => {
    expect(parseLine(`{"@level":"trace","@message":"x"}`, ctx).level).toBe("debug");
    expect(parseLine(`{"@level":"loud","@message":"x"}`, ctx).level).toBe("info");
  });

  it("redacts decoded strings, including JSON-escaped secrets", () => {
    const redactor = new Redactor(['pa"ss<word>&1']);
    const line = JSON.stringify({
      "@level": "error",
      "@message": 'Error: bad pa"ss<word>&1',
      type: "diagnostic",
      diagnostic: { severity: "error", summary: 'login pa"ss<word>&1', detail: 'with pa"ss<word>&1 rejected' },
    }).replace("<", "\\u003c");
    const e = parseLine(line, { ...ctx, redactor });
    expect(e.message).toBe("Error: bad [REDACTED]");
    expect(e.diagnostic).toMatchObject({ summary: "login [REDACTED]", detail: "with [REDACTED] rejected" });
    expect(parseLine("plain pa\"ss<word>&1 here", { ...ctx, redactor }).message).toBe("plain [REDACTED] here");
  });
});

describe("LineSplitter", () => {
  it("joins lines split across chunks and handles CRLF and a missing final newline", () => {
    const s = new LineSplitter();
    expect(s.push("ab")).toEqual([]);
    expect(s.push("c\r\nde")).toEqual(["abc"]);
    expect(s.push("f\n\ng")).toEqual(["def", ""]);
    expect(s.end()).toEqual(["g"]);
    expect(s.end()).toEqual([]);
  });

  it("does not break multi-byte characters split between chunks", () => {
    const s = new LineSplitter();
    const bytes = new TextEncoder().encode("╷ Error: é\n");
    const lines = [...s.push(bytes.slice(0, 2)), ...s.push(bytes.slice(2, 12)), ...s.push(bytes.slice(12))];
    expect(lines).toEqual(["╷ Error: é"]);
  });
});
