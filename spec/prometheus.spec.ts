/**
 * Prometheus scrapes the monitor: two monitors run as processes with `--metrics` on free ports,
 * following logs this spec writes (CLF, found by the monitor's detection, and an nginx format with
 * `$request_time`, given with --log-format), and Debian's real `prometheus` scrapes them every
 * second. What its HTTP query API answers is what the logs hold: the requests, by status class and
 * method, the invalid lines, the high-traffic alert and the window's average, and the p99 of the
 * durations within the bucket that holds the exact one. `promtool check metrics` passes on what
 * /metrics serves; any other path is 404.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mulberry32 as random } from '../lib/generator';
import { LineReader } from './support/line-reader';
import { type EntryProcess, entryProcesses, spawnEntry } from './support/monitor-process';
import { freePort } from './support/nats-server';
import { type Prometheus, promtoolCheckMetrics, startPrometheus, stopAllPrometheus } from './support/prometheus';

const NGINX_TIMED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
/** The nginx monitor's --metrics-buckets: the p99 of the durations below falls in (1, 2.5]. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const METHODS = ['GET', 'POST', 'HEAD', 'DELETE', 'PUT', 'PROPFIND'];
const STATUSES = [200, 201, 204, 301, 304, 404, 403, 500, 503];
const SECTIONS = ['/api', '/static', '/admin', '/img'];
/** The CLF monitor's -a and -t: the lines, written at once, are far more than -t × -a. */
const WINDOW = 10;
const THRESHOLD = 5;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Now, as a log's `[10/Oct/2000:13:55:36 +0000]`. */
function logTime(ms = Date.now()): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

interface ClfLog {
  text: string;
  valid: number;
  invalid: number;
  /** Valid lines stamped 5 minutes ago: older than the alert window when they come. */
  late: number;
  byClass: Record<string, number>;
  byMethod: Record<string, number>;
  bytes: number;
}

/** CLF lines stamped now, of every method and status class, with a few lines that are not CLF and a few from 5 minutes ago among them. */
function clfLog(n: number, seed: number): ClfLog {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  const log: ClfLog = { text: '', valid: 0, invalid: 0, late: 0, byClass: {}, byMethod: {}, bytes: 0 };
  const time = logTime();
  const old = logTime(Date.now() - 300_000);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 100 && i % 150 === 0) {
      lines.push(`this is not an access log line ${i}`);
      log.invalid++;
      continue;
    }
    const method = pick(METHODS);
    const status = pick(STATUSES);
    const size = Math.floor(next() * 5000);
    const late = i % 90 === 45;
    lines.push(`10.0.0.${i % 7} - - [${late ? old : time}] "${method} ${pick(SECTIONS)}/item/${i} HTTP/1.1" ${status} ${size}`);
    log.valid++;
    if (late) log.late++;
    log.bytes += size;
    const cls = `${String(status)[0]}xx`;
    log.byClass[cls] = (log.byClass[cls] ?? 0) + 1;
    const m = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'].includes(method) ? method : 'other';
    log.byMethod[m] = (log.byMethod[m] ?? 0) + 1;
  }
  log.text = `${lines.join('\n')}\n`;
  return log;
}

/**
 * nginx lines with `$request_time` (seconds, to the millisecond): 90 % under 0.1 s, 8 % between
 * 0.25 and 0.5 s, 2 % between 1.1 and 2.4 s, none within 1 % of a bucket's bound.
 */
function timedLines(n: number, seed: number): { text: string; seconds: number[] } {
  const next = random(seed);
  const time = logTime();
  const seconds: number[] = [];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = i % 50;
    const s = r < 45 ? 0.006 + next() * 0.04 : r < 49 ? 0.26 + next() * 0.23 : 1.1 + next() * 1.3;
    const rounded = Math.round(s * 1000) / 1000;
    seconds.push(rounded);
    lines.push(`10.1.0.${i % 5} - - [${time}] "GET /api/v${i % 3} HTTP/1.1" 200 ${100 + i} "-" "curl/8.0" ${rounded.toFixed(3)}`);
  }
  return { text: `${lines.join('\n')}\n`, seconds };
}

/** The nearest-rank quantile of the values. */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(q * sorted.length) - 1]!;
}

