/**
 * Bounded heavy-hitters counting (Space-Saving, pruned in batches).
 *
 * Keeps at most 2 × capacity keys. When that fills, the smallest half is evicted and `floor`
 * becomes the largest count evicted so far; a key that enters afterwards starts at `floor`, so a
 * reported count is never below the true one and at most `floor` above it. While nothing has
 * been evicted the counts are exact.
 */
export class SpaceSaving {
  private counts = new Map<string, number>();
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
    if (this.counts.size >= 2 * this.capacity) this.prune();
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
    return sorted(this.counts).slice(0, n);
  }

  private prune() {
    const entries = sorted(this.counts);
    const evicted = entries[this.capacity]![1];
    this.floor = Math.max(this.floor, evicted);
    this.counts = new Map(entries.slice(0, this.capacity));
  }
}

function sorted(counts: Map<string, number>): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
