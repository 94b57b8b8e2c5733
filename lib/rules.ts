/**
 * Alert rules beyond the high-traffic one (`--rules FILE`, `--check-rules FILE`).
 *
 * The types below are the contract the rest of the program uses; the loader turns a YAML or TOML
 * file into them, or fails with the file, line and field of the first error.
 *
 * Counting rules (rate, ratio, silence) count hits; a latency rule reads the request durations
 * the log format gives (ms), which the segments keep as sketches for all timed lines, by
 * section, by virtual host and by status class only: so a latency rule matches and groups by
 * those fields, and is refused any other at its line.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type LineOf, type Path, type Read, readToml, readYaml, SyntaxErrorAt } from './config-text';
import { bucketIndex } from './sketch';

/** The fields a rule can match on. Counts are kept per field (marginals), never jointly. */
export type MatchField = 'status' | 'section' | 'method' | 'host' | 'user' | 'vhost';
export type GroupField = 'section' | 'host' | 'user' | 'vhost';

export interface RuleMatch {
  field: MatchField;
  /**
   * Any of these values matches. `status`: a class `'5xx'` (1xx..5xx) or a code `'404'` (100..599);
   * `section`: `/api`, as the stats show sections; `method`: `GET`; `host` (the client), `user` and
   * `vhost` (the virtual host): as in the log.
   */
  values: string[];
}

export interface Rule {
  /** Unique in the file; names the rule in every line, record and notification. */
  name: string;
  kind: 'rate' | 'ratio' | 'silence' | 'latency';
  /**
   * Fires when, over the window:
   * - rate: matching hits > threshold × W (a threshold in req/s, compared exactly as -t is);
   * - ratio: matching hits / all hits > threshold (0 < threshold ≤ 1), with all hits ≥ minHits;
   * - silence: matching hits < threshold (a whole number of hits ≥ 1);
   * - latency: the `quantile` of the matching timed hits' durations > threshold (ms), with at
   *   least minHits timed hits.
   */
  threshold: number;
  /**
   * Hysteresis: rate, ratio and latency recover at or below this (≤ threshold), silence at or
   * above it (≥ threshold). Absent: recovers as soon as the firing condition no longer holds.
   */
  recover?: number;
  /** Absent: every hit (every timed hit, for latency). */
  match?: RuleMatch;
  /**
   * ratio: with fewer hits than this in the window it never fires, and an alert ends (default 1);
   * latency: the same with timed hits (default 20: the p99 of a handful of requests says little).
   */
  minHits: number;
  /** latency only: the quantile compared, 0 < q < 1 (default 0.99). */
  quantile?: number;
  /** W, in whole seconds (default 120). */
  windowSeconds: number;
  /** The condition must hold this long, in whole seconds, before the rule fires (0: at once). */
  forSeconds: number;
  /** One alert per group (rate and latency rules without `match` only); absent: one for the whole traffic. */
  by?: GroupField;
  /** The most groups followed at once (the busiest; default 100, at most 1,000). */
  groups: number;
  /** Where the rule is in its file (1-based), for messages. */
  line: number;
}

/**
 * The first error in a rules file: `rules.yaml:7: rules[1].window: expected a duration …`, always
 * one line. `line` is 0 (and `field` '') when the file could not be read at all; `field` is also ''
 * for a file that is not valid YAML or TOML.
 */
export class RulesError extends Error {
  override name = 'RulesError';
  readonly file: string;
  readonly line: number;
  readonly field: string;

  constructor(file: string, line: number, field: string, detail: string) {
    const where = line > 0 ? `${file}:${line}: ${field ? `${field}: ` : ''}` : '';
    super(`${where}${detail}`.replace(/\s*[\r\n]+\s*/g, ' '));
    this.file = file;
    this.line = line;
    this.field = field;
  }
}

/**
 * Whether a rule reads the durations by status class or by vhost (`Segment.classLatency`,
 * `vhostLatency`): a latency rule matching a status class or a vhost, or grouped by vhost. Without
 * one, the scanners leave them out.
 */
export function needsRuleSketches(rules: readonly Rule[] = []): boolean {
  return rules.some((r) => r.kind === 'latency' && (r.match?.field === 'status' || r.match?.field === 'vhost' || r.by === 'vhost'));
}

