/**
 * Synthetic HTTP access-log traffic: a seeded line maker, a per-second schedule and two writers
 * (backfill: the whole profile at once; live: each second's lines during that wall-clock second).
 *
 * Everything here is pure or takes its clock and sink as arguments; `commands/generate.ts`
 * reads flags and wires these to a file.
 */
import { UsageError, positiveNumber } from './cli-args';

/** One phase of a traffic profile: `rate` lines per second for `seconds` seconds. */
export interface Phase {
  rate: number;
  seconds: number;
}

export type LogFormat = 'clf' | 'combined';

export interface LineOptions {
  format: LogFormat;
  /** Offset written in timestamps, in minutes east of UTC (+0530 is 330). */
  offsetMinutes: number;
}

/** A uniform random number in [0, 1). */
export type Rng = () => number;

// ---------------------------------------------------------------------------------------------
// Arguments

/** Parses `5x120,25x60` into phases; throws `UsageError` naming --profile when malformed. */
export function parseProfile(text: string): Phase[] {
  const phases = String(text)
    .split(',')
    .map((part) => part.trim());
  return phases.map((part) => {
    const m = /^([^xX]+)[xX]([^xX]+)$/.exec(part);
    if (!m) throw new UsageError(`--profile phase '${part}' is not RATExSECONDS (like 5x120)`);
    return {
      rate: positiveNumber(m[1], `--profile phase '${part}': rate`),
      seconds: positiveNumber(m[2], `--profile phase '${part}': seconds`, true),
    };
  });
}

/** Parses `+0530`, `-08:00` into minutes east of UTC. */
export function parseOffset(text: string): number {
  const m = /^([+-])(\d\d):?(\d\d)$/.exec(String(text).trim());
  if (!m || Number(m[2]) > 23 || Number(m[3]) > 59) {
    throw new UsageError(`--offset must look like +0000 or -0800, got '${text}'`);
  }
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

/**
 * Parses `--start`: Unix seconds (`1767225600`) or ISO-8601 (`2026-01-01T00:00:00Z`) into whole
 * Unix seconds. An ISO date-time without a zone is read as UTC, so fixtures do not depend on TZ.
 */
export function parseStart(text: string): number {
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.floor(Number(t));
  const zoneless = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t);
  const ms = /^\d{4}-\d\d-\d\d/.test(t) ? Date.parse(zoneless ? `${t}Z` : t) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(`--start must be ISO-8601 (2026-01-01T00:00:00Z) or Unix seconds, got '${text}'`);
  }
  return Math.floor(ms / 1000);
}

/** Parses `--seed`: a whole number, folded to 32 bits. */
export function parseSeed(text: string): number {
  const t = String(text).trim();
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
    throw new UsageError(`--seed must be a whole number, got '${text}'`);
  }
  const n = Number(t);
  return ((n % 2 ** 32) ^ Math.floor(n / 2 ** 32)) >>> 0;
}

/** Total seconds a profile lasts. */
export function profileSeconds(profile: Phase[]): number {
  return profile.reduce((sum, p) => sum + p.seconds, 0);
}

// ---------------------------------------------------------------------------------------------
// Schedule

/**
 * Lines to write in each second of the profile, in order. A fractional rate carries its remainder
 * to the next second (across phases too): 0.5/s gives 0, 1, 0, 1, ...
 */
