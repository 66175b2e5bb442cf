import { CliError, EXIT, networkCode } from "./errors.js";

/** How long one REST call may take before the CLI gives up on the sidecar. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The sidecar's REST API (docs/sidecar.md) as the CLI uses it. Every failure becomes a CliError
 * whose message says what to fix: the URL for an unreachable sidecar, the flag or variable for a
 * missing or refused token, the VM for a 404.
 */
export class SidecarClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body?: object): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** Opens the SSE stream (GET /api/v1/events?...); the caller reads and aborts the body. */
  async openEvents(query: string, signal: AbortSignal, lastEventId?: string): Promise<ReadableStream<Uint8Array>> {
    const path = `/api/v1/events?${query}`;
    const headers: Record<string, string> = { Accept: "text/event-stream", ...this.authHeader() };
    if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
    const res = await this.send("GET", path, { headers, signal });
    if (res.status !== 200 || !res.body) throw await this.errorOf("GET", path, res);
    return res.body;
  }

  private async request<T>(method: string, path: string, body?: object): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...this.authHeader() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const init: RequestInit = { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await this.send(method, path, init);
    if (res.status >= 400) throw await this.errorOf(method, path, res);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`the sidecar at ${this.baseUrl} answered ${method} ${path} with something that is not JSON (is --server/PTM_SERVER the sidecar's URL?)`);
    }
  }

  private authHeader(): Record<string, string> {
    return this.token !== undefined ? { Authorization: `Bearer ${this.token}` } : {};
  }

  private async send(method: string, path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, { ...init, method, redirect: "error" });
    } catch (error) {
      if ((error as Error).name === "TimeoutError") throw new CliError(`the sidecar at ${this.baseUrl} did not answer ${method} ${path} within ${REQUEST_TIMEOUT_MS / 1000} s`, EXIT.unreachable);
      if ((error as Error).name === "AbortError") throw error;
      const code = networkCode(error) ?? ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      throw new CliError(`cannot reach the sidecar at ${this.baseUrl} (${code}): check --server or PTM_SERVER`, EXIT.unreachable);
    }
  }

  private async errorOf(method: string, path: string, res: Response): Promise<CliError> {
    const message = serverMessage(await res.text().catch(() => ""));
    switch (res.status) {
      case 401:
        return new CliError(
          this.token === undefined
            ? `the sidecar at ${this.baseUrl} needs a token: pass --token or set PTM_TOKEN (its read token; the admin token for approve, discard and reconcile)`
            : `the sidecar at ${this.baseUrl} refused the token in --token/PTM_TOKEN: ${message ?? "not valid"}`,
          EXIT.auth,
        );
      case 403:
        return new CliError(
          /read token/.test(message ?? "") ? `${message}: pass the sidecar's admin token in --token or PTM_TOKEN` : `the sidecar at ${this.baseUrl} refused ${method} ${path}: ${message ?? "forbidden"}`,
          EXIT.auth,
        );
      case 404:
        // An unknown route (an older sidecar) is not an unknown VM.
        if (message === undefined || message.startsWith("no such endpoint")) {
          return new CliError(`the sidecar at ${this.baseUrl} does not serve ${method} ${path.replace(/\?.*$/, "")} (an older version than this kubectl-ptm?)`);
        }
        return new CliError(message, EXIT.notFound);
      default:
        return new CliError(`${message ?? `the sidecar at ${this.baseUrl} answered ${method} ${path} with HTTP ${res.status}`}${res.status >= 500 ? ` (HTTP ${res.status})` : ""}`);
    }
  }
}

/** The message of the sidecar's error body `{ error: { code, message } }` (or the contract's `{ error: "..." }`). */
export function serverMessage(body: string): string | undefined {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    if (typeof error === "string") return error;
    const message = (error as { message?: unknown } | undefined)?.message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}
