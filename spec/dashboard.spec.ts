import { describe, expect, test } from 'bun:test';
import stringWidth from 'string-width';
import { bar, type DashboardSnapshot, renderDashboard, sparkline } from '../actors/dashboard';
import { scrollback } from '../actors/dashboard-reporter';
import type { IntervalStats } from '../actors/messages';
import { msText } from '../lib/latency-text';
import { Sketch } from '../lib/sketch';

const T = Date.UTC(2026, 0, 1, 12, 0, 0);

const last: IntervalStats = {
  start: T - 10_000,
  end: T,
  hits: 250,
  invalid: 3,
  late: 1,
  sections: [['/api', 93], ['/pages', 47], ['/report', 28]],
  users: [['alice', 11]],
  hosts: [['127.0.0.1', 64], ['10.0.0.12', 46]],
  methods: [['GET', 210], ['POST', 21]],
  vhosts: [],
  status: { '1xx': 0, '2xx': 194, '3xx': 25, '4xx': 28, '5xx': 3, other: 0 },
  bytes: 1_800_000,
  approximate: [],
  unique: { hosts: 3, users: 2, sections: 4 },
  final: false,
};

function snapshot(over: Partial<DashboardSnapshot> = {}): DashboardSnapshot {
  return {
    files: ['/tmp/access.log'],
    now: T,
    wallStartedAt: T - 125_000,
    wallNow: T,
    threshold: 10,
    windowSeconds: 120,
    windowHits: 1476,
    series: Array.from({ length: 120 }, (_, i) => (i < 60 ? 5 : 20)),
    state: 'alerting',
    since: T - 30_000,
    last,
    history: [
      { type: 'alert', at: T - 30_000, message: 'High traffic generated an alert - hits = 1201, triggered at 2026-01-01T11:59:30+00:00' },
      { type: 'recovered', at: T - 100_000, message: 'High traffic alert recovered - hits = 1200, recovered at 2026-01-01T11:58:20+00:00 (alert lasted 1m 00s)' },
      { type: 'alert', at: T - 160_000, message: 'High traffic generated an alert - hits = 1300, triggered at 2026-01-01T11:57:20+00:00' },
    ],
    notice: null,
    paused: false,
    color: false,
    ...over,
  };
}

