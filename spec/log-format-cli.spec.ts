/**
 * `--log-format` at the edge, as a process over small logs written here (issue 19): a format that
 * is not the log's counts every line invalid and says so once; a log in no format known by name
 * is said so once, naming its first line that fails; truncated JSON lines are invalid lines; a
 * duration of `-` is a hit without a latency; a format string with an unknown variable, or an
 * `@FILE:NAME` that cannot be read, is one `error: --log-format: …` line and exit 2, never a
 * stack trace. And `format`, the tool a user runs when a format does not match: each field of the
 * first lines, and the share that parse.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { entryProcesses, parseStats, type StatsRecord } from './support/monitor-process';

const { run } = entryProcesses();
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-log-format-cli-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let files = 0;
/** A log file of these lines, each ended by a newline. */
const logOf = (lines: string[]) => {
  const file = path.join(tmpRoot, `${++files}.log`);
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  return file;
};

const linesOf = (text: string) => text.split('\n').filter((l) => l.trim() !== '');
/** A stack trace or an uncaught error's header (not our one-line `error: ` messages). */
const STACK = /^\s+at\s|^\s*\d+ \| |Unhandled|[Uu]ncaught|panic/m;

interface Timed { count: number; p50: number; p90: number; p99: number; max: number }
interface Stats extends StatsRecord {
  bytes: number;
  status: Record<string, number>;
  latency?: Timed;
}

/** `--replay -f LOG --json -s 3600 [...args]`, which must exit 0 without a stack: its intervals added up, and its stderr lines. */
async function replay(log: string, args: string[]) {
  const { code, stdout, stderr } = await run(['--replay', '-f', log, '--json', '-s', '3600', ...args]);
  expect({ code, stack: stderr.match(STACK)?.[0] ?? null }, stderr).toEqual({ code: 0, stack: null });
  const stats = parseStats<Stats>(stdout.split('\n'));
  return {
    stats,
    hits: stats.reduce((n, s) => n + s.hits, 0),
    invalid: stats.reduce((n, s) => n + s.invalid, 0),
    bytes: stats.reduce((n, s) => n + s.bytes, 0),
    err: linesOf(stderr),
  };
}

const T = (s: number) => `10/Oct/2024:13:55:${String(36 + s).padStart(2, '0')} +0000`;
const CLF = [0, 1, 2, 3, 4].map((s) => `10.1.2.${s} - - [${T(s)}] "GET /api/x${s} HTTP/1.1" 200 ${100 + s}`);

/** A line of Caddy's JSON access log, as Caddy 2.6 writes it (seconds since the epoch, duration in seconds). */
const caddyLine = (i: number, duration: number) =>
  JSON.stringify({
    level: 'info', ts: 1728568536 + i, logger: 'http.log.access.log0', msg: 'handled request',
    request: { remote_ip: '127.0.0.1', remote_port: '40816', proto: 'HTTP/1.1', method: 'GET', host: 'alpha.test', uri: `/api/${i}`, headers: { 'User-Agent': ['t'] } },
    user_id: '', duration, size: 10 * (i + 1), status: 200, resp_headers: { Server: ['Caddy'] },
  });

const TIMED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time';
const timedLine = (s: number, requestTime: string) => `127.0.0.1 - - [${T(s)}] "GET /a/${s} HTTP/1.1" 200 ${10 * s} ${requestTime}`;

