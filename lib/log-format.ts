/**
 * Log formats: what `--log-format VALUE` names, compiled to a description the scanners read.
 *
 * (Types first: the compilers of names, nginx `log_format` strings, Apache `LogFormat` strings
 * and `@FILE:NAME`, detection and the reference parser follow.)
 */

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
  /** nginx's upstream lists: `0.010, 0.020 : 0.030`, summed (`-` is no value). */
  list?: boolean;
}

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