/** The longest stretch of seconds the alert machines look back over: -a's window, or a rule's with its `for`. */
export function longestWindow(windowSeconds: number, rules: readonly Rule[] = []): number {
  return Math.max(windowSeconds, ...rules.map((r) => r.windowSeconds + r.forSeconds));
}

/**
 * The most the windows of all the rules of a file may take, in bytes (MB: 10^6 bytes). A file over
 * it is refused, by `--check-rules` and at the start of `--rules`.
 */
export const RULES_MEMORY_LIMIT = 256e6;

/** A count window's bytes a second of its window: one 4-byte count (actors/rule-window.ts, `CountWindow`). */
const BYTES_PER_SECOND = 4;
/**
 * What each window comes with besides its counts, bytes: the ring's object, a group's key and map
 * entries (about 0.5 kB measured), and the instance of the alert statechart it may get (4.6 kB).
 */
const BYTES_PER_INSTANCE = 8192;

/**
 * A latency rule's window clamps durations to [LATENCY_FLOOR_MS, LATENCY_CEILING_MS] (1 µs to
 * 1 h): a duration below counts as 1 µs, one above as 1 h (zeros stay zeros). So a second of it
 * holds at most LATENCY_BUCKETS buckets of the sketch (1 % each), whatever a log says.
 */
export const LATENCY_FLOOR_MS = 0.001;
export const LATENCY_CEILING_MS = 3_600_000;
/** The buckets from 1 µs to 1 h: 1,101. */
export const LATENCY_BUCKETS = bucketIndex(LATENCY_CEILING_MS) - bucketIndex(LATENCY_FLOOR_MS) + 1;
/**
 * A latency window's bytes a second, at most: a 4-byte count a bucket (actors/rule-window.ts,
 * `LatencyWindow`: a second's counts over the buckets it saw), and the second's object and array
 * (about 200 bytes measured).
 */
const LATENCY_BYTES_PER_SECOND = 4 * LATENCY_BUCKETS + 256;
/** The running sketch of a latency window: an 8-byte count for each of the 1,101 buckets. */
const LATENCY_WINDOW_BYTES = 8 * LATENCY_BUCKETS + 256;

/**
 * The most memory a rule's counts can take, in bytes: a ring of W + 2 seconds for its matching hits
 * (and one for all hits, for a ratio), for each of its `groups` when grouped, with an instance of
 * the alert statechart each. A ring is allocated whole when its rule or group is first seen. A
 * latency rule's ring holds each second's durations (at most 4.4 kB a second, by the buckets its
 * durations fall in; nothing for a second of no timed hit) and the window's running sketch.
 */
export function ruleCost(rule: Rule): number {
  const followed = rule.by ? rule.groups : 1;
  if (rule.kind === 'latency') return followed * (LATENCY_BYTES_PER_SECOND * (rule.windowSeconds + 2) + LATENCY_WINDOW_BYTES + BYTES_PER_INSTANCE);
  const rings = rule.kind === 'ratio' ? 2 : 1;
  return followed * (rings * BYTES_PER_SECOND * (rule.windowSeconds + 2) + BYTES_PER_INSTANCE);
}

/** 353_800_000 → `354 MB`, 1_382_400_000 → `1.38 GB`, 9_200 → `9.2 kB`. */
export function formatBytes(bytes: number): string {
  const [unit, size] = bytes >= 1e9 ? ['GB', 1e9] : bytes >= 1e6 ? ['MB', 1e6] : ['kB', 1e3];
  return `${Number((bytes / size).toPrecision(3))} ${unit}`;
}

/**
 * What `--check-rules` prints: a line a rule, with what it may take, then the total:
 * `hot-host: all hits per host > 3 req/s over 30s, busiest 100 hosts · memory ≤ 832 kB`.
 */
export function checkLines(rules: readonly Rule[]): string[] {
  const total = rules.reduce((sum, r) => sum + ruleCost(r), 0);
  const each = rules.map((r) => `${describeRule(r)} · memory ≤ ${formatBytes(ruleCost(r))}`);
  return [...each, `${rules.length} ${rules.length === 1 ? 'rule' : 'rules'}: memory ≤ ${formatBytes(total)} of the ${formatBytes(RULES_MEMORY_LIMIT)} limit`];
}

