/**
 * Runs OpenTofu (or Terraform) for one VM: a reused per-VM work directory holding only the
 * configuration and the lock file, one shared initialised data directory per backend and
 * provider set (shared-init.ts, TF_DATA_DIR), state in the `pg` backend (one workspace per VM,
 * named by TF_WORKSPACE), every output line turned into a redacted TerraformEvent, failures
 * turned into a classified TerraformError. An auto-approved run is one tofu process
 * (`applyAuto`); `plan` + `apply <plan>` are for runs whose plan someone must see first.
 *
 * Timeouts: `RunOptions.timeoutMs` limits each command (init, plan, apply, ...); the optional
 * `deadline` (epoch ms) caps the whole run across commands. A command gets
 * min(timeoutMs, deadline - now); one that would start after the deadline fails at once.
 *
 * Lock timeout: `-lock-timeout=0s` by default: a held lock means another worker runs this VM, so
 * the command fails fast with kind "lock" and the queue retries with backoff instead of holding a
 * worker slot while it waits.
 *
 * Provider plugins: no shared plugin cache unless one is asked for (`pluginCacheDir`), and never
 * when the CLI configuration installs from a filesystem mirror. tofu's cache is not safe while
 * other work directories use it: an init in a work directory without a lock file (every new VM)
 * installs the provider into the cache again, replacing the entry that other directories' plan
 * and apply start the provider from (OpenTofu 1.12 `providercache.Installer`). It saves no
 * download either, for that same reason; only disk space. From an unpacked filesystem mirror,
 * init symlinks the immutable mirror into `.terraform/providers`: safe for any number of
 * concurrent runs, and no copy to save. With a cache, this process's inits take turns (the cache
 * is still shared with other processes' and with running plans: keep one cache per process).
 *
 * Races the pg backend has under concurrency:
 * - the first commands on a fresh state schema race on CREATE SCHEMA / TABLE (`duplicate key value
 *   violates unique constraint "pg_namespace_nspname_index"`): init is tried again;
 * - the first command on a new workspace creates it under one advisory lock per state schema,
 *   tried once ("Already locked for workspace creation"); nothing has happened yet when it fails,
 *   so the runner tries again for the lock timeout (at least WORKSPACE_CREATION_WAIT_MS).
 *
 * One run per work directory at a time (the worker serialises jobs per VM): plan files and
 * errored.tfstate live there.
 */
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { inheritedEnvironment } from "../config/env.js";
import { describeFailure, type FailureProblem } from "./classify-error.js";
import { fileUsesFilesystemMirror, parseGoDuration } from "./cli-config.js";
import { ENCRYPTION_ENV, encryptionConfig } from "./encryption.js";
import { ERRORED_STATE_FILE, type ErroredStateKept, type ErroredStateStore } from "./errored-state.js";
import {
  emptyChanges,
  type ChangeCounts,
  type TerraformDiagnostic,
  type TerraformEvent,
  type TerraformPhase,
} from "./events.js";
import { parseLine, streamFacts } from "./json-stream.js";
import { runProcess, type StopReason } from "./process.js";
import { Redactor, isSecretName } from "./redact.js";
import { plannedChange, type PlannedChange } from "./plan-diff.js";
import { replacementsInPlan, withoutPreventDestroy, type Replacement } from "./replacement.js";
import type { ProviderBinary, ProviderServers } from "./provider-servers.js";
import { LOCK_FILE, providerBinaries, SharedInits } from "./shared-init.js";
import { TerraformError, type TerraformErrorKind } from "./terraform-error.js";
import { parseTextDiagnostics } from "./text-diagnostics.js";

export type TerraformFlavor = "tofu" | "terraform";

export interface TerraformRunnerOptions {
  /** Path (or PATH name) of the tofu/terraform binary. */
  binary: string;
  flavor: TerraformFlavor;
  /** Per-VM work directories are created under here. */
  workdirRoot: string;
  /**
   * Shared provider cache (TF_PLUGIN_CACHE_DIR), opt-in; ignored when `cliConfigFile` has a
   * `filesystem_mirror` (see the header). Use one per process.
   */
  pluginCacheDir?: string;
  /** TF_CLI_CONFIG_FILE (provider mirrors, credentials helpers). */
  cliConfigFile?: string;
  /** SIGTERM → SIGKILL grace period on timeout/abort. Default 30 s: tofu waits for in-flight provider calls before it writes state. */
  killGraceMs?: number;
  /** `-lock-timeout` for commands that lock state (a Go duration). Default "0s" (see above). */
  lockTimeout?: string;
  /** Use `setpriv --pdeathsig SIGTERM` when available. Default true. */
  parentDeathSignal?: boolean;
  /** Names copied from the worker's environment into tofu's (nothing else is inherited). */
  inheritEnv?: readonly string[];
  /** Where tofu's (immediately unlinked) output files live; default /dev/shm, else the OS temp dir. See process.ts. */
  scratchDir?: string;
  /** Durable home for errored.tfstate files (see errored-state.ts); without one they stay in the work directory. */
  erroredStates?: ErroredStateStore;
  /** Provider servers plans and applies reattach to (see provider-servers.ts); without them tofu starts the provider itself. */
  providerServers?: ProviderServers;
}