describe('lines the format does not read', () => {
  test('a format that is not the log\'s: every line invalid, said once on stderr with the first line', async () => {
    const r = await replay(logOf(CLF), ['--log-format', 'caddy']);
    expect({ hits: r.hits, invalid: r.invalid }).toEqual({ hits: 0, invalid: CLF.length });
    expect(r.err, r.err.join('\n')).toHaveLength(1);
    expect(r.err[0]).toContain('10.1.2.0 - - [10/Oct/2024:13:55:36 +0000]');
  });

  test('an nginx format string that is not the log\'s: every line invalid', async () => {
    const r = await replay(logOf(CLF), ['--log-format', TIMED]);
    expect({ hits: r.hits, invalid: r.invalid }).toEqual({ hits: 0, invalid: CLF.length });
    expect(r.err).toHaveLength(1);
  });

  test('a log in no format known by name, without --log-format: invalid, said in one line naming the first line that fails', async () => {
    const junk = ['hello from a program that is not a web server', 'status=ok took=12ms', 'another line of no format'];
    const r = await replay(logOf(junk), []);
    expect({ hits: r.hits, invalid: r.invalid }).toEqual({ hits: 0, invalid: junk.length });
    expect(r.err, r.err.join('\n')).toHaveLength(1);
    expect(r.err[0]).toContain(junk[0]);
  });

  test('truncated JSON lines are invalid lines; the whole ones count, with their bytes and durations', async () => {
    const whole = [0, 1, 2, 3, 4, 5].map((i) => caddyLine(i, 0.01 * (i + 1)));
    // Cut early (in the request), in the response's headers after every field the monitor reads,
    // and only the last brace missing: each is no JSON object, whatever fields it shows.
    const cut = [caddyLine(90, 0.5).slice(0, 120), caddyLine(91, 0.5).slice(0, -12), caddyLine(92, 0.5).slice(0, -1)];
    const lines = [whole[0]!, cut[0]!, whole[1]!, whole[2]!, cut[1]!, whole[3]!, whole[4]!, cut[2]!, whole[5]!];
    const r = await replay(logOf(lines), ['--log-format', 'caddy']);
    expect({ hits: r.hits, invalid: r.invalid, bytes: r.bytes }).toEqual({ hits: 6, invalid: 3, bytes: 10 + 20 + 30 + 40 + 50 + 60 });
    expect(r.stats.map((s) => s.latency?.count)).toEqual([6]);
    expect(r.stats[0]!.latency!.max).toBe(60);
  });
});

describe('a duration of -', () => {
  test('is a hit without a latency: the timed lines alone make the quantiles', async () => {
    const times = ['0.100', '-', '0.300', '-', '0.200', '0.400', '0.050'];
    const r = await replay(logOf(times.map((t, s) => timedLine(s, t))), ['--log-format', TIMED]);
    expect({ hits: r.hits, invalid: r.invalid, bytes: r.bytes }).toEqual({ hits: 7, invalid: 0, bytes: 210 });
    expect(r.stats).toHaveLength(1);
    const latency = r.stats[0]!.latency!;
    // 50, 100, 200, 300, 400 ms at ranks ⌊q·4⌋: p50 200, p90 and p99 300 (had each - been 0 ms,
    // seven values: p50 100); within the sketch's 1 %, max exact.
    expect(latency.count).toBe(5);
    const within = (got: number, exact: number) => Math.abs(got - exact) <= 0.01 * exact;
    expect([within(latency.p50, 200), within(latency.p90, 300), within(latency.p99, 300)], JSON.stringify(latency)).toEqual([true, true, true]);
    expect(latency.max).toBe(400);
  });

  test('on every line: hits and no latency at all', async () => {
    const r = await replay(logOf([0, 1, 2].map((s) => timedLine(s, '-'))), ['--log-format', TIMED]);
    expect({ hits: r.hits, invalid: r.invalid }).toEqual({ hits: 3, invalid: 0 });
    expect(r.stats.map((s) => s.latency)).toEqual([undefined]);
  });
});

describe('latency rules on the durations by vhost and status class', () => {
  // The scanners keep those durations only when a rule reads them (needsRuleSketches): these
  // rules must see them end to end.
  test('a rule by vhost fires for the slow vhost only; a rule on 5xx fires', async () => {
    const format = `${TIMED} $host`;
    const lines: string[] = [];
    for (let s = 0; s < 12; s++) {
      for (let i = 0; i < 3; i++) lines.push(`${timedLine(s, '2.000').replace(' 200 ', ' 503 ')} slow.test`);
      for (let i = 0; i < 3; i++) lines.push(`${timedLine(s, '0.010')} fast.test`);
    }
    const rules = path.join(tmpRoot, 'latency-rules.yaml');
    fs.writeFileSync(
      rules,
      'rules:\n' +
        '  - { name: slow-site, latency: 500ms, window: 10s, min_hits: 5, by: vhost }\n' +
        '  - { name: slow-errors, latency: 500ms, window: 10s, min_hits: 5, match: { status: 5xx } }\n',
    );
    const { code, stdout } = await run(['--replay', '-f', logOf(lines), '--log-format', format, '--rules', rules, '-s', '3600']);
    expect(code).toBe(0);
    const fired = linesOf(stdout).filter((l) => l.includes(' fired - '));
    expect(fired.some((l) => l.includes('"slow-site" (vhost slow.test) fired')), stdout).toBe(true);
    expect(fired.some((l) => l.includes('fast.test')), stdout).toBe(false);
    expect(fired.some((l) => l.includes('"slow-errors" fired')), stdout).toBe(true);
  });
});

