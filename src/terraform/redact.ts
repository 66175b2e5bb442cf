/**
 * Removes secret values from text before it leaves the process: run events, error messages,
 * conditions, Events, pino log lines. Defence in depth: secrets only ever travel in a child's
 * environment or a request header, but providers, tofu, Proxmox and libraries may echo them back,
 * and not always as they were given: inside a URL (percent-encoded, `+` for space, either case of
 * hex digits), base64-encoded (a Basic auth header, a Kubernetes Secret's data), JSON-escaped, or
 * upper-cased by whoever formats the message. Matching is case-insensitive, so every case
 * variant of every encoding is caught by one needle.
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
 * The secrets inside a value, besides the value itself: the password of a URL (raw and decoded),
 * of a libpq key/value string, the secret half of a Proxmox API token (`user@realm!id=UUID`,
 * with or without the `PVEAPIToken=` prefix) and the token without that prefix.
 */
export function embeddedSecrets(value: string): string[] {
  const out: string[] = [];
  try {
    const url = new URL(value);
    if (url.password) out.push(url.password, safeDecode(url.password) ?? url.password);
  } catch {
    // not a URL
  }
  for (const m of value.matchAll(/(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/gi)) {
    const raw = m[1]!;
    out.push(raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw);
  }
  const bare = value.trim().replace(/^PVEAPIToken=/i, "");
  if (bare !== value) out.push(bare);
  const token = /^[^\s=]+![^\s=]+=(.+)$/.exec(bare);
  if (token) out.push(token[1]!);
  return out;
}

/** The spellings in which `value` may show up in output (matched case-insensitively). */
export function encodings(value: string): string[] {
  const out = new Set<string>([value]);
  const json = JSON.stringify(value).slice(1, -1);
  out.add(json);
  out.add(json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026"));
  // Percent-encodings: as encodeURIComponent, as a form (`+` for space), RFC 3986 strict, encodeURI.
  const component = encodeURIComponent(value);
  out.add(component);
  out.add(component.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
  out.add(new URLSearchParams([["", value]]).toString().slice(1));
  out.add(safeEncodeUri(value) ?? value);
  for (const b64 of base64Forms(Buffer.from(value, "utf8"))) out.add(b64);
  return [...out];
}

/**
 * Base64 of the value alone (standard and URL-safe, with and without padding), and the part of
 * its encoding that does not depend on neighbouring bytes at each of the three byte alignments,
 * so the value is found inside a longer base64 text too (`user:password` in a Basic header).
 */
function base64Forms(bytes: Buffer): string[] {
  const out: string[] = [];
  const whole = bytes.toString("base64");
  out.push(whole, whole.replace(/=+$/, ""));
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    const first = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * (offset + bytes.length)) / 6);
    if (end > first) out.push(encoded.slice(first, end));
  }
  return out.flatMap((b64) => [b64, b64.replace(/\+/g, "-").replace(/\//g, "_")]);
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function safeEncodeUri(s: string): string | undefined {
  try {
    return encodeURI(s);
  } catch {
    return undefined;
  }
}

/**
 * A pattern for `value` percent-encoded by any encoder: each character that an encoder may
 * escape matches raw or as its %XX bytes (either case), a space also as `+`. Encoders disagree
 * on which characters they escape (Go's QueryEscape keeps `~` and escapes `!`, URLSearchParams
 * the other way round), so listing their outputs would never be complete. Undefined when no
 * character of `value` is ever escaped (the literal needle covers it).
 */
export function percentPattern(value: string): string | undefined {
  let escapable = false;
  let out = "";
  for (const char of value) {
    if (/[A-Za-z0-9]/.test(char)) {
      out += char;
      continue;
    }
    escapable = true;
    const bytes = [...Buffer.from(char, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    const literal = char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    out += char === " " ? `(?: |\\+|${bytes})` : `(?:${literal}|${bytes})`;
  }
  return escapable ? out : undefined;
}

/**
 * Every spelling of the value and of the secrets inside it. Kept for callers of the first
 * version; `Redactor.add` is the way in.
 */
export function secretVariants(value: string): string[] {
  return [...new Set([value, ...embeddedSecrets(value)].flatMap(encodings))];
}

/**
 * The one redactor: `add` secrets as they become known (the resolver adds every Secret value it
 * reads; a run adds its environment's secrets), `redact` any text. Safe to share between a
 * process's logger and its runs: it only grows.
 */
export class Redactor {
  /** Lower-cased needles; matching lower-cases the text too. */
  private readonly needles = new Set<string>();
  /** Longest first, so a secret containing another is replaced whole; rebuilt after `add`. */
  private sorted: string[] | undefined = [];
  /** Percent-encoded spellings by pattern (percentPattern), one alternation; rebuilt after `add`. */
  private readonly percentPatterns = new Map<string, number>();
  private percent: RegExp | undefined | null = null;

  constructor(secrets: Iterable<string> = []) {
    for (const secret of secrets) this.add(secret);
  }

  /** A redactor for `extra` plus the values of secret-looking names and URL passwords in `env`. */
  static fromEnv(env: Record<string, string | undefined>, extra: Iterable<string> = []): Redactor {
    const redactor = new Redactor(extra);
    for (const [name, value] of Object.entries(env)) {
      if (!value) continue;
      if (isSecretName(name)) redactor.add(value);
      // A URL with credentials under an innocent name (HTTPS_PROXY=http://user:pw@proxy).
      else if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s]*@/i.test(value)) for (const inner of embeddedSecrets(value)) redactor.add(inner);
    }
    return redactor;
  }

  /** Learns a secret: it and what is inside it, in every spelling. */
  add(secret: string): this {
    for (const value of [secret, ...embeddedSecrets(secret)]) {
      if (value.length < MIN_SECRET_LENGTH) continue;
      const pattern = percentPattern(value);
      if (pattern !== undefined && !this.percentPatterns.has(pattern)) {
        this.percentPatterns.set(pattern, value.length);
        this.percent = null;
      }
      for (const spelling of encodings(value)) {
        if (spelling.length < MIN_SECRET_LENGTH) continue;
        const needle = spelling.toLowerCase();
        if (!this.needles.has(needle)) {
          this.needles.add(needle);
          this.sorted = undefined;
        }
      }
    }
    return this;
  }

  get size(): number {
    return this.needles.size;
  }

  redact(input: string): string {
    if (this.needles.size === 0 || input.length < MIN_SECRET_LENGTH) return input;
    this.sorted ??= [...this.needles].sort((a, b) => b.length - a.length);
    if (this.percent === null) {
      const patterns = [...this.percentPatterns].sort((a, b) => b[1] - a[1]).map(([p]) => p);
      this.percent = patterns.length > 0 ? new RegExp(patterns.join("|"), "giu") : undefined;
    }
    const text = this.percent ? input.replace(this.percent, REDACTED) : input;
    const lower = text.toLowerCase();
    // A few characters change length when lower-cased (İ); positions then do not line up.
    if (lower.length !== text.length) return this.redactByRegExp(text);
    const ranges: Array<[number, number]> = [];
    for (const needle of this.sorted) {
      for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, at + 1)) ranges.push([at, at + needle.length]);
    }
    if (ranges.length === 0) return text;
    ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    let out = "";
    let done = 0;
    let current: [number, number] | undefined;
    for (const range of ranges) {
      if (current && range[0] < current[1]) {
        current[1] = Math.max(current[1], range[1]);
        continue;
      }
      if (current) {
        out += text.slice(done, current[0]) + REDACTED;
        done = current[1];
      }
      current = [range[0], range[1]];
    }
    out += text.slice(done, current![0]) + REDACTED + text.slice(current![1]);
    return out;
  }

  private redactByRegExp(text: string): string {
    const pattern = new RegExp(this.sorted!.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "giu");
    return text.replace(pattern, REDACTED);
  }
}