export function* secondCounts(profile: Phase[]): Generator<number> {
  let carry = 0;
  for (const { rate, seconds } of profile) {
    for (let s = 0; s < seconds; s++) {
      carry += rate;
      const n = Math.floor(carry + 1e-9);
      // Rounded so repeated float additions (0.1 + 0.1 + ...) cannot drift below a whole line.
      carry = Math.max(0, Math.round((carry - n) * 1e9) / 1e9);
      yield n;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lines

/** mulberry32: a small, fast, seedable 32-bit PRNG. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random 32-bit seed, for runs without --seed. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/** `09/May/2018:16:00:39 +0000`: the instant `epochSecond` as local time at `offsetMinutes`. */
export function formatTimestamp(epochSecond: number, offsetMinutes = 0): string {
  const d = new Date((epochSecond + offsetMinutes * 60) * 1000);
  const abs = Math.abs(offsetMinutes);
  const zone = `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  return (
    `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${zone}`
  );
}

/** A weighted choice table: `pick(rng)` returns an item with probability weight / total. */
function weighted<T>(entries: [T, number][]): (rng: Rng) => T {
  const items = entries.map(([item]) => item);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let acc = 0;
  const bounds = entries.map(([, w]) => (acc += w) / total);
  return (rng) => {
    const r = rng();
    for (let i = 0; i < bounds.length; i++) if (r < bounds[i]!) return items[i]!;
    return items[items.length - 1]!;
  };
}

/** Zipf-like weights: the first items are picked far more often than the last. */
function zipf<T>(items: T[]): (rng: Rng) => T {
  return weighted(items.map((item, i) => [item, 1 / (i + 1)] as [T, number]));
}

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const oneOf = <T>(rng: Rng, items: T[]) => items[Math.floor(rng() * items.length)]!;

const pickHost = zipf([
  '127.0.0.1', '10.0.0.12', '192.168.1.20', '203.0.113.7', '198.51.100.23', '2001:db8::1',
  '10.0.0.45', '203.0.113.54', '66.249.66.1', '198.51.100.140', '192.168.1.33', '::1',
  '172.16.4.9', '203.0.113.201', '2001:db8:85a3::8a2e:370:7334', '10.0.3.17', '198.51.100.77',
  '192.0.2.15', '172.16.9.250', '2001:db8:1f70::999:de8:7648:6e8', '203.0.113.99', '10.1.2.3',
]);
const pickUser = weighted<string>([['-', 85], ['james', 4], ['jill', 3], ['frank', 2], ['mary', 2], ['alice', 2], ['bob', 1], ['admin', 1]]);
const pickMethod = weighted<string>([['GET', 80], ['POST', 10], ['HEAD', 4], ['PUT', 4], ['DELETE', 2]]);
const pickProto = weighted<string>([['HTTP/1.1', 75], ['HTTP/1.0', 15], ['HTTP/2.0', 10]]);
const pickStatus = weighted<number>([
  [200, 76], [304, 6], [404, 6], [302, 3], [301, 2], [204, 1], [401, 2], [403, 1],
  [400, 1], [500, 1], [502, 0.5], [503, 0.5],
]);

const WORDS = ['apple', 'report', 'monitor', 'alpha', 'zeta', 'news', 'books', 'log'];
const SLUGS = ['home', 'about', 'pricing', 'contact', 'release-notes', 'team', 'faq'];

/** Sections by popularity, each making a target (path, maybe a query) inside it. */
const pickTarget = weighted<(rng: Rng) => string>([
  [(r) => oneOf(r, [
    () => '/api/users',
    () => `/api/users/${int(r, 1, 500)}`,
    () => `/api/users/${int(r, 1, 500)}?x=${int(r, 1, 9)}`,
    () => `/api/users/${int(r, 1, 500)}/orders`,
    () => `/api/orders/${int(r, 1000, 9999)}`,
    () => `/api/products?page=${int(r, 1, 20)}`,
    () => `/api/search?q=${oneOf(r, WORDS)}&limit=${oneOf(r, [10, 20, 50])}`,
    () => `/api/v2/items/${int(r, 1, 3000)}`,
  ])(), 34],
  [(r) => oneOf(r, [
    () => '/pages/create',
    () => `/pages/${oneOf(r, SLUGS)}`,
    () => `/pages/${oneOf(r, SLUGS)}/edit`,
    () => '/pages',
  ])(), 22],
  [(r) => oneOf(r, [
    () => '/report',
    () => `/report/daily?date=2018-05-${pad(int(r, 1, 28))}`,
    () => `/report/${int(r, 2016, 2026)}/${pad(int(r, 1, 12))}`,
  ])(), 14],
  [(r) => oneOf(r, ['/static/css/site.css', '/static/js/app.js', '/static/js/vendor.js', '/static/img/logo.png', '/static/fonts/inter.woff2']), 10],
  [() => '/', 7],
  [(r) => `/images/${int(r, 1, 400)}.jpg`, 4],
  [(r) => oneOf(r, ['/login', '/login?next=%2Fadmin', '/logout']), 3],
  [(r) => `/blog/${int(r, 2019, 2026)}/${oneOf(r, SLUGS)}`, 2],
  [(r) => oneOf(r, ['/admin', '/admin/users', '/admin/settings']), 1.5],
  [(r) => `/docs/${oneOf(r, ['install', 'config', 'api'])}`, 1],
  [(r) => `/search?q=${oneOf(r, WORDS)}`, 1],
  [() => '/favicon.ico', 0.5],
  [() => '/robots.txt', 0.3],
]);

const pickReferer = weighted<(rng: Rng) => string>([
  [() => '-', 40],
  [(r) => `https://www.example.com/${oneOf(r, ['', 'pages/home', 'report', 'api/docs'])}`, 35],
  [() => 'https://www.google.com/', 15],
  [(r) => `https://news.example.org/item?id=${int(r, 1, 99999)}`, 10],
]);
const pickAgent = weighted<string>([
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36', 35],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15', 18],
  ['Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0', 12],
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148', 12],
  ['curl/8.5.0', 8],
  ['python-requests/2.31.0', 6],
  ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 6],
  ['Go-http-client/1.1', 3],
]);

