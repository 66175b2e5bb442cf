/**
 * Redis stream entry ids (`<milliseconds>-<sequence>`), used as SSE event ids. Compared as
 * numbers, never as strings ("9-0" < "10-0"). Ids from Redis are canonical (no leading zeros);
 * ids from clients go through `canonicalStreamId` first.
 */
const ID = /^(\d{1,20})-(\d{1,20})$/;
const MAX = 2n ** 64n;

export const ZERO_ID = "0-0";

/** The canonical form of a client-supplied id, or undefined when it is not a stream id. */
export function canonicalStreamId(value: string): string | undefined {
  const m = ID.exec(value.trim());
  if (!m) return undefined;
  const ms = BigInt(m[1]!);
  const seq = BigInt(m[2]!);
  if (ms >= MAX || seq >= MAX) return undefined;
  return `${ms}-${seq}`;
}

/** Negative when a < b, 0 when equal, positive when a > b. Both must be canonical ids. */
export function compareStreamIds(a: string, b: string): number {
  if (a === b) return 0;
  const da = a.indexOf("-");
  const db = b.indexOf("-");
  return compareDigits(a.slice(0, da), b.slice(0, db)) || compareDigits(a.slice(da + 1), b.slice(db + 1));
}

/** Compares two canonical decimal numbers without converting them. */
function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
