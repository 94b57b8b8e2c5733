/**
 * The CLI as a real process, for the process-level specs: `bun entry.ts ...` spawned from the
 * project root with TZ=UTC, and helpers for the `{"type":"stats",...}` NDJSON lines it prints.
 */
import { afterEach } from 'bun:test';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dir, '../..');
const LOCAL_BUN = path.join(ROOT, 'node_modules/.bin/bun');
const BUN = fs.existsSync(LOCAL_BUN) ? LOCAL_BUN : process.execPath;

/** A spawned `bun entry.ts ...` whose stdout and stderr are pipes. */
export type EntryProcess<In extends 'pipe' | 'ignore' = 'ignore'> = ReturnType<typeof Bun.spawn<In, 'pipe', 'pipe'>>;

/** Starts `bun entry.ts ...args` in the project root, with TZ=UTC (and `env` on top). */
export function spawnEntry<In extends 'pipe' | 'ignore' = 'ignore'>(
  args: string[],
  { stdin = 'ignore' as In, env = {} }: { stdin?: In; env?: Record<string, string> } = {},
): EntryProcess<In> {
  return Bun.spawn([BUN, 'entry.ts', ...args], {
    cwd: ROOT,
    stdin,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, TZ: 'UTC', ...env },
  }) as EntryProcess<In>;
}

/** Waits for the exit; a process that does not exit in time is killed (code -1). */
export async function exitWithin(proc: EntryProcess<'pipe' | 'ignore'>, ms: number): Promise<number> {
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  const code = await proc.exited;
  clearTimeout(timer);
  return proc.signalCode ? -1 : code;
}

/** What a process run to completion printed, and its exit code. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The processes of one spec file: `spawn` starts `bun entry.ts ...` (with `env` on top), `run`
 * runs one to completion (one still running after `ms` is killed, and the run throws, saying so),
 * and every process a test leaves running is killed after it, passed or failed.
 */
export function entryProcesses() {
  const running = new Set<EntryProcess>();
  afterEach(() => {
    for (const proc of running) proc.kill('SIGKILL');
    running.clear();
  });
  const spawn = (args: string[], env: Record<string, string> = {}): EntryProcess => {
    const proc = spawnEntry(args, { env });
    running.add(proc);
    void proc.exited.then(() => running.delete(proc));
    return proc;
  };
  const run = async (args: string[], env: Record<string, string> = {}, ms = 15_000): Promise<RunResult> => {
    const proc = spawn(args, env);
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    if (proc.signalCode) throw new Error(`${args.join(' ')}: did not exit within ${ms} ms; stderr:\n${stderr}`);
    return { code, stdout, stderr };
  };
  return { spawn, run };
}

/** The fields of a `stats` record that every process-level spec reads; each adds its own. */
export interface StatsRecord {
  type: 'stats';
  start: string;
  end: string;
  hits: number;
  invalid: number;
  sections: { section: string; hits: number }[];
  final: boolean;
}

export const isStats = (l: string) => l.startsWith('{"type":"stats"');

/** Stats lines parsed leniently, for a stream still being written. */
export const parseStats = <S extends StatsRecord>(lines: string[]): S[] =>
  lines.filter(isStats).flatMap((l) => {
    try {
      return [JSON.parse(l) as S];
    } catch {
      return [];
    }
  });

export const sum = (stats: readonly StatsRecord[], key: 'hits' | 'invalid') => stats.reduce((n, s) => n + s[key], 0);
