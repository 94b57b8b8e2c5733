/**
 * Hostile input, on the real process: no bytes make the monitor crash, stall, miscount or grow
 * without bound. Over-long lines, invalid UTF-8, binary junk, NUL bytes, characters split across
 * reads, CRLF, JSON, a generated corpus of a million mixed lines, and a replay where every line
 * brings a new section, user and host.
 *
 * Expected counts follow the rules of actors/clf-scanner.ts: a line is valid when it has the CLF
 * shape with a real timestamp and a status of 100..599 (whatever bytes its host, user or request
 * hold), invalid otherwise or when longer than MAX_LINE (65536) bytes without its '\n' and a
 * trailing '\r'; blank lines (empty, or only spaces and tabs, after a trailing '\r' is dropped)
 * are neither. "Counted" is the sum of `hits` (and `invalid`) over the `stats` NDJSON lines.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineReader } from './support/line-reader';
import { exitWithin, isStats, parseStats, spawnEntry, type StatsRecord, sum } from './support/monitor-process';
import { mulberry32 } from '../lib/generator';
import { MAX_KEY_BYTES } from '../lib/byte-keys';

/** What a crash would print: a JS stack frame or Bun's source excerpt. */
const STACK = /^\s+at |\n\s+at |error: .*\n\s*\d+ \||\^\n/;
const MAX_LINE = 65536;
const MiB = 1 << 20;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-hostile-'));
const tmpDir = (name: string) => fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Processes

/** kB → bytes of a `VmRSS:`/`VmHWM:` line of /proc/PID/status; 0 once the process is gone. */
function memory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** The largest VmHWM seen while it ran (a lower bound of its peak RSS). */
  peak: number;
}

/** Runs to completion (killed after `ms`: code -1), sampling its peak RSS as it goes. */
async function run(args: string[], ms = 60_000): Promise<Result> {
  const proc = spawnEntry(args);
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memory(proc.pid, 'VmHWM'));
  }, 20);
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  try {
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code: proc.signalCode ? -1 : code, stdout, stderr, peak };
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
  }
}

interface Stats extends StatsRecord {
  users: { user: string; hits: number }[];
  hosts: { host: string; hits: number }[];
  methods: { method: string; hits: number }[];
  approximate?: boolean | string[];
}

const statsOf = (lines: string[]) => parseStats<Stats>(lines);
const linesOf = (text: string) => text.split('\n').filter((l) => l !== '');

/** Every stdout line of a --json run parsed (throws on one that is not JSON); its stats. */
function jsonStats(stdout: string): Stats[] {
  const records = linesOf(stdout).map((l) => JSON.parse(l) as { type: string });
  return records.filter((r): r is Stats => r.type === 'stats');
}

