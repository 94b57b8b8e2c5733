import { describe, expect, test } from 'bun:test';
import { emptySegment, type Batch, type IntervalStats } from '../actors/messages';
import { packMaps } from '../lib/byte-keys';
import { addBatch, createIntervalStore, mostlyLate, newInterval, summarize, TABLE_CAPACITY } from '../actors/section-aggregator';

function batch(parts: { section: string; user?: string; status: number; bytes: number; second?: number }[]): Batch {
  const s = emptySegment(100);
  const sections = new Map<string, number>();
  const users = new Map<string, number>();
  for (const p of parts) {
    s.hits++;
    sections.set(p.section, (sections.get(p.section) ?? 0) + 1);
    if (p.user) users.set(p.user, (users.get(p.user) ?? 0) + 1);
    s.status[Math.floor(p.status / 100)]!++;
    s.bytes += p.bytes;
    const sec = p.second ?? 100;
    s.perSecond.set(sec, (s.perSecond.get(sec) ?? 0) + 1);
  }
  s.keys = packMaps({ sections, users });
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

  test('ties are broken by name so that output is stable, and only the top n are reported', () => {
    const i = newInterval(0);
    const parts = ['/z', '/a', '/m', '/q', '/m', '/z', '/a', '/m', '/m', '/m'].map((section) => ({ section, status: 200, bytes: 0 }));
    addBatch(i, batch(parts), 0);
    expect(summarize(i, 1, 3).sections).toEqual([['/m', 5], ['/a', 2], ['/z', 2]]);
  });

  test('an interval in which every line has a new host stays bounded and says its counts are approximate', () => {
    const i = newInterval(0);
    for (let b = 0; b < 50; b++) {
      const s = batch([]).segments[0]!;
      const hosts = new Map<string, number>();
      for (let h = 0; h < 1000; h++) hosts.set(`10.${b}.${h >> 8}.${h & 255}`, 1);
      hosts.set('203.0.113.9', 3);
      s.keys = packMaps({ hosts });
      s.hits = 1003;
      addBatch(i, { segments: [s] }, 0);
    }
    expect(i.hosts.size).toBeLessThan(4 * TABLE_CAPACITY);
    const stats = summarize(i, 1, 10);
    expect(stats.approximate).toEqual(['hosts']);
    expect(stats.hosts[0]![0]).toBe('203.0.113.9');
    expect(stats.hosts[0]![1]).toBeGreaterThanOrEqual(150);
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