describe('dashboard', () => {
  test('shows the file, the alert state, the average against the threshold, the last interval and the history', () => {
    const text = renderDashboard(snapshot(), 120, 40).join('\n');
    expect(text).toContain('/tmp/access.log');
    expect(text).toContain('up 2m 05s');
    expect(text).toContain('HIGH TRAFFIC ALERT since');
    expect(text).toContain('(30s)');
    expect(text).toContain('window average 12.30 req/s · threshold 10 req/s');
    expect(text).toContain('123% of threshold (1476 hits in 120 s)');
    expect(text).toContain('Sections /api 93 · /pages 47 · /report 28');
    expect(text).toContain('invalid 3 · late 1');
    expect(text).toContain('alert history (3)');
    // newest first
    const first = text.indexOf('hits = 1201');
    const second = text.indexOf('recovered - hits = 1200');
    const third = text.indexOf('hits = 1300');
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(second);
    expect(second).toBeLessThan(third);
  });

  test("the rules' alerts going on are listed under the traffic, and a short screen says how many more", () => {
    const active = ['6.6.6.6', '7.7.7.7', '8.8.8.8'].map((host, i) => ({
      type: 'alert' as const,
      at: T - 1000 * i,
      message: `Rule "one-client" (host ${host}) fired - rate = 4 req/s > 3 over 20 s (80 hits), triggered at 2026-01-01T11:59:5${i}+00:00`,
    }));
    const tall = renderDashboard(snapshot({ active }), 200, 40).join('\n');
    expect(tall).toContain('rule alerts going on (3)');
    for (const host of ['6.6.6.6', '7.7.7.7', '8.8.8.8']) expect(tall).toContain(`● Rule "one-client" (host ${host}) fired`);
    const short = renderDashboard(snapshot({ active }), 200, 17);
    expect(short.join('\n')).toContain('… and 2 more');
    expect(short.length).toBeLessThanOrEqual(17);
    expect(renderDashboard(snapshot({ active: [] }), 200, 40).join('\n')).not.toContain('rule alerts going on');
  });

  test("'up' is the process's wall-clock age, not the event clock's: the centre's starts minutes back, at its history", () => {
    // The centre 9 s after its start, its simulated clock at the newest message (T) of a history
    // that began 53 s before that.
    const W = Date.UTC(2026, 0, 2, 8, 0, 0);
    const head = renderDashboard(snapshot({ now: T, wallStartedAt: W, wallNow: W + 9_000 }), 120, 40)[0]!;
    expect(head).toContain('· up 9s');
    expect(head).not.toContain('up 53s');
  });

  test('normal state and no alerts yet', () => {
    const text = renderDashboard(snapshot({ state: 'normal', since: null, history: [], last: null }), 100, 30).join('\n');
    expect(text).toContain('● normal');
    expect(text).not.toContain('HIGH TRAFFIC');
    expect(text).toContain('no alerts yet');
    expect(text).toContain('waiting for the first interval');
  });

  for (const [width, height] of [[120, 40], [80, 24], [50, 14], [30, 8]] as const) {
    test(`fits ${width}×${height}: no line wider, no more lines`, () => {
      const lines = renderDashboard(snapshot({ color: true }), width, height);
      expect(lines.length).toBeLessThanOrEqual(height);
      for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(width);
    });
  }

  test('a short screen keeps the newest alerts and the keys line', () => {
    const lines = renderDashboard(snapshot(), 120, 16);
    const text = lines.join('\n');
    expect(text).toContain('hits = 1201');
    expect(text).not.toContain('hits = 1300');
    expect(lines.at(-1)).toContain('q quit · p pause');
  });

  test('colours only when asked', () => {
    expect(renderDashboard(snapshot({ color: false }), 100, 30).join('')).not.toContain('\x1b[');
    expect(renderDashboard(snapshot({ color: true }), 100, 30).join('')).toContain('\x1b[31m');
  });

  test('paused, approximate tables and a notice are said', () => {
    const text = renderDashboard(
      snapshot({ paused: true, last: { ...last, approximate: ['hosts'] }, notice: 'waiting for /tmp/b.log to appear' }),
      120,
      40,
    ).join('\n');
    expect(text).toContain('(paused)');
    expect(text).toContain('Hosts    ≈ 127.0.0.1 64');
    expect(text).toContain('waiting for /tmp/b.log to appear');
  });

  test('on the way out: the alerts and recoveries oldest first, then the last interval that had traffic, as the plain output prints it', () => {
    const history = snapshot().history;
    const lines = scrollback(history, { ...last, start: T - 2_000, end: T - 1_000 }, T - 125_000);
    expect(lines.slice(0, 3)).toEqual(history.map((h) => h.message).reverse());
    expect(lines).toHaveLength(4);
    const [head, unique] = lines[3]!.split('\n');
    expect(head).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d → \d\d:\d\d:\d\d[+-]\d\d:\d\d  250 hits, 250\.0 req\/s, /);
    expect(head).not.toContain('(partial)');
    expect(unique).toBe('  unique    3 hosts · 2 users · 4 sections (estimated)');
  });

  test('on the way out with no traffic at all: one line says so, since when (ISO-8601)', () => {
    const lines = scrollback([], null, T - 125_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^no traffic in any interval since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
  });

  test('sparkline scales to the largest value and shrinks by summing neighbours', () => {
    expect(sparkline([0, 1, 2, 4, 8], 5)).toBe(' ▁▂▄█');
    expect(sparkline([1, 1, 1, 1, 4, 4], 3)).toBe('▂▂█');
    expect(sparkline([0, 0], 2)).toBe('  ');
    // Below the reference (the threshold), bars are drawn against it: a quiet log stays low.
    expect(sparkline([2, 2, 2], 3, 10)).toBe('▂▂▂');
    expect(sparkline([5, 10, 20], 3, 10)).toBe('▂▄█');
  });

  test('bar fills to the ratio and stops at full', () => {
    expect(bar(0.5, 12)).toBe('[█████░░░░░]');
    expect(bar(3, 6)).toBe('[████]');
    expect(bar(0, 4)).toBe('[░░]');
  });
});

