/**
 * The reference parser: one line in a `LogFormat`, read plainly (a walk over the tokens with
 * `startsWith`/`indexOf`, regexes, `JSON.parse`), field by field. It is what the fast scanners
 * are tested against and what the `format` sub-command prints, so it favours being obviously
 * right over being fast, and says why a line does not parse.
 *
 * The rules, the same for every format (CLF is `parseLine`'s, from actors/clf-scanner.ts):
 * - A line is counted when its time and status read (status 100..599) and every other field the
 *   monitor reads is either well formed or has no value. Lines over MAX_LINE bytes are invalid;
 *   a trailing '\r' is dropped.
 * - client: none (no field, empty, or missing in JSON) is `-`; user and vhost: `-`, empty or
 *   missing is null; bytes: `-` (or missing in JSON) is 0.
 * - A request line (`$request`, `%r`) gives the method and section as the CLF scanner does;
 *   without one, the method field (`[A-Za-z_-]{1,32}` but not `-`, else `(none)`) and the section of the
 *   URI field (none: `(no request)`) are read each on its own.
 * - duration, upstream: in milliseconds (s × 1000, ms, µs / 1000, ns / 1e6); `-`, empty,
 *   missing or negative (ALB's -1) is null, not invalid; an nginx list
 *   (`0.010, 0.020 : 0.030`) is the sum of its numbers (null when it has none).
 * - A value is the text of the line as written, escapes and all (the scanners count bytes of
 *   the line); a JSON value is the decoded string.
 */
import { MAX_LINE, NO_METHOD, NO_REQUEST, parseLine, sectionOf } from '../actors/clf-scanner';
import type { FieldName, FieldToken, JsonField, JsonFormat, LogFormat, TextFormat, Unit } from './log-format';
import { compileApache } from './log-format-apache';
import { strftimeSecond, timeSecond } from './log-format-time';

/** What a counted line says. */
export interface FormatEntry {
  /** Unix seconds (floor) of the line's time. */
  second: number;
  client: string;
  user: string | null;
  method: string;
  section: string;
  status: number;
  bytes: number;
  vhost: string | null;
  /** Milliseconds; null: the line has none. */
  duration: number | null;
  upstream: number | null;
}

/** One field of a line: which token read it, the text, and what it reads as. */
export interface ParsedField {
  /** `$request_time`, `%D`, a JSON path (`request.remote_ip`). */
  token: string;
  field: FieldName | null;
  raw: string;
  /** What the monitor takes from it (a request: `METHOD section`); absent for a skipped field. */
  value?: string | number | null;
}

export interface ParsedLine {
  fields: ParsedField[];
  /** null: the line is not counted (invalid, or blank). */
  entry: FormatEntry | null;
  /** Why the line does not parse: `status: expected 3 digits, got "abc"`. */
  error?: string;
}

type Value = string | number | null;
/** A field's reading: its value, or why it is wrong. */
type Reading = { value: Value } | { error: string };

const REQUEST = /^([A-Za-z_-]{1,32}) ([^ ]+)(?: ([^ ]+))?$/;
const METHOD = /^[A-Za-z_-]{1,32}$/;
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)$/;
const ms = (n: number, unit: Unit): number => (unit === 's' ? n * 1000 : unit === 'ms' ? n : unit === 'us' ? n / 1000 : n / 1e6);
const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const GO_DURATION = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;