export interface RunOptions {
  /** Directory name under workdirRoot, reused between runs of the same VM. */
  workdirName: string;
  /** The Terraform JSON configuration (main.tf.json). Must not contain secrets. */
  configJson: string;
  /** Backend workspace (one per VM). */
  workspace: string;
  /** Extra environment for tofu: PG_CONN_STR, provider credentials, TF_VAR_*. */
  env: Record<string, string>;
  /** Values to redact in addition to env values of secret-looking names (see redact.ts). */
  secrets?: string[];
  /** OpenTofu only: encrypt state and plan with pbkdf2 + aes_gcm (at least 16 characters). */
  stateEncryptionPassphrase?: string;
  /** OpenTofu only: a ready TF_ENCRYPTION value (keyEncryptionConfig: key file paths, no secret). */
  stateEncryption?: string;
  /** Limit for each command. */
  timeoutMs: number;
  /** Optional overall deadline (epoch milliseconds) across the run's commands. */
  deadline?: number;
  signal?: AbortSignal;
  onEvent?: (event: TerraformEvent) => void;
}

export interface PlanResult {
  /** Exit code 2 of `plan -detailed-exitcode`. */
  hasChanges: boolean;
  changes: ChangeCounts;
  /** The saved plan, only when there are changes; apply() consumes and deletes it. */
  planFile?: string;
  /** Addresses of `resource_drift` events: changed outside tofu. */
  drift: string[];
  /** Warnings (a successful plan has no errors). */
  diagnostics: TerraformDiagnostic[];
}

export interface ApplyResult {
  changes: ChangeCounts;
  /** Output values (non-sensitive), from the apply's `outputs` line. */
  outputs: Record<string, unknown>;
}

/** One `apply -auto-approve`: its plan step's summary and what the apply did. */
export interface AutoApplyResult {
  /** The plan step found something to do (resources; an apply of nothing is "no changes"). */
  hasChanges: boolean;
  /** The plan step's counts. */
  planned: ChangeCounts;
  /** What the apply did. */
  changes: ChangeCounts;
  /** Addresses of `resource_drift` events: changed outside tofu. */
  drift: string[];
  /** Output values (non-sensitive), from the apply's `outputs` line. */
  outputs: Record<string, unknown>;
  diagnostics: TerraformDiagnostic[];
}

export interface VersionInfo {
  flavor: TerraformFlavor;
  version: string;
  /** Provider source → version selected in the work directory (only when a run is given). */
  providerVersions?: Record<string, string>;
}

export const DEFAULT_INHERIT_ENV: readonly string[] = [
  "PATH",
  "HOME",
  "USER",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TZ",
  "TMPDIR",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
];

const CONFIG_FILE = "main.tf.json";
const PLAN_SUFFIX = ".tfplan";
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const VERSION_TIMEOUT_MS = 30_000;
/** Non-JSON lines kept per command for error messages and text diagnostics. */
const TAIL_LINES = 200;
/**
 * Least time `prepare` waits for the pg backend's workspace-creation lock, whatever the lock
 * timeout: that lock says nothing about this VM (any workspace creation in the schema holds it
 * for milliseconds), so failing fast on it, as on a held state lock, would only fail first runs.
 */
const WORKSPACE_CREATION_WAIT_MS = 30_000;
const CREATION_LOCK = /already locked for workspace\s+creation/i;
/**
 * Concurrent first commands on a fresh state schema: PostgreSQL refuses the second CREATE ... IF
 * NOT EXISTS, either in its catalog's unique indexes or as "type/relation ... already exists"
 * (42710 duplicate_object, 42P07 duplicate_table).
 */
const CATALOG_RACE =
  /duplicate key value violates unique constraint "pg_(?:namespace_nspname|type_typname_nsp|class_relname_nsp)_index"|(?:type|relation) "[^"]+" already exists \((?:42710|42P07)\)/;
const INIT_ATTEMPTS = 3;

interface CommandSpec {
  phase: TerraformPhase;
  args: string[];
  /** Exit codes that mean success (plan -detailed-exitcode: 0 and 2). */
  okCodes?: number[];
  /** Keep stdout as text instead of emitting it (output -json, version -json: may hold values). */
  captureStdout?: boolean;
  cwd: string;
  /** A command in the VM's work directory: the shared data directory and the VM's workspace (TF_DATA_DIR, TF_WORKSPACE). */
  inWorkspace?: boolean;
}

interface CommandOutcome {
  exitCode: number;
  stdout: string;
  diagnostics: TerraformDiagnostic[];
  changeSummary?: ChangeCounts;
  planSummary?: ChangeCounts;
  outputs?: Record<string, unknown>;
  drift: string[];
}

export class TerraformRunner {
  private readonly opts: Required<Omit<TerraformRunnerOptions, "cliConfigFile" | "scratchDir" | "pluginCacheDir" | "erroredStates" | "providerServers">> &
    Pick<TerraformRunnerOptions, "cliConfigFile" | "scratchDir" | "erroredStates" | "providerServers">;
  /** The TF_PLUGIN_CACHE_DIR runs get, if any (see the header). */
  readonly pluginCacheDir: string | undefined;
  /** Why the cache is or is not used, for the worker's start-up log. */
  readonly pluginCacheNote: string;
  private readonly lockTimeoutMs: number;
  private initTurn: Promise<void> = Promise.resolve();
  private readonly inits: SharedInits;
  private readonly binariesByDataDir = new Map<string, Promise<ProviderBinary[]>>();

