/**
 * Counts slots taken per key (SSE streams per client address), up to `limit` each. Keys with no
 * slot taken are forgotten, so the map holds only current clients.
 */
export class SlotCounter {
  private readonly taken = new Map<string, number>();

  constructor(private readonly limit: number) {}

  tryTake(key: string): boolean {
    const count = this.taken.get(key) ?? 0;
    if (count >= this.limit) return false;
    this.taken.set(key, count + 1);
    return true;
  }

  give(key: string): void {
    const count = this.taken.get(key) ?? 0;
    if (count <= 1) this.taken.delete(key);
    else this.taken.set(key, count - 1);
  }

  count(key: string): number {
    return this.taken.get(key) ?? 0;
  }
}