/** The histogram bucket (lower, upper] holding `value`. */
function bucketAround(value: number, bounds: readonly number[]): [number, number] {
  const i = bounds.findIndex((b) => value <= b);
  return i < 0 ? [bounds.at(-1)!, Infinity] : [i === 0 ? 0 : bounds[i - 1]!, bounds[i]!];
}

/** Every monitor started, killed in afterAll whatever happened. */
const started: EntryProcess[] = [];

interface Monitor {
  proc: EntryProcess;
  port: number;
  stderr: LineReader;
}

/** `entry.ts -f LOG --metrics 127.0.0.1:PORT ...` on a free port; resolves once it says where the metrics are. */
async function startMonitor(log: string, args: string[]): Promise<Monitor> {
  const port = await freePort();
  const proc = spawnEntry(['-f', log, '--metrics', `127.0.0.1:${port}`, '--json', ...args]);
  started.push(proc);
  const stderr = new LineReader(proc.stderr);
  void new Response(proc.stdout).text();
  await stderr.waitForLine('the metrics URL', 15_000, (l) => l === `metrics: http://127.0.0.1:${port}/metrics`);
  return { proc, port, stderr };
}

const CLF_LINES = 600;
const TIMED_LINES = 1000;
/** The first timed line: 20 s, past every bound (+Inf only), so that the histogram exists before the others come. */
const FIRST_TIMED = 20;