  constructor(opts: TerraformRunnerOptions) {
    const { pluginCacheDir, ...rest } = opts;
    this.opts = {
      killGraceMs: 30_000,
      lockTimeout: "0s",
      parentDeathSignal: true,
      inheritEnv: DEFAULT_INHERIT_ENV,
      ...rest,
    };
    this.lockTimeoutMs = parseGoDuration(this.opts.lockTimeout);
    this.inits = new SharedInits(this.opts.workdirRoot, { binary: this.opts.binary, cliConfigFile: opts.cliConfigFile, pluginCacheDir });
    const mirror = opts.cliConfigFile !== undefined && fileUsesFilesystemMirror(opts.cliConfigFile);
    if (!pluginCacheDir) {
      this.pluginCacheNote = mirror ? "no plugin cache: providers come from the CLI configuration's filesystem mirror" : "no plugin cache";
    } else if (mirror) {
      this.pluginCacheNote = `plugin cache ${pluginCacheDir} not used: the CLI configuration installs providers from a filesystem mirror, which needs no cache and is safe for concurrent runs`;
    } else {
      this.pluginCacheDir = pluginCacheDir;
      this.pluginCacheNote = `plugin cache ${pluginCacheDir} (inits in this process take turns)`;
    }
  }

  get flavor(): TerraformFlavor {
    return this.opts.flavor;
  }

  /** The shared initialised data directory (TF_DATA_DIR) a run's commands use. */
  dataDir(run: Pick<RunOptions, "configJson">): string {
    return this.inits.targetFor(run.configJson).dataDir;
  }

  /** The VM's work directory. */
  workdir(run: Pick<RunOptions, "workdirName">): string {
    if (!NAME.test(run.workdirName)) {
      throw new TypeError(`invalid workdirName ${JSON.stringify(run.workdirName)}: use letters, digits, '.', '_' and '-'`);
    }
    return path.join(this.opts.workdirRoot, run.workdirName);
  }

  /**
   * Writes main.tf.json and the dependency lock file of the shared data directory its terraform
   * block needs (running `init` there first when no run did yet; see shared-init.ts). No
   * workspace is selected here: every command names the VM's through TF_WORKSPACE, and the pg
   * backend creates it on first use.
   */
  async prepare(run: RunOptions): Promise<void> {
    if (!NAME.test(run.workspace)) {
      throw this.usageError("workspace", `invalid workspace name ${JSON.stringify(run.workspace)}`);
    }
    const dir = this.workdir(run);
    this.checkRun(run, "init");
    this.checkConfig(run);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.pluginCacheDir) await mkdir(this.pluginCacheDir, { recursive: true });
    await this.removeStale(dir);
    await writeConfig(dir, run.configJson);

