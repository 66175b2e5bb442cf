import pg from "pg";
import { PgErroredStateStore } from "./errored-state-store.js";
import { migrate } from "./migrations.js";
import { PlanStore } from "./plan-store.js";
import { RunStore } from "./run-store.js";

export interface Database {
  pool: pg.Pool;
  runs: RunStore;
  /** Each run's stack and diffs, and plans that wait for approval. */
  plans: PlanStore;
  /** errored.tfstate files kept for the next run (TerraformRunnerOptions.erroredStates). */
  erroredStates: PgErroredStateStore;
  close(): Promise<void>;
}

/** Connects, applies migrations, and returns the repositories. */
export async function openDatabase(url: string, schema: string, options: { max?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, application_name: "proxmox-terraform-manager" });
  // An idle client's error (server restart) must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  try {
    await migrate(pool, schema);
  } catch (error) {
    await pool.end();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    pool,
    runs: new RunStore(pool, schema),
    plans: new PlanStore(pool, schema),
    erroredStates: new PgErroredStateStore(pool, schema),
    close: () => (closed ??= pool.end()),
  };
}
