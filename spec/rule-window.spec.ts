import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import type { Segment } from '../actors/messages';
import { CountWindow, LatencyWindow, RuleWindow } from '../actors/rule-window';
import { packMaps } from '../lib/byte-keys';
import { LATENCY_CEILING_MS, LATENCY_FLOOR_MS, ruleCost } from '../lib/rules';
import { RELATIVE_ACCURACY, Sketch } from '../lib/sketch';
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

// ---- latency rules ----

const sketchOf = (durations: readonly number[]) => {
  const s = new Sketch();
  for (const ms of durations) s.add(ms);
  return s;
};

/** A segment of timed lines, as a scanner of a format with durations sends it (`hits` counts the untimed too). */
interface Timed {
  /** Durations (ms) of every timed line; by default the concatenation of the parts below. */
  all?: number[];
  sections?: Record<string, number[]>;
  vhosts?: Record<string, number[]>;
  /** By status class, 1..5 for 1xx..5xx. */
  classes?: Partial<Record<1 | 2 | 3 | 4 | 5, number[]>>;
  /** Lines without a duration. */
  untimed?: number;
}

function timedAt(second: number, t: Timed): Segment {
  const all = t.all ?? [...Object.values(t.sections ?? {}), ...Object.values(t.vhosts ?? {}), ...Object.values(t.classes ?? {})].flat();
  const seg = segmentAt(second, { hits: all.length + (t.untimed ?? 0) });
  const counts = (parts?: Record<string, number[]>) => new Map(Object.entries(parts ?? {}).map(([k, v]) => [k, v.length]));
  seg.keys = packMaps({ sections: counts(t.sections), vhosts: counts(t.vhosts) });
  if (all.length > 0) seg.latency = sketchOf(all);
  if (t.sections) seg.sectionLatency = new Map(Object.entries(t.sections).map(([k, v]) => [k, sketchOf(v)]));
  if (t.vhosts) seg.vhostLatency = new Map(Object.entries(t.vhosts).map(([k, v]) => [k, sketchOf(v)]));
  if (t.classes) {
    seg.classLatency = [];
    for (const [c, v] of Object.entries(t.classes)) seg.classLatency[Number(c)] = sketchOf(v);
  }
  return seg;
}

/** `n` durations of `ms` each. */
const times = (n: number, ms: number) => Array.from({ length: n }, () => ms);
const exactQuantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;
const within1 = (got: number, want: number) => Math.abs(got - want) <= RELATIVE_ACCURACY * want + 1e-9;

