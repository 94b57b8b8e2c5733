/**
 * End-to-end tests of the CLI as a process: `bun entry.ts ...` spawned with TZ=UTC, in temp
 * directories. Replays are deterministic (the log's own timestamps are the clock); the live
 * tests run the real follow mode on the wall clock and wait for its output with deadlines.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineReader } from './support/line-reader';
import { entryProcesses, exitWithin, type StatsRecord } from './support/monitor-process';

const FIXTURES = path.join(import.meta.dir, 'fixtures/entry');

const MONITOR_USAGE = 'usage: bun run entry.ts [-f FILE]';
const GENERATE_USAGE = 'usage: bun run entry.ts generate';
/** What a crash would print: a JS stack frame or Bun's source excerpt. */
const STACK = /^\s+at |\n\s+at |error: .*\n\s*\d+ \||\^\n/;

// ---------------------------------------------------------------------------------------------
// Processes

// Every process this file starts is killed at the end of its test, passed or failed.
const { spawn, run } = entryProcesses();

const linesOf = (text: string) => text.split('\n').filter((l) => l !== '');

/** A long-running monitor whose stdout and stderr are read as they come. */
function live(args: string[]) {
  const proc = spawn(args);
  const err = new LineReader(proc.stderr);
  const out = new LineReader(proc.stdout, () => `\nstderr:\n${err.lines.join('\n')}`);
  return {
    proc,
    out,
    err,
    /**
     * Sends `signal` well inside a stats interval (-s 1): after the next interval closes, plus
     * 300 ms, so that the final interval it checks has a length (a stop in the very millisecond
     * an interval closes gives a final record of no length). The pause places the signal; it
     * asserts nothing.
     */
    async signalMidInterval(signal: 'SIGINT' | 'SIGTERM') {
      const seen = out.lines.length;
      await out.waitFor('the next stats line', 5_000, (ls) =>
        ls.slice(seen).some((l) => l.startsWith('{"type":"stats"')),
      );
      await Bun.sleep(300);
      proc.kill(signal);
    },
  };
}


// ---------------------------------------------------------------------------------------------
// Output records

interface Stats extends StatsRecord {
  late: number;
  bytes: number;
  status: Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'other', number>;
  methods: { method: string; hits: number }[];
}
interface Alert {
  type: 'alert';
  at: string;
  hits: number;
  average: number;
  threshold: number;
  window: number;
  message: string;
}
interface Recovered extends Omit<Alert, 'type'> {
  type: 'recovered';
  since: string;
  duration: number;
}
type Record_ = Stats | Alert | Recovered;

const parseAll = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record_);
const statsOf = (records: Record_[]) => records.filter((r): r is Stats => r.type === 'stats');
const alertsOf = (records: Record_[]) => records.filter((r): r is Alert => r.type === 'alert');
const recoveriesOf = (records: Record_[]) => records.filter((r): r is Recovered => r.type === 'recovered');
const sumHits = (stats: Stats[]) => stats.reduce((n, s) => n + s.hits, 0);
/** JSON lines parsed leniently, for a stream still being written. */
const jsonLines = (lines: string[]) =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record_];
    } catch {
      return [];
    }
  });

