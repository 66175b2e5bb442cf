// The sidecar's REST API (/api/v1, relative to the page) and the server's clock.

/* global document, fetch, URL */

import { banner } from "./notices.js";
import { auth } from "./read-token.js";

const API_BASE = "api/v1/";

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function apiUrl(path, params = {}) {
  const url = new URL(API_BASE + path, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  return url;
}

/** Server time minus browser time, from the Date header: ages stay right on a skewed laptop clock. */
let clockSkewMs = 0;
export const serverNow = () => Date.now() + clockSkewMs;

function noteServerDate(header) {
  const server = header ? Date.parse(header) : NaN;
  if (Number.isNaN(server)) return;
  const skew = server + 500 - Date.now(); // the header has whole seconds: assume the middle
  clockSkewMs = Math.abs(skew) > 2000 ? skew : 0;
}

export async function api(path, params, options = {}) {
  const headers = { Accept: "application/json" };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let response;
  try {
    response = await fetch(apiUrl(path, params), { headers, cache: "no-store", signal: options.signal });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "the sidecar cannot be reached");
  }
  noteServerDate(response.headers.get("Date"));
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    const error = new ApiError(response.status, errorText(text) || `${response.status} ${response.statusText}`);
    if (response.status === 401 || response.status === 403) banner.auth(error);
    throw error;
  }
  const body = await response.json().catch(() => {
    throw new ApiError(response.status, "the sidecar answered something that is not JSON");
  });
  banner.clearAuth();
  return body;
}

function errorText(text) {
  try {
    const body = JSON.parse(text);
    if (typeof body === "string") return body;
    if (typeof body?.message === "string") return body.message;
    if (typeof body?.error === "string") return body.error;
    if (typeof body?.error?.message === "string") return body.error.message;
  } catch {
    // Not JSON: an HTML error page says nothing useful.
  }
  return "";
}

/** A run by id (`GET runs/{id}`), or null when the sidecar has no such run. */
export async function findRun(id) {
  try {
    return await api(`runs/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

/** A run's desired and planned change (`GET runs/{id}/plan`), or null when the sidecar has no such run. */
export async function runPlan(id) {
  try {
    return await api(`runs/${encodeURIComponent(id)}/plan`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

/** An admin POST (approve, discard) with the token the person typed; the token is not kept. */
export async function adminPost(path, body, token) {
  const response = await fetch(apiUrl(path), {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    cache: "no-store",
  }).catch(() => {
    throw new ApiError(0, "the sidecar cannot be reached");
  });
  const text = await response.text().catch(() => "");
  if (!response.ok) throw new ApiError(response.status, errorText(text) || `${response.status} ${response.statusText}`);
  return JSON.parse(text);
}
