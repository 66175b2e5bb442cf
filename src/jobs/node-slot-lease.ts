import type { NodeSlots } from "./node-slots.js";

/** A per-node run slot: which connection, which node, and how many runs that node takes at once. */
export interface NodeSlot {
  conn: string;
  node: string;
  limit: number;
}

/**
 * How long a waiting job trusts the node slot it read last time before it reads the VM and its
 * connection again: a node or limit changed while it waits is noticed at the latest this late
 * (or as soon as the old slot frees up).
 */
export const SLOT_HINT_TTL_MS = 15_000;
/** Leases last 60 s in Redis (NodeSlots); renewing every 15 s keeps a long run's slot. */
const RENEW_EVERY_MS = 15_000;

function sameSlot(a: NodeSlot | undefined, b: NodeSlot | undefined): boolean {
  return a?.conn === b?.conn && a?.node === b?.node && a?.limit === b?.limit;
}

/**
 * The node slot one job attempt holds: acquired once, traded when the VM turns out to need
 * another one, renewed while the run goes on, released by `dispose()` whatever happens.
 */
export class NodeSlotLease {
  private held: NodeSlot | undefined;
  private renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly slots: NodeSlots,
    readonly holder: string,
  ) {}

  /** Takes `slot` if the node has room; false when it is busy. */
  async tryAcquire(slot: NodeSlot): Promise<boolean> {
    if (!(await this.slots.tryAcquire(slot.conn, slot.node, this.holder, slot.limit))) return false;
    this.held = slot;
    return true;
  }

  /**
   * Makes `wanted` the slot held: a slot taken from a hint that turned out to be the wrong one
   * (the VM or its connection changed while the job waited) is given back first. Returns false
   * when `wanted`'s node is busy; `undefined` needs no slot (a connection-less orphaning run).
   */
  async hold(wanted: NodeSlot | undefined): Promise<boolean> {
    if (this.held && !sameSlot(this.held, wanted)) await this.release();
    if (!wanted || this.held) return true;
    return this.tryAcquire(wanted);
  }

  /** Keeps the lease alive while a run works. */
  keepAlive(): void {
    const slot = this.held;
    if (!slot || this.renewal) return;
    this.renewal = setInterval(() => void this.slots.renew(slot.conn, slot.node, this.holder).catch(() => undefined), RENEW_EVERY_MS);
  }

  /** Gives the slot back as soon as it is not needed any more (a skipped or stalled job). */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    this.renewal = undefined;
    const slot = this.held;
    this.held = undefined;
    if (slot) await this.slots.release(slot.conn, slot.node, this.holder).catch(() => undefined);
  }

  dispose(): Promise<void> {
    return this.release();
  }
}

/**
 * Job id → the slot it waited for when it was last put back. A retry asks Redis for that slot
 * first and reads the VM, connection and Secret only once it has it (or the hint is old), so a
 * job that waits costs one Redis call per wake-up instead of three API requests.
 */
export class SlotHints {
  private readonly hints = new Map<string, NodeSlot & { since: number }>();

  constructor(private readonly ttlMs = SLOT_HINT_TTL_MS) {}

  /** The fresh hint for `holder`, if any. It stays remembered until `forget` or a newer `remember`. */
  fresh(holder: string, now = Date.now()): (NodeSlot & { since: number }) | undefined {
    const hint = this.hints.get(holder);
    return hint && now - hint.since < this.ttlMs ? hint : undefined;
  }

  remember(holder: string, slot: NodeSlot, since: number, now = Date.now()): void {
    for (const [id, entry] of this.hints) if (now - entry.since >= this.ttlMs) this.hints.delete(id);
    this.hints.set(holder, { conn: slot.conn, node: slot.node, limit: slot.limit, since });
  }

  forget(holder: string): void {
    this.hints.delete(holder);
  }
}
