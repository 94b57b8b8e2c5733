/**
 * Apache `LogFormat` strings compiled to a text format, directive by directive as
 * mod_log_config reads them: `%` then any of the modifiers (`!`, status codes `400,501`, `<`,
 * `>`) and an argument in braces, then the directive's letter (or `^ti`/`^to`); `%%` is a `%`.
 *
 * `%t` writes its own brackets (`[10/Oct/2000:13:55:36 -0700]`), so it compiles to the literal
 * `[`, a CLF time and `]`; `%{…}t` is a strftime pattern or `sec`, `msec`, `usec`
 * (`begin:`/`end:` prefixes allowed; `msec_frac`/`usec_frac` are skipped, and so is a pattern
 * without a date, such as the `%{%z}t` the Apache docs put after `%{%d/%b/%Y %T}t`: the time
 * without a zone is read as local time, which is the server's when the monitor runs beside it). A string pasted from a
 * config (`--log-format '%h \"%r\"'`) has the config's escapes: `\"` is a quote and `\\` a
 * backslash; `\n` and `\t` are mod_log_config's own.
 */
import { FormatError, type FieldToken, type TextFormat } from './log-format';
import { compileStrftime, STRFTIME_DIRECTIVES } from './log-format-time';
import { skip, TokenBuilder } from './log-format-tokens';

/** Directives without an argument that the monitor reads; the letters in SKIPPED are skipped. */
const UNDERSTOOD: Record<string, Omit<FieldToken, 'source'>> = {
  h: { field: 'client' },
  a: { field: 'client' },
  u: { field: 'user' },
  r: { field: 'request' },
  m: { field: 'method' },
  U: { field: 'uri' },
  s: { field: 'status' },
  b: { field: 'bytes' },
  B: { field: 'bytes' },
  O: { field: 'bytes' },
  D: { field: 'duration', unit: 'us' },
  T: { field: 'duration', unit: 's' },
  v: { field: 'vhost' },
  V: { field: 'vhost' },
};
const SKIPPED = new Set('A C e f H i I k l L n o p P q R S X x c'.split(' '));
/** Directives that need `{…}` (`x` and `c` are mod_ssl's: `%{SSL_PROTOCOL}x`). */
const NEEDS_ARGUMENT = new Set('C e i n o x c'.split(' '));
const T_UNITS: Record<string, 'ms' | 'us' | 's'> = { ms: 'ms', us: 'us', s: 's' };

/** Whether a `--log-format` value is an Apache string: it holds a `%` directive. */
export function isApacheFormat(value: string): boolean {
  return /%[!<>0-9,{^%a-zA-Z]/.test(value);
}

export interface ApacheOptions {
  /** A string as pasted from a config: `\"` and `\\` are the config's escapes. */
  pasted: boolean;
  /** Where an index of the string given is, for errors: ` at column 7`. */
  where: (index: number) => string;
  name: string;
}

/** The string with its escapes read, and for each character the index it came from. */
function unescape(text: string, pasted: boolean): { text: string; from: number[] } {
  let out = '';
  const from: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const d = text[i + 1];
    let add = c;
    if (c === '\\' && d !== undefined) {
      if (pasted && (d === '"' || d === '\\')) add = d;
      else if (d === 'n') add = '\n';
      else if (d === 't') add = '\t';
      if (add !== c) {
        out += add;
        from.push(i);
        i++;
        continue;
      }
    }
    out += add;
    from.push(i);
  }
  from.push(text.length);
  return { text: out, from };
}

