import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Metrics } from "../telemetry/metrics.js";
import type { ApplyResult, AutoApplyResult, PlannedChange, PlanResult, Replacement, RunOptions, TerraformEvent, TerraformRunner } from "../terraform/index.js";
import type { ConnectionResolver, ResolvedConnection } from "../vm/connection-resolver.js";
import { InvalidStateKey } from "../terraform/state-keys.js";
import { TerraformError } from "../terraform/terraform-error.js";
import type { RunContext } from "./run-context.js";
import type { RunRecord } from "./run-record.js";
import type { StateEncryption } from "./state-encryption.js";

/** The address of the one VM resource in every stack. */
export const VM_ADDRESS = "proxmox_virtual_environment_vm.vm";

export interface TofuSessionDeps {
  runner: TerraformRunner;
  databaseUrl: string;
  /** Where the runner keeps work directories; CA bundles go beside them. */
  workdirRoot: string;
  runTimeoutMs: number;
  stateEncryptionPassphrase?: string;
  /** The operator-managed state and plan encryption (state-encryption.ts); read once per run. */
  stateEncryption?: Pick<StateEncryption, "forRun">;
  /** Aborted when the worker must stop now (shutdown grace exceeded). */
  shutdownSignal: AbortSignal;
  metrics?: Metrics;
}

export interface StackVariables {
  values: Record<string, string>;
  secrets: string[];
}

export interface TofuSessionInput {
  workdirName: string;
  workspace: string;
  configJson: string;
  connection: ResolvedConnection | undefined;
  /** The stack's variables (name → value, passed as TF_VAR_name) and which values are secret. */
  variables: StackVariables;
  record: RunRecord;
  /** Called once, when tofu starts changing the VM (`action`: create, update, delete, ...; status says what it does). */
  onApplyStart?: (action: string) => Promise<void>;
}

/**
 * One run's tofu commands: the child environment (credentials only there, and every value the
 * runner must redact), the run's deadline and the worker's shutdown, tofu's events into the run
 * log, and each phase timed for ptm_tofu_phase_duration_seconds.
 */
export class TofuSession {
  private options!: RunOptions;
  private applyStartHandled: Promise<void> = Promise.resolve();

  private constructor(private readonly d: TofuSessionDeps) {}

  static async open(d: TofuSessionDeps, input: TofuSessionInput): Promise<TofuSession> {
    const { values, secrets } = await childEnv(d, input);
    const stateEncryption = d.stateEncryptionPassphrase ? undefined : await encryptionForRun(d);
    let applying = false;
    const session = new TofuSession(d);
    const onEvent = (e: TerraformEvent) => {
      input.record.append({ level: e.level, type: e.type, message: e.message, data: eventData(e) });
      if (e.type === "apply_start" && !applying) {
        applying = true;
        session.applyStartHandled = input.onApplyStart?.(e.action ?? "update").catch(() => undefined) ?? Promise.resolve();
      }
    };
    session.options = {
      workdirName: input.workdirName,
      configJson: input.configJson,
      workspace: input.workspace,
      env: values,
      secrets,
      ...(d.stateEncryptionPassphrase ? { stateEncryptionPassphrase: d.stateEncryptionPassphrase } : {}),
      ...(stateEncryption !== undefined ? { stateEncryption } : {}),
      timeoutMs: d.runTimeoutMs,
      signal: AbortSignal.any([d.shutdownSignal, AbortSignal.timeout(d.runTimeoutMs)]),
      onEvent,
    };
    return session;
  }

  /** Waits for what onApplyStart started (a status write), so a later status write lands after it. */
  applyStartSettled(): Promise<void> {
    return this.applyStartHandled;
  }

  /**
   * Initialises the work directory, then pushes back a state an earlier run could not save
   * (errored.tfstate, kept in PostgreSQL): the VM it records needs no import.
   */
  async init(): Promise<void> {
    await this.timed("init", () => this.d.runner.prepare(this.options));
    await this.timed("state", () => this.d.runner.pushErroredState(this.options));
  }

  plan(destroy: boolean): Promise<PlanResult> {
    return this.timed("plan", () => this.d.runner.plan(this.options, { destroy }));
  }

  /** Plan and apply in one tofu process (no one needs to see the plan first). */
  applyAuto(destroy: boolean): Promise<AutoApplyResult> {
    return this.timed("apply", () => this.d.runner.applyAuto(this.options, { destroy }));
  }

  apply(planFile: string): Promise<ApplyResult> {
    return this.timed("apply", () => this.d.runner.apply(this.options, planFile));
  }

  outputs(): Promise<Record<string, unknown>> {
    return this.timed("output", () => this.d.runner.output(this.options));
  }