describe('Prometheus scrapes --metrics', () => {
  let dir: string;
  let clf: Monitor;
  let nginx: Monitor;
  let prometheus: Prometheus;
  let clfLines: ClfLog;
  let timed: { text: string; seconds: number[] };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-prometheus-spec-'));
    // The logs do not exist yet: a file that appears is read from its first line.
    const clfPath = path.join(dir, 'access.log');
    const nginxPath = path.join(dir, 'nginx.log');
    // A rule the log's 5xx lines (2 of 9 statuses) set off, and one nothing sets off.
    const rulesPath = path.join(dir, 'rules.yaml');
    fs.writeFileSync(
      rulesPath,
      'rules:\n  - { name: errors, ratio: 0.05, match: { status: 5xx }, window: 10s }\n  - { name: teapots, rate: 1, match: { status: "418" }, window: 10s }\n',
    );
    [clf, nginx] = await Promise.all([
      startMonitor(clfPath, ['-a', String(WINDOW), '-t', String(THRESHOLD), '--metrics-sections', '2', '--rules', rulesPath]),
      startMonitor(nginxPath, ['--log-format', NGINX_TIMED, '--metrics-buckets', BUCKETS.join(',')]),
    ]);
    prometheus = await startPrometheus({ clf: `127.0.0.1:${clf.port}`, nginx: `127.0.0.1:${nginx.port}` });
    // Scraped once with nothing counted, so that rates see the lines come.
    await prometheus.until('min(up)', (v) => v === 1);
    await prometheus.until('count(http_log_monitor_requests_total)', (v) => v === 12);
    clfLines = clfLog(CLF_LINES, 20);
    fs.writeFileSync(clfPath, clfLines.text);
    fs.writeFileSync(nginxPath, `10.1.0.9 - - [${logTime()}] "GET /slow HTTP/1.1" 200 1 "-" "curl/8.0" ${FIRST_TIMED.toFixed(3)}\n`);
    await prometheus.until('http_log_monitor_request_duration_seconds_count{job="nginx"}', (v) => v === 1);
    timed = timedLines(TIMED_LINES, 7);
    fs.appendFileSync(nginxPath, timed.text);
  }, 45_000);

  afterAll(() => {
    for (const proc of started) proc.kill('SIGKILL');
    stopAllPrometheus();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('both targets are up', async () => {
    const up = await prometheus.query('up');
    expect(up.map((s) => [s.labels.job, s.value]).sort()).toEqual([['clf', 1], ['nginx', 1]]);
  });

  test('sum(http_log_monitor_requests_total) is the lines written; the lines that are not CLF are invalid, the old ones late', async () => {
    expect(await prometheus.until('sum(http_log_monitor_requests_total{job="clf"})', (v) => v === clfLines.valid)).toBe(clfLines.valid);
    expect(await prometheus.until('sum(http_log_monitor_requests_total{job="nginx"})', (v) => v === TIMED_LINES + 1)).toBe(TIMED_LINES + 1);
    const [invalid] = await prometheus.query('http_log_monitor_invalid_lines_total{job="clf"}');
    expect(invalid!.value).toBe(clfLines.invalid);
    expect(clfLines.invalid).toBeGreaterThan(0);
    expect((await prometheus.query('http_log_monitor_late_lines_total{job="clf"}'))[0]!.value).toBe(clfLines.late);
    expect(clfLines.late).toBeGreaterThan(0);
    expect((await prometheus.query('http_log_monitor_late_lines_total{job="nginx"}'))[0]!.value).toBe(0);
    expect((await prometheus.query('http_log_monitor_response_bytes_total{job="clf"}'))[0]!.value).toBe(clfLines.bytes);
    // The rate of the README's example: the lines came after the first scrape.
    expect((await prometheus.query('sum(rate(http_log_monitor_requests_total[1m]))'))[0]!.value).toBeGreaterThan(0);
  });

  test('requests by status class and by method are the log\'s', async () => {
    await prometheus.until('sum(http_log_monitor_requests_total{job="clf"})', (v) => v === clfLines.valid);
    const byClass = await prometheus.query('sum by (status_class) (http_log_monitor_requests_total{job="clf"})');
    const byMethod = await prometheus.query('sum by (method) (http_log_monitor_method_requests_total{job="clf"})');
    const nonZero = (samples: { labels: Record<string, string>; value: number }[], label: string) =>
      Object.fromEntries(samples.filter((s) => s.value > 0).map((s) => [s.labels[label], s.value]).sort());
    expect(nonZero(byClass, 'status_class')).toEqual(Object.fromEntries(Object.entries(clfLines.byClass).sort()));
    expect(nonZero(byMethod, 'method')).toEqual(Object.fromEntries(Object.entries(clfLines.byMethod).sort()));
    expect(Object.keys(clfLines.byMethod)).toContain('other');
  });

  test('--metrics-sections 2: two sections have their own label, the others count as other', async () => {
    await prometheus.until('sum(http_log_monitor_section_requests_total{job="clf"})', (v) => v === clfLines.valid);
    const sections = await prometheus.query('http_log_monitor_section_requests_total{job="clf"}');
    const named = sections.map((s) => s.labels.section!).filter((s) => s !== 'other');
    expect(named).toHaveLength(2);
    for (const s of named) expect(SECTIONS).toContain(s);
    expect(sections.find((s) => s.labels.section === 'other')!.value).toBeGreaterThan(0);
  });

  test('the high-traffic alert fires, and the window average is the lines in the window over -a', async () => {
    expect(await prometheus.until('max_over_time(http_log_monitor_alert_firing{job="clf",rule="high_traffic",group=""}[5m])', (v) => v === 1)).toBe(1);
    const average = (clfLines.valid - clfLines.late) / WINDOW;
    expect(average).toBeGreaterThan(THRESHOLD);
    expect(await prometheus.until('max_over_time(http_log_monitor_window_requests_per_second{job="clf"}[5m])', (v) => v === average)).toBe(average);
  });

  test('a --rules rule that fires is 1 in http_log_monitor_alert_firing; one that does not is 0', async () => {
    expect(await prometheus.until('max_over_time(http_log_monitor_alert_firing{job="clf",rule="errors",group=""}[5m])', (v) => v === 1)).toBe(1);
    expect((await prometheus.query('max_over_time(http_log_monitor_alert_firing{job="clf",rule="teapots",group=""}[5m])'))[0]!.value).toBe(0);
  });

  test('histogram_quantile(0.99, …) is in the bucket of the exact p99', async () => {
    await prometheus.until('http_log_monitor_request_duration_seconds_count{job="nginx"}', (v) => v === TIMED_LINES + 1);
    const les = await prometheus.query('http_log_monitor_request_duration_seconds_bucket{job="nginx"}');
    const bound = (le: string) => (le === '+Inf' ? Infinity : Number(le));
    expect(les.map((s) => s.labels.le!).sort((a, b) => bound(a) - bound(b))).toEqual([...BUCKETS.map(String), '+Inf']);
    const sum = (await prometheus.query('http_log_monitor_request_duration_seconds_sum{job="nginx"}'))[0]!.value;
    expect(sum).toBeCloseTo(timed.seconds.reduce((n, s) => n + s, FIRST_TIMED), 6);

    // Every line, from the cumulative counts.
    const all = exactQuantile([...timed.seconds, FIRST_TIMED], 0.99);
    const [lo, hi] = bucketAround(all, BUCKETS);
    const fromCounts = (await prometheus.query('histogram_quantile(0.99, sum by (le) (http_log_monitor_request_duration_seconds_bucket{job="nginx"}))'))[0]!.value;
    expect(fromCounts).toBeGreaterThan(lo);
    expect(fromCounts).toBeLessThanOrEqual(hi);

    // The README's example: the rate over the lines that came after the first one.
    const recent = exactQuantile(timed.seconds, 0.99);
    const [rlo, rhi] = bucketAround(recent, BUCKETS);
    const query = 'histogram_quantile(0.99, sum by (le) (rate(http_log_monitor_request_duration_seconds_bucket{job="nginx"}[5m])))';
    const fromRate = await prometheus.until(query, (v) => v > rlo && v <= rhi);
    expect(fromRate).toBeGreaterThan(rlo);
    expect(fromRate).toBeLessThanOrEqual(rhi);
  });

  test('/metrics passes promtool check metrics; any other path is 404', async () => {
    for (const m of [clf, nginx]) {
      const response = await fetch(`http://127.0.0.1:${m.port}/metrics`);
      expect(response.status).toBe(200);
      const exposition = await response.text();
      expect(exposition).toContain('http_log_monitor_requests_total');
      const check = await promtoolCheckMetrics(exposition);
      expect(check).toEqual({ code: 0, output: '' });
      expect((await fetch(`http://127.0.0.1:${m.port}/other`)).status).toBe(404);
    }
  });
});

