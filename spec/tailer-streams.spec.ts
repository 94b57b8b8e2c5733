/**
 * Inputs that are not plain regular files, tested on the real process: a FIFO (with no writer
 * yet, and with one that writes and closes), bash's `<(…)`, gzip files and standard input for
 * `--replay`, and a followed file extended by a 2 GiB sparse hole.
 *
 * "Counted" is the sum of `hits` over the `{"type":"stats",...}` NDJSON lines
 * (`--json -s 1 --poll-ms 100`); the harness is tailer-lifecycle's (spec/support/follow-harness).
 * Waits have deadlines; pauses only place an operation.
 */
import { afterAll, describe, expect } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  argsFor,
  BUN,
  exitWithin,
  expectShowing,
  isStats,
  line,
  lines,
  type Monitor,
  notJsonOf,
  type Run,
  runToEnd,
  scenario,
  sectionsOf,
  STACK,
  statsOf,
  sum,
} from './support/follow-harness';

// ---------------------------------------------------------------------------------------------
// Temp dirs

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-streams-'));
const tmpDir = (name: string) => fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function mkfifo(p: string) {
  const made = Bun.spawnSync(['mkfifo', p]);
  if (made.exitCode !== 0) throw new Error(`mkfifo ${p}: ${made.stderr.toString()}`);
}

const COMMON = ['--json', '-s', '1', '--poll-ms', '100'];

/** Ends the monitor with `signal`; its exit code, how long it took, and what it printed. */
async function stop(m: Monitor, signal: 'SIGINT' | 'SIGTERM', ms = 5_000) {
  const t0 = Date.now();
  m.proc.kill(signal);
  const code = await exitWithin(m.proc, ms);
  const took = Date.now() - t0;
  await Promise.all([m.out.done, m.err.done]);
  return { code, took, ...summary(m.out.lines, m.err.lines.join('\n')) };
}

/** Counts, the final records, and the checks every run shares. */
function summary(out: string[], stderr: string) {
  const stats = statsOf(out);
  return {
    hits: sum(stats, 'hits'),
    invalid: sum(stats, 'invalid'),
    stats,
    stderr,
    finals: stats.filter((s) => s.final).length,
    lastIsFinal: stats.at(-1)?.final === true,
    notJson: notJsonOf(out),
    crashed: STACK.test(stderr),
  };
}

const runSummary = (r: Run) => summary(r.stdout.split('\n').filter((l) => l !== ''), r.stderr);

