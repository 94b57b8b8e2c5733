import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { Durations, KeyDurations } from '../lib/duration-store';
import { bucketOf, Sketch } from '../lib/sketch';

const durations = fc.array(
  fc.oneof(fc.double({ min: 0, max: 1e7, noNaN: true }), fc.double({ min: 0.001, max: 50, noNaN: true }), fc.constantFrom(0, 1, 1000, 0.5)),
  { maxLength: 500 },
);
const sketchOf = (values: number[]) => values.reduce((s, v) => (s.add(v), s), new Sketch());

describe('Durations', () => {
  test('each take is the Sketch of what came since the last, however the store grew across segments', () => {
    fc.assert(
      fc.property(fc.array(durations, { minLength: 1, maxLength: 6 }), (segments) => {
        const store = new Durations();
        for (const values of segments) {
          for (const v of values) store.add(v, bucketOf(v));
          expect(store.count).toBe(values.length);
          expect(store.take().toJSON()).toEqual(sketchOf(values).toJSON());
          expect(store.empty).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  test('take after take is empty, and a taken sketch is its own: the store writes no more to it', () => {
    const store = new Durations();
    for (const v of [3, 5, 5, 800]) store.add(v, bucketOf(v));
    const first = store.take();
    const second = store.take();
    expect(second.count).toBe(0);
    expect(second.summary()).toBeNull();
    for (const v of [3, 5, 5, 800]) store.add(v, bucketOf(v));
    expect(first.toJSON()).toEqual(sketchOf([3, 5, 5, 800]).toJSON());
    first.add(5);
    expect(store.take().toJSON()).toEqual(sketchOf([3, 5, 5, 800]).toJSON());
  });

  test('zeros only: a sketch of zeros, which merges and grows as any other', () => {
    const store = new Durations();
    store.add(0, bucketOf(0));
    const zeros = store.take();
    expect(zeros.toJSON()).toEqual(sketchOf([0]).toJSON());
    zeros.add(40);
    expect(zeros.toJSON()).toEqual(sketchOf([0, 40]).toJSON());
  });
});

describe('KeyDurations', () => {
  test('drain gives each key its segment sketch; keys that decode alike merge', () => {
    const keys = new KeyDurations();
    const b = new TextEncoder().encode('/a/b/a');
    const hash = (s: number, e: number) => s * 31 + e;
    keys.get(b, 0, 2, hash(0, 2)).add(10, bucketOf(10));
    keys.get(b, 2, 4, hash(2, 4)).add(20, bucketOf(20));
    keys.get(b, 4, 6, hash(4, 6)).add(30, bucketOf(30));
    const into = new Map<string, Sketch>();
    keys.drain(into);
    expect(keys.empty).toBe(true);
    expect([...into.keys()].sort()).toEqual(['/a', '/b']);
    expect(into.get('/a')!.toJSON()).toEqual(sketchOf([10, 30]).toJSON());
    keys.get(b, 2, 4, hash(2, 4)).add(7, bucketOf(7));
    const next = new Map<string, Sketch>();
    keys.drain(next);
    expect([...next]).toHaveLength(1);
    expect(next.get('/b')!.toJSON()).toEqual(sketchOf([7]).toJSON());
  });
});
