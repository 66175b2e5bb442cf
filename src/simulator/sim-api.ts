/**
 * The inspection and fault-injection API outside /api2 (same token as the API):
 *
 *   GET    /_sim/state           dump: cluster state, tasks, locks, faults, served calls, unknown routes
 *   POST   /_sim/reset           back to the seed and start-up behaviour (tokens kept); tasks/locks/faults/calls cleared
 *   GET    /_sim/faults          current faults
 *   PUT    /_sim/faults          update faults {latencyMs, http500Rate, taskFailureRate, lockTimeoutVmIds, forceLockTimeout}
 *   GET    /_sim/behaviour       current behaviour (task durations, boot delay, lock wait, 401 delay)
 *   PUT    /_sim/behaviour       update behaviour
 *   GET    /_sim/calls           every method + route template served, with counts
 *   DELETE /_sim/calls           forget served calls and unknown routes
 *   GET    /_sim/unknown-routes  requests answered 501 because the simulator does not know the route
 *   PUT    /_sim/nodes/{node}    {online: false, error?: "No route to host"} takes a node offline (595 to its calls), {online: true} back
 *   GET    /_sim/injected-faults how often each fault fired {delayedRequests, http500, failedTasks, lockTimeouts}
 */
import { z } from "zod";
import type { SimContext } from "./context.js";
import { PveError } from "./errors.js";
import { updateFaults } from "./faults.js";
import type { SimApi } from "./server.js";
import { setNodeOnline } from "./node-reachability.js";

const behaviourSchema = z
  .object({
    taskDurationMs: z.number().int().nonnegative(),
    taskDurations: z.record(z.string(), z.number().int().nonnegative()),
    bootDelayMs: z.number().int().nonnegative(),
    lockWaitMs: z.number().int().positive(),
    unauthorizedDelayMs: z.number().int().nonnegative(),
  })
  .strict()
  .partial();

/** The dump never contains token secrets or password hashes. */
export function dumpState(ctx: SimContext) {
  return {
    state: {
      ...ctx.state,
      tokens: ctx.state.tokens.map((t) => ({ id: t.id, secret: "**********" })),
      users: Object.fromEntries(
        Object.entries(ctx.state.users).map(([id, { passwordHash, ...u }]) => [id, passwordHash ? { ...u, password: "**********" } : u]),
      ),
    },
    tasks: ctx.tasks.list().map(({ log: _log, ...t }) => t),
    locks: ctx.locks.snapshot(),
    faults: ctx.faults,
    injectedFaults: ctx.injectedFaults.snapshot(),
    behaviour: ctx.behaviour,
    calls: [...ctx.calls.values()],
    unknownRoutes: ctx.unknownRoutes,
  };
}

function invalid(err: unknown): PveError {
  if (err instanceof z.ZodError) {
    return new PveError(
      400,
      "Parameter verification failed.",
      Object.fromEntries(err.issues.map((i) => [i.path.join(".") || "body", i.message])),
    );
  }
  return err as PveError;
}

export function createSimApi(getCtx: () => SimContext, reset: () => void): SimApi {
  return {
    handle(method, name, body) {
      const ctx = getCtx();
      const route = `${method} ${name}`;
      const nodeControl = /^nodes\/([^/]+)$/.exec(name);
      if (nodeControl && method === "PUT") return controlNodeReachability(ctx, nodeControl[1] as string, body);
      switch (route) {
        case "GET state":
          return dumpState(ctx);
        case "POST reset":
          reset();
          return null;
        case "GET faults":
          return ctx.faults;
        case "PUT faults":
          try {
            ctx.faults = updateFaults(ctx.faults, body ?? {});
          } catch (err) {
            throw invalid(err);
          }
          return ctx.faults;
        case "GET behaviour":
          return ctx.behaviour;
        case "PUT behaviour":
          try {
            ctx.behaviour = { ...ctx.behaviour, ...behaviourSchema.parse(body ?? {}) };
          } catch (err) {
            throw invalid(err);
          }
          return ctx.behaviour;
        case "GET calls":
          return [...ctx.calls.values()];
        case "DELETE calls":
          ctx.calls.clear();
          ctx.unknownRoutes = [];
          return null;
        case "GET unknown-routes":
          return ctx.unknownRoutes;
        case "GET injected-faults":
          return ctx.injectedFaults.snapshot();
        default:
          throw new PveError(501, `Method '${method} /_sim/${name}' not implemented`);
      }
    },
  };
}

const nodeReachabilitySchema = z.object({ online: z.boolean(), error: z.string().min(1).optional() }).strict();

function controlNodeReachability(ctx: SimContext, node: string, body: unknown) {
  let wanted: z.infer<typeof nodeReachabilitySchema>;
  try {
    wanted = nodeReachabilitySchema.parse(body ?? {});
  } catch (err) {
    throw invalid(err);
  }
  const n = setNodeOnline(ctx.state, node, wanted.online, wanted.error);
  if (!n) throw new PveError(400, `no such node '${node}'`);
  ctx.changed();
  return { node, online: n.unreachable === undefined, ...(n.unreachable ? { error: n.unreachable } : {}) };
}