/** Compiles an Apache `LogFormat` string; throws FormatError. */
export function compileApache(raw: string, options: ApacheOptions): TextFormat {
  const { text, from } = unescape(raw, options.pasted);
  const where = (i: number) => options.where(from[i]!);
  const builder = new TokenBuilder();
  let at = 0;
  for (let i = text.indexOf('%'); i >= 0; i = text.indexOf('%', at)) {
    builder.literal(text.slice(at, i));
    if (text[i + 1] === '%') {
      builder.literal('%');
      at = i + 2;
      continue;
    }
    // Modifiers and the argument, in any order, as mod_log_config reads them.
    let j = i + 1;
    let argument: string | null = null;
    while (j < text.length) {
      const c = text[j]!;
      if (c === '!' || c === '<' || c === '>' || c === ',' || (c >= '0' && c <= '9')) j++;
      else if (c === '{' && argument === null) {
        const close = text.indexOf('}', j + 1);
        if (close < 0) throw new FormatError(`--log-format: "{" without its "}"${where(j)}`);
        argument = text.slice(j + 1, close);
        j = close + 1;
      } else break;
    }
    let letter = text[j];
    if (letter === '^') letter = text.slice(j, j + 3);
    const end = j + (letter?.length ?? 0);
    const written = raw.slice(from[i], from[end]);
    if (letter === undefined) throw new FormatError(`--log-format: unfinished Apache directive ${written}${where(i)}`);
    const token = directive(letter, argument, written, () => where(i));
    if (letter === 't' && argument === null) {
      builder.literal('[');
      builder.field(token, i);
      builder.literal(']');
    } else builder.field(token, i);
    at = end;
  }
  builder.literal(text.slice(at));
  const tokens = builder.finish(where, { time: '%t or %{…}t', status: '%>s or %s' });
  return { kind: 'text', name: options.name, tokens, escape: 'apache' };
}

/** The token of one directive. */
function directive(letter: string, argument: string | null, written: string, where: () => string): FieldToken {
  const unknown = () => new FormatError(`--log-format: unknown Apache directive ${written}${where()}`);
  if (letter === '^ti' || letter === '^to') return skip(written);
  if (letter.length !== 1 || !/[A-Za-z]/.test(letter)) throw unknown();
  if (NEEDS_ARGUMENT.has(letter) && argument === null) throw new FormatError(`--log-format: ${written} needs a name in braces (%{Name}${letter})${where()}`);
  if (letter === 'i' && argument!.toLowerCase() === 'host') return { field: 'vhost', source: written };
  if (letter === 't') return timeToken(argument, written, where);
  if (letter === 'T' && argument !== null) {
    const unit = T_UNITS[argument];
    if (!unit) throw new FormatError(`--log-format: ${written}: the unit is ms, us or s${where()}`);
    return { field: 'duration', unit, source: written };
  }
  if (letter === 'a' && argument !== null && argument !== 'c') return skip(written);
  const known = UNDERSTOOD[letter];
  if (known) return { ...known, source: written };
  if (SKIPPED.has(letter)) return skip(written);
  throw unknown();
}

/** `%t` and `%{…}t`. */
function timeToken(argument: string | null, written: string, where: () => string): FieldToken {
  if (argument === null) return { field: 'time', time: { kind: 'clf' }, source: written };
  const pattern = argument.replace(/^(?:begin|end):/, '');
  if (pattern === 'sec') return { field: 'time', time: { kind: 'epoch', unit: 's' }, source: written };
  if (pattern === 'msec') return { field: 'time', time: { kind: 'epoch', unit: 'ms' }, source: written };
  if (pattern === 'usec') return { field: 'time', time: { kind: 'epoch', unit: 'us' }, source: written };
  if (pattern === 'msec_frac' || pattern === 'usec_frac') return skip(written);
  try {
    compileStrftime(pattern);
  } catch (e) {
    const { directive } = e as { directive: string };
    // A part of a time (`%{%z}t` after `%{%d/%b/%Y %T}t`, as the Apache docs write it) is no time by itself.
    if (directive === 'date') return skip(written);
    throw new FormatError(`--log-format: unsupported time directive ${directive} in ${written}${where()} (these are read: ${STRFTIME_DIRECTIVES})`);
  }
  return { field: 'time', time: { kind: 'strftime', pattern }, source: written };
}
