/**
 * Bounded heavy-hitters counting (Space-Saving, pruned in batches, with a sketch at the door),
 * over byte keys.
 *
 * Keeps at most 4 × capacity keys. When that fills, every key not strictly above the
 * capacity-th largest count is evicted, and `floor` becomes the largest count evicted so far.
 * While nothing has been evicted the counts are exact.
 *
 * After that, a key not in the table is counted by its hash alone, in a count-min sketch with
 * conservative update (two rows of 16,384 counters; the evicted keys' counts are added to it
 * too), which never counts a key below its true count. It is indexed by the stable hash, so
 * which keys it confuses, and so the output, is the same on every run. The key enters the
 * table, its bytes copied, only once the sketch says it may be above `floor`, with the least of
 * the sketch's count and `floor` + n. So:
 * - a key not in the table has a true count of at most `floor`;
 * - a reported count is never below the true one, and at most `floor` above it;
 * - on traffic in which nearly every line brings a new client, the flood of keys seen once is
 *   counted in the sketch, and the table holds the keys that may matter (plain Space-Saving let
 *   every new key in at `floor` + n, so it copied every new host and pruned every 3,000 lines).
 *
 * Keys are counted by their bytes (lib/byte-keys): only the keys `top` reports become strings.
 */
import { ByteCounts, fnv1a, stableHash } from './byte-keys';

/** Counters in a row of the sketch (a power of two). */
const SKETCH_WIDTH = 1 << 14;

/**
 * A count-min sketch with conservative update, two rows: `add` returns the key's count, which is
 * never below the sum of what was added for it.
 */
class Sketch {
  private readonly cells: Float64Array;
  private readonly shift: number;
  private used = false;

  constructor(private readonly width: number) {
    this.cells = new Float64Array(2 * width);
    this.shift = Math.clz32(width) + 1;
  }

  add(hash: number, n: number): number {
    const cells = this.cells;
    const a = (hash ^ (hash >>> 15)) & (this.width - 1);
    const b = this.width + (Math.imul(hash, 0x9e3779b1) >>> this.shift);
    const count = Math.min(cells[a]!, cells[b]!) + n;
    if (cells[a]! < count) cells[a] = count;
    if (cells[b]! < count) cells[b] = count;
    this.used = true;
    return count;
  }

  clear() {
    if (this.used) this.cells.fill(0);
    this.used = false;
  }
}

export class SpaceSaving {
  private readonly table = new ByteCounts();
  /** The largest count evicted so far: the most any reported count can be over. */
  floor = 0;
  /** Room to sort the counts in when pruning (made at the first prune). */
  private scratch: Float64Array | null = null;
  /** Counts of the keys outside the table, by hash (made at the first prune). */
  private sketch: Sketch | null = null;

  constructor(
    readonly capacity: number,
    /** Counters in a row of the sketch, a power of two (tests make it small, to collide). */
    private readonly sketchWidth = SKETCH_WIDTH,
  ) {}

  /**
   * Adds n to the key bytes[start..end), whose FNV-1a hash is `hash` and stable hash `stable`
   * (lib/byte-keys); false when the key was in the table already (the unique counts have it).
   */
  add(bytes: Uint8Array, start: number, end: number, hash: number, stable: number, n: number): boolean {
    const table = this.table;
    const e = table.find(bytes, start, end, hash);
    if (e >= 0) {
      table.counts[e]! += n;
      return false;
    }
    let count = n;
    if (this.floor > 0) {
      const sketched = this.sketch!.add(stable, n);
      if (sketched <= this.floor) return true;
      count = Math.min(sketched, this.floor + n);
    }
    table.insert(bytes, start, end, hash, stable, count, ~e);
    if (table.size >= 4 * this.capacity) this.prune();
    return true;
  }

  addString(key: string, n: number) {
    const bytes = Buffer.from(key, 'utf8');
    this.add(bytes, 0, bytes.length, fnv1a(bytes), stableHash(bytes), n);
  }

  /** Forgets every key, keeping the table's memory (the next interval's table). */
  clear() {
    this.table.clear();
    this.sketch?.clear();
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
    const sketch = (this.sketch ??= new Sketch(this.sketchWidth));
    table.retain((e) => {
      const count = counts[e]!;
      if (count > keep) return true;
      if (count > evicted) evicted = count;
      sketch.add(table.stableOf(e), count);
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
