/**
 * The harness of the process-level follow specs (tailer-lifecycle, tailer-paths, tailer-streams):
 * a `Monitor` (a real `bun entry.ts` process whose stdout and stderr are read line by line),
 * `finish` (wait for a count with a deadline, settle, SIGINT, collect), `expectCounted` (what
 * every follow scenario asserts at its end), and `scenario` (a concurrent test in one of SLOTS
 * slots whose monitors are killed at its end whatever happens).
 *
 * A monitor is started like `spawnEntry` does (`bun entry.ts ...` in the project root, TZ=UTC),
 * or, with `SpawnHow`, from another working directory, as the unprivileged user `nobody`
 * (through setpriv), or as a whole command line of its own (`bash -c 'exec bun entry.ts ...'`).
 *
 * Each spec file keeps its own temp dirs (and their afterAll): hooks belong to the file.
 */
import { expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineReader } from './line-reader';
import { type EntryProcess, exitWithin, isStats, parseStats, spawnEntry, type StatsRecord, sum } from './monitor-process';

export { exitWithin, isStats, sum, type StatsRecord } from './monitor-process';

export const ROOT = path.resolve(import.meta.dir, '../..');
const LOCAL_BUN = path.join(ROOT, 'node_modules/.bin/bun');
/** The bun executable the specs run the CLI with. */
export const BUN = fs.existsSync(LOCAL_BUN) ? LOCAL_BUN : process.execPath;
/** entry.ts by its absolute path, for a monitor started in another working directory. */
export const ENTRY = path.join(ROOT, 'entry.ts');

/** What a crash would print: a JS stack frame or Bun's source excerpt. */
export const STACK = /^\s+at |\n\s+at |error: .*\n\s*\d+ \||\^\n/;

export const MODES = [
  { mode: 'watch', flags: [] as string[] },
  { mode: 'poll', flags: ['--no-watch'] },
] as const;

/** How long to wait for the counted hits to reach the written number. */
export const COUNT_DEADLINE = 8_000;
/** How long to keep watching after that, so that a line counted twice would show. */
export const SETTLE = 1_500;

// ---------------------------------------------------------------------------------------------
// Lines

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** A CLF timestamp (UTC), `01/Jan/2026:00:00:00 +0000`. */
export const clfTime = (d: Date) =>
  `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
  `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;

/** One valid CLF line; its path `/TAG/SEQ` makes it unique and its section `/TAG`. */
export const line = (tag: string, seq: number, when?: Date) =>
  `127.0.0.1 - - [${when ? clfTime(when) : '01/Jan/2026:00:00:00 +0000'}] "GET /${tag}/${seq} HTTP/1.1" 200 12`;

/** `n` complete lines `/TAG/from` … `/TAG/(from+n-1)`, each ending in '\n' (stamped `when`, if given). */
export const lines = (tag: string, from: number, n: number, when?: Date) => {
  let s = '';
  for (let i = 0; i < n; i++) s += `${line(tag, from + i, when)}\n`;
  return s;
};

// ---------------------------------------------------------------------------------------------
// Concurrency: at most SLOTS monitors at once (the machine may have 2 CPUs).

