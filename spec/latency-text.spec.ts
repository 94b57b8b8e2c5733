import { describe, expect, test } from 'bun:test';
import { latencyRecord, latencyText, msText } from '../lib/latency-text';

describe('latency text', () => {
  test('a duration reads in the unit that suits it: tenths below 10 ms, whole ms below 1 s, seconds above', () => {
    const cases: [number, string][] = [
      [0, '0 ms'],
      [0.0004, '<0.1 ms'],
      [0.04, '<0.1 ms'],
      [0.05, '0.1 ms'],
      [0.4, '0.4 ms'],
      [1, '1.0 ms'],
      [9.5, '9.5 ms'],
      // The unit is chosen after rounding: never `10.0 ms` or `1000 ms`.
      [9.96, '10 ms'],
      [12.4, '12 ms'],
      [210, '210 ms'],
      [999.4, '999 ms'],
      [999.7, '1.0 s'],
      [1234, '1.2 s'],
      [59_960, '60.0 s'],
      [99_960, '100 s'],
      [125_400, '125 s'],
    ];
    expect(cases.map(([ms]) => [ms, msText(ms)])).toEqual(cases);
  });

  test("the quantiles and max on one line, and how many were timed when not every hit was", () => {
    const l = { count: 250, p50: 12.2, p90: 48, p99: 210.4, max: 1234 };
    expect(latencyText(l)).toBe('p50 12 ms · p90 48 ms · p99 210 ms · max 1.2 s');
    expect(latencyText(l, 250)).toBe('p50 12 ms · p90 48 ms · p99 210 ms · max 1.2 s');
    expect(latencyText(l, 400)).toBe('p50 12 ms · p90 48 ms · p99 210 ms · max 1.2 s · 250 of 400 timed');
  });

  test('NDJSON: milliseconds rounded to 3 decimals, the count as it is', () => {
    expect(latencyRecord({ count: 7, p50: 0.123456, p90: 12.0004, p99: 210.98765, max: 1234.5 })).toEqual({
      count: 7,
      p50: 0.123,
      p90: 12,
      p99: 210.988,
      max: 1234.5,
    });
  });
});
