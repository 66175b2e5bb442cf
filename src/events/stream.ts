/**
 * The deployment's event stream: one Redis stream, `${PTM_QUEUE_PREFIX}:events`. Workers add
 * run and log events, the leading controller adds VM events; every sidecar replica reads it
 * (see docs/sidecar.md). An entry's fields:
 *
 *   k   kind: "vm" | "run" | "log"
 *   ns  the VM's namespace          n   the VM's name
 *   r   the run id ("" for vm)       d   the SSE event's data, JSON on one line
 *
 * `d` is exactly what the SSE `data:` line carries, so a sidecar forwards it without parsing.
 */
export type StreamEventKind = "vm" | "run" | "log";

export const STREAM_EVENT_KINDS: readonly StreamEventKind[] = ["vm", "run", "log"];

/** An event to add to the stream. */
export interface OutgoingEvent {
  kind: StreamEventKind;
  namespace: string;
  name: string;
  runId?: string;
  data: unknown;
}

/** An entry read back from the stream. */
export interface StreamEntry {
  /** The Redis stream id: the SSE event id. */
  id: string;
  kind: StreamEventKind;
  namespace: string;
  name: string;
  runId: string | undefined;
  /** The event's data as JSON text (one line). */
  data: string;
  /** The SSE frame, encoded once and shared by every connection that sends it. */
  frame?: Buffer;
}

export function eventsStreamKey(prefix: string): string {
  return `${prefix}:events`;
}

export function encodeFields(event: OutgoingEvent): string[] {
  return ["k", event.kind, "ns", event.namespace, "n", event.name, "r", event.runId ?? "", "d", JSON.stringify(event.data)];
}

/** Undefined for an entry this version does not understand (a newer writer's kind). */
export function decodeEntry(id: string, fields: readonly string[]): StreamEntry | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const kind = f.k as StreamEventKind | undefined;
  if (!kind || !STREAM_EVENT_KINDS.includes(kind) || f.d === undefined) return undefined;
  return { id, kind, namespace: f.ns ?? "", name: f.n ?? "", runId: f.r ? f.r : undefined, data: f.d };
}