const isAsset = (target: string) =>
  target.startsWith('/static/') || target.startsWith('/images/') || target === '/favicon.ico' || target === '/robots.txt';

/** Response size: `-` for bodiless responses and now and then, otherwise a skewed byte count. */
function bytesFor(rng: Rng, method: string, status: number, target: string): string {
  if (method === 'HEAD' || status === 304 || status === 204 || rng() < 0.03) return '-';
  if (status >= 300) return String(int(rng, 150, 700));
  const big = isAsset(target) ? 9 : 0;
  return String(Math.floor(Math.exp(4 + rng() * (5 + big / 2)))); // ~55 B .. ~8 kB (static: ~500 kB)
}

let stampSecond = NaN;
let stampOffset = NaN;
let stamp = '';

/** One access-log line (with trailing newline) stamped with `epochSecond`. */
export function makeLine(rng: Rng, epochSecond: number, opts: LineOptions): string {
  if (epochSecond !== stampSecond || opts.offsetMinutes !== stampOffset) {
    stamp = formatTimestamp(epochSecond, opts.offsetMinutes);
    stampSecond = epochSecond;
    stampOffset = opts.offsetMinutes;
  }
  const host = pickHost(rng);
  const user = pickUser(rng);
  const target = pickTarget(rng)(rng);
  const method = isAsset(target) ? (rng() < 0.97 ? 'GET' : 'HEAD') : pickMethod(rng);
  const created = (method === 'POST' && rng() < 0.4) || (method === 'DELETE' && rng() < 0.5);
  const status = created ? (method === 'POST' ? 201 : 204) : pickStatus(rng);
  const bytes = bytesFor(rng, method, status, target);
  const line = `${host} - ${user} [${stamp}] "${method} ${target} ${pickProto(rng)}" ${status} ${bytes}`;
  if (opts.format !== 'combined') return `${line}\n`;
  return `${line} "${pickReferer(rng)(rng)}" "${pickAgent(rng)}"\n`;
}

// ---------------------------------------------------------------------------------------------
// Writers

const CHUNK_CHARS = 1 << 20;

/** Where a writer stands, for a progress line. */
export interface GenerateProgress {
  /** The second of the profile being written (from 1), and how many it has. */
  second: number;
  seconds: number;
  /** Lines written so far. */
  lines: number;
  /** The phase being written (from 1), how many there are, and its rate. */
  phase: number;
  phases: number;
  rate: number;
}

/** Follows the phase of the profile's second `k` (from 0), the seconds being visited in order. */
function phaseCursor(profile: Phase[]) {
  let phase = 0;
  let end = profile[0]?.seconds ?? 0;
  return (k: number) => {
    while (k >= end && phase < profile.length - 1) end += profile[++phase]!.seconds;
    return phase;
  };
}

/**
 * The whole profile as text chunks of about 1 MB, second by second from `startSecond`, each
 * second getting exactly its scheduled number of lines. Same seed and arguments: same text.
 */
