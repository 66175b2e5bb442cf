import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { multipartBoundary, receiveMultipart, UploadError } from "./multipart-upload.js";

const dir = mkdtempSync(path.join(tmpdir(), "ptm-multipart-"));
let n = 0;
const tmpFile = () => path.join(dir, `pveupload-${n++}`);

async function* chunks(body: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size);
}

describe("multipart upload parsing (pve-http-server's rules)", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const data = Buffer.from("line one\r\n--not-the-boundary\r\n\r\nend\r\n");
  const body = (nl: string) =>
    Buffer.concat([
      Buffer.from(`preamble to skip${nl}--B${nl}Content-Disposition: form-data; name="content"${nl}${nl} iso ${nl}`),
      Buffer.from(`--B${nl}Content-Disposition: form-data; name="checksum-algorithm"${nl}${nl}sha256${nl}`),
      Buffer.from(`--B${nl}Content-Disposition: form-data; name="filename"; filename=" a.iso "${nl}Content-Type: application/octet-stream${nl}${nl}`),
      data,
      Buffer.from(`${nl}--B--${nl}epilogue`),
    ]);

  it.each([1, 3, 7, 4096])("reads fields and file data however the body is split (%i-byte reads)", async (size) => {
    for (const nl of ["\r\n", "\n"]) {
      const file = tmpFile();
      const got = await receiveMultipart(chunks(body(nl), size), "B", file, { maxFileBytes: 1 << 20 });
      expect(got).toEqual({ fields: { content: "iso", "checksum-algorithm": "sha256" }, filename: "a.iso", bytes: data.length });
      expect(readFileSync(file)).toEqual(data);
    }
  });

  it("fails a body without its closing delimiter and a file beyond the limit, leaving no file", async () => {
    const whole = body("\r\n");
    for (const [input, limit, message] of [
      [whole.subarray(0, whole.length - 16), 1 << 20, "upload failed"],
      [whole, 10, "write to temporary file failed - No space left on device"],
    ] as const) {
      const file = tmpFile();
      await expect(receiveMultipart(chunks(input, 5), "B", file, { maxFileBytes: limit })).rejects.toEqual(new UploadError(message));
      expect(existsSync(file)).toBe(false);
    }
  });

  it("reads the boundary from the Content-Type as parse_content_type does", () => {
    expect(multipartBoundary("multipart/form-data; boundary=abc123")).toEqual({ type: "multipart/form-data", boundary: "abc123" });
    expect(multipartBoundary("multipart/form-data")).toEqual({ type: "multipart/form-data" });
    expect(multipartBoundary(undefined)).toEqual({ type: "" });
  });
});
