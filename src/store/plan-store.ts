import type pg from "pg";
import type { DesiredChange, PlannedChange } from "../terraform/plan-diff.js";
import { assertIdentifier } from "./migrations.js";

/** What GET /api/v1/runs/{id}/plan serves for one run. */
export interface RunDiff {
  desired: DesiredChange | null;
  planned: PlannedChange | null;
  /** Set on a run that applied an approved plan: the run that made the plan. */
  planRunId: string | null;
}

export interface SavedPlan {
  runId: string;
  specHash: string;
  /** The plan file as tofu wrote it (encrypted by tofu when plan encryption is configured). */
  plan: Buffer;
  /** Proxmox's config digest of the VM when the plan was made; undefined when not known. */
  proxmoxDigest: string | undefined;
}

export type PlanDecision = "applied" | "discarded" | "stale";

/**
 * Per run: the synthesized stack and its two diffs (run_diffs), and the plan file of a run that
 * waits for approval (saved_plans). A decided plan's bytes are dropped: only its verdict stays.
 */
export class PlanStore {
  private readonly s: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    assertIdentifier(schema);
    this.s = schema;
  }

  /** The stack of the VM's last run that left it in effect (applied, or found with no changes). */
  async stackInEffect(uid: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ stack_json: string }>(
      `select stack_json from ${this.s}.run_diffs where uid = $1 and in_effect order by created_at desc limit 1`,
      [uid],
    );
    return rows[0]?.stack_json;
  }

  async recordStack(runId: string, uid: string, stackJson: string, desired: DesiredChange): Promise<void> {
    await this.pool.query(
      `insert into ${this.s}.run_diffs (run_id, uid, stack_json, desired) values ($1, $2, $3, $4)
       on conflict (run_id) do update set stack_json = excluded.stack_json, desired = excluded.desired`,
      [runId, uid, stackJson, JSON.stringify(desired)],
    );
  }

  async recordPlanned(runId: string, planned: PlannedChange): Promise<void> {
    await this.pool.query(`update ${this.s}.run_diffs set planned = $2 where run_id = $1`, [runId, JSON.stringify(planned)]);
  }

  async markInEffect(runId: string): Promise<void> {
    await this.pool.query(`update ${this.s}.run_diffs set in_effect = true where run_id = $1`, [runId]);
  }

  async linkPlan(runId: string, planRunId: string): Promise<void> {
    await this.pool.query(`update ${this.s}.run_diffs set plan_run_id = $2 where run_id = $1`, [runId, planRunId]);
  }

  async diffOf(runId: string): Promise<RunDiff | undefined> {
    const { rows } = await this.pool.query(`select desired, planned, plan_run_id from ${this.s}.run_diffs where run_id = $1`, [runId]);
    const r = rows[0] as { desired: DesiredChange | null; planned: PlannedChange | null; plan_run_id: string | null } | undefined;
    return r ? { desired: r.desired, planned: r.planned, planRunId: r.plan_run_id } : undefined;
  }

  /** Keeps a plan for approval; an older plan of the VM still pending is superseded (stale). */
  async save(uid: string, plan: SavedPlan): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      await client.query(
        `update ${this.s}.saved_plans set status = 'stale', plan = ''::bytea, decided_by = 'superseded', decided_at = now() where uid = $1 and status = 'pending'`,
        [uid],
      );
      await client.query(`insert into ${this.s}.saved_plans (run_id, uid, spec_hash, plan, proxmox_digest) values ($1, $2, $3, $4, $5)`, [
        plan.runId,
        uid,
        plan.specHash,
        plan.plan,
        plan.proxmoxDigest ?? null,
      ]);
      await client.query("commit");
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async pending(uid: string): Promise<SavedPlan | undefined> {
    const { rows } = await this.pool.query(
      `select run_id, spec_hash, plan, proxmox_digest from ${this.s}.saved_plans where uid = $1 and status = 'pending' order by created_at desc limit 1`,
      [uid],
    );
    const r = rows[0] as { run_id: string; spec_hash: string; plan: Buffer; proxmox_digest: string | null } | undefined;
    return r ? { runId: r.run_id, specHash: r.spec_hash, plan: r.plan, proxmoxDigest: r.proxmox_digest ?? undefined } : undefined;
  }

  /** Settles a pending plan once; false when it was not pending (already decided, or unknown). */
  async decide(runId: string, decision: PlanDecision, by: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update ${this.s}.saved_plans set status = $2, plan = ''::bytea, decided_by = $3, decided_at = now() where run_id = $1 and status = 'pending'`,
      [runId, decision, by],
    );
    return (rowCount ?? 0) > 0;
  }
}
