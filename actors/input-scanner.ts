/**
 * Which scanner reads an input: the one for `--log-format`, or, without it, the one for the
 * format its first lines are written in (`detectFormat`), said once on stderr.
 *
 * One `InputScanner` an input (a file, a stream, a replay's source). It decides on the first
 * chunk with a line in it. An input whose first lines no known format reads is said so once,
 * with the first line that failed, and is read as CLF (its lines count as invalid); it decides
 * again on each later chunk until a line counts, so a log that begins with a few lines of junk
 * is still recognised. With `--log-format`, an input whose first chunk holds lines and no line
 * the format reads is said so once too: the format given is not the log's.
 */
import { ClfScanner } from './clf-scanner';
import { JsonScanner } from './json-scanner';
import { TextScanner } from './text-scanner';
import type { Batch } from './messages';
import { detectFormat, FORMAT_NAMES, type LogFormat, parseEntry, compileFormat } from '../lib/log-format';

/** What reads a chunk of complete lines into segments. */
export interface Scanner {
  scan(bytes: Uint8Array): Batch;
  /** The newest valid timestamp seen so far (Unix seconds), -Infinity before any. */
  readonly highWater: number;
}

export interface ScannerOptions {
  /** Segments' keys valid only until the next scan (the parser's: see ClfScanner). */
  borrowKeys?: boolean;
  /**
   * Keep the durations by status class and by vhost (default true). Only latency rules read them
   * (`needsRuleSketches`): a monitor without such a rule leaves them out, two stores a timed line
   * fewer. An agent keeps them: the centre's rules may read them.
   */
  ruleSketches?: boolean;
}

/** The scanner for a format. */
export function scannerFor(format: LogFormat, options: ScannerOptions = {}): Scanner {
  switch (format.kind) {
    case 'clf':
      return new ClfScanner(options);
    case 'text':
      return new TextScanner(format, options);
    case 'json':
      return new JsonScanner(format, options);
  }
}

/** How many of an input's first lines decide its format. */
export const DETECT_LINES = 20;
/** A line quoted in a notice is cut to this many characters. */
const QUOTE_CHARS = 120;

/** Tells the user something once (the reporter's notices, on stderr); absent: say nothing. */
export type Tell = (level: 'info' | 'warn', message: string) => void;

export class InputScanner implements Scanner {
  private scanner: Scanner | null = null;
  /** Whether the choice stands (a format given, detected, or a line counted). */
  private settled = false;
  private warned = false;

  /**
   * `format`: `--log-format`'s (undefined: detect). `name`: the input, for the notices.
   */
  constructor(
    private readonly format: LogFormat | undefined,
    private readonly name: string,
    private readonly tell?: Tell,
    private readonly options: ScannerOptions = {},
  ) {
    if (format) this.scanner = scannerFor(format, options);
  }

  get highWater(): number {
    return this.scanner?.highWater ?? -Infinity;
  }

  scan(bytes: Uint8Array): Batch {
    if (!this.settled && !this.format) this.detect(bytes);
    const batch = (this.scanner ??= new ClfScanner(this.options)).scan(bytes);
    if (!this.settled) {
      let hits = 0;
      let invalid = 0;
      for (const s of batch.segments) {
        hits += s.hits;
        invalid += s.invalid;
      }
      if (hits > 0) this.settled = true;
      else if (invalid > 0 && this.format && !this.warned) {
        this.warned = true;
        const failed = firstLines(bytes, 1)[0] ?? '';
        this.tell?.('warn', `${this.input()}: no line of its first ${invalid} reads as --log-format ${this.format.name}; the first: ${quote(failed)}`);
      }
    }
    return batch;
  }

  private input(): string {
    return this.name === '' ? 'the input' : this.name === '-' ? 'standard input' : this.name;
  }

  private detect(bytes: Uint8Array): void {
    const lines = firstLines(bytes, DETECT_LINES);
    if (lines.length === 0) return;
    const found = detectFormat(lines);
    if (found) {
      this.scanner = scannerFor(found.format, this.options);
      this.settled = true;
      const clf = found.name === 'common' || found.name === 'combined';
      // CLF and combined are what the monitor has always read: a run on them prints what it
      // always printed. Unless the lines go on past the combined fields (a custom nginx format
      // with durations): those fields are read only with the format given.
      if (clf && extended(lines) * 2 >= lines.length) {
        this.tell?.('info', `${this.input()}: log format combined, with more fields after it that are not read (durations, virtual host): give --log-format (the log_format string, or @/etc/nginx/nginx.conf:NAME) to read them`);
      } else if (!clf) {
        this.tell?.('info', `${this.input()}: log format ${found.name} (${found.matched} of the first ${lines.length} lines read as it; --log-format to say otherwise)`);
      }
      return;
    }
    if (this.warned) return;
    this.warned = true;
    const formats = FORMAT_NAMES.map((n) => compileFormat(n));
    const failed = lines.find((line) => formats.every((f) => parseEntry(line, f).entry === null)) ?? lines[0]!;
    this.tell?.(
      'warn',
      `${this.input()}: its first lines are in no format known by name (${FORMAT_NAMES.join(', ')}); ` +
        `give --log-format (an nginx log_format, an Apache LogFormat or @CONFIG:NAME); the first line that fails: ${quote(failed)}`,
    );
  }
}

/** After the status and byte count: a quoted referer, a quoted user agent, and more. */
const COMBINED_AND_MORE = /" \d{3} (?:-|\d+) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"[ \t]+\S/;

/** How many of the lines carry fields after the combined format's. */
function extended(lines: string[]): number {
  return lines.filter((line) => COMBINED_AND_MORE.test(line)).length;
}

/** The first `n` lines of a chunk that are not blank, as text. */
export function firstLines(bytes: Uint8Array, n: number): string[] {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  for (let pos = 0; pos < bytes.length && lines.length < n; ) {
    let nl = bytes.indexOf(10, pos);
    if (nl < 0) nl = bytes.length;
    const line = decoder.decode(bytes.subarray(pos, Math.min(nl, pos + 65_537))).replace(/\r$/, '');
    if (line.trim() !== '') lines.push(line);
    pos = nl + 1;
  }
  return lines;
}

function quote(line: string): string {
  return JSON.stringify(line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS)}…` : line);
}