export function* backfillChunks(
  profile: Phase[],
  startSecond: number,
  seed: number,
  opts: LineOptions,
  onProgress?: (p: GenerateProgress) => void,
): Generator<string> {
  const rng = mulberry32(seed);
  const seconds = profileSeconds(profile);
  const phaseOf = phaseCursor(profile);
  let second = startSecond;
  let chunk = '';
  let lines = 0;
  for (const n of secondCounts(profile)) {
    for (let i = 0; i < n; i++) {
      chunk += makeLine(rng, second, opts);
      lines++;
      if (chunk.length >= CHUNK_CHARS) {
        const phase = phaseOf(second - startSecond);
        onProgress?.({ second: second - startSecond + 1, seconds, lines, phase: phase + 1, phases: profile.length, rate: profile[phase]!.rate });
        yield chunk;
        chunk = '';
      }
    }
    second++;
  }
  if (chunk) yield chunk;
}

/** `generate: 37/390 s · 812 lines · 25 lines/s · phase 2 of 3` (a backfill's seconds are the log's, not the clock's). */
export function progressText(p: GenerateProgress, backfill: boolean): string {
  const phase = p.phases > 1 ? ` · phase ${p.phase} of ${p.phases}` : '';
  return `generate: ${p.second}/${p.seconds} s${backfill ? ' of log' : ''} · ${p.lines} lines · ${p.rate} lines/s${phase}`;
}

export interface ProgressLineOptions {
  /** Raw writes to the terminal (stderr), and its width. */
  write: (text: string) => void;
  columns: () => number;
  now: () => number;
  backfill: boolean;
  /** Nothing is drawn before this many ms (a quick backfill shows no line at all). */
  after?: number;
  /** At most one redraw every this many ms. */
  every?: number;
}

/** A progress line redrawn in place (`\r`, erase to the end), at most every `every` ms, cut to the width so it never wraps. */
export function progressLine(o: ProgressLineOptions) {
  const started = o.now();
  const every = o.every ?? 250;
  let shown = -Infinity;
  let visible = false;
  return {
    update(p: GenerateProgress) {
      const now = o.now();
      if (now - started < (o.after ?? 0) || now - shown < every) return;
      shown = now;
      const text = progressText(p, o.backfill);
      o.write(`\r${text.slice(0, Math.max(1, o.columns() - 1))}\x1b[K`);
      visible = true;
    },
    clear() {
      if (visible) o.write('\r\x1b[K');
      visible = false;
    },
  };
}

/** Wall-clock access for the live writer; tests pass a fake one. */
export interface Clock {
  now(): number;
  /** Resolves at (or soon after) `ms` since the epoch, or early when `signal` aborts. */
  sleepUntil(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  async sleepUntil(ms, signal) {
    while (!signal?.aborted && Date.now() < ms) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, ms - Date.now()));
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  },
};

/** Groups a second's lines are split into, written at even intervals through the second. */
const GROUPS_PER_SECOND = 10;

/**
 * Writes the profile in real time: second k of the profile is the wall-clock second `t0 + k`
 * (t0 = the second it starts in), its lines stamped with that second and written in small groups
 * spread over it. Returns the number of lines written; stops early when `signal` aborts.
 */
export async function live(
  profile: Phase[],
  seed: number,
  opts: LineOptions,
  write: (text: string) => unknown,
  clock: Clock = realClock,
  signal?: AbortSignal,
  onProgress?: (p: GenerateProgress) => void,
): Promise<number> {
  const rng = mulberry32(seed);
  const t0 = Math.floor(clock.now() / 1000);
  const seconds = profileSeconds(profile);
  const phaseOf = phaseCursor(profile);
  let second = t0;
  let total = 0;
  const progress = (lines: number) => {
    const phase = phaseOf(second - t0);
    onProgress?.({ second: second - t0 + 1, seconds, lines, phase: phase + 1, phases: profile.length, rate: profile[phase]!.rate });
  };
  for (const n of secondCounts(profile)) {
    const from = second * 1000;
    await clock.sleepUntil(from, signal);
    if (signal?.aborted) break;
    const begin = Math.max(from, clock.now());
    const groups = Math.min(n, GROUPS_PER_SECOND);
    let done = 0;
    for (let g = 0; g < groups && !signal?.aborted; g++) {
      if (g > 0) await clock.sleepUntil(begin + ((from + 1000 - begin) * g) / groups, signal);
      const upto = Math.round((n * (g + 1)) / groups);
      let text = '';
      for (; done < upto; done++) text += makeLine(rng, second, opts);
      await write(text);
      progress(total + done);
    }
    if (groups === 0) progress(total); // a second without lines still moves the line on
    total += done;
    second++;
  }
  await clock.sleepUntil(second * 1000, signal);
  return total;
}