/** A Go duration (`1.5ms`, `2m3.5s`) in ms, or null for one that is not. */
function goDuration(text: string): number | null {
  if (text === '0') return 0;
  if (!GO_DURATION.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(m[1]) * GO_UNITS[m[2]!]!;
  return total;
}

function noText(v: Value): boolean {
  return v === null || v === '' || v === '-';
}

/** A duration (or upstream) in ms; null for none. */
function readDuration(name: FieldName, v: Value, unit: Unit, list?: boolean, go?: boolean): Reading {
  if (noText(v)) return { value: null };
  if (typeof v === 'number') return { value: v < 0 ? null : ms(v, unit) };
  const text = v!;
  if (list) {
    let total = 0;
    let any = false;
    for (const part of text.split(/[,:]/)) {
      const p = part.trim();
      if (p === '-') continue;
      if (!NUMBER.test(p)) return { error: `${name}: expected numbers separated by ", " or " : ", got ${JSON.stringify(text)}` };
      const n = Number(p);
      if (n < 0) continue;
      total += ms(n, unit);
      any = true;
    }
    return { value: any ? total : null };
  }
  if (NUMBER.test(text)) {
    const n = Number(text);
    return { value: n < 0 ? null : ms(n, unit) };
  }
  if (go) {
    const g = goDuration(text);
    if (g !== null) return { value: g };
  }
  return { error: `${name}: expected a number${go ? ' or a Go duration' : ''}, got ${JSON.stringify(text)}` };
}

function readStatus(v: Value): Reading {
  if (v === null) return { error: 'status: missing' };
  const text = typeof v === 'number' ? String(v) : (v ?? '');
  if (!/^\d{3}$/.test(text)) return { error: `status: expected 3 digits, got ${JSON.stringify(v ?? '')}` };
  const n = Number(text);
  return n < 100 || n > 599 ? { error: `status: ${n} is not 100..599` } : { value: n };
}

function readBytes(v: Value): Reading {
  if (v === null || v === '-') return { value: 0 };
  const text = typeof v === 'number' ? String(v) : v;
  if (!/^\d{1,15}$/.test(text)) return { error: `bytes: expected a number or -, got ${JSON.stringify(v)}` };
  return { value: Number(text) };
}

/**
 * The address of an `address:port` value: `v4:port` → v4, `[v6]:port` and `[v6]` → v6; a bare
 * IPv6 address (two colons or more, a `%zone` allowed) and anything without a port stay whole.
 */
export function stripPort(text: string): string {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close > 0 && (close === text.length - 1 || /^:\d*$/.test(text.slice(close + 1)))) return text.slice(1, close);
    return text;
  }
  const colon = text.indexOf(':');
  if (colon > 0 && colon === text.lastIndexOf(':') && /^\d*$/.test(text.slice(colon + 1))) return text.slice(0, colon);
  return text;
}

/** The reading of one understood field's value (text as written, or a JSON value). */
function read(field: FieldName, v: Value, spec: Pick<FieldToken, 'time' | 'unit' | 'list' | 'hostPort'> & Pick<JsonField, 'goDuration' | 'zero'>): Reading {
  switch (field) {
    case 'time': {
      if (v === null || v === '') return { error: 'time: missing' };
      const r = timeSecond(v, spec.time ?? { kind: 'clf' });
      return 'error' in r ? r : { value: r.second };
    }
    case 'status':
      return readStatus(spec.zero !== undefined && (v === 0 || v === '0') ? spec.zero : v);
    case 'bytes':
      return readBytes(v);
    case 'duration':
    case 'upstream':
      return readDuration(field, v, spec.unit ?? 's', spec.list, spec.goDuration);
    case 'client': {
      if (v === null || v === '') return { value: '-' };
      const text = String(v);
      return { value: spec.hostPort ? stripPort(text) || '-' : text };
    }
    case 'user':
    case 'vhost':
      return { value: noText(v) ? null : String(v) };
    case 'request': {
      const text = v === null ? '' : String(v);
      const m = REQUEST.exec(text);
      return { value: m ? `${m[1]} ${sectionOf(m[2]!)}` : `${NO_METHOD} ${NO_REQUEST}` };
    }
    case 'method': {
      const text = v === null ? '' : String(v);
      return { value: !noText(text) && METHOD.test(text) ? text : NO_METHOD };
    }
    case 'uri':
      return { value: noText(v) ? NO_REQUEST : sectionOf(String(v)) };
  }
}

/** What the fields read, made an entry; or the first error. */
class Assembly {
  readonly fields: ParsedField[] = [];
  private readonly values = new Map<FieldName, Value>();
  private readonly parts: (number | null)[] = [];
  private hasParts = false;
  private error: string | undefined;