/** Reads and checks a rules file; any failure, reading included, is a `RulesError`. */
export function loadRules(file: string): Rule[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RulesError(file, 0, '', `cannot read ${file}: ${readFailure(error)}`);
  }
  return parseRules(text, file);
}

/** The rules in `text`: TOML when `file` ends in `.toml`, YAML otherwise. */
export function parseRules(text: string, file: string): Rule[] {
  const source = text.replace(/^\uFEFF/, '');
  let read: Read;
  try {
    read = extname(file).toLowerCase() === '.toml' ? readToml(source, 'rules') : readYaml(source);
  } catch (error) {
    if (error instanceof SyntaxErrorAt) throw new RulesError(file, error.line, '', error.message);
    throw error;
  }
  return validate(read.doc, read.lineOf, file);
}

/**
 * One line for `--check-rules` and the docs:
 * `server-errors: 5xx / all hits > 5 % over 2m (≥ 50 hits) for 30s, recovers at ≤ 2 %`,
 * `slow-api: p99 of /api > 500 ms over 2m (≥ 20 timed hits), recovers at ≤ 400 ms`.
 */
export function describeRule(rule: Rule): string {
  const subject = rule.match ? describeMatch(rule.match) : rule.kind === 'latency' ? 'all timed hits' : 'all hits';
  const over = ` over ${duration(rule.windowSeconds)}`;
  const hold = rule.forSeconds > 0 ? ` for ${duration(rule.forSeconds)}` : '';
  const { threshold, recover } = rule;
  switch (rule.kind) {
    case 'rate': {
      const per = rule.by ? ` per ${rule.by}` : '';
      const busiest = rule.by ? `, busiest ${rule.groups} ${rule.by}s` : '';
      const back = recover === undefined ? '' : `, recovers at ≤ ${recover} req/s`;
      return `${rule.name}: ${subject}${per} > ${threshold} req/s${over}${hold}${back}${busiest}`;
    }
    case 'ratio': {
      const atLeast = rule.minHits > 1 ? ` (≥ ${rule.minHits} hits)` : '';
      const back = recover === undefined ? '' : `, recovers at ≤ ${percent(recover)}`;
      return `${rule.name}: ${subject} / all hits > ${percent(threshold)}${over}${atLeast}${hold}${back}`;
    }
    case 'silence': {
      const back = recover === undefined ? '' : `, recovers at ≥ ${hits(recover)}`;
      return `${rule.name}: ${subject} < ${hits(threshold)}${over}${hold}${back}`;
    }
    case 'latency': {
      const of = rule.by ? ` per ${rule.by}` : ` of ${subject}`;
      const atLeast = ` (≥ ${rule.minHits} timed ${rule.minHits === 1 ? 'hit' : 'hits'})`;
      const back = recover === undefined ? '' : `, recovers at ≤ ${ms(recover)}`;
      const busiest = rule.by ? `, busiest ${rule.groups} ${rule.by}s` : '';
      return `${rule.name}: ${quantileName(rule.quantile ?? DEFAULT_QUANTILE)}${of} > ${ms(threshold)}${over}${atLeast}${hold}${back}${busiest}`;
    }
  }
}

/** 0.99 → `p99`, 0.999 → `p99.9`, 0.5 → `p50`. */
export function quantileName(q: number): string {
  return `p${Number((q * 100).toPrecision(12))}`;
}

// ---- internal: the one validator, for both formats ----

