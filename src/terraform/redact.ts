/**
 * Removes secret values from text before it leaves the runner (events, error messages). Defence
 * in depth: secrets only ever travel in the child's environment, but providers and tofu itself may
 * echo parts of them back (a connection string in an error, a token in a debug line).
 */

export const REDACTED = "[REDACTED]";

/**
 * Values shorter than this are not redacted: replacing every "2" or "abc" would destroy the output
 * and such a value protects nothing. Non-secret inputs belong in the configuration, not in TF_VAR_*.
 */
export const MIN_SECRET_LENGTH = 4;

/** Environment variable names whose values are treated as secrets. */
const SECRET_NAME =
  /^(TF_VAR_|TF_ENCRYPTION$)|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CONN_STR|CONNECTION_STRING|DATABASE_URL|CREDENTIAL|PRIVATE_KEY|API_KEY|ACCESS_KEY/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * The forms in which a secret may show up in output, besides itself: the password inside a URL or
 * a libpq key/value string, the secret half of a Proxmox API token (`user@realm!id=UUID`), and the
 * JSON-escaped spelling (Go's encoder also escapes <, > and &).
 */
export function secretVariants(value: string): string[] {
  const out = new Set<string>([value]);
  const add = (v: string | undefined) => {
    if (v) out.add(v);
  };
  try {
    const url = new URL(value);
    if (url.password) {
      add(url.password);
      add(safeDecode(url.password));
    }
  } catch {
    // not a URL
  }
  for (const m of value.matchAll(/(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/gi)) {
    const raw = m[1]!;
    add(raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw);
  }
  const token = /^[^\s=]+![^\s=]+=(\S+)$/.exec(value);
  add(token?.[1]);
  for (const v of [...out]) {
    const json = JSON.stringify(v).slice(1, -1);
    add(json);
    add(json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026"));
  }
  return [...out];
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export class Redactor {
  /** Longest first, so a secret containing another is replaced whole. */
  private readonly needles: string[];

  constructor(secrets: Iterable<string>) {
    const all = new Set<string>();
    for (const s of secrets) {
      for (const v of secretVariants(s)) if (v.length >= MIN_SECRET_LENGTH) all.add(v);
    }
    this.needles = [...all].sort((a, b) => b.length - a.length);
  }

  /** A redactor for `extra` plus the values of secret-looking names and URL passwords in `env`. */
  static fromEnv(env: Record<string, string | undefined>, extra: Iterable<string> = []): Redactor {
    const secrets = [...extra];
    for (const [name, value] of Object.entries(env)) {
      if (!value) continue;
      if (isSecretName(name)) {
        secrets.push(value);
      } else if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s]*@/i.test(value)) {
        // A URL with credentials under an innocent name (HTTPS_PROXY=http://user:pw@proxy).
        secrets.push(...secretVariants(value).filter((v) => v !== value));
      }
    }
    return new Redactor(secrets);
  }

  get size(): number {
    return this.needles.length;
  }

  redact(text: string): string {
    let out = text;
    for (const needle of this.needles) {
      if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    }
    return out;
  }
}
