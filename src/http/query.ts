import type { EventFilter } from "../events/filter.js";
import { canonicalStreamId } from "../events/stream-id.js";
import { badRequest } from "./errors.js";
import { parseLabelSelector, type LabelSelector } from "./label-selector.js";

/**
 * Query parameters of the API, checked strictly: an unknown parameter, a repeated one or a
 * malformed value is a 400 that says which and why (a typo never silently widens a query).
 */
export type Query = Record<string, unknown>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const RUNS_MAX_LIMIT = 500;
export const RUNS_DEFAULT_LIMIT = 50;
export const RUN_EVENTS_MAX_LIMIT = 10_000;
export const RUN_EVENTS_DEFAULT_LIMIT = 1000;

export function isNamespace(value: string): boolean {
  return value.length <= 63 && DNS_LABEL.test(value);
}

export function isObjectName(value: string): boolean {
  return value.length <= 253 && DNS_SUBDOMAIN.test(value);
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export interface VmListQuery {
  namespace?: string;
  labelSelector?: LabelSelector;
}

export function parseVmListQuery(q: Query): VmListQuery {
  only(q, ["namespace", "labelSelector"]);
  const out: VmListQuery = {};
  const namespace = optional(q, "namespace");
  if (namespace !== undefined) out.namespace = checkNamespace(namespace);
  const selector = optional(q, "labelSelector");
  if (selector !== undefined) out.labelSelector = parseLabelSelector(selector);
  return out;
}

export interface ConnectionListQuery {
  namespace?: string;
}

export function parseConnectionListQuery(q: Query): ConnectionListQuery {
  only(q, ["namespace"]);
  const namespace = optional(q, "namespace");
  return namespace !== undefined ? { namespace: checkNamespace(namespace) } : {};
}

export interface RunListQuery {
  namespace?: string;
  name?: string;
  limit: number;
  cursor?: string;
}

export function parseRunListQuery(q: Query): RunListQuery {
  only(q, ["namespace", "name", "limit", "cursor"]);
  const out: RunListQuery = { limit: integer(q, "limit", 1, RUNS_MAX_LIMIT) ?? RUNS_DEFAULT_LIMIT };
  const namespace = optional(q, "namespace");
  if (namespace !== undefined) out.namespace = checkNamespace(namespace);
  const name = optional(q, "name");
  if (name !== undefined) out.name = checkName(name);
  const cursor = optional(q, "cursor");
  if (cursor !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw badRequest("cursor: not a value returned as nextCursor by a previous page");
    out.cursor = cursor;
  }
  return out;
}

export interface RunEventsQuery {
  after: number;
  limit: number;
}

export function parseRunEventsQuery(q: Query): RunEventsQuery {
  only(q, ["after", "limit"]);
  return {
    after: integer(q, "after", 0, Number.MAX_SAFE_INTEGER) ?? 0,
    limit: integer(q, "limit", 1, RUN_EVENTS_MAX_LIMIT) ?? RUN_EVENTS_DEFAULT_LIMIT,
  };
}

export interface EventsQuery {
  filter: EventFilter;
  /** From `?lastEventId=` (canonical); the Last-Event-ID header is read by the route. */
  lastEventId?: string;
}

export function parseEventsQuery(q: Query): EventsQuery {
  only(q, ["namespace", "name", "run", "lastEventId", "access_token"]);
  const filter: EventFilter = {};
  const namespace = optional(q, "namespace");
  if (namespace !== undefined) filter.namespace = checkNamespace(namespace);
  const name = optional(q, "name");
  if (name !== undefined) filter.name = checkName(name);
  const run = optional(q, "run");
  if (run !== undefined) {
    if (!isUuid(run)) throw badRequest("run: must be a run id (a UUID)");
    filter.run = run.toLowerCase();
  }
  const out: EventsQuery = { filter };
  const last = optional(q, "lastEventId");
  if (last !== undefined) {
    const id = canonicalStreamId(last);
    if (!id) throw badRequest("lastEventId: must be an event id such as 1700000000000-0");
    out.lastEventId = id;
  }
  return out;
}

export function checkNamespace(value: string): string {
  if (!isNamespace(value)) throw badRequest(`namespace: "${value}" is not a valid namespace name (lower-case letters, digits and '-', at most 63)`);
  return value;
}

export function checkName(value: string): string {
  if (!isObjectName(value)) throw badRequest(`name: "${value}" is not a valid resource name (lower-case letters, digits, '-' and '.', at most 253)`);
  return value;
}

function only(q: Query, allowed: string[]): void {
  for (const key of Object.keys(q)) {
    if (!allowed.includes(key)) throw badRequest(`unknown query parameter "${key}"; allowed: ${allowed.join(", ")}`);
  }
}

function optional(q: Query, key: string): string | undefined {
  const value = q[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw badRequest(`${key}: give it once, as a single value`);
  return value;
}

function integer(q: Query, key: string, min: number, max: number): number | undefined {
  const text = optional(q, key);
  if (text === undefined) return undefined;
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`${key}: must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}
