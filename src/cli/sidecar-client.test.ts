import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliError, EXIT } from "./errors.js";
import { SidecarClient } from "./sidecar-client.js";

/** A stand-in sidecar answering each path with a fixed status and body (the real one is in test/cli). */
const answers: Record<string, [number, string]> = {
  "/api/v1/ok": [200, '{"items":[]}'],
  "/api/v1/gone": [404, '{"error":{"code":"NotFound","message":"no such endpoint: GET /api/v1/gone"}}'],
  "/api/v1/namespaces/lab/vms/ghost": [404, '{"error":{"code":"NotFound","message":"no ProxmoxVM lab/ghost"}}'],
  "/api/v1/conflict": [409, '{"error":{"code":"Conflict","message":"nothing waits for approval"}}'],
  "/api/v1/disabled": [403, '{"error":{"code":"Forbidden","message":"changes through the sidecar are disabled: set PTM_SIDECAR_ADMIN_TOKEN to enable them"}}'],
  "/api/v1/broken": [500, '{"error":{"code":"InternalError","message":"internal error (see the sidecar\'s log)"}}'],
  "/api/v1/html": [200, "<html>a login page</html>"],
};

let server: Server;
let url: string;
const seenAuth: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seenAuth.push(req.headers.authorization);
    const [status, body] = answers[req.url ?? ""] ?? [404, ""];
    res.writeHead(status, { "Content-Type": "application/json" }).end(body);
  }).listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

async function failure(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  return { code: (error as CliError).exitCode, message: (error as CliError).message };
}

describe("sidecar client", () => {
  it("sends the token as a bearer header and parses JSON", async () => {
    await expect(new SidecarClient(url, "t0ken").get("/api/v1/ok")).resolves.toEqual({ items: [] });
    expect(seenAuth.at(-1)).toBe("Bearer t0ken");
    await new SidecarClient(url, undefined).get("/api/v1/ok");
    expect(seenAuth.at(-1)).toBeUndefined();
  });

  it("tells an unknown VM (exit 3) from a route an older sidecar lacks (exit 1)", async () => {
    const client = new SidecarClient(url, "t");
    expect(await failure(client.get("/api/v1/namespaces/lab/vms/ghost"))).toEqual({ code: EXIT.notFound, message: "no ProxmoxVM lab/ghost" });
    expect(await failure(client.get("/api/v1/gone"))).toEqual({ code: EXIT.failure, message: `the sidecar at ${url} does not serve GET /api/v1/gone (an older version than this kubectl-ptm?)` });
  });

  it("passes refusals on with their message and names the status of server errors", async () => {
    const client = new SidecarClient(url, "t");
    expect(await failure(client.post("/api/v1/conflict"))).toEqual({ code: EXIT.failure, message: "nothing waits for approval" });
    expect(await failure(client.post("/api/v1/disabled"))).toEqual({
      code: EXIT.auth,
      message: `the sidecar at ${url} refused POST /api/v1/disabled: changes through the sidecar are disabled: set PTM_SIDECAR_ADMIN_TOKEN to enable them`,
    });
    expect(await failure(client.get("/api/v1/broken"))).toEqual({ code: EXIT.failure, message: "internal error (see the sidecar's log) (HTTP 500)" });
    expect(await failure(client.get("/api/v1/html"))).toEqual({
      code: EXIT.failure,
      message: `the sidecar at ${url} answered GET /api/v1/html with something that is not JSON (is --server/PTM_SERVER the sidecar's URL?)`,
    });
  });
});
