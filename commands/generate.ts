/**
 * `generate`: append synthetic access-log lines to a file, live or all at once (--backfill), in
 * the formats the monitor reads (`--format`: CLF, combined, nginx with request times, Caddy's and
 * Traefik's JSON).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ArgsDef, CommandDef } from 'citty';
import { errorUsage, helpText } from '../lib/usage';
import { PROGRAM, type Range, UsageError, VERSION, VersionRequest, numberInRange, readArgs, shown } from '../lib/cli-args';
import {
  type Clock,
  type GenerateProgress,
  type LineOptions,
  type Phase,
  TRAFFIC_FORMATS,
  type TrafficFormat,
  backfillChunks,
  live,
  parseOffset,
  parseStart,
  profileSeconds,
  progressLine,
  randomSeed,
  realClock,
} from '../lib/generator';

export const USAGE =
  `usage: ${PROGRAM} generate [-f FILE] (-r REQ_PER_S -d SECONDS | --profile RxS,...) ` +
  `[--backfill [--start TIME]] [--seed N] [--format ${TRAFFIC_FORMATS.join('|')}]`;

/**
 * The numeric flags' ranges (the descriptions below say the same). A rate up to what the live
 * writer keeps up with (100,000 lines/s here: 200,000 lines in 1.6 s for a 2-second profile; at
 * 1,000,000/s it fell behind, 4.1 s, 283 MB); a run of a year at most; a 32-bit seed; timestamps
 * from 1970 to 9999, the years the log format's four digits hold.
 */
const RATE: Range = { min: 0.001, max: 100_000 };
const SECONDS: Range = { min: 1, max: 31_536_000, integer: true };
const SEED: Range = { min: 0, max: 4_294_967_295, integer: true };
const LAST_SECOND = 253_402_300_799; // 9999-12-31T23:59:59Z

const generateArgs = {
  file: { type: 'string', alias: 'f', default: '/tmp/access.log', valueHint: 'FILE', description: 'Log file to append to (created with its directory)' },
  rate: { type: 'string', alias: 'r', valueHint: 'REQ_PER_S', description: 'Lines per second, 0.001 to 100000 (fractions allowed, e.g. 0.5)' },
  duration: { type: 'string', alias: 'd', valueHint: 'SECONDS', description: 'How many seconds to generate, a whole number from 1 to 31536000 (365 days)' },
  profile: { type: 'string', valueHint: 'RxS,...', description: 'Phases "rate x seconds", e.g. 5x120,25x60,5x180 (instead of -r/-d; each as -r and -d, 31536000 seconds in all at most)' },
  backfill: { type: 'boolean', description: 'Write the whole profile at once, no sleeping' },
  start: { type: 'string', valueHint: 'TIME', description: 'Backfill start: ISO-8601 or Unix seconds, 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (default: now minus the profile)' },
  seed: { type: 'string', valueHint: 'N', description: 'Seed for repeatable output, a whole number from 0 to 4294967295 (default: random)' },
  format: {
    type: 'enum',
    options: [...TRAFFIC_FORMATS],
    default: 'clf',
    description:
      'Common or combined log format; nginx-timed: combined and "$request_time $upstream_response_time $host"; ' +
      "caddy, traefik: their JSON access logs. The same seed and profile write the same requests in combined, " +
      'nginx-timed, caddy and traefik',
  },
  offset: { type: 'string', default: '+0000', valueHint: '+HHMM', description: 'Timezone offset written in timestamps, -2359 to +2359' },
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
  profile = profileArg(String(args.profile));
  } else {
  if (args.rate === undefined) throw new UsageError('missing -r/--rate (or --profile)');
  if (args.duration === undefined) throw new UsageError('missing -d/--duration (or --profile)');
  profile = [
    { rate: numberInRange(args.rate, '-r/--rate', RATE), seconds: numberInRange(args.duration, '-d/--duration', SECONDS) },
  ];
  }
  const format = String(args.format) as TrafficFormat;
  if (!TRAFFIC_FORMATS.includes(format)) {
  throw new UsageError(`--format must be one of ${TRAFFIC_FORMATS.join(', ')}, got ${shown(format)}`);
  }
  if (args.start !== undefined && !args.backfill) throw new UsageError('--start needs --backfill');
  const file = String(args.file);
  if (!file) throw new UsageError('-f/--file must not be empty');
  const offsetMinutes = offsetArg(String(args.offset));
  const start = args.start === undefined ? undefined : startArg(String(args.start));
  if (start !== undefined && start + profileSeconds(profile) - 1 + offsetMinutes * 60 > LAST_SECOND) {
  const at = offsetMinutes ? ` at --offset ${String(args.offset).trim()}` : '';
  throw new UsageError(`--start ${shown(args.start)} with ${profileSeconds(profile)} seconds of profile${at} ends after 9999-12-31T23:59:59`);
  }
  return {
  file,
  profile,
  backfill: Boolean(args.backfill),
  start,
  seed: args.seed === undefined ? randomSeed() : numberInRange(args.seed, '--seed', SEED),
  line: { format, offsetMinutes },
  };
}

