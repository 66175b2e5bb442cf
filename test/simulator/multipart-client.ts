/**
 * A raw multipart/form-data client for the simulator's upload endpoint: the body is built
 * byte for byte (so tests can also send what a broken client would) and sent over HTTPS with a
 * Content-Length, as browsers and the bpg provider do.
 */
import { Agent, request } from "node:https";
import type { RunningSimulator } from "../../src/simulator/index.js";

export type Part = { name: string; value: string; disposition?: string } | { name: string; filename: string; data: Buffer; disposition?: string };

export interface RawAnswer {
  status: number;
  statusMessage: string;
  text: string;
}

/** A well-formed multipart body with CRLF line ends. */
export function multipartBody(boundary: string, parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = part.disposition ?? "form-data";
    if ("filename" in part) {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: ${disposition}; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        part.data,
        Buffer.from("\r\n"),
      );
    } else {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}; name="${part.name}"\r\n\r\n${part.value}\r\n`));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/**
 * POSTs `body` to `apiPath` with the given Content-Type; the body goes out in `chunkSize`
 * pieces so the server's streaming parse sees delimiters split across reads. Rejects when
 * the server drops the connection without an answer.
 */
export function postRaw(
  sim: RunningSimulator,
  apiPath: string,
  body: Buffer | undefined,
  options: { contentType?: string; token?: string; chunkSize?: number } = {},
): Promise<RawAnswer> {
  const url = new URL(`api2/json${apiPath}`, sim.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent: new Agent({ rejectUnauthorized: false }),
        headers: {
          Authorization: `PVEAPIToken=${options.token ?? sim.token}`,
          ...(options.contentType ? { "Content-Type": options.contentType } : {}),
          ...(body ? { "Content-Length": body.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? "", text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    if (!body) {
      req.end();
      return;
    }
    const size = options.chunkSize ?? 64 * 1024;
    for (let i = 0; i < body.length; i += size) req.write(body.subarray(i, i + size));
    req.end();
  });
}

/** Uploads one file with the fields Proxmox reads, as the provider's APIUpload sends it. */
export function upload(
  sim: RunningSimulator,
  node: string,
  storage: string,
  fields: Record<string, string>,
  file: { filename: string; data: Buffer },
  options: { token?: string; chunkSize?: number } = {},
): Promise<RawAnswer> {
  const boundary = "----ptmTestBoundary7MA4YWxkTrZu0gW";
  const parts: Part[] = [...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: "filename", ...file }];
  return postRaw(sim, `/nodes/${node}/storage/${storage}/upload`, multipartBody(boundary, parts), {
    contentType: `multipart/form-data; boundary=${boundary}`,
    ...options,
  });
}
