import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { RELATIVE_ACCURACY, Sketch } from '../lib/sketch';

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