    const json = this.opts.flavor === "tofu" ? ["-json"] : [];
    const shared = await this.inits.ensure(run.configJson, (initDir) =>
      this.takingTurns(() => this.init(run, initDir, ["init", "-input=false", "-no-color", ...json])),
    );
    await copyFile(shared.lockFile, path.join(dir, LOCK_FILE)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error; // No providers, no lock file.
    });
    // Work directories of earlier versions had their own .terraform; TF_DATA_DIR replaces it.
    await rm(path.join(dir, ".terraform"), { recursive: true, force: true });
  }

  /**
   * `apply -auto-approve -json` (with `-destroy` for a destroy): plan and apply in one tofu
   * process, for runs no person or policy must see the plan of first. Outputs come from the
   * apply's own `outputs` line (no `tofu output`).
   */
  async applyAuto(run: RunOptions, options: { destroy?: boolean } = {}): Promise<AutoApplyResult> {
    const args = ["apply", "-auto-approve", "-input=false", "-no-color", "-json", `-lock-timeout=${this.opts.lockTimeout}`];
    if (options.destroy) args.push("-destroy");
    try {
      const outcome = await this.execInWorkspace(run, { phase: "apply", args, cwd: this.workdir(run) });
      const planned = outcome.planSummary ?? emptyChanges();
      return {
        hasChanges: planned.add + planned.change + planned.remove + planned.import + planned.forget > 0,
        planned,
        changes: outcome.changeSummary ?? emptyChanges(),
        drift: outcome.drift,
        outputs: outcome.outputs ?? {},
        diagnostics: outcome.diagnostics,
      };
    } catch (error) {
      // tofu could not save state: keep what it wrote so the next run records the VM.
      await this.saveErroredState(run).catch(() => undefined);
      throw error;
    }
  }

  /** `plan -out -json -detailed-exitcode` (with `-destroy` for a destroy). */
  async plan(run: RunOptions, options: { destroy?: boolean } = {}): Promise<PlanResult> {
    const dir = this.workdir(run);
    const planName = `ptm-${randomUUID()}${PLAN_SUFFIX}`;
    const args = [
      "plan",
      "-input=false",
      "-no-color",
      "-json",
      "-detailed-exitcode",
      `-lock-timeout=${this.opts.lockTimeout}`,
      `-out=${planName}`,
    ];
    if (options.destroy) args.push("-destroy");
    const planFile = path.join(dir, planName);
    try {
      const outcome = await this.execInWorkspace(run, { phase: "plan", args, okCodes: [0, 2], cwd: dir });
      const hasChanges = outcome.exitCode === 2;
      if (!hasChanges) await rm(planFile, { force: true });
      return {
        hasChanges,
        changes: outcome.changeSummary ?? emptyChanges(),
        planFile: hasChanges ? planFile : undefined,
        drift: outcome.drift,
        diagnostics: outcome.diagnostics,
      };
    } catch (error) {
      await rm(planFile, { force: true });
      throw error;
    }
  }

  /** `apply -json <planFile>`; the plan file is deleted afterwards whatever happens (it is single-use and may hold variable values). */
  async apply(run: RunOptions, planFile: string): Promise<ApplyResult> {
    const dir = this.workdir(run);
    const rel = path.relative(dir, path.resolve(dir, planFile));
    if (rel.startsWith("..") || path.isAbsolute(rel) || !rel.endsWith(PLAN_SUFFIX)) {
      throw new TypeError(`plan file ${planFile} is not one of this work directory's plans`);
    }
    try {
      const outcome = await this.execInWorkspace(run, {
        phase: "apply",
        args: ["apply", "-input=false", "-no-color", "-json", `-lock-timeout=${this.opts.lockTimeout}`, rel],
        cwd: dir,
      });
      return { changes: outcome.changeSummary ?? emptyChanges(), outputs: outcome.outputs ?? {} };
    } catch (error) {
      // tofu could not save state: keep what it wrote so the next run records the VM.
      await this.saveErroredState(run).catch(() => undefined);
      throw error;
    } finally {
      await rm(path.join(dir, rel), { force: true });
    }
  }

  /**
   * Why a plan was refused by `prevent_destroy`: plans the run's configuration without the guard
   * into a plan file, reads `show -json` of it, deletes it and puts the guarded configuration
   * back. Nothing is applied. Call after prepare(), with the plan that failed.
   */
  async planReplacements(run: RunOptions): Promise<Replacement[]> {
    const dir = this.workdir(run);
    await writeConfig(dir, withoutPreventDestroy(run.configJson));
    try {
      const plan = await this.plan(run);
      if (!plan.planFile) return [];
      try {
        // captureStdout: the plan's JSON holds variable values; only resource_changes is read.
        const shown = await this.execInWorkspace(run, {
          phase: "plan",
          args: ["show", "-json", "-no-color", path.basename(plan.planFile)],
          captureStdout: true,
          cwd: dir,
        });
        return replacementsInPlan(JSON.parse(shown.stdout));
      } finally {
        await this.discardPlan(plan.planFile);
      }
    } finally {
      await writeConfig(dir, run.configJson);
    }
  }

  /**
   * What a saved plan changes (`show -json`, reduced by plan-diff.ts). The plan's JSON holds
   * variable values, sensitive ones included: it is captured, reduced with those masked, and
   * never logged.
   */
  async showPlan(run: RunOptions, planFile: string): Promise<PlannedChange> {
    const dir = this.workdir(run);
    const shown = await this.execInWorkspace(run, {
      phase: "plan",
      args: ["show", "-json", "-no-color", this.planInWorkdir(dir, planFile)],
      captureStdout: true,
      cwd: dir,
    });
    return plannedChange(JSON.parse(shown.stdout));
  }

  /** The saved plan's bytes (encrypted by tofu itself when plan encryption is configured). */
  async readPlan(run: RunOptions, planFile: string): Promise<Buffer> {
    const dir = this.workdir(run);
    return readFile(path.join(dir, this.planInWorkdir(dir, planFile)));
  }

  /** Puts a stored plan back into the work directory, for apply(); returns its path. */
  async restorePlan(run: RunOptions, plan: Buffer): Promise<string> {
    const file = path.join(this.workdir(run), `ptm-${randomUUID()}${PLAN_SUFFIX}`);
    await writeFile(file, plan, { mode: 0o600 });
    return file;
  }

  private planInWorkdir(dir: string, planFile: string): string {
    const rel = path.relative(dir, path.resolve(dir, planFile));
    if (rel.startsWith("..") || path.isAbsolute(rel) || !rel.endsWith(PLAN_SUFFIX)) {
      throw new TypeError(`plan file ${planFile} is not one of this work directory's plans`);
    }
    return rel;
  }

  /** Deletes a plan that will not be applied. */
  async discardPlan(planFile: string): Promise<void> {
    if (planFile.endsWith(PLAN_SUFFIX)) await rm(planFile, { force: true });
  }

  /**
   * `output -json` as name → value. Sensitive outputs are left out unless asked for, since
   * callers tend to copy outputs into resource status.
   */
  async output(run: RunOptions, options: { includeSensitive?: boolean } = {}): Promise<Record<string, unknown>> {
    const outcome = await this.execInWorkspace(run, {
      phase: "output",
      args: ["output", "-no-color", "-json"],
      captureStdout: true,
      cwd: this.workdir(run),
    });
    const text = outcome.stdout.trim();
    let parsed: Record<string, { value?: unknown; sensitive?: boolean }>;
    try {
      parsed = text ? (JSON.parse(text) as typeof parsed) : {};
    } catch (cause) {
      throw new TerraformError({
        kind: "transient",
        phase: "output",
        exitCode: 0,
        fallbackMessage: "output -json printed something that is not JSON",
        cause,
      });
    }
    const values: Record<string, unknown> = {};
    for (const [name, entry] of Object.entries(parsed)) {
      if (entry.sensitive && !options.includeSensitive) continue;
      values[name] = entry.value;
    }
    return values;
  }

  /**
   * `state rm <address>`: forget a resource while leaving the real object alone ("orphan").
   * Idempotent: an address that is not in state gives `{ removed: false }`.
   */
  async stateRemove(run: RunOptions, address: string): Promise<{ removed: boolean }> {
    if (!address || address.startsWith("-")) throw new TypeError(`invalid resource address ${JSON.stringify(address)}`);
    const json = this.opts.flavor === "tofu" ? ["-json"] : [];
    try {
      await this.execInWorkspace(run, {
        phase: "state",
        args: ["state", "rm", "-no-color", `-lock-timeout=${this.opts.lockTimeout}`, ...json, address],
        cwd: this.workdir(run),
      });
      return { removed: true };
    } catch (error) {
      if (error instanceof TerraformError && /No matching objects found/.test(diagText(error.diagnostics))) {
        return { removed: false };
      }
      throw error;
    }
  }

  /**
   * `untaint -allow-missing <address>`: a VM tofu marked tainted (a create or update that failed
   * half way) would otherwise be planned for replacement. The operator adopts it in place instead.
   * Returns false when it was not tainted (then something else forces the replacement).
   */
  async untaint(run: RunOptions, address: string): Promise<boolean> {
    if (!address || address.startsWith("-")) throw new TypeError(`invalid resource address ${JSON.stringify(address)}`);
    try {
      await this.execInWorkspace(run, {
        phase: "state",
        args: ["untaint", "-no-color", "-allow-missing", `-lock-timeout=${this.opts.lockTimeout}`, address],
        cwd: this.workdir(run),
      });
      return true;
    } catch (error) {
      if (error instanceof TerraformError && /is not tainted/.test(diagText(error.diagnostics) || error.message)) return false;
      throw error;
    }
  }

  /**
   * Moves a work directory's errored.tfstate into the store (see errored-state.ts). Called by
   * apply() when it fails; safe to call any time. When the store is unreachable the file stays
   * where it is and the next pushErroredState tries again.
   */
  async saveErroredState(run: RunOptions): Promise<ErroredStateKept> {
    const file = path.join(this.workdir(run), ERRORED_STATE_FILE);
    const state = await readFile(file).catch(() => undefined);
    if (state === undefined) return "none";
    const store = this.opts.erroredStates;
    if (store) {
      try {
        await store.save(run.workspace, state);
        await rm(file, { force: true });
        this.notice(run, "state", "tofu could not save state to the backend; its errored.tfstate is kept for the next run to push back");
        return "saved";
      } catch {
        // Usually the same database that refused the state: try again next run.
      }
    }
    this.notice(run, "state", "tofu could not save state to the backend; errored.tfstate stays in the work directory until the next run pushes it back");
    return "kept-locally";
  }

  /**
   * Before planning (after prepare): pushes a state tofu could not save earlier back into the
   * backend (`state push`), from the work directory or the store, and forgets it once pushed. A
   * push that tofu refuses as stale (a newer state was saved since) drops the copy: the backend
   * already knows more. Any other failure throws, and the copy stays for the next try.
   */
  async pushErroredState(run: RunOptions): Promise<{ pushed: boolean }> {
    await this.saveErroredState(run);
    const dir = this.workdir(run);
    const local = path.join(dir, ERRORED_STATE_FILE);
    const store = this.opts.erroredStates;
    let state: Buffer | undefined = await readFile(local).catch(() => undefined);
    let digest: string | undefined;
    if (state === undefined && store) {
      const stored = await store.load(run.workspace);
      if (stored) ({ state, digest } = stored);
    }
    if (state === undefined) return { pushed: false };
    // `state push` reads its input as plain state (OpenTofu's state push disables encryption for
    // it), but with state encryption on, tofu wrote errored.tfstate encrypted.
    const plain = isEncryptedState(state) ? await this.decryptState(run, state) : state;
    const file = path.join(dir, `.ptm-push-${randomUUID()}.tfstate`);
    await writeFile(file, plain, { mode: 0o600 });
    let pushed = true;
    try {
      await this.execInWorkspace(run, {
        phase: "state",
        args: ["state", "push", `-lock-timeout=${this.opts.lockTimeout}`, path.basename(file)],
        cwd: dir,
      });
      this.notice(run, "state", "pushed the state an earlier run could not save back into the backend");
    } catch (error) {
      if (!(error instanceof TerraformError && /lineage|serial/i.test(errorText(error)))) throw error;
      pushed = false;
      this.notice(run, "state", "dropped an earlier run's errored state: the backend holds a newer one");
    } finally {
      await rm(file, { force: true });
    }
    await rm(local, { force: true });
    if (store && digest !== undefined) await store.clear(run.workspace, digest);
    return { pushed };
  }

  /**
   * The plain state of an encrypted state file: `state pull` in a directory holding only that
   * file (the implicit local backend, no init needed), with the run's encryption configuration,
   * prints it decrypted. The directory is removed at once; the output is never logged.
   */
  private async decryptState(run: RunOptions, encrypted: Buffer): Promise<Buffer> {
    const dir = path.join(this.workdir(run), `.ptm-decrypt-${randomUUID()}`);
    await mkdir(dir, { mode: 0o700 });
    try {
      await writeFile(path.join(dir, "terraform.tfstate"), encrypted, { mode: 0o600 });
      const pulled = await this.exec(run, { phase: "state", args: ["state", "pull"], captureStdout: true, cwd: dir });
      return Buffer.from(pulled.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** `version -json`; with a run, also the providers selected in its work directory. */
  async version(run?: RunOptions): Promise<VersionInfo> {
    let cwd = this.opts.workdirRoot;
    if (run) cwd = this.workdir(run);
    else await mkdir(cwd, { recursive: true });
    const outcome = await this.exec(
      run ?? { workdirName: "", configJson: "", workspace: "", env: {}, timeoutMs: VERSION_TIMEOUT_MS },
      { phase: "version", args: ["version", "-json"], captureStdout: true, cwd, inWorkspace: run !== undefined },
    );
    const parsed = JSON.parse(outcome.stdout) as { terraform_version?: string; provider_selections?: Record<string, string> };
    const info: VersionInfo = { flavor: this.opts.flavor, version: parsed.terraform_version ?? "unknown" };
    if (run) info.providerVersions = parsed.provider_selections ?? {};
    return info;
  }

  // --- internals ---------------------------------------------------------------------------

  /**
   * With a plugin cache, this process's inits run one at a time: concurrent installs into the
   * cache break each other (a panic in `LinkFromOtherCache` was seen). They take a fraction of a
   * second. Without a cache there is nothing to share and inits run at once.
   */
  private async takingTurns<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.pluginCacheDir) return fn();
    const previous = this.initTurn;
    let done!: () => void;
    this.initTurn = new Promise<void>((resolve) => (done = resolve));
    await previous;
    try {
      return await fn();
    } finally {
      done();
    }
  }

  private async init(run: RunOptions, dir: string, args: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.exec(run, { phase: "init", args, cwd: dir });
        return;
      } catch (error) {
        if (!(error instanceof TerraformError) || attempt >= INIT_ATTEMPTS) throw error;
        const text = errorText(error);
        if (/init -upgrade/.test(text) && !args.includes("-upgrade")) {
          // A provider pin changed since the lock file was written: let init pick the new version.
          args = [...args, "-upgrade"];
        } else if (CATALOG_RACE.test(text)) {
          this.notice(run, "init", "another run created the state schema at the same moment; running init again");
          await pause(50 + Math.floor(Math.random() * 200), run.signal);
        } else {
          throw error;
        }
      }
    }
  }

  /**
   * A command on the VM's workspace. The first command on a new workspace creates it, and the pg
   * backend takes one advisory lock per state schema for that, tried once ("Already locked for
   * workspace creation"); the first commands on a fresh schema race on its catalog. Both fail
   * before tofu does anything, so the command is tried again for the lock timeout (at least
   * WORKSPACE_CREATION_WAIT_MS).
   */
  private async execInWorkspace(run: RunOptions, spec: CommandSpec): Promise<CommandOutcome> {
    if (!NAME.test(run.workspace)) throw this.usageError(spec.phase, `invalid workspace name ${JSON.stringify(run.workspace)}`);
    const giveUpAt = Date.now() + Math.max(this.lockTimeoutMs, WORKSPACE_CREATION_WAIT_MS);
    let delayMs = 100;
    for (;;) {
      try {
        return await this.exec(run, { ...spec, inWorkspace: true });
      } catch (error) {
        const text = error instanceof TerraformError ? errorText(error) : "";
        const raced = CREATION_LOCK.test(text) || CATALOG_RACE.test(text);
        if (!raced || Date.now() + delayMs > giveUpAt) throw error;
        const waitMs = delayMs + Math.floor(Math.random() * delayMs);
        this.notice(run, spec.phase, `another run is creating a workspace or the state schema; trying again in ${waitMs} ms`);
        await pause(waitMs, run.signal);
        delayMs = Math.min(delayMs * 2, 2000);
      }
    }
  }

  /**
   * Plans and applies (and `show` of a plan) load providers: they reattach to servers when the
   * runner has them. A server that cannot start is not a reason to fail: tofu starts the
   * provider itself then.
   */
  private async leaseProviderServers(run: RunOptions, spec: CommandSpec, env: Record<string, string>, note: (level: TerraformEvent["level"], type: string, message: string) => void) {
    const servers = this.opts.providerServers;
    if (!servers || !spec.inWorkspace || (spec.phase !== "plan" && spec.phase !== "apply")) return undefined;
    const dataDir = this.dataDir(run);
    let binaries = this.binariesByDataDir.get(dataDir);
    if (!binaries) {
      binaries = providerBinaries(dataDir);
      this.binariesByDataDir.set(dataDir, binaries);
    }
    const found = await binaries;
    if (found.length === 0) return undefined;
    try {
      const lease = await servers.lease(found, env);
      env.TF_REATTACH_PROVIDERS = lease.reattach;
      return lease;
    } catch (error) {
      note("warn", "log", `provider server unavailable, tofu starts the provider itself: ${(error as Error).message}`);
      return undefined;
    }
  }

  private notice(run: RunOptions, phase: TerraformPhase, message: string): void {
    this.emit(run, { phase, stream: "runner", level: "info", type: "log", message, timestamp: new Date().toISOString() });
  }

  private childEnv(run: RunOptions, spec: CommandSpec): Record<string, string> {
    const env: Record<string, string> = inheritedEnvironment(this.opts.inheritEnv);
    Object.assign(env, {
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      CHECKPOINT_DISABLE: "1",
    });
    if (this.pluginCacheDir) env.TF_PLUGIN_CACHE_DIR = this.pluginCacheDir;
    if (this.opts.cliConfigFile) env.TF_CLI_CONFIG_FILE = this.opts.cliConfigFile;
    Object.assign(env, run.env);
    if (spec.inWorkspace) {
      env.TF_DATA_DIR = this.dataDir(run);
      env.TF_WORKSPACE = run.workspace;
    }
    if (run.stateEncryptionPassphrase !== undefined) env[ENCRYPTION_ENV] = encryptionConfig(run.stateEncryptionPassphrase);
    else if (run.stateEncryption !== undefined) env[ENCRYPTION_ENV] = run.stateEncryption;
    return env;
  }

  /** Fails early on settings tofu would only trip over later (or never). */
  private checkRun(run: RunOptions, phase: TerraformPhase): void {
    if (run.stateEncryption !== undefined) {
      if (this.opts.flavor !== "tofu") throw this.usageError(phase, "state encryption needs OpenTofu: Terraform has no TF_ENCRYPTION");
      if (run.stateEncryptionPassphrase !== undefined || run.env[ENCRYPTION_ENV] !== undefined) {
        throw this.usageError(phase, `set one of stateEncryption, stateEncryptionPassphrase and env.${ENCRYPTION_ENV}`);
      }
    }
    if (run.stateEncryptionPassphrase === undefined) return;
    if (this.opts.flavor !== "tofu") {
      throw this.usageError(phase, "state encryption needs OpenTofu: Terraform has no TF_ENCRYPTION; remove the passphrase or switch the flavor to tofu");
    }
    if (run.env[ENCRYPTION_ENV] !== undefined) {
      throw this.usageError(phase, `set either stateEncryptionPassphrase or env.${ENCRYPTION_ENV}, not both`);
    }
    try {
      encryptionConfig(run.stateEncryptionPassphrase);
    } catch (error) {
      throw this.usageError(phase, (error as Error).message);
    }
  }

  /** The configuration is written to disk: refuse one that carries a secret we were given. */
  private checkConfig(run: RunOptions): void {
    try {
      JSON.parse(run.configJson);
    } catch (error) {
      throw this.usageError("init", `configJson is not valid JSON: ${(error as Error).message}`);
    }
    const strict = [...(run.secrets ?? [])];
    if (run.stateEncryptionPassphrase) strict.push(run.stateEncryptionPassphrase);
    for (const [name, value] of Object.entries(run.env)) {
      // TF_VAR_ values are often plain inputs that the configuration may repeat; skip those here.
      if (isSecretName(name) && !name.startsWith("TF_VAR_")) strict.push(value);
    }
    const check = new Redactor(strict);
    if (check.size > 0 && check.redact(run.configJson) !== run.configJson) {
      throw this.usageError("init", "configJson contains a secret value; pass secrets through env (TF_VAR_*, provider variables) instead");
    }
  }

  private usageError(phase: TerraformPhase, message: string): TerraformError {
    return new TerraformError({ kind: "permanent", phase, exitCode: null, fallbackMessage: message });
  }

  /** Leftovers of an interrupted earlier run: stray configuration files tofu would load, plans holding variable values. */
  private async removeStale(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const n = entry.name;
      const stale =
        n.endsWith(PLAN_SUFFIX) ||
        (n !== CONFIG_FILE && (n.endsWith(".tf") || n.endsWith(".tf.json") || n.endsWith(".tfvars") || n.endsWith(".tfvars.json"))) ||
        n.startsWith(`.${CONFIG_FILE}.`);
      if (stale) await rm(path.join(dir, n), { force: true });
    }
  }

  private emit(run: RunOptions, event: TerraformEvent): void {
    try {
      run.onEvent?.(event);
    } catch {
      // A failing listener must not break the stream handling of a running tofu.
    }
  }

  private async exec(run: RunOptions, spec: CommandSpec): Promise<CommandOutcome> {
    const { phase } = spec;
    this.checkRun(run, phase);
    const env = this.childEnv(run, spec);
    const secrets = [...(run.secrets ?? [])];
    if (run.stateEncryptionPassphrase) secrets.push(run.stateEncryptionPassphrase);
    const redactor = Redactor.fromEnv(env, secrets);
    const note = (level: TerraformEvent["level"], type: string, message: string) =>
      this.emit(run, {
        phase,
        stream: "runner",
        level,
        type,
        message: redactor.redact(message),
        timestamp: new Date().toISOString(),
      });

    if (run.signal?.aborted) {
      throw new TerraformError({ kind: abortKind(run.signal), phase, exitCode: null, fallbackMessage: `${phase} not started: the run was aborted` });
    }
    let timeoutMs = run.timeoutMs;
    let byDeadline = false;
    if (run.deadline !== undefined) {
      const left = run.deadline - Date.now();
      if (left <= 0) {
        throw new TerraformError({ kind: "timeout", phase, exitCode: null, fallbackMessage: `${phase} not started: the run's deadline has passed` });
      }
      if (left < timeoutMs) {
        timeoutMs = left;
        byDeadline = true;
      }
    }

    const outcome: CommandOutcome = { exitCode: -1, stdout: "", diagnostics: [], drift: [] };
    const stdoutChunks: string[] = [];
    const tail: string[] = [];
    const stderrTail: string[] = [];
    note("info", "command", `${path.basename(this.opts.binary)} ${spec.args.join(" ")}`);

    const onLine = (stream: "stdout" | "stderr", line: string) => {
      if (stream === "stdout" && spec.captureStdout) {
        stdoutChunks.push(line);
        return;
      }
      if (!line.trim()) return;
      const event = parseLine(line, { phase, stream, redactor });
      if (event.diagnostic) outcome.diagnostics.push(event.diagnostic);
      if (event.changes && event.type === "change_summary") outcome.changeSummary = event.changes;
      if (event.type === "resource_drift" && event.resource) outcome.drift.push(event.resource);
      if (stream === "stdout") {
        const facts = streamFacts(line);
        if (facts.planSummary) outcome.planSummary = facts.planSummary;
        if (facts.outputs) outcome.outputs = facts.outputs;
      }
      if (event.type === "log" && !line.startsWith("{")) {
        pushTail(tail, event.message);
        if (stream === "stderr") pushTail(stderrTail, event.message);
      }
      this.emit(run, event);
    };
    const onStop = (reason: StopReason, step: "SIGTERM" | "SIGKILL") => {
      const why = reason === "timeout" ? `timed out after ${timeoutMs} ms${byDeadline ? " (run deadline)" : ""}` : "aborted";
      note(
        "warn",
        "log",
        step === "SIGTERM"
          ? `${phase} ${why}: sending SIGTERM (tofu stops gracefully, writes state and releases the lock)`
          : `${phase} still running ${this.opts.killGraceMs} ms after SIGTERM: sending SIGKILL to its process group`,
      );
    };

    const servers = await this.leaseProviderServers(run, spec, env, note);
    let result;
    try {
      result = await runProcess({
        command: this.opts.binary,
        args: spec.args,
        cwd: spec.cwd,
        env,
        timeoutMs,
        killGraceMs: this.opts.killGraceMs,
        signal: run.signal,
        parentDeathSignal: this.opts.parentDeathSignal,
        scratchDir: this.opts.scratchDir,
        onLine,
        onStop,
      });
    } catch (cause) {
      servers?.release();
      // spawn itself failed: missing binary or work directory.
      throw new TerraformError({
        kind: "permanent",
        phase,
        exitCode: null,
        fallbackMessage: redactor.redact(`cannot start ${this.opts.binary}: ${(cause as Error).message}`),
        cause,
      });
    }
    servers?.release();
    outcome.stdout = stdoutChunks.join("\n");
    const okCodes = spec.okCodes ?? [0];
    if (result.exitCode !== null && okCodes.includes(result.exitCode)) {
      outcome.exitCode = result.exitCode;
      // A successful run has no error diagnostics; warnings are what is left worth returning.
      return outcome;
    }

    if (servers && result.stopReason === undefined && (await servers.lost())) {
      // The provider server died under this command: nothing about the run is wrong, and the
      // retry gets a new server.
      note("warn", "log", `the provider server stopped during ${phase}; the retry starts a new one`);
      throw new TerraformError({
        kind: "transient",
        phase,
        exitCode: result.exitCode,
        diagnostics: outcome.diagnostics.filter((d) => d.severity === "error"),
        stderrTail: stderrTail.slice(-20),
        fallbackMessage: `the provider server stopped during ${phase}; the retry starts a new one`,
      });
    }
    let errors = outcome.diagnostics.filter((d) => d.severity === "error");
    if (errors.length === 0) errors = parseTextDiagnostics(tail).filter((d) => d.severity === "error");
    let kind: TerraformErrorKind;
    let hint: string | undefined;
    let problem: FailureProblem | undefined;
    let fallbackMessage: string | undefined;
    if (result.stopReason === "timeout") {
      kind = "timeout";
      fallbackMessage = `${phase} timed out after ${Math.round(timeoutMs / 1000)}s${byDeadline ? " (run deadline)" : ""}`;
    } else if (result.stopReason === "aborted") {
      kind = abortKind(run.signal);
      fallbackMessage = `${phase} ${kind === "timeout" ? "timed out" : "was aborted"}`;
    } else {
      ({ kind, hint, problem } = describeFailure({ texts: [...errors.map((d) => `${d.summary}\n${d.detail}`), ...stderrTail], exitCode: result.exitCode }));
      if (result.exitCode === null) fallbackMessage = `${phase} was killed by ${result.signal ?? "a signal"}`;
    }
    throw new TerraformError({
      kind,
      phase,
      exitCode: result.exitCode,
      diagnostics: errors,
      stderrTail: stderrTail.slice(-20),
      fallbackMessage,
      hint,
      problem,
    });
  }
}