/** Where two outputs first differ (null when they are the same), for a readable failure. */
function firstDifference(got: string, want: string) {
  if (got === want) return null;
  const g = got.split('\n');
  const w = want.split('\n');
  for (let i = 0; i < Math.max(g.length, w.length); i++) {
    if (g[i] !== w[i]) return { line: i + 1, lines: [g.length, w.length], got: g[i]?.slice(0, 300), want: w[i]?.slice(0, 300) };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------

describe('a FIFO and <(…) as -f', () => {
  scenario('9a. a FIFO with no writer yet: stats keep coming, and SIGTERM ends the run promptly with exit 0', async (start) => {
    const fifo = path.join(tmpDir('fifo-idle'), 'access.log');
    mkfifo(fifo);
    const m = start(argsFor([fifo], []));
    await m.ready();
    const more = await m.nextStats(2, 3_000);
    if (!more) console.error(m.transcript());
    expect(more).toBe(true);
    const o = await stop(m, 'SIGTERM');
    expectShowing(m, { code: o.code, hits: o.hits, invalid: o.invalid, finals: o.finals, lastIsFinal: o.lastIsFinal }, {
      code: 0,
      hits: 0,
      invalid: 0,
      finals: 1,
      lastIsFinal: true,
    });
    expect(o.took).toBeLessThan(2_000);
    expect(o.notJson).toEqual([]);
    expect(o.crashed).toBe(false);
  });

  scenario('9b. a FIFO whose writer writes 200 lines and closes: 200 counted, and the run ends by itself (exit 0, one final record)', async (start) => {
    const dir = tmpDir('fifo-writer');
    const fifo = path.join(dir, 'access.log');
    mkfifo(fifo);
    const src = path.join(dir, 'lines.txt');
    fs.writeFileSync(src, lines('fifo', 0, 200));
    const m = start(argsFor([fifo], []));
    // Placing the writer: once the monitor is up (or, if it never says so, after 5 s).
    await m.out.until(5_000, (ls) => ls.some(isStats));
    const writer = Bun.spawn(['bash', '-c', 'cat "$1" > "$2"', 'writer', src, fifo], { stdout: 'ignore', stderr: 'pipe' });
    try {
      const code = await exitWithin(m.proc, 10_000);
      await Promise.all([m.out.done, m.err.done]);
      const o = summary(m.out.lines, m.err.lines.join('\n'));
      expectShowing(m, { code, hits: o.hits, invalid: o.invalid, finals: o.finals, lastIsFinal: o.lastIsFinal }, {
        code: 0,
        hits: 200,
        invalid: 0,
        finals: 1,
        lastIsFinal: true,
      });
      expect(o.notJson).toEqual([]);
      expect(o.crashed).toBe(false);
      expect(await Promise.race([writer.exited, Bun.sleep(2_000).then(() => 'still running')])).toBe(0);
    } finally {
      if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
    }
  });

  scenario('9c. -f <(printf …) (bash process substitution): lines counted, no ESPIPE, the run ends by itself with exit 0', async () => {
    const data = lines('psub', 0, 150, new Date()); // stamped now: no warning about late lines either
    const r = await runToEnd([], {
      argv: ['bash', '-c', `exec "$0" entry.ts -f <(printf '%s' "$1") ${COMMON.join(' ')}`, BUN, data],
    }, 10_000);
    const o = runSummary(r);
    expect({ code: r.code, hits: o.hits, invalid: o.invalid, finals: o.finals, lastIsFinal: o.lastIsFinal }).toEqual({
      code: 0,
      hits: 150,
      invalid: 0,
      finals: 1,
      lastIsFinal: true,
    });
    expect(r.stderr).not.toMatch(/ESPIPE|error/i);
    expect(o.crashed).toBe(false);
    expect(sectionsOf(o.stats)).toEqual(['/psub']);
  });
});

describe('--replay of gzip and of streams', () => {
  scenario('10. --replay x.log.gz, --replay -f - < x.log and --replay -f <(zcat x.log.gz) print what --replay x.log prints', async () => {
    const dir = tmpDir('replay-gz');
    const plainFile = path.join(dir, 'x.log');
    const gzFile = `${plainFile}.gz`;
    const made = await runToEnd(
      ['generate', '-f', plainFile, '--profile', '5x60,25x30,5x60', '--backfill', '--start', '2026-01-01T00:00:00Z', '--seed', '1'],
      {},
      10_000,
    );
    expect(made.code).toBe(0);
    const written = fs.readFileSync(plainFile);
    const lineCount = written.toString().split('\n').filter((l) => l !== '').length;
    fs.writeFileSync(gzFile, gzipSync(written));

    const [plain, gz, stdin, psub] = await Promise.all([
      runToEnd(['--replay', plainFile, ...COMMON]),
      runToEnd(['--replay', gzFile, ...COMMON]),
      runToEnd(['--replay', '-f', '-', ...COMMON], { stdinFile: plainFile }),
      runToEnd([], { argv: ['bash', '-c', `exec "$0" entry.ts --replay -f <(zcat "$1") ${COMMON.join(' ')}`, BUN, gzFile] }),
    ]);
    // The reference itself: the whole fixture, counted once.
    const ref = runSummary(plain);
    expect({ code: plain.code, hits: ref.hits, invalid: ref.invalid, finals: ref.finals, crashed: ref.crashed }).toEqual({
      code: 0,
      hits: lineCount,
      invalid: 0,
      finals: 1,
      crashed: false,
    });
    const against = (r: Run) => ({ code: r.code, difference: firstDifference(r.stdout, plain.stdout), crashed: STACK.test(r.stderr) });
    const same = { code: 0, difference: null, crashed: false };
    expect({ gz: against(gz), stdin: against(stdin), psub: against(psub) }).toEqual({ gz: same, stdin: same, psub: same });
  });
});

describe('a 2 GiB sparse hole', () => {
  /** Appends one line, then extends the file by a 2 GiB hole and writes a line after it. */
  async function hole(m: Monitor, log: string) {
    await m.ready();
    fs.appendFileSync(log, `${line('hole', 0)}\n`);
    await m.mustReach(1);
    const fd = fs.openSync(log, 'r+');
    try {
      const size = fs.fstatSync(fd).size;
      fs.ftruncateSync(fd, size + 2 ** 31);
      const after = Buffer.from(`${line('hole', 1)}\n`);
      fs.writeSync(fd, after, 0, after.length, size + 2 ** 31);
    } finally {
      fs.closeSync(fd);
    }
  }

  scenario(
    '15a. both lines counted, invalid 0, stats keep coming during the read, and SIGTERM ends it within 2 s',
    async (start) => {
      const log = path.join(tmpDir('hole'), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], []));
      // When each stats line arrives.
      const arrivals: number[] = [];
      let recording = true;
      const recorder = m.out.until(60_000, (ls) => {
        const n = ls.filter(isStats).length;
        while (arrivals.length < n) arrivals.push(Date.now());
        return !recording;
      });
      await hole(m, log);
      const holeAt = Date.now();
      await m.reach(2, 20_000);
      await m.nextStats(2, 5_000); // a line counted twice, or an invalid one, would show
      recording = false;
      const stopAt = Date.now();
      const o = await stop(m, 'SIGTERM');
      await recorder; // ends with the output
      // Gaps between stats arrivals from the last one before the hole to the SIGTERM.
      const times = [...arrivals.filter((t) => t < holeAt).slice(-1), ...arrivals.filter((t) => t >= holeAt && t <= stopAt), stopAt];
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expectShowing(m, { code: o.code, hits: o.hits, invalid: o.invalid, finals: o.finals, lastIsFinal: o.lastIsFinal }, {
        code: 0,
        hits: 2,
        invalid: 0,
        finals: 1,
        lastIsFinal: true,
      });
      expect(Math.max(...gaps)).toBeLessThanOrEqual(2_500);
      expect(o.took).toBeLessThan(2_000);
      expect(o.crashed).toBe(false);
    },
    60_000,
  );

  scenario('15b. SIGTERM while the hole is being read ends the run within 2 s, exit 0, nothing invalid', async (start) => {
    const log = path.join(tmpDir('hole-stop'), 'access.log');
    fs.writeFileSync(log, '');
    const m = start(argsFor([log], []));
    await hole(m, log);
    await Bun.sleep(300); // the read of the hole has begun
    const o = await stop(m, 'SIGTERM');
    expectShowing(m, { code: o.code, invalid: o.invalid, finals: o.finals, lastIsFinal: o.lastIsFinal }, {
      code: 0,
      invalid: 0,
      finals: 1,
      lastIsFinal: true,
    });
    expect(o.hits).toBeGreaterThanOrEqual(1);
    expect(o.hits).toBeLessThanOrEqual(2);
    expect(o.took).toBeLessThan(2_000);
    expect(o.crashed).toBe(false);
  });
});
