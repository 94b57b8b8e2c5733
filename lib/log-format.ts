/**
 * Log formats: what `--log-format VALUE` names, compiled to a description the scanners read.
 *
 * VALUE is a name (`FORMAT_NAMES`), an nginx `log_format` string (it holds `$variables`), an
 * Apache `LogFormat` string (`%` directives) or `@FILE:NAME`, a `log_format`/`LogFormat` of a
 * server's config. `compileFormat` turns it into a `LogFormat`: the built-in CLF scanner's, a
 * text format (literals and fields, left to right) or a JSON one (a path per field).
 * `detectFormat` picks a name from an input's first lines; `parseEntry` is the plain reference
 * parser of one line, which the scanners are tested against and `format` prints.
 *
 * The types are here; the work is in the files beside it: log-format-nginx.ts,
 * log-format-apache.ts, log-format-names.ts, log-format-config.ts (`@FILE:NAME`),
 * log-format-tokens.ts (the rules every text format's tokens follow), log-format-time.ts,
 * log-format-parse.ts and log-format-detect.ts.
 */
import { readConfigFormat } from './log-format-config';
import { compileApache, isApacheFormat } from './log-format-apache';
import { FORMAT_NAMES, namedFormat, type FormatName } from './log-format-names';
import { compileNginx, isNginxFormat } from './log-format-nginx';
import { printable } from './printable';

export { FORMAT_NAMES, type FormatName } from './log-format-names';
export { detectFormat, type Detected } from './log-format-detect';
export { parseEntry, type FormatEntry, type ParsedField, type ParsedLine } from './log-format-parse';

/** The fields the monitor understands; everything else in a line is skipped. */
export type FieldName = 'time' | 'client' | 'user' | 'request' | 'method' | 'uri' | 'status' | 'bytes' | 'vhost' | 'duration' | 'upstream';

/** A duration's unit as written: `$request_time` s, `%D` µs, `%{ms}T` ms, Traefik's `Duration` ns. */
export type Unit = 's' | 'ms' | 'us' | 'ns';

/** How a time field is written. */
export type TimeFormat =
  /** `10/Oct/2000:13:55:36 -0700` (`$time_local`, `%t`). */
  | { kind: 'clf' }
  /** `2000-10-10T13:55:36-07:00`, a fraction and `Z` allowed (`$time_iso8601`, Traefik's `StartUTC`). */
  | { kind: 'iso8601' }
  /** A number since the epoch, a fraction allowed (`$msec` s, `%{msec}t` ms, Caddy's `ts` s). */
  | { kind: 'epoch'; unit: Unit }
  /** `%{…}t` with a strftime pattern. */
  | { kind: 'strftime'; pattern: string };

/** A field of a text format: one `$variable` or `%directive`. */
export interface FieldToken {
  /** What the monitor reads from it; null: skipped. */
  field: FieldName | null;
  /** The directive as written (`$request_time`, `%D`), for `format` and errors. */
  source: string;
  time?: TimeFormat;
  /** duration, upstream. */
  unit?: Unit;
  /** nginx's upstream lists: items (numbers, `-`, addresses, group names) between `, ` and ` : `; a duration list (`0.010, 0.020 : 0.030`) is summed, `-` no value. */
  list?: boolean;
  /**
   * client: the value may be `address:port` (ALB's `client:port`): `v4:port` and `[v6]:port`
   * lose the port (and the brackets); a bare IPv6 address (two colons or more) is kept whole.
   */
  hostPort?: boolean;
  /**
   * ALB: the request's duration is the sum of several fields (request, target and response
   * processing times). Each token with this flag is one part (its `field` is `duration`, or
   * `upstream` for the target's time, which is both); the duration is null when any part has
   * no value. Parts are exempt from "the first field of a kind wins".
   */
  durationPart?: boolean;
}

/**
 * How a text format's line is read, left to right (the reference parser and the scanners alike):
 * a literal must be there, byte for byte; a field's value ends where the literal after it starts
 * (its first occurrence; a backslash in the value, unless `escape` is `none`, takes the byte
 * after it along, so Apache's `\"` and JSON's `\"` do not end a quoted field); a field last in
 * the list runs to the end of the line; the line ends with the last token (a trailing '\r' is
 * dropped). Three exceptions, whose values end by their own shape: a `clf` time is exactly 26
 * bytes, a `strftime` time takes what its pattern matches, and a `list` (nginx's upstream times)
 * takes numbers (digits, a fraction allowed) or `-` separated by `, ` or ` : ` as long as they go
 * (when it starts with neither, it ends at the literal after it like any field).
 */

export type Token = { literal: string } | FieldToken;

/** A line of fields between literals: nginx `log_format`, Apache `LogFormat`, `vcombined`. */
export interface TextFormat {
  kind: 'text';
  /** A name (`vcombined`) or the format string as given. */
  name: string;
  tokens: Token[];
  /** How the server escapes a value: nginx `\xHH` (default), nginx `escape=json`, none, Apache `\"`. */
  escape: 'default' | 'json' | 'none' | 'apache';
}

/** Where a JSON format keeps a field: the first of `paths` present in the object wins. */
export interface JsonField {
  paths: string[][];
  time?: TimeFormat;
  unit?: Unit;
  list?: boolean;
  /** As FieldToken's: a port after the address is dropped. */
  hostPort?: boolean;
  /**
   * duration: a string value is a Go duration (`"1.5ms"`, `"2m3.5s"`; Caddy's `duration_format
   * string`); a number is in `unit`.
   */
  goDuration?: boolean;
  /**
   * status: the status a 0 stands for. Caddy logs `"status":0` when no handler wrote one (a
   * request no route answered): the client got an empty 200.
   */
  zero?: number;
}

/** One JSON object a line: Caddy, Traefik, an nginx `escape=json` template. */
export interface JsonFormat {
  kind: 'json';
  name: string;
  fields: Partial<Record<FieldName, JsonField>>;
}

/** Common Log Format and combined: the built-in byte scanner (actors/clf-scanner.ts). */
export interface ClfFormat {
  kind: 'clf';
  name: 'common' | 'combined';
}

export type LogFormat = ClfFormat | TextFormat | JsonFormat;

/** A `--log-format` value that is no format; the message is one line, starting `--log-format: `. */
export class FormatError extends Error {
  override name = 'FormatError';

  /** Text from outside (a file's name, a directive's braces) may hold controls: they are escaped. */
  constructor(message: string) {
    super(printable(message));
  }
}

/**
 * Compiles `--log-format VALUE`. `cwd`: where a relative `@FILE` is (default: the process's).
 * Throws FormatError.
 */
export function compileFormat(value: string, options: { cwd?: string } = {}): LogFormat {
  if ((FORMAT_NAMES as readonly string[]).includes(value)) return namedFormat(value as FormatName);
  if (value.startsWith('@')) return readConfigFormat(value, options.cwd ?? process.cwd());
  const where = (index: number) => ` at column ${index + 1}`;
  if (isNginxFormat(value)) return compileNginx(value, { where, escape: 'default', name: value });
  if (isApacheFormat(value)) return compileApache(value, { pasted: true, where, name: value });
  throw new FormatError(
    `--log-format: ${JSON.stringify(value)} is no format: give a name (${FORMAT_NAMES.join(', ')}), an nginx log_format ($variables), an Apache LogFormat (% directives) or @FILE:NAME`,
  );
}
