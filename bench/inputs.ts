/**
 * The benchmark's input files, made once in `$BENCH_DIR` (default /tmp/hlm-bench) and reused:
 * each is written under a temporary name and renamed when complete, so one that exists is whole.
 *
 * `1M` and `10M` come from the product's own generator, a profile kind to the scanner: a few
 * hundred hosts, a dozen sections. `combined 10M` is the same profile with the combined format's
 * referer and user agent. `high-card` brings a new section, user and host on every line. `realistic`
 * (issue 13) is traffic with many clients: a host drawn from a /8 on every line, deeper paths and
 * query strings with slashes, a fifth of the lines combined, some with escaped quotes. `sparse`
 * is a quiet site: one line a second, so a replay steps the statecharts through 100,000 seconds
 * of log for few lines (a chunk holds thousands of seconds).
 *
 * Issue 19's formats, from the generator with the seed and profile of `combined 10M`, so the same
 * requests: `nginx-timed 10M` (combined and `$request_time $upstream_response_time $host`, read
 * with that nginx `log_format` string), the same file read with a string whose two durations are
 * skipped variables (`durations skipped`: what the latency sketches cost is the difference),
 * `caddy 2M` (Caddy's JSON, its first 2 M requests) and, asked for by name only, `traefik 1M`.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { NGINX_TIMED_FORMAT, type TrafficFormat } from '../lib/generator';
import { fail, run } from './measure';

export interface Input {
  name: string;
  path: string;
  lines: number;
  /** The monitor's arguments for this input's format (`--log-format …`); none: CLF/combined, the default. */
  args?: string[];
  /** Whether every line has a duration the monitor reads (its stats' `latency` counts every line), or none does. */
  timed?: boolean;
}

/**
 * The nginx-timed lines read with their two durations skipped: nginx variables the monitor does not
 * read, the second one a list in nginx as the upstream time is (`0.003, 0.060` on a retry). A
 * skipped field that the scanner does not read as a list ends at its first space, so on the 1 % of
 * lines with a list the rest of it goes to the vhost (`0.060 api.example.com`): the same lines,
 * hits and bytes, a few more vhost keys.
 */
export const NGINX_UNTIMED_FORMAT = NGINX_TIMED_FORMAT.replace('$request_time $upstream_response_time', '$request_length $upstream_connect_time');

const START = '2026-01-01T00:00:00Z';
const SEED = '42';

interface Context {
  dir: string;
  bun: string;
  root: string;
}

const elapsed = (began: number) => ((performance.now() - began) / 1000).toFixed(1);

/** Made by the product's generator (`entry.ts generate`, a profile of rate × seconds), read with `read`. */
const generated = (rate: number, seconds: number, format: TrafficFormat, read: Pick<Input, 'args' | 'timed'> = {}) => async (name: string, { dir, bun, root }: Context): Promise<Input> => {
  const path = join(dir, `${format}-${rate}x${seconds}-seed${SEED}.log`);
  if (!existsSync(path)) {
    const tmp = `${path}.partial`;
    rmSync(tmp, { force: true }); // generate appends
    const profile = `${rate}x${seconds}`;
    console.error(`bench: generating ${path} (${profile}, ${format})`);
    const began = performance.now();
    await run([bun, 'entry.ts', 'generate', '-f', tmp, '--profile', profile, '--backfill', '--start', START, '--seed', SEED, '--format', format], { cwd: root });
    renameSync(tmp, path);
    console.error(`bench: generated ${path} in ${elapsed(began)} s`);
  }
  return { name, path, lines: rate * seconds, ...read };
};

/** Written here, by `write`. */
const written = (file: string, lines: number, write: (path: string, lines: number) => void) => (name: string, { dir }: Context): Input => {
  const path = join(dir, file);
  if (!existsSync(path)) {
    console.error(`bench: writing ${path}`);
    const began = performance.now();
    try {
      write(`${path}.partial`, lines);
    } catch (error) {
      fail(`cannot write ${path}: ${(error as Error).message}`);
    }
    renameSync(`${path}.partial`, path);
    console.error(`bench: wrote ${path} in ${elapsed(began)} s`);
  }
  return { name, path, lines };
};