/** `5x120,25x60`: each phase's rate and seconds in the ranges of -r and -d, a year in all at most. */
function profileArg(text: string): Phase[] {
  const phases = text.split(',').map((raw) => {
    const part = raw.trim();
    const label = `--profile phase ${shown(part)}`;
    const m = /^([^xX]+)[xX]([^xX]+)$/.exec(part);
    if (!m) throw new UsageError(`${label} is not RATExSECONDS (like 5x120)`);
    return { rate: numberInRange(m[1], `${label}: rate`, RATE), seconds: numberInRange(m[2], `${label}: seconds`, SECONDS) };
  });
  const total = profileSeconds(phases);
  if (total > SECONDS.max) throw new UsageError(`--profile must last at most ${SECONDS.max} seconds in all, got ${total}`);
  return phases;
}

/** `--start` as whole Unix seconds, a real calendar date from 1970 to 9999. */
function startArg(text: string): number {
  const refused = () =>
    new UsageError(
      '--start must be ISO-8601 (2026-01-01T00:00:00Z) or Unix seconds, from 1970-01-01T00:00:00Z to ' +
        `9999-12-31T23:59:59Z, got ${shown(text)}`,
    );
  let second: number;
  try {
    second = parseStart(text);
  } catch (error) {
    throw error instanceof UsageError ? refused() : error;
  }
  // Date.parse rolls 2026-02-30 over to March 2nd; the day typed must exist in its month.
  const ymd = /^\s*(\d{4})-(\d\d)-(\d\d)/.exec(text);
  const daysInMonth = ymd ? new Date(Date.UTC(Number(ymd[1]), Number(ymd[2]), 0)).getUTCDate() : 31;
  if (ymd && (Number(ymd[3]) < 1 || Number(ymd[3]) > daysInMonth)) throw refused();
  if (!(second >= 0 && second <= LAST_SECOND)) throw refused();
  return second;
}

/** `--offset`: minutes east of UTC, from -23:59 to +23:59. */
function offsetArg(text: string): number {
  try {
    return parseOffset(text);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(`--offset must be +HHMM or -HHMM from -2359 to +2359 (like +0530 or -08:00), got ${shown(text)}`);
  }
}

/** Writes the whole profile to `file` in large chunks; returns the number of lines. */
export function writeBackfill(
  opts: GenerateOptions,
  nowSecond = Math.floor(Date.now() / 1000),
  onProgress?: (p: GenerateProgress) => void,
): number {
  const start = opts.start ?? nowSecond - profileSeconds(opts.profile);
  mkdirSync(dirname(opts.file), { recursive: true });
  const fd = openSync(opts.file, 'a');
  let lines = 0;
  try {
  for (const chunk of backfillChunks(opts.profile, start, opts.seed, opts.line, onProgress)) {
    writeSync(fd, chunk);
    for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines++;
  }
  } finally {
  closeSync(fd);
  }
  return lines;
}

/** Writes the profile in real time to `file`; returns the number of lines. */
export async function writeLive(
  opts: GenerateOptions,
  clock: Clock = realClock,
  signal?: AbortSignal,
  onProgress?: (p: GenerateProgress) => void,
): Promise<number> {
  mkdirSync(dirname(opts.file), { recursive: true });
  const handle = await open(opts.file, 'a');
  try {
  return await live(opts.profile, opts.seed, opts.line, (text) => text && handle.write(text), clock, signal, onProgress);
  } finally {
  await handle.close();
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Raw writes to stderr and its width, when it is a terminal: the progress line. */
  status?: { write(text: string): void; columns(): number };
}

const processIo: Io = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
  // Written at once: a backfill's loop never yields to the event loop until it ends.
  ...(process.stderr.isTTY ? { status: { write: (text: string) => void writeSync(2, text), columns: () => process.stderr.columns || 80 } } : {}),
};

/** The `generate` command: 0 on success, 2 on a usage error, 1 on any other failure, 130 on Ctrl-C. */
export async function runGenerate(rawArgs: string[], io: Io = processIo): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  let progress: ReturnType<typeof progressLine> | undefined;
  try {
  const opts = parseGenerateArgs(rawArgs);
  if (!opts) {
    io.out(await helpText(generateCommand, USAGE));
    return 0;
  }
  // A live run draws from the start; a backfill only once it has taken a second.
  if (io.status) progress = progressLine({ ...io.status, now: Date.now, backfill: opts.backfill, after: opts.backfill ? 1000 : 0 });
  let lines: number;
  if (opts.backfill) lines = writeBackfill(opts, undefined, progress?.update);
  else {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    lines = await writeLive(opts, realClock, stop.signal, progress?.update);
  }
  progress?.clear();
  io.err(`wrote ${lines} lines to ${opts.file}`);
  return stop.signal.aborted ? 130 : 0;
  } catch (error) {
  if (error instanceof VersionRequest) {
    io.out(VERSION);
    return 0;
  }
  progress?.clear();
  const message = error instanceof Error ? error.message : String(error);
  io.err(`generate: ${message.split('\n')[0]}`);
  if (error instanceof UsageError) {
    io.err(errorUsage(USAGE));
    return 2;
  }
  return 1;
  } finally {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  }
}