describe('LatencyWindow', () => {
  type Op = { op: 'advance'; by: number } | { op: 'add'; offset: number; durations: number[] } | { op: 'query'; ahead: boolean };
  const duration = fc.oneof(
    fc.double({ min: 0.001, max: 60_000, noNaN: true }),
    fc.double({ min: 1, max: 2000, noNaN: true }),
    fc.constantFrom(0, 0.5, 250, 500, 501, 1000),
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), by: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), by: fc.integer({ min: 3, max: 25 }) }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), offset: fc.integer({ min: -2, max: 0 }), durations: fc.array(duration, { minLength: 1, maxLength: 30 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('add' as const), offset: fc.integer({ min: -14, max: 5 }), durations: fc.array(duration, { minLength: 1, maxLength: 30 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('query' as const), ahead: fc.boolean() }) },
  );

  test("as seconds come and expire, the window's quantiles are within 1 % of the exact quantiles of the durations in [second − W, second)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.array(op, { maxLength: 250 }), (W, ops) => {
        const window = new LatencyWindow(W);
        const accepted: [number, number[]][] = [];
        let now = START;
        let lastQuery = -Infinity;
        let addedAtNow = false;
        for (const o of ops) {
          if (o.op === 'advance') {
            now += o.by;
            if (o.by > 0) addedAtNow = false;
          } else if (o.op === 'add') {
            const at = Math.min(now + o.offset, now);
            const late = at < now + 1 - W;
            expect(window.add(now + o.offset, sketchOf(o.durations), now)).toBe(!late);
            if (!late) accepted.push([at, o.durations]);
            addedAtNow = true;
          } else {
            // As CountWindow's model: evaluations at now (before its lines) or now + 1, never back.
            const wanted = o.ahead || addedAtNow ? now + 1 : now;
            if (wanted < lastQuery) continue;
            lastQuery = wanted;
            const inside = accepted.filter(([s]) => s >= wanted - W && s < wanted).flatMap(([, d]) => d);
            const sketch = window.at(wanted);
            expect(sketch.count).toBe(inside.length);
            for (const q of [0.5, 0.9, 0.99]) {
              if (inside.length === 0) continue;
              const want = exactQuantile(inside, q);
              const got = sketch.quantile(q);
              if (!(within1(got, want) || (want <= 1e-6 && got === 0))) throw new Error(`q ${q}: ${got} for ${want}`);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('durations below 1 µs count as 1 µs and above 1 h as 1 h; zeros stay zeros', () => {
    const window = new LatencyWindow(10);
    window.add(START, sketchOf([0, 0.0000001, 0.0004, 5e9, 1e300]), START);
    const s = window.at(START + 1);
    expect(s.count).toBe(5);
    expect(s.quantile(0.1)).toBe(0); // 0 and 1e-7 (at or below 1 ns) are zeros
    expect(within1(s.quantile(0.5), LATENCY_FLOOR_MS)).toBe(true);
    expect(within1(s.quantile(0.9), LATENCY_CEILING_MS)).toBe(true);
  });

  test('a second in the window already (a timer that fired late) takes its durations too; a jump longer than the window empties it', () => {
    const window = new LatencyWindow(3);
    window.add(START, sketchOf([10, 10]), START);
    expect(window.at(START + 1).count).toBe(2);
    window.add(START, sketchOf([20]), START); // the evaluation of START + 1 ran before these lines of START
    expect(window.at(START + 1).count).toBe(3);
    expect(window.at(START + 3).count).toBe(3);
    expect(window.at(START + 4).count).toBe(0);
    expect(window.add(START, sketchOf([1]), START + 4)).toBe(false);
    window.add(START + 100, sketchOf([7]), START + 100);
    expect(window.at(START + 101).count).toBe(1);
    expect(window.held()).toBe(1);
  });

  test('a clock gone back: the seconds past it leave the window, the window is never older than it was', () => {
    const window = new LatencyWindow(5);
    for (let t = 0; t < 6; t++) window.add(START + t, sketchOf([t + 1]), START + t);
    expect(window.at(START + 6).count).toBe(5); // [1, 6)
    expect(window.at(START + 4).count).toBe(3); // [1, 4): 0 left for good
    expect(window.at(START + 6).count).toBe(5);
  });
});

describe('RuleWindow: latency rules', () => {
  const now = START + 100;
  const sampleOf = (yaml: string, ...segments: Segment[]) => {
    const r = windowOf(yaml);
    r.record(now, ...segments);
    return r.sample(now + 1);
  };

  test('over when the p99 of the timed hits is above the latency; value is the p99 (ms), hits the timed hits', () => {
    // 1,000 durations: p99 is the 990th (0-based), 600 ms; below it all are 100 ms.
    const slow = [...times(985, 100), ...times(15, 600)];
    const sample = sampleOf('{ name: slow, latency: 500ms, window: 10s }', timedAt(now, { all: slow }));
    expect(sample.over).toBe(true);
    expect(sample.clear).toBe(false);
    expect(sample.hits).toBe(1000);
    expect(within1(sample.value, 600)).toBe(true);
    const fast = sampleOf('{ name: slow, latency: 500ms, window: 10s }', timedAt(now, { all: [...times(995, 100), ...times(5, 600)] }));
    expect(fast).toMatchObject({ hits: 1000, over: false, clear: true });
    expect(within1(fast.value, 100)).toBe(true);
  });

  test('the quantile is the rule own: p50 of the same durations is not over', () => {
    const durations = [...times(60, 100), ...times(40, 900)];
    expect(sampleOf('{ name: s, latency: 500ms, quantile: 0.5, window: 10s }', timedAt(now, { all: durations })).over).toBe(false);
    expect(sampleOf('{ name: s, latency: 500ms, quantile: p90, window: 10s }', timedAt(now, { all: durations })).over).toBe(true);
  });

  test('untimed lines are not counted: hits are the timed ones, and a window of untimed lines is never over', () => {
    const seg = timedAt(now, { all: times(30, 900), untimed: 5000 });
    expect(sampleOf('{ name: s, latency: 500ms, window: 10s }', seg)).toMatchObject({ hits: 30, over: true });
    const untimed = segmentAt(now, { hits: 5000 });
    expect(sampleOf('{ name: s, latency: 500ms, window: 10s }', untimed)).toEqual({ hits: 0, value: 0, over: false, clear: true });
  });

  test('min_hits (default 20): with fewer timed hits, never over, and clear even when slow', () => {
    expect(sampleOf('{ name: s, latency: 500ms, window: 10s }', timedAt(now, { all: times(19, 900) }))).toMatchObject({ hits: 19, over: false, clear: true });
    expect(sampleOf('{ name: s, latency: 500ms, window: 10s }', timedAt(now, { all: times(20, 900) }))).toMatchObject({ hits: 20, over: true, clear: false });
    expect(sampleOf('{ name: s, latency: 500ms, min_hits: 3, window: 10s }', timedAt(now, { all: times(3, 900) })).over).toBe(true);
  });

  test('recover: clear only at or below it (hysteresis); without it, at or below the latency', () => {
    const at = (ms: number, yaml = '{ name: s, latency: 500ms, recover: 300ms, window: 10s }') => {
      const { over, clear } = sampleOf(yaml, timedAt(now, { all: times(50, ms) }));
      return { over, clear };
    };
    expect(at(600)).toEqual({ over: true, clear: false });
    expect(at(400)).toEqual({ over: false, clear: false });
    expect(at(290)).toEqual({ over: false, clear: true });
    expect(at(400, '{ name: s, latency: 500ms, window: 10s }')).toEqual({ over: false, clear: true });
  });

  test('match: a section, a virtual host or a status class takes only those durations', () => {
    const seg = timedAt(now, {
      all: [...times(50, 50), ...times(50, 900)],
      sections: { '/api': times(50, 900), '/static': times(50, 50) },
    });
    seg.vhostLatency = new Map([
      ['a.example', sketchOf(times(40, 900))],
      ['b.example', sketchOf(times(60, 50))],
    ]);
    seg.classLatency = [undefined, undefined, sketchOf(times(70, 50)), undefined, undefined, sketchOf(times(30, 900))];
    const of = (match: string) => {
      const { hits, over } = sampleOf(`{ name: s, latency: 500ms, window: 10s, match: ${match} }`, seg);
      return { hits, over };
    };
    expect(of('{ section: /api }')).toEqual({ hits: 50, over: true });
    expect(of('{ section: /static }')).toEqual({ hits: 50, over: false });
    expect(of('{ section: [/api, /static, /api] }')).toEqual({ hits: 100, over: true });
    expect(of('{ section: /nothing }')).toEqual({ hits: 0, over: false });
    expect(of('{ vhost: a.example }')).toEqual({ hits: 40, over: true });
    expect(of('{ vhost: b.example }')).toEqual({ hits: 60, over: false });
    expect(of('{ status: 5xx }')).toEqual({ hits: 30, over: true });
    expect(of('{ status: [2xx, 2XX] }')).toEqual({ hits: 70, over: false });
  });

  test('by vhost: a window a virtual host, each with its own p99; the check names the group and the quantile', () => {
    const r = windowOf('{ name: slow, latency: 500ms, window: 10s, by: vhost }');
    r.record(now, timedAt(now, { vhosts: { 'a.example': times(30, 900), 'b.example': times(30, 100) } }));
    expect(r.sample(now + 1, 'a.example')).toMatchObject({ hits: 30, over: true });
    expect(r.sample(now + 1, 'b.example')).toMatchObject({ hits: 30, over: false });
    expect(r.sample(now + 1, 'c.example')).toEqual({ hits: 0, value: 0, over: false, clear: true });
    // The quantile rides along (RuleCheck's type names only name, kind and group), for the alert to say.
    const checked: object = r.w.check('a.example').rule;
    expect(checked).toEqual({ name: 'slow', kind: 'latency', group: { by: 'vhost', key: 'a.example' }, quantile: 0.99 });
    const bySection = windowOf('{ name: slow, latency: 500ms, window: 10s, by: section }');
    bySection.record(now, timedAt(now, { sections: { '/api': times(25, 700) } }));
    expect(bySection.sample(now + 1, '/api')).toMatchObject({ hits: 25, over: true });
  });

  test('by vhost keeps at most `groups` windows: the busiest by timed hits, a held one never replaced', () => {
    const r = windowOf('{ name: slow, latency: 500ms, window: 10s, by: vhost, groups: 2 }');
    r.record(now, timedAt(now, { vhosts: { a: times(5, 10), b: times(3, 10) } }));
    r.record(now, timedAt(now, { vhosts: { c: times(3, 10) } }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'b']);
    r.record(now, timedAt(now, { vhosts: { c: times(4, 10) } }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'c']);
    r.w.hold('a', true);
    r.record(now, timedAt(now, { vhosts: { d: times(100, 10) } }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a', 'd']);
    const flood = windowOf('{ name: slow, latency: 500ms, window: 10s, by: vhost, groups: 10 }');
    const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`v${i}.example`, [i + 1]]));
    flood.record(now, timedAt(now, { vhosts: many }));
    expect(flood.w.groups.size).toBe(10);
    flood.w.forgetQuiet(now + 11);
    expect(flood.w.groups.size).toBe(0);
  });

  test('the window moves: durations leave W seconds after their second', () => {
    const r = windowOf('{ name: s, latency: 500ms, window: 5s }');
    r.record(now, timedAt(now, { all: times(30, 900) }));
    r.record(now + 2, timedAt(now + 2, { all: times(30, 100) }));
    expect(r.sample(now + 3)).toMatchObject({ hits: 60, over: true });
    expect(r.sample(now + 5)).toMatchObject({ hits: 60, over: true });
    expect(r.sample(now + 6)).toMatchObject({ hits: 30, over: false });
    expect(r.sample(now + 8)).toMatchObject({ hits: 0, over: false, clear: true });
  });
});

describe('RuleWindow: vhost for counting rules', () => {
  const now = START + 10;
  const vhosts = (counts: Record<string, number>) => {
    const seg = segmentAt(now, { hits: Object.values(counts).reduce((a, b) => a + b, 0) });
    seg.keys = packMaps({ vhosts: new Map(Object.entries(counts)), hosts: new Map([['a.example', 99]]) });
    return seg;
  };

  test('match: { vhost } takes the hits of that virtual host, not a client of the same name', () => {
    const r = windowOf('{ name: v, rate: 1, window: 10s, match: { vhost: a.example } }');
    r.record(now, vhosts({ 'a.example': 11, 'b.example': 50 }));
    expect(r.sample(now + 1)).toEqual({ hits: 11, value: 1.1, over: true, clear: false });
    const ratio = windowOf('{ name: v, ratio: 50%, window: 10s, match: { vhost: [b.example] } }');
    ratio.record(now, vhosts({ 'a.example': 11, 'b.example': 50 }));
    expect(ratio.sample(now + 1)).toMatchObject({ hits: 50, total: 61, over: true });
  });

  test('by: vhost makes a group a virtual host', () => {
    const r = windowOf('{ name: v, rate: 1, window: 10s, by: vhost }');
    r.record(now, vhosts({ 'a.example': 11, 'b.example': 3 }));
    expect([...r.w.groups.keys()].sort()).toEqual(['a.example', 'b.example']);
    expect(r.sample(now + 1, 'a.example')).toMatchObject({ hits: 11, over: true });
    expect(r.w.check('a.example').rule).toEqual({ name: 'v', kind: 'rate', group: { by: 'vhost', key: 'a.example' } });
  });
});

describe('RuleWindow: a latency window in memory', () => {
  function grown<T>(build: () => T): [number, T] {
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    const built = build();
    Bun.gc(true);
    return [process.memoryUsage().heapUsed - before, built];
  }

  test('20 vhosts over 2m, every second timed from 1 µs to 1 h (every bucket), take no more than ruleCost', () => {
    const r = rule('{ name: slow, latency: 500ms, window: 2m, by: vhost, groups: 20 }');
    // Every bucket of the range in one sketch: the most a second can hold.
    const every = new Sketch();
    for (let ms = LATENCY_FLOOR_MS; ms <= LATENCY_CEILING_MS; ms *= 1.01) every.add(ms);
    const [bytes, w] = grown(() => {
      const w = new RuleWindow(r, START * 1000);
      // Past a whole ring (122 seconds), every group sampled each second as the rule monitor does.
      for (let t = 0; t < 150; t++) {
        const seg = segmentAt(START + t, { hits: every.count * 20 });
        seg.vhostLatency = new Map(Array.from({ length: 20 }, (_, i) => [`v${i}`, every]));
        w.record([seg], START + t);
        for (let i = 0; i < 20; i++) w.sample(START + t + 1, `v${i}`);
      }
      return w;
    });
    expect(w.groups.size).toBe(20);
    expect(w.sample(START + 150, 'v0').hits).toBe(120 * every.count);
    expect(bytes).toBeLessThanOrEqual(ruleCost(r));
    // Most of it: 4 bytes a bucket a second (the instances, 8,192 bytes a group, are not made here).
    expect(bytes).toBeGreaterThan(20 * 121 * 4 * 1100);
    console.log(`20 × 2m latency windows, every bucket: ${(bytes / 1e6).toFixed(1)} MB of ${(ruleCost(r) / 1e6).toFixed(1)} MB`);
  });
});
