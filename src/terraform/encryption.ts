/**
 * OpenTofu state and plan encryption through the TF_ENCRYPTION environment variable, so the
 * passphrase never touches the work directory. Checked against OpenTofu v1.12.6:
 *
 * - internal/command/meta_encryption.go reads TF_ENCRYPTION and merges it over the configuration's
 *   `terraform { encryption {} }` block;
 * - internal/encryption/config/config_load.go parses it as HCL JSON when it starts with `{`;
 * - internal/encryption/config/config.go: `key_provider "<type>" "<name>"`, `method "<type>" "<name>"`,
 *   `state`/`plan` blocks with `method` and `enforced`;
 * - keyprovider/pbkdf2: `passphrase` of at least 16 characters (defaults: sha512, 600000 iterations,
 *   32-byte key, which is what aes_gcm needs); method/aesgcm: `keys`.
 *
 * In the JSON form `state.method` must be a plain reference string ("method.aes_gcm.x"): a
 * "${...}" template there is rejected with "A single static variable reference is required".
 * The passphrase is a JSON string that HCL evaluates as a template, so "${" and "%{" in it are
 * escaped ("$${", "%%{") to stay literal.
 *
 * `enforced: true` makes tofu refuse to write either artifact unencrypted. It also forbids an
 * unencrypted fallback, so a workspace whose state was written without encryption cannot be
 * read with this configuration (migrating one needs a run without `enforced`).
 *
 * The default is keyEncryptionConfig: random 32-byte keys the operator manages (state-keys.ts),
 * handed to tofu by the `external` key provider (keyprovider/external: `command`, a program that
 * prints the header line {"magic":"OpenTofu-External-Key-Provider","version":1} and then
 * {"keys":{"encryption_key":<base64>,"decryption_key":<base64>},"meta":{...}} on stdout; tofu
 * writes the stored metadata, or null, to its stdin). No key derivation: a `/bin/sh` that cats
 * a 0600 file costs about a millisecond, where pbkdf2 costs about 2 CPU-s per command and
 * OpenTofu refuses fewer than 200000 iterations (pbkdf2 MinimumIterations). The key stays out
 * of the environment and the command line: both carry only the key file's path.
 */

export const ENCRYPTION_ENV = "TF_ENCRYPTION";
export const MIN_PASSPHRASE_LENGTH = 16;

const NAME = "ptm";

export function validatePassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new RangeError(
      `the state encryption passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters (OpenTofu's pbkdf2 key provider refuses shorter ones)`,
    );
  }
}

/** HCL templates evaluate "${" and "%{" even inside JSON strings; doubling the sigil keeps them literal. */
export function escapeHclTemplate(s: string): string {
  // Function replacements: in a replacement string "$$" would itself mean a single "$".
  return s.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

/** The TF_ENCRYPTION value: pbkdf2 → aes_gcm, enforced for state and plan. */
export function encryptionConfig(passphrase: string): string {
  validatePassphrase(passphrase);
  const method = `method.aes_gcm.${NAME}`;
  return JSON.stringify({
    key_provider: { pbkdf2: { [NAME]: { passphrase: escapeHclTemplate(passphrase) } } },
    method: { aes_gcm: { [NAME]: { keys: `key_provider.pbkdf2.${NAME}` } } },
    state: { method, enforced: true },
    plan: { method, enforced: true },
  });
}

/**
 * The key provider program, inline so that nothing has to be installed next to tofu: reads
 * (and ignores) tofu's metadata, prints the protocol header and the key file ($1, base64) as
 * both encryption and decryption key. No "${" in it (HCL would evaluate it). tofu runs it about
 * four times per command (each encryption target), so it forks nothing.
 */
export const KEY_PROVIDER_SCRIPT = [
  // Builtins only (read, test, printf): one process per key, no cat.
  "read -r meta || :",
  'read -r key < "$1" || [ -n "$key" ] || exit 1',
  '[ -n "$key" ] || exit 1',
  `printf '%s\\n%s\\n' '{"magic":"OpenTofu-External-Key-Provider","version":1}' "{\\"keys\\":{\\"encryption_key\\":\\"$key\\",\\"decryption_key\\":\\"$key\\"},\\"meta\\":{\\"external_data\\":{}}}"`,
].join("; ");

export interface KeyEncryptionOptions {
  /** The key file new state and plans are written with (base64 of 32 bytes, mode 0600). */
  currentKeyFile: string;
  /** Key files tried after the current one when reading (rotation: the previous key). */
  previousKeyFiles?: readonly string[];
  /** A passphrase an earlier configuration encrypted with (pbkdf2), tried last; it costs its KDF in every command while set. */
  previousPassphrase?: string;
  /** Also read unencrypted state and plans (an installation that ran without encryption); they are written back encrypted. */
  readPlaintext?: boolean;
}

/**
 * The TF_ENCRYPTION value for operator-managed keys: aes_gcm with the current key; each older
 * key (then the passphrase, then plain text) as the next fallback. Holds no secret.
 */
export function keyEncryptionConfig(o: KeyEncryptionOptions): string {
  const external: Record<string, { command: string[] }> = {};
  const aesGcm: Record<string, { keys: string }> = {};
  const pbkdf2: Record<string, { passphrase: string }> = {};
  const order: string[] = [];
  [o.currentKeyFile, ...(o.previousKeyFiles ?? [])].forEach((file, i) => {
    const name = i === 0 ? "current" : `previous_${i}`;
    external[name] = { command: ["/bin/sh", "-c", KEY_PROVIDER_SCRIPT, "ptm-state-key", file] };
    aesGcm[name] = { keys: `key_provider.external.${name}` };
    order.push(`method.aes_gcm.${name}`);
  });
  if (o.previousPassphrase !== undefined) {
    validatePassphrase(o.previousPassphrase);
    // Named as encryptionConfig names it: pbkdf2 finds its salt in the state's metadata under
    // "key_provider.pbkdf2.<name>", and without it has no decryption key.
    pbkdf2[NAME] = { passphrase: escapeHclTemplate(o.previousPassphrase) };
    aesGcm.passphrase = { keys: `key_provider.pbkdf2.${NAME}` };
    order.push("method.aes_gcm.passphrase");
  }
  const config: Record<string, unknown> = {
    key_provider: { external, ...(o.previousPassphrase !== undefined ? { pbkdf2 } : {}) },
    method: { aes_gcm: aesGcm, ...(o.readPlaintext ? { unencrypted: { plaintext: {} } } : {}) },
  };
  if (o.readPlaintext) order.push("method.unencrypted.plaintext");
  const target = targetChain(order, !o.readPlaintext);
  config.state = target;
  config.plan = target;
  return JSON.stringify(config);
}

/** `{ method, fallback: { method, fallback: ... } }`; `enforced` only where no fallback is plain text. */
function targetChain(methods: string[], enforced: boolean): Record<string, unknown> {
  let chain: Record<string, unknown> | undefined;
  for (const method of [...methods].reverse()) chain = { method, ...(chain ? { fallback: chain } : {}) };
  return { ...chain, ...(enforced ? { enforced: true } : {}) };
}
