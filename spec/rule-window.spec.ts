import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import type { Segment } from '../actors/messages';
import { CountWindow, RuleWindow } from '../actors/rule-window';
import { packMaps } from '../lib/byte-keys';
import { ruleCost } from '../lib/rules';
import { type Lines, rule, START, segmentAt } from './support/rule-segments';

/** A rule's window fed at `now` (a second) with segments, sampled at the next evaluation. */
function windowOf(yaml: string, startedAt = START * 1000) {
  const w = new RuleWindow(rule(yaml), startedAt);
  return {
    w,
    record(now: number, ...segments: Segment[]) {
      w.record(segments, now);
    },
    sample: (second: number, group?: string) => w.check(group).sample(second),
  };
}

describe('CountWindow', () => {
  type Op = { op: 'advance'; by: number } | { op: 'add'; offset: number; n: number } | { op: 'query'; ahead: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), by: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), by: fc.integer({ min: 3, max: 25 }) }) },
    // Mostly at now or a little before; some late (older than the window), some in the future.
    { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), offset: fc.integer({ min: -2, max: 0 }), n: fc.integer({ min: 1, max: 50 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('add' as const), offset: fc.integer({ min: -14, max: 5 }), n: fc.integer({ min: 1, max: 50 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('query' as const), ahead: fc.boolean() }) },
  );

  test('sumBefore(second) is the naive sum of the accepted adds in [second − W, second)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: -3, max: 3 }), fc.array(op, { maxLength: 300 }), (W, startOffset, ops) => {
        const window = new CountWindow(W);
        const accepted: [number, number][] = [];
        let now = START + startOffset;
        let lastQuery = -Infinity;
        let addedAtNow = false;
        for (const o of ops) {
          if (o.op === 'advance') {
            now += o.by;
            if (o.by > 0) addedAtNow = false;
          } else if (o.op === 'add') {
            const second = now + o.offset;
            const at = Math.min(second, now);
            // Late: older than every evaluation still to come, [now + 1 − W, now + 1).
            const late = at < now + 1 - W;
            expect(window.add(second, o.n, now)).toBe(!late);
            if (!late) accepted.push([at, o.n]);
            addedAtNow = true;
          } else {
            // The evaluation of `now` runs before the lines of `now` arrive; within a second the
            // busiest-groups bookkeeping asks for the window of the next evaluation, now + 1.
            const wanted = o.ahead || addedAtNow ? now + 1 : now;
            if (wanted < lastQuery) continue;
            lastQuery = wanted;
            const naive = accepted.reduce((sum, [s, n]) => (s >= wanted - W && s < wanted ? sum + n : sum), 0);
            expect(window.sumBefore(wanted)).toBe(naive);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  test('a jump longer than the window empties it; a late add is refused', () => {
    const window = new CountWindow(3);
    expect(window.add(START, 5, START)).toBe(true);
    expect(window.add(START + 1, 2, START + 1)).toBe(true);
    expect(window.sumBefore(START + 2)).toBe(7);
    expect(window.sumBefore(START + 4)).toBe(2);
    expect(window.add(START, 9, START + 4)).toBe(false);
    expect(window.sumBefore(START + 100)).toBe(0);
    expect(window.add(START + 100, 4, START + 100)).toBe(true);
    expect(window.sumBefore(START + 101)).toBe(4);
  });
});

describe('RuleWindow: which second a segment counts in', () => {
  test('a segment counts in its own second and leaves the window W seconds after it', () => {
    const r = windowOf('{ name: all, rate: 1, window: 5s }');
    const now = START + 10;
    r.record(now, segmentAt(now - 3, { hits: 7 }), segmentAt(now, { hits: 2 }));
    expect(r.sample(now + 1).hits).toBe(9);
    expect(r.sample(now + 2).hits).toBe(9); // [now − 3, now + 2)
    expect(r.sample(now + 3).hits).toBe(2); // [now − 2, now + 3)
    expect(r.sample(now + 5).hits).toBe(2);
    expect(r.sample(now + 6).hits).toBe(0);
  });

  test('a segment stamped in the future counts at now', () => {
    const r = windowOf('{ name: all, rate: 1, window: 5s }');
    const now = START + 10;
    r.record(now, segmentAt(now + 3600, { hits: 4 }));
    expect(r.sample(now + 1).hits).toBe(4);
    expect(r.sample(now + 5).hits).toBe(4);
    expect(r.sample(now + 6).hits).toBe(0);
  });

  test('a segment older than the window when it arrives is not counted, one second newer is', () => {
    const r = windowOf('{ name: errors, ratio: 50%, window: 5s, match: { status: 5xx } }');
    const now = START + 10;
    r.record(now, segmentAt(now - 5, { hits: 8, status: { 5: 8 } }));
    expect(r.sample(now + 1)).toMatchObject({ hits: 0, total: 0 });
    r.record(now, segmentAt(now - 4, { hits: 3, status: { 5: 1, 2: 2 } }));
    expect(r.sample(now + 1)).toMatchObject({ hits: 1, total: 3 });
  });
});

describe('RuleWindow: what a rule matches', () => {
  const now = START + 10;
  const matching = (match: string, lines: Lines) => {
    const r = windowOf(`{ name: m, rate: 1, window: 10s, match: ${match} }`);
    r.record(now, segmentAt(now, lines));
    return r.sample(now + 1).hits;
  };
  const mixed: Lines = {
    hits: 10,
    status: { 2: 4, 4: 3, 5: 3 },
    codes: { 200: 4, 403: 1, 404: 2, 500: 1, 503: 2 },
    sections: { '/api': 5, '/apis': 2, '/ap': 1, '/API': 2 },
    methods: { GET: 6, POST: 3, PUT: 1 },
    hosts: { '10.0.0.1': 6, '10.0.0.10': 3, alice: 1 },
    users: { alice: 4, bob: 2, '-': 4 },
  };

  test('a status class takes the hits of that class', () => {
    expect(matching('{ status: 5xx }', mixed)).toBe(3);
    expect(matching('{ status: 4xx }', mixed)).toBe(3);
    expect(matching('{ status: 1xx }', mixed)).toBe(0);
  });

  test('a status code takes the hits of that code, from the segment codes', () => {
    expect(matching('{ status: 404 }', mixed)).toBe(2);
    expect(matching('{ status: 503 }', mixed)).toBe(2);
    expect(matching('{ status: 502 }', mixed)).toBe(0);
  });

  test('several values take the hits of any of them, a code inside a listed class only once', () => {
    expect(matching('{ status: [404, 503] }', mixed)).toBe(4);
    expect(matching('{ status: [5xx, 404] }', mixed)).toBe(5);
    expect(matching('{ status: [5xx, 503] }', mixed)).toBe(3);
    expect(matching('{ section: [/api, /ap] }', mixed)).toBe(6);
    expect(matching('{ method: [POST, PUT] }', mixed)).toBe(4);
  });

  test('a section, method, host or user matches its exact bytes, in its own field only', () => {
    expect(matching('{ section: /api }', mixed)).toBe(5);
    expect(matching('{ section: /apis }', mixed)).toBe(2);
    expect(matching('{ section: /a }', mixed)).toBe(0);
    expect(matching('{ method: POST }', mixed)).toBe(3);
    expect(matching('{ method: post }', mixed)).toBe(3); // a rule's method is upper-cased, as logs write it
    expect(matching('{ host: 10.0.0.1 }', mixed)).toBe(6);
    expect(matching('{ host: 10.0.0 }', mixed)).toBe(0);
    expect(matching('{ host: alice }', mixed)).toBe(1);
    expect(matching('{ user: alice }', mixed)).toBe(4);
    expect(matching('{ user: "-" }', mixed)).toBe(4);
  });

  test('a segment may list a key more than once: its counts add up', () => {
    const r = windowOf('{ name: m, rate: 1, window: 10s, match: { section: /api } }');
    const seg = segmentAt(now, { hits: 5 });
    const first = packMaps({ sections: new Map([['/api', 2]]) });
    const second = packMaps({ sections: new Map([['/api', 3]]) });
    // Two packings of one kind laid end to end: /api twice.
    const bytes = new Uint8Array([...first.bytes, ...second.bytes]);
    // One count a key kind (KEY_KINDS: sections, users, hosts, methods, vhosts), then end and count a key.
    const entries = new Int32Array([2, 0, 0, 0, 0, 4, 2, 8, 3]);
    seg.keys = { bytes, entries };
    r.record(now, seg);
    expect(r.sample(now + 1).hits).toBe(5);
  });

  test('the traffic rule of a rule without match is every hit', () => {
    expect(matching('{ status: [1xx, 2xx, 3xx, 4xx, 5xx] }', mixed)).toBe(10);
    const r = windowOf('{ name: all, rate: 1, window: 10s }');
    r.record(now, segmentAt(now, mixed));
    expect(r.sample(now + 1).hits).toBe(10);
  });
});

describe('RuleWindow: the sample an instance reads', () => {
  const now = START + 200;

  test('rate: over when hits > threshold × W exactly (0.57 × 100 is 57, not 56.99…); value is hits / W', () => {
    const at = windowOf('{ name: r, rate: 0.57, window: 100s }');
    at.record(now, segmentAt(now, { hits: 57 }));
    expect(at.sample(now + 1)).toEqual({ hits: 57, value: 0.57, over: false, clear: true });
    const over = windowOf('{ name: r, rate: 0.57, window: 100s }');
    over.record(now, segmentAt(now, { hits: 58 }));
    expect(over.sample(now + 1)).toEqual({ hits: 58, value: 0.58, over: true, clear: false });
  });

  test('rate with recover: clear only at or below recover × W', () => {
    const sampleWith = (hits: number) => {
      const r = windowOf('{ name: r, rate: 1, recover: 0.5, window: 10s }');
      r.record(now, segmentAt(now, { hits }));
      const { over, clear } = r.sample(now + 1);
      return { over, clear };
    };
    expect(sampleWith(11)).toEqual({ over: true, clear: false });
    expect(sampleWith(10)).toEqual({ over: false, clear: false });
    expect(sampleWith(6)).toEqual({ over: false, clear: false });
    expect(sampleWith(5)).toEqual({ over: false, clear: true });
  });

  test('ratio: matching / all hits > threshold exactly (57 of 100 is not over 57 %); value and total', () => {
    const sampleWith = (errors: number, all: number) => {
      const r = windowOf('{ name: e, ratio: 57%, window: 100s, match: { status: 5xx } }');
      r.record(now, segmentAt(now, { hits: all, status: { 5: errors, 2: all - errors } }));
      return r.sample(now + 1);
    };
    expect(sampleWith(57, 100)).toEqual({ hits: 57, value: 0.57, total: 100, over: false, clear: true });
    expect(sampleWith(58, 100)).toEqual({ hits: 58, value: 0.58, total: 100, over: true, clear: false });
    expect(sampleWith(0, 0)).toEqual({ hits: 0, value: 0, total: 0, over: false, clear: true });
  });

  test('ratio: never over with fewer than min_hits hits, and clear then even at 100 %', () => {
    const sampleWith = (errors: number) => {
      const r = windowOf('{ name: e, ratio: 10%, min_hits: 10, window: 10s, match: { status: 5xx } }');
      r.record(now, segmentAt(now, { hits: errors, status: { 5: errors } }));
      const { over, clear, total } = r.sample(now + 1);
      return { over, clear, total };
    };
    expect(sampleWith(9)).toEqual({ over: false, clear: true, total: 9 });
    expect(sampleWith(10)).toEqual({ over: true, clear: false, total: 10 });
  });

  test('ratio with recover: clear only at or below the recover ratio', () => {
    const sampleWith = (errors: number) => {
      const r = windowOf('{ name: e, ratio: 10%, recover: 5%, window: 10s, match: { status: 5xx } }');
      r.record(now, segmentAt(now, { hits: 100, status: { 5: errors, 2: 100 - errors } }));
      const { over, clear } = r.sample(now + 1);
      return { over, clear };
    };
    expect(sampleWith(11)).toEqual({ over: true, clear: false });
    expect(sampleWith(10)).toEqual({ over: false, clear: false });
    expect(sampleWith(6)).toEqual({ over: false, clear: false });
    expect(sampleWith(5)).toEqual({ over: false, clear: true });
  });

  test('silence: not over before a whole window has been watched since the start', () => {
    const r = windowOf('{ name: s, silence: 1, window: 10s, match: { section: /health } }', START * 1000);
    expect(r.sample(START + 9)).toEqual({ hits: 0, value: 0, over: false, clear: true });
    expect(r.sample(START + 10)).toEqual({ hits: 0, value: 0, over: true, clear: false });
    const earlier = windowOf('{ name: s, silence: 1, window: 10s, match: { section: /health } }', (START - 10) * 1000);
    expect(earlier.sample(START).over).toBe(true);
  });

  test('silence with recover: over below the threshold, clear only at or above recover', () => {
    const sampleWith = (hits: number) => {
      const r = windowOf('{ name: s, silence: 3, recover: 5, window: 10s }', START * 1000);
      if (hits > 0) r.record(now, segmentAt(now, { hits }));
      const { over, clear, value } = r.sample(now + 1);
      return { over, clear, value };
    };
    expect(sampleWith(2)).toEqual({ over: true, clear: false, value: 2 });
    expect(sampleWith(3)).toEqual({ over: false, clear: false, value: 3 });
    expect(sampleWith(4)).toEqual({ over: false, clear: false, value: 4 });
    expect(sampleWith(5)).toEqual({ over: false, clear: true, value: 5 });
  });
});

describe('RuleWindow: the groups of a grouped rule', () => {
  const now = START + 50;
  const hosts = (counts: Record<string, number>) => segmentAt(now, { hits: Object.values(counts).reduce((a, b) => a + b, 0), hosts: counts });

  test('each group samples its own window, and its check names the group', () => {
    const r = windowOf('{ name: busy, rate: 1, window: 10s, by: host }');
    r.record(now, hosts({ a: 11, b: 3 }));
    expect(r.sample(now + 1, 'a')).toEqual({ hits: 11, value: 1.1, over: true, clear: false });
    expect(r.sample(now + 1, 'b')).toEqual({ hits: 3, value: 0.3, over: false, clear: true });
    expect(r.sample(now + 1, 'nobody').hits).toBe(0);
    expect(r.w.check('a').rule).toEqual({ name: 'busy', kind: 'rate', group: { by: 'host', key: 'a' } });
  });

  test('1,000 distinct hosts, one hit each, keep at most `groups` windows', () => {
    const one = windowOf('{ name: busy, rate: 1, window: 60s, by: host, groups: 10 }');
    const all: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) all[`10.0.${i >> 8}.${i & 255}`] = 1;
    one.record(now, hosts(all));
    expect(one.w.groups.size).toBe(10);

    const spread = windowOf('{ name: busy, rate: 1, window: 60s, by: host, groups: 10 }');
    for (let i = 0; i < 1000; i++) {
      const second = now + Math.floor(i / 7);
      spread.record(second, segmentAt(second, { hits: 1, hosts: { [`10.1.${i >> 8}.${i & 255}`]: 1 } }));
      spread.w.forgetQuiet(second + 1);
      expect(spread.w.groups.size).toBeLessThanOrEqual(10);
    }
    expect(spread.w.groups.size).toBeGreaterThan(0);
  });

  test('a new key replaces the quietest group only with more hits in its segment than that group has in its window', () => {
    const r = windowOf('{ name: busy, rate: 100, window: 10s, by: host, groups: 2 }');
    r.record(now, hosts({ a: 5, b: 3 }));
    r.record(now, hosts({ c: 3 }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'b']);
    r.record(now, hosts({ c: 4 }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'c']);
    expect(r.sample(now + 1, 'c').hits).toBe(4);
  });

  test('a held group (an instance follows it) is never replaced, nor forgotten when quiet', () => {
    const r = windowOf('{ name: busy, rate: 1, window: 10s, by: host, groups: 1 }');
    r.record(now, hosts({ a: 11 }));
    r.w.hold('a', true);
    r.record(now, hosts({ c: 1000 }));
    expect([...r.w.groups.keys()]).toEqual(['a']);
    r.w.forgetQuiet(now + 20);
    expect([...r.w.groups.keys()]).toEqual(['a']);
    r.w.hold('a', false);
    r.record(now + 20, segmentAt(now + 20, { hits: 2, hosts: { c: 2 } }));
    expect([...r.w.groups.keys()]).toEqual(['c']);
  });

  test('quiet groups, with nothing in the window and no hold, are forgotten', () => {
    const r = windowOf('{ name: busy, rate: 1, window: 5s, by: host }');
    r.record(now, hosts({ a: 1 }));
    r.record(now + 3, segmentAt(now + 3, { hits: 1, hosts: { b: 1 } }));
    r.w.forgetQuiet(now + 5);
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'b']);
    r.w.forgetQuiet(now + 6);
    expect([...r.w.groups.keys()]).toEqual(['b']);
    r.w.forgetQuiet(now + 9);
    expect(r.w.groups.size).toBe(0);
  });
});

