import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { select, SpaceSaving } from '../lib/space-saving';

describe('SpaceSaving', () => {
  test('exact while the keys fit', () => {
    const s = new SpaceSaving(10);
    for (const k of ['/a', '/b', '/a', '/c', '/a', '/b']) s.addString(k, 1);
    expect(s.top(3)).toEqual([['/a', 3], ['/b', 2], ['/c', 1]]);
    expect(s.approximate).toBe(false);
  });

  test('a million distinct keys keep memory bounded and the heavy hitters on top', () => {
    const s = new SpaceSaving(100);
    for (let i = 0; i < 1_000_000; i++) {
      s.addString(`host-${i}`, 1);
      if (i % 100 === 0) s.addString('heavy-1', 5);
      if (i % 250 === 0) s.addString('heavy-2', 5);
      expect(s.size).toBeLessThan(400);
    }
    expect(s.approximate).toBe(true);
    const [first, second] = s.top(2);
    expect(first![0]).toBe('heavy-1');
    expect(second![0]).toBe('heavy-2');
  });

  test('a reported count is never below the true count and at most floor above it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 5 })), { maxLength: 400 }), (stream) => {
        const s = new SpaceSaving(8);
        const truth = new Map<string, number>();
        for (const [k, n] of stream) {
          s.addString(`k${k}`, n);
          truth.set(`k${k}`, (truth.get(`k${k}`) ?? 0) + n);
        }
        for (const [key, count] of s.top(1000)) {
          const real = truth.get(key)!;
          expect(count).toBeGreaterThanOrEqual(real);
          expect(count - real).toBeLessThanOrEqual(s.floor);
        }
        // Any key whose true count is above the floor is still there.
        const kept = new Set(s.top(1000).map(([k]) => k));
        for (const [key, real] of truth) if (real > s.floor) expect(kept.has(key)).toBe(true);
      }),
    );
  });

  test('with a sketch of 4 counters a row (nearly every key collides), the same guarantees hold', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 1, max: 5 })), { maxLength: 500 }), (stream) => {
        const s = new SpaceSaving(4, 4);
        const truth = new Map<string, number>();
        for (const [k, n] of stream) {
          s.addString(`k${k}`, n);
          truth.set(`k${k}`, (truth.get(`k${k}`) ?? 0) + n);
        }
        const kept = new Map(s.top(1000));
        for (const [key, count] of kept) {
          expect(count).toBeGreaterThanOrEqual(truth.get(key)!);
          expect(count - truth.get(key)!).toBeLessThanOrEqual(s.floor);
        }
        for (const [key, real] of truth) if (real > s.floor) expect(kept.has(key)).toBe(true);
      }),
    );
  });

  test('a flood of keys seen once stays in the sketch: the floor, the most a count can be over, stays low', () => {
    const s = new SpaceSaving(100);
    for (let i = 0; i < 100_000; i++) {
      s.addString(`10.${i % 251}.${(i * 7) % 253}.${i}`, 1);
      if (i % 97 === 0) s.addString('heavy', 3);
    }
    // Plain Space-Saving let every new key in at floor + 1 and ended with a floor of 250 here.
    expect(s.floor).toBeGreaterThan(0);
    expect(s.floor).toBeLessThanOrEqual(10);
    const [first] = s.top(1);
    expect(first![0]).toBe('heavy');
    expect(first![1]).toBeGreaterThanOrEqual(3 * Math.ceil(100_000 / 97));
    expect(first![1]).toBeLessThanOrEqual(3 * Math.ceil(100_000 / 97) + s.floor);
  });

  test('top(n) is the n largest counts, ties by key, as a sort of all the keys would give', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('/a', '/b', '/ab', '/B', '/', '/a/', 'x', '-', '/\u00e9', '/\u00e8'), fc.integer({ min: 1, max: 3 })), {
          maxLength: 60,
        }),
        fc.integer({ min: 0, max: 12 }),
        (stream, n) => {
          const s = new SpaceSaving(100);
          const truth = new Map<string, number>();
          for (const [k, c] of stream) {
            s.addString(k, c);
            truth.set(k, (truth.get(k) ?? 0) + c);
          }
          const expected = [...truth].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, n);
          expect(s.top(n)).toEqual(expected);
        },
      ),
    );
  });

  test('top(n) among a thousand keys tied at one count takes the n smallest keys', () => {
    const s = new SpaceSaving(1000);
    for (let i = 999; i >= 0; i--) s.addString(`k${String(i).padStart(4, '0')}`, 1);
    s.addString('k0500', 1);
    expect(s.top(4)).toEqual([['k0500', 2], ['k0000', 1], ['k0001', 1], ['k0002', 1]]);
  });
});

describe('select (the prune threshold)', () => {
  test('is the k-th smallest, as a sort says, on random, tied and sorted counts', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 300 }), fc.nat(), (xs, k0) => {
        const k = k0 % xs.length;
        const sorted = [...xs].sort((a, b) => a - b);
        expect(select(Float64Array.from(xs), k)).toBe(sorted[k]!);
      }),
    );
    const ones = new Float64Array(4000).fill(1);
    expect(select(ones, 3000)).toBe(1);
    const rising = Float64Array.from({ length: 4000 }, (_, i) => i);
    expect(select(rising, 3000)).toBe(3000);
  });
});
