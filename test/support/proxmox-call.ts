import { Agent, request } from "node:https";
import type { RunningSimulator } from "../../src/simulator/index.js";

export interface SimAnswer {
  status: number;
  statusMessage: string;
  body: unknown;
}

/** The simulator's API as a client sees it: form-encoded, with its token (or `token`), TLS check off for its certificate. */
export function simApi(sim: RunningSimulator, method: string, apiPath: string, body?: Record<string, string>, token = sim.token): Promise<SimAnswer> {
  const url = new URL(`api2/json${apiPath}`, sim.url);
  const payload = body ? new URLSearchParams(body).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: new Agent({ rejectUnauthorized: false }),
        headers: {
          Authorization: `PVEAPIToken=${token}`,
          ...(payload ? { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? "", body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Like simApi, for calls that must succeed: resolves with the answer's `data`, rejects with the status line otherwise. */
export async function proxmoxCall(sim: RunningSimulator, method: string, apiPath: string, body?: Record<string, string>): Promise<unknown> {
  const answer = await simApi(sim, method, apiPath, body);
  if (answer.status >= 300) throw new Error(`${method} ${apiPath}: ${answer.status} ${answer.statusMessage} ${JSON.stringify(answer.body)}`);
  return (answer.body as { data?: unknown } | undefined)?.data;
}

/** Polls a task until it stops; returns its final status. */
export async function waitForTask(sim: RunningSimulator, upid: string): Promise<{ status: string; exitstatus?: string }> {
  const node = upid.split(":")[1]!;
  for (;;) {
    const data = (await proxmoxCall(sim, "GET", `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`)) as { status: string; exitstatus?: string };
    if (data.status !== "running") return data;
    await new Promise((r) => setTimeout(r, 50));
  }
}