describe('RuleWindow: found by review', () => {
  test('a group that got hits earlier in the same segment is not replaced by a quieter newcomer', () => {
    const now = START + 5;
    const r = windowOf('{ name: busy, rate: 100, window: 10s, by: host, groups: 2 }');
    r.record(now, segmentAt(now, { hits: 6, hosts: { a: 1, b: 5 } }));
    // d (1 hit) is turned away against a's window (1); then a gets 10 more (11); c comes with 3.
    r.record(now, segmentAt(now, { hits: 14, hosts: { d: 1, a: 10, c: 3 } }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'b']);
    expect(r.sample(now + 1, 'a').hits).toBe(11);
  });

  test('a value listed twice counts its hits once (a code, a class in two spellings, a section)', () => {
    const codes = windowOf('{ name: m, rate: 1, window: 10s, match: { status: [404, 404] } }');
    codes.record(START, segmentAt(START, { hits: 2, status: { 4: 2 }, codes: { 404: 2 } }));
    expect(codes.sample(START + 1).hits).toBe(2);
    const classes = windowOf('{ name: m, rate: 1, window: 10s, match: { status: [5xx, 5XX, 503] } }');
    classes.record(START, segmentAt(START, { hits: 3, status: { 5: 3 }, codes: { 503: 2, 500: 1 } }));
    expect(classes.sample(START + 1).hits).toBe(3);
    const sections = windowOf('{ name: m, rate: 1, window: 10s, match: { section: [/api, /api] } }');
    sections.record(START, segmentAt(START, { hits: 3, sections: { '/api': 3 } }));
    expect(sections.sample(START + 1).hits).toBe(3);
  });

  test('a late timer: lines of the second S counted before its evaluation leave S − W in the window', () => {
    const window = new CountWindow(3);
    window.add(START, 5, START);
    expect(window.sumBefore(START + 1)).toBe(5);
    window.add(START + 3, 1, START + 3); // lines of START + 3 come before its evaluation runs
    expect(window.sumBefore(START + 3)).toBe(5); // [START, START + 3)
    expect(window.sumBefore(START + 4)).toBe(1);
  });
});

