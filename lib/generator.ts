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

/**
 * What the lines look like: Common Log Format, combined (referer and user agent), `nginx-timed`
 * (combined and `$request_time $upstream_response_time $host`: NGINX_TIMED_FORMAT), and Caddy's
 * and Traefik's JSON access logs.
 */
export type TrafficFormat = 'clf' | 'combined' | 'nginx-timed' | 'caddy' | 'traefik';
export const TRAFFIC_FORMATS: readonly TrafficFormat[] = ['clf', 'combined', 'nginx-timed', 'caddy', 'traefik'];

export interface LineOptions {
  format: TrafficFormat;
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

/** What every format says of a request, drawn in the order `clf` and `combined` always drew it. */
interface Request {
  host: string;
  user: string;
  method: string;
  target: string;
  proto: string;
  status: number;
  /** `-` for a response without a body. */
  bytes: string;
  /** Drawn only for the formats that write them (`clf` draws neither): `-` otherwise. */
  referer: string;
  agent: string;
}

function drawRequest(rng: Rng, browser: boolean): Request {
  const host = pickHost(rng);
  const user = pickUser(rng);
  const target = pickTarget(rng)(rng);
  const method = isAsset(target) ? (rng() < 0.97 ? 'GET' : 'HEAD') : pickMethod(rng);
  const created = (method === 'POST' && rng() < 0.4) || (method === 'DELETE' && rng() < 0.5);
  const status = created ? (method === 'POST' ? 201 : 204) : pickStatus(rng);
  const bytes = bytesFor(rng, method, status, target);
  const proto = pickProto(rng);
  if (!browser) return { host, user, method, target, proto, status, bytes, referer: '-', agent: '-' };
  const referer = pickReferer(rng)(rng);
  return { host, user, method, target, proto, status, bytes, referer, agent: pickAgent(rng) };
}

let stampSecond = NaN;
let stampOffset = NaN;
let stamp = '';

/** `09/May/2018:16:00:39 +0000`, made once a second: most lines share their second with the last. */
function clfStamp(epochSecond: number, offsetMinutes: number): string {
  if (epochSecond !== stampSecond || offsetMinutes !== stampOffset) {
    stamp = formatTimestamp(epochSecond, offsetMinutes);
    stampSecond = epochSecond;
    stampOffset = offsetMinutes;
  }
  return stamp;
}

/**
 * Where a line of a timed format falls: its place among its second's lines (for the sub-second
 * times of the JSON formats, increasing through the second), the run's line count (Traefik's
 * `RequestCount`) and the generator of what the timed formats add.
 */
export interface LinePlace {
  timing: Rng;
  index: number;
  count: number;
  sequence: number;
}

/**
 * One access-log line (with trailing newline) stamped with `epochSecond`. The request comes from
 * `rng`; a timed format's durations, upstream times, virtual host and ports from `place.timing`
 * (without `place`, from `rng` as well: a valid line, but not the requests `combined` would
 * write with that generator).
 */
export function makeLine(rng: Rng, epochSecond: number, opts: LineOptions, place?: LinePlace): string {
  const format = opts.format;
  const request = drawRequest(rng, format !== 'clf');
  if (format === 'clf' || format === 'combined') {
    const { host, user, method, target, proto, status, bytes } = request;
    const line = `${host} - ${user} [${clfStamp(epochSecond, opts.offsetMinutes)}] "${method} ${target} ${proto}" ${status} ${bytes}`;
    return format === 'clf' ? `${line}\n` : `${line} "${request.referer}" "${request.agent}"\n`;
  }
  const timing = drawTiming(request, place ?? { timing: rng, index: 0, count: 1, sequence: 1 });
  if (format === 'nginx-timed') return nginxTimedLine(request, timing, clfStamp(epochSecond, opts.offsetMinutes));
  if (format === 'caddy') return caddyLine(request, timing, epochSecond);
  return traefikLine(request, timing, epochSecond, opts.offsetMinutes, place?.sequence ?? 1);
}

/**
 * The line maker of a run: requests from `mulberry32(seed)`, the stream `clf` and `combined` have
 * always used; what the timed formats add from a second stream of the same seed. So `combined`,
 * `nginx-timed`, `caddy` and `traefik` written with one seed and profile are the same requests
 * (hosts, users, targets, statuses, sizes, referers, agents, in the same seconds), and the timed
 * three the same durations and virtual hosts: a benchmark compares formats on the same traffic.
 * Lines are asked for in order: `index` of `count` lines in `epochSecond`.
 */
export function lineMaker(seed: number, opts: LineOptions): (epochSecond: number, index: number, count: number) => string {
  const rng = mulberry32(seed);
  if (opts.format === 'clf' || opts.format === 'combined') return (second) => makeLine(rng, second, opts);
  const place: LinePlace = { timing: mulberry32(seed ^ TIMING_STREAM), index: 0, count: 1, sequence: 0 };
  return (second, index, count) => {
    place.index = index;
    place.count = count;
    place.sequence++;
    return makeLine(rng, second, opts, place);
  };
}

// ---------------------------------------------------------------------------------------------
// Timed formats: nginx with $request_time, Caddy's and Traefik's JSON access logs

/** What the timed formats add to a request. */
interface Timing {
  /** Seconds from the request's first byte to its log line, whole nanoseconds. */
  duration: number;
  /** The part of `duration` that was the server's own (reading the request, sending the answer), s. */
  overhead: number;
  /** Each upstream attempt's time (s), adding up to duration − overhead; null: the server sent a file itself. */
  upstream: number[] | null;
  /** nginx writes `, ` between the attempts of a retry, ` : ` between the groups of an internal redirect. */
  separator: string;
  retries: number;
  vhost: string;
  port: number;
  https: boolean;
  /** Bytes of the request's body. */
  bodyIn: number;
  /** When the line is written: nanoseconds into its second. */
  nanos: number;
  /** A rotation of Caddy's request headers (Go writes a map in no fixed order). */
  headerTurn: number;
}

/** Seeds the timing stream apart from the requests' (any constant that is not 0 will do). */
const TIMING_STREAM = 0x5bd1e995;

/** The usual duration of a request, s: static files from the page cache, APIs, reports that compute. */
function typicalSeconds({ target, method, status }: Request): number {
  if (status === 503) return 0.001; // shed at once
  if (status === 502) return 0.004; // the upstream refused the connection
  if (isAsset(target)) return 0.0006;
  const section = /^\/([^/?]*)/.exec(target)?.[1] ?? '';
  let s = SECTION_SECONDS[section] ?? 0.015;
  if (status === 304 || status === 401 || status === 403) s *= 0.4;
  else if (status === 404 || (status >= 300 && status < 400)) s *= 0.5;
  else if (status === 500) s *= 2;
  if (method === 'HEAD') s *= 0.6;
  else if (method === 'POST' || method === 'PUT') s *= 1.5;
  return s;
}

const SECTION_SECONDS: Record<string, number> = {
  '': 0.012, api: 0.035, pages: 0.045, report: 0.18, login: 0.09, logout: 0.02, blog: 0.025,
  admin: 0.06, docs: 0.02, search: 0.12,
};

/**
 * Thirteen draws a line whatever the request, so every timed format reads the stream alike.
 * Durations are log-normal around the section's usual time (σ 0.8: p99 about 6× the median), one
 * line in a hundred slow (3 to 55 times), one in a thousand stuck (5 to 30 s), at most 60 s (a
 * proxy's timeout).
 */
function drawTiming(request: Request, place: LinePlace): Timing {
  const t = place.timing;
  const at = (place.index + t()) / place.count;
  const z = Math.sqrt(-2 * Math.log(1 - t())) * Math.cos(2 * Math.PI * t());
  let duration = typicalSeconds(request) * Math.exp(0.8 * z);
  const tail = t();
  const size = t();
  if (tail < 0.001) duration = 5 + 25 * size;
  else if (tail < 0.011) duration *= Math.exp(1 + 3 * size);
  duration = Math.max(1e-6, Math.round(Math.min(60, duration) * 1e9) / 1e9);
  const overhead = Math.round(Math.min(duration, 0.00005 + duration * 0.05 * t()) * 1e9) / 1e9;
  const shape = t();
  const split = t();
  const upstreamTotal = duration - overhead;
  let upstream: number[] | null = [upstreamTotal];
  let separator = ', ';
  let retries = 0;
  if (isAsset(request.target)) upstream = null;
  else if (shape < 0.01) {
    // A retry: the first upstream refused (fast) or timed out (slow), the next one answered.
    const first = upstreamTotal * (0.02 + 0.5 * split);
    upstream = [first, upstreamTotal - first];
    retries = 1;
  } else if (shape < 0.012) {
    upstream = [upstreamTotal * split, upstreamTotal * (1 - split)];
    separator = ' : ';
  }
  const vhost = vhostFor(request.target, t());
  const port = 1024 + Math.floor(t() * 64_512);
  const https = t() < 0.8 || request.proto === 'HTTP/2.0';
  const body = t();
  const bodyIn = request.method === 'POST' || request.method === 'PUT' ? 40 + Math.floor(body * 2000) : 0;
  const headerTurn = Math.floor(t() * 4);
  const nanos = Math.min(999_999_000, Math.floor(at * 1e9));
  return { duration, overhead, upstream, separator, retries, vhost, port, https, bodyIn, nanos, headerTurn };
}

/** A few virtual hosts, by what is asked: the API, a CDN name for assets, the blog, the site (and its IP). */
function vhostFor(target: string, u: number): string {
  if (target.startsWith('/api/')) return u < 0.95 ? 'api.example.com' : 'www.example.com';
  if (target.startsWith('/static/') || target.startsWith('/images/')) return u < 0.7 ? 'cdn.example.com' : 'www.example.com';
  if (target.startsWith('/blog/')) return 'blog.example.com';
  return u < 0.8 ? 'www.example.com' : u < 0.96 ? 'example.com' : '203.0.113.10';
}

/**
 * The nginx `log_format` of `nginx-timed`: combined, then the request's time, the upstream's and
 * the virtual host. `$body_bytes_sent` is `0` for an empty body (combined's `-` is Apache's).
 */
export const NGINX_TIMED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" ' +
  '"$http_user_agent" $request_time $upstream_response_time $host';

function nginxTimedLine(r: Request, t: Timing, stamp: string): string {
  const upstream = t.upstream ? t.upstream.map((s) => s.toFixed(3)).join(t.separator) : '-';
  const bytes = r.bytes === '-' ? '0' : r.bytes;
  return (
    `${r.host} - ${r.user} [${stamp}] "${r.method} ${r.target} ${r.proto}" ${r.status} ${bytes} ` +
    `"${r.referer}" "${r.agent}" ${t.duration.toFixed(3)} ${upstream} ${t.vhost}\n`
  );
}

const json = (s: string) => JSON.stringify(s);
const size = (bytes: string) => (bytes === '-' ? 0 : Number(bytes));

/** What a browser, an app or a crawler accepts for this target. */
function acceptFor(target: string, agent: string): string {
  if (!agent.startsWith('Mozilla/')) return '*/*';
  if (target.startsWith('/api/')) return 'application/json';
  if (target.endsWith('.css')) return 'text/css,*/*;q=0.1';
  if (/\.(png|jpg|ico)$/.test(target)) return 'image/avif,image/webp,image/apng,*/*;q=0.8';
  if (isAsset(target)) return '*/*';
  return 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
}

function contentTypeFor(target: string): string {
  if (target.startsWith('/api/')) return 'application/json';
  const ext = /\.(\w+)$/.exec(target.split('?')[0]!)?.[1];
  return CONTENT_TYPES[ext ?? ''] ?? 'text/html; charset=utf-8';
}

const CONTENT_TYPES: Record<string, string> = {
  css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', png: 'image/png', jpg: 'image/jpeg',
  woff2: 'font/woff2', ico: 'image/vnd.microsoft.icon', txt: 'text/plain; charset=utf-8',
};

/**
 * Caddy 2.6's access log (`log` in a site block, JSON encoder): `ts` is when the line was written
 * (float seconds), `duration` float seconds, the level `error` from status 400 on, the request's
 * headers in no fixed order, `tls` on HTTPS.
 */
function caddyLine(r: Request, t: Timing, second: number): string {
  const headers: string[] = [`"User-Agent":[${json(r.agent)}]`, `"Accept":[${json(acceptFor(r.target, r.agent))}]`];
  if (r.agent.startsWith('Mozilla/')) headers.push('"Accept-Encoding":["gzip, deflate, br"]');
  if (r.referer !== '-') headers.push(`"Referer":[${json(r.referer)}]`);
  const turned = [...headers.slice(t.headerTurn % headers.length), ...headers.slice(0, t.headerTurn % headers.length)];
  const tls = t.https
    ? `,"tls":{"resumed":${t.port % 5 === 0},"version":772,"cipher_suite":4865,"proto":"${r.proto === 'HTTP/2.0' ? 'h2' : r.proto === 'HTTP/1.1' ? 'http/1.1' : ''}","server_name":"${t.vhost}"}`
    : '';
  const resp = ['"Server":["Caddy"]'];
  if (r.bytes !== '-') resp.push(`"Content-Type":[${json(contentTypeFor(r.target))}]`);
  if (r.status === 301 || r.status === 302) resp.push(`"Location":[${json(`https://${t.vhost}${r.target}`)}]`);
  return (
    `{"level":"${r.status >= 400 ? 'error' : 'info'}","ts":${second + t.nanos / 1e9},"logger":"http.log.access.log0",` +
    `"msg":"handled request","request":{"remote_ip":${json(r.host)},"remote_port":"${t.port}","proto":"${r.proto}",` +
    `"method":"${r.method}","host":"${t.vhost}","uri":${json(r.target)},"headers":{${turned.join(',')}}${tls}},` +
    `"bytes_read":${t.bodyIn},"user_id":${json(r.user === '-' ? '' : r.user)},"duration":${t.duration},` +
    `"size":${size(r.bytes)},"status":${r.status},"resp_headers":{${resp.join(',')}}}\n`
  );
}

/** A string as Go's encoding/json writes it: `<`, `>` and `&` escaped too. */
const goJson = (s: string) => JSON.stringify(s).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);

/** `2026-01-01T00:00:00.5Z`, or at an offset `2026-01-01T05:30:00.5+05:30` (Go's RFC 3339, nanoseconds without trailing zeros). */
function rfc3339(second: number, nanos: number, offsetMinutes: number): string {
  const local = new Date((second + offsetMinutes * 60) * 1000).toISOString().slice(0, 19);
  const fraction = nanos ? `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}` : '';
  if (!offsetMinutes) return `${local}${fraction}Z`;
  const abs = Math.abs(offsetMinutes);
  return `${local}${fraction}${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const SERVICES: Record<string, [name: string, addr: string]> = {
  'api.example.com': ['api', '10.0.1.11:8080'],
  'cdn.example.com': ['assets', '10.0.1.21:80'],
  'blog.example.com': ['blog', '10.0.1.31:2368'],
};

/**
 * Traefik's JSON access log (`accessLog.format: json`, logrus): keys in Go's sorted order,
 * `Duration` and `OriginDuration` in nanoseconds, `StartUTC` when the request began (its line is
 * written when it ends, so a slow request's start is seconds before the lines around it), `time`
 * when the line was written, at the log's offset.
 */
function traefikLine(r: Request, t: Timing, second: number, offsetMinutes: number, sequence: number): string {
  const durationNs = Math.round(t.duration * 1e9);
  const overheadNs = Math.round(t.overhead * 1e9);
  const fromEnd = t.nanos - durationNs;
  const startSecond = second + Math.floor(fromEnd / 1e9);
  const startNanos = fromEnd - Math.floor(fromEnd / 1e9) * 1e9;
  const [service, addr] = SERVICES[t.vhost] ?? ['web', '10.0.1.41:3000'];
  const client = r.host.includes(':') ? `[${r.host}]:${t.port}` : `${r.host}:${t.port}`;
  const bytes = size(r.bytes);
  const tls = t.https ? '"TLSCipher":"TLS_AES_128_GCM_SHA256","TLSVersion":"1.3",' : '';
  return (
    `{"ClientAddr":${json(client)},"ClientHost":${json(r.host)},"ClientPort":"${t.port}","ClientUsername":${json(r.user)},` +
    `"DownstreamContentSize":${bytes},"DownstreamStatus":${r.status},"Duration":${durationNs},` +
    `"OriginContentSize":${bytes},"OriginDuration":${durationNs - overheadNs},"OriginStatus":${r.status},"Overhead":${overheadNs},` +
    `"RequestAddr":"${t.vhost}","RequestContentSize":${t.bodyIn},"RequestCount":${sequence},"RequestHost":"${t.vhost}",` +
    `"RequestMethod":"${r.method}","RequestPath":${goJson(r.target)},"RequestPort":"-","RequestProtocol":"${r.proto}",` +
    `"RequestScheme":"${t.https ? 'https' : 'http'}","RetryAttempts":${t.retries},"RouterName":"${service}@docker",` +
    `"ServiceAddr":"${addr}","ServiceName":"${service}@docker","ServiceURL":{"Scheme":"http","Opaque":"","User":null,` +
    `"Host":"${addr}","Path":"","RawPath":"","OmitHost":false,"ForceQuery":false,"RawQuery":"","Fragment":"","RawFragment":""},` +
    `"StartLocal":"${rfc3339(startSecond, startNanos, offsetMinutes)}","StartUTC":"${rfc3339(startSecond, startNanos, 0)}",${tls}` +
    `"entryPointName":"${t.https ? 'websecure' : 'web'}","level":"info","msg":"","time":"${rfc3339(second, 0, offsetMinutes)}"}\n`
  );
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
  const line = lineMaker(seed, opts);
  const seconds = profileSeconds(profile);
  const phaseOf = phaseCursor(profile);
  let second = startSecond;
  let chunk = '';
  let lines = 0;
  for (const n of secondCounts(profile)) {
    for (let i = 0; i < n; i++) {
      chunk += line(second, i, n);
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
  const line = lineMaker(seed, opts);
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
      for (; done < upto; done++) text += line(second, done, n);
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
