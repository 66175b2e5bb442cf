import { describe, expect, it } from "vitest";
import { SseParser, sseMessages } from "./sse-reader.js";

describe("SSE parser", () => {
  it("joins data lines, names events, skips comments and keeps the last id, across any chunking", () => {
    const wire = "retry: 3000\n\nid: 1-0\n\n: heartbeat\n\nid: 2-0\nevent: log\ndata: {\"seq\":1,\ndata: \"x\":2}\n\nevent: run\r\ndata: done\r\n\r\n";
    for (const size of [1, 2, 7, wire.length]) {
      const parser = new SseParser();
      const messages = [];
      for (let i = 0; i < wire.length; i += size) messages.push(...parser.push(wire.slice(i, i + size)));
      expect(messages, `chunks of ${size}`).toEqual([
        { id: "2-0", event: "log", data: '{"seq":1,\n"x":2}' },
        { id: "2-0", event: "run", data: "done" },
      ]);
      expect(parser.lastEventId).toBe("2-0");
    }
  });

  it("moves the last id on an id-only frame without dispatching", () => {
    const parser = new SseParser();
    expect(parser.push("id: 5-1\n\n")).toEqual([]);
    expect(parser.lastEventId).toBe("5-1");
  });

  it("reads the messages of a byte stream until it ends", async () => {
    const bytes = new TextEncoder().encode("event: log\ndata: a\n\nevent: log\ndata: b\n\n");
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 13));
        controller.enqueue(bytes.slice(13));
        controller.close();
      },
    });
    const seen = [];
    for await (const m of sseMessages(body)) seen.push(m.data);
    expect(seen).toEqual(["a", "b"]);
  });
});
