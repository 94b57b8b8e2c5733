/**
 * Spawn a command, time it (wall clock) and take its peak RSS: from GNU `/usr/bin/time -f %M`
 * when it exists, otherwise by polling VmHWM in /proc/PID/status every 20 ms. With `smaps`, the
 * command is spawned itself (no /usr/bin/time, so the PID polled is the command's) and
 * /proc/PID/smaps_rollup is polled too, to split the peak into anonymous and file-backed memory.
 * `inTurn` runs commands in turn (A B A B …), for a comparison on a machine others use too.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIME = '/usr/bin/time';
export const hasGnuTime = existsSync(TIME);

export interface Run {
  ms: number;
  /** Peak resident set size, KiB (null if it could not be read). */
  peakKB: number | null;
  /**
   * CPU time, user + system, ms (from /usr/bin/time; undefined without it or with `smaps`): on a
   * machine others are using too, the wall time includes waiting for a core, this does not.
   */
  cpuMs?: number;
  stderr: string;
  /** With `smaps`: peaks of Anonymous and of Rss − Anonymous (file-backed), KiB, each its own maximum. */
  peakAnonKB?: number;
  peakFileKB?: number;
}

export interface RunOptions {
  /** Where stdout goes: a file path, or /dev/null by default. */
  stdout?: string;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Poll /proc/PID/smaps_rollup every 20 ms (and VmHWM for peakKB) instead of using /usr/bin/time. */
  smaps?: boolean;
}

/** Fails with one line naming the step. */
export function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

/** Runs `cmd` to completion; any non-zero exit fails the benchmark with the command's stderr. */
export async function run(cmd: string[], opts: RunOptions = {}): Promise<Run> {
  const rssFile = join(tmpdir(), `hlm-bench-rss-${process.pid}`);
  const timed = hasGnuTime && !opts.smaps;
  const argv = timed ? [TIME, '-f', '%M %U %S', '-o', rssFile, ...cmd] : cmd;
  if (opts.stdout) writeFileSync(opts.stdout, ''); // Bun.file as stdout does not truncate
  const start = performance.now();
  let proc;
  try {
    proc = Bun.spawn(argv, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdin: 'ignore',
      stdout: opts.stdout ? Bun.file(opts.stdout) : 'ignore',
      stderr: 'pipe',
    });
  } catch (error) {
    fail(`cannot start ${cmd[0]}: ${(error as Error).message}`);
  }
  let polledKB = 0;
  let anonKB = 0;
  let fileKB = 0;
  const sample = () => {
    polledKB = Math.max(polledKB, vmHWM(proc.pid) ?? 0);
    const r = opts.smaps ? smapsRollup(proc.pid) : null;
    if (r) [anonKB, fileKB] = [Math.max(anonKB, r.anonKB), Math.max(fileKB, r.rssKB - r.anonKB)];
  };
  const poll = timed ? null : setInterval(sample, 20);
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  const ms = performance.now() - start;
  clearTimeout(timer);
  if (poll) clearInterval(poll);
  if (code !== 0) {
    const why = stderr.trim().split('\n').filter((l) => !/^Command (exited|terminated)/.test(l)).pop() ?? '';
    fail(`'${cmd.join(' ')}' exited with ${code ?? proc.signalCode}${why ? `: ${why}` : ''}`);
  }
  let peakKB: number | null = polledKB || null;
  let cpuMs: number | undefined;
  if (timed) {
    const text = existsSync(rssFile) ? (readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '') : '';
    const [kb, user, system] = text.split(' ').map(Number);
    peakKB = kb || null;
    if (Number.isFinite(user) && Number.isFinite(system)) cpuMs = (user! + system!) * 1000;
    rmSync(rssFile, { force: true });
  }
  return opts.smaps ? { ms, peakKB, stderr, peakAnonKB: anonKB, peakFileKB: fileKB } : { ms, peakKB, cpuMs, stderr };
}

/** Runs `cmd` `times` times, one after the other. */
export async function repeat(times: number, cmd: string[], opts: RunOptions = {}): Promise<Run[]> {
  const runs: Run[] = [];
  for (let i = 0; i < times; i++) runs.push(await run(cmd, opts));
  return runs;
}

/**
 * Runs each command `times` times, taking turns (A B A B …), so that whatever else the machine is
 * doing falls on all of them alike; the runs of each, in the order given.
 */
export async function inTurn(times: number, commands: { cmd: string[]; opts?: RunOptions }[]): Promise<Run[][]> {
  const runs: Run[][] = commands.map(() => []);
  for (let i = 0; i < times; i++) {
    for (const [k, { cmd, opts }] of commands.entries()) runs[k]!.push(await run(cmd, opts));
  }
  return runs;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The value below which `p` (0..1) of the values fall, nearest rank. */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/** VmHWM of a live process, KiB. */
export function vmHWM(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Rss and Anonymous of a live process from /proc/PID/smaps_rollup, KiB. */
export function smapsRollup(pid: number): { rssKB: number; anonKB: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const rss = /^Rss:\s+(\d+)/m.exec(text);
    const anon = /^Anonymous:\s+(\d+)/m.exec(text);
    return rss && anon ? { rssKB: Number(rss[1]), anonKB: Number(anon[1]) } : null;
  } catch {
    return null;
  }
}

/** utime + stime of a live process (all its threads), in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** `getconf CLK_TCK`, or 100 (Linux's usual value) if getconf is missing. */
export function clockTicks(): number {
  try {
    const out = Bun.spawnSync(['getconf', 'CLK_TCK']);
    return Number(out.stdout.toString().trim()) || 100;
  } catch {
    return 100;
  }
}
