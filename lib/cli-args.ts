/**
 * Strict argument reading for citty command definitions.
 *
 * citty ignores unknown flags, has no number type and keeps only the last of a repeated flag;
 * this reads `rawArgs` against the same `ArgsDef` and fails with a `UsageError` (exit 2) instead.
 */
import type { ArgsDef } from 'citty';
import { compileFormat, FormatError, type LogFormat } from './log-format';
// Read at build time: the compiled executable carries it, with no package.json beside it.
import { version } from '../package.json' with { type: 'json' };

/**
 * How the program is run, for usage lines, as it can be typed again: the compiled executable's
 * name; `npm start --` when npm started it (after `npm install` there is no `bun` on the PATH);
 * else Bun on the sources.
 */
export const PROGRAM = Bun.isStandaloneExecutable
  ? (process.execPath.split('/').pop() ?? 'http-log-monitor')
  : process.env.npm_lifecycle_event === 'start'
    ? 'npm start --'
    : 'bun run entry.ts';

/** What `--version` prints. */
export const VERSION = `http-log-monitor ${version}`;

/** The flags that ask for the version, in every command whose arguments do not use them. */
export const VERSION_FLAGS = ['--version', '-V', '-v'];

/** `--version` was given: the command prints VERSION and exits 0 instead of running. */
export class VersionRequest extends Error {
  constructor() {
    super(VERSION);
  }
}

/** The sub-commands (entry.ts runs them; anything else is the monitor's arguments). */
export const COMMANDS = ['agent', 'format', 'generate', 'chart'] as const;

/**
 * The monitor's first word, when it is a sub-command misspelt rather than a file: a plain word
 * (letters, digits, - and _; no `/`, `.` or glob character) that is not an existing path. The
 * error to print, or undefined. `-f WORD` still waits for a file of that name.
 */
export function unknownCommand(word: string | undefined, exists: (path: string) => boolean): string | undefined {
  if (word === undefined || !/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(word) || exists(word)) return undefined;
  return `unknown command ${shown(word)} (commands: ${COMMANDS.join(', ')}; a file to follow that does not exist yet: -f ${word})`;
}

export class UsageError extends Error {
  /** Whether the usage line follows the error (not after an error in a file the user named). */
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}

export type StrictArgs = Record<string, string | string[] | boolean | undefined> & { _: string[] };

