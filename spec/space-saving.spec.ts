import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { SpaceSaving } from '../lib/space-saving';

describe('SpaceSaving', () => {
  test('exact while the keys fit', () => {
    const s = new SpaceSaving(10);
    for (const k of ['/a', '/b', '/a', '/c', '/a', '/b']) s.add(k, 1);
    expect(s.top(3)).toEqual([['/a', 3], ['/b', 2], ['/c', 1]]);
    expect(s.approximate).toBe(false);
  });

  test('a million distinct keys keep memory bounded and the heavy hitters on top', () => {
    const s = new SpaceSaving(100);
    for (let i = 0; i < 1_000_000; i++) {
      s.add(`host-${i}`, 1);
      if (i % 100 === 0) s.add('heavy-1', 5);
      if (i % 250 === 0) s.add('heavy-2', 5);
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
          s.add(`k${k}`, n);
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
});
