import type { Redis } from "ioredis";

/**
 * A counting semaphore per Proxmox node, in Redis, shared by every worker: at most `limit` runs
 * touch one node at a time (Proxmox serializes clones per template and storage, so more only
 * produce lock timeouts). Slots are leases that expire, so a dead worker's slot frees itself.
 */
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
return 0`;

export class NodeSlots {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly leaseMs = 60_000,
  ) {}

  private key(connectionUid: string, node: string): string {
    return `${this.keyPrefix}:node-slots:${connectionUid}:${node}`;
  }

  async tryAcquire(connectionUid: string, node: string, holder: string, limit: number): Promise<boolean> {
    const now = Date.now();
    const result = await this.redis.eval(ACQUIRE, 1, this.key(connectionUid, node), now, now + this.leaseMs, holder, limit);
    return result === 1;
  }

  /** Extends the lease; call more often than leaseMs while the run goes on. */
  async renew(connectionUid: string, node: string, holder: string): Promise<void> {
    await this.redis.zadd(this.key(connectionUid, node), "XX", Date.now() + this.leaseMs, holder);
  }

  async release(connectionUid: string, node: string, holder: string): Promise<void> {
    await this.redis.zrem(this.key(connectionUid, node), holder);
  }
}