describe('a --log-format that is no format: one error line, exit 2', () => {
  const unknown = `${TIMED.replace(' $request_time', '')} $foo $request_time`;
  const column = unknown.indexOf('$foo') + 1;

  test.each([
    ['the monitor', (log: string) => ['--replay', '-f', log, '--json', '--log-format', unknown]],
    ['format', (log: string) => ['format', '--log-format', unknown, '-f', log]],
  ])('%s: an nginx variable it does not know, at its column', async (_, args) => {
    const log = logOf([timedLine(0, '0.1')]);
    const { code, stdout, stderr } = await run(args(log));
    expect({ code, stdout, stderr }).toEqual({ code: 2, stdout: '', stderr: `error: --log-format: unknown nginx variable $foo at column ${column}\n` });
  });

  test('@missing.conf:x: one line naming the file', async () => {
    const missing = path.join(tmpRoot, 'missing.conf');
    const { code, stdout, stderr } = await run(['--replay', '-f', logOf(CLF), '--json', '--log-format', `@${missing}:x`]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).not.toMatch(STACK);
    expect(linesOf(stderr)).toHaveLength(1);
    expect(stderr.startsWith('error: --log-format: ')).toBe(true);
    expect(stderr).toContain('missing.conf');
  });

  test('@nginx.conf:NAME without that log_format: one line naming it', async () => {
    const conf = path.join(tmpRoot, 'nginx.conf');
    fs.writeFileSync(conf, `http {\n  log_format timed '${TIMED}';\n}\n`);
    const { code, stdout, stderr } = await run(['--replay', '-f', logOf(CLF), '--json', '--log-format', `@${conf}:nosuch`]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).not.toMatch(STACK);
    expect(linesOf(stderr)).toHaveLength(1);
    expect(stderr.startsWith('error: --log-format: ')).toBe(true);
    expect(stderr).toContain('nosuch');
  });
});

describe('format: how a log reads, field by field', () => {
  test('each field of the first lines with what the monitor reads from it, and the share that parse', async () => {
    const lines = [timedLine(0, '0.120'), timedLine(1, '0.045'), timedLine(2, '1.500')];
    const { code, stdout, stderr } = await run(['format', '--log-format', TIMED, '-f', logOf(lines)]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const out = linesOf(stdout);
    // The first line, then a row a field: its directive, the field it is, and the text.
    const at = out.findIndex((l) => l.includes(lines[0]!));
    expect(at).toBeGreaterThanOrEqual(0);
    const rows = out.slice(at + 1, at + 10);
    const row = (directive: string) => rows.find((l) => l.trimStart().startsWith(directive)) ?? `(no row for ${directive})`;
    expect(row('$remote_addr')).toMatch(/\bclient\b.*127\.0\.0\.1/);
    expect(row('$time_local')).toMatch(/\btime\b.*10\/Oct\/2024:13:55:36 \+0000/);
    expect(row('$request ')).toMatch(/\brequest\b.*GET \/a\/0 HTTP\/1\.1/);
    expect(row('$status')).toMatch(/\bstatus\b.*200/);
    expect(row('$body_bytes_sent')).toMatch(/\bbytes\b.*\b0\b/);
    expect(row('$request_time')).toMatch(/\bduration\b.*0\.120/);
    expect(out.at(-1)).toMatch(/\b3 of the first 3 lines parse \(100(\.0)? %\)/);
  });

  test('a line that does not parse lowers the share and is named', async () => {
    const lines = [timedLine(0, '0.120'), 'this line is not nginx', timedLine(2, '0.300'), timedLine(3, '-')];
    const { code, stdout } = await run(['format', '--log-format', TIMED, '-f', logOf(lines)]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/\b3 of the first 4 lines parse \(75(\.0)? %\)/);
    expect(stdout).toMatch(/line 2\b.*this line is not nginx/);
  });

  test('without --log-format: the format its first lines are in, detected', async () => {
    const { code, stdout } = await run(['format', '-f', logOf([0, 1, 2].map((i) => caddyLine(i, 0.01)))]);
    expect(code).toBe(0);
    expect(linesOf(stdout)[0]).toMatch(/caddy/);
    expect(stdout).toMatch(/\b3 of the first 3 lines parse/);
  });

  test('a log no line of which parses: exit 1', async () => {
    const { code, stdout } = await run(['format', '--log-format', 'caddy', '-f', logOf(CLF)]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/\b0 of the first 5 lines parse/);
  });
});