const RULE_KEYS = ['name', 'rate', 'ratio', 'silence', 'latency', 'quantile', 'recover', 'match', 'min_hits', 'window', 'for', 'by', 'groups'];
const KINDS = ['rate', 'ratio', 'silence', 'latency'] as const;
const KIND_LIST = 'rate, ratio, silence or latency';
const MATCH_FIELDS: readonly MatchField[] = ['status', 'section', 'method', 'host', 'user', 'vhost'];
const GROUP_FIELDS: readonly GroupField[] = ['section', 'host', 'user', 'vhost'];
/** The fields request durations are kept by (lib/wire.ts: `sectionLatency`, `vhostLatency`, `classLatency`). */
const LATENCY_MATCH_FIELDS: readonly MatchField[] = ['section', 'vhost', 'status'];
const LATENCY_GROUP_FIELDS: readonly GroupField[] = ['section', 'vhost'];
const DEFAULT_QUANTILE = 0.99;
const LATENCY_MIN_HITS = 20;
/** `500ms`, `1.5s`, `250us`, `2m`: a number and a unit; a plain YAML/TOML number is milliseconds. */
const LATENCY = /^(\d+(?:\.\d+)?)\s?(us|µs|ms|s|m)$/;
/** The unit's exponent or factor: µs → ms is 10^-3, s → ms 10^3, m → ms 60 × 10^3. */
const LATENCY_UNIT: Record<string, [exponent: number, factor: number]> = { us: [-3, 1], µs: [-3, 1], ms: [0, 1], s: [3, 1], m: [3, 60] };
/** The longest latency a rule may name: 10 minutes, well inside what its window keeps (1 h). */
const MAX_LATENCY_MS = 600_000;
const QUANTILE_NAME = /^p(\d+(?:\.\d+)?)$/i;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]*$/;
const PERCENT = /^(\d+(?:\.\d+)?)\s?%$/;
const DURATION = /^(\d+)(s|m|h)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };
const MAX_COUNT = 1e9;
const MAX_SECONDS = 86400;

function validate(doc: unknown, lineOf: LineOf, file: string): Rule[] {
  const fail = (path: Path, detail: string): never => {
    throw new RulesError(file, lineOf(path), fieldOf(path), detail);
  };
  if (doc === null || doc === undefined) fail(['rules'], 'no rules: the file is empty');
  if (!isPlainObject(doc)) return fail(['rules'], `expected a mapping with one key, rules, got ${shown(doc)}`);
  for (const key of Object.keys(doc)) {
    if (key !== 'rules') fail([key], `unknown key ${JSON.stringify(key)}; the file takes one key, rules`);
  }
  const list = doc.rules;
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) fail(['rules'], 'no rules');
  if (!Array.isArray(list)) return fail(['rules'], `expected a list of rules, got ${shown(list)}`);
  const rules: Rule[] = [];
  list.forEach((raw, i) => {
    const rule = readRule(raw, ['rules', i], fail, lineOf);
    const first = rules.find((r) => r.name === rule.name);
    if (first) {
      const at = rules.indexOf(first);
      const where = `rules[${at}] (line ${lineOf(['rules', at, 'name'])})`;
      fail(['rules', i, 'name'], `${JSON.stringify(rule.name)} is already the name of ${where}`);
    }
    rules.push(rule);
  });
  withinMemory(rules, list as Record<string, unknown>[], fail);
  return rules;
}

/** The first rule that takes the rules over `RULES_MEMORY_LIMIT` is the error, at its window (or its groups). */
function withinMemory(rules: readonly Rule[], raws: readonly Record<string, unknown>[], fail: Fail) {
  let total = 0;
  rules.forEach((rule, i) => {
    const cost = ruleCost(rule);
    total += cost;
    if (total <= RULES_MEMORY_LIMIT) return;
    const written = ['window', 'groups'].find((key) => Object.hasOwn(raws[i]!, key));
    const at: Path = ['rules', i, ...(written ? [written] : [])];
    const what = rule.by ? `${duration(rule.windowSeconds)} × ${rule.groups} ${rule.by}s` : `a ${rule.kind} rule over ${duration(rule.windowSeconds)}`;
    const before = total > cost ? `, ${formatBytes(total)} with the rules before it` : '';
    const fix = rule.by ? 'fewer groups or a shorter window' : 'a shorter window or fewer rules';
    fail(at, `${what} would take ${formatBytes(cost)}${before}, more than the ${formatBytes(RULES_MEMORY_LIMIT)} limit of all rules (${fix})`);
  });
}

type Fail = (path: Path, detail: string) => never;