/** Every input, in the order of the table; `optIn` ones run only when BENCH_INPUTS names them. */
const CATALOGUE: { name: string; make: (name: string, context: Context) => Promise<Input> | Input; optIn?: boolean }[] = [
  { name: '1M', make: generated(2000, 500, 'clf') },
  { name: '10M', make: generated(2000, 5000, 'clf') },
  { name: 'combined 10M', make: generated(2000, 5000, 'combined') },
  { name: 'nginx-timed 10M', make: generated(2000, 5000, 'nginx-timed', { args: ['--log-format', NGINX_TIMED_FORMAT], timed: true }) },
  { name: 'nginx-timed 10M (durations skipped)', make: generated(2000, 5000, 'nginx-timed', { args: ['--log-format', NGINX_UNTIMED_FORMAT], timed: false }) },
  { name: 'caddy 2M', make: generated(2000, 1000, 'caddy', { args: ['--log-format', 'caddy'], timed: true }) },
  { name: 'traefik 1M', make: generated(2000, 500, 'traefik', { args: ['--log-format', 'traefik'], timed: true }), optIn: true },
  { name: 'high-card 1M', make: written('high-cardinality-1M.log', 1_000_000, writeHighCardinality) },
  { name: 'high-card 5M', make: written('high-cardinality-5M.log', 5_000_000, writeHighCardinality) },
  { name: 'realistic 1M', make: written(`realistic-seed${SEED}-1M.log`, 1_000_000, writeRealistic) },
  { name: 'realistic 10M', make: written(`realistic-seed${SEED}-10M.log`, 10_000_000, writeRealistic) },
  { name: 'sparse 100k', make: written('sparse-100k.log', 100_000, writeSparse) },
];

export const INPUT_NAMES = CATALOGUE.map(({ name }) => name);

/**
 * The inputs whose names `wanted` accepts, in the order of the table; without `wanted`, all but
 * the opt-in ones.
 */
