/** Helpers shared by the route modules: path parameter checks and task answers. */
import { paramError } from "../errors.js";
import { boolParam, checkParams, NODE_PARAM, VMID_PARAM, type ParamSpec } from "../params.js";
import type { RequestContext } from "../router.js";
import { sleep } from "../tasks.js";

/** Verifies path and request parameters together, as Proxmox's schema check does. */
export function verify(req: RequestContext, spec: ParamSpec, additional?: (key: string, value: string) => string | undefined) {
  const pathSpec: ParamSpec = {};
  if (req.path.node !== undefined) pathSpec.node = NODE_PARAM;
  if (req.path.vmid !== undefined) pathSpec.vmid = VMID_PARAM;
  for (const key of Object.keys(req.path)) if (!pathSpec[key]) pathSpec[key] = { type: "string" };
  return checkParams({ ...req.params, ...req.path }, { ...pathSpec, ...spec }, { additional });
}

export function vmidOf(req: RequestContext): number {
  return Number(req.path.vmid);
}

/**
 * Answers with a task's UPID. With zero task duration the worker normally ends within a few
 * milliseconds; waiting briefly for it keeps fast tests fast (the provider polls tasks once
 * per second) without changing what a client can observe.
 */
export async function taskAnswer(started: { task: { upid: string }; done: Promise<void> }): Promise<string> {
  await Promise.race([started.done, sleep(25)]);
  return started.task.upid;
}

/** `skiplock` is for root@pam only (an API token of root is a different user, as in Proxmox). */
export function skiplockOf(req: RequestContext, value: string | undefined): boolean {
  const skiplock = boolParam(value);
  if (skiplock && req.user !== "root@pam") throw paramError({ skiplock: "Only root may use this option." });
  return skiplock;
}