function readRule(raw: unknown, at: Path, fail: Fail, lineOf: LineOf): Rule {
  if (!isPlainObject(raw)) {
    return fail(at, `expected a rule (a mapping with a name and ${KIND_LIST}), got ${shown(raw)}`);
  }
  const path = (...steps: (string | number)[]) => [...at, ...steps];
  for (const key of Object.keys(raw)) {
    if (!RULE_KEYS.includes(key)) fail(path(key), `unknown key ${JSON.stringify(key)}; a rule takes ${RULE_KEYS.join(', ')}`);
  }
  const has = (key: string) => Object.hasOwn(raw, key);

  const name = raw.name;
  if (!has('name')) fail(at, 'a rule needs a name');
  if (typeof name !== 'string' || !NAME.test(name) || name.length > 64) {
    const shape = 'a name of 1 to 64 letters, digits, spaces, "_", "." or "-", starting with a letter or digit';
    fail(path('name'), `expected ${shape}, got ${shown(name)}`);
  }

  const kinds = KINDS.filter(has);
  const kind = kinds[0];
  if (kind === undefined) return fail(at, `a rule needs one of ${KIND_LIST}`);
  if (kinds.length > 1) fail(path(kinds[1]!), `a rule takes one of ${KIND_LIST}, not both ${kinds[0]} and ${kinds[1]}`);
  const threshold = readThreshold(kind, raw[kind], path(kind), fail);
  if (has('quantile') && kind !== 'latency') fail(path('quantile'), `quantile is for latency rules only, not ${kind}`);
  const quantile = has('quantile') ? readQuantile(raw.quantile, path('quantile'), fail) : DEFAULT_QUANTILE;
  const recover = has('recover') ? readRecover(kind, threshold, raw.recover, path('recover'), fail) : undefined;
  const match = has('match') ? readMatch(raw.match, path('match'), fail) : undefined;
  if (match && kind === 'latency') latencyMatch(match, path('match'), fail);

  if (has('min_hits') && kind !== 'ratio' && kind !== 'latency') fail(path('min_hits'), `min_hits is for ratio and latency rules only, not ${kind}`);
  const minHits = has('min_hits') ? whole(raw.min_hits, path('min_hits'), fail, 1, Infinity) : kind === 'latency' ? LATENCY_MIN_HITS : 1;
  const windowSeconds = has('window') ? seconds(raw.window, path('window'), fail, 1) : 120;
  const forSeconds = has('for') ? seconds(raw.for, path('for'), fail, 0) : 0;

  let by: GroupField | undefined;
  if (has('by')) {
    const field = raw.by;
    if (!GROUP_FIELDS.includes(field as GroupField)) fail(path('by'), `expected ${GROUP_FIELDS.join(', ')}, got ${shown(field)}`);
    by = field as GroupField;
    if (kind !== 'rate' && kind !== 'latency') fail(path('by'), `by is for rate and latency rules only, not ${kind}`);
    if (kind === 'latency' && !LATENCY_GROUP_FIELDS.includes(by)) {
      fail(path('by'), `a latency rule groups by section or vhost: request durations are kept by those, not by ${by}`);
    }
    if (match) {
      const what = kind === 'latency' ? 'durations' : 'hits';
      const why = `grouped counts are the ${what} by ${by}, and a filter on top would need joint counts`;
      fail(path('by'), `by cannot go with match: ${why}`);
    }
  }
  if (has('groups') && !by) fail(path('groups'), 'groups goes with by only');
  const groups = has('groups') ? whole(raw.groups, path('groups'), fail, 1, 1000) : 100;

  const rule: Rule = { name: name as string, kind, threshold, minHits, windowSeconds, forSeconds, groups, line: lineOf(at) };
  if (kind === 'latency') rule.quantile = quantile;
  if (recover !== undefined) rule.recover = recover;
  if (match) rule.match = match;
  if (by) rule.by = by;
  return rule;
}

function readThreshold(kind: Rule['kind'], value: unknown, at: Path, fail: Fail): number {
  switch (kind) {
    case 'rate':
      return above0(number(value, at, fail, 'a number of requests per second'), at, fail, MAX_COUNT);
    case 'ratio':
      return above0(fraction(value, at, fail), at, fail, 1);
    case 'silence':
      return whole(value, at, fail, 1, MAX_COUNT);
    case 'latency': {
      const n = milliseconds(value, at, fail);
      if (n < LATENCY_FLOOR_MS || n > MAX_LATENCY_MS) fail(at, `must be from 1µs to 10m, got ${shown(value)}`);
      return n;
    }
  }
}

