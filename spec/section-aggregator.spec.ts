import { describe, expect, test } from 'bun:test';
import { emptySegment, type Batch, type IntervalStats } from '../actors/messages';
import { addBatch, createIntervalStore, mostlyLate, newInterval, summarize, top } from '../actors/section-aggregator';

function batch(parts: { section: string; user?: string; status: number; bytes: number; second?: number }[]): Batch {
  const s = emptySegment(100);
  for (const p of parts) {
    s.hits++;
    s.sections.set(p.section, (s.sections.get(p.section) ?? 0) + 1);
    if (p.user) s.users.set(p.user, (s.users.get(p.user) ?? 0) + 1);
    s.status[Math.floor(p.status / 100)]!++;
    s.bytes += p.bytes;
    const sec = p.second ?? 100;
    s.perSecond.set(sec, (s.perSecond.get(sec) ?? 0) + 1);
  }
  return { segments: [s] };
}

describe('section aggregator', () => {
  test('adds batches into one interval and ranks sections by hits', () => {
    const i = newInterval(0);
    addBatch(i, batch([{ section: '/a', status: 200, bytes: 10 }, { section: '/b', status: 404, bytes: 5 }]), 0);
    addBatch(i, batch([{ section: '/b', user: 'ann', status: 503, bytes: 1 }]), 1);
    const s = summarize(i, 10_000, 10);
    expect(s.hits).toBe(3);
    expect(s.late).toBe(1);
    expect(s.bytes).toBe(16);
    expect(s.sections).toEqual([['/b', 2], ['/a', 1]]);
    expect(s.users).toEqual([['ann', 1]]);
    expect(s.status).toEqual({ '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 1, '5xx': 1, other: 0 });
  });

  test('top breaks ties by name so that output is stable, and keeps only n', () => {
    const counts = new Map([['/z', 2], ['/a', 2], ['/m', 5], ['/q', 1]]);
    expect(top(counts, 3)).toEqual([['/m', 5], ['/a', 2], ['/z', 2]]);
  });

  test('flush emits the interval and starts the next one at the flush instant', () => {
    const store = createIntervalStore(1000, 10);
    const emitted: IntervalStats[] = [];
    store.on('stats', ({ stats }) => emitted.push(stats));
    store.send({ type: 'batch', batch: batch([{ section: '/a', status: 200, bytes: 1 }]), late: 0 });
    store.send({ type: 'flush', at: 11_000, final: false });
    store.send({ type: 'flush', at: 21_000, final: false });
    expect(emitted.map((s) => [s.start, s.end, s.hits])).toEqual([
      [1000, 11_000, 1],
      [11_000, 21_000, 0],
    ]);
  });

  test('the final flush is always reported, even when it closes an interval of no length', () => {
    const store = createIntervalStore(0, 10);
    const emitted: IntervalStats[] = [];
    store.on('stats', ({ stats }) => emitted.push(stats));
    store.send({ type: 'flush', at: 10_000, final: false });
    store.send({ type: 'flush', at: 10_000, final: true });
    expect(emitted.map((s) => [s.start, s.end, s.final])).toEqual([
      [0, 10_000, false],
      [10_000, 10_000, true],
    ]);
  });

  test('mostly late: a busy interval with more than half its lines late', () => {
    const i = newInterval(0);
    addBatch(i, batch(Array.from({ length: 30 }, () => ({ section: '/a', status: 200, bytes: 0 }))), 16);
    expect(mostlyLate(summarize(i, 1, 1))).toBe(true);
    const j = newInterval(0);
    addBatch(j, batch(Array.from({ length: 30 }, () => ({ section: '/a', status: 200, bytes: 0 }))), 15);
    expect(mostlyLate(summarize(j, 1, 1))).toBe(false);
  });
});
