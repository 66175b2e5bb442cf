/**
 * tofu's machine-readable UI (`-json`): one JSON object per stdout line with `@level`,
 * `@message`, `@module`, `@timestamp` and `type`, plus a type-specific payload (`hook`, `change`,
 * `changes`, `diagnostic`, ...). Lines that are not such objects (init without -json, stderr,
 * provider panics) become `type: "log"` events.
 */
import type {
  ChangeCounts,
  TerraformDiagnostic,
  TerraformEvent,
  TerraformLevel,
  TerraformPhase,
  TerraformStream,
} from "./events.js";
import type { Redactor } from "./redact.js";

/** Splits a byte stream into lines (LF or CRLF), keeping the unfinished tail between chunks. */
export class LineSplitter {
  private tail = "";
  private readonly decoder = new TextDecoder("utf-8");

  /** The complete lines in `chunk` (plus what was buffered before it). */
  push(chunk: Uint8Array | string): string[] {
    const text = this.tail + (typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true }));
    const parts = text.split("\n");
    this.tail = parts.pop() ?? "";
    return parts.map(stripCr);
  }

  /** The last line when the stream ended without a newline. */
  end(): string[] {
    const rest = this.tail + this.decoder.decode();
    this.tail = "";
    return rest.length > 0 ? [stripCr(rest)] : [];
  }
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

export interface LineContext {
  phase: TerraformPhase;
  stream: TerraformStream;
  redactor?: Redactor;
  /** Clock for lines without a timestamp (tests pin it). */
  now?: () => Date;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function level(v: unknown): TerraformLevel {
  switch (v) {
    case "error":
    case "warn":
    case "debug":
    case "info":
      return v;
    case "warning":
      return "warn";
    case "trace":
      return "debug";
    default:
      return "info";
  }
}

function changeCounts(v: unknown): ChangeCounts | undefined {
  if (!isObject(v)) return undefined;
  return {
    add: num(v.add) ?? 0,
    change: num(v.change) ?? 0,
    import: num(v.import) ?? 0,
    remove: num(v.remove) ?? 0,
    forget: num(v.forget) ?? 0,
  };
}

function diagnostic(v: unknown): TerraformDiagnostic | undefined {
  if (!isObject(v)) return undefined;
  const d: TerraformDiagnostic = {
    severity: v.severity === "error" ? "error" : "warning",
    summary: str(v.summary) ?? "",
    detail: str(v.detail) ?? "",
  };
  const address = str(v.address);
  if (address) d.address = address;
  return d;
}

/** The resource address of a hook/change payload (`{ resource: { addr } }`). */
function resourceAddr(v: unknown): string | undefined {
  return isObject(v) && isObject(v.resource) ? str(v.resource.addr) : undefined;
}

/** Parses one line of output into an event; never throws. Every string in the result is redacted. */
export function parseLine(line: string, ctx: LineContext): TerraformEvent {
  const now = ctx.now ?? (() => new Date());
  let parsed: unknown;
  if (line.startsWith("{")) {
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
  }
  if (!isObject(parsed) || !("@message" in parsed || "@level" in parsed)) {
    const event: TerraformEvent = {
      phase: ctx.phase,
      stream: ctx.stream,
      level: ctx.stream === "stderr" ? "warn" : "info",
      type: "log",
      message: line,
      timestamp: now().toISOString(),
    };
    return redactEvent(event, ctx.redactor);
  }

  const event: TerraformEvent = {
    phase: ctx.phase,
    stream: ctx.stream,
    level: level(parsed["@level"]),
    type: str(parsed.type) ?? "log",
    message: str(parsed["@message"]) ?? "",
    timestamp: str(parsed["@timestamp"]) ?? now().toISOString(),
  };
  const payload = isObject(parsed.hook) ? parsed.hook : isObject(parsed.change) ? parsed.change : undefined;
  const resource = resourceAddr(payload);
  if (resource) event.resource = resource;
  const action = payload ? str(payload.action) : undefined;
  if (action) event.action = action;
  const elapsed = payload ? num(payload.elapsed_seconds) : undefined;
  if (elapsed !== undefined) event.elapsedSeconds = elapsed;
  const diag = diagnostic(parsed.diagnostic);
  if (diag) {
    event.diagnostic = diag;
    if (!event.resource && diag.address) event.resource = diag.address;
  }
  const changes = changeCounts(parsed.changes);
  if (changes) event.changes = changes;
  return redactEvent(event, ctx.redactor);
}

/** Redacts the decoded strings (not the raw JSON line), so JSON-escaped secrets are caught too. */
function redactEvent(event: TerraformEvent, redactor: Redactor | undefined): TerraformEvent {
  if (!redactor || redactor.size === 0) return event;
  const r = (s: string) => redactor.redact(s);
  event.message = r(event.message);
  if (event.resource) event.resource = r(event.resource);
  if (event.diagnostic) {
    event.diagnostic.summary = r(event.diagnostic.summary);
    event.diagnostic.detail = r(event.diagnostic.detail);
    if (event.diagnostic.address) event.diagnostic.address = r(event.diagnostic.address);
  }
  return event;
}

/** What an `apply -json` line says beyond its event: the plan's own summary, and output values. */
export interface StreamFacts {
  /** A `change_summary` of the plan step (an apply prints one for its plan, then one for itself). */
  planSummary?: ChangeCounts;
  /** `outputs` with values (printed after an apply; the plan's `outputs` line has only actions). Sensitive ones are left out. */
  outputs?: Record<string, unknown>;
}

export function streamFacts(line: string): StreamFacts {
  if (!line.startsWith("{") || !(line.includes('"change_summary"') || line.includes('"outputs"'))) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return {};
  }
  if (!isObject(parsed)) return {};
  if (parsed.type === "change_summary" && isObject(parsed.changes) && parsed.changes.operation === "plan") {
    return { planSummary: changeCounts(parsed.changes) };
  }
  if (parsed.type === "outputs" && isObject(parsed.outputs)) {
    const entries = Object.entries(parsed.outputs).filter((e): e is [string, Json] => isObject(e[1]));
    if (!entries.some(([, o]) => "value" in o)) return {};
    const outputs: Record<string, unknown> = {};
    for (const [name, o] of entries) if (o.sensitive !== true && "value" in o) outputs[name] = o.value;
    return { outputs };
  }
  return {};
}