function pushTail(tail: string[], line: string): void {
  tail.push(line);
  if (tail.length > TAIL_LINES) tail.shift();
}

function diagText(diags: readonly TerraformDiagnostic[]): string {
  return diags.map((d) => `${d.summary}\n${d.detail}`).join("\n");
}

/** Everything a failed command said: diagnostics, or the stderr tail when it printed none. */
function errorText(error: TerraformError): string {
  return [diagText(error.diagnostics), ...error.stderrTail, error.message].join("\n");
}

/** Waits `ms`, or less when the run is aborted (the next command then refuses to start). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** AbortSignal.timeout() (a TimeoutError reason) is a deadline, anything else a cancellation. */
function abortKind(signal: AbortSignal | undefined): "timeout" | "aborted" {
  const reason: unknown = signal?.reason;
  return reason instanceof Error && reason.name === "TimeoutError" ? "timeout" : "aborted";
}

/** Writes main.tf.json atomically (a reader never sees half a configuration). */
async function writeConfig(dir: string, configJson: string): Promise<void> {
  const tmp = path.join(dir, `.${CONFIG_FILE}.${randomUUID()}`);
  await writeFile(tmp, configJson, { mode: 0o600 });
  await rename(tmp, path.join(dir, CONFIG_FILE));
}

/** OpenTofu's encrypted state format: the state's JSON replaced by `encrypted_data` (and key metadata). */
function isEncryptedState(state: Buffer): boolean {
  try {
    return typeof (JSON.parse(state.toString("utf8")) as { encrypted_data?: unknown }).encrypted_data === "string";
  } catch {
    return false;
  }
}
