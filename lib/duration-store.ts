/**
 * Where a scanner holds the durations of the segment it is scanning, until the segment ends:
 * `Durations`, one key's (the segment's, a status class's, a section's), as a Sketch would hold
 * them, in a store of bucket counts that lives on from segment to segment; and `KeyDurations`,
 * a table of them by a key's bytes (sections, virtual hosts). The bucket is computed once a line
 * (`bucketOf`, lib/sketch.ts) for every store the duration goes to, and each store makes the
 * segment's Sketch once (`take`). Shared by the text and JSON scanners.
 */
import { slotOf, decodeKey } from './byte-keys';
import { Sketch, ZERO_BUCKET } from './sketch';

/** Buckets a store grows by beyond what it needs. */
const STORE_GROW = 32;

// What a store keeps besides its buckets, in one Float64Array: its numbers are doubles whatever
// they hold (a field that is an int one segment and a double the next, ±Infinity after a reset
// among int buckets, made the optimized code bail out at every segment: a third of a timed scan).
const COUNT = 0;
const ZERO = 1;
const SUM = 2;
const MIN = 3;
const MAX = 4;
/** The lowest and highest bucket used since the last take (LO > HI: none). */
const LO = 5;
const HI = 6;
const NONE_LO = 1e9;
const NONE_HI = -1e9;

/**
 * The durations of one key in the segment being scanned, as a Sketch would hold them had they
 * been added to it one by one (the same buckets, count, sum, min and max), in a store that lives
 * on from segment to segment; `take()` makes the segment's Sketch (`Sketch.ofBuckets`) and empties it.
 * A fresh Sketch a key a segment, grown as durations came, took two thirds of a timed scan.
 */
export class Durations {
  private counts = new Float64Array(0);
  /** counts[j] is bucket offset + j. */
  private offset = 0;
  private readonly stats = Float64Array.of(0, 0, 0, Infinity, -Infinity, NONE_LO, NONE_HI);

  get count(): number {
    return this.stats[COUNT]!;
  }

  get empty(): boolean {
    return this.stats[COUNT] === 0;
  }

  /** Adds a duration (ms, finite, not negative) whose bucket is `bucket` (`bucketOf`). */
  add(ms: number, bucket: number): void {
    const st = this.stats;
    st[COUNT]!++;
    st[SUM]! += ms;
    if (ms < st[MIN]!) st[MIN] = ms;
    if (ms > st[MAX]!) st[MAX] = ms;
    if (bucket === ZERO_BUCKET) {
      st[ZERO]!++;
      return;
    }
    let j = bucket - this.offset;
    if (j < 0 || j >= this.counts.length) {
      this.grow(bucket);
      j = bucket - this.offset;
    }
    this.counts[j]!++;
    if (bucket < st[LO]!) st[LO] = bucket;
    if (bucket > st[HI]!) st[HI] = bucket;
  }

  /** Makes the store cover `bucket` too (it never shrinks: the next segments' durations are much alike). */
  private grow(bucket: number): void {
    const length = this.counts.length;
    const lo = length === 0 ? bucket - STORE_GROW : Math.min(this.offset, bucket - STORE_GROW);
    const hi = length === 0 ? bucket + STORE_GROW : Math.max(this.offset + length - 1, bucket + STORE_GROW);
    const counts = new Float64Array(hi - lo + 1);
    if (length > 0) counts.set(this.counts, this.offset - lo);
    this.counts = counts;
    this.offset = lo;
  }

  /**
   * The Sketch of what came since the last call, with the buckets from the lowest to the highest
   * counted (as `Sketch.from` of its JSON would hold them); the store is empty again.
   */
  take(): Sketch {
    const st = this.stats;
    const lo = st[LO]! | 0;
    const hi = st[HI]! | 0;
    const from = lo - this.offset;
    const n = hi >= lo ? hi - lo + 1 : 0;
    // One native copy of the used range, which the sketch takes as it is: its buckets and bounds
    // are this store's own, so `Sketch.from`'s checks and an Array between would only cost.
    const counts = n > 0 ? this.counts.slice(from, from + n) : NO_COUNTS;
    const sketch = Sketch.ofBuckets(st[ZERO]!, n > 0 ? lo : 0, counts, st[COUNT]!, st[SUM]!, st[MIN]!, st[MAX]!);
    if (n > 0) this.counts.fill(0, from, from + n);
    st.set(EMPTY_STATS);
    return sketch;
  }
}
const EMPTY_STATS = Float64Array.of(0, 0, 0, Infinity, -Infinity, NONE_LO, NONE_HI);
/** The buckets of a sketch of zeros only: a sketch never writes to a store it has no bucket in. */
const NO_COUNTS = new Float64Array(0);

