/**
 * Who may call the API, after pve-access-control: users (`user@realm`, enabled, expiry, an
 * optional password), API tokens (`user@realm!name`, owned by a user), tickets and CSRF
 * prevention tokens.
 *
 * - A ticket is `PVE:<user>:<8 hex digits of issue time>::<signature>`, valid from 5 minutes
 *   before to 2 hours after its time (PVE::AccessControl's $ticket_lifetime and grace period).
 *   Proxmox signs with the cluster's RSA auth key; the simulator signs with an HMAC key of its
 *   own (same shape, same lifetime; only this simulator can verify it, as only the cluster can).
 * - A CSRF prevention token is `<8 hex digits>:<base64 HMAC-SHA256 of "time:user">`, required
 *   on every non-GET request made with a ticket (never with an API token).
 *
 * Privileges are not modelled yet: every user and token may do everything. The shapes leave
 * room for them: a token's `privsep` says whether it gets its own ACL entries (Proxmox's
 * default) or its user's, and ACL entries (roles on paths, per user, group or token) would live
 * beside `users` in the cluster state.
 */
import { createHmac, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";

export const TICKET_LIFETIME_S = 2 * 3600;
export const AUTH_GRACE_S = 5 * 60;

export interface UserState {
  userid: string;
  enable: boolean;
  /** Expiry as Unix seconds; 0 = never. */
  expire: number;
  /** `scrypt$<salt hex>$<hash hex>`; no password: password login is refused. */
  passwordHash?: string;
  comment?: string;
  email?: string;
  /** For `@pam` users: public keys (authorized_keys lines) the node's SSH accepts. */
  sshKeys?: string[];
}

export function hashPassword(password: string, salt = randomBytes(16)): string {
  return `scrypt$${salt.toString("hex")}$${scryptSync(password, salt, 32).toString("hex")}`;
}

export function passwordMatches(hash: string | undefined, password: string): boolean {
  const m = /^scrypt\$([0-9a-f]+)\$([0-9a-f]+)$/.exec(hash ?? "");
  if (!m) return false;
  const expected = Buffer.from(m[2] as string, "hex");
  const got = scryptSync(password, Buffer.from(m[1] as string, "hex"), expected.length);
  return timingSafeEqual(expected, got);
}

/** PVE::AccessControl::check_user_enabled: the user exists, is enabled and not expired. */
export function userUsable(user: UserState | undefined, now: number): boolean {
  return !!user && user.enable && (user.expire === 0 || user.expire > now);
}

function stamp(now: number): string {
  return Math.floor(now).toString(16).toUpperCase().padStart(8, "0");
}

/** Ticket and CSRF token issuing and checking with one secret key (one per simulator run). */
export class TicketSigner {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  private sign(text: string): string {
    return createHmac("sha256", this.key).update(text).digest("base64").replace(/=+$/, "");
  }

  /** PVE::Ticket::assemble_rsa_ticket with prefix PVE (`:` in the user escaped, as uri_escape does). */
  ticket(userid: string, now = Date.now() / 1000): string {
    const plain = `PVE:${userid.replace(/:/g, "%3A")}:${stamp(now)}`;
    return `${plain}::${this.sign(plain)}`;
  }

  /** The user of a valid, unexpired ticket; undefined otherwise. */
  verifyTicket(ticket: string | undefined, now = Date.now() / 1000): string | undefined {
    const m = /^(PVE:(\S+):([A-Z0-9]{8}))::([^:\s]+)$/.exec(ticket ?? "");
    if (!m) return undefined;
    const [, plain, data, time, sig] = m as unknown as [string, string, string, string, string];
    const want = Buffer.from(this.sign(plain));
    const got = Buffer.from(sig);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const age = now - parseInt(time, 16);
    if (!(age > -AUTH_GRACE_S && age < TICKET_LIFETIME_S)) return undefined;
    return data.replace(/%3A/gi, ":");
  }

  csrfToken(userid: string, now = Date.now() / 1000): string {
    const time = stamp(now);
    return `${time}:${this.sign(`csrf:${time}:${userid}`)}`;
  }

  verifyCsrfToken(userid: string, token: string | undefined, now = Date.now() / 1000): boolean {
    const m = /^([A-Z0-9]{8}):(\S+)$/.exec(token ?? "");
    if (!m) return false;
    const want = Buffer.from(this.sign(`csrf:${m[1]}:${userid}`));
    const got = Buffer.from(m[2] as string);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return false;
    const age = now - parseInt(m[1] as string, 16);
    return age > -AUTH_GRACE_S && age < TICKET_LIFETIME_S;
  }
}

/** The user part of a token id (`root@pam!ci` -> `root@pam`). */
export function tokenOwner(tokenid: string): string {
  return tokenid.split("!")[0] as string;
}

/** PVE::Auth::Plugin's userid check: `name@realm`, no spaces, colons or slashes in the name. */
export function validUserid(userid: string): boolean {
  return /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$/.test(userid) && userid.length < 64;
}
