/**
 * `format`: how a log reads in a format, field by field — the tool to run when a format does not
 * match. It shows the first lines parsed by the reference parser (each field: the directive, what
 * the monitor reads from it, the text and its value), then the share of the first lines the
 * monitor's own scanner counts, and the first line it could not.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import type { ArgsDef } from 'citty';
import { logFormat, numberInRange, PROGRAM, readArgs, UsageError } from '../lib/cli-args';
import { reason } from '../lib/input-paths';
import { detectFormat, type LogFormat, parseEntry } from '../lib/log-format';
import { printable } from '../lib/printable';
import { type HelpDef, runCommand } from '../lib/usage';
import { writeLine } from '../lib/write-line';
import { DETECT_LINES, firstLines, scannerFor } from '../actors/input-scanner';

export const USAGE = `usage: ${PROGRAM} format [--log-format FORMAT] [-f FILE] [-n LINES]`;

const formatArgs = {
  'log-format': { type: 'string', valueHint: 'FORMAT', description: 'The format to read the log in, as the monitor takes it (default: the one its first lines are in)' },
  file: { type: 'string', alias: ['f', 'filename'], valueHint: 'PATH', description: 'The log (default /tmp/access.log; - for standard input)' },
  lines: { type: 'string', alias: 'n', default: '3', valueHint: 'LINES', description: 'Lines shown field by field, 0 to 100' },
  help: { type: 'boolean', alias: 'h', description: 'Show this help' },
} satisfies ArgsDef;

export const formatCommand: HelpDef = {
  meta: { name: 'format', description: 'Show how a log reads in a format, field by field, and the share of its lines that parse' },
  args: formatArgs,
};

export interface FormatOptions {
  format?: LogFormat;
  /** The name or string given, to show. */
  given?: string;
  file: string;
  lines: number;
}

/** How many of the first lines the share is counted over. */
export const SHARE_LINES = 10_000;
/** And how many bytes of them at most. */
const SHARE_BYTES = 16 << 20;

export function parseFormatArgs(rawArgs: string[]): FormatOptions | null {
  const args = readArgs(rawArgs, formatArgs);
  if (args.help) return null;
  if (args._.length > 1 || (args._.length === 1 && args.file !== undefined)) throw new UsageError(`unexpected argument '${args._.at(-1)}'`);
  const given = args['log-format'] === undefined ? undefined : String(args['log-format']);
  return {
    format: given === undefined ? undefined : logFormat(given),
    given,
    file: String(args.file ?? args._[0] ?? '/tmp/access.log'),
    lines: numberInRange(args.lines, '-n/--lines', { min: 0, max: 100, integer: true }),
  };
}

/** The first SHARE_LINES lines (at most SHARE_BYTES) of a file or standard input. */
function head(file: string): Uint8Array {
  const fd = file === '-' ? 0 : openSync(file, 'r');
  try {
    const buffer = new Uint8Array(SHARE_BYTES);
    let length = 0;
    let lines = 0;
    while (length < buffer.length && lines < SHARE_LINES) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n <= 0) break;
      for (let i = length; i < length + n; i++) if (buffer[i] === 10) lines++;
      length += n;
    }
    const bytes = buffer.subarray(0, length);
    // Whole lines only (a line cut by the byte limit is left out), and no more than SHARE_LINES.
    let end = length < buffer.length ? length : bytes.lastIndexOf(10) + 1;
    for (let nl = -1, seen = 0; ; seen++) {
      nl = bytes.indexOf(10, nl + 1);
      if (nl < 0 || nl >= end) break;
      if (seen + 1 === SHARE_LINES) {
        end = nl + 1;
        break;
      }
    }
    return bytes.subarray(0, end);
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