const iso = (unixSecond: number) => new Date(unixSecond * 1000).toISOString();
const T0 = Date.UTC(2026, 0, 1) / 1000; // 2026-01-01T00:00:00Z

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** A CLF line stamped at `unixSecond` (UTC). */
function clf(unixSecond: number, i = 0, section = '/api'): string {
  const d = new Date(unixSecond * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const ts =
    `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  return `10.0.0.${i % 250} - - [${ts}] "GET ${section}/item/${i} HTTP/1.1" 200 ${100 + i}`;
}

/** A live run's stats (-s 1): contiguous intervals, the last and only final one cut short by the stop. */
function expectEndsWithFinal(stats: Stats[]) {
  expect(stats.length).toBeGreaterThan(1);
  expect(stats.filter((s) => s.final)).toHaveLength(1);
  const last = stats.at(-1)!;
  expect(last.final).toBe(true);
  const span = Date.parse(last.end) - Date.parse(last.start);
  expect(span).toBeGreaterThan(0);
  expect(span).toBeLessThan(1100);
  for (let i = 1; i < stats.length; i++) expect(stats[i]!.start).toBe(stats[i - 1]!.end);
}

// ---------------------------------------------------------------------------------------------

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-e2e-'));
const tmpDir = (name: string) => fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** The backfilled profile 5x300,25x200,5x400 from 2026-01-01T00:00:00Z, seed 7. */
let profileLog = '';
const ALERT_LINE = 'High traffic generated an alert - hits = 1220, triggered at 2026-01-01T00:05:31+00:00';
const RECOVERY_LINE =
  'High traffic alert recovered - hits = 1200, recovered at 2026-01-01T00:09:50+00:00 (alert lasted 4m 19s)';

beforeAll(async () => {
  profileLog = path.join(tmpDir('profile'), 'logs/p.log'); // the generator creates logs/
  const gen = await run([
    'generate', '-f', profileLog, '--profile', '5x300,25x200,5x400',
    '--backfill', '--start', '2026-01-01T00:00:00Z', '--seed', '7',
  ]);
  expect(gen).toEqual({ code: 0, stdout: '', stderr: `wrote 8500 lines to ${profileLog}\n` });
});

describe('replay of a backfilled profile (5x300,25x200,5x400)', () => {
  test('--json: one alert at 331 s, one recovery at 590 s, stats covering every line', async () => {
    const { code, stdout, stderr } = await run(['-f', profileLog, '--replay', '--json']);
    expect(code).toBe(0);
    expect(stderr).toBe('');

    const lines = linesOf(stdout);
    const records = parseAll(lines); // throws on any line that is not JSON
    for (const r of records) expect(['stats', 'alert', 'recovered']).toContain(r.type);

    const alerts = alertsOf(records);
    const recoveries = recoveriesOf(records);
    expect(alerts).toEqual([
      {
        type: 'alert',
        at: '2026-01-01T00:05:31.000Z',
        hits: 1220,
        average: 1220 / 120,
        threshold: 10,
        window: 120,
        message: ALERT_LINE,
      },
    ]);
    expect(recoveries).toEqual([
      {
        type: 'recovered',
        at: '2026-01-01T00:09:50.000Z',
        hits: 1200,
        average: 10,
        threshold: 10,
        window: 120,
        since: '2026-01-01T00:05:31.000Z',
        duration: 259,
        message: RECOVERY_LINE,
      },
    ]);

    // Stats: consecutive 10 s intervals from 00:00:00Z over the 900 s of log, every line counted.
    // The replay ends on an interval boundary, so the final record closes an interval of no length.
    const all = statsOf(records);
    expect(all).toHaveLength(91);
    expect(all[90]).toMatchObject({ start: iso(T0 + 900), end: iso(T0 + 900), hits: 0, final: true });
    const stats = all.slice(0, 90);
    stats.forEach((s, i) => {
      expect(s.start).toBe(iso(T0 + 10 * i));
      expect(s.end).toBe(iso(T0 + 10 * (i + 1)));
      expect(s.invalid).toBe(0);
      expect(s.late).toBe(0);
    });
    expect(sumHits(stats)).toBe(8500);
    expect(fs.readFileSync(profileLog, 'utf8').split('\n').filter(Boolean)).toHaveLength(8500);
    // The phases show in the intervals: 5/s, then 25/s, then 5/s again.
    expect(stats[0]!.hits).toBe(50);
    expect(stats[45]!.hits).toBe(250);
    expect(stats[89]!.hits).toBe(50);

    // Alerts come out in clock order, between the intervals around them.
    const endIndex = (end: string) => lines.findIndex((l) => l.includes(`"end":"${end}"`));
    const alertIndex = lines.findIndex((l) => l.startsWith('{"type":"alert"'));
    const recoveryIndex = lines.findIndex((l) => l.startsWith('{"type":"recovered"'));
    expect(alertIndex).toBeGreaterThan(endIndex('2026-01-01T00:05:30.000Z'));
    expect(alertIndex).toBeLessThan(endIndex('2026-01-01T00:05:40.000Z'));
    expect(recoveryIndex).toBeGreaterThan(endIndex('2026-01-01T00:09:40.000Z'));
    expect(recoveryIndex).toBeLessThan(endIndex('2026-01-01T00:10:00.000Z'));
  });

  test('human output: the alert and recovery lines verbatim, and a stats block per interval', async () => {
    const { code, stdout, stderr } = await run(['-f', profileLog, '--replay']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const lines = linesOf(stdout);
    expect(lines.filter((l) => l.startsWith('High traffic'))).toEqual([ALERT_LINE, RECOVERY_LINE]);

    const head = /^2026-01-01T(\d\d:\d\d:\d\d)\+00:00 → (\d\d:\d\d:\d\d)\+00:00  (\d+) hits, [\d.]+ req\/s, /;
    const heads = lines.flatMap((l, i) => {
      const m = head.exec(l);
      return m ? [{ i, from: m[1]!, to: m[2]!, hits: Number(m[3]) }] : [];
    });
    expect(heads).toHaveLength(90);
    expect(heads[0]).toMatchObject({ from: '00:00:00', to: '00:00:10', hits: 50 });
    expect(heads[89]).toMatchObject({ from: '00:14:50', to: '00:15:00', hits: 50 });
    expect(heads.reduce((n, h) => n + h.hits, 0)).toBe(8500);
    expect(lines[0]).toStartWith('2026-01-01T00:00:00+00:00 → 00:00:10+00:00  50 hits, 5.0 req/s, ');
    expect(lines[0]).toEndWith(', 0 invalid');
    // generate's profile: 50 lines in the first 10 s from a few dozen hosts, users and sections, counted exactly.
    expect(lines[1]).toMatch(/^  unique    \d+ hosts · \d+ users · \d+ sections \(estimated\)$/);
    // Each block: the head, then its six detail lines, the unique counts first.
    for (const h of heads) {
      expect(lines.slice(h.i + 1, h.i + 7).map((l) => l.slice(0, 12))).toEqual([
        '  unique    ',
        '  sections  ',
        '  status    ',
        '  methods   ',
        '  users     ',
        '  hosts     ',
      ]);
    }
    // The alert sits between the blocks that end at 00:05:30 and 00:05:40.
    const alertAt = lines.indexOf(ALERT_LINE);
    expect(alertAt).toBeGreaterThan(heads.find((h) => h.to === '00:05:30')!.i);
    expect(alertAt).toBeLessThan(heads.find((h) => h.to === '00:05:40')!.i);
  });

  test('--quiet prints only the alert and the recovery', async () => {
    const { code, stdout, stderr } = await run(['-f', profileLog, '--replay', '--quiet']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toBe(`${ALERT_LINE}\n${RECOVERY_LINE}\n`);
  });

  test('--quiet --json prints only the alert and recovered records', async () => {
    const { code, stdout } = await run([profileLog, '--replay', '--quiet', '--json']);
    expect(code).toBe(0);
    expect(parseAll(linesOf(stdout)).map((r) => [r.type, 'at' in r ? r.at : ''])).toEqual([
      ['alert', '2026-01-01T00:05:31.000Z'],
      ['recovered', '2026-01-01T00:09:50.000Z'],
    ]);
  });

  test('human times follow TZ; JSON times stay UTC', async () => {
    // Etc/GMT-2 is UTC+02:00 (POSIX sign).
    const human = await run(['-f', profileLog, '--replay', '--quiet'], { TZ: 'Etc/GMT-2' });
    expect(linesOf(human.stdout)).toEqual([
      'High traffic generated an alert - hits = 1220, triggered at 2026-01-01T02:05:31+02:00',
      'High traffic alert recovered - hits = 1200, recovered at 2026-01-01T02:09:50+02:00 (alert lasted 4m 19s)',
    ]);
    const json = await run(['-f', profileLog, '--replay', '--quiet', '--json'], { TZ: 'Etc/GMT-2' });
    expect(alertsOf(parseAll(linesOf(json.stdout)))[0]!.at).toBe('2026-01-01T00:05:31.000Z');
  });
});

describe('replay of traffic with many clients', () => {
  test('two runs print the same bytes, approximate top lists included (the tables\' hash seed differs per process; what they report does not)', async () => {
    // 30,000 lines in 10 s, each from a new client but a few busy ones: the host table is pruned
    // and the sketch at its door is used, in every interval.
    const dir = tmpDir('many-clients');
    const log = path.join(dir, 'access.log');
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) {
      const line = clf(T0 + Math.floor(i / 3000), i);
      const host = i % 7 === 0 ? `192.0.2.${i % 3}` : `10.${(i * 7919) % 251}.${(i >> 8) & 255}.${i & 255}`;
      lines.push(line.replace(/^\S+/, host));
    }
    fs.writeFileSync(log, `${lines.join('\n')}\n`);
    const first = await run(['-f', log, '--replay', '--json']);
    const second = await run(['-f', log, '--replay', '--json']);
    expect(first.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const stats = statsOf(parseAll(linesOf(first.stdout)));
    expect(sumHits(stats)).toBe(30_000);
    const busy = stats.find((s) => s.hits > 0)! as unknown as { approximate: string[]; hosts: { host: string; hits: number }[] };
    expect(busy.approximate).toContain('hosts');
    expect(busy.hosts.slice(0, 3).map((h) => h.host).sort()).toEqual(['192.0.2.0', '192.0.2.1', '192.0.2.2']);
  });
});

describe('invalid lines', () => {
  test('garbage, an impossible date, a bad status and blank lines: counted as invalid, not as hits', async () => {
    // mixed.log: 6 valid lines (one CRLF-terminated, the last without a newline), 4 invalid ones
    // (a header, free text, 29/Feb/2026, status 999) and 3 blank or whitespace-only lines.
    const { code, stdout, stderr } = await run(['--replay', '--json', path.join(FIXTURES, 'mixed.log')]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const stats = statsOf(parseAll(linesOf(stdout)));
    expect(stats.map(({ start, end, hits, invalid, bytes, final }) => ({ start, end, hits, invalid, bytes, final }))).toEqual([
      { start: iso(T0), end: iso(T0 + 10), hits: 4, invalid: 4, bytes: 168, final: false },
      // The final, partial interval ends one second after the last line.
      { start: iso(T0 + 10), end: iso(T0 + 14), hits: 2, invalid: 0, bytes: 7, final: true },
    ]);
    expect(stats[0]!.status).toEqual({ '1xx': 0, '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 0, other: 0 });
    expect(stats[0]!.sections).toEqual([
      { section: '/api', hits: 2 },
      { section: '/report', hits: 1 },
      { section: '/static', hits: 1 },
    ]);
    expect(stats[1]!.methods).toEqual([
      { method: 'DELETE', hits: 1 },
      { method: 'GET', hits: 1 },
    ]);
  });

  test('human output reports the invalid count in the interval head', async () => {
    const { code, stdout } = await run(['--replay', '-s', '60', path.join(FIXTURES, 'mixed.log')]);
    expect(code).toBe(0);
    expect(linesOf(stdout)[0]).toBe(
      '2026-01-01T00:00:00+00:00 → 00:00:14+00:00 (partial)  6 hits, 0.4 req/s, 175 B, 4 invalid',
    );
  });
});

describe('usage errors', () => {
  const cases: [string[], string, string][] = [
    [['-t', '-1'], '-t/--threshold', MONITOR_USAGE],
    [['-s', 'abc'], '-s/--interval', MONITOR_USAGE],
    [['-a', '0'], '-a/--window', MONITOR_USAGE],
    [['-a', '1.5'], '-a/--window', MONITOR_USAGE],
    [['--bogus'], '--bogus', MONITOR_USAGE],
    [['--time-source', 'foo'], '--time-source', MONITOR_USAGE],
    [['generate', '-r', '-1', '-d', '1'], '-r/--rate', GENERATE_USAGE],
    [['generate', '-r', '1', '-d', '1.5'], '-d/--duration', GENERATE_USAGE],
  ];
  test.each(cases)('%p exits 2 with one error line naming %s and one usage line', async (args, flag, usage) => {
    const dir = tmpDir('usage');
    const log = path.join(dir, 'never.log');
    // A log path is given so that a run that wrongly went ahead would not touch /tmp/access.log.
    const { code, stdout, stderr } = await run([...args, '-f', log]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    const err = linesOf(stderr);
    expect(err).toHaveLength(2);
    // The monitor says `error: ...`; the generator says `generate: ...` (see the report).
    expect(err[0]).toMatch(args[0] === 'generate' ? /^generate: / : /^error: /);
    expect(err[0]).toContain(flag);
    expect(err[1]!.startsWith(usage)).toBe(true);
    expect(fs.existsSync(log)).toBe(false);
  });

  test.each([[['--help']], [['-h']], [['generate', '--help']]])('%p exits 0 with the usage on stdout', async (args) => {
    const { code, stdout, stderr } = await run(args);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const text = stdout.replace(/\x1b\[[0-9;]*m/g, '');
    if (args[0] === 'generate') {
      for (const flag of ['--rate', '--duration', '--profile', '--backfill', '--seed']) expect(text).toContain(flag);
    } else {
      for (const flag of ['--file', '--interval', '--threshold', '--window', '--replay', '--json', '--quiet', '--time-source']) {
        expect(text).toContain(flag);
      }
    }
  });
});

describe('numeric flags out of range (issue item 16)', () => {
  // Each of these once ran on: a timer overflow printing ~800 records a second, `error: Invalid
  // Date`, a poll every millisecond, 1.3 GB for an idle window, Out of memory.
  const cases: [string[], string][] = [
    [['-s', '3000000'], "-s/--interval must be a number from 1 to 86400, got '3000000'"],
    [['-s', '1e308'], "-s/--interval must be a number from 1 to 86400, got '1e308'"],
    [['-s', '1e-9'], "-s/--interval must be a number from 1 to 86400, got '1e-9'"],
    [['--poll-ms', '1e10'], "--poll-ms must be a whole number from 10 to 60000, got '1e10'"],
    [['--poll-ms', '0.001'], "--poll-ms must be a whole number from 10 to 60000, got '0.001'"],
    [['-a', '100000000'], "-a/--window must be a whole number from 1 to 86400, got '100000000'"],
    [['-a', '1e9'], "-a/--window must be a whole number from 1 to 86400, got '1e9'"],
    [['-t', '0.0001'], "-t/--threshold must be a number from 0.001 to 1000000000, got '0.0001'"],
    [['-t', '0x10'], "-t/--threshold must be a number from 0.001 to 1000000000, got '0x10'"],
  ];
  test.each(cases)('%p exits 2 at once with one line naming the flag and its range', async (args, message) => {
    const log = path.join(tmpDir('range'), 'never.log');
    const started = performance.now();
    const { code, stdout, stderr } = await run([...args, '-f', log]);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK);
    const err = linesOf(stderr);
    expect(err).toHaveLength(2);
    expect(err[0]).toBe(`error: ${message}`);
    expect(err[1]!.startsWith(MONITOR_USAGE)).toBe(true);
    expect(fs.existsSync(log)).toBe(false);
  });

  // The generator's ranges: a rate the live writer keeps up with, a year, 32 bits, 1970 to 9999.
  const generateCases: [string[], string][] = [
    [['-r', '1e9', '-d', '1'], "-r/--rate must be a number from 0.001 to 100000, got '1e9'"],
    [['-r', '5', '-d', '1e308'], "-d/--duration must be a whole number from 1 to 31536000, got '1e308'"],
    [['--profile', '5x10,1e9x5'], "--profile phase '1e9x5': rate must be a number from 0.001 to 100000, got '1e9'"],
    [['-r', '5', '-d', '1', '--seed', '4294967296'], "--seed must be a whole number from 0 to 4294967295, got '4294967296'"],
    [
      ['-r', '5', '-d', '1', '--backfill', '--start', '99999999999999999999'],
      "--start must be ISO-8601 (2026-01-01T00:00:00Z) or Unix seconds, from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z, got '99999999999999999999'",
    ],
  ];
  test.each(generateCases)('generate %p exits 2 at once with one line naming the flag and its range', async (args, message) => {
    const log = path.join(tmpDir('range'), 'never.log');
    const started = performance.now();
    const { code, stdout, stderr } = await run(['generate', ...args, '-f', log]);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK);
    expect(stderr).not.toContain('Invalid Date');
    const err = linesOf(stderr);
    expect(err).toHaveLength(2);
    expect(err[0]).toBe(`generate: ${message}`);
    expect(err[1]!.startsWith(GENERATE_USAGE)).toBe(true);
    expect(fs.existsSync(log)).toBe(false);
  });

  test('both ends of every range are accepted', async () => {
    const log = path.join(FIXTURES, 'mixed.log');
    const low = await run(['--replay', '--quiet', '-s', '1', '-a', '1', '-t', '0.001', '--poll-ms', '10', log]);
    expect({ code: low.code, stderr: low.stderr }).toEqual({ code: 0, stderr: '' });
    const high = await run(['--replay', '--quiet', '-s', '86400', '-a', '86400', '-t', '1000000000', '--poll-ms', '60000', log]);
    expect(high).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('--help shows the ranges', async () => {
    const { stdout } = await run(['--help']);
    const text = stdout.replace(/\x1b\[[0-9;]*m/g, '');
    for (const range of ['1 to 86400 (fractions allowed', '0.001 to 1000000000', 'whole number from 1 to 86400', 'whole number from 10 to 60000', '0 to 65535']) {
      expect(text).toContain(range);
    }
    const generate = (await run(['generate', '--help'])).stdout.replace(/\x1b\[[0-9;]*m/g, '');
    for (const range of ['0.001 to 100000', 'whole number from 1 to 31536000', '1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z', '0 to 4294967295', '-2359 to +2359']) {
      expect(generate).toContain(range);
    }
  });
});

describe('unreadable input', () => {
  test('--replay on a missing file exits 1 with one line naming the file', async () => {
    const missing = path.join(tmpDir('missing'), 'nope.log');
    const { code, stdout, stderr } = await run(['--replay', '-f', missing]);
    expect({ code, stdout, stderr }).toEqual({ code: 1, stdout: '', stderr: `error: cannot read ${missing}: no such file\n` });
    expect(stderr).not.toMatch(STACK);
  });

  test('--replay refuses the whole run when one of several files is missing, and a directory', async () => {
    const dir = tmpDir('missing2');
    const missing = path.join(dir, 'nope.log');
    const both = await run(['--replay', '--json', path.join(FIXTURES, 'mixed.log'), missing]);
    expect(both).toEqual({ code: 1, stdout: '', stderr: `error: cannot read ${missing}: no such file\n` });
    const directory = await run(['--replay', '-f', dir]);
    expect(directory).toEqual({ code: 1, stdout: '', stderr: `error: cannot read ${dir}: it is a directory\n` });
  });
});

describe('alert threshold and window (-t 2.5 -a 10, threshold × window = 25)', () => {
  test('alerts exactly when the hits of the 10 whole seconds before an instant exceed 25', async () => {
    const lines: string[] = [];
    let n = 0;
    const at = (second: number, count: number) => {
      for (let i = 0; i < count; i++) lines.push(clf(T0 + second, n++));
    };
    at(0, 25); // exactly 25: no alert
    at(30, 13); // 13 + 13 within the window: 26 at 36 s, back to 13 at 41 s
    at(35, 13);
    at(60, 26); // 26 in one second: alert at 61 s, recovered at 71 s with 0 hits
    at(120, 13); // 13 + 13 ten seconds apart never share a window [t-10, t)
    at(130, 13);
    at(150, 1); // keeps the replay going past the last evaluation of interest
    const log = path.join(tmpDir('threshold'), 'w.log');
    fs.writeFileSync(log, `${lines.join('\n')}\n`);

    const { code, stdout, stderr } = await run(['--replay', '--json', '-t', '2.5', '-a', '10', log]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const records = parseAll(linesOf(stdout));
    const events = records
      .filter((r) => r.type !== 'stats')
      .map((r) => ({ type: r.type, at: (r as Alert).at, hits: (r as Alert).hits, ...('duration' in r ? { duration: r.duration } : {}) }));
    expect(events).toEqual([
      { type: 'alert', at: iso(T0 + 36), hits: 26 },
      { type: 'recovered', at: iso(T0 + 41), hits: 13, duration: 5 },
      { type: 'alert', at: iso(T0 + 61), hits: 26 },
      { type: 'recovered', at: iso(T0 + 71), hits: 0, duration: 10 },
    ]);
    const first = alertsOf(records)[0]!;
    expect(first).toMatchObject({ threshold: 2.5, window: 10, average: 2.6 });
    expect(sumHits(statsOf(records))).toBe(n);
  });
});

describe('live follow mode (wall clock)', () => {
  test(
    'a generator writing 30 req/s for 4 s into the followed file raises an alert, then recovers; SIGINT ends with a final interval',
    async () => {
      const dir = tmpDir('live');
      const log = path.join(dir, 'access.log');
      fs.writeFileSync(log, '');
      const monitor = live(['-f', log, '-s', '1', '-a', '10', '-t', '5', '--json', '--poll-ms', '100']);
      // The first stats line shows the monitor is up and its tailer has opened the file.
      await monitor.out.waitForLine('a first stats line', 5_000, (l) => l.startsWith('{"type":"stats"'));

      const generatorStart = Date.now();
      const gen = await run(['generate', '-f', log, '--profile', '30x4', '--seed', '3'], {}, 15_000);
      const generatorEnd = Date.now();
      expect(gen).toEqual({ code: 0, stdout: '', stderr: `wrote 120 lines to ${log}\n` });

      const alert = (await monitor.out.waitFor('an alert', 10_000, (ls) => alertsOf(jsonLines(ls))[0])) as Alert;
      expect(alert.hits).toBeGreaterThan(50);
      expect(alert).toMatchObject({ threshold: 5, window: 10 });
      expect(Date.parse(alert.at)).toBeGreaterThanOrEqual(Math.floor(generatorStart / 1000) * 1000);
      expect(Date.parse(alert.at)).toBeLessThanOrEqual(generatorEnd + 1000);

      const recovered = (await monitor.out.waitFor('a recovery', 20_000, (ls) => recoveriesOf(jsonLines(ls))[0])) as Recovered;
      expect(recovered.hits).toBeLessThanOrEqual(50);
      expect(recovered.since).toBe(alert.at);
      expect(recovered.duration).toBe((Date.parse(recovered.at) - Date.parse(alert.at)) / 1000);
      // Traffic stopped at generatorEnd; the window still held > 50 hits for a while after.
      expect(Date.parse(recovered.at)).toBeGreaterThan(generatorEnd);
      expect(alertsOf(jsonLines(monitor.out.lines))).toHaveLength(1);

      await monitor.signalMidInterval('SIGINT');
      expect(await exitWithin(monitor.proc, 5_000)).toBe(0);
      await Promise.all([monitor.out.done, monitor.err.done]);
      const records = parseAll(monitor.out.lines);
      const stats = statsOf(records);
      expect(stats.length).toBeGreaterThan(5);
      expect(stats.filter((s) => s.hits > 0).length).toBeGreaterThanOrEqual(3);
      expect(records.at(-1)!.type).toBe('stats');
      expectEndsWithFinal(stats);
      expect(sumHits(stats)).toBe(120);
      expect(monitor.err.lines.join('\n')).not.toMatch(/error|warn/i);
    },
    40_000,
  );

  test(
    'a file that does not exist yet is waited for, then read from its head',
    async () => {
      const dir = tmpDir('late');
      const log = path.join(dir, 'late.log');
      const monitor = live(['-f', log, '-s', '1', '--json', '--poll-ms', '100']);
      await monitor.err.waitForLine('the waiting notice', 5_000, (l) => l.includes(`waiting for ${log} to appear`));

      const now = () => Math.floor(Date.now() / 1000);
      fs.writeFileSync(log, `${[0, 1, 2, 3].map((i) => clf(now(), i, '/late')).join('\n')}\n`);
      await monitor.err.waitForLine('the reading notice', 5_000, (l) => l.includes(`reading ${log}`));
      await monitor.out.waitFor('4 hits', 5_000, (ls) => sumHits(statsOf(jsonLines(ls))) >= 4);
      fs.appendFileSync(log, `${[4, 5, 6].map((i) => clf(now(), i, '/late')).join('\n')}\n`);
      await monitor.out.waitFor('7 hits', 5_000, (ls) => sumHits(statsOf(jsonLines(ls))) >= 7);

      await monitor.signalMidInterval('SIGINT');
      expect(await exitWithin(monitor.proc, 5_000)).toBe(0);
      await Promise.all([monitor.out.done, monitor.err.done]);
      const records = parseAll(monitor.out.lines);
      expect(records.every((r) => r.type === 'stats')).toBe(true);
      const stats = statsOf(records);
      expect(sumHits(stats)).toBe(7);
      expect(stats.reduce((n, s) => n + s.invalid, 0)).toBe(0);
      expect(stats.flatMap((s) => s.sections.map((x) => x.section))).toContain('/late');
      expectEndsWithFinal(stats);
    },
    20_000,
  );

  test(
    'SIGTERM prints the final interval and exits 0; lines already in the file are not counted',
    async () => {
      const dir = tmpDir('term');
      const log = path.join(dir, 'access.log');
      const old = Math.floor(Date.now() / 1000);
      fs.writeFileSync(log, `${[0, 1, 2, 3, 4].map((i) => clf(old, i, '/old')).join('\n')}\n`);
      const monitor = live(['-f', log, '-s', '1', '--json', '--poll-ms', '100']);
      await monitor.out.waitForLine('a first stats line', 5_000, (l) => l.startsWith('{"type":"stats"'));

      fs.appendFileSync(log, `${[5, 6, 7].map((i) => clf(Math.floor(Date.now() / 1000), i, '/new')).join('\n')}\n`);
      await monitor.out.waitFor('3 hits', 5_000, (ls) => sumHits(statsOf(jsonLines(ls))) >= 3);

      await monitor.signalMidInterval('SIGTERM');
      expect(await exitWithin(monitor.proc, 5_000)).toBe(0);
      await Promise.all([monitor.out.done, monitor.err.done]);
      const stats = statsOf(parseAll(monitor.out.lines));
      expectEndsWithFinal(stats);
      expect(sumHits(stats)).toBe(3);
      const sections = stats.flatMap((s) => s.sections.map((x) => x.section));
      expect(sections).toContain('/new');
      expect(sections).not.toContain('/old');
      expect(monitor.err.lines.join('\n')).not.toMatch(STACK);
    },
    20_000,
  );
  test(
    'following by log time, lines stamped far in the past: counted as late, and said once on stderr',
    async () => {
      const dir = tmpDir('late');
      const log = path.join(dir, 'access.log');
      fs.writeFileSync(log, '');
      const monitor = live(['-f', log, '-s', '1', '-a', '10', '--json', '--poll-ms', '100']);
      await monitor.out.waitForLine('a first stats line', 5_000, (l) => l.startsWith('{"type":"stats"'));
      const past = Math.floor(Date.now() / 1000) - 86_400; // a day behind this machine's clock
      for (let round = 0; round < 3; round++) {
        fs.appendFileSync(log, `${Array.from({ length: 30 }, (_, i) => clf(past, i, '/past')).join('\n')}\n`);
        await monitor.out.waitFor(`${30 * (round + 1)} hits`, 5_000, (ls) => sumHits(statsOf(jsonLines(ls))) >= 30 * (round + 1));
      }
      await monitor.signalMidInterval('SIGINT');
      expect(await exitWithin(monitor.proc, 5_000)).toBe(0);
      await Promise.all([monitor.out.done, monitor.err.done]);
      const stats = statsOf(parseAll(monitor.out.lines));
      expect(sumHits(stats)).toBe(90);
      expect(stats.reduce((n, s) => n + s.late, 0)).toBe(90);
      expect(parseAll(monitor.out.lines).filter((r) => r.type === 'alert')).toEqual([]);
      const warnings = monitor.err.lines.filter((l) => l.includes('--time-source arrival'));
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toContain('older than the 10 s alert window');
    },
    20_000,
  );
});

describe('control characters from the log', () => {
  test(
    'a section, a user and a host holding ESC print escaped in the text output, in the stats and in a grouped rule\'s lines',
    async () => {
      const dir = tmpDir('controls');
      const log = path.join(dir, 'access.log');
      const rules = path.join(dir, 'rules.yaml');
      // 30 hits in one second from one user: over 2 req/s × 5 s, so the rule by user fires (and recovers at the end).
      const line = (s: number) =>
        `\x1b[31mhost - \x1b]0;pwned\x07 [01/Jan/2026:12:00:0${s} +0000] "GET /\x1b[2J/x HTTP/1.1" 200 12\n`;
      fs.writeFileSync(log, Array.from({ length: 30 }, () => line(1)).join('') + line(9));
      fs.writeFileSync(rules, 'rules:\n  - name: one-user\n    rate: 2\n    by: user\n    window: 5\n');
      const { code, stdout, stderr } = await run(['-f', log, '--replay', '--rules', rules, '-s', '10']);
      expect(code).toBe(0);
      expect(stderr).not.toContain('\x1b');
      expect(stdout).not.toContain('\x1b');
      expect(stdout).not.toContain('\x07');
      expect(stdout).toContain('sections  /\\x1b[2J 31');
      expect(stdout).toContain('users     \\x1b]0;pwned\\x07 31');
      expect(stdout).toContain('hosts     \\x1b[31mhost 31');
      expect(stdout).toContain('Rule "one-user" (user \\x1b]0;pwned\\x07) fired');
      expect(stdout).toContain('Rule "one-user" (user \\x1b]0;pwned\\x07) recovered');
      // NDJSON keeps the key as it is, escaped as JSON escapes it.
      const json = await run(['-f', log, '--replay', '-s', '10', '--json']);
      expect(json.stdout).not.toContain('\x1b');
      expect(JSON.parse(linesOf(json.stdout)[0]!).sections[0].section).toBe('/\x1b[2J');
    },
    20_000,
  );
});