/** A live monitor on a file, read as it prints. */
function live(file: string) {
  const proc = spawnEntry(['-f', file, '--json', '-s', '1', '--poll-ms', '100']);
  const out = new LineReader(proc.stdout);
  const err = new LineReader(proc.stderr);
  return {
    proc,
    out,
    err,
    async ready() {
      if (!(await out.until(10_000, (ls) => ls.some(isStats)))) {
        proc.kill('SIGKILL');
        throw new Error(`no stats line within 10 s\nstderr:\n${err.lines.join('\n')}`);
      }
    },
    reach(hits: number, invalid: number, ms = 8_000) {
      return out.until(ms, (ls) => {
        const s = statsOf(ls);
        return sum(s, 'hits') >= hits && sum(s, 'invalid') >= invalid;
      });
    },
    /** Settles 1.5 s (a double count would show), SIGINTs, and collects. */
    async stop() {
      await Bun.sleep(1_500);
      proc.kill('SIGINT');
      const code = await exitWithin(proc, 5_000);
      await Promise.all([out.done, err.done]);
      const stats = statsOf(out.lines);
      return {
        code,
        hits: sum(stats, 'hits'),
        invalid: sum(stats, 'invalid'),
        stats,
        stderr: err.lines.join('\n'),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Lines

const TS = '01/Jan/2026:00:00:00 +0000';
const T0 = Date.UTC(2026, 0, 1) / 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
/** The CLF timestamp of a Unix second, +0000. */
function stamp(second: number): string {
  const d = new Date(second * 1000);
  return (
    `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`
  );
}

const valid = (target: string, host = '10.0.0.1', ts = TS) => `${host} - - [${ts}] "GET ${target} HTTP/1.1" 200 12`;
/** A valid line of exactly `length` bytes (without its '\n'): a long path. */
function validOfLength(length: number, ts = TS): string {
  const head = valid('/long/', '10.0.0.7', ts);
  const pad = length - head.length;
  if (pad < 0) throw new Error('too short');
  return valid(`/long/${'a'.repeat(pad)}`, '10.0.0.7', ts);
}

/** Bytes from a latin1 string: each char one byte. */
const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Deterministic PRNG: the generator's. */
const prng = mulberry32;

// ---------------------------------------------------------------------------------------------

describe('over-long lines in a followed file', () => {
  test('a 200 KiB line written in several appends between two valid lines: 1 invalid, 2 hits, RSS bounded', async () => {
    const log = path.join(tmpDir('long'), 'access.log');
    fs.writeFileSync(log, '');
    const m = live(log);
    try {
      await m.ready();
      const rssBefore = memory(m.proc.pid, 'VmRSS');
      fs.appendFileSync(log, `${valid('/before/1')}\n`);
      const long = `10.0.0.3 - - [${TS}] "GET /x${'y'.repeat(200 * 1024)} HTTP/1.1" 200 1`;
      for (let at = 0; at < long.length; at += 50 * 1024) {
        fs.appendFileSync(log, long.slice(at, at + 50 * 1024));
        await Bun.sleep(150); // each piece is read on its own
      }
      fs.appendFileSync(log, `\n${valid('/after/1')}\n`);
      await m.reach(2, 1);
      const growth = memory(m.proc.pid, 'VmHWM') - rssBefore;
      const o = await m.stop();
      expect({ code: o.code, hits: o.hits, invalid: o.invalid }).toEqual({ code: 0, hits: 2, invalid: 1 });
      expect(o.stderr).not.toMatch(STACK);
      expect(growth).toBeLessThan(32 * MiB);
      const sections = o.stats.flatMap((s) => s.sections.map((x) => x.section)).sort();
      expect(sections).toEqual(['/after', '/before']);
    } finally {
      m.proc.kill('SIGKILL');
    }
  }, 30_000);

  test('a 64 MiB line with no newline for a while is not held: peak RSS grows far less than it', async () => {
    const log = path.join(tmpDir('endless'), 'access.log');
    fs.writeFileSync(log, '');
    const m = live(log);
    try {
      await m.ready();
      const hwmBefore = memory(m.proc.pid, 'VmHWM');
      fs.appendFileSync(log, `${valid('/before/1')}\n`);
      const piece = Buffer.alloc(MiB, 'z');
      for (let i = 0; i < 64; i++) {
        fs.appendFileSync(log, piece);
        if (i % 8 === 7) await Bun.sleep(50); // read as it grows
      }
      await Bun.sleep(500); // all of it read before the newline comes
      fs.appendFileSync(log, `\n${valid('/after/1')}\n`);
      await m.reach(2, 1);
      const growth = memory(m.proc.pid, 'VmHWM') - hwmBefore;
      const o = await m.stop();
      expect({ code: o.code, hits: o.hits, invalid: o.invalid }).toEqual({ code: 0, hits: 2, invalid: 1 });
      expect(o.stderr).not.toMatch(STACK);
      expect(growth).toBeLessThan(32 * MiB);
    } finally {
      m.proc.kill('SIGKILL');
    }
  }, 30_000);

  test('a multi-byte character split across two appends is decoded whole, and the line counted once', async () => {
    const log = path.join(tmpDir('split-char'), 'access.log');
    fs.writeFileSync(log, '');
    const m = live(log);
    try {
      await m.ready();
      const whole = Buffer.from(`${valid('/café€😀/1')}\n`, 'utf8');
      const e = whole.indexOf(Buffer.from('é', 'utf8'));
      for (const cut of [e + 1, whole.indexOf(Buffer.from('€', 'utf8')) + 2, whole.indexOf(Buffer.from('😀', 'utf8')) + 3]) {
        // the previous piece ended inside a character; so does this one
        fs.appendFileSync(log, whole.subarray(fs.statSync(log).size, cut));
        await Bun.sleep(250);
      }
      fs.appendFileSync(log, whole.subarray(fs.statSync(log).size));
      await m.reach(1, 0);
      const o = await m.stop();
      expect({ code: o.code, hits: o.hits, invalid: o.invalid }).toEqual({ code: 0, hits: 1, invalid: 0 });
      expect(o.stats.flatMap((s) => s.sections.map((x) => x.section))).toEqual(['/café€😀']);
      expect(o.stderr).not.toMatch(STACK);
    } finally {
      m.proc.kill('SIGKILL');
    }
  }, 30_000);
});

describe('replay of hostile bytes', () => {
  test('invalid UTF-8, junk, NULs, characters across read boundaries, CRLF, JSON, bad dates: exact counts', async () => {
    const parts: Buffer[] = [];
    let size = 0;
    let hits = 0;
    let invalid = 0;
    const add = (line: Buffer | string, kind: 'hit' | 'invalid' | 'blank', newline = true) => {
      const b = typeof line === 'string' ? bytes(line) : line;
      const withNl = newline ? Buffer.concat([b, bytes('\n')]) : b;
      parts.push(withNl);
      size += withNl.length;
      if (kind === 'hit') hits++;
      if (kind === 'invalid') invalid++;
    };

    add(valid('/h/1'), 'hit');
    // Invalid UTF-8 in the user and the path; an overlong encoding and a lone continuation byte
    // as the host: bytes, still a valid line.
    add(`10.0.0.2 - \xff\xfe [${TS}] "GET /bad\xc3(/x HTTP/1.1" 200 5`, 'hit');
    add(`\xc0\xaf\x80 - - [${TS}] "GET /h/3 HTTP/1.1" 200 1`, 'hit');
    // Binary junk (no '\n'), starting with a byte that is not blank.
    const junk = Buffer.alloc(300);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) & 0xff;
    junk[0] = 0x80;
    for (let i = 0; i < junk.length; i++) if (junk[i] === 10) junk[i] = 11;
    add(junk, 'invalid');
    // NULs: inside the path and the host (any byte but a space), NULs before a line, in the
    // timestamp (invalid), and a line of NULs alone (not blank: invalid).
    add(`10.0.0.4 - - [${TS}] "GET /nul\x00x HTTP/1.1" 200 1`, 'hit');
    add(`10.0.\x00.5 - - [${TS}] "GET /h/5 HTTP/1.1" 200 1`, 'hit');
    add(`\x00\x00\x00${valid('/h/6')}`, 'hit');
    add(`10.0.0.6 - - [01/Jan/2026:00:0\x00:00 +0000] "GET /h/7 HTTP/1.1" 200 1`, 'invalid');
    add('\x00\x00\x00\x00', 'invalid');
    // CRLF endings, and blank lines (a lone CR is a blank CRLF line).
    for (let i = 0; i < 3; i++) add(`${valid(`/crlf/${i}`)}\r`, 'hit');
    add('\r', 'blank');
    add('', 'blank');
    add('   ', 'blank');
    add('\t \t', 'blank');
    add(' \t\r', 'blank');
    // A JSON line, and lines that are almost CLF.
    add('{"type":"stats","hits":5,"invalid":0}', 'invalid');
    for (const ts of [
      '29/Feb/2026:00:00:00 +0000',
      '31/Apr/2026:00:00:00 +0000',
      '00/Jan/2026:00:00:00 +0000',
      '01/Jan/2026:24:00:00 +0000',
      '01/Jan/2026:12:60:00 +0000',
      '01/Jan/2026:12:00:60 +0000',
      '01/Jan/2026:00:00:00 +1500',
      '01/Jan/2026:00:00:00 +0060',
      '01/Foo/2026:00:00:00 +0000',
      '01/jan/2026:00:00:00 +0000',
      '1/Jan/2026:00:00:00 +0000',
      '01/Jan/2026:00:00:00 0000',
    ]) {
      add(valid('/baddate/1', '10.0.0.8', ts), 'invalid');
    }
    add(valid('/leap/1', '10.0.0.8', '29/Feb/2024:00:00:00 +0000'), 'hit');
    add(`10.0.0.8 - - [${TS}] "GET /s/1 HTTP/1.1" 600 1`, 'invalid');
    add(`10.0.0.8 - - [${TS}] "GET /s/1 HTTP/1.1" 099 1`, 'invalid');
    add(`10.0.0.8 - - [${TS}] "GET /s/1 HTTP/1.1" 200 abc`, 'invalid');
    add(`10.0.0.8 - - [${TS}] "GET /s/1 HTTP/1.1" 200`, 'invalid');
    add(`10.0.0.8 - - [${TS}] "GET /s/1 HTTP/1.1 200 1`, 'invalid');
    // TLS bytes sent to an HTTP port: a hit with no request.
    add(`10.0.0.9 - - [${TS}] "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" 400 0`, 'hit');
    // MAX_LINE exactly (with and without a CR), and one byte more.
    add(validOfLength(MAX_LINE), 'hit');
    add(`${validOfLength(MAX_LINE)}\r`, 'hit');
    add(validOfLength(MAX_LINE + 1), 'invalid');

    // Multi-byte characters across the 1 MiB, 2 MiB and 3 MiB offsets (where a reader of 1 MiB
    // chunks splits them), with valid filler lines before them. Each comes 20 s after the one
    // before, so that its section is in the top list of an interval of its own.
    const fill = (k: number, ts: string) => valid(`/fill/${k}`, '10.0.0.10', ts);
    let fillers = 0;
    const place = (line: Buffer, inLine: number, offset: number, ts: string) => {
      const before = offset - inLine; // where the line must start
      const adjustBase = bytes(`${valid('/fill/', '10.0.0.10', ts)}\n`).length; // with no padding
      while (before - size > adjustBase + 200) add(fill(fillers++, ts), 'hit');
      const pad = before - size - adjustBase;
      add(valid(`/fill/${'p'.repeat(pad)}`, '10.0.0.10', ts), 'hit');
      expect(size).toBe(before);
      add(line, 'hit');
    };
    let ts = TS;
    for (const [text, offset, into, second] of [
      ['/café/1', MiB, 1, 20],
      ['/€uro/1', 2 * MiB, 2, 40],
      ['/😀/1', 3 * MiB, 1, 60],
    ] as const) {
      const char = text.slice(1, text.indexOf('/', 1)).match(/[^\x00-\x7f]+/u)![0];
      ts = stamp(T0 + second);
      const line = Buffer.from(valid(text, '10.0.0.11', ts), 'utf8');
      place(line, line.indexOf(Buffer.from(char, 'utf8')) + into, offset, ts);
    }
    // The last line has no newline: still a line at the end of a replay.
    add(valid('/last/1', '10.0.0.1', ts), 'hit', false);

    const log = path.join(tmpDir('hostile'), 'hostile.log');
    fs.writeFileSync(log, Buffer.concat(parts));
    expect(hits).toBeGreaterThan(30_000);

    const json = await run(['--replay', '--json', log]);
    expect(json.code).toBe(0);
    expect(json.stderr).not.toMatch(STACK);
    const stats = jsonStats(json.stdout);
    expect({ hits: sum(stats, 'hits'), invalid: sum(stats, 'invalid') }).toEqual({ hits, invalid });
    const sections = new Set(stats.flatMap((s) => s.sections.map((x) => x.section)));
    for (const s of ['/café', '/€uro', '/😀', '/crlf', '/leap', '/fill']) expect(sections).toContain(s);
    expect([...sections].filter((s) => s.includes('\ufffd') && !s.startsWith('/bad'))).toEqual([]);

    // The same bytes in human output: no crash either.
    const human = await run(['--replay', '-s', '3600', log]);
    expect(human.code).toBe(0);
    expect(human.stderr).not.toMatch(STACK);
    const heads = linesOf(human.stdout).filter((l) => / hits, .* invalid/.test(l));
    expect(heads).toHaveLength(1); // one interval of an hour holds the whole log
    expect(heads[0]).toContain(`  ${hits} hits, `);
    expect(heads[0]).toContain(`, ${invalid} invalid`);
  }, 60_000);
});

describe('a generated corpus of 1,000,000 mixed lines (--replay --json)', () => {
  test('exactly the expected valid and invalid totals, exit 0', async () => {
    const N = 1_000_000;
    const rand = prng(20260101);
    const int = (n: number) => Math.floor(rand() * n);
    const SECONDS = 1000;
    const stamps = Array.from({ length: SECONDS }, (_, s) => stamp(T0 + s));
    const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD'];
    const statuses = [200, 200, 200, 201, 301, 304, 404, 500, 503];
    const badStamps = [
      '29/Feb/2026:00:00:00 +0000',
      '31/Apr/2026:10:00:00 +0000',
      '01/Jan/2026:24:00:00 +0000',
      '01/Jan/2026:12:61:00 +0000',
      '01/Jan/2026:00:00:00 +1600',
      '01/Foo/2026:00:00:00 +0000',
      '1/Jan/2026:00:00:00 +00000',
      '01/Jan/2026 00:00:00 +0000',
    ];
    const blanks = ['', ' ', '\t', '\r', '  \t '];
    const others = [
      '{"level":"info","msg":"not a log line"}',
      `10.1.1.1 - - [${TS}] "GET /s HTTP/1.1" 600 1`,
      `10.1.1.1 - - [${TS}] "GET /s HTTP/1.1" 200 12x`,
      `10.1.1.1 - - [${TS}] "GET /s HTTP/1.1`,
      '- - - [] "" 200 1',
      '#Fields: date time cs-method cs-uri-stem',
    ];
    // Random bytes (no '\n'), as latin1 chars, to slice junk lines from.
    const poolBytes = Buffer.alloc(1 << 20);
    for (let i = 0; i < poolBytes.length; i++) {
      const b = int(256);
      poolBytes[i] = b === 10 ? 11 : b;
    }
    const pool = poolBytes.toString('latin1');

    const validLine = (i: number) => {
      const r = int(1 << 30);
      let second = Math.floor((i * SECONDS) / N);
      if (r % 20 === 0) second = Math.max(0, second - (r % 37)); // a few late lines
      const host = `10.${r & 255}.${(r >> 8) & 15}.${(r >> 12) & 7}`;
      const user = r % 3 === 0 ? `u${r % 50}` : '-';
      const method = methods[r % methods.length]!;
      const status = statuses[(r >> 4) % statuses.length]!;
      const tail = r % 4 === 0 ? ' "-" "Mozilla/5.0 (X11)"' : '';
      return `${host} - ${user} [${stamps[second]}] "${method} /s${(r >> 7) % 40}/p${i}?q=${r} HTTP/1.1" ${status} ${r % 5000}${tail}`;
    };

    let nValid = 0;
    let nInvalid = 0;
    let nBlank = 0;
    const log = path.join(tmpDir('corpus'), 'corpus.log');
    const fd = fs.openSync(log, 'w');
    const started = Date.now();
    try {
      let chunk: string[] = [];
      for (let i = 0; i < N; i++) {
        let line: string;
        if (i % 100_000 === 50_000) {
          line = validOfLength(MAX_LINE + 1 + int(10_000), stamps[Math.floor((i * SECONDS) / N)]); // over-long
          nInvalid++;
        } else if (i % 100_000 === 60_000) {
          line = validOfLength(MAX_LINE, stamps[Math.floor((i * SECONDS) / N)]); // just fits
          nValid++;
        } else {
          const r = rand();
          if (r < 0.7) {
            line = validLine(i);
            nValid++;
          } else if (r < 0.78) {
            // Truncated: cut before the end of the closing quote, so never a valid line.
            const whole = validLine(i);
            const close = whole.indexOf('" ', whole.indexOf('"') + 1);
            line = whole.slice(0, 1 + int(close + 1));
            nInvalid++;
          } else if (r < 0.85) {
            const at = int(pool.length - 200);
            line = String.fromCharCode(0x21 + int(90)) + pool.slice(at, at + int(150));
            nInvalid++;
          } else if (r < 0.91) {
            line = valid(`/bad/${i}`, '10.2.2.2', badStamps[int(badStamps.length)]);
            nInvalid++;
          } else if (r < 0.96) {
            line = blanks[int(blanks.length)]!;
            nBlank++;
          } else {
            line = others[int(others.length)]!;
            nInvalid++;
          }
        }
        chunk.push(line);
        if (chunk.length === 20_000) {
          fs.writeSync(fd, bytes(`${chunk.join('\n')}\n`));
          chunk = [];
        }
      }
      if (chunk.length > 0) fs.writeSync(fd, bytes(`${chunk.join('\n')}\n`));
    } finally {
      fs.closeSync(fd);
    }
    const generation = Date.now() - started;
    expect(nValid + nInvalid + nBlank).toBe(N);
    expect(nValid).toBeGreaterThan(690_000);
    expect(generation).toBeLessThan(10_000);

    const r = await run(['--replay', '--json', log], 60_000);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(STACK);
    const stats = jsonStats(r.stdout);
    expect({ hits: sum(stats, 'hits'), invalid: sum(stats, 'invalid') }).toEqual({ hits: nValid, invalid: nInvalid });
    expect(stats.filter((s) => s.final)).toHaveLength(1);
  }, 90_000);
});

describe('cardinality: 300,000 lines, each with a new section, user and host (--replay --json)', () => {
  const N = 300_000;
  const PER_SECOND = 10_000; // 30 s of log: three 10 s intervals of 100,000 distinct keys each
  let result: Promise<Result> | null = null;
  /** One replay, shared by the tests below. */
  const replay = () =>
    (result ??= (async () => {
      const log = path.join(tmpDir('cardinality'), 'many.log');
      const fd = fs.openSync(log, 'w');
      try {
        for (let from = 0; from < N; from += 50_000) {
          let s = '';
          for (let i = from; i < from + 50_000; i++) {
            s += `h${i}.example.com - user${i} [${stamp(T0 + Math.floor(i / PER_SECOND))}] "GET /section${i}/page HTTP/1.1" 200 ${i % 997}\n`;
          }
          fs.writeSync(fd, s);
        }
      } finally {
        fs.closeSync(fd);
      }
      return run(['--replay', '--json', log], 60_000);
    })());

  test('exit 0, every hit counted, peak RSS under 150 MB, stats lines bounded (top lists of at most 10)', async () => {
    const r = await replay();
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const stats = jsonStats(r.stdout);
    expect(sum(stats, 'hits')).toBe(N);
    expect(sum(stats, 'invalid')).toBe(0);
    expect(r.peak).toBeGreaterThan(0);
    expect(r.peak).toBeLessThan(150 * 1000 * 1000);
    for (const s of stats) {
      expect(s.sections.length).toBeLessThanOrEqual(10);
      expect(s.users.length).toBeLessThanOrEqual(10);
      expect(s.hosts.length).toBeLessThanOrEqual(10);
      expect(s.methods.length).toBeLessThanOrEqual(10);
    }
    const longest = Math.max(...linesOf(r.stdout).map((l) => Buffer.byteLength(l)));
    expect(longest).toBeLessThan(8 * 1024);
  }, 90_000);

  test('intervals with more distinct keys than the tables keep say their top lists are approximate', async () => {
    const r = await replay();
    expect(r.code).toBe(0);
    const full = jsonStats(r.stdout).filter((s) => s.hits >= 100_000);
    expect(full).toHaveLength(3);
    for (const s of full) {
      // `"approximate": true`, or the list of the tables that are (sections, users and hosts
      // here; methods has one key, GET, and stays exact).
      const approximate = Array.isArray(s.approximate) ? [...s.approximate].sort() : s.approximate;
      expect([true, ['hosts', 'sections', 'users']]).toContainEqual(approximate!);
    }
  }, 90_000);
});

describe('long keys: 2,000 lines, each with a new 30 KB section and host, in one interval (--replay --json)', () => {
  test(`keys are kept to ${MAX_KEY_BYTES} bytes and shown with …; keys alike in those bytes count together; peak RSS under 150 MB`, async () => {
    const log = path.join(tmpDir('long-keys'), 'long.log');
    const long = 'x'.repeat(30_000);
    let text = '';
    for (let i = 0; i < 2000; i++) {
      const n = String(i).padStart(4, '0');
      text += `h${n}${long} - - [${stamp(T0 + Math.floor(i / 400))}] "GET /${n}${long} HTTP/1.1" 200 1\n`;
    }
    // Two more whose sections differ only after the kept bytes: one key, 2 hits.
    for (const tail of ['A', 'B']) text += `10.0.0.1 - - [${stamp(T0 + 4)}] "GET /9999${long}${tail} HTTP/1.1" 200 1\n`;
    fs.writeFileSync(log, text);
    const r = await run(['--replay', '--json', log], 60_000);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const stats = jsonStats(r.stdout);
    expect(sum(stats, 'hits')).toBe(2002);
    const top = stats.find((s) => s.hits === 2002)!;
    const kept = `/9999${long}`.slice(0, MAX_KEY_BYTES);
    expect(top.sections[0]).toEqual({ section: `${kept}…`, hits: 2 });
    expect(top.hosts[0]).toEqual({ host: '10.0.0.1', hits: 2 });
    expect(top.hosts.slice(1).map((h) => [h.host.length, h.host.endsWith('…'), h.hits])).toEqual(Array(9).fill([MAX_KEY_BYTES + 1, true, 1]));
    expect(r.peak).toBeGreaterThan(0);
    expect(r.peak).toBeLessThan(150 * 1000 * 1000);
  }, 90_000);
});
