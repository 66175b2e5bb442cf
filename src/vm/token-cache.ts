/**
 * The token (and CA bundle) a connection resolved to, kept so a resync of thousands of VMs reads
 * the connection's Secret once rather than once per VM. An entry belongs to one resourceVersion
 * of the connection (an edited connection resolves afresh) and lives a bounded time, because
 * Secrets are not watched (knowing a Secret's resourceVersion would take the very read this
 * saves): a Secret rotated in place is read again after at most `maxAgeMs`. A run that meets an
 * authentication failure drops the entry (`forget`), so the next resolve reads the Secret at once.
 */
export interface CachedToken {
  apiToken: string;
  caBundle?: string;
}

interface Entry extends CachedToken {
  connectionVersion: string;
  readAt: number;
}

export interface TokenCacheOptions {
  maxAgeMs?: number;
  /** Injectable for tests. */
  now?: () => number;
}

export const DEFAULT_TOKEN_MAX_AGE_MS = 5 * 60_000;

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_TOKEN_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
  }

  /** The cached values for this version of the connection, unless too old. */
  get(connectionKey: string, connectionVersion: string | undefined): CachedToken | undefined {
    const entry = this.entries.get(connectionKey);
    if (!entry || connectionVersion === undefined) return undefined;
    if (entry.connectionVersion !== connectionVersion || this.now() - entry.readAt >= this.maxAgeMs) {
      this.entries.delete(connectionKey);
      return undefined;
    }
    return { apiToken: entry.apiToken, ...(entry.caBundle !== undefined ? { caBundle: entry.caBundle } : {}) };
  }

  set(connectionKey: string, connectionVersion: string | undefined, token: CachedToken): void {
    if (connectionVersion === undefined) return;
    this.entries.set(connectionKey, { ...token, connectionVersion, readAt: this.now() });
  }

  forget(connectionKey: string): void {
    this.entries.delete(connectionKey);
  }

  get size(): number {
    return this.entries.size;
  }
}