/** A duration in ms: `500ms`, `1.5s`, `250us`, `2m`, or a plain number of milliseconds. */
function milliseconds(value: unknown, at: Path, fail: Fail): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  const unit = typeof value === 'string' ? LATENCY.exec(value.trim()) : null;
  if (!unit) return fail(at, `expected a duration such as 500ms, 1.5s or 250 (milliseconds), got ${shown(value)}`);
  const [exponent, factor] = LATENCY_UNIT[unit[2]!]!;
  // Moving the decimal point in the text, so "1.1s" is exactly 1100.
  return Number(`${unit[1]}e${exponent}`) * factor;
}

/** 0.99, or `p99` / `p99.9`: strictly between 0 and 1. */
function readQuantile(value: unknown, at: Path, fail: Fail): number {
  const named = typeof value === 'string' ? QUANTILE_NAME.exec(value.trim()) : null;
  const q = named ? Number(`${named[1]}e-2`) : typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  if (q === undefined || !(q > 0 && q < 1)) return fail(at, `expected a quantile such as 0.99 or p99, more than 0 and less than 1, got ${shown(value)}`);
  return q;
}

/** A latency rule matches what durations are kept by: a section, a virtual host, a status class. */
function latencyMatch(match: RuleMatch, at: Path, fail: Fail) {
  const { field, values } = match;
  if (!LATENCY_MATCH_FIELDS.includes(field)) {
    fail([...at, field], `a latency rule matches section, vhost or status class: request durations are kept by those, not by ${field}`);
  }
  const code = field === 'status' ? values.findIndex((v) => !v.endsWith('xx')) : -1;
  if (code >= 0) {
    const where = values.length > 1 ? [...at, field, code] : [...at, field];
    fail(where, `a latency rule matches a status class such as 5xx, not a code (${values[code]}): durations are kept by class`);
  }
}

function readRecover(kind: Rule['kind'], threshold: number, value: unknown, at: Path, fail: Fail): number {
  if (kind === 'latency') {
    const n = milliseconds(value, at, fail);
    if (n < 0) fail(at, `must be at least 0, got ${shown(value)}`);
    if (n > threshold) fail(at, `must be at most the latency (${ms(threshold)}), got ${shown(value)}`);
    return n;
  }
  if (kind === 'silence') {
    const n = whole(value, at, fail, 0, MAX_COUNT);
    if (n < threshold) fail(at, `must be at least the silence threshold (${threshold}), got ${n}`);
    return n;
  }
  const n = kind === 'rate' ? number(value, at, fail, 'a number of requests per second') : fraction(value, at, fail);
  if (n < 0) fail(at, `must be at least 0, got ${n}`);
  if (n > threshold) fail(at, `must be at most the ${kind} (${threshold}), got ${n}`);
  return n;
}

function readMatch(value: unknown, at: Path, fail: Fail): RuleMatch {
  if (!isPlainObject(value)) return fail(at, `expected a mapping of one field, such as { status: 5xx }, got ${shown(value)}`);
  const keys = Object.keys(value);
  for (const key of keys) {
    if (!MATCH_FIELDS.includes(key as MatchField)) {
      fail([...at, key], `unknown field ${JSON.stringify(key)}; match takes one of ${MATCH_FIELDS.join(', ')}`);
    }
  }
  if (keys.length === 0) fail(at, `match needs a field: one of ${MATCH_FIELDS.join(', ')}`);
  if (keys.length > 1) fail(at, 'match takes one field: counts are kept per field, not jointly');
  const field = keys[0] as MatchField;
  const raw = value[field];
  const items = Array.isArray(raw) ? raw : [raw];
  if (items.length === 0) fail([...at, field], 'expected a value or a non-empty list of values, got an empty list');
  const values = items.map((item, j) => matchValue(field, item, Array.isArray(raw) ? [...at, field, j] : [...at, field], fail));
  return { field, values };
}

const MATCH_SHAPES: Record<MatchField, string> = {
  status: 'a status class 1xx..5xx or a code 100..599',
  section: 'a section such as "/api" (the first path segment: one "/", no spaces)',
  method: 'a method such as GET (letters only)',
  host: 'a host without spaces',
  user: 'a user without spaces',
  vhost: 'a virtual host without spaces',
};

