/**
 * `generate`: append synthetic access-log lines to a file, live or all at once (--backfill).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ArgsDef, CommandDef } from 'citty';
import { usageText } from '../lib/usage';
import { UsageError, positiveNumber, readArgs } from '../lib/cli-args';
import {
  type Clock,
  type LineOptions,
  type Phase,
  backfillChunks,
  live,
  parseOffset,
  parseProfile,
  parseSeed,
  parseStart,
  profileSeconds,
  randomSeed,
  realClock,
} from '../lib/generator';

export const USAGE =
  'usage: bun run entry.ts generate [-f FILE] (-r REQ_PER_S -d SECONDS | --profile RxS,...) ' +
  '[--backfill [--start TIME]] [--seed N] [--format clf|combined]';

const generateArgs = {
  file: { type: 'string', alias: 'f', default: '/tmp/access.log', valueHint: 'FILE', description: 'Log file to append to (created with its directory)' },
  rate: { type: 'string', alias: 'r', valueHint: 'REQ_PER_S', description: 'Lines per second (may be fractional, e.g. 0.5)' },
  duration: { type: 'string', alias: 'd', valueHint: 'SECONDS', description: 'How many seconds to generate' },
  profile: { type: 'string', valueHint: 'RxS,...', description: 'Phases "rate x seconds", e.g. 5x120,25x60,5x180 (instead of -r/-d)' },
  backfill: { type: 'boolean', description: 'Write the whole profile at once, no sleeping' },
  start: { type: 'string', valueHint: 'TIME', description: 'Backfill start: ISO-8601 or Unix seconds (default: now minus the profile)' },
  seed: { type: 'string', valueHint: 'N', description: 'Seed for repeatable output (default: random)' },
  format: { type: 'enum', options: ['clf', 'combined'], default: 'clf', description: 'Common or combined log format' },
  offset: { type: 'string', default: '+0000', valueHint: '+HHMM', description: 'Timezone offset written in timestamps' },
  help: { type: 'boolean', alias: 'h', description: 'Show this help' },
} satisfies ArgsDef;

/** A citty command definition; citty itself is loaded only to render --help. */
export const generateCommand: CommandDef<any> = {
  meta: { name: 'generate', description: 'Append realistic access-log lines to a file' },
  args: generateArgs,
};

export interface GenerateOptions {
  file: string;
  profile: Phase[];
  backfill: boolean;
  /** Backfill start in Unix seconds; undefined means now minus the profile's length. */
  start?: number;
  seed: number;
  line: LineOptions;
}

/** Reads and validates the raw arguments; `null` means --help. Throws `UsageError`. */
export function parseGenerateArgs(rawArgs: string[]): GenerateOptions | null {
  const args = readArgs(rawArgs, generateArgs);
  if (args.help) return null;
  if (args._.length) throw new UsageError(`unexpected argument '${args._[0]}'`);
  let profile: Phase[];
  if (args.profile !== undefined) {
  if (args.rate !== undefined || args.duration !== undefined) {
    throw new UsageError('--profile cannot be combined with -r/--rate or -d/--duration');
  }
  profile = parseProfile(String(args.profile));
  } else {
  if (args.rate === undefined) throw new UsageError('missing -r/--rate (or --profile)');
  if (args.duration === undefined) throw new UsageError('missing -d/--duration (or --profile)');
  profile = [
    { rate: positiveNumber(args.rate, '-r/--rate'), seconds: positiveNumber(args.duration, '-d/--duration', true) },
  ];
  }
  const format = String(args.format);
  if (format !== 'clf' && format !== 'combined') {
  throw new UsageError(`--format must be clf or combined, got '${format}'`);
  }
  if (args.start !== undefined && !args.backfill) throw new UsageError('--start needs --backfill');
  const file = String(args.file);
  if (!file) throw new UsageError('-f/--file must not be empty');
  return {
  file,
  profile,
  backfill: Boolean(args.backfill),
  start: args.start === undefined ? undefined : parseStart(String(args.start)),
  seed: args.seed === undefined ? randomSeed() : parseSeed(String(args.seed)),
  line: { format, offsetMinutes: parseOffset(String(args.offset)) },
  };
}

/** Writes the whole profile to `file` in large chunks; returns the number of lines. */
export function writeBackfill(opts: GenerateOptions, nowSecond = Math.floor(Date.now() / 1000)): number {
  const start = opts.start ?? nowSecond - profileSeconds(opts.profile);
  mkdirSync(dirname(opts.file), { recursive: true });
  const fd = openSync(opts.file, 'a');
  let lines = 0;
  try {
  for (const chunk of backfillChunks(opts.profile, start, opts.seed, opts.line)) {
    writeSync(fd, chunk);
    for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines++;
  }
  } finally {
  closeSync(fd);
  }
  return lines;
}

/** Writes the profile in real time to `file`; returns the number of lines. */
export async function writeLive(opts: GenerateOptions, clock: Clock = realClock, signal?: AbortSignal): Promise<number> {
  mkdirSync(dirname(opts.file), { recursive: true });
  const handle = await open(opts.file, 'a');
  try {
  return await live(opts.profile, opts.seed, opts.line, (text) => text && handle.write(text), clock, signal);
  } finally {
  await handle.close();
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/** The `generate` command: 0 on success, 2 on a usage error, 1 on any other failure, 130 on Ctrl-C. */
export async function runGenerate(rawArgs: string[], io: Io = processIo): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  try {
  const opts = parseGenerateArgs(rawArgs);
  if (!opts) {
    io.out(await usageText(generateCommand));
    return 0;
  }
  let lines: number;
  if (opts.backfill) lines = writeBackfill(opts);
  else {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    lines = await writeLive(opts, realClock, stop.signal);
  }
  io.err(`wrote ${lines} lines to ${opts.file}`);
  return stop.signal.aborted ? 130 : 0;
  } catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  io.err(`generate: ${message.split('\n')[0]}`);
  if (error instanceof UsageError) {
    io.err(USAGE);
    return 2;
  }
  return 1;
  } finally {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  }
}
