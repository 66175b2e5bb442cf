/**
 * `npm run simulator -- --port 8006 [--config <file>] [--state-file <file>]
 *   [--task-duration-ms N] [--boot-delay-ms N] [--lock-wait-ms N] [--unauthorized-delay-ms N] [--quiet]`
 *
 * Starts the Proxmox VE API simulator, prints PVE_SIM_URL=, PVE_SIM_TOKEN=, with the nodes' SSH
 * (`--ssh` or the seed's `ssh.enabled`) PVE_SIM_SSH_ADDRESS= and PVE_SIM_SSH_PORT= (first node),
 * and PVE_SIM_FINGERPRINT= last (run.sh waits for it), then logs each request until SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { startSimulator } from "./index.js";
import { SeedError } from "./seed.js";

const USAGE = `usage: npm run simulator -- [--port 8006] [--host 127.0.0.1] [--config seed.yaml]
       [--state-file state.json] [--task-duration-ms 0] [--boot-delay-ms 0]
       [--lock-wait-ms 10000] [--unauthorized-delay-ms 3000] [--token USER@REALM!ID=SECRET] [--ssh] [--quiet]`;

function intFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    console.error(`--${name} must be a non-negative integer, got '${value}'\n${USAGE}`);
    process.exit(2);
  }
  return Number(value);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string", default: "8006" },
        host: { type: "string", default: "127.0.0.1" },
        config: { type: "string" },
        "state-file": { type: "string" },
        "task-duration-ms": { type: "string" },
        "boot-delay-ms": { type: "string" },
        "lock-wait-ms": { type: "string" },
        "unauthorized-delay-ms": { type: "string" },
        token: { type: "string" },
        quiet: { type: "boolean", default: false },
        ssh: { type: "boolean" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const sim = await startSimulator({
    port: intFlag("port", values.port),
    host: values.host,
    config: values.config,
    stateFile: values["state-file"],
    token: values.token,
    taskDurationMs: intFlag("task-duration-ms", values["task-duration-ms"]),
    bootDelayMs: intFlag("boot-delay-ms", values["boot-delay-ms"]),
    lockWaitMs: intFlag("lock-wait-ms", values["lock-wait-ms"]),
    unauthorizedDelayMs: intFlag("unauthorized-delay-ms", values["unauthorized-delay-ms"]),
    log: values.quiet ? false : (line) => console.log(line),
    ssh: values.ssh,
  });
  console.log(`PVE_SIM_URL=${sim.url}`);
  console.log(`PVE_SIM_TOKEN=${sim.token}`);
  const [firstSsh] = sim.ssh;
  if (firstSsh) {
    console.log(`PVE_SIM_SSH_ADDRESS=${firstSsh.address}`);
    console.log(`PVE_SIM_SSH_PORT=${firstSsh.port}`);
    for (const e of sim.ssh) console.log(`[pve-sim] node ${e.node}: ssh on ${e.address}:${e.port}`);
  }
  console.log(`PVE_SIM_FINGERPRINT=${sim.fingerprint}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[pve-sim] ${signal}: stopping`);
    void sim.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err) => {
  if (err instanceof SeedError) console.error(err.message);
  else console.error(`pve-sim failed to start: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
