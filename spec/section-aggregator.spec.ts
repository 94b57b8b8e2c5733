import { describe, expect, test } from 'bun:test';
import { emptySegment, type Batch, type IntervalStats } from '../actors/messages';
import { packMaps } from '../lib/byte-keys';
import { Sketch } from '../lib/sketch';
import { addBatch, createIntervalStore, mostlyLate, newInterval, SECTION_SKETCHES, summarize, TABLE_CAPACITY } from '../actors/section-aggregator';

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

/** A sketch of these durations (ms). */
const sketchOf = (values: number[]) => {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s;
};

/**
 * A segment of timed lines, as a scanner of a timed format makes it: each line a section, a
 * duration and maybe an upstream duration.
 */
function timed(lines: { section: string; ms: number; upstream?: number }[], printed = false): Batch {
  const s = emptySegment(100);
  const sections = new Map<string, number>();
  const bySection = new Map<string, Sketch>();
  s.latency = new Sketch();
  for (const l of lines) {
    s.hits++;
    s.status[2]!++;
    s.perSecond.set(100, (s.perSecond.get(100) ?? 0) + 1);
    sections.set(l.section, (sections.get(l.section) ?? 0) + 1);
    s.latency.add(l.ms);
    if (!bySection.has(l.section)) bySection.set(l.section, new Sketch());
    bySection.get(l.section)!.add(l.ms);
    if (l.upstream !== undefined) (s.upstream ??= new Sketch()).add(l.upstream);
  }
  s.keys = packMaps({ sections });
  s.sectionLatency = bySection;
  if (printed) s.printed = true;
  return { segments: [s] };
}

/** Durations spread over three orders of magnitude, with a slow tail, deterministic. */
const spread = (n: number, seed: number) => Array.from({ length: n }, (_, k) => ((k * 7919 + seed) % 1000) / 10 + (k % 50 === 0 ? 900 + k : 0.3));

