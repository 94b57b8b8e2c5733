/**
 * Bounded heavy-hitters counting (Space-Saving, pruned in batches), over byte keys.
 *
 * Keeps at most 4 × capacity keys. When that fills, every key not strictly above the
 * capacity-th largest count is evicted, and `floor` becomes the largest count evicted so far; a
 * key that enters afterwards starts at `floor`, so a reported count is never below the true one
 * and at most `floor` above it. While nothing has been evicted the counts are exact.
 *
 * Keys are counted by their bytes (lib/byte-keys): only the keys `top` reports become strings.
 */
import { ByteCounts } from './byte-keys';

export class SpaceSaving {
  private readonly table = new ByteCounts();
  /** The largest count evicted so far: the most any reported count can be over. */
  floor = 0;
  /** Room to sort the counts in when pruning (made at the first prune). */
  private scratch: Float64Array | null = null;

  constructor(readonly capacity: number) {}

  /** Adds n to the key bytes[start..end), whose FNV-1a hash is `hash`; true when the key entered the table. */
  add(bytes: Uint8Array, start: number, end: number, hash: number, n: number): boolean {
    return this.added(this.table.size, this.table.add(bytes, start, end, hash, n));
  }

  addString(key: string, n: number) {
    this.added(this.table.size, this.table.addString(key, n));
  }

  /** After entry `e` was counted: a key that entered starts at the floor; a full table is pruned. */
  private added(sizeBefore: number, e: number): boolean {
    const table = this.table;
    if (table.size === sizeBefore) return false;
    table.counts[e]! += this.floor;
    if (table.size >= 4 * this.capacity) this.prune();
    return true;
  }

  /** Forgets every key, keeping the table's memory (the next interval's table). */
  clear() {
    this.table.clear();
    this.floor = 0;
  }

  get approximate(): boolean {
    return this.floor > 0;
  }

  get size(): number {
    return this.table.size;
  }

  /** The `n` largest counts, ties broken by key so that output is stable. */
  top(n: number): [string, number][] {
    const table = this.table;
    const counts = table.counts;
    if (table.nonAscii) {
      // Two byte keys may decode to one string (invalid UTF-8): count by string.
      return [...table.toMap()]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .slice(0, n);
    }
    if (n <= 0 || table.size === 0) return [];
    // The n-th largest count; everything above it is in, and the ties at it are chosen by key.
    const sorted = counts.slice(0, table.size).sort();
    const cut = sorted[Math.max(0, table.size - n)]!;
    const above: number[] = [];
    const ties: number[] = [];
    const need = () => n - above.length;
    for (let e = 0; e < table.size; e++) {
      if (counts[e]! > cut) above.push(e);
    }
    for (let e = 0; e < table.size; e++) {
      if (counts[e] !== cut) continue;
      // Keep the `need()` smallest keys, in order, by binary insertion.
      if (ties.length === need() && table.compareKeys(e, ties[ties.length - 1]!) >= 0) continue;
      let lo = 0;
      let hi = ties.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (table.compareKeys(ties[mid]!, e) <= 0) lo = mid + 1;
        else hi = mid;
      }
      ties.splice(lo, 0, e);
      if (ties.length > need()) ties.pop();
    }
    above.sort((a, b) => counts[b]! - counts[a]! || table.compareKeys(a, b));
    return [...above, ...ties].map((e) => [table.key(e), counts[e]!]);
  }

  private prune() {
    const table = this.table;
    // The capacity-th largest count: selected (linear on average), not sorted.
    this.scratch ??= new Float64Array(4 * this.capacity);
    const values = this.scratch.subarray(0, table.size);
    values.set(table.counts.subarray(0, table.size));
    const keep = select(values, values.length - this.capacity);
    let evicted = 0;
    const counts = table.counts;
    table.retain((e) => {
      const count = counts[e]!;
      if (count > keep) return true;
      if (count > evicted) evicted = count;
      return false;
    });
    this.floor = Math.max(this.floor, evicted);
  }
}

/**
 * The k-th smallest of `a` (0-based), reordering `a`: Hoare's quickselect with a middle pivot
 * (counts in a flood are mostly equal; the three-way split keeps that linear).
 */
export function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    // Three-way partition: [lo, lt) < pivot, [lt, i) = pivot, (gt, hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt++] = v;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt--] = v;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return a[k]!;
}