describe('dashboard: latency and virtual hosts', () => {
  const sketchOf = (values: number[]) => {
    const sk = new Sketch();
    for (const v of values) sk.add(v);
    return sk;
  };
  const all = sketchOf(Array.from({ length: 250 }, (_, k) => 0.5 + (k * k) / 40));
  const api = sketchOf(Array.from({ length: 93 }, (_, k) => 20 + k * 3));
  const timed: IntervalStats = {
    ...last,
    vhosts: [['shop.example', 200], ['api.example', 50]],
    latency: all.summary()!,
    upstream: { count: 93, p50: 4.2, p90: 40, p99: 230, max: 1500 },
    sectionLatency: [['/api', api.summary()!]],
  };
  /** The last interval's lines, between its rule and the next. */
  const block = (l: IntervalStats) => {
    const lines = renderDashboard(snapshot({ last: l }), 200, 40);
    const from = lines.findIndex((x) => x.startsWith('─ last interval'));
    const to = lines.findIndex((x, i) => i > from && x.startsWith('─ '));
    return lines.slice(from + 1, to);
  };

  test("a CLF interval's block is what it always was: no latency, upstream or vhosts line, no p99", () => {
    expect(block(last).map((x) => x.slice(0, 9))).toEqual(['Hits     ', 'Unique   ', 'Status   ', 'Sections ', 'Methods  ', 'Users    ', 'Hosts    ']);
    expect(block(last).join('\n')).not.toContain('p99');
  });

  test("a timed interval: latency and upstream under the status, each timed section's own p99, and the vhosts", () => {
    const lines = block(timed);
    expect(lines.map((x) => x.slice(0, 9))).toEqual(['Hits     ', 'Unique   ', 'Status   ', 'Latency  ', 'Upstream ', 'Sections ', 'Methods  ', 'Users    ', 'Hosts    ', 'Vhosts   ']);
    expect(lines[3]).toBe(`Latency  p50 ${msText(all.quantile(0.5))} · p90 ${msText(all.quantile(0.9))} · p99 ${msText(all.quantile(0.99))} · max ${msText(all.max)}`);
    expect(lines[4]).toBe('Upstream p50 4.2 ms · p90 40 ms · p99 230 ms · max 1.5 s · 93 of 250 timed');
    expect(lines[5]).toBe(`Sections /api 93 (p99 ${msText(api.quantile(0.99))}) · /pages 47 · /report 28`);
    expect(api.quantile(0.99)).not.toBe(all.quantile(0.99));
    expect(lines[9]).toBe('Vhosts   shop.example 200 · api.example 50');
  });

  for (const [width, height] of [[80, 24], [40, 12]] as const) {
    test(`with latency, still fits ${width}×${height}`, () => {
      const lines = renderDashboard(snapshot({ last: timed, color: true }), width, height);
      expect(lines.length).toBeLessThanOrEqual(height);
      for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(width);
    });
  }

  test('a virtual host from the log is drawn escaped; an approximate vhosts table is marked', () => {
    const text = renderDashboard(snapshot({ last: { ...timed, vhosts: [['\x1b[2Jx.example', 4]], approximate: ['vhosts'] } }), 200, 40).join('\n');
    expect(text).toContain('Vhosts   ≈ \\x1b[2Jx.example 4');
    expect(text).not.toContain('\x1b');
  });

  test('on the way out, the last interval with traffic keeps its latency lines (as the plain output prints it)', () => {
    const lines = scrollback([], timed, T - 125_000);
    expect(lines[0]).toContain(`  latency   p50 ${msText(all.quantile(0.5))}`);
    expect(lines[0]).toContain('  upstream  p50 4.2 ms');
  });
});

