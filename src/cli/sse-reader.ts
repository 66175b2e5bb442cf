/** One Server-Sent Events message, as EventSource dispatches it. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Parses an SSE byte stream (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * `data:` lines joined by newlines, `event:` defaulting to "message", comments ignored, and the
 * last `id:` seen, which an id-only frame moves without dispatching an event.
 */
export class SseParser {
  lastEventId: string | undefined;
  private buffer = "";
  private id: string | undefined;
  private event: string | undefined;
  private data: string[] = [];

  /** Feeds decoded text; returns the messages it completed. */
  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (this.buffer[nl] === "\r" && nl === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith("\r\n", nl) ? 2 : 1));
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === "") {
      if (this.id !== undefined) this.lastEventId = this.id;
      const message = this.data.length > 0 ? { id: this.lastEventId, event: this.event ?? "message", data: this.data.join("\n") } : undefined;
      this.id = undefined;
      this.event = undefined;
      this.data = [];
      return message;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") this.data.push(value);
    else if (name === "event") this.event = value;
    else if (name === "id" && !value.includes("\0")) this.id = value;
    return undefined;
  }
}

/** The messages of a fetch body, until it ends or the reader is aborted. */
export async function* sseMessages(body: ReadableStream<Uint8Array>, parser = new SseParser()): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.releaseLock();
  }
}
