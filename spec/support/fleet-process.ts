/**
 * The fleet's processes in specs: an agent or a centre started from entry.ts with its output read
 * line by line, a check that nothing printed a stack trace, and a run that must fail. Each spec
 * keeps its own `started` list and kills what is left in its afterAll (`stopAll`).
 */
import { expect } from 'bun:test';
import { LineReader } from './line-reader';
import { type EntryProcess, exitWithin, spawnEntry } from './monitor-process';

export interface Spawned {
  proc: EntryProcess<'ignore'>;
  out: LineReader;
  err: LineReader;
  args: string[];
}

/** No credentials from the test runner's own environment reach the processes (empty is unset to connectNats). */
export const NO_CREDS = { NATS_TOKEN: '', NATS_USER: '', NATS_PASSWORD: '' };

/** Starts `entry.ts args` with `env` over NO_CREDS, remembered in `started`. */
export function spawnInto(started: Spawned[], args: string[], env: Record<string, string> = {}): Spawned {
  const proc = spawnEntry(args, { env: { ...NO_CREDS, ...env } });
  const s: Spawned = { proc, out: new LineReader(proc.stdout), err: new LineReader(proc.stderr), args };
  started.push(s);
  return s;
}

/** Kills what is still running (SIGKILL also ends a process stopped with SIGSTOP) and waits for it. */
export async function stopAll(started: Spawned[]) {
  for (const p of started) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all(started.map((p) => p.proc.exited));
}

/** A JS stack frame, a source excerpt as Bun prints it for an uncaught error, or such an error's header (not our `error: ` lines). */
const STACK = /^\s+at\s|^\s*\d+ \| |^\s*\w*Error\b|Unhandled|[Uu]ncaught|panic/;
export function expectNoStack(...procs: Spawned[]) {
  for (const p of procs) {
    expect(p.err.lines.filter((l) => STACK.test(l)), `stderr of ${p.args.join(' ')}:\n${p.err.lines.join('\n')}`).toEqual([]);
  }
}

export const transcript = (...procs: Spawned[]) =>
  procs.map((p) => `--- ${p.args.join(' ')} (exit ${p.proc.exitCode ?? p.proc.signalCode})\nstderr:\n${p.err.lines.join('\n')}`).join('\n');

/** Runs a process that must fail: its exit code, within `ms`, and what it printed once it ended. */
export async function failing(p: Spawned, ms: number) {
  const t0 = Date.now();
  const code = await exitWithin(p.proc, ms);
  await Promise.all([p.err.done, p.out.done]);
  return { code, ms: Date.now() - t0, err: p.err.lines.filter((l) => l.trim() !== ''), out: p.out.lines.filter((l) => l.trim() !== '') };
}
export type Failure = Awaited<ReturnType<typeof failing>>;