/** Reads raw arguments against `def`. String flags always take the next word, even `-1`. */
export function readArgs(rawArgs: string[], def: ArgsDef, repeatable: string[] = []): StrictArgs {
  const byName = new Map<string, string>();
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === 'positional') continue;
    byName.set(name, name);
    const aliases = 'alias' in arg && arg.alias ? [arg.alias].flat() : [];
    for (const alias of aliases) byName.set(alias, name);
  }
  const out: StrictArgs = { _: [] };
  for (const [name, arg] of Object.entries(def)) {
    if ('default' in arg && arg.default !== undefined) out[name] = arg.default as string | boolean;
  }
  const set = (name: string, value: string | boolean) => {
    if (repeatable.includes(name) && typeof value === 'string') {
      const prev = out[name];
      out[name] = Array.isArray(prev) ? [...prev, value] : [value];
    } else out[name] = value;
  };
  for (let i = 0; i < rawArgs.length; i++) {
    const word = rawArgs[i]!;
    if (word === '--') {
      out._.push(...rawArgs.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      out._.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const flag = word.slice(word.startsWith('--') ? 2 : 1, eq === -1 ? undefined : eq);
    let name = byName.get(flag);
    if (!name && VERSION_FLAGS.includes(word)) throw new VersionRequest();
    let negated = false;
    if (!name && flag.startsWith('no-') && def[flag.slice(3)]?.type === 'boolean') {
      name = flag.slice(3);
      negated = true;
    }
    if (!name) throw new UsageError(`unknown option ${word.slice(0, eq === -1 ? undefined : eq)}`);
    const type = def[name]!.type;
    if (type === 'boolean') {
      if (eq !== -1) throw new UsageError(`option ${flagLabel(word)} takes no value`);
      out[name] = !negated;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = word.slice(eq + 1);
    else value = rawArgs[++i];
    if (value === undefined) throw new UsageError(`option ${flagLabel(word)} needs a value`);
    set(name, value);
  }
  return out;
}

function flagLabel(word: string): string {
  const eq = word.indexOf('=');
  return eq === -1 ? word : word.slice(0, eq);
}

/** Decimal digits, an optional fraction and exponent: no sign, hex, `Infinity`, `NaN` or blank. */
const DECIMAL = /^[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?$/i;

/** A positive finite number ("2.5", "10"); `integer` also refuses fractions. */
export function positiveNumber(value: unknown, flag: string, integer = false): number {
  const text = String(value ?? '').trim();
  const n = DECIMAL.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    const kind = integer ? 'a positive whole number' : 'a positive number';
    throw new UsageError(`${flag} must be ${kind}, got '${value}'`);
  }
  return n;
}

/** Bounds of a numeric flag; `integer` also refuses fractions. */
export interface Range {
  min: number;
  max: number;
  integer?: boolean;
}

/**
 * A number from `min` to `max` inclusive ("2.5", "10", "1e3"); anything else, malformed or out of
 * range, is a one-line `UsageError` naming the flag and its range:
 * `-s/--interval must be a number from 1 to 86400, got '3000000'`.
 */
export function numberInRange(value: unknown, flag: string, { min, max, integer = false }: Range): number {
  const text = String(value ?? '').trim();
  const n = DECIMAL.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got ${shown(value)}`);
  }
  return n;
}

/**
 * A value as an error message quotes it: in single quotes, on one line (control characters
 * escaped), at most 40 characters of it.
 */
export function shown(value: unknown): string {
  let text = String(value ?? '').replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => {
    const escapes: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return escapes[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (text.length > 40) text = `${text.slice(0, 40)}…`;
  return `'${text}'`;
}

/** The value of a possibly repeated string flag as a list. */
export function list(value: string | string[] | boolean | undefined): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  return Array.isArray(value) ? value : [value];
}

/** `--log-format`'s value, compiled; a value that is no format is a usage error (exit 2), in one line. */
export function logFormat(value: string): LogFormat {
  try {
    return compileFormat(value);
  } catch (error) {
    if (error instanceof FormatError) throw new UsageError(error.message, false);
    throw error;
  }
}

/** The port words of `--metrics`: 0 (any free port, for tests) to 65535. */
const PORT = /^[0-9]{1,5}$/;
/** A host name or IPv4 address: letters, digits, dots and dashes. */
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
/** An IPv6 address between brackets: hex digits, colons, an IPv4 tail, a zone after `%`. */
const HOST_V6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/;

/**
 * `--metrics ADDR`: `HOST:PORT`, `:PORT` or `PORT` (host 127.0.0.1), `[v6]:PORT`; throws UsageError
 * with a one-line message. A bare IPv6 address needs its brackets: `::1:9464` could be either.
 */
export function metricsAddr(value: string): { host: string; port: number } {
  const text = String(value ?? '').trim();
  const fail = () =>
    new UsageError(`--metrics must be HOST:PORT, :PORT, PORT or [IPv6]:PORT with a port from 0 to 65535, got ${shown(value)}`);
  let host = '127.0.0.1';
  let port = text;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (v6) {
    if (!HOST_V6.test(v6[1]!)) throw fail();
    host = v6[1]!;
    port = v6[2]!;
  } else if (text.includes(':')) {
    const colon = text.lastIndexOf(':');
    const named = text.slice(0, colon);
    if (named.includes(':') || (named !== '' && !HOST_NAME.test(named))) throw fail();
    if (named !== '') host = named;
    port = text.slice(colon + 1);
  }
  const n = Number(port);
  if (!PORT.test(port) || n > 65535) throw fail();
  return { host, port: n };
}

/** The most bounds `--metrics-buckets` takes: each is a series of each histogram. */
export const MAX_METRICS_BUCKETS = 100;

/** `--metrics-buckets 0.01,0.1,1`: ascending positive seconds; UsageError otherwise. */
export function metricsBuckets(value: string): number[] {
  const fail = (why: string) =>
    new UsageError(`--metrics-buckets must be ascending positive seconds separated by commas (e.g. 0.01,0.1,1): ${why}, got ${shown(value)}`);
  const words = String(value ?? '').split(',').map((w) => w.trim());
  if (words.length > MAX_METRICS_BUCKETS) throw fail(`at most ${MAX_METRICS_BUCKETS} bounds`);
  const bounds: number[] = [];
  for (const word of words) {
    const n = DECIMAL.test(word) ? Number(word) : NaN;
    if (!Number.isFinite(n) || n <= 0) throw fail(`${shown(word)} is not a positive number`);
    if (bounds.length > 0 && n <= bounds[bounds.length - 1]!) throw fail(`${word} does not come after ${bounds[bounds.length - 1]}`);
    bounds.push(n);
  }
  return bounds;
}