  add(token: string, field: FieldName | null, raw: string, v: Value, spec: Parameters<typeof read>[2] & { durationPart?: boolean }): void {
    if (field === null) {
      this.fields.push({ token, field, raw });
      return;
    }
    const r = read(field, v, spec);
    if ('error' in r) {
      this.fields.push({ token, field, raw, value: null });
      this.error ??= r.error;
      return;
    }
    this.fields.push({ token, field, raw, value: r.value });
    if (spec.durationPart) {
      this.hasParts = true;
      this.parts.push(r.value as number | null);
      if (field === 'duration') return;
    }
    if (!this.values.has(field)) this.values.set(field, r.value);
  }

  /** A field whose value is of no kind it could be (a JSON object where a number was). */
  wrong(token: string, field: FieldName, raw: string, error: string): void {
    this.fields.push({ token, field, raw, value: null });
    this.error ??= error;
  }

  fail(error: string): ParsedLine {
    return { fields: this.fields, entry: null, error: this.error ?? error };
  }

  finish(): ParsedLine {
    if (this.error !== undefined) return { fields: this.fields, entry: null, error: this.error };
    const get = (f: FieldName) => this.values.get(f);
    if (!this.values.has('time')) return { fields: this.fields, entry: null, error: 'time: missing' };
    if (!this.values.has('status')) return { fields: this.fields, entry: null, error: 'status: missing' };
    let method = NO_METHOD;
    let section = NO_REQUEST;
    const request = get('request');
    if (request !== undefined) {
      const space = (request as string).indexOf(' ');
      method = (request as string).slice(0, space);
      section = (request as string).slice(space + 1);
    } else {
      method = (get('method') as string | undefined) ?? NO_METHOD;
      section = (get('uri') as string | undefined) ?? NO_REQUEST;
    }
    let duration = (get('duration') as number | null | undefined) ?? null;
    if (this.hasParts) duration = this.parts.includes(null) ? null : this.parts.reduce<number>((a, b) => a + b!, 0);
    const entry: FormatEntry = {
      second: get('time') as number,
      client: (get('client') as string | undefined) ?? '-',
      user: (get('user') as string | null | undefined) ?? null,
      method,
      section,
      status: get('status') as number,
      bytes: (get('bytes') as number | undefined) ?? 0,
      vhost: (get('vhost') as string | null | undefined) ?? null,
      duration,
      upstream: (get('upstream') as number | null | undefined) ?? null,
    };
    return { fields: this.fields, entry };
  }
}

/** Where `literal` starts in `line` from `from` on, a backslash taking the byte after it along. */
function findLiteral(line: string, literal: string, from: number, escapes: boolean): number {
  for (let i = from; i + literal.length <= line.length; i++) {
    if (line.startsWith(literal, i)) return i;
    if (escapes && line[i] === '\\') i++;
  }
  return -1;
}

/**
 * nginx's upstream lists (`$upstream_response_time`, `$upstream_addr`, `$upstream_status`…):
 * items separated by `, ` and ` : `, an item a number, `-`, an address (`10.0.0.1:80`,
 * `[::1]:80`, `unix:/tmp/sock`) or a server group's name: letters, digits and `._:/[]%-`.
 */
const UPSTREAM_LIST = /^[0-9A-Za-z._:/[\]%-]+(?:(?:, | : )[0-9A-Za-z._:/[\]%-]+)*/;

const show = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

