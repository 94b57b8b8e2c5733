/**
 * The monitor's outputs misbehaving, as processes: a stdout whose reader leaves (`| head -1`),
 * a stderr that cannot be written (`2>/dev/full`, a full disk), a stdout pipe nobody reads, a
 * stdout that fails (ENOSPC), and SIGHUP. Whatever the outputs do, the run ends as it should:
 * quietly, at once after a signal, never spinning, never with a stack trace.
 *
 * Inputs are real files in a temp dir. A pipe "nobody reads" is a FIFO this file holds open for
 * reading and writing and never reads; when the monitor is blocked writing it is read from
 * /proc/PID/task/TID/wchan. The waits are deadlines on what the process does; the one fixed
 * pause measures CPU time over a second.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineReader } from './support/line-reader';
import { isStats, parseStats, spawnEntry } from './support/monitor-process';

const ROOT = path.resolve(import.meta.dir, '..');
const LOCAL_BUN = path.join(ROOT, 'node_modules/.bin/bun');
const BUN = fs.existsSync(LOCAL_BUN) ? LOCAL_BUN : process.execPath;

let dir = '';
/** 300,000 lines, one a second (300,000 one-second intervals): a replay of it with -s 1 takes many seconds. */
let longLog = '';
/** 4,000 lines, one a second: over 1.5 MB of NDJSON with -s 1, written in a moment. */
let midLog = '';
/** 30 lines. */
let shortLog = '';
const fds: number[] = [];

// ---------------------------------------------------------------------------------------------
// Processes: every one is killed at the end of its test, passed or failed.

type Proc = ReturnType<typeof Bun.spawn>;
const running = new Set<Proc>();

function track<P extends Proc>(proc: P): P {
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  return proc;
}

/** `bun entry.ts ...` with stdout and stderr piped to this test. */
const spawn = (args: string[]) => track(spawnEntry(args));

/** `bun entry.ts ...` with the given descriptors (or pipes) as stdout and stderr. */
function spawnWith(args: string[], stdout: 'pipe' | number, stderr: 'pipe' | number) {
  return track(
    Bun.spawn([BUN, 'entry.ts', ...args], { cwd: ROOT, stdin: 'ignore', stdout, stderr, env: { ...process.env, TZ: 'UTC' } }),
  );
}

/** Waits for the exit; a process that does not exit in time is killed (code -1). */
async function exitWithin(proc: Proc, ms: number): Promise<number> {
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  const code = await proc.exited;
  clearTimeout(timer);
  return proc.signalCode ? -1 : code;
}

function killAll() {
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
}

afterEach(killAll);

// ---------------------------------------------------------------------------------------------
// Inputs

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');
/** A CLF line stamped at `ms` (UTC). */
function clf(ms: number, i = 0): string {
  const d = new Date(ms);
  const stamp =
    `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  return `10.0.0.${i % 250} - - [${stamp}] "GET /api/${i % 7} HTTP/1.1" 200 ${100 + (i % 900)}`;
}

/** `n` lines, one a second from 2024-01-01T00:00:00Z. */
function logOf(n: number): string {
  const start = Date.UTC(2024, 0, 1);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(clf(start + i * 1000, i));
  return `${lines.join('\n')}\n`;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-output-'));
  longLog = path.join(dir, 'long.log');
  midLog = path.join(dir, 'mid.log');
  shortLog = path.join(dir, 'short.log');
  fs.writeFileSync(longLog, logOf(300_000));
  fs.writeFileSync(midLog, logOf(4_000));
  fs.writeFileSync(shortLog, logOf(30));
});

afterAll(() => {
  killAll();
  for (const fd of fds) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** A pipe nobody reads: a FIFO held open for reading and writing by this test, never read. */
function unreadPipe(name: string): number {
  const fifo = path.join(dir, name);
  const made = Bun.spawnSync(['mkfifo', fifo]);
  if (made.exitCode !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`);
  const fd = fs.openSync(fifo, 'r+');
  fds.push(fd);
  return fd;
}

