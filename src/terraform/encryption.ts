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
