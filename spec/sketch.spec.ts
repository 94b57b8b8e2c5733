import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { bucketIndex, bucketValue, MIN_VALUE, RELATIVE_ACCURACY, Sketch } from '../lib/sketch';

/** The exact value at quantile q, with the sketch's rank rule: the lower value at ⌊q (n − 1)⌋. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

const QUANTILES = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999];
const within = (got: number, want: number) => Math.abs(got - want) <= RELATIVE_ACCURACY * want + 1e-12;

const durations = fc.array(
  fc.oneof(
    fc.double({ min: 0, max: 1e7, noNaN: true }),
    fc.double({ min: 0.001, max: 50, noNaN: true }),
    fc.constantFrom(0, 1, 1000, 0.5),
  ),
  { minLength: 1, maxLength: 2000 },
);

describe('Sketch', () => {
  test('every quantile is within 1 % of the exact value at its rank, for any durations', () => {
    fc.assert(
      fc.property(durations, (values) => {
        const s = new Sketch();
        for (const v of values) s.add(v);
        const sorted = [...values].sort((a, b) => a - b);
        for (const q of QUANTILES) {
          const want = exact(sorted, q);
          const got = s.quantile(q);
          if (!within(got, want) && !(want <= 1e-6 && got === 0)) return false;
        }
        return s.count === values.length && s.max === sorted.at(-1) && s.min === sorted[0];
      }),
      { numRuns: 300 },
    );
  });

  test('a merge of sketches answers what one sketch of all the values answers', () => {
    fc.assert(
      fc.property(fc.array(durations, { minLength: 1, maxLength: 8 }), (parts) => {
        const merged = new Sketch();
        const all = new Sketch();
        for (const part of parts) {
          const s = new Sketch();
          for (const v of part) {
            s.add(v);
            all.add(v);
          }
          merged.merge(s);
        }
        return QUANTILES.every((q) => merged.quantile(q) === all.quantile(q)) && merged.count === all.count && merged.max === all.max;
      }),
      { numRuns: 200 },
    );
  });

  test('a million log-normal durations: p50, p90, p99 within 1 % of exact, max exact', () => {
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const values: number[] = [];
    const s = new Sketch();
    for (let i = 0; i < 1_000_000; i++) {
      const u = Math.max(random(), 1e-12);
      const v = Math.exp(3 + 1.2 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random()));
      values.push(v);
      s.add(v);
    }
    values.sort((a, b) => a - b);
    const summary = s.summary()!;
    expect(summary.count).toBe(1_000_000);
    expect(summary.max).toBe(values.at(-1)!);
    for (const [q, got] of [[0.5, summary.p50], [0.9, summary.p90], [0.99, summary.p99]] as const) {
      expect(within(got, exact(values, q))).toBe(true);
    }
  });

  test('zero durations (nginx 0.000) are counted and answer 0', () => {
    const s = new Sketch();
    for (let i = 0; i < 90; i++) s.add(0);
    for (let i = 0; i < 10; i++) s.add(250);
    expect(s.quantile(0.5)).toBe(0);
    expect(within(s.quantile(0.95), 250)).toBe(true);
    expect(s.count).toBe(100);
    expect(s.summary()!.max).toBe(250);
  });

  test('NaN and negative values are not durations', () => {
    const s = new Sketch();
    s.add(NaN);
    s.add(-1);
    expect(s.count).toBe(0);
    expect(s.summary()).toBeNull();
    expect(Number.isNaN(s.quantile(0.5))).toBe(true);
  });

  test('toJSON and from round-trip; a forged sketch is refused', () => {
    const s = new Sketch();
    for (const v of [0, 0.2, 3, 3, 40, 512, 9000]) s.add(v);
    const back = Sketch.from(JSON.parse(JSON.stringify(s)));
    for (const q of QUANTILES) expect(back.quantile(q)).toBe(s.quantile(q));
    expect(back.toJSON()).toEqual(s.toJSON());
    expect(() => Sketch.from({ ...s.toJSON(), count: 99 })).toThrow();
    expect(() => Sketch.from({ ...s.toJSON(), counts: [-1] })).toThrow();
    expect(() => Sketch.from({ ...s.toJSON(), offset: 1e9 })).toThrow();
    expect(() => Sketch.from(null as never)).toThrow();
    expect(Sketch.from(new Sketch().toJSON()).count).toBe(0);
  });
});

describe('Sketch.subtract: a window drops its oldest second', () => {
  const sketchOf = (values: number[]) => {
    const s = new Sketch();
    for (const v of values) s.add(v);
    return s;
  };

  test('merging seconds in and subtracting the oldest answers what a sketch of the seconds left answers, within 1 % of exact', () => {
    fc.assert(
      fc.property(fc.array(durations, { minLength: 2, maxLength: 10 }), fc.integer({ min: 1, max: 4 }), (seconds, width) => {
        const window = new Sketch();
        const parts = seconds.map(sketchOf);
        for (let t = 0; t < parts.length; t++) {
          window.merge(parts[t]!);
          if (t >= width) window.subtract(parts[t - width]!);
          const inside = seconds.slice(Math.max(0, t - width + 1), t + 1).flat();
          const fresh = sketchOf(inside);
          const sorted = [...inside].sort((a, b) => a - b);
          // The same buckets as a sketch made of the values left, exactly.
          const [w, f] = [window.toJSON(), fresh.toJSON()];
          if (window.count !== inside.length || w.zero !== f.zero) return false;
          if (f.counts.length > 0 && (w.offset !== f.offset || w.counts.join() !== f.counts.join())) return false;
          // Min and max are bounds now, not values: every quantile is still within 1 % of exact.
          for (const q of QUANTILES) {
            const got = window.quantile(q);
            const want = exact(sorted, q);
            if (!within(got, want) && !(want <= MIN_VALUE && got === 0)) return false;
          }
          // The bounds still bound what is left.
          if (window.min > sorted[0]! || window.max < sorted.at(-1)!) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  test('what was merged and subtracted again leaves the sketch as it was', () => {
    const base = sketchOf([1, 2, 3, 40, 500]);
    const before = QUANTILES.map((q) => base.quantile(q));
    // Inside its range: min and max were never another's, and stay exact.
    const inside = sketchOf([3, 7, 300, 300]);
    base.merge(inside).subtract(inside);
    expect(QUANTILES.map((q) => base.quantile(q))).toEqual(before);
    expect([base.count, base.min, base.max]).toEqual([5, 1, 500]);
    expect(base.sum).toBeCloseTo(546, 9);
    // Beyond it: the bounds are the edges of the buckets of 1 and 500, every quantile still within 1 %.
    const beyond = sketchOf([0, 0.3, 9000, 9000]);
    base.merge(beyond).subtract(beyond);
    expect(base.count).toBe(5);
    expect(base.min).toBeLessThanOrEqual(1);
    expect(base.max).toBeGreaterThanOrEqual(500);
    const sorted = [1, 2, 3, 40, 500];
    for (const q of QUANTILES) expect(within(base.quantile(q), exact(sorted, q))).toBe(true);
  });

  test('min and max become the edges of the buckets left when their values go', () => {
    const low = sketchOf([1]);
    const high = sketchOf([5000]);
    const s = sketchOf([100, 200]).merge(low).merge(high);
    s.subtract(low).subtract(high);
    const gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
    expect(s.min).toBeCloseTo(gamma ** (bucketIndex(100) - 1), 9);
    expect(s.min).toBeLessThanOrEqual(100);
    expect(s.min).toBeGreaterThan(100 / gamma);
    expect(s.max).toBeGreaterThanOrEqual(200);
    expect(s.max).toBeLessThan(200 * gamma);
    expect(within(s.quantile(0.5), 100)).toBe(true);
  });

  test('subtracting everything empties it as new; only zeros left answer 0', () => {
    const values = sketchOf([0, 0, 12, 30]);
    const s = new Sketch().merge(values);
    s.subtract(values);
    expect([s.count, s.sum, s.summary()]).toEqual([0, 0, null]);
    expect(Number.isNaN(s.quantile(0.5))).toBe(true);
    s.add(7);
    expect(s.summary()).toEqual({ count: 1, p50: 7, p90: 7, p99: 7, max: 7 });
    const zeros = sketchOf([0, 0, 50]);
    zeros.subtract(sketchOf([50]));
    expect([zeros.count, zeros.quantile(0.99)]).toEqual([2, 0]);
    expect(zeros.max).toBeLessThanOrEqual(MIN_VALUE);
  });

  test('values it never held are not taken: no bucket below zero, the count what was taken', () => {
    const s = sketchOf([10, 10, 20]);
    s.subtract(sketchOf([10, 10, 10, 1e6, 0.001, 0]));
    expect(s.count).toBe(1);
    expect(within(s.quantile(0.5), 20)).toBe(true);
    expect(s.toJSON().counts.every((n) => n >= 0)).toBe(true);
    expect(new Sketch().subtract(sketchOf([1])).count).toBe(0);
    expect(sketchOf([1]).subtract(new Sketch()).count).toBe(1);
  });
});

describe('bucketIndex', () => {
  const sketchOf = (values: number[]) => {
    const s = new Sketch();
    for (const v of values) s.add(v);
    return s;
  };

  test('a duration falls in the bucket (γ^(i−1), γ^i], the one add counts it in', () => {
    const gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
    for (const ms of [0.001, 0.5, 1, 1.0203, 499.9, 500, 3_600_000]) {
      const i = bucketIndex(ms);
      expect(gamma ** (i - 1)).toBeLessThan(ms * (1 + 1e-12));
      expect(gamma ** i).toBeGreaterThanOrEqual(ms * (1 - 1e-12));
      expect(sketchOf([ms]).toJSON().offset).toBe(i);
    }
  });
});

describe('reading the buckets', () => {
  test('buckets() is the store as toJSON has it, without a copy', () => {
    const s = new Sketch();
    for (const v of [0, 0, 0.2, 3, 3, 40, 512, 9000]) s.add(v);
    const b = s.buckets();
    const json = s.toJSON();
    expect([b.zero, b.offset, Array.from(b.counts)]).toEqual([json.zero, json.offset, json.counts]);
    expect(b.counts[0]).toBeGreaterThan(0);
    expect(b.counts.at(-1)).toBeGreaterThan(0);
    expect(Array.from(new Sketch().buckets().counts)).toEqual([]);
  });

  test('bucketValue is within 1 % of every value of its bucket', () => {
    for (const ms of [0.001, 0.37, 1, 12.5, 499.9, 500, 501, 86_400_000]) {
      expect(within(bucketValue(bucketIndex(ms)), ms)).toBe(true);
    }
  });
});

describe('Sketch bounds', () => {
  test('a garbage duration (1e300) keeps the store small and the max exact; Infinity is no duration', () => {
    const s = new Sketch();
    s.add(5);
    s.add(1e300);
    s.add(Infinity);
    expect(s.count).toBe(2);
    expect(s.max).toBe(1e300);
    expect(s.toJSON().counts.length).toBeLessThan(2000);
    expect(within(s.quantile(0.01), 5)).toBe(true);
  });
});

describe('Sketch.ofBuckets: the buckets of a store, unchecked', () => {
  test('gives the sketch Sketch.from gives of the same data, and merges like it', () => {
    fc.assert(
      fc.property(durations, (values) => {
        const data = values.reduce((s, v) => (s.add(v), s), new Sketch()).toJSON();
        const trusted = Sketch.ofBuckets(data.zero, data.offset, Float64Array.from(data.counts), data.count, data.sum, data.min, data.max);
        expect(trusted.toJSON()).toEqual(Sketch.from(data).toJSON());
        expect(new Sketch().merge(trusted).toJSON()).toEqual(data);
      }),
      { numRuns: 50 },
    );
  });

  test('an empty one is as new: no bounds, no quantile', () => {
    const empty = Sketch.ofBuckets(0, 0, new Float64Array(0), 0, 0, Infinity, -Infinity);
    expect(empty.summary()).toBeNull();
    expect(empty.toJSON()).toEqual(new Sketch().toJSON());
  });
});
