import type { Redis } from "ioredis";
import type { ProxmoxApiClient } from "../proxmox/api-client.js";

/**
 * Picks a VM id for a ProxmoxVM that did not name one. Proxmox's nextid answers the same id to
 * everyone until a VM takes it, so concurrent creations would collide; a Redis hash of
 * reservations per connection (vmid → ProxmoxVM uid) makes each id go to one VM only, across
 * any number of workers. The caller records the id in status before Terraform creates the VM,
 * so a retried or recovered run reuses it and can never make a second VM.
 */
export class VmIdAllocator {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {}

  private key(connectionUid: string): string {
    return `${this.keyPrefix}:vmid-reservations:${connectionUid}`;
  }

  /** `pinnedElsewhere`: ids other ProxmoxVMs hold in their status (they survive a lost Redis). */
  async allocate(connectionUid: string, ownerUid: string, proxmox: ProxmoxApiClient, pinnedElsewhere: ReadonlySet<number> = new Set(), maxTries = 200): Promise<number> {
    const key = this.key(connectionUid);
    let candidate = await proxmox.nextId();
    for (let i = 0; i < maxTries; i++, candidate++) {
      const owner = await this.redis.hget(key, String(candidate));
      if (owner === ownerUid) return candidate;
      if (owner || pinnedElsewhere.has(candidate)) continue;
      if (!(await proxmox.isVmIdFree(candidate))) continue;
      if ((await this.redis.hsetnx(key, String(candidate), ownerUid)) === 1) return candidate;
    }
    throw new Error(`no free VM id found after ${maxTries} candidates`);
  }

  /** Reserves an id the VM already has (user-chosen or recorded in status). */
  async claim(connectionUid: string, ownerUid: string, vmId: number): Promise<void> {
    await this.redis.hsetnx(this.key(connectionUid), String(vmId), ownerUid);
  }

  async release(connectionUid: string, ownerUid: string, vmId: number): Promise<void> {
    const key = this.key(connectionUid);
    if ((await this.redis.hget(key, String(vmId))) === ownerUid) await this.redis.hdel(key, String(vmId));
  }
}
