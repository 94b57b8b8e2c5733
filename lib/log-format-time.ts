/**
 * Timestamps as log formats write them, read into Unix seconds (floor): CLF
 * (`10/Oct/2000:13:55:36 -0700`), ISO 8601 (a fraction, `Z` or `±hh:mm`), a number since the
 * epoch (s, ms, µs, ns; a fraction allowed) and the strftime patterns of Apache's `%{…}t`.
 *
 * These are the plain readers of the reference parser (lib/log-format-parse.ts): regexes and
 * exact integer arithmetic, each returning a second or an error that says what was expected.
 * `compileStrftime` checks a pattern when the format is compiled, so a directive it cannot read
 * is an error then, not an invalid line later.
 */
import type { TimeFormat, Unit } from './log-format';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_INDEX = new Map(MONTHS.map((m, i) => [m, i]));

/** A second, or why the text is not a time. */
export type TimeResult = { second: number } | { error: string };

/** Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12). */
function daysFromCivil(y: number, m: number, d: number): number {
  if (m <= 2) y -= 1;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** The civil fields of a time, as read; month 1..12; offset in seconds east of UTC, null: local time. */
interface Civil {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  offset: number | null;
}

/** Unix seconds of civil fields, or null when they are not a real instant. */
function toSecond(c: Civil): number | null {
  if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > daysIn(c.year, c.month)) return null;
  if (c.hour > 23 || c.minute > 59 || c.second > 59) return null;
  if (c.offset === null) {
    // No zone written: the server's local time, which is the monitor's when they share a host.
    const local = new Date(c.year, c.month - 1, c.day, c.hour, c.minute, c.second).getTime();
    return Number.isNaN(local) ? null : Math.floor(local / 1000);
  }
  return daysFromCivil(c.year, c.month, c.day) * 86400 + c.hour * 3600 + c.minute * 60 + c.second - c.offset;
}

const CLF = /^(\d\d)\/([A-Za-z]{3})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/;

/** `dd/Mon/yyyy:HH:MM:SS +zzzz`, exactly 26 characters. */
export function clfSecond(text: string): TimeResult {
  const m = CLF.exec(text);
  const month = m ? MONTH_INDEX.get(m[2]!) : undefined;
  if (!m || month === undefined || Number(m[8]) > 14 || Number(m[9]) > 59) {
    return { error: `time: expected dd/Mon/yyyy:HH:MM:SS +zzzz, got ${JSON.stringify(text)}` };
  }
  const offset = (Number(m[8]) * 3600 + Number(m[9]) * 60) * (m[7] === '+' ? 1 : -1);
  const second = toSecond({ year: Number(m[3]), month: month + 1, day: Number(m[1]), hour: Number(m[4]), minute: Number(m[5]), second: Number(m[6]), offset });
  return second === null ? { error: `time: no such instant: ${JSON.stringify(text)}` } : { second };
}

const ISO = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,]\d+)?(Z|[+-]\d\d(?::?\d\d)?)$/;

/** `2000-10-10T13:55:36-07:00`; a fraction (dropped), `Z`, `±hh`, `±hhmm` or `±hh:mm`. */
export function isoSecond(text: string): TimeResult {
  const m = ISO.exec(text);
  if (!m) return { error: `time: expected ISO 8601 (2000-10-10T13:55:36+00:00), got ${JSON.stringify(text)}` };
  const zone = m[7]!;
  let offset = 0;
  if (zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (hours > 14 || minutes > 59) return { error: `time: no such zone offset: ${JSON.stringify(text)}` };
    offset = (hours * 3600 + minutes * 60) * (zone[0] === '+' ? 1 : -1);
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const s = toSecond({ year, month, day, hour, minute, second, offset });
  return s === null ? { error: `time: no such instant: ${JSON.stringify(text)}` } : { second: s };
}

/** Digits a unit's whole seconds are written with beyond the second. */
const UNIT_DIGITS: Record<Unit, number> = { s: 0, ms: 3, us: 6, ns: 9 };

const EPOCH = /^(\d+)(?:\.\d+)?$/;

/**
 * A number since the epoch in `unit`, as text (`1700000000.123`) or as a JSON number: the
 * second is the integer part with the unit's digits dropped, exactly (no float rounding).
 */
export function epochSecond(value: string | number, unit: Unit): TimeResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return { error: `time: expected a number since the epoch, got ${value}` };
    return { second: Math.floor(value / 10 ** UNIT_DIGITS[unit]) };
  }
  const m = EPOCH.exec(value);
  if (!m) return { error: `time: expected a number since the epoch (${unit}), got ${JSON.stringify(value)}` };
  const whole = m[1]!;
  const drop = UNIT_DIGITS[unit];
  return { second: whole.length <= drop ? 0 : Number(whole.slice(0, whole.length - drop)) };
}