/** Fills the FIFO's buffer to the brim (through a non-blocking descriptor of its own). */
function fill(name: string) {
  const fd = fs.openSync(path.join(dir, name), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const block = Buffer.alloc(4096, '#');
  try {
    for (let i = 0; i < 1 << 16; i++) {
      try {
        fs.writeSync(fd, block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw error;
      }
    }
    throw new Error('the FIFO never filled');
  } finally {
    fs.closeSync(fd);
  }
}

/** True when one of the process's threads sleeps in a pipe write (its wchan names it). */
function blockedInPipeWrite(pid: number): boolean {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .some((tid) => /pipe_write|pipe_wait_writable/.test(fs.readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8')));
  } catch {
    return false;
  }
}

/** Waits (with a deadline) until the process is blocked writing a pipe. */
async function untilBlockedInPipeWrite(pid: number, ms: number) {
  const deadline = Date.now() + ms;
  while (!blockedInPipeWrite(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} was not seen blocked in a pipe write within ${ms} ms`);
    await Bun.sleep(20);
  }
}

/** CPU seconds (user + system) the process has used so far. */
const CLOCK_TICKS = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100;
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Reads `proc`'s stdout up to its first complete line, then closes the pipe (as `head -1` does). */
async function readFirstLineAndClose(stdout: ReadableStream<Uint8Array>, ms: number): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = setTimeout(() => void reader.cancel(), ms);
  try {
    while (!text.includes('\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel();
  }
  if (!text.includes('\n')) throw new Error(`no first line within ${ms} ms (got ${JSON.stringify(text)})`);
  return text.slice(0, text.indexOf('\n'));
}

/** What a crash would print: a JS stack frame or Bun's source excerpt. */
const STACK = /^\s+at |\n\s+at |error: .*\n\s*\d+ \||\^\n/;

// ---------------------------------------------------------------------------------------------

describe('a stdout whose reader leaves (| head -1)', () => {
  test('a replay over 300,000 one-second intervals with -s 1 stops soon after the reader goes: exit 0, nothing on stderr', async () => {
    const proc = spawn(['--replay', '-f', longLog, '-s', '1', '--json']);
    const stderr = new Response(proc.stderr).text();
    const first = await readFirstLineAndClose(proc.stdout, 15_000);
    expect(isStats(first)).toBe(true);
    const closedAt = Date.now();
    // To its end, the replay takes well over 10 s here; stopping costs at most the chunk in
    // progress (1 MiB of log) and the exit.
    const code = await exitWithin(proc, 6_000);
    const took = Date.now() - closedAt;
    expect({ code, stderr: await stderr }).toEqual({ code: 0, stderr: '' });
    expect(took).toBeLessThan(6_000);
  });

  test('following with --json -s 1, the next interval after the reader goes ends the run: exit 0, nothing on stderr', async () => {
    const log = path.join(dir, 'follow-epipe.log');
    fs.writeFileSync(log, '');
    const proc = spawn(['-f', log, '--json', '-s', '1']);
    const stderr = new Response(proc.stderr).text();
    const first = await readFirstLineAndClose(proc.stdout, 10_000);
    expect(isStats(first)).toBe(true);
    // The next stats line, a second later, finds the pipe closed.
    const code = await exitWithin(proc, 4_000);
    expect({ code, stderr: await stderr }).toEqual({ code: 0, stderr: '' });
  });
});

describe('stderr that cannot be written (2>/dev/full)', () => {
  test('the notice of a missing file is dropped: stats still reach stdout, the process stays idle, SIGTERM ends it with a final record', async () => {
    const devFull = fs.openSync('/dev/full', 'w');
    fds.push(devFull);
    const log = path.join(dir, 'appears-later.log');
    const proc = spawnWith(['-f', log, '--json', '-s', '1', '--poll-ms', '50'], 'pipe', devFull);
    const out = new LineReader(proc.stdout as ReadableStream<Uint8Array>);
    // The first interval closes after the `waiting for … to appear` notice has failed to print.
    await out.waitFor('a first stats line', 10_000, (lines) => parseStats(lines).length > 0);
    fs.writeFileSync(log, '');
    const now = Date.now();
    fs.appendFileSync(log, `${Array.from({ length: 20 }, (_, i) => clf(now, i)).join('\n')}\n`);
    await out.waitFor('the appended lines counted', 10_000, (lines) =>
      parseStats(lines).reduce((n, s) => n + s.hits, 0) >= 20,
    );
    // Over a second of nothing to do, a healthy monitor sleeps; the old one spun at 100 %.
    const before = cpuSeconds(proc.pid);
    await Bun.sleep(1_000);
    const cpu = cpuSeconds(proc.pid) - before;
    expect(cpu).toBeLessThan(0.3);
    proc.kill('SIGTERM');
    expect(await exitWithin(proc, 3_000)).toBe(0);
    await out.done;
    const last = parseStats(out.lines).at(-1);
    expect(last?.final).toBe(true);
    expect(out.lines.at(-1)).toStartWith('{"type":"stats"');
  });
});

describe('a stdout pipe nobody reads', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`a replay that has filled it ends within 1.5 s of ${signal}, exit 0`, async () => {
      const stuck = unreadPipe(`replay-${signal}.fifo`);
      const proc = spawnWith(['--replay', '-f', midLog, '-s', '1', '--json'], stuck, 'pipe');
      const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
      await untilBlockedInPipeWrite(proc.pid, 10_000);
      proc.kill(signal);
      const code = await exitWithin(proc, 1_500);
      expect({ code, stderr: await stderr }).toEqual({ code: 0, stderr: '' });
    });

    test(`following with --json -s 1 into a full pipe ends within 1.5 s of ${signal}, exit 0`, async () => {
      const name = `follow-${signal}.fifo`;
      const stuck = unreadPipe(name);
      fill(name);
      const log = path.join(dir, `follow-stuck-${signal}.log`);
      fs.writeFileSync(log, '');
      const proc = spawnWith(['-f', log, '--json', '-s', '1'], stuck, 'pipe');
      const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
      // The first stats line, after a second, cannot go anywhere.
      await untilBlockedInPipeWrite(proc.pid, 10_000);
      proc.kill(signal);
      const code = await exitWithin(proc, 1_500);
      expect({ code, stderr: await stderr }).toEqual({ code: 0, stderr: '' });
    });
  }
});

describe('a stdout that fails', () => {
  test('> /dev/full: one line on stderr, exit 1', async () => {
    const devFull = fs.openSync('/dev/full', 'w');
    fds.push(devFull);
    const proc = spawnWith(['--replay', '-f', shortLog, '-s', '1', '--json'], devFull, 'pipe');
    const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
    const code = await exitWithin(proc, 10_000);
    expect({ code, stderr: await stderr }).toEqual({
      code: 1,
      stderr: 'error: cannot write to standard output: no space left on device\n',
    });
  });
});

describe('SIGHUP (a closed terminal or ssh session)', () => {
  test('following with --json: exit 0, and the last line is the final stats record', async () => {
    const log = path.join(dir, 'hangup.log');
    fs.writeFileSync(log, '');
    const proc = spawn(['-f', log, '--json', '-s', '1']);
    const err = new LineReader(proc.stderr);
    const out = new LineReader(proc.stdout, () => `\nstderr:\n${err.lines.join('\n')}`);
    await out.waitFor('a first stats line', 10_000, (lines) => parseStats(lines).length > 0);
    const now = Date.now();
    fs.appendFileSync(log, `${clf(now, 1)}\n${clf(now, 2)}\n`);
    proc.kill('SIGHUP');
    expect(await exitWithin(proc, 3_000)).toBe(0);
    await Promise.all([out.done, err.done]);
    const last = out.lines.at(-1) ?? '';
    expect(isStats(last)).toBe(true);
    expect(JSON.parse(last).final).toBe(true);
    expect(err.lines.join('\n')).not.toMatch(STACK);
  });

  test('--replay --inspect: the page stays up until SIGHUP too, then exit 0', async () => {
    const proc = spawn(['--replay', '-f', shortLog, '--json', '--inspect']);
    const err = new LineReader(proc.stderr);
    await err.waitForLine('the inspector staying up', 20_000, (l) => l.includes('until Ctrl-C'));
    proc.kill('SIGHUP');
    expect(await exitWithin(proc, 3_000)).toBe(0);
  });
});

describe('the writer, beyond its bound', () => {
  test('over 64 MiB waiting for a pipe nobody reads: the rest is dropped and said once, and a flush deadline still ends the run', async () => {
    const script = path.join(dir, 'flood.ts');
    fs.writeFileSync(
      script,
      `import { flushOutput, writeLine } from ${JSON.stringify(path.join(ROOT, 'lib/write-line.ts'))};\n` +
        `const line = 'x'.repeat(1023);\n` +
        `for (let i = 0; i < 72 * 1024; i++) writeLine(1, line);\n` +
        `await flushOutput(300);\n` +
        `process.exit(0);\n`,
    );
    const stuck = unreadPipe('flood.fifo');
    const proc = track(Bun.spawn([BUN, script], { cwd: ROOT, stdin: 'ignore', stdout: stuck, stderr: 'pipe' }));
    const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
    expect(await exitWithin(proc, 10_000)).toBe(0);
    const lines = (await stderr).split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith('warning: standard output is not read fast enough');
    // 72 Ki lines of 1 KiB: 8 Ki of them beyond the 64 MiB.
    expect(lines[1]).toStartWith('warning: 8192 lines of standard output (8388608 bytes) were dropped');
  });
});

describe('a CLF log prints what it always printed (no latency, upstream or vhosts: its format has none)', () => {
  test('a replay as text and as NDJSON, byte for byte as before the log formats', async () => {
    const text = spawn(['--replay', '-f', shortLog]);
    const [out, code] = [await new Response(text.stdout).text(), await exitWithin(text, 10_000)];
    expect(code).toBe(0);
    const block = (from: string, to: string, bytes: string, hosts: string) =>
      `2024-01-01T${from}+00:00 → ${to}+00:00  10 hits, 1.0 req/s, ${bytes}, 0 invalid\n` +
      '  unique    10 hosts · 0 users · 1 sections (estimated)\n' +
      '  sections  /api 10\n' +
      '  status    2xx 10 · 3xx 0 · 4xx 0 · 5xx 0\n' +
      '  methods   GET 10\n' +
      '  users     -\n' +
      `  hosts     ${hosts}\n`;
    expect(out).toBe(
      block('00:00:00', '00:00:10', '1.0 kB', '10.0.0.0 1 · 10.0.0.1 1 · 10.0.0.2 1') +
        block('00:00:10', '00:00:20', '1.1 kB', '10.0.0.10 1 · 10.0.0.11 1 · 10.0.0.12 1') +
        block('00:00:20', '00:00:30', '1.2 kB', '10.0.0.20 1 · 10.0.0.21 1 · 10.0.0.22 1'),
    );

    const json = spawn(['--replay', '--json', '-f', shortLog]);
    const [lines, jsonCode] = [(await new Response(json.stdout).text()).trimEnd().split('\n'), await exitWithin(json, 10_000)];
    expect(jsonCode).toBe(0);
    expect(lines).toHaveLength(4);
    const hosts = Array.from({ length: 10 }, (_, i) => `{"host":"10.0.0.${i}","hits":1}`).join(',');
    expect(lines[0]).toBe(
      '{"type":"stats","start":"2024-01-01T00:00:00.000Z","end":"2024-01-01T00:00:10.000Z","hits":10,"invalid":0,"late":0,"rps":1,' +
        '"sections":[{"section":"/api","hits":10}],"status":{"1xx":0,"2xx":10,"3xx":0,"4xx":0,"5xx":0,"other":0},"bytes":1045,"users":[],' +
        `"hosts":[${hosts}],"methods":[{"method":"GET","hits":10}],"approximate":[],"unique":{"hosts":10,"users":0,"sections":1,"estimated":true},"final":false}`,
    );
    const keys = ['type', 'start', 'end', 'hits', 'invalid', 'late', 'rps', 'sections', 'status', 'bytes', 'users', 'hosts', 'methods', 'approximate', 'unique', 'final'];
    for (const line of lines) expect(Object.keys(JSON.parse(line))).toEqual(keys);
    expect(lines[3]).toBe(
      '{"type":"stats","start":"2024-01-01T00:00:30.000Z","end":"2024-01-01T00:00:30.000Z","hits":0,"invalid":0,"late":0,"rps":0,"sections":[],' +
        '"status":{"1xx":0,"2xx":0,"3xx":0,"4xx":0,"5xx":0,"other":0},"bytes":0,"users":[],"hosts":[],"methods":[],"approximate":[],' +
        '"unique":{"hosts":0,"users":0,"sections":0,"estimated":true},"final":true}',
    );
  });
});