describe('dashboard: text from outside', () => {
  const ESC = '\x1b';
  const hostile = snapshot({
    files: [`/tmp/${ESC}[2J.log`],
    last: {
      ...last,
      sections: [[`/${ESC}[2J`, 9], ['/api', 3]],
      users: [[`${ESC}]0;pwned\x07`, 2]],
      hosts: [[`${ESC}[31mhost`, 1]],
      methods: [['G\u009bET', 1]],
    },
    active: [{ type: 'alert', at: T, message: `Rule "r" (user ${ESC}[H) fired` }],
    history: [{ type: 'alert', at: T, message: `Rule "r" (user ${ESC}[H) fired` }],
    notice: `agent web${ESC}[2K-1 is reporting`,
  });

  test('keys, file names, alert lines and the notice are drawn escaped: no control reaches the screen', () => {
    const lines = renderDashboard(hostile, 200, 60);
    const text = lines.join('\n');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('/tmp/\\x1b[2J.log');
    expect(text).toContain('Sections /\\x1b[2J 9 · /api 3');
    expect(text).toContain('Users    \\x1b]0;pwned\\x07 2');
    expect(text).toContain('Hosts    \\x1b[31mhost 1');
    expect(text).toContain('Methods  G\\x9bET 1');
    expect(text).toContain('● Rule "r" (user \\x1b[H) fired');
    expect(text).toContain('agent web\\x1b[2K-1 is reporting');
  });

  test('in colour, the only escapes are the colours: SGR sequences, none from the data', () => {
    const text = renderDashboard({ ...hostile, color: true }, 200, 60).join('\n');
    // Every ESC starts a colour (CSI … m); the data's `[2J`, `]0;`, `[H` and `[31m` come escaped.
    expect(text.replace(/\x1b\[[0-9;]*m/g, '')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('\\x1b[31mhost');
  });
});

describe('the dashboard reporter at a restarted fleet centre', () => {
  test('it shows no alert or recovery printed before the restart, and the centre is told of each interval it shows', async () => {
    const { createActor } = await import('xstate');
    const { dashboardReporter } = await import('../actors/dashboard-reporter');
    const out: string[] = [];
    const printed: [string, number][] = [];
    const t = Date.UTC(2026, 0, 1, 12);
    const actor = createActor(dashboardReporter, {
      input: {
        json: false,
        out: (l) => out.push(l),
        err: () => {},
        printed: (type, at) => void printed.push([type, at]),
        dashboard: { files: ['nats://127.0.0.1:4222'], threshold: 10, windowSeconds: 120, startedAt: t, now: () => t, color: false, write: () => {}, size: () => ({ columns: 100, rows: 30 }) },
      },
    });
    actor.start();
    const alert = (at: number) => ({ at, hits: 1300, average: 10.8, threshold: 10, window: 120 });
    actor.send({ type: 'mute', on: true, printedUntil: t + 5_000 });
    actor.send({ type: 'alert', alert: alert(t + 5_000) }); // printed by the run before the restart
    actor.send({ type: 'mute', on: false });
    actor.send({ type: 'stats', stats: { ...last, start: t, end: t + 10_000 } });
    actor.send({ type: 'recovered', recovery: { ...alert(t + 20_000), since: t + 5_000 } });
    actor.stop();
    expect(printed.map(([type]) => type)).toEqual(['stats', 'recovered']);
    expect(out.filter((l) => l.startsWith('High traffic'))).toEqual([expect.stringContaining('recovered')]);
  });
});

describe('the dashboard reporter over a long run', () => {
  test('it keeps the last HISTORY_LIMIT alerts and recoveries, and says on the way out how many it let go', async () => {
    const { createActor } = await import('xstate');
    const { dashboardReporter, HISTORY_LIMIT } = await import('../actors/dashboard-reporter');
    const out: string[] = [];
    const t = Date.UTC(2026, 0, 1, 12);
    const actor = createActor(dashboardReporter, {
      input: {
        json: false,
        out: (l) => out.push(l),
        err: () => {},
        dashboard: { files: ['/tmp/a.log'], threshold: 10, windowSeconds: 120, startedAt: t, now: () => t, color: false, write: () => {}, size: () => ({ columns: 100, rows: 30 }) },
      },
    });
    actor.start();
    const alert = (at: number) => ({ at, hits: 1300, average: 10.8, threshold: 10, window: 120 });
    const flaps = HISTORY_LIMIT + 100;
    for (let i = 0; i < flaps; i++) {
      actor.send({ type: 'alert', alert: alert(t + i * 2_000) });
      actor.send({ type: 'recovered', recovery: { ...alert(t + i * 2_000 + 1_000), since: t + i * 2_000 } });
    }
    actor.stop();
    const kept = out.filter((l) => l.startsWith('High traffic'));
    expect(kept).toHaveLength(HISTORY_LIMIT);
    expect(out[0]).toBe(`(${2 * flaps - HISTORY_LIMIT} earlier alerts and recoveries not kept: the dashboard keeps the last ${HISTORY_LIMIT})`);
    expect(kept.at(-1)).toContain('recovered');
  });
});