const SLOTS = 8;
let free = SLOTS;
const queue: (() => void)[] = [];
export async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (free > 0) free--;
  else await new Promise<void>((resolve) => queue.push(resolve));
  try {
    return await fn();
  } finally {
    const next = queue.shift();
    if (next) next();
    else free++;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface Stats extends StatsRecord {
  hosts: { host: string; hits: number }[];
}

/** Stats lines parsed leniently, for a stream still being written. */
export const statsOf = (lines: string[]) => parseStats<Stats>(lines);

/** The sections seen over all the stats records. */
export const sectionsOf = (stats: readonly Stats[]) => [...new Set(stats.flatMap((s) => s.sections.map((x) => x.section)))].sort();

/** CPU seconds (user + system) the process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** Whether the process has a descriptor open on `file` (read through /proc/PID/fd; the specs run as root). */
export function hasOpen(pid: number, file: string): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Waits until `ready()` holds (true) or `ms` pass (false), looking every 20 ms. */
export async function until(ms: number, ready: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (ready()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(20);
  }
}

export type Proc = EntryProcess<'pipe' | 'ignore'>;

/** The user that owns what an unprivileged run may not read, when the tests run as root: nobody. */
export const NOBODY = 65534;
const ROOT_USER = process.getuid?.() === 0;

/**
 * Makes a file or folder one that an unprivileged run (`SpawnHow.unprivileged`) may not read or
 * search: as root, owned by nobody with `mode` (0600, 0700); as anyone else, mode 0.
 */
export function protect(p: string, mode: number) {
  if (ROOT_USER) {
    fs.chownSync(p, NOBODY, NOBODY);
    fs.chmodSync(p, mode);
  } else fs.chmodSync(p, 0);
}

/** How to start a process other than `bun entry.ts ARGS` in the project root as this user. */
export interface SpawnHow {
  /** The working directory (entry.ts is then given by its absolute path). */
  cwd?: string;
  /**
   * Subject to file permissions: as root, through `setpriv` without the capabilities that let
   * root read and search anything (the project stays readable wherever it was cloned).
   */
  unprivileged?: boolean;
  /** More environment. */
  env?: Record<string, string>;
  /** The whole command line, instead of `bun entry.ts ARGS` (e.g. `bash -c 'exec bun entry.ts ...'`). */
  argv?: string[];
  /** Standard input from a file (instead of 'pipe' or 'ignore'). */
  stdinFile?: string;
}

/** Starts `bun entry.ts ...args` (or `how.argv`) as `how` says; stdout and stderr are pipes. */
export function spawnHow(args: string[], stdin: 'pipe' | 'ignore', how: SpawnHow): Proc {
  if (Object.keys(how).length === 0) return spawnEntry(args, { stdin });
  const entry = how.cwd ? ENTRY : 'entry.ts';
  let argv = how.argv ?? [BUN, entry, ...args];
  const env: Record<string, string | undefined> = { ...process.env, TZ: 'UTC', ...how.env };
  if (how.unprivileged && ROOT_USER) argv = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', ...argv];
  return Bun.spawn(argv, {
    cwd: how.cwd ?? ROOT,
    stdin: how.stdinFile ? Bun.file(how.stdinFile) : stdin,
    stdout: 'pipe',
    stderr: 'pipe',
    env,
  }) as unknown as Proc;
}

export class Monitor {
  readonly proc: Proc;
  readonly out: LineReader;
  readonly err: LineReader;

  constructor(args: string[], stdin: 'pipe' | 'ignore' = 'ignore', how: SpawnHow = {}) {
    this.proc = spawnHow(args, stdin, how);
    this.out = new LineReader(this.proc.stdout);
    this.err = new LineReader(this.proc.stderr);
  }

  get pid() {
    return this.proc.pid;
  }

  hits() {
    return sum(statsOf(this.out.lines), 'hits');
  }

  statsCount() {
    return this.out.lines.filter(isStats).length;
  }

  /** Its first stats line: it is up, and its tailer has looked at every path. */
  async ready() {
    if (!(await this.out.until(10_000, (ls) => ls.some(isStats)))) {
      throw new Error(`the monitor printed no stats line within 10 s\n${this.transcript()}`);
    }
  }

  /** Waits until the counted hits reach `n` (true) or the deadline passes (false). */
  reach(n: number, ms = COUNT_DEADLINE) {
    return this.out.until(ms, (ls) => sum(statsOf(ls), 'hits') >= n);
  }

  /** Like `reach`, for a step that the scenario needs before going on. */
  async mustReach(n: number, ms = COUNT_DEADLINE) {
    if (!(await this.reach(n, ms))) {
      throw new Error(`counted ${this.hits()} hits, not ${n}, within ${ms} ms\n${this.transcript()}`);
    }
  }

  /** Waits for `k` more stats lines than there are now. */
  nextStats(k: number, ms = 5_000) {
    const seen = this.statsCount();
    return this.out.until(ms, (ls) => ls.filter(isStats).length >= seen + k);
  }

  /** The end of what it printed (stats lines shortened), for a failure message. */
  transcript() {
    const short = (l: string) => (l.length > 200 ? `${l.slice(0, 200)}…` : l);
    return (
      `stdout (last 30 lines):\n${this.out.lines.slice(-30).map(short).join('\n')}\n` +
      `stderr (last 30 lines):\n${this.err.lines.slice(-30).map(short).join('\n')}`
    );
  }

  kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

export interface Outcome {
  code: number;
  hits: number;
  invalid: number;
  stats: Stats[];
  stderr: string;
  /** Stats lines printed during the settle time (the monitor kept going). */
  statsWhileSettling: number;
  /** CPU seconds used during the settle time, when it had nothing to read. */
  cpuWhileSettling: number;
  /** stdout lines that are not JSON (there should be none). */
  notJson: string[];
}

/** The stdout lines that are not JSON. */
export const notJsonOf = (lines: string[]) =>
  lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });

/**
 * The end of every scenario: wait until `expected` hits are counted (or the deadline), settle,
 * SIGINT, and collect what the monitor said.
 */
export async function finish(m: Monitor, expected: number, deadline = COUNT_DEADLINE): Promise<Outcome> {
  await m.reach(expected, deadline);
  const seen = m.statsCount();
  const cpu0 = cpuSeconds(m.pid);
  await Bun.sleep(SETTLE);
  const cpuWhileSettling = cpuSeconds(m.pid) - cpu0;
  const statsWhileSettling = m.statsCount() - seen;
  m.proc.kill('SIGINT');
  const code = await exitWithin(m.proc, 5_000);
  await Promise.all([m.out.done, m.err.done]);
  const stats = statsOf(m.out.lines);
  return {
    code,
    hits: sum(stats, 'hits'),
    invalid: sum(stats, 'invalid'),
    stats,
    stderr: m.err.lines.join('\n'),
    statsWhileSettling,
    cpuWhileSettling,
    notJson: notJsonOf(m.out.lines),
  };
}

/** `expect(got).toEqual(want)`, with the monitor's output printed when it fails. */
export function expectShowing(m: Monitor, got: unknown, want: unknown) {
  if (!Bun.deepEquals(got, want)) console.error(m.transcript());
  expect(got).toEqual(want);
}

/** What every scenario asserts at its end. */
export function expectCounted(o: Outcome, expected: number, m: Monitor) {
  expectShowing(m, { code: o.code, hits: o.hits, invalid: o.invalid }, { code: 0, hits: expected, invalid: 0 });
  expect(o.notJson).toEqual([]);
  expect(o.stderr).not.toMatch(STACK);
  // The last record is the one final interval.
  expect(o.stats.filter((s) => s.final)).toHaveLength(1);
  expect(o.stats.at(-1)!.final).toBe(true);
  // It kept printing stats with nothing to read, and did not spin doing so.
  expect(o.statsWhileSettling).toBeGreaterThanOrEqual(1);
  expect(o.cpuWhileSettling).toBeLessThan(0.5 * (SETTLE / 1000));
}

/** `-f PATH...`, the mode's flags, and the common ones. */
export const argsFor = (paths: string[], flags: readonly string[]) => [
  ...paths.flatMap((p) => ['-f', p]),
  '--json',
  '-s',
  '1',
  '--poll-ms',
  '100',
  ...flags,
];

export type Start = (args: string[], stdin?: 'pipe' | 'ignore', how?: SpawnHow) => Monitor;

/** A scenario: one slot, the monitors it starts killed at its end whatever happens. */
export function scenario(
  name: string,
  body: (start: Start) => Promise<void>,
  timeout = 40_000,
  runner: typeof test.concurrent = test.concurrent,
) {
  runner(
    name,
    () =>
      withSlot(async () => {
        const started: Monitor[] = [];
        try {
          await body((args, stdin, how) => {
            const m = new Monitor(args, stdin, how);
            started.push(m);
            return m;
          });
        } finally {
          for (const m of started) m.kill();
        }
      }),
    timeout,
  );
}

// ---------------------------------------------------------------------------------------------
// Runs to the end (replay, standard input)

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** ms from the start to the exit. */
  ms: number;
}

/**
 * Runs `bun entry.ts ...args` (or `how.argv`) until it exits by itself; one that has not within
 * `ms` is killed (code -1). The process is killed in any case before this returns.
 */
export async function runToEnd(args: string[], how: SpawnHow = {}, ms = 15_000): Promise<Run> {
  const t0 = Date.now();
  const proc = spawnHow(args, 'ignore', how);
  try {
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      exitWithin(proc, ms),
    ]);
    return { code, stdout, stderr, ms: Date.now() - t0 };
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
}