describe('RuleWindow: the memory it takes', () => {
  /** The heap's growth (typed arrays included) while `build` runs, what it builds kept alive. */
  function grown<T>(build: () => T): [number, T] {
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    const built = build();
    Bun.gc(true);
    return [process.memoryUsage().heapUsed - before, built];
  }

  test('a 24h window over 200 hosts takes what ruleCost says, less the instances it has none of yet', () => {
    const r = rule('{ name: busy, rate: 1, window: 24h, by: host, groups: 200 }');
    const hosts = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`10.0.0.${i}`, 1]));
    const [bytes, w] = grown(() => {
      const w = new RuleWindow(r, START * 1000);
      w.record([segmentAt(START, { hits: 200, hosts })], START);
      return w;
    });
    expect(w.groups.size).toBe(200);
    // 69 MB of counts (it was 276 MB, 16 bytes a second); the 8,192 bytes a group are for its instance.
    expect(bytes).toBeLessThanOrEqual(ruleCost(r));
    expect(bytes).toBeGreaterThan(200 * 4 * 86402 * 0.9);
  });

  test('a ratio over 24h: two rings, within its cost', () => {
    const r = rule('{ name: e, ratio: 5%, window: 24h, match: { status: 5xx } }');
    const [bytes] = grown(() => new RuleWindow(r, START * 1000));
    expect(bytes).toBeLessThanOrEqual(ruleCost(r));
    expect(bytes).toBeGreaterThan(2 * 4 * 86402 * 0.9);
  });
});