function matchValue(field: MatchField, item: unknown, at: Path, fail: Fail): string {
  const scalar = typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean';
  const text = scalar ? String(item) : '';
  const normal = scalar ? normalised(field, text) : undefined;
  return normal ?? fail(at, `expected ${MATCH_SHAPES[field]}, got ${shown(item)}`);
}

/** A match value as the counts key it, or undefined when it can never match. */
function normalised(field: MatchField, text: string): string | undefined {
  switch (field) {
    case 'status':
      if (/^[1-5]xx$/i.test(text)) return text.toLowerCase();
      return /^\d{3}$/.test(text) && +text >= 100 && +text <= 599 ? text : undefined;
    case 'section':
      return /^\/[^/\s]*$/.test(text) ? text : undefined;
    case 'method':
      return /^[A-Za-z]+$/.test(text) ? text.toUpperCase() : undefined;
    case 'host':
    case 'user':
    case 'vhost':
      return /^\S+$/.test(text) ? text : undefined;
  }
}

function number(value: unknown, at: Path, fail: Fail, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fail(at, `expected ${what}, got ${shown(value)}`);
  return value;
}

/** 0.05, or "5%" / "5 %" (moving the decimal point in the text, so "0.1%" is exactly 0.001). */
function fraction(value: unknown, at: Path, fail: Fail): number {
  const percent = typeof value === 'string' ? PERCENT.exec(value.trim()) : null;
  if (percent) return Number(`${percent[1]}e-2`);
  return number(value, at, fail, 'a fraction such as 0.05 or a percentage such as "5%"');
}

function above0(n: number, at: Path, fail: Fail, max: number): number {
  if (n <= 0) fail(at, `must be more than 0, got ${n}`);
  if (n > max) fail(at, `must be at most ${max}, got ${n}`);
  return n;
}

function whole(value: unknown, at: Path, fail: Fail, min: number, max: number): number {
  const n = number(value, at, fail, 'a whole number');
  if (!Number.isInteger(n)) fail(at, `expected a whole number, got ${n}`);
  if (n < min) fail(at, `must be at least ${min}, got ${n}`);
  if (n > max) fail(at, `must be at most ${max}, got ${n}`);
  return n;
}

function seconds(value: unknown, at: Path, fail: Fail, min: number): number {
  const unit = typeof value === 'string' ? DURATION.exec(value) : null;
  const plain = typeof value === 'number' && Number.isInteger(value) ? value : undefined;
  const n = unit ? Number(unit[1]) * UNIT_SECONDS[unit[2]!]! : plain;
  if (n === undefined) return fail(at, `expected a duration such as 30, "30s", "2m" or "1h", got ${shown(value)}`);
  if (n < min || n > MAX_SECONDS) fail(at, `must be from ${min} to ${MAX_SECONDS} seconds (24h), got ${shown(value)}`);
  return n;
}

// ---- internal: small helpers ----

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `['rules', 2, 'match']` → `rules[2].match`. */
function fieldOf(path: Path): string {
  return path.reduce<string>((field, step) => {
    if (typeof step === 'number') return `${field}[${step}]`;
    const key = /^[A-Za-z_][\w-]*$/.test(step) ? step : JSON.stringify(step);
    return field ? `${field}.${key}` : key;
  }, '');
}

/** A value as a message quotes it, on one line and at most about 40 characters. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a mapping';
  if (typeof value !== 'string') return String(value).slice(0, 40);
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory' };
  return (code && known[code]) ?? String((error as Error).message);
}

function describeMatch({ field, values }: RuleMatch): string {
  const list = values.join(' or ');
  return field === 'host' || field === 'user' || field === 'vhost' ? `${field} ${list}` : list;
}

/** 120 → `2m`, 90 → `90s`. */
function duration(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function percent(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(12))} %`;
}

/** 500 → `500 ms`, 1500 → `1500 ms`, 0.25 → `0.25 ms`: milliseconds, as the alert lines say them. */
function ms(n: number): string {
  return `${Number(n.toPrecision(12))} ms`;
}

function hits(n: number): string {
  return `${n} ${n === 1 ? 'hit' : 'hits'}`;
}