function parseText(line: string, format: TextFormat): ParsedLine {
  const a = new Assembly();
  const tokens = format.tokens;
  const escapes = format.escape !== 'none';
  let pos = 0;
  let list: RegExpExecArray | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if ('literal' in tok) {
      if (!line.startsWith(tok.literal, pos)) {
        return a.fail(`expected ${JSON.stringify(tok.literal)} at column ${pos + 1}, got ${show(line.slice(pos))}`);
      }
      pos += tok.literal.length;
      continue;
    }
    let end: number;
    if (tok.time?.kind === 'clf') {
      end = pos + 26;
      if (end > line.length) return a.fail(`${tok.source}: expected dd/Mon/yyyy:HH:MM:SS +zzzz at column ${pos + 1}, got ${show(line.slice(pos))}`);
    } else if (tok.time?.kind === 'strftime') {
      const r = strftimeSecond(line.slice(pos), tok.time.pattern);
      if ('error' in r) return a.fail(`${tok.source}: ${r.error} at column ${pos + 1}`);
      end = pos + r.length!;
    } else if (tok.list && (list = UPSTREAM_LIST.exec(line.slice(pos))) !== null) {
      end = pos + list[0].length;
    } else {
      const next = tokens[i + 1];
      if (next === undefined) end = line.length;
      else if (!('literal' in next)) return a.fail(`${tok.source}: the format has no text after it to end it`);
      else {
        end = findLiteral(line, next.literal, pos, escapes);
        if (end < 0) return a.fail(`${tok.source}: no ${JSON.stringify(next.literal)} after column ${pos + 1}`);
      }
    }
    const raw = line.slice(pos, end);
    a.add(tok.source, tok.field, raw, raw, tok);
    pos = end;
  }
  if (pos < line.length) return a.fail(`unexpected text after the format at column ${pos + 1}: ${show(line.slice(pos))}`);
  return a.finish();
}

/** The value at a path of a parsed object; undefined when absent (a JSON null is absent). */
function at(object: unknown, path: string[]): unknown {
  let v = object;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v === null ? undefined : v;
}

function parseJson(line: string, format: JsonFormat): ParsedLine {
  let object: unknown;
  try {
    object = JSON.parse(line);
  } catch (e) {
    return { fields: [], entry: null, error: `not JSON: ${(e as Error).message.split('\n')[0]}` };
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return { fields: [], entry: null, error: 'not a JSON object' };
  const a = new Assembly();
  for (const [field, spec] of Object.entries(format.fields) as [FieldName, JsonField][]) {
    let path = spec.paths[0]!;
    let v: unknown;
    for (const p of spec.paths) {
      v = at(object, p);
      if (v !== undefined) {
        path = p;
        break;
      }
    }
    const token = path.join('.');
    if (v !== undefined && typeof v !== 'string' && typeof v !== 'number') {
      a.wrong(token, field, JSON.stringify(v), `${field}: expected a string or a number, got ${JSON.stringify(v)}`);
      continue;
    }
    const value = (v ?? null) as Value;
    a.add(token, field, value === null ? '' : String(value), value, spec);
  }
  return a.finish();
}

const CLF_VIEWS = new Map<string, TextFormat>();
/** The CLF formats as text formats: only to show a line's fields (the entry is parseLine's). */
function clfView(name: 'common' | 'combined'): TextFormat {
  let view = CLF_VIEWS.get(name);
  if (!view) {
    const common = '%h %l %u %t "%r" %>s %b';
    view = compileApache(name === 'combined' ? `${common} "%{Referer}i" "%{User-Agent}i"` : common, { pasted: false, where: () => '', name });
    CLF_VIEWS.set(name, view);
  }
  return view;
}

function parseClf(line: string): ParsedLine {
  const e = parseLine(line);
  const combined = parseText(line, clfView('combined'));
  const common = combined.error === undefined ? combined : parseText(line, clfView('common'));
  const view = common.error === undefined || common.fields.length >= combined.fields.length ? common : combined;
  const fields = view.fields;
  if (!e) return { fields, entry: null, error: view.error ?? 'the line does not read as the Common Log Format' };
  return {
    fields,
    entry: {
      second: e.second,
      client: e.host,
      user: e.user,
      method: e.method,
      section: e.section,
      status: e.status,
      bytes: e.bytes,
      vhost: null,
      duration: null,
      upstream: null,
    },
  };
}

/** One line (no '\n') in a format, field by field, and what the monitor counts of it. */
export function parseEntry(line: string, format: LogFormat): ParsedLine {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (Buffer.byteLength(line, 'utf8') > MAX_LINE) return { fields: [], entry: null, error: `the line is longer than ${MAX_LINE} bytes` };
  if (/^[ \t]*$/.test(line)) return { fields: [], entry: null, error: 'blank line' };
  switch (format.kind) {
    case 'clf':
      return parseClf(line);
    case 'text':
      return parseText(line, format);
    case 'json':
      return parseJson(line, format);
  }
}
