import { describe, expect, test } from 'bun:test';
import type { IntervalStats } from '../actors/messages';
import { Sketch } from '../lib/sketch';
import { msText } from '../lib/latency-text';
import {
  alertJson,
  alertMessage,
  bytesText,
  duration,
  isEmptyEnd,
  localIso,
  recoveryJson,
  recoveryMessage,
  statsJson,
  statsText,
} from '../actors/reporter';

const at = Date.UTC(2026, 0, 1, 0, 5, 31);
const alert = { at, hits: 1220, threshold: 10, window: 120 };

describe('reporter', () => {
  test('the alert line is exactly the required text, with local time and its offset', () => {
    expect(alertMessage(alert)).toBe(`High traffic generated an alert - hits = 1220, triggered at ${localIso(at)}`);
    expect(localIso(at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    expect(new Date(localIso(at)).getTime()).toBe(at);
  });

  test('the recovery line says when and how long the alert lasted', () => {
    const recovery = { ...alert, at: at + 259_000, hits: 1200, since: at };
    expect(recoveryMessage(recovery)).toBe(
      `High traffic alert recovered - hits = 1200, recovered at ${localIso(at + 259_000)} (alert lasted 4m 19s)`,
    );
    const json = JSON.parse(recoveryJson(recovery));
    expect(json).toMatchObject({ type: 'recovered', hits: 1200, average: 10, duration: 259, window: 120 });
    expect(json.at).toBe('2026-01-01T00:09:50.000Z');
    expect(json.message).toBe(recoveryMessage(recovery));
  });

  test('alert JSON carries the average and the exact message', () => {
    const json = JSON.parse(alertJson(alert));
    expect(json).toEqual({
      type: 'alert',
      at: '2026-01-01T00:05:31.000Z',
      hits: 1220,
      average: 1220 / 120,
      threshold: 10,
      window: 120,
      message: alertMessage(alert),
    });
  });

  test('durations and byte counts read naturally', () => {
    expect(duration(45)).toBe('45s');
    expect(duration(259)).toBe('4m 19s');
    expect(duration(3720)).toBe('1h 02m 00s');
    expect(bytesText(999)).toBe('999 B');
    expect(bytesText(1_500_000)).toBe('1.5 MB');
  });

  const stats: IntervalStats = {
    start: at,
    end: at + 10_000,
    hits: 25,
    invalid: 2,
    late: 1,
    sections: [['/api', 20], ['/pages', 5]],
    users: [['ann', 3]],
    hosts: [['10.0.0.1', 25]],
    methods: [['GET', 25]],
    vhosts: [],
    status: { '1xx': 0, '2xx': 20, '3xx': 0, '4xx': 5, '5xx': 0, other: 0 },
    bytes: 1234,
    approximate: [],
    unique: { hosts: 3, users: 1, sections: 2 },
    final: false,
  };

  test('stats text shows rate, sections, status classes, invalid and late lines', () => {
    const text = statsText(stats);
    expect(text).toContain('25 hits, 2.5 req/s, 1.2 kB, 2 invalid, 1 late');
    expect(text).toContain('sections  /api 20 · /pages 5');
    expect(text).toContain('2xx 20 · 3xx 0 · 4xx 5 · 5xx 0');
    expect(text).not.toContain('partial');
    expect(statsText({ ...stats, final: true })).toContain('(partial)');
    expect(text).not.toContain('≈');
    expect(statsText({ ...stats, approximate: ['hosts'] })).toContain('  hosts    ≈ 10.0.0.1 25');
  });

  test("the fleet's centre names its agents, the silent ones apart; other runs print no such line or field", () => {
    const agents = { reporting: ['web-1', 'web-3'], silent: ['web-2'] };
    expect(statsText({ ...stats, agents }).split('\n').at(-1)).toBe('  agents    web-1 · web-3 · silent: web-2');
    expect(JSON.parse(statsJson({ ...stats, agents })).agents).toEqual(agents);
    expect(statsText(stats)).not.toContain('agents');
    expect(statsJson(stats)).not.toContain('agents');
    // The unique counts, marked as estimates in both forms.
    expect(JSON.parse(statsJson(stats)).unique).toEqual({ hosts: 3, users: 1, sections: 2, estimated: true });
    expect(statsText(stats).split('\n')[1]).toBe('  unique    3 hosts · 1 users · 2 sections (estimated)');
  });

  test('an empty final interval of no length is left out of the text but kept in NDJSON', () => {
    const end = { ...stats, start: at, end: at, hits: 0, invalid: 0, final: true };
    expect(isEmptyEnd(end)).toBe(true);
    expect(isEmptyEnd({ ...end, final: false })).toBe(false);
    expect(isEmptyEnd({ ...end, invalid: 1 })).toBe(false);
  });

  test('stats JSON has the documented fields', () => {
    const json = JSON.parse(statsJson(stats));
    expect(json).toMatchObject({
      type: 'stats',
      start: '2026-01-01T00:05:31.000Z',
      end: '2026-01-01T00:05:41.000Z',
      hits: 25,
      invalid: 2,
      late: 1,
      rps: 2.5,
      sections: [{ section: '/api', hits: 20 }, { section: '/pages', hits: 5 }],
      status: { '2xx': 20, '4xx': 5 },
      bytes: 1234,
      final: false,
    });
  });
});

describe('reporter: latency and virtual hosts, when the log has them', () => {
  const clf: IntervalStats = {
    start: at,
    end: at + 10_000,
    hits: 25,
    invalid: 2,
    late: 1,
    sections: [['/api', 20], ['/pages', 5]],
    users: [['ann', 3]],
    hosts: [['10.0.0.1', 25]],
    methods: [['GET', 25]],
    vhosts: [],
    status: { '1xx': 0, '2xx': 20, '3xx': 0, '4xx': 5, '5xx': 0, other: 0 },
    bytes: 1234,
    approximate: [],
    unique: { hosts: 3, users: 1, sections: 2 },
    final: false,
  };
  /** 25 durations from 0.4 ms to 1.2 s, and the sketch a scanner would have made of them. */
  const durations = Array.from({ length: 25 }, (_, k) => (k === 24 ? 1234 : 0.4 + k * k * 0.9));
  const sketch = new Sketch();
  for (const d of durations) sketch.add(d);
  const api = new Sketch();
  for (const d of durations.slice(0, 20)) api.add(d * 2);
  const timed: IntervalStats = {
    ...clf,
    vhosts: [['shop.example', 15], ['api.example', 10]],
    latency: sketch.summary()!,
    upstream: { count: 20, p50: 3.25, p90: 30.5, p99: 170.25, max: 180 },
    sectionLatency: [['/api', api.summary()!]],
  };

  test('a CLF interval prints exactly what it always did: no latency, upstream or vhosts line or key', () => {
    const lines = statsText(clf).split('\n');
    expect(lines.slice(1)).toEqual([
      '  unique    3 hosts · 1 users · 2 sections (estimated)',
      '  sections  /api 20 · /pages 5',
      '  status    2xx 20 · 3xx 0 · 4xx 5 · 5xx 0',
      '  methods   GET 25',
      '  users     ann 3',
      '  hosts     10.0.0.1 25',
    ]);
    expect(statsJson(clf)).toBe(
      '{"type":"stats","start":"2026-01-01T00:05:31.000Z","end":"2026-01-01T00:05:41.000Z","hits":25,"invalid":2,"late":1,"rps":2.5,' +
        '"sections":[{"section":"/api","hits":20},{"section":"/pages","hits":5}],"status":{"1xx":0,"2xx":20,"3xx":0,"4xx":5,"5xx":0,"other":0},' +
        '"bytes":1234,"users":[{"user":"ann","hits":3}],"hosts":[{"host":"10.0.0.1","hits":25}],"methods":[{"method":"GET","hits":25}],' +
        '"approximate":[],"unique":{"hosts":3,"users":1,"sections":2,"estimated":true},"final":false}',
    );
  });

  test("a timed interval: the latency and upstream lines after the tables, the sketch's own quantiles, and a vhosts row", () => {
    const lines = statsText(timed).split('\n');
    expect(lines.slice(6)).toEqual([
      '  hosts     10.0.0.1 25',
      '  vhosts    shop.example 15 · api.example 10',
      `  latency   p50 ${msText(sketch.quantile(0.5))} · p90 ${msText(sketch.quantile(0.9))} · p99 ${msText(sketch.quantile(0.99))} · max 1.2 s`,
      '  upstream  p50 3.3 ms · p90 31 ms · p99 170 ms · max 180 ms · 20 of 25 timed',
    ]);
    // p99 of 25 values is the 24th smallest (rank ⌊0.99 × 24⌋ = 23): 0.4 + 23² × 0.9 = 476.5 ms, within 1 %.
    expect(Math.abs(sketch.quantile(0.99) - 476.5) / 476.5).toBeLessThanOrEqual(0.01);
  });

  test("each timed section shows its own p99 where the sections are listed; an untimed one shows its count only", () => {
    const row = statsText(timed).split('\n')[2];
    expect(row).toBe(`  sections  /api 20 (p99 ${msText(api.quantile(0.99))}) · /pages 5`);
    expect(api.quantile(0.99)).not.toBe(sketch.quantile(0.99));
  });

  test('NDJSON: latency and upstream in ms to 3 decimals, vhosts like the other tables, a section its own latency', () => {
    const json = JSON.parse(statsJson(timed));
    const ms3 = (x: number) => Math.round(x * 1000) / 1000;
    expect(json.latency).toEqual({
      count: 25,
      p50: ms3(sketch.quantile(0.5)),
      p90: ms3(sketch.quantile(0.9)),
      p99: ms3(sketch.quantile(0.99)),
      max: 1234,
    });
    expect(json.upstream).toEqual({ count: 20, p50: 3.25, p90: 30.5, p99: 170.25, max: 180 });
    expect(json.vhosts).toEqual([{ vhost: 'shop.example', hits: 15 }, { vhost: 'api.example', hits: 10 }]);
    expect(json.sections).toEqual([
      { section: '/api', hits: 20, latency: { count: 20, p50: ms3(api.quantile(0.5)), p90: ms3(api.quantile(0.9)), p99: ms3(api.quantile(0.99)), max: ms3(api.max) } },
      { section: '/pages', hits: 5 },
    ]);
    // Each key only when the interval had it.
    const noUpstream = JSON.parse(statsJson({ ...timed, upstream: undefined, vhosts: [] }));
    expect(Object.keys(noUpstream)).not.toContain('upstream');
    expect(Object.keys(noUpstream)).not.toContain('vhosts');
    expect(noUpstream.latency.count).toBe(25);
    expect(statsText({ ...timed, upstream: undefined })).not.toContain('upstream');
  });

  test('a virtual host from the log prints escaped in the text, as it is in NDJSON', () => {
    const hostile = { ...clf, vhosts: [['\x1b[2Jevil.example', 3]] as [string, number][] };
    expect(statsText(hostile)).toContain('  vhosts    \\x1b[2Jevil.example 3');
    expect(statsText(hostile)).not.toContain('\x1b');
    expect(JSON.parse(statsJson(hostile)).vhosts[0].vhost).toBe('\x1b[2Jevil.example');
    const section = { ...timed, sections: [['/\x1b]0;x\x07', 20]] as [string, number][], sectionLatency: [['/\x1b]0;x\x07', api.summary()!]] as IntervalStats['sectionLatency'] };
    expect(statsText(section).split('\n')[2]).toStartWith('  sections  /\\x1b]0;x\\x07 20 (p99 ');
  });

  test('an approximate vhosts table is marked as the others are', () => {
    expect(statsText({ ...timed, approximate: ['vhosts'] })).toContain('  vhosts   ≈ shop.example 15');
  });
});

describe('reporter: what comes from the log, a rules file or an agent prints without its control characters', () => {
  const ESC = '\x1b';
  const hostile: IntervalStats = {
    start: at,
    end: at + 10_000,
    hits: 4,
    invalid: 0,
    late: 0,
    sections: [[`/${ESC}[2J`, 2], ['/ok', 2]],
    users: [[`${ESC}]0;pwned\x07`, 1]],
    hosts: [[`${ESC}[31mhost`, 1]],
    methods: [['G\u009bET', 1]],
    vhosts: [],
    status: { '1xx': 0, '2xx': 4, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 },
    bytes: 40,
    approximate: [],
    unique: { hosts: 1, users: 1, sections: 2 },
    agents: { reporting: [`web${ESC}[H`], silent: [`old\r`] },
    final: false,
  };

  test('a stats block shows each key and agent name escaped, and holds no raw control', () => {
    const text = statsText(hostile);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('sections  /\\x1b[2J 2 · /ok 2');
    expect(text).toContain('users     \\x1b]0;pwned\\x07 1');
    expect(text).toContain('hosts     \\x1b[31mhost 1');
    expect(text).toContain('methods   G\\x9bET 1');
    expect(text).toContain('agents    web\\x1b[H · silent: old\\x0d');
    // NDJSON keeps the keys as they are (JSON escapes them its own way).
    expect(JSON.parse(statsJson(hostile)).sections[0].section).toBe(`/${ESC}[2J`);
  });

  test("a rule's name (the rules file's) and its group (the log's) print escaped in the alert and recovery lines", () => {
    const rule = { name: `api${ESC}[2J`, kind: 'rate' as const, group: { by: 'user' as const, key: `${ESC}]0;x\x07` }, value: 25 };
    const fired = alertMessage({ at, hits: 3000, threshold: 20, window: 120, rule });
    expect(fired).toStartWith('Rule "api\\x1b[2J" (user \\x1b]0;x\\x07) fired - rate = 25 req/s > 20');
    expect(fired).not.toContain(ESC);
    const over = recoveryMessage({ at: at + 60_000, since: at, hits: 100, threshold: 20, window: 120, rule });
    expect(over).toStartWith('Rule "api\\x1b[2J" (user \\x1b]0;x\\x07) recovered');
    expect(over).not.toContain(ESC);
    // The NDJSON record keeps the rule and group as they are, its message as printed.
    const json = JSON.parse(alertJson({ at, hits: 3000, threshold: 20, window: 120, rule }));
    expect(json.rule).toBe(rule.name);
    expect(json.group.key).toBe(rule.group.key);
    expect(json.message).toBe(fired);
  });
});

describe('reporter: a latency rule', () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0);
  const rule = (value: number) => ({ name: 'slow', kind: 'latency' as const, quantile: 0.99, value, group: { by: 'vhost' as const, key: 'shop.example' } });

  test('fires and recovers with its quantile, in ms, and the timed hits', () => {
    expect(alertMessage({ at, hits: 750, threshold: 500, window: 30, rule: rule(699.43) })).toStartWith(
      'Rule "slow" (vhost shop.example) fired - p99 = 699.4 ms > 500 ms over 30 s (750 timed hits), triggered at ',
    );
    expect(recoveryMessage({ at, since: at - 60_000, hits: 750, threshold: 500, window: 30, rule: rule(79.1) })).toContain('p99 = 79.1 ms ≤ 500 ms over 30 s (750 timed hits)');
    const json = JSON.parse(alertJson({ at, hits: 750, threshold: 500, window: 30, rule: rule(699.43) }));
    expect(json).toMatchObject({ kind: 'latency', quantile: 0.99, value: 699.43, threshold: 500, hits: 750 });
  });

  test('a recovery for too few timed hits says so, never a false "≤"', () => {
    const few = recoveryMessage({ at, since: at - 60_000, hits: 3, threshold: 500, window: 30, rule: rule(900) });
    expect(few).toContain('p99 = 900 ms over 30 s (3 timed hits), too few timed hits to judge');
    expect(few).not.toContain('≤');
    expect(recoveryMessage({ at, since: at - 60_000, hits: 0, threshold: 500, window: 30, rule: rule(0) })).toContain('no timed hits over 30 s');
  });
});