export async function prepareInputs(dir: string, bun: string, root: string, wanted?: (name: string) => boolean): Promise<Input[]> {
  mkdirSync(dir, { recursive: true });
  const inputs: Input[] = [];
  for (const { name, make, optIn } of CATALOGUE) {
    if (wanted ? wanted(name) : !optIn) inputs.push(await make(name, { dir, bun, root }));
  }
  return inputs;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** `01/Jan/2026:00:00:00 +0000` for Unix seconds, UTC. */
export function clfTime(second: number): string {
  const d = new Date(second * 1000);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Writes `lines` lines, `CHUNK` at a time, each made by `line(i)` (with its newline). */
function writeLines(path: string, lines: number, line: (i: number) => string) {
  const fd = openSync(path, 'w');
  try {
    const CHUNK = 20_000;
    for (let from = 0; from < lines; from += CHUNK) {
      let text = '';
      for (let i = from; i < Math.min(lines, from + CHUNK); i++) text += line(i);
      writeSync(fd, text);
    }
  } finally {
    closeSync(fd);
  }
}

/** `lines` CLF lines, `perSecond` to a second, each with a section, user and host never seen before. */
function writeHighCardinality(path: string, lines: number, perSecond = 2000) {
  const start = Date.parse(START) / 1000;
  let time = clfTime(start);
  writeLines(path, lines, (i) => {
    if (i % perSecond === 0) time = clfTime(start + i / perSecond);
    const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    return `${host} - user${i} [${time}] "GET /sec${i}/x HTTP/1.1" 200 42\n`;
  });
}

/** `lines` CLF lines, one a second from START, from a dozen hosts and sections. */
function writeSparse(path: string, lines: number) {
  const start = Date.parse(START) / 1000;
  writeLines(path, lines, (i) => `10.0.0.${i % 12} - - [${clfTime(start + i)}] "GET /${SECTIONS[i % 12]}/page HTTP/1.1" 200 ${NUMBERS[i % 1000]}\n`);
}

/** mulberry32: a tiny seeded PRNG, so that the file is the same everywhere (no Math.random). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A picker over `[value, weight]` pairs, for a number in [0, 1). */
function weighted<T>(pairs: [T, number][]): (u: number) => T {
  const total = pairs.reduce((sum, [, w]) => sum + w, 0);
  let acc = 0;
  const bounds = pairs.map(([, w]) => (acc += w / total));
  return (u) => {
    for (let i = 0; i < bounds.length - 1; i++) if (u < bounds[i]!) return pairs[i]![0];
    return pairs[pairs.length - 1]![0];
  };
}

const SECTIONS = [
  'docs', 'api', 'blog', 'shop', 'cart', 'account', 'search', 'static', 'img', 'media', 'news', 'forum',
  'wiki', 'help', 'support', 'login', 'admin', 'reports', 'users', 'orders', 'products', 'cdn', 'assets',
  'feeds', 'jobs', 'events', 'partners', 'legal', 'about', 'status', 'download', 'video', 'maps', 'mail',
  'calendar', 'photos',
];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const pickMethod = weighted<string>([['GET', 82], ['POST', 9], ['HEAD', 4], ['PUT', 3], ['DELETE', 2]]);
const pickStatus = weighted<number>([
  [200, 78], [201, 2], [204, 1], [301, 3], [302, 3], [304, 4], [400, 1], [401, 1], [403, 1], [404, 4], [500, 1], [502, 0.5], [503, 0.5],
]);
const pickProtocol = weighted<string>([['HTTP/1.1', 85], ['HTTP/2.0', 10], ['HTTP/1.0', 5]]);
/** As they appear between the quotes of a combined line: a quote inside is escaped, `\"`. */
const REFERERS = [
  '-',
  '-',
  'https://www.google.com/',
  'https://www.google.com/search?q=http+log+monitor+2026',
  'https://example.com/docs/p12/p7?ref=home',
  'https://news.example.org/item?id=40213377',
  'https://example.com/search?q=\\"quoted phrase\\"&page=2',
  'android-app://com.example.reader/',
];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'curl/8.5.0',
  'python-requests/2.31.0',
  'Mozilla/5.0 (compatible; \\"SiteAuditBot\\" 3.2; +https://bot.example.net/about)',
  'Go-http-client/1.1',
];
/** 0..999 as strings, made once: the octets, segments and numbers of a line come from these. */
const NUMBERS = Array.from({ length: 1000 }, (_, i) => String(i));

/**
 * `lines` lines of traffic with many clients, 1,000 to a second from START, the same for the same
 * seed (and a shorter file is the start of a longer one): e.g.
 *   10.187.3.54 - - [01/Jan/2026:00:00:00 +0000] "GET /docs/p41/p33?q=476&x=/a/b HTTP/1.1" 200 5120
 */
function writeRealistic(path: string, lines: number, perSecond = 1000) {
  const rand = mulberry32(Number(SEED));
  const int = (n: number) => Math.floor(rand() * n);
  const start = Date.parse(START) / 1000;
  let time = clfTime(start);
  writeLines(path, lines, (i) => {
    if (i % perSecond === 0) time = clfTime(start + i / perSecond);
    const host = `10.${NUMBERS[int(256)]}.${NUMBERS[int(256)]}.${NUMBERS[int(256)]}`;
    const user = rand() < 0.9 ? '-' : USERS[int(USERS.length)];
    const method = pickMethod(rand());
    let target = `/${SECTIONS[int(SECTIONS.length)]}`;
    for (let depth = int(4); depth > 0; depth--) target += `/p${NUMBERS[int(100)]}`;
    if (rand() < 0.5) target += `?q=${NUMBERS[int(1000)]}&x=/${NUMBERS[int(10)]}/${SECTIONS[int(SECTIONS.length)]}`;
    const status = pickStatus(rand());
    const size = method === 'HEAD' || status === 304 ? '-' : String(int(100_000));
    const line = `${host} - ${user} [${time}] "${method} ${target} ${pickProtocol(rand())}" ${status} ${size}`;
    return rand() < 0.2 ? `${line} "${REFERERS[int(REFERERS.length)]}" "${AGENTS[int(AGENTS.length)]}"\n` : `${line}\n`;
  });
}