/** The strftime directives a pattern may hold, and what each reads. */
const STRFTIME: Record<string, { re: string; set?: keyof Civil | 'epoch' | 'year2' | 'mon' | 'zone' }> = {
  d: { re: '(\\d\\d)', set: 'day' },
  e: { re: ' ?(\\d{1,2})', set: 'day' },
  b: { re: '([A-Za-z]{3})', set: 'mon' },
  m: { re: '(\\d\\d)', set: 'month' },
  Y: { re: '(\\d{4})', set: 'year' },
  y: { re: '(\\d\\d)', set: 'year2' },
  H: { re: '(\\d\\d)', set: 'hour' },
  M: { re: '(\\d\\d)', set: 'minute' },
  S: { re: '(\\d\\d)', set: 'second' },
  z: { re: '([+-]\\d\\d:?\\d\\d|Z)', set: 'zone' },
  s: { re: '(\\d+)', set: 'epoch' },
  '%': { re: '%' },
};
/** Directives that stand for others. */
const STRFTIME_ALIASES: Record<string, string> = { T: '%H:%M:%S', F: '%Y-%m-%d', D: '%m/%d/%y', R: '%H:%M', h: '%b' };

/** The strftime directives `%{…}t` may use, for errors. */
export const STRFTIME_DIRECTIVES = '%d %e %b %h %m %Y %y %H %M %S %T %R %F %D %z %s %%';

/** A pattern compiled to an anchored regex over the start of a value, and what each group sets. */
export interface CompiledStrftime {
  re: RegExp;
  sets: (keyof Civil | 'epoch' | 'year2' | 'mon' | 'zone')[];
}

/**
 * Compiles a strftime pattern; throws `{ directive, index }` (index in `pattern`) for a
 * directive it cannot read (`%a`, `%Z`, `%j`…), so the compiler can say where it is.
 */
export function compileStrftime(pattern: string): CompiledStrftime {
  let source = '^';
  const sets: CompiledStrftime['sets'] = [];
  const expand = (p: string, at: number | null) => {
    for (let i = 0; i < p.length; i++) {
      const c = p[i]!;
      if (c !== '%') {
        source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        continue;
      }
      const d = p[i + 1];
      const index = at ?? i;
      if (d === undefined) throw { directive: '%', index };
      i++;
      const alias = STRFTIME_ALIASES[d];
      if (alias) {
        expand(alias, index);
        continue;
      }
      const spec = STRFTIME[d];
      if (!spec) throw { directive: `%${d}`, index };
      source += spec.re;
      if (spec.set) sets.push(spec.set);
    }
  };
  expand(pattern, null);
  if (!sets.includes('epoch') && !(sets.includes('day') && (sets.includes('month') || sets.includes('mon')) && (sets.includes('year') || sets.includes('year2')))) {
    throw { directive: 'date', index: 0 };
  }
  return { re: new RegExp(source), sets };
}

/**
 * Reads a strftime time at the start of `text`: its second and how many characters it took.
 * Without `%z` (or `%s`) the time is the local time of this process (Apache writes local time).
 */
export function strftimeSecond(text: string, pattern: string): TimeResult & { length?: number } {
  let compiled = compiledPatterns.get(pattern);
  if (compiled === undefined) {
    try {
      compiled = compileCached(pattern);
    } catch {
      return { error: `time: ${JSON.stringify(pattern)} is no pattern the monitor reads` };
    }
  }
  const m = compiled.re.exec(text);
  if (!m) return { error: `time: expected ${pattern}, got ${JSON.stringify(text.slice(0, pattern.length + 16))}` };
  const c: Civil = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, offset: null };
  let epoch: number | null = null;
  for (let g = 0; g < compiled.sets.length; g++) {
    const v = m[g + 1]!;
    const set = compiled.sets[g]!;
    if (set === 'epoch') epoch = Number(v);
    else if (set === 'mon') {
      const month = MONTH_INDEX.get(v);
      if (month === undefined) return { error: `time: no month ${JSON.stringify(v)}` };
      c.month = month + 1;
    } else if (set === 'year2') {
      const y = Number(v);
      c.year = y < 69 ? 2000 + y : 1900 + y;
    } else if (set === 'zone') {
      if (v === 'Z') c.offset = 0;
      else {
        const digits = v.slice(1).replace(':', '');
        const hours = Number(digits.slice(0, 2));
        const minutes = Number(digits.slice(2));
        if (hours > 14 || minutes > 59) return { error: `time: no such zone offset ${JSON.stringify(v)}` };
        c.offset = (hours * 3600 + minutes * 60) * (v[0] === '+' ? 1 : -1);
      }
    } else c[set] = Number(v);
  }
  if (epoch !== null) return { second: epoch, length: m[0].length };
  const second = toSecond(c);
  if (second === null) return { error: `time: no such instant: ${JSON.stringify(m[0])}` };
  return { second, length: m[0].length };
}

const compiledPatterns = new Map<string, CompiledStrftime>();
function compileCached(pattern: string): CompiledStrftime {
  const compiled = compileStrftime(pattern);
  compiledPatterns.set(pattern, compiled);
  return compiled;
}

/** Reads a whole value as `time` says (a strftime time must take the whole value). */
export function timeSecond(value: string | number, time: TimeFormat): TimeResult {
  if (time.kind === 'epoch') return epochSecond(value, time.unit);
  if (typeof value === 'number') return { error: `time: expected text, got the number ${value}` };
  switch (time.kind) {
    case 'clf':
      return clfSecond(value);
    case 'iso8601':
      return isoSecond(value);
    case 'strftime': {
      const r = strftimeSecond(value, time.pattern);
      if ('error' in r) return r;
      return r.length === value.length ? { second: r.second } : { error: `time: unexpected ${JSON.stringify(value.slice(r.length!))} after ${time.pattern}` };
    }
  }
}
