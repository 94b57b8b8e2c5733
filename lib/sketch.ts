/**
 * Request durations in a mergeable sketch with a relative-error guarantee: DDSketch (Masson,
 * Rim, Lee, VLDB 2019) with its exact logarithmic mapping and a dense store.
 *
 * A value v > 0 (milliseconds) falls in bucket i = ceil(log_γ v), γ = (1 + α) / (1 − α), which
 * holds (γ^(i−1), γ^i]; the bucket answers 2γ^i / (γ + 1), within α of every value in it. So
 * the value at a quantile is within α = 1 % of the exact value at the same rank, whatever the
 * distribution, and two sketches merge by adding their buckets: the fleet's p99 is the p99 of
 * every request, not an average of agents' p99s. Values at or below MIN_VALUE (nginx's `0.000`)
 * are counted as 0. The count, sum, min and max are exact.
 *
 * `add` is a log and an array increment: the scanners call it once a timed line.
 */

/** The relative accuracy: a quantile is within 1 % of the exact value at its rank. */
export const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** 1 ns in ms: a duration at or below it counts as zero. */
export const MIN_VALUE = 1e-6;
/**
 * 10^9 ms (11.6 days): a longer duration (a garbage value, 1e300) counts in this one's bucket, so
 * that no line can make a sketch's store larger than the 1,711 buckets from MIN_VALUE to here
 * (13.7 kB); the max stays exact.
 */
export const MAX_VALUE = 1e9;
const MAX_INDEX = Math.ceil(Math.log(MAX_VALUE) / LN_GAMMA);
/** Buckets a store grows by at a time. */
const GROW = 64;

