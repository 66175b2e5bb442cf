import { request, type ClientRequest, type IncomingMessage } from "node:http";

/** One SSE message as EventSource would see it (frames with data), plus the raw fields. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * A minimal EventSource for tests: one connection (no automatic reconnect), parsed as the
 * WHATWG spec says, keeping every message, comment and the last event id.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** What EventSource would send as Last-Event-ID after this connection. */
  lastEventId: string | undefined;
  ended = false;
  private buffer = "";
  private fields: { id?: string; event?: string; data: string[] } = { data: [] };
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly req: ClientRequest,
    readonly response: IncomingMessage,
  ) {
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => this.feed(chunk));
    response.on("end", () => this.finish());
    response.on("close", () => this.finish());
  }

  static connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { Accept: "text/event-stream", ...headers } }, (res) => {
        if (res.statusCode !== 200) {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => reject(new Error(`SSE ${url}: HTTP ${res.statusCode} ${body}`)));
          return;
        }
        resolve(new SseClient(req, res));
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** Messages of these event types, in order. */
  of(...events: string[]): SseMessage[] {
    return this.messages.filter((m) => events.includes(m.event));
  }

  async waitFor(predicate: (c: this) => boolean, timeoutMs = 60_000, what = "a condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) {
        throw new Error(`SSE: timed out waiting for ${what}; got ${this.messages.length} messages: ${this.messages.slice(-5).map((m) => `${m.id} ${m.event} ${m.data.slice(0, 120)}`).join(" | ")}`);
      }
      if (this.ended && !predicate(this)) throw new Error(`SSE: the stream ended while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops reading: the bytes pile up in the socket buffers, as with a client that cannot keep up. */
  pause(): void {
    this.response.pause();
  }

  resume(): void {
    this.response.resume();
  }

  close(): void {
    this.req.destroy();
    this.finish();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith("\r\n", nl) ? 2 : 1));
      this.line(line);
    }
    for (const w of this.waiters.splice(0)) w();
  }

  private line(line: string): void {
    if (line === "") {
      // Dispatch: the id is taken even without data (an id-only frame moves the resume point).
      if (this.fields.id !== undefined) this.lastEventId = this.fields.id;
      if (this.fields.data.length > 0) {
        this.messages.push({ id: this.lastEventId, event: this.fields.event ?? "message", data: this.fields.data.join("\n") });
      }
      this.fields = { data: [] };
      return;
    }
    if (line.startsWith(":")) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") this.fields.data.push(value);
    else if (name === "event") this.fields.event = value;
    else if (name === "id") this.fields.id = value;
    else if (name === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  private finish(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w();
  }
}