/** A field's value as read: a time as UTC ISO-8601, a duration in ms. */
function shownValue(field: string | null, value: string | number): string {
  if (field === 'time' && typeof value === 'number') return new Date(value * 1000).toISOString().replace('.000Z', 'Z');
  if ((field === 'duration' || field === 'upstream') && typeof value === 'number') return `${Math.round(value * 1000) / 1000} ms`;
  return String(value);
}

const pad = (text: string, width: number) => (text.length >= width ? `${text} ` : text.padEnd(width));

export function describeFormat(format: LogFormat): string {
  switch (format.kind) {
    case 'clf':
      return `${format.name} (the built-in CLF scanner)`;
    case 'json':
      return `${format.name} (one JSON object a line)`;
    case 'text':
      return format.name;
  }
}

/** The report, as lines. */
export function formatReport(bytes: Uint8Array, options: Omit<FormatOptions, 'file'>, name: string): { lines: string[]; parsed: number } {
  const out: string[] = [];
  let format = options.format;
  if (!format) {
    const sample = firstLines(bytes, DETECT_LINES);
    const found = detectFormat(sample);
    if (!found) {
      out.push(`${name}: its first lines are in no format known by name; give --log-format (an nginx log_format, an Apache LogFormat or @CONFIG:NAME)`);
      return { lines: out, parsed: 0 };
    }
    format = found.format;
    out.push(`log format: ${describeFormat(format)}, detected: ${found.matched} of the first ${sample.length} lines read as it`);
  } else {
    out.push(`log format: ${describeFormat(format)}`);
  }
  const shown = firstLines(bytes, options.lines);
  shown.forEach((line, i) => {
    out.push('', `line ${i + 1}: ${printable(line)}`);
    const parsed = parseEntry(line, format!);
    for (const f of parsed.fields) {
      const value = f.value === undefined || f.value === null || String(f.value) === f.raw ? '' : ` → ${printable(shownValue(f.field, f.value))}`;
      out.push(`  ${pad(printable(f.token), 24)}${pad(f.field ?? '(skipped)', 11)}${printable(f.raw)}${value}`);
    }
    if (parsed.entry === null) out.push(`  ✗ not counted: ${printable(parsed.error ?? 'the line does not read as this format')}`);
  });
  // The share, by the monitor's own scanner: what a run would count.
  const batch = scannerFor(format).scan(bytes);
  let hits = 0;
  let invalid = 0;
  for (const s of batch.segments) {
    hits += s.hits;
    invalid += s.invalid;
  }
  const total = hits + invalid;
  const share = total === 0 ? '' : ` (${(Math.floor((hits / total) * 1000) / 10).toFixed(1)} %)`;
  out.push('', `${hits} of the first ${total} lines parse${share}`);
  if (invalid > 0) {
    // The first line the scanner does not count, and why, in the reference parser's words.
    const scanner = scannerFor(format);
    const encoder = new TextEncoder();
    const lines = firstLines(bytes, SHARE_LINES);
    const at = lines.findIndex((line) => scanner.scan(encoder.encode(`${line}\n`)).segments.some((s) => s.invalid > 0));
    if (at >= 0) {
      const why = parseEntry(lines[at]!, format).error;
      out.push(`the first that does not: line ${at + 1}${why ? ` (${printable(why)})` : ''}: ${printable(lines[at]!.slice(0, 200))}`);
    }
  }
  return { lines: out, parsed: hits };
}

export async function runFormat(options: FormatOptions): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = head(options.file);
  } catch (error) {
    writeLine(2, `error: cannot read ${options.file}: ${reason(error)}`);
    return 1;
  }
  const { lines, parsed } = formatReport(bytes, options, options.file === '-' ? 'standard input' : options.file);
  for (const line of lines) writeLine(1, line);
  // A script can tell: 0 when lines parse, 1 when none does.
  return parsed > 0 ? 0 : 1;
}

export async function runFormatCommand(rawArgs: string[]): Promise<number> {
  return runCommand(formatCommand, USAGE, () => parseFormatArgs(rawArgs), runFormat);
}