  /** Removes the VM from state and leaves it on Proxmox. */
  forgetVm(): Promise<{ removed: boolean }> {
    return this.timed("state", () => this.d.runner.stateRemove(this.options, VM_ADDRESS));
  }

  /** Clears a taint tofu left on the VM (it would plan a replacement); false when it was not tainted. */
  untaintVm(): Promise<boolean> {
    return this.timed("state", () => this.d.runner.untaint(this.options, VM_ADDRESS));
  }

  /** What the plan tofu refused (prevent_destroy) would replace, and the attributes that force it. */
  replacements(): Promise<Replacement[]> {
    return this.timed("plan", () => this.d.runner.planReplacements(this.options));
  }

  /** What a saved plan changes, attribute by attribute (secrets masked). */
  showPlan(planFile: string): Promise<PlannedChange> {
    return this.timed("show", () => this.d.runner.showPlan(this.options, planFile));
  }

  /** The saved plan's bytes, to keep with the run until someone approves it. */
  readPlan(planFile: string): Promise<Buffer> {
    return this.d.runner.readPlan(this.options, planFile);
  }

  /** A kept plan back in the work directory, for apply(). */
  restorePlan(plan: Buffer): Promise<string> {
    return this.d.runner.restorePlan(this.options, plan);
  }

  /** True when tofu encrypts the plan files it writes (a kept plan then holds no plain variable value). */
  get plansEncrypted(): boolean {
    return this.options.stateEncryptionPassphrase !== undefined || this.options.stateEncryption !== undefined || this.options.env.TF_ENCRYPTION !== undefined;
  }

  discardPlan(planFile: string): Promise<void> {
    return this.d.runner.discardPlan(planFile);
  }

  private async timed<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await fn();
      this.d.metrics?.observeTofuPhase(phase, "ok", (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      this.d.metrics?.observeTofuPhase(phase, "error", (performance.now() - started) / 1000);
      throw error;
    }
  }
}

/** The run's TF_ENCRYPTION; a key that cannot be used (a bad Secret) fails the run as permanent: retrying will not fix it. */
async function encryptionForRun(d: TofuSessionDeps): Promise<string | undefined> {
  try {
    return await d.stateEncryption?.forRun();
  } catch (error) {
    if (!(error instanceof InvalidStateKey)) throw error;
    throw new TerraformError({ kind: "permanent", phase: "init", exitCode: null, fallbackMessage: error.message });
  }
}

/** The child environment for tofu; `secrets` are values the runner redacts from every line. */
async function childEnv(d: TofuSessionDeps, input: TofuSessionInput): Promise<{ values: Record<string, string>; secrets: string[] }> {
  const values: Record<string, string> = { PG_CONN_STR: d.databaseUrl };
  const secrets = [d.databaseUrl];
  const connection = input.connection;
  if (connection) {
    values.PROXMOX_VE_ENDPOINT = connection.spec.endpoint;
    values.PROXMOX_VE_API_TOKEN = connection.apiToken;
    values.PROXMOX_VE_INSECURE = String(connection.spec.insecureSkipTLSVerify);
    secrets.push(connection.apiToken);
    if (connection.caBundle) {
      // A CA bundle is public; Go's TLS stack reads SSL_CERT_FILE.
      const dir = path.join(d.workdirRoot, "ca");
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, `${connection.uid}.pem`);
      await writeFile(file, connection.caBundle);
      values.SSL_CERT_FILE = file;
    }
  }
  for (const [name, value] of Object.entries(input.variables.values)) values[`TF_VAR_${name}`] = value;
  secrets.push(...input.variables.secrets);
  return { values, secrets };
}

function eventData(e: TerraformEvent): Record<string, unknown> | undefined {
  const data: Record<string, unknown> = { phase: e.phase };
  if (e.resource) data.resource = e.resource;
  if (e.action) data.action = e.action;
  if (e.elapsedSeconds !== undefined) data.elapsedSeconds = e.elapsedSeconds;
  if (e.changes) data.changes = e.changes;
  if (e.diagnostic) data.diagnostic = e.diagnostic;
  return data;
}

/** The values of the stack's secret variables, read from the Secrets the spec names. */
export async function readStackVariables(connections: ConnectionResolver, ctx: RunContext, names: string[]): Promise<StackVariables> {
  const variables: StackVariables = { values: {}, secrets: [] };
  if (names.includes("cloud_init_password")) {
    const ref = ctx.spec.initialization?.userAccount?.passwordSecretRef;
    if (ref) {
      const password = await connections.readSecretKey(ctx.vm.metadata.namespace, ref.name, ref.key, `ProxmoxVM ${ctx.vm.metadata.name}`);
      variables.values.cloud_init_password = password;
      variables.secrets.push(password);
    } else {
      // Destroying without the Secret: any value satisfies the variable.
      variables.values.cloud_init_password = "unused";
    }
  }
  return variables;
}