/**
 * Durations by key (a section's or a vhost's bytes) in the segment being scanned: an
 * open-addressing table from the key's bytes to its store. The keys are copied into a slab of
 * the table's own (a decoded key lives after the chunk, which is reused), and become strings
 * once a segment, in `drain`; the stores are kept for the next segment.
 */
export class KeyDurations {
  private slots = new Int32Array(64);
  private slotHashes = new Int32Array(64);
  private starts = new Int32Array(32);
  private ends = new Int32Array(32);
  private hashes = new Int32Array(32);
  private slab = new Uint8Array(1024);
  private used = 0;
  private readonly stores: Durations[] = [];
  private size = 0;

  /** The store of the key b[start..end) (FNV-1a `hash`). */
  get(b: Uint8Array, start: number, end: number, hash: number): Durations {
    const mask = this.slots.length - 1;
    let slot = slotOf(hash, mask);
    const len = end - start;
    const slab = this.slab;
    for (let e1 = this.slots[slot]!; e1 !== 0; e1 = this.slots[slot]!) {
      if (this.slotHashes[slot] === hash) {
        const e = e1 - 1;
        const s = this.starts[e]!;
        if (this.ends[e]! - s === len) {
          let i = 0;
          while (i < len && slab[s + i] === b[start + i]) i++;
          if (i === len) return this.stores[e]!;
        }
      }
      slot = (slot + 1) & mask;
    }
    return this.insert(b, start, end, hash, slot);
  }

  private insert(b: Uint8Array, start: number, end: number, hash: number, slot: number): Durations {
    const e = this.size++;
    if (e === this.starts.length) {
      this.starts = grown(this.starts);
      this.ends = grown(this.ends);
      this.hashes = grown(this.hashes);
    }
    const len = end - start;
    if (this.used + len > this.slab.length) {
      const bigger = new Uint8Array(Math.max(this.slab.length * 2, this.used + len));
      bigger.set(this.slab.subarray(0, this.used));
      this.slab = bigger;
    }
    this.slab.set(b.subarray(start, end), this.used);
    this.starts[e] = this.used;
    this.ends[e] = this.used += len;
    this.hashes[e] = hash;
    if (e === this.stores.length) this.stores.push(new Durations());
    this.slots[slot] = e + 1;
    this.slotHashes[slot] = hash;
    if (this.size * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    return this.stores[e]!;
  }

  private rehash(n: number): void {
    this.slots = new Int32Array(n);
    this.slotHashes = new Int32Array(n);
    const mask = n - 1;
    for (let e = 0; e < this.size; e++) {
      const h = this.hashes[e]!;
      let slot = slotOf(h, mask);
      while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
      this.slots[slot] = e + 1;
      this.slotHashes[slot] = h;
    }
  }

  /** Moves the segment's sketches into `into` under their keys' strings (keys that decode alike merge) and empties the table. */
  drain(into: Map<string, Sketch>): void {
    for (let e = 0; e < this.size; e++) addSketch(into, decodeKey(this.slab, this.starts[e]!, this.ends[e]!), this.stores[e]!.take());
    if (this.size > 0) {
      this.slots.fill(0);
      this.size = 0;
      this.used = 0;
    }
  }

  get empty(): boolean {
    return this.size === 0;
  }
}

export function addSketch(into: Map<string, Sketch>, key: string, sketch: Sketch): void {
  const had = into.get(key);
  if (had) had.merge(sketch);
  else into.set(key, sketch);
}

function grown(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
