/**
 * A loopback stand-in for the cloud image servers the provider's acceptance tests download
 * from (cloud-images.ubuntu.com; no internet here). It serves, for any path ending in `.img` or
 * `.qcow2`, a small but valid qcow2 image (a header declaring a 3.5 GiB virtual disk, as the
 * Ubuntu minimal cloud image has), and for `.raw`/`.iso` a small file of zeros. Point the tests
 * at it with PROXMOX_VE_ACC_CLOUD_IMAGES_SERVER=<url>. The simulator's download-url fetches from
 * it for real, as Proxmox's wget would from the real mirror.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

const QCOW2_VIRTUAL_SIZE = 3.5 * 1024 ** 3;
const IMAGE_BYTES = 256 * 1024;

/** A qcow2 version 3 header with 64 KiB clusters and no backing file; the rest zeros. */
export function tinyQcow2(virtualSize: number, length = IMAGE_BYTES): Buffer {
  const buf = Buffer.alloc(length);
  buf.writeUInt32BE(0x514649fb, 0); // magic "QFI\xfb"
  buf.writeUInt32BE(3, 4); // version
  buf.writeUInt32BE(16, 20); // cluster_bits: 64 KiB
  buf.writeBigUInt64BE(BigInt(virtualSize), 24);
  buf.writeUInt32BE(104, 100); // header_length
  return buf;
}

export interface ImageMirror {
  url: string;
  close(): Promise<void>;
}

export async function startImageMirror(options: { port?: number; host?: string } = {}): Promise<ImageMirror> {
  const qcow2 = tinyQcow2(QCOW2_VIRTUAL_SIZE);
  const zeros = Buffer.alloc(IMAGE_BYTES);
  const started = new Date().toUTCString();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://mirror").pathname;
    const body = /\.(img|qcow2)$/.test(path) ? qcow2 : /\.(raw|iso)$/.test(path) ? zeros : undefined;
    if (!body || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("Not Found\n");
      return;
    }
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": body.length, "Last-Modified": started });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
