import { parseArgs } from "node:util";
import { App, type Role } from "./app.js";
import { ConfigError, readEnv } from "./config/env.js";
import { Redactor } from "./terraform/redact.js";
import { createLogger } from "./telemetry/logger.js";

/**
 * proxmox-terraform-manager --role controller|worker|sidecar|all [--role ...]
 * Reads the environment (src/config/env.ts), starts the roles, stops them on SIGTERM/SIGINT.
 */
/** Every role; `all` means all of them. */
const ROLES: Role[] = ["controller", "worker", "sidecar"];

function parseRoles(argv: string[]): Role[] {
  const { values } = parseArgs({ args: argv, options: { role: { type: "string", multiple: true, default: ["all"] } } });
  const roles = new Set<Role>();
  for (const value of values.role ?? []) {
    for (const role of value.split(",")) {
      if (role === "all") ROLES.forEach((r) => roles.add(r));
      else if ((ROLES as string[]).includes(role)) roles.add(role as Role);
      else throw new ConfigError(`unknown role ${JSON.stringify(role)}: use controller, worker, sidecar or all`);
    }
  }
  return [...roles];
}

async function main(): Promise<void> {
  let app: App;
  try {
    const roles = parseRoles(process.argv.slice(2));
    const env = readEnv();
    const redactor = new Redactor();
    const logger = createLogger(env.PTM_LOG_LEVEL, {}, { secrets: redactor });
    app = new App({ env, roles, logger, redactor });
    logger.info({ roles, identity: app.identity }, "starting");
    const stop = (signal: string) => {
      logger.info({ signal }, "stopping");
      app.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, "stop failed");
          process.exit(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    await app.start();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

await main();
