/**
 * `errored.tfstate`: when tofu cannot write state to its backend at the end of an apply
 * (PostgreSQL gone mid-apply), it writes the state it holds to `errored.tfstate` in the work
 * directory and fails. That file is then the only record of the VM it just created. The work
 * directory is not durable (an emptyDir in a pod), so the runner hands the file to an
 * ErroredStateStore (PostgreSQL, once it is reachable again) and the next run pushes it back
 * with `tofu state push` before it plans, so the VM is recorded without an import.
 *
 * Contents: the bytes exactly as tofu wrote them. With state encryption on (TF_ENCRYPTION),
 * tofu writes errored.tfstate encrypted like any state; `state push` reads its input as plain
 * state, so the runner decrypts it first (`state pull` on the file alone); without it the file is as sensitive as the state row the pg backend keeps
 * in the same database (a cloud-init password may be in both), so storing it there exposes
 * nothing new. It is never logged, emitted or put in a run record.
 */

/** The file tofu writes (internal/backend/local: the errored state file name is fixed). */
export const ERRORED_STATE_FILE = "errored.tfstate";

export interface StoredErroredState {
  state: Buffer;
  /** sha256 hex of `state`: `clear` removes only the copy that was pushed. */
  digest: string;
}

/** Durable home of errored states, keyed by workspace (one per VM). */
export interface ErroredStateStore {
  /** Keeps `state` for `workspace`, replacing an older one (a newer failure holds newer state). */
  save(workspace: string, state: Buffer): Promise<void>;
  load(workspace: string): Promise<StoredErroredState | undefined>;
  /** Removes the stored state if it is still the one with `digest`. */
  clear(workspace: string, digest: string): Promise<void>;
}

/** Where an errored state went when the runner tried to keep it. */
export type ErroredStateKept =
  /** No errored.tfstate in the work directory. */
  | "none"
  /** In the store; the work directory's copy is removed. */
  | "saved"
  /** The store was unreachable (or none is configured): the file stays in the work directory for the next run. */
  | "kept-locally";
