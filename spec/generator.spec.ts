import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../lib/cli-args';
import {
  type Clock,
  type GenerateProgress,
  NGINX_TIMED_FORMAT,
  TRAFFIC_FORMATS,
  backfillChunks,
  formatTimestamp,
  lineMaker,
  live,
  makeLine,
  mulberry32,
  parseProfile,
  parseStart,
  progressLine,
  secondCounts,
} from '../lib/generator';
import { USAGE, parseGenerateArgs, runGenerate } from '../commands/generate';
import { errorUsage } from '../lib/usage';

const dir = mkdtempSync(`${tmpdir()}/gen-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (name = 'access.log') => join(dir, `${++n}`, name);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const CLF =
  /^(\S+) (\S+) (\S+) \[(\d\d)\/([A-Z][a-z]{2})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\] "([A-Z]+) (\/\S*) (HTTP\/\d\.\d)" (\d{3}) (\d+|-)( "[^"]*" "[^"]*")?$/;

interface Parsed {
  host: string;
  user: string;
  second: number;
  zone: string;
  method: string;
  target: string;
  status: number;
  bytes: string;
  extra?: string;
}

/** Parses a written line, failing the test if it is not well-formed CLF (or combined). */
function parse(line: string): Parsed {
  const m = CLF.exec(line);
  if (!m) throw new Error(`not a CLF line: ${line}`);
  const [, host, ident, user, dd, mon, yyyy, hh, mi, ss, sign, oh, om, method, target, , status, bytes, extra] = m;
  expect(ident).toBe('-');
  expect(MONTHS).toContain(mon!);
  const offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const local = Date.UTC(Number(yyyy), MONTHS.indexOf(mon!), Number(dd), Number(hh), Number(mi), Number(ss)) / 1000;
  return {
    host: host!, user: user!, second: local - offset * 60, zone: `${sign}${oh}${om}`, method: method!,
    target: target!, status: Number(status), bytes: bytes!, extra,
  };
}

const linesOf = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1);

/** Runs the command in-process, capturing its stdout and stderr lines. */
async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runGenerate(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err };
}

const START = '2026-01-01T00:00:00Z';
const START_S = Date.UTC(2026, 0, 1) / 1000;

describe('parseProfile', () => {
  test('reads rate x seconds phases, fractional rates included', () => {
    expect(parseProfile('5x120,25x60,5x180')).toEqual([
      { rate: 5, seconds: 120 }, { rate: 25, seconds: 60 }, { rate: 5, seconds: 180 },
    ]);
    expect(parseProfile('0.5x4')).toEqual([{ rate: 0.5, seconds: 4 }]);
  });

  for (const bad of ['5x', 'ax3', '5x0', 'x3', '5', '', '5x3,,2x2', '5x1.5', '-1x3', '5x3x2', '0x5']) {
    test(`rejects malformed profile '${bad}' with a UsageError naming --profile`, () => {
      expect(() => parseProfile(bad)).toThrow(UsageError);
      expect(() => parseProfile(bad)).toThrow(/--profile/);
    });
  }
});

describe('schedule', () => {
  test('a fractional rate carries its remainder: 0.5/s gives a line every other second', () => {
    expect([...secondCounts([{ rate: 0.5, seconds: 4 }])]).toEqual([0, 1, 0, 1]);
    expect([...secondCounts([{ rate: 2.5, seconds: 4 }])]).toEqual([2, 3, 2, 3]);
  });

  test('0.1/s over 10 s makes exactly one line despite float rounding', () => {
    const counts = [...secondCounts([{ rate: 0.1, seconds: 10 }])];
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    expect(counts[9]).toBe(1);
  });
});

describe('lines', () => {
  test('timestamps are dd/Mon/yyyy:HH:MM:SS in UTC, or local time at an offset', () => {
    expect(formatTimestamp(1525881639)).toBe('09/May/2018:16:00:39 +0000');
    expect(formatTimestamp(1525881639, 330)).toBe('09/May/2018:21:30:39 +0530');
    expect(formatTimestamp(1525881639 - 17 * 3600, -480)).toBe('08/May/2018:15:00:39 -0800');
  });

  test('generated traffic has realistic variety and skewed section popularity', () => {
    const rng = mulberry32(42);
    const lines = Array.from({ length: 5000 }, () => parse(makeLine(rng, START_S, { format: 'clf', offsetMinutes: 0 }).trimEnd()));
    expect(lines.some((l) => l.host.includes(':'))).toBe(true);
    expect(lines.some((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l.host))).toBe(true);
    expect(new Set(lines.map((l) => l.host)).size).toBeGreaterThan(10);
    const anonymous = lines.filter((l) => l.user === '-').length / lines.length;
    expect(anonymous).toBeGreaterThan(0.7);
    expect(anonymous).toBeLessThan(0.98);
    expect(lines.filter((l) => l.method === 'GET').length / lines.length).toBeGreaterThan(0.6);
    for (const m of ['POST', 'PUT', 'DELETE', 'HEAD']) expect(lines.some((l) => l.method === m)).toBe(true);
    expect(lines.some((l) => l.target.includes('?'))).toBe(true);
    expect(lines.some((l) => l.target === '/')).toBe(true);
    expect(lines.some((l) => l.target.split('/').length > 3)).toBe(true);
    expect(lines.filter((l) => l.status === 200).length / lines.length).toBeGreaterThan(0.5);
    for (const cls of [3, 4, 5]) expect(lines.some((l) => Math.floor(l.status / 100) === cls)).toBe(true);
    expect(lines.some((l) => l.bytes === '-')).toBe(true);
    expect(new Set(lines.map((l) => l.bytes)).size).toBeGreaterThan(100);
    const sections = new Map<string, number>();
    for (const l of lines) {
      const s = `/${l.target.split(/[/?]/)[1]}`;
      sections.set(s, (sections.get(s) ?? 0) + 1);
    }
    const top3 = [...sections.values()].sort((a, b) => b - a).slice(0, 3).reduce((a, b) => a + b, 0);
    expect(sections.size).toBeGreaterThan(6);
    expect(top3 / lines.length).toBeGreaterThan(0.5);
  });
});

describe('backfill', () => {
  test('profile 5x3,25x2 writes 5,5,5,25,25 well-formed lines stamped from --start', async () => {
    const file = tmp();
    const r = await run('-f', file, '--profile', '5x3,25x2', '--backfill', '--start', START, '--seed', '1');
    expect(r).toEqual({ code: 0, out: [], err: [`wrote 65 lines to ${file}`] });
    const perSecond = new Map<number, number>();
    for (const line of linesOf(file)) {
      const p = parse(line);
      expect(p.zone).toBe('+0000');
      expect(p.extra).toBeUndefined();
      perSecond.set(p.second, (perSecond.get(p.second) ?? 0) + 1);
    }
    expect([...perSecond]).toEqual([[START_S, 5], [START_S + 1, 5], [START_S + 2, 5], [START_S + 3, 25], [START_S + 4, 25]]);
  });

  test('--start as Unix seconds equals the same instant in ISO-8601', async () => {
    const a = tmp();
    const b = tmp();
    await run('-f', a, '-r', '3', '-d', '2', '--backfill', '--start', START, '--seed', '9');
    await run('-f', b, '-r', '3', '-d', '2', '--backfill', '--start', String(START_S), '--seed', '9');
    expect(readFileSync(a, 'utf8')).toBe(readFileSync(b, 'utf8'));
    expect(parseStart('2026-01-01T00:00:00')).toBe(START_S);
    expect(parseStart('2026-01-01T05:30:00+05:30')).toBe(START_S);
  });

  test('fractional rate 0.5 over 4 s backfills 2 lines', async () => {
    const file = tmp();
    expect((await run('-f', file, '-r', '0.5', '-d', '4', '--backfill', '--start', START)).code).toBe(0);
    expect(linesOf(file).map((l) => parse(l).second)).toEqual([START_S + 1, START_S + 3]);
  });

  test('same seed gives identical bytes, a different seed different ones', async () => {
    const [a, b, c] = [tmp(), tmp(), tmp()];
    const args = ['--profile', '10x5,50x2', '--backfill', '--start', START];
    await run('-f', a, ...args, '--seed', '123');
    await run('-f', b, ...args, '--seed', '123');
    await run('-f', c, ...args, '--seed', '124');
    expect(readFileSync(a)).toEqual(readFileSync(b));
    expect(readFileSync(a, 'utf8')).not.toBe(readFileSync(c, 'utf8'));
  });

  test('without --seed two runs differ', async () => {
    const [a, b] = [tmp(), tmp()];
    await run('-f', a, '-r', '20', '-d', '2', '--backfill', '--start', START);
    await run('-f', b, '-r', '20', '-d', '2', '--backfill', '--start', START);
    expect(readFileSync(a, 'utf8')).not.toBe(readFileSync(b, 'utf8'));
  });

  test('combined format adds a quoted referer and user-agent to each line', async () => {
    const [clf, combined] = [tmp(), tmp()];
    await run('-f', clf, '-r', '20', '-d', '1', '--backfill', '--start', START, '--seed', '5');
    await run('-f', combined, '-r', '20', '-d', '1', '--backfill', '--start', START, '--seed', '5', '--format', 'combined');
    const lines = linesOf(combined);
    expect(lines).toHaveLength(20);
    for (const line of lines) {
      const p = parse(line);
      expect(p.extra).toMatch(/^ "(-|https?:\/\/[^"]+)" "[^"]+"$/);
    }
    expect(linesOf(clf).every((l) => parse(l).extra === undefined)).toBe(true);
  });

  test('offset +0530 writes local time that maps to the same instant as UTC', async () => {
    const [utc, ist] = [tmp(), tmp()];
    await run('-f', utc, '--profile', '2x3', '--backfill', '--start', '2026-01-01T20:00:00Z', '--seed', '8');
    await run('-f', ist, '--profile', '2x3', '--backfill', '--start', '2026-01-01T20:00:00Z', '--seed', '8', '--offset', '+0530');
    const a = linesOf(utc).map(parse);
    const b = linesOf(ist).map(parse);
    expect(b.map((p) => p.zone)).toEqual(Array(6).fill('+0530'));
    expect(b.map((p) => p.second)).toEqual(a.map((p) => p.second));
    expect(linesOf(ist)[0]).toContain('[02/Jan/2026:01:30:00 +0530]');
    expect(b.map((p) => p.target)).toEqual(a.map((p) => p.target));
  });

  test('default start is now minus the profile length, ending at the last second', async () => {
    const file = tmp();
    const before = Math.floor(Date.now() / 1000);
    await run('-f', file, '-r', '1', '-d', '10', '--backfill');
    const after = Math.floor(Date.now() / 1000);
    const seconds = linesOf(file).map((l) => parse(l).second);
    expect(seconds).toHaveLength(10);
    expect(seconds[0]).toBeGreaterThanOrEqual(before - 10);
    expect(seconds[9]).toBeLessThanOrEqual(after - 1);
  });

  test('creates missing directories and appends to an existing file', async () => {
    const file = tmp('deep/er/access.log');
    await run('-f', file, '-r', '2', '-d', '1', '--backfill', '--start', START);
    expect(existsSync(file)).toBe(true);
    await run('-f', file, '-r', '3', '-d', '1', '--backfill', '--start', START);
    expect(linesOf(file)).toHaveLength(5);
  });
});

describe('live', () => {
  /** A clock that jumps forward instead of sleeping. */
  function fakeClock(startMs: number): Clock & { ms: number } {
    const clock = {
      ms: startMs,
      now: () => clock.ms,
      sleepUntil: async (ms: number) => void (clock.ms = Math.max(clock.ms, ms)),
    };
    return clock;
  }

  test('each second is written during that second, stamped with it, in groups spread over it', async () => {
    const clock = fakeClock(START_S * 1000 + 400);
    const writes: { at: number; text: string }[] = [];
    const total = await live([{ rate: 20, seconds: 2 }, { rate: 0.5, seconds: 2 }], 3, { format: 'clf', offsetMinutes: 0 },
      (text) => void writes.push({ at: clock.ms, text }), clock);
    expect(total).toBe(41);
    const lines = writes.flatMap((w) => w.text.split('\n').slice(0, -1).map((l) => ({ at: w.at, ...parse(l) })));
    expect(lines).toHaveLength(41);
    for (const l of lines) {
      expect(l.at).toBeGreaterThanOrEqual(l.second * 1000);
      expect(l.at).toBeLessThan((l.second + 1) * 1000);
    }
    const counts = [0, 1, 2, 3].map((k) => lines.filter((l) => l.second === START_S + k).length);
    expect(counts).toEqual([20, 20, 0, 1]);
    // The first (partial) second starts at once; the second is spread over its whole second.
    expect(writes[0]!.at).toBe(START_S * 1000 + 400);
    const second = writes.filter((w) => w.at >= (START_S + 1) * 1000 && w.at < (START_S + 2) * 1000);
    expect(second.length).toBeGreaterThanOrEqual(5);
    expect(second[second.length - 1]!.at - second[0]!.at).toBeGreaterThanOrEqual(500);
    expect(clock.ms).toBe((START_S + 4) * 1000); // it runs to the end of its last second
  });

  test('tells its progress: the second of the profile, lines so far, the phase and its rate', async () => {
    const clock = fakeClock(START_S * 1000);
    const seen: GenerateProgress[] = [];
    await live([{ rate: 20, seconds: 2 }, { rate: 0.5, seconds: 2 }], 3, { format: 'clf', offsetMinutes: 0 }, () => {}, clock, undefined, (p) => void seen.push(p));
    expect(seen.at(-1)).toEqual({ second: 4, seconds: 4, lines: 41, phase: 2, phases: 2, rate: 0.5 });
    expect(seen.find((p) => p.second === 2 && p.lines === 40)).toMatchObject({ phase: 1, rate: 20 });
    expect(seen.filter((p) => p.second === 3)).toEqual([{ second: 3, seconds: 4, lines: 40, phase: 2, phases: 2, rate: 0.5 }]);
  });

  test('an abort stops it early', async () => {
    const clock = fakeClock(START_S * 1000);
    const stop = new AbortController();
    let written = 0;
    const total = await live([{ rate: 10, seconds: 100 }], 1, { format: 'clf', offsetMinutes: 0 }, (text) => {
      written += text.split('\n').length - 1;
      if (written >= 25) stop.abort();
    }, clock, stop.signal);
    expect(total).toBe(written);
    expect(total).toBeLessThan(40);
  });
});

describe('progress line', () => {
  const at = (second: number, lines: number): GenerateProgress => ({ second, seconds: 390, lines, phase: 2, phases: 3, rate: 25 });

  test('redrawn in place at most every 250 ms, cut to the width, cleared at the end', () => {
    let ms = 0;
    const written: string[] = [];
    const line = progressLine({ write: (t) => void written.push(t), columns: () => 80, now: () => ms, backfill: false });
    line.update(at(1, 5));
    ms = 100;
    line.update(at(1, 7)); // too soon
    ms = 260;
    line.update(at(2, 12));
    expect(written).toEqual([
      '\rgenerate: 1/390 s · 5 lines · 25 lines/s · phase 2 of 3\x1b[K',
      '\rgenerate: 2/390 s · 12 lines · 25 lines/s · phase 2 of 3\x1b[K',
    ]);
    line.clear();
    expect(written.at(-1)).toBe('\r\x1b[K');
    const narrow: string[] = [];
    progressLine({ write: (t) => void narrow.push(t), columns: () => 20, now: () => 0, backfill: false }).update(at(1, 5));
    expect(narrow).toEqual(['\rgenerate: 1/390 s ·\x1b[K']);
  });

  test('a backfill says its seconds are the log\'s, and draws nothing in its first second (nor clears)', () => {
    let ms = 0;
    const written: string[] = [];
    const line = progressLine({ write: (t) => void written.push(t), columns: () => 100, now: () => ms, backfill: true, after: 1000 });
    ms = 900;
    line.update(at(100, 20_000));
    line.clear();
    expect(written).toEqual([]);
    ms = 1000;
    line.update(at(200, 40_000));
    expect(written).toEqual(['\rgenerate: 200/390 s of log · 40000 lines · 25 lines/s · phase 2 of 3\x1b[K']);
  });

  test('backfill chunks tell the second and the phase they reached', () => {
    const seen: GenerateProgress[] = [];
    let lines = 0;
    for (const chunk of backfillChunks([{ rate: 3000, seconds: 5 }, { rate: 6000, seconds: 5 }], START_S, 1, { format: 'clf', offsetMinutes: 0 }, (p) => void seen.push(p))) {
      lines += chunk.split('\n').length - 1;
    }
    expect(lines).toBe(45_000);
    expect(seen.length).toBeGreaterThan(2);
    for (const p of seen) {
      expect(p.phase).toBe(p.second <= 5 ? 1 : 2);
      expect(p.rate).toBe(p.second <= 5 ? 3000 : 6000);
      expect(p.lines).toBeLessThanOrEqual(p.second <= 5 ? 3000 * p.second : 15_000 + 6000 * (p.second - 5));
    }
  });
});

describe('timed formats: nginx-timed, caddy, traefik', () => {
  const generated = new Map<string, string[]>();
  /** 4,000 lines a second for 5 s (20,000 lines) in `format`, seed 11, from START at +0530; written once a format. */
  async function linesIn(format: string): Promise<string[]> {
    if (!generated.has(format)) {
      const file = tmp();
      const r = await run('-f', file, '-r', '4000', '-d', '5', '--backfill', '--start', START, '--seed', '11', '--format', format, '--offset', '+0530');
      expect(r).toEqual({ code: 0, out: [], err: [`wrote 20000 lines to ${file}`] });
      generated.set(format, linesOf(file));
    }
    return generated.get(format)!;
  }

  /** `$request_time $upstream_response_time $host` after a combined line whose size is never `-`. */
  const TIMED = /^(.* \d{3} \d+ "[^"]*" "[^"]*") (\d+\.\d{3}) (-|\d+\.\d{3}(?:(?:, | : )\d+\.\d{3})*) ([a-z0-9.-]+)$/;
  interface Timed extends Parsed {
    requestTime: string;
    upstream: string;
    vhost: string;
  }
  function parseTimed(line: string): Timed {
    const m = TIMED.exec(line);
    if (!m) throw new Error(`not an nginx-timed line: ${line}`);
    return { ...parse(m[1]!), requestTime: m[2]!, upstream: m[3]!, vhost: m[4]! };
  }
  const quantile = (sorted: number[], q: number) => sorted[Math.ceil(q * sorted.length) - 1]!;
  const isAsset = (target: string) => /^\/(static|images)\/|^\/(favicon\.ico|robots\.txt)$/.test(target);

  test('the nginx format string names the combined fields, then the three timed ones', () => {
    expect(NGINX_TIMED_FORMAT).toBe(
      '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host',
    );
    expect(TRAFFIC_FORMATS).toEqual(['clf', 'combined', 'nginx-timed', 'caddy', 'traefik']);
  });

  test('nginx-timed: combined with a long-tailed request time, the upstream\'s (`-` for static files, lists for retries) and a few vhosts', async () => {
    const lines = (await linesIn('nginx-timed')).map(parseTimed);
    const times = lines.map((l) => Number(l.requestTime)).sort((a, b) => a - b);
    const p50 = quantile(times, 0.5);
    expect(p50).toBeGreaterThanOrEqual(0.005);
    expect(p50).toBeLessThanOrEqual(0.1);
    expect(quantile(times, 0.99)).toBeGreaterThan(8 * p50);
    expect(times.at(-1)!).toBeGreaterThan(3);
    expect(times.at(-1)!).toBeLessThanOrEqual(60);
    expect(times.filter((t) => t === 0).length).toBeGreaterThan(0); // a static file from the page cache: 0.000
    for (const l of lines) {
      expect(l.upstream === '-').toBe(isAsset(l.target));
      if (l.upstream === '-') continue;
      const parts = l.upstream.split(/, | : /).map(Number);
      // Each part is rounded to the millisecond: together at most that much over the request's time.
      expect(parts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(Number(l.requestTime) + 0.0005 * parts.length + 1e-9);
    }
    const retries = lines.filter((l) => l.upstream.includes(', ')).length;
    expect(retries / lines.length).toBeGreaterThan(0.003);
    expect(retries / lines.length).toBeLessThan(0.02);
    expect(lines.some((l) => l.upstream.includes(' : '))).toBe(true);
    const vhosts = new Set(lines.map((l) => l.vhost));
    expect(vhosts.size).toBeGreaterThanOrEqual(4);
    expect(vhosts.size).toBeLessThanOrEqual(8);
    expect(lines.filter((l) => l.target.startsWith('/api/')).every((l) => l.vhost.endsWith('example.com'))).toBe(true);
  });

  test('nginx-timed writes the requests combined writes with the same seed, its empty bodies as 0', async () => {
    const combined = await linesIn('combined');
    const timed = await linesIn('nginx-timed');
    expect(timed).toHaveLength(combined.length);
    timed.forEach((line, i) => {
      expect(TIMED.exec(line)![1]).toBe(combined[i]!.replace(/ (\d{3}) - "/, ' $1 0 "'));
    });
    expect(combined.some((l) => / \d{3} - "/.test(l))).toBe(true);
  });

  test('caddy: one JSON object a line, Caddy 2.6\'s keys, the same requests and durations as nginx-timed', async () => {
    const timed = (await linesIn('nginx-timed')).map(parseTimed);
    const lines = await linesIn('caddy');
    let lastTs = 0;
    lines.forEach((line, i) => {
      const o = JSON.parse(line);
      const t = timed[i]!;
      expect(Object.keys(o)).toEqual(['level', 'ts', 'logger', 'msg', 'request', 'bytes_read', 'user_id', 'duration', 'size', 'status', 'resp_headers']);
      expect(o.level).toBe(o.status >= 400 ? 'error' : 'info');
      expect(o.logger).toBe('http.log.access.log0');
      expect(o.msg).toBe('handled request');
      // Written as the request ends: in its second, increasing through the file.
      expect(Math.floor(o.ts)).toBe(t.second);
      expect(o.ts).toBeGreaterThanOrEqual(lastTs);
      lastTs = o.ts;
      const r = o.request;
      expect(Object.keys(r).slice(0, 7)).toEqual(['remote_ip', 'remote_port', 'proto', 'method', 'host', 'uri', 'headers']);
      expect(r.remote_ip).toBe(t.host);
      expect(r.remote_port).toMatch(/^\d{4,5}$/);
      expect(r.method).toBe(t.method);
      expect(r.uri).toBe(t.target);
      expect(r.host).toBe(t.vhost);
      expect(r.headers['User-Agent']).toEqual([expect.any(String)]);
      expect(Object.values(r.headers).every((v) => Array.isArray(v))).toBe(true);
      if (r.tls) expect(r.tls.server_name).toBe(t.vhost);
      expect(o.user_id).toBe(t.user === '-' ? '' : t.user);
      expect(o.status).toBe(t.status);
      expect(o.size).toBe(Number(t.bytes));
      expect(typeof o.duration).toBe('number');
      expect(o.duration.toFixed(3)).toBe(t.requestTime);
      expect(o.resp_headers.Server).toEqual(['Caddy']);
    });
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.some((o) => o.request.tls) && parsed.some((o) => !o.request.tls)).toBe(true);
    expect(parsed.some((o) => o.request.headers.Referer)).toBe(true);
    expect(new Set(parsed.map((o) => Object.keys(o.request.headers).join())).size).toBeGreaterThan(3); // Go's map order
    expect(parsed.some((o) => o.duration < 0.001)).toBe(true);
  });

  test('traefik: sorted keys as Go writes them, durations in ns, StartUTC when the request began, the same traffic', async () => {
    const timed = (await linesIn('nginx-timed')).map(parseTimed);
    const caddy = (await linesIn('caddy')).map((l) => JSON.parse(l));
    const lines = await linesIn('traefik');
    const keys = [
      'ClientAddr', 'ClientHost', 'ClientPort', 'ClientUsername', 'DownstreamContentSize', 'DownstreamStatus', 'Duration',
      'OriginContentSize', 'OriginDuration', 'OriginStatus', 'Overhead', 'RequestAddr', 'RequestContentSize', 'RequestCount',
      'RequestHost', 'RequestMethod', 'RequestPath', 'RequestPort', 'RequestProtocol', 'RequestScheme', 'RetryAttempts',
      'RouterName', 'ServiceAddr', 'ServiceName', 'ServiceURL', 'StartLocal', 'StartUTC',
    ];
    let before = 0;
    lines.forEach((line, i) => {
      const o = JSON.parse(line);
      const t = timed[i]!;
      const names = Object.keys(o);
      expect(names).toEqual([...names].sort());
      expect(names.filter((k) => !k.startsWith('TLS')).slice(0, keys.length)).toEqual(keys);
      expect(names.slice(-4)).toEqual(['entryPointName', 'level', 'msg', 'time']);
      expect(o.ClientHost).toBe(t.host);
      expect(o.ClientAddr).toBe(t.host.includes(':') ? `[${t.host}]:${o.ClientPort}` : `${t.host}:${o.ClientPort}`);
      expect(o.ClientUsername).toBe(t.user);
      expect(o.RequestMethod).toBe(t.method);
      expect(o.RequestPath).toBe(t.target);
      expect(o.RequestHost).toBe(t.vhost);
      expect(o.DownstreamStatus).toBe(t.status);
      expect(o.DownstreamContentSize).toBe(Number(t.bytes));
      expect(o.RequestCount).toBe(i + 1);
      expect(Number.isInteger(o.Duration)).toBe(true);
      expect(o.Duration).toBe(Math.round(caddy[i].duration * 1e9));
      expect(o.OriginDuration + o.Overhead).toBe(o.Duration);
      expect(o.OriginDuration).toBeGreaterThanOrEqual(0);
      expect(o.RetryAttempts).toBe(t.upstream.includes(', ') ? 1 : 0);
      // The line is written when the request ends, in the second the other formats give it.
      const start = Date.parse(o.StartUTC);
      expect(Date.parse(o.StartLocal)).toBe(start);
      expect(o.StartLocal).toEndWith('+05:30');
      expect(o.time).toBe(`${new Date((t.second + 330 * 60) * 1000).toISOString().slice(0, 19)}+05:30`);
      expect(Math.floor((start + o.Duration / 1e6) / 1000)).toBeLessThanOrEqual(t.second);
      expect(Math.floor((start + o.Duration / 1e6 + 1) / 1000)).toBeGreaterThanOrEqual(t.second);
      if (start < before) expect(o.Duration).toBeGreaterThan(0); // out of order only because it took time
      before = Math.max(before, start);
      if (t.target.includes('&')) expect(line).toContain('\\u0026');
    });
    expect(lines.some((l) => l.includes('\\u0026'))).toBe(true);
    expect(lines.some((l) => l.includes('"ClientAddr":"[2001:db8::1]:'))).toBe(true);
    // Slow requests began seconds before the requests logged around them.
    const early = lines.map((l) => JSON.parse(l)).filter((o, i) => Date.parse(o.StartUTC) / 1000 < timed[i]!.second - 1);
    expect(early.length).toBeGreaterThan(0);
  });

  for (const format of ['nginx-timed', 'caddy', 'traefik']) {
    test(`${format}: the same seed writes the same bytes, another seed others`, async () => {
      const [a, b, c] = [tmp(), tmp(), tmp()];
      const args = ['--profile', '50x3,200x2', '--backfill', '--start', START, '--format', format];
      await run('-f', a, ...args, '--seed', '123');
      await run('-f', b, ...args, '--seed', '123');
      await run('-f', c, ...args, '--seed', '124');
      expect(linesOf(a)).toHaveLength(550);
      expect(readFileSync(a)).toEqual(readFileSync(b));
      expect(readFileSync(a, 'utf8')).not.toBe(readFileSync(c, 'utf8'));
    });
  }

  test('live writes what backfill writes for the same seed, each second during that second', async () => {
    const backfilled = tmp();
    await run('-f', backfilled, '--profile', '30x2,5x1', '--backfill', '--start', START, '--seed', '4', '--format', 'caddy');
    let ms = START_S * 1000;
    const clock: Clock = { now: () => ms, sleepUntil: async (to) => void (ms = Math.max(ms, to)) };
    const written: string[] = [];
    await live([{ rate: 30, seconds: 2 }, { rate: 5, seconds: 1 }], 4, { format: 'caddy', offsetMinutes: 0 }, (text) => {
      for (const line of text.split('\n').slice(0, -1)) {
        expect(Math.floor(JSON.parse(line).ts)).toBe(Math.floor(ms / 1000));
        written.push(line);
      }
    }, clock);
    expect(written).toEqual(linesOf(backfilled));
  });

  test('makeLine alone (no line place) still writes a well-formed line in every format', () => {
    const rng = mulberry32(5);
    for (let i = 0; i < 200; i++) {
      parseTimed(makeLine(rng, START_S, { format: 'nginx-timed', offsetMinutes: 0 }).trimEnd());
      expect(Math.floor(JSON.parse(makeLine(rng, START_S, { format: 'caddy', offsetMinutes: 0 })).ts)).toBe(START_S);
      expect(JSON.parse(makeLine(rng, START_S, { format: 'traefik', offsetMinutes: 0 })).time).toBe('2026-01-01T00:00:00Z');
    }
  });

  test('clf and combined lines from lineMaker are makeLine\'s with one generator, as they always were', () => {
    for (const format of ['clf', 'combined'] as const) {
      const rng = mulberry32(77);
      const line = lineMaker(77, { format, offsetMinutes: 0 });
      for (let i = 0; i < 300; i++) expect(line(START_S, i, 300)).toBe(makeLine(rng, START_S, { format, offsetMinutes: 0 }));
    }
  });
});

describe('runGenerate', () => {
  const bad: [string[], RegExp][] = [
    [['-r', '-1', '-d', '2'], /--rate/],
    [['-r', '5', '-d', 'abc'], /--duration/],
    [['-r', '5', '-d', '0'], /--duration/],
    [['-r', '5', '-d', '1.5'], /--duration/],
    [['-r', '5'], /--duration/],
    [['-d', '5'], /--rate/],
    [[], /--rate/],
    [['--profile', '5x'], /--profile/],
    [['--profile', 'ax3'], /--profile/],
    [['--profile', '5x0'], /--profile/],
    [['--profile', '5x3', '-r', '2'], /--profile/],
    [['-r', '5', '-d', '2', '--bogus'], /--bogus/],
    [['-r', '5', '-d', '2', '--format', 'json'], /--format/],
    [['-r', '5', '-d', '2', '--offset', '+5'], /--offset/],
    [['-r', '5', '-d', '2', '--backfill', '--start', 'yesterday'], /--start/],
    [['-r', '5', '-d', '2', '--start', START], /--start/],
    [['-r', '5', '-d', '2', '--seed', 'x'], /--seed/],
    [['-r', '5', '-d', '2', 'extra'], /extra/],
  ];
  // Numeric flags out of their ranges (issue item 16): each a line naming the flag and the range.
  const range = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const S = ['-r', '5', '-d', '2'];
  const B = [...S, '--backfill', '--start'];
  bad.push(
    [['-r', '100001', '-d', '1'], range("-r/--rate must be a number from 0.001 to 100000, got '100001'")],
    [['-r', '1e9', '-d', '1'], range("-r/--rate must be a number from 0.001 to 100000, got '1e9'")],
    [['-r', '0.0009', '-d', '1'], range("-r/--rate must be a number from 0.001 to 100000, got '0.0009'")],
    [['-r', 'Infinity', '-d', '1'], range('-r/--rate must be a number from 0.001 to 100000')],
    [['-r', '0x10', '-d', '1'], range('-r/--rate must be a number from 0.001 to 100000')],
    [['-r', '5', '-d', '31536001'], range("-d/--duration must be a whole number from 1 to 31536000, got '31536001'")],
    [['-r', '5', '-d', '1e308'], range("-d/--duration must be a whole number from 1 to 31536000, got '1e308'")],
    [['--profile', '5x3,1e9x5'], range("--profile phase '1e9x5': rate must be a number from 0.001 to 100000, got '1e9'")],
    [['--profile', '5x1e308'], range("--profile phase '5x1e308': seconds must be a whole number from 1 to 31536000")],
    [['--profile', 'NaNx5'], range("--profile phase 'NaNx5': rate must be a number from 0.001 to 100000")],
    [['--profile', '5x31536000,5x1'], range('--profile must last at most 31536000 seconds in all, got 31536001')],
    [[...S, '--seed', '4294967296'], range("--seed must be a whole number from 0 to 4294967295, got '4294967296'")],
    [[...S, '--seed', '-1'], range('--seed must be a whole number from 0 to 4294967295')],
    [[...S, '--seed', '1.5'], range('--seed must be a whole number from 0 to 4294967295')],
    [[...B, '99999999999999999999'], range('from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z')],
    [[...B, '1e308'], range('from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z')],
    [[...B, '253402300800'], range('from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z')],
    [[...B, '1969-12-31T23:59:59Z'], range('from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z')],
    [[...B, '2026-02-30T00:00:00Z'], range("9999-12-31T23:59:59Z, got '2026-02-30T00:00:00Z'")],
    [[...B, '9999-12-31T23:59:59Z'], range("--start '9999-12-31T23:59:59Z' with 2 seconds of profile ends after 9999-12-31T23:59:59")],
    [[...B, '9999-12-31T23:59:58Z', '--offset', '+0001'], range('at --offset +0001 ends after 9999-12-31T23:59:59')],
    [[...S, '--offset', '+2400'], range("--offset must be +HHMM or -HHMM from -2359 to +2359 (like +0530 or -08:00), got '+2400'")],
    [[...S, '--offset', '-0060'], range('--offset must be +HHMM or -HHMM from -2359 to +2359')],
  );
  for (const [args, flag] of bad) {
    test(`bad arguments '${args.join(' ')}' exit 2 with one message and the usage line`, async () => {
      const file = tmp();
      const r = await run('-f', file, ...args);
      expect(r.code).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err).toHaveLength(2);
      expect(r.err[0]).toStartWith('generate: ');
      expect(r.err[0]).toMatch(flag);
      expect(r.err[1]).toBe(errorUsage(USAGE));
      expect(existsSync(file)).toBe(false);
    });
  }

  test('both ends of every range are accepted', async () => {
    const [low, high, first, last] = [tmp(), tmp(), tmp(), tmp()];
    expect(await run('-f', low, '-r', '0.001', '-d', '1', '--backfill', '--seed', '0')).toEqual({ code: 0, out: [], err: [`wrote 0 lines to ${low}`] });
    expect((await run('-f', high, '-r', '100000', '-d', '1', '--backfill', '--seed', '4294967295', '--start', START)).code).toBe(0);
    expect(linesOf(high)).toHaveLength(100_000);
    expect((await run('-f', first, '--profile', '2x1', '--backfill', '--start', '0', '--offset', '+2359')).code).toBe(0);
    expect(linesOf(first)[0]).toContain('[01/Jan/1970:23:59:00 +2359]');
    const end = ['--backfill', '--start', '9999-12-31T23:59:59Z', '--offset', '-2359'];
    expect((await run('-f', last, '-r', '1', '-d', '1', ...end)).code).toBe(0);
    expect(linesOf(last)[0]).toContain('[31/Dec/9999:00:00:59 -2359]');
    expect(parseGenerateArgs(['--profile', '0.5x31535999,1x1'])!.profile).toEqual([{ rate: 0.5, seconds: 31_535_999 }, { rate: 1, seconds: 1 }]);
  });

  test('an unwritable path exits 1 with one line and no stack trace', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const r = await run('-f', join(blocker, 'access.log'), '-r', '1', '-d', '1', '--backfill');
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^generate: \S.*/);
    expect(r.err[0]).not.toContain('\n');
    expect(r.err[0]).not.toContain(' at ');
  });

  test('--help prints the usage to stdout and exits 0', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out.join('\n')).toContain('--profile');
    expect(r.out.join('\n')).toContain('--backfill');
  });
});

describe('as a process', () => {
  const script = join(import.meta.dir, 'fixtures/generator/run-generate.ts');
  const spawn = (...args: string[]) => Bun.spawnSync([process.execPath, script, ...args], { stdout: 'pipe', stderr: 'pipe' });

  test('bad flags exit 2 printing only the message and the usage line to stderr', () => {
    const p = spawn('-r', '-1', '-d', '2', '-f', tmp());
    expect(p.exitCode).toBe(2);
    expect(p.stdout.toString()).toBe('');
    expect(p.stderr.toString()).toBe(`generate: -r/--rate must be a number from 0.001 to 100000, got '-1'\n${errorUsage(USAGE)}\n`);
  });

  test('live -r 20 -d 1 writes about 20 lines with current timestamps and one summary line', () => {
    const file = tmp();
    const before = Math.floor(Date.now() / 1000);
    const p = spawn('-f', file, '-r', '20', '-d', '1');
    const after = Math.floor(Date.now() / 1000);
    expect(p.exitCode).toBe(0);
    expect(p.stdout.toString()).toBe('');
    expect(p.stderr.toString()).toBe(`wrote 20 lines to ${file}\n`);
    const seconds = linesOf(file).map((l) => parse(l).second);
    expect(seconds).toHaveLength(20);
    for (const s of seconds) {
      expect(s).toBeGreaterThanOrEqual(before);
      expect(s).toBeLessThanOrEqual(after);
    }
  });
});
