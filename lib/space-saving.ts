/**
 * Bounded heavy-hitters counting (Space-Saving, pruned in batches).
 *
 * Keeps at most 4 × capacity keys. When that fills, every key not strictly above the
 * capacity-th largest count is evicted, and `floor` becomes the largest count evicted so far; a
 * key that enters afterwards starts at `floor`, so a reported count is never below the true one
 * and at most `floor` above it. While nothing has been evicted the counts are exact.
 */
export class SpaceSaving {
  private readonly counts = new Map<string, number>();
  /** The largest count evicted so far: the most any reported count can be over. */
  floor = 0;

  constructor(readonly capacity: number) {}

  add(key: string, n: number) {
    const count = this.counts.get(key);
    if (count !== undefined) {
      this.counts.set(key, count + n);
      return;
    }
    this.counts.set(key, this.floor + n);
    if (this.counts.size >= 4 * this.capacity) this.prune();
  }

  addAll(counts: Map<string, number>) {
    for (const [key, n] of counts) this.add(key, n);
  }

  get approximate(): boolean {
    return this.floor > 0;
  }

  get size(): number {
    return this.counts.size;
  }

  /** The `n` largest counts, ties broken by key so that output is stable. */
  top(n: number): [string, number][] {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, n);
  }

  private prune() {
    // The capacity-th largest count, by a native numeric sort of the counts alone.
    const values = Float64Array.from(this.counts.values()).sort();
    const keep = values[values.length - this.capacity]!;
    let evicted = 0;
    for (const [key, count] of this.counts) {
      if (count <= keep) {
        this.counts.delete(key);
        if (count > evicted) evicted = count;
      }
    }
    this.floor = Math.max(this.floor, evicted);
  }
}