describe('--metrics and its companions', () => {
  const { run } = entryProcesses();

  test.each([
    [['--metrics', 'nonsense'], "--metrics must be HOST:PORT, :PORT, PORT or [IPv6]:PORT with a port from 0 to 65535, got 'nonsense'"],
    [['--metrics', '127.0.0.1:70000'], "--metrics must be HOST:PORT, :PORT, PORT or [IPv6]:PORT with a port from 0 to 65535, got '127.0.0.1:70000'"],
    [['--metrics-sections', '3'], '--metrics-sections goes with --metrics ADDR'],
    [['--metrics-buckets', '0.1,1'], '--metrics-buckets goes with --metrics ADDR'],
    [['--metrics', '0', '--metrics-sections', '-1'], "--metrics-sections must be a whole number from 0 to 10000, got '-1'"],
    [['--metrics', '0', '--metrics-sections', '2.5'], "--metrics-sections must be a whole number from 0 to 10000, got '2.5'"],
    [['--metrics', '0', '--metrics-buckets', '1,0.5'], "--metrics-buckets must be ascending positive seconds separated by commas (e.g. 0.01,0.1,1): 0.5 does not come after 1, got '1,0.5'"],
  ])('%p is a usage error: exit 2, the reason on one line', async (args, reason) => {
    const { code, stdout, stderr } = await run(['-f', '/nonexistent/access.log', ...args]);
    expect({ code, stdout, first: stderr.split('\n')[0] }).toEqual({ code: 2, stdout: '', first: `error: ${reason}` });
  });

  test('a replay prints the same with --metrics as without; only stderr says where the metrics are', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-prometheus-replay-'));
    try {
      const log = path.join(dir, 'access.log');
      fs.writeFileSync(log, clfLog(300, 3).text);
      const args = ['--replay', '--json', '-s', '1', '-a', '2', '-t', '1', '-f', log];
      const [without, withMetrics] = await Promise.all([run(args), run([...args, '--metrics', '127.0.0.1:0', '--metrics-sections', '1'])]);
      expect(without.code).toBe(0);
      expect(withMetrics.stdout).toBe(without.stdout);
      expect(without.stdout).toContain('"type":"alert"');
      expect(withMetrics.stderr).toMatch(/^metrics: http:\/\/127\.0\.0\.1:\d+\/metrics\n/);
      expect(withMetrics.stderr.replace(/^metrics: .*\n/, '')).toBe(without.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an address already taken: exit 1 saying which, nothing printed on stdout', async () => {
    const taken = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    try {
      const { code, stdout, stderr } = await run(['-f', '/nonexistent/access.log', '--json', '--metrics', `127.0.0.1:${taken.port}`]);
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toStartWith(`error: cannot serve the metrics on 127.0.0.1:${taken.port}: `);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    } finally {
      taken.stop(true);
    }
  });
});