describe('CountWindow: 4 bytes a second', () => {
  test('a second past 4,294,967,295 hits is counted exactly, and leaves the window whole', () => {
    const window = new CountWindow(3);
    window.add(START, 0xffff_ffff, START);
    window.add(START, 5, START);
    window.add(START + 1, 1, START + 1);
    expect(window.sumBefore(START + 2)).toBe(0xffff_ffff + 6);
    expect(window.sumBefore(START + 4)).toBe(1);
    expect(window.sumBefore(START + 5)).toBe(0);
  });

  test('a clock gone back more than 2 s: a second the ring has moved past is refused, not written over a newer one', () => {
    const window = new CountWindow(3);
    window.add(START + 10, 7, START + 10);
    expect(window.add(START + 5, 1, START + 5)).toBe(false);
    expect(window.add(START + 8, 2, START + 8)).toBe(true);
    expect(window.sumBefore(START + 11)).toBe(9);
  });
});

describe('a second an agent split over several segments', () => {
  test('the keys of its key-only parts (no hits of their own) count for grouped and matching rules', () => {
    const now = START + 10;
    const counts = segmentAt(now, { hits: 7, hosts: { 'a.example': 2 }, sections: { '/api': 2 } });
    const keysOnly = segmentAt(now, { hits: 0, hosts: { 'b.example': 5 }, sections: { '/api': 5 } });
    keysOnly.perSecond.clear();
    const grouped = new RuleWindow(rule('{ name: g, rate: 1, by: host, window: 10 }'), START * 1000);
    grouped.record([counts, keysOnly], now);
    expect(grouped.sample(now + 1, 'b.example').hits).toBe(5);
    const matching = new RuleWindow(rule('{ name: m, rate: 1, match: { section: /api }, window: 10 }'), START * 1000);
    matching.record([counts, keysOnly], now);
    expect(matching.sample(now + 1).hits).toBe(7);
  });
});