describe('section aggregator: latency', () => {
  test("the interval's latency and upstream are the merge of its segments' sketches: count, quantiles and max", () => {
    const a = spread(400, 1).map((ms, k) => ({ section: k % 2 ? '/api' : '/static', ms, upstream: k % 2 ? ms * 0.8 : undefined }));
    const b = spread(300, 2).map((ms) => ({ section: '/api', ms, upstream: ms / 2 }));
    const i = newInterval(0);
    addBatch(i, timed(a), 0);
    addBatch(i, timed(b), 0);
    const stats = summarize(i, 10_000, 10);
    const all = sketchOf([...a, ...b].map((l) => l.ms));
    expect(stats.latency).toEqual(all.summary()!);
    expect(stats.latency!.count).toBe(700);
    expect(stats.latency!.p99).toBe(all.quantile(0.99));
    expect(stats.latency!.max).toBe(Math.max(...[...a, ...b].map((l) => l.ms)));
    const up = [...a, ...b].filter((l) => l.upstream !== undefined).map((l) => l.upstream!);
    expect(stats.upstream).toEqual(sketchOf(up).summary()!);
    expect(stats.upstream!.count).toBe(500);
  });

  test("each reported section's latency is its own sketch's, in the table's order; a section with no timed line has none", () => {
    const lines = [
      ...spread(300, 3).map((ms) => ({ section: '/api', ms: ms * 3 })),
      ...spread(100, 4).map((ms) => ({ section: '/static', ms: ms / 10 })),
      ...spread(20, 5).map((ms) => ({ section: '/rare', ms })),
    ];
    const i = newInterval(0);
    addBatch(i, timed(lines), 0);
    // Untimed hits of /pages (a CLF input merged with a timed one): ranked, but with no latency.
    addBatch(i, batch(Array.from({ length: 200 }, () => ({ section: '/pages', status: 200, bytes: 1 }))), 0);
    const stats = summarize(i, 10_000, 3);
    expect(stats.sections.map(([s]) => s)).toEqual(['/api', '/pages', '/static']);
    const own = (section: string) => sketchOf(lines.filter((l) => l.section === section).map((l) => l.ms)).summary()!;
    expect(stats.sectionLatency).toEqual([
      ['/api', own('/api')],
      ['/static', own('/static')],
    ]);
    // The /api p99 is not the interval's: its durations are three times the others'.
    expect(stats.sectionLatency![0]![1].p99).not.toBe(stats.latency!.p99);
  });

  test('an interval with no timed line reports no latency, upstream or section latency at all (not zeros)', () => {
    const i = newInterval(0);
    addBatch(i, batch([{ section: '/a', status: 200, bytes: 10 }]), 0);
    const stats = summarize(i, 10_000, 10);
    expect('latency' in stats).toBe(false);
    expect('upstream' in stats).toBe(false);
    expect('sectionLatency' in stats).toBe(false);
    // Timed lines with no upstream: latency only.
    addBatch(i, timed([{ section: '/a', ms: 5 }]), 0);
    const timedStats = summarize(i, 10_000, 10);
    expect(timedStats.latency).toEqual({ count: 1, p50: 5, p90: 5, p99: 5, max: 5 });
    expect('upstream' in timedStats).toBe(false);
  });

  test("segments an earlier run of the centre printed are not timed again, as they are not counted again", () => {
    const i = newInterval(0);
    addBatch(i, timed([{ section: '/a', ms: 10, upstream: 9 }]), 0);
    addBatch(i, timed([{ section: '/a', ms: 5000, upstream: 4000 }, { section: '/b', ms: 7000 }], true), 0);
    const stats = summarize(i, 10_000, 10);
    expect(stats.hits).toBe(1);
    expect(stats.latency).toEqual({ count: 1, p50: 10, p90: 10, p99: 10, max: 10 });
    expect(stats.upstream!.max).toBe(9);
    expect(stats.sectionLatency).toEqual([['/a', { count: 1, p50: 10, p90: 10, p99: 10, max: 10 }]]);
  });

  test("the segment's sketches are merged, never added to (a merge queue may still hold the segment)", () => {
    const b = timed(spread(50, 6).map((ms) => ({ section: '/a', ms, upstream: ms })));
    const seg = b.segments[0]!;
    const before = [seg.latency!.count, seg.upstream!.count, seg.sectionLatency!.get('/a')!.count];
    const i = newInterval(0);
    addBatch(i, b, 0);
    addBatch(i, b, 0);
    expect([seg.latency!.count, seg.upstream!.count, seg.sectionLatency!.get('/a')!.count]).toEqual(before);
    expect(summarize(i, 1, 10).latency!.count).toBe(100);
  });

  test("a section timed in one segment keeps that segment's sketch as it is; a second segment's is merged into a copy, never into it", () => {
    const first = timed([{ section: '/a', ms: 3 }, { section: '/a', ms: 4 }, { section: '/once', ms: 7 }]);
    const second = timed([{ section: '/a', ms: 300 }]);
    const third = timed([{ section: '/a', ms: 30 }]);
    const i = newInterval(0);
    addBatch(i, first, 0);
    expect(i.sectionLatency.get('/a')).toBe(first.segments[0]!.sectionLatency!.get('/a')!);
    addBatch(i, second, 0);
    addBatch(i, third, 0);
    // The segments' sketches are as they were made.
    expect([first, second, third].map((b) => b.segments[0]!.sectionLatency!.get('/a')!.count)).toEqual([2, 1, 1]);
    const stats = summarize(i, 1, 10);
    expect(stats.sectionLatency).toEqual([
      ['/a', sketchOf([3, 4, 300, 30]).summary()!],
      ['/once', { count: 1, p50: 7, p90: 7, p99: 7, max: 7 }],
    ]);
    // The next interval alike: a sketch it kept from the last one's segment is copied before a merge.
    const next = newInterval(10_000, i);
    addBatch(next, third, 0);
    addBatch(next, third, 0);
    expect(third.segments[0]!.sectionLatency!.get('/a')!.count).toBe(1);
    expect(summarize(next, 20_000, 10).sectionLatency).toEqual([['/a', sketchOf([30, 30]).summary()!]]);
  });

  test('each interval times its own lines: the next one starts empty', () => {
    const store = createIntervalStore(0, 10);
    const out: IntervalStats[] = [];
    store.on('stats', ({ stats }) => out.push(stats));
    store.send({ type: 'batch', batch: timed([{ section: '/a', ms: 900, upstream: 800 }]), late: 0 });
    store.send({ type: 'flush', at: 10_000, final: false });
    store.send({ type: 'batch', batch: timed([{ section: '/b', ms: 2 }]), late: 0 });
    store.send({ type: 'flush', at: 20_000, final: false });
    store.send({ type: 'flush', at: 30_000, final: true });
    expect(out.map((s) => s.latency?.max)).toEqual([900, 2, undefined]);
    expect(out.map((s) => s.upstream?.max)).toEqual([800, undefined, undefined]);
    expect(out.map((s) => s.sectionLatency?.map(([k]) => k))).toEqual([['/a'], ['/b'], undefined]);
  });

  test('a flood of sections seen once keeps a bounded number of sketches, and the busy section keeps all of its timed lines', () => {
    const i = newInterval(0);
    const hot: number[] = [];
    for (let b = 0; b < 30; b++) {
      const lines = Array.from({ length: 500 }, (_, k) => ({ section: `/scan-${b}-${k}`, ms: 1 + k }));
      for (let k = 0; k < 20; k++) hot.push(50 + b + k);
      lines.push(...hot.slice(-20).map((ms) => ({ section: '/api', ms })));
      addBatch(i, timed(lines), 0);
      expect(i.sectionLatency.size).toBeLessThanOrEqual(SECTION_SKETCHES);
    }
    const stats = summarize(i, 10_000, 1);
    expect(stats.sections).toEqual([['/api', 600]]);
    expect(stats.sectionLatency).toEqual([['/api', sketchOf(hot).summary()!]]);
    expect(stats.latency!.count).toBe(30 * 520);
  });
});