/** A sketch's content as JSON (the fleet's wire): bucket counts from `offset` on, run as they are. */
export interface SketchData {
  /** Values counted as zero. */
  zero: number;
  /** Index of the first bucket in `counts`. */
  offset: number;
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** What a report shows of a sketch: count, quantiles and max, in ms. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * The bucket a duration (ms, above MIN_VALUE) falls in: the one that holds (γ^(i−1), γ^i]. What
 * keeps sketches in a bounded range (a rule's window) needs it to clamp bucket indices.
 */
export function bucketIndex(ms: number): number {
  return Math.ceil(Math.log(ms) / LN_GAMMA);
}

/** The value bucket `index` answers for every value in it: 2γ^i / (γ + 1), within 1 % of each. */
export function bucketValue(index: number): number {
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

/** What `bucketOf` answers for a duration counted as zero (at or below MIN_VALUE). */
export const ZERO_BUCKET = -0x7fffffff;

/**
 * The bucket `add` counts a duration (ms, finite, ≥ 0) in: ZERO_BUCKET at or below MIN_VALUE,
 * MAX_VALUE's from there on. The scanners compute it once a line for every store the duration
 * goes to (lib/duration-store.ts).
 */
export function bucketOf(ms: number): number {
  return ms <= MIN_VALUE ? ZERO_BUCKET : ms >= MAX_VALUE ? MAX_INDEX : Math.ceil(Math.log(ms) / LN_GAMMA);
}

export class Sketch {
  /** Bucket counts; counts[j] is bucket offset + j. */
  private counts = new Float64Array(0);
  private offset = 0;
  private zero = 0;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Adds a duration in ms (negative, infinite and NaN values are not durations: ignored). */
  add(ms: number, n = 1): void {
    if (!(ms >= 0) || ms === Infinity) return;
    this.count += n;
    this.sum += ms * n;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    const bucket = bucketOf(ms);
    if (bucket === ZERO_BUCKET) {
      this.zero += n;
      return;
    }
    this.bump(bucket, n);
  }

  private bump(index: number, n: number): void {
    let j = index - this.offset;
    if (j < 0 || j >= this.counts.length) {
      this.grow(index, index);
      j = index - this.offset;
    }
    this.counts[j]! += n;
  }

  /** Makes the store cover buckets lo..hi. */
  private grow(lo: number, hi: number): void {
    const length = this.counts.length;
    if (length === 0) {
      this.offset = lo - GROW / 2;
      this.counts = new Float64Array(hi - lo + GROW);
      return;
    }
    const from = Math.min(this.offset, lo - (lo < this.offset ? GROW : 0));
    const to = Math.max(this.offset + length, hi + 1 + (hi >= this.offset + length ? GROW : 0));
    if (from === this.offset && to === this.offset + length) return;
    const counts = new Float64Array(to - from);
    counts.set(this.counts, this.offset - from);
    this.counts = counts;
    this.offset = from;
  }

  /** Adds every value of `other` (the sketches must share the accuracy: all of this module's do). */
  merge(other: Sketch): this {
    if (other.count === 0) return this;
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.zero += other.zero;
    const src = other.counts;
    let first = -1;
    let last = -1;
    for (let j = 0; j < src.length; j++) {
      if (src[j] === 0) continue;
      if (first < 0) first = j;
      last = j;
    }
    if (first < 0) return this;
    this.grow(other.offset + first, other.offset + last);
    const shift = other.offset - this.offset;
    for (let j = first; j <= last; j++) this.counts[j + shift]! += src[j]!;
    return this;
  }

  /**
   * The buckets as they are, without a copy: the values counted as zero, and `counts[j]`, the
   * values of bucket `offset + j` (from the first bucket holding any to the last). A view of the
   * store: read it at once, never keep it or write to it. For what keeps durations in its own
   * layout (a rule's window), without a sketch's JSON a time.
   */
  buckets(): { zero: number; offset: number; counts: Float64Array } {
    let first = 0;
    let last = this.counts.length - 1;
    while (first <= last && this.counts[first] === 0) first++;
    while (last >= first && this.counts[last] === 0) last--;
    return { zero: this.zero, offset: this.offset + first, counts: this.counts.subarray(first, last + 1) };
  }

  /**
   * Takes out every value of `other`, which must have been added to this sketch before (merged
   * into it, or added value by value): a window's sketch drops its oldest second. The counts stay
   * exact; a bucket is never taken below zero (what `other` has beyond it is ignored, and not
   * taken off the count). The sum is the difference (floating point); min and max cannot be known
   * once their values are gone, so they become bounds of what is left: the old min (max) or the
   * edge of the lowest (highest) bucket still counted, whichever is tighter. Quantiles below 1 and
   * above 0 keep their 1 % guarantee (a bound beyond the bucket's value never moves it); q = 0 and
   * q = 1 answer the bounds. A sketch emptied is as new.
   */
  subtract(other: Sketch): this {
    if (other.count === 0 || this.count === 0) return this;
    let removed = Math.min(other.zero, this.zero);
    this.zero -= removed;
    const src = other.counts;
    const shift = other.offset - this.offset;
    const from = Math.max(0, -shift);
    const to = Math.min(src.length, this.counts.length - shift);
    for (let j = from; j < to; j++) {
      const n = src[j]!;
      if (n === 0) continue;
      const k = j + shift;
      const taken = Math.min(n, this.counts[k]!);
      this.counts[k]! -= taken;
      removed += taken;
    }
    this.count -= removed;
    if (this.count === 0) {
      this.sum = 0;
      this.min = Infinity;
      this.max = -Infinity;
      this.zero = 0;
      return this;
    }
    this.sum = Math.max(0, this.sum - other.sum);
    this.narrowBounds();
    return this;
  }

  /** Min and max made as tight as the buckets left tell (after a subtraction). */
  private narrowBounds(): void {
    const counts = this.counts;
    let first = 0;
    let last = counts.length - 1;
    while (first <= last && counts[first] === 0) first++;
    while (last >= first && counts[last] === 0) last--;
    if (first > last) {
      // Only values counted as zero are left.
      this.min = Math.min(this.min, MIN_VALUE);
      this.max = Math.min(this.max, MIN_VALUE);
      return;
    }
    if (this.zero === 0) this.min = Math.max(this.min, Math.pow(GAMMA, first + this.offset - 1));
    this.max = Math.min(this.max, Math.pow(GAMMA, last + this.offset));
  }

  /**
   * The value at quantile q (0..1): the bucket holding the value of rank ⌊q (count − 1)⌋ (0-based,
   * the lower value at that rank), within 1 % of it; the exact max at q = 1 and the exact min at
   * q = 0. NaN when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = Math.floor(q * (this.count - 1));
    let seen = this.zero;
    if (rank < seen) return 0;
    const counts = this.counts;
    for (let j = 0; j < counts.length; j++) {
      seen += counts[j]!;
      if (seen > rank) {
        const value = (2 * Math.pow(GAMMA, j + this.offset)) / (GAMMA + 1);
        // The bucket's representative may lie outside what was seen: never past min or max.
        return Math.min(Math.max(value, this.min), this.max);
      }
    }
    return this.max;
  }

  /** Count, p50, p90, p99 and max (ms), or null when nothing was timed. */
  summary(): LatencySummary | null {
    if (this.count === 0) return null;
    return { count: this.count, p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), max: this.max };
  }

  toJSON(): SketchData {
    let first = 0;
    let last = this.counts.length - 1;
    while (first <= last && this.counts[first] === 0) first++;
    while (last >= first && this.counts[last] === 0) last--;
    return {
      zero: this.zero,
      offset: this.offset + first,
      counts: Array.from(this.counts.subarray(first, last + 1)),
      count: this.count,
      sum: this.sum,
      min: this.count > 0 ? this.min : 0,
      max: this.count > 0 ? this.max : 0,
    };
  }

  /**
   * A sketch of buckets a store of this program counted itself (lib/duration-store.ts), unchecked
   * and without a copy: it takes `counts` (bucket `offset + j` in `counts[j]`) as its own, so the
   * caller must never touch it again. `count` must be `zero` plus the buckets' sum, and `min` and
   * `max` the exact bounds of the values counted (ignored when `count` is 0). What comes from
   * outside (the fleet's wire) goes through `from`, which checks.
   */
  static ofBuckets(zero: number, offset: number, counts: Float64Array<ArrayBuffer>, count: number, sum: number, min: number, max: number): Sketch {
    const s = new Sketch();
    s.zero = zero;
    s.offset = offset;
    s.counts = counts;
    s.count = count;
    s.sum = sum;
    if (count > 0) {
      s.min = min;
      s.max = max;
    }
    return s;
  }

  /** A sketch from `toJSON`'s data, checked: throws on anything a sketch could not have made. */
  static from(data: SketchData): Sketch {
    const ok =
      data !== null &&
      typeof data === 'object' &&
      [data.zero, data.offset, data.count, data.sum, data.min, data.max].every((n) => typeof n === 'number' && Number.isFinite(n)) &&
      Number.isInteger(data.offset) &&
      Math.abs(data.offset) < 100_000 &&
      Array.isArray(data.counts) &&
      data.counts.length <= 10_000 &&
      data.counts.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0) &&
      data.zero >= 0 &&
      data.count >= 0 &&
      data.min >= 0 &&
      data.max >= data.min;
    if (!ok) throw new Error('not a sketch');
    let total = data.zero;
    for (const n of data.counts) total += n;
    if (total !== data.count) throw new Error('a sketch whose buckets do not add up to its count');
    const s = new Sketch();
    s.zero = data.zero;
    s.offset = data.offset;
    s.counts = Float64Array.from(data.counts);
    s.count = data.count;
    s.sum = data.sum;
    if (data.count > 0) {
      s.min = data.min;
      s.max = data.max;
    }
    return s;
  }
}
