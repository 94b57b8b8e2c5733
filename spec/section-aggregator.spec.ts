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
    // 50,001 distinct hosts, the top table long past its capacity: the unique count is within 2 %.
    expect(Math.abs(stats.unique.hosts - 50_001) / 50_001).toBeLessThanOrEqual(0.02);
  });

  test('unique hosts, users and sections: exact on a small interval, counted once however often a key comes, and each interval its own', () => {
    const store = createIntervalStore(0, 10);
    const out: IntervalStats[] = [];
    store.on('stats', ({ stats }) => out.push(stats));
    const parts = (n: number, users: number) =>
      Array.from({ length: n }, (_, k) => ({ section: `/s${k % 7}`, user: k % users === 0 ? `u${k % 3}` : undefined, status: 200, bytes: 1 }));
    const withHosts = (b: Batch, hosts: string[]) => {
      const seg = b.segments[0]!;
      const all = new Map<string, number>();
      for (const h of hosts) all.set(h, (all.get(h) ?? 0) + 1);
      const sections = new Map<string, number>();
      for (let k = 0; k < seg.hits; k++) sections.set(`/s${k % 7}`, (sections.get(`/s${k % 7}`) ?? 0) + 1);
      seg.keys = packMaps({ hosts: all, sections, users: new Map([['u0', 1], ['u1', 1], ['u2', 1]]) });
      return b;
    };
    const hosts = Array.from({ length: 100 }, (_, k) => `10.0.0.${k % 40}`);
    store.send({ type: 'batch', batch: withHosts(batch(parts(100, 1)), hosts), late: 0 });
    store.send({ type: 'batch', batch: withHosts(batch(parts(100, 1)), hosts), late: 0 });
    store.send({ type: 'flush', at: 10_000, final: false });
    store.send({ type: 'batch', batch: withHosts(batch(parts(10, 1)), ['192.0.2.1']), late: 0 });
    store.send({ type: 'flush', at: 20_000, final: true });
    expect(out.map((s) => s.unique)).toEqual([
      { hosts: 40, users: 3, sections: 7 },
      { hosts: 1, users: 3, sections: 7 },
    ]);
  });

  test('a unique count is never above the lines counted (an estimate can come out a little over)', () => {
    const i = newInterval(0);
    const s = batch([]).segments[0]!;
    // 10,000 distinct hosts, estimated above 10,000 by the HyperLogLog, in an interval of 10,000 lines.
    const hosts = new Map<string, number>();
    for (let h = 0; hosts.size < 10_000; h++) hosts.set(`10.${(h * 7919) % 256}.${h >> 8}.${h & 255}`, 1);
    s.keys = packMaps({ hosts });
    s.hits = 10_000;
    addBatch(i, { segments: [s] }, 0);
    expect(i.unique.hosts.estimate()).not.toBe(10_000);
    expect(summarize(i, 1, 10).unique.hosts).toBe(Math.min(10_000, i.unique.hosts.estimate()));
    s.hits = 9_000;
    const fewer = newInterval(0);
    addBatch(fewer, { segments: [s] }, 0);
    expect(summarize(fewer, 1, 10).unique.hosts).toBe(9_000);
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
