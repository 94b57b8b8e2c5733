import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClfScanner } from '../actors/clf-scanner';
import { TextScanner } from '../actors/text-scanner';
import { packMaps } from '../lib/byte-keys';
import { metricsAddr, metricsBuckets, UsageError } from '../lib/cli-args';
import { compileFormat, type TextFormat } from '../lib/log-format';
import { DEFAULT_BUCKETS, Metrics, type MetricsTotals } from '../lib/metrics';
import { Sketch } from '../lib/sketch';
import { emptySegment, type Segment } from '../lib/wire';

const PROMTOOL = '/usr/bin/promtool';
const encoder = new TextEncoder();

/** A small seeded generator (mulberry32): the same lines every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Line {
  method: string;
  section: string;
  status: number;
  bytes: number;
  /** Seconds, as the line writes it (3 decimals), or null. */
  time: number | null;
  upstream: number | null;
  text: string;
}

const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'get'];
const STATUSES = [200, 200, 200, 201, 204, 301, 304, 404, 403, 500, 503, 101];

/** Lines of traffic, CLF or nginx-timed, with what each holds. */
function traffic(n: number, seed: number, timed: boolean): Line[] {
  const r = random(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(r() * list.length)]!;
  const lines: Line[] = [];
  for (let i = 0; i < n; i++) {
    const method = pick(METHODS);
    const k = Math.floor(r() * r() * 40);
    const section = `/s${k}`;
    const status = pick(STATUSES);
    const bytes = Math.floor(r() * 5000);
    // Log-uniform from 1 ms to 20 s, written as nginx does (3 decimals); now and then 0.000.
    const time = r() < 0.03 ? 0 : Number(Math.exp(Math.log(0.001) + r() * Math.log(20000)).toFixed(3));
    const upstream = r() < 0.2 ? null : Number((time * r()).toFixed(3));
    const stamp = `09/May/2018:16:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000`;
    let text = `10.0.0.${i % 7} - - [${stamp}] "${method} ${section}/page?x=${i} HTTP/1.1" ${status} ${bytes}`;
    if (timed) text += ` "-" "curl/8" ${time.toFixed(3)} ${upstream === null ? '-' : upstream.toFixed(3)} www.example.com`;
    lines.push({ method, section, status, bytes, time: timed ? time : null, upstream: timed ? upstream : null, text });
  }
  return lines;
}

/** Scans the lines in chunks of 100 with borrowed keys, counting each batch before the next scan overwrites its keys. */
function countLines(metrics: Metrics, scanner: ClfScanner, texts: string[]) {
  for (let i = 0; i < texts.length; i += 100) {
    const batch = scanner.scan(encoder.encode(`${texts.slice(i, i + 100).join('\n')}\n`));
    metrics.addSegments(batch.segments);
  }
}

/** The samples of an exposition: `name{labels}` → value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    expect(out.has(key)).toBe(false);
    out.set(key, Number(line.slice(space + 1)));
  }
  return out;
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
const byLabel = (s: Map<string, number>, name: string) =>
  new Map([...s].filter(([k]) => k.startsWith(`${name}{`)).map(([k, v]) => [k.slice(k.indexOf('"') + 1, -2), v]));

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

const statusClass = (status: number) => (status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : 'other');
const methodLabel = (method: string) => (['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'].includes(method) ? method : 'other');

function promtool(body: string): { code: number; output: string } {
  const run = Bun.spawnSync([PROMTOOL, 'check', 'metrics'], { stdin: Buffer.from(body) });
  return { code: run.exitCode, output: `${run.stdout.toString()}${run.stderr.toString()}` };
}

/**
 * An OpenMetrics exposition through Prometheus's own OpenMetrics parser: `promtool check metrics`
 * (2.42) reads only the text format, but `promtool tsdb create-blocks-from openmetrics` parses
 * OpenMetrics, once every sample has a timestamp. The number of series it stored, or its error.
 */
function promtoolOpenMetrics(body: string): { code: number; series: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hlm-openmetrics-'));
  try {
    const stamped = body.replace(/^([^#\n].*)$/gm, '$1 1700000000');
    writeFileSync(join(dir, 'in.txt'), stamped);
    const run = Bun.spawnSync([PROMTOOL, 'tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'in.txt'), join(dir, 'blocks')]);
    const output = `${run.stdout.toString()}${run.stderr.toString()}`;
    // BLOCK ULID  MIN TIME  MAX TIME  DURATION  NUM SAMPLES  NUM CHUNKS  NUM SERIES  SIZE
    const row = output.split('\n').find((l) => /^[0-9A-Z]{26} /.test(l));
    return { code: run.exitCode, series: row ? Number(row.trim().split(/\s+/)[6]) : 0, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const NGINX_TIMED = compileFormat(
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host',
) as TextFormat;

describe('counters from log lines', () => {
  const lines = traffic(3000, 7, false);
  const garbage = ['not a log line', '10.0.0.1 - - [99/Foo/2018:16:00:00 +0000] "GET / HTTP/1.1" 200 1'];
  const metrics = new Metrics({ sections: 100, buckets: DEFAULT_BUCKETS });
  countLines(metrics, new ClfScanner({ borrowKeys: true }), [...lines.map((l) => l.text), ...garbage]);

  test('requests by status class, by method, bytes and invalid lines are what the lines hold', async () => {
    const s = samples((await metrics.render(false)).body);
    const classes = countBy(lines, (l) => statusClass(l.status));
    for (const c of ['1xx', '2xx', '3xx', '4xx', '5xx', 'other']) {
      expect(s.get(`http_log_monitor_requests_total{status_class="${c}"}`)).toBe(classes.get(c) ?? 0);
    }
    const methods = countBy(lines, (l) => methodLabel(l.method));
    expect(byLabel(s, 'http_log_monitor_method_requests_total')).toEqual(
      new Map(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'other'].map((m) => [m, methods.get(m) ?? 0])),
    );
    expect(methods.get('other')).toBeGreaterThan(0);
    expect(s.get('http_log_monitor_response_bytes_total')).toBe(sum(lines.map((l) => l.bytes)));
    expect(s.get('http_log_monitor_invalid_lines_total')).toBe(garbage.length);
    expect(s.get('http_log_monitor_late_lines_total')).toBe(0);
  });

  test('every section has its label while there is room, and their sum is the requests', async () => {
    const s = samples((await metrics.render(false)).body);
    const sections = byLabel(s, 'http_log_monitor_section_requests_total');
    expect(sections).toEqual(new Map([...countBy(lines, (l) => l.section), ['other', 0]]));
  });

  test('no histogram without timed lines', async () => {
    expect((await metrics.render(false)).body).not.toContain('duration_seconds');
  });

  test('late lines add up', async () => {
    const m = new Metrics({ sections: 1, buckets: DEFAULT_BUCKETS });
    m.addLate(3);
    m.addLate(0);
    m.addLate(4);
    expect(samples((await m.render(false)).body).get('http_log_monitor_late_lines_total')).toBe(7);
  });

  test('a segment an earlier centre already printed is not counted again', async () => {
    const m = new Metrics({ sections: 1, buckets: DEFAULT_BUCKETS });
    const seg = (printed: boolean): Segment => ({ ...emptySegment(1), hits: 2, status: [0, 0, 2, 0, 0, 0], bytes: 10, printed });
    m.addSegments([seg(true), seg(false)]);
    const s = samples((await m.render(false)).body);
    expect(s.get('http_log_monitor_requests_total{status_class="2xx"}')).toBe(2);
    expect(s.get('http_log_monitor_response_bytes_total')).toBe(10);
  });
});

describe('duration histograms from sketches', () => {
  const lines = traffic(5000, 11, true);
  const buckets = DEFAULT_BUCKETS;
  const metrics = new Metrics({ sections: 20, buckets });
  countLines(metrics, new TextScanner(NGINX_TIMED, { borrowKeys: true }), lines.map((l) => l.text));

  /** Each bucket's count against the exact count of durations at or below its bound, off by no more than the durations within 1 % of it. */
  function expectBuckets(s: Map<string, number>, name: string, durations: number[]) {
    let near = 0;
    for (const le of buckets) {
      const exact = durations.filter((d) => d <= le).length;
      const edge = durations.filter((d) => d > le / 1.0102 && d <= le * 1.0102).length;
      near += edge;
      const got = s.get(`${name}_bucket{le="${le}"}`)!;
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(edge);
    }
    // The allowance is a small part of the durations: the test could fail.
    expect(near).toBeLessThan(durations.length * 0.1);
    expect(s.get(`${name}_bucket{le="+Inf"}`)).toBe(durations.length);
    expect(s.get(`${name}_count`)).toBe(durations.length);
    expect(s.get(`${name}_sum`)).toBeCloseTo(sum(durations), 6);
  }

  test('request durations: buckets against the exact counts, sum and count exact', async () => {
    const s = samples((await metrics.render(false)).body);
    expectBuckets(s, 'http_log_monitor_request_duration_seconds', lines.map((l) => l.time!));
    // The zero durations (0.000) are in the first bucket.
    expect(lines.filter((l) => l.time === 0).length).toBeGreaterThan(0);
  });

  test('upstream durations alike, from the timed lines that have one', async () => {
    const s = samples((await metrics.render(false)).body);
    const upstream = lines.flatMap((l) => (l.upstream === null ? [] : [l.upstream]));
    expect(upstream.length).toBeLessThan(lines.length);
    expectBuckets(s, 'http_log_monitor_upstream_duration_seconds', upstream);
  });

  test('a duration goes to the first bound at or above it, within the sketch’s 1 %', async () => {
    const m = new Metrics({ sections: 1, buckets: [0.1, 1] });
    const sketch = new Sketch();
    for (const ms of [0, 50, 98, 102, 500, 990, 1011, 5000]) sketch.add(ms);
    m.addSegments([{ ...emptySegment(1), hits: 8, latency: sketch }]);
    const s = samples((await m.render(false)).body);
    expect(s.get('http_log_monitor_request_duration_seconds_bucket{le="0.1"}')).toBe(3);
    expect(s.get('http_log_monitor_request_duration_seconds_bucket{le="1"}')).toBe(6);
    expect(s.get('http_log_monitor_request_duration_seconds_bucket{le="+Inf"}')).toBe(8);
    expect(s.get('http_log_monitor_request_duration_seconds_sum')).toBeCloseTo(7.751, 9);
    expect(s.has('http_log_monitor_upstream_duration_seconds_count')).toBe(false);
  });
});

describe('bounded section labels', () => {
  const segment = (sections: Record<string, number>): Segment => {
    const hits = sum(Object.values(sections));
    return { ...emptySegment(1), hits, status: [0, 0, hits, 0, 0, 0], keys: packMaps({ sections: new Map(Object.entries(sections)) }) };
  };

  test('the first N sections seen keep their label; later ones count under other; the sum is the requests', async () => {
    const m = new Metrics({ sections: 2, buckets: DEFAULT_BUCKETS });
    m.addSegments([segment({ '/a': 1, '/b': 2, '/c': 4 })]);
    // /a and /b came first: they keep their labels when /c and /d are busier.
    m.addSegments([segment({ '/c': 100, '/d': 50, '/a': 1 })]);
    const s = samples((await m.render(false)).body);
    expect(byLabel(s, 'http_log_monitor_section_requests_total')).toEqual(new Map([['/a', 2], ['/b', 2], ['other', 154]]));
    expect(sum(byLabel(s, 'http_log_monitor_section_requests_total').values())).toBe(s.get('http_log_monitor_requests_total{status_class="2xx"}')!);
  });

  test('labels are escaped; a section named "other" shares the other series', async () => {
    const m = new Metrics({ sections: 3, buckets: DEFAULT_BUCKETS });
    m.addSegments([segment({ '/a"b\\c': 1, 'other': 2, '/x\ny': 3, '/late': 4 })]);
    const { body } = await m.render(false);
    expect(body).toContain('section="/a\\"b\\\\c"} 1');
    expect(body).toContain('section="/x\\ny"} 3');
    expect(body).toContain('section="other"} 6');
    if (existsSync(PROMTOOL)) expect(promtool(body)).toEqual({ code: 0, output: '' });
  });

  test('no room at all: everything is other', async () => {
    const m = new Metrics({ sections: 0, buckets: DEFAULT_BUCKETS });
    m.addSegments([segment({ '/a': 1, '/b': 2 })]);
    expect(byLabel(samples((await m.render(false)).body), 'http_log_monitor_section_requests_total')).toEqual(new Map([['other', 3]]));
  });
});

describe('gauges', () => {
  test('alert states, the window average and the centre’s agents appear once set, and follow what is set', async () => {
    const m = new Metrics({ sections: 1, buckets: DEFAULT_BUCKETS });
    const before = (await m.render(false)).body;
    for (const name of ['alert_firing', 'window_requests_per_second', 'agents', 'agent_clock_lag_seconds']) {
      expect(before).not.toContain(`http_log_monitor_${name} `);
    }
    m.setAlert('high_traffic', '', true);
    m.setAlert('errors', '/api', true);
    m.setAlert('errors', '/api', false);
    m.setWindowAverage(12.5);
    m.setAgents(3, 1);
    m.setAgentLag('web-1', 2);
    m.setAgentLag('web-2', 0.5);
    m.setAgentLag('web-1', 4);
    const s = samples((await m.render(false)).body);
    expect(s.get('http_log_monitor_alert_firing{rule="high_traffic",group=""}')).toBe(1);
    expect(s.get('http_log_monitor_alert_firing{rule="errors",group="/api"}')).toBe(0);
    expect(s.get('http_log_monitor_window_requests_per_second')).toBe(12.5);
    expect(s.get('http_log_monitor_agents{state="reporting"}')).toBe(3);
    expect(s.get('http_log_monitor_agents{state="silent"}')).toBe(1);
    expect(byLabel(s, 'http_log_monitor_agent_clock_lag_seconds')).toEqual(new Map([['web-1', 4], ['web-2', 0.5]]));
  });
});

describe('a group\'s alert', () => {
  test('shows while it fires and is gone once cleared; the other groups and rules stay', async () => {
    const m = new Metrics({ sections: 1, buckets: DEFAULT_BUCKETS });
    m.setAlert('per-host', '10.0.0.1', true);
    m.setAlert('per-host', '10.0.0.2', true);
    m.setAlert('errors', '', false);
    m.clearAlert('per-host', '10.0.0.1');
    const s = samples((await m.render(false)).body);
    expect(s.has('http_log_monitor_alert_firing{rule="per-host",group="10.0.0.1"}')).toBe(false);
    expect(s.get('http_log_monitor_alert_firing{rule="per-host",group="10.0.0.2"}')).toBe(1);
    expect(s.get('http_log_monitor_alert_firing{rule="errors",group=""}')).toBe(0);
    m.clearAlert('per-host', '10.0.0.2');
    m.clearAlert('errors', '');
    expect([...samples((await m.render(false)).body).keys()].filter((k) => k.startsWith('http_log_monitor_alert_firing'))).toEqual([]);
  });
});

const CLF_TWO = '10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET /a/1 HTTP/1.1" 200 5\n10.0.0.2 - - [01/Jan/2026:00:00:01 +0000] "GET /b/2 HTTP/1.1" 201 7\n';

describe('showTotals (a centre shows what its stored record holds)', () => {
  test('counters and histograms render the totals shown, not the live counts, until shown again; gauges stay live', async () => {
    const m = new Metrics({ sections: 2, buckets: DEFAULT_BUCKETS });
    const requests = async () => samples((await m.render(false)).body).get('http_log_monitor_requests_total{status_class="2xx"}');
    m.showTotals(m.totals());
    m.addSegments(new ClfScanner().scan(new TextEncoder().encode(CLF_TWO)).segments);
    m.setWindowAverage(3);
    expect(await requests()).toBe(0);
    expect(samples((await m.render(false)).body).get('http_log_monitor_window_requests_per_second')).toBe(3);
    m.showTotals(m.totals());
    expect(await requests()).toBe(2);
  });
});

describe('totals and restore', () => {
  const lines = traffic(1500, 3, true);
  const run = (texts: string[], metrics = new Metrics({ sections: 10, buckets: DEFAULT_BUCKETS })) => {
    countLines(metrics, new TextScanner(NGINX_TIMED, { borrowKeys: true }), texts);
    return metrics;
  };

  test('a restored Metrics renders what the saved one did, and goes on counting from it', async () => {
    const first = run(lines.slice(0, 700).map((l) => l.text));
    first.addLate(5);
    const saved = JSON.parse(JSON.stringify(first.totals())) as MetricsTotals;
    const second = new Metrics({ sections: 10, buckets: DEFAULT_BUCKETS });
    second.restore(saved);
    expect((await second.render(false)).body).toBe((await first.render(false)).body);
    expect(second.totals()).toEqual(first.totals());
    // The rest of the lines after a restart give what one run of all the lines gives.
    run(lines.slice(700).map((l) => l.text), second);
    const whole = run(lines.map((l) => l.text));
    whole.addLate(5);
    const a = samples((await second.render(false)).body);
    const b = samples((await whole.render(false)).body);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, v] of b) expect(a.get(k)).toBeCloseTo(v, 6);
  });

  test('restored with fewer section labels: the saved sections past them count under other', async () => {
    const m = new Metrics({ sections: 3, buckets: DEFAULT_BUCKETS });
    m.addSegments([{ ...emptySegment(1), hits: 6, keys: packMaps({ sections: new Map([['/a', 1], ['/b', 2], ['/c', 3]]) }) }]);
    const fewer = new Metrics({ sections: 1, buckets: DEFAULT_BUCKETS });
    fewer.restore(m.totals());
    expect(byLabel(samples((await fewer.render(false)).body), 'http_log_monitor_section_requests_total')).toEqual(new Map([['/a', 1], ['other', 5]]));
  });

  test('restored with other buckets: each saved bucket counts at the first new bound at or above it', async () => {
    const m = new Metrics({ sections: 1, buckets: [0.1, 1] });
    const sketch = new Sketch();
    for (const ms of [50, 500, 5000]) sketch.add(ms);
    m.addSegments([{ ...emptySegment(1), hits: 3, latency: sketch }]);
    const other = new Metrics({ sections: 1, buckets: [0.1, 0.5, 2] });
    other.restore(m.totals());
    const s = samples((await other.render(false)).body);
    expect([0.1, 0.5, 2].map((le) => s.get(`http_log_monitor_request_duration_seconds_bucket{le="${le}"}`))).toEqual([1, 1, 2]);
    expect(s.get('http_log_monitor_request_duration_seconds_count')).toBe(3);
  });

  test('anything but a totals object of version 1 is refused, and changes nothing', async () => {
    const m = run(lines.slice(0, 100).map((l) => l.text));
    const good = m.totals();
    const before = (await m.render(false)).body;
    const bad: unknown[] = [
      null,
      'totals',
      [],
      { ...good, v: 2 },
      { ...good, v: undefined },
      { ...good, bytes: -1 },
      { ...good, bytes: '12' },
      { ...good, invalid: Number.NaN },
      { ...good, requests: { ...good.requests, '6xx': 1 } },
      { ...good, methods: { GET: Infinity } },
      { ...good, sections: [['/a']] },
      { ...good, sections: { '/a': 1 } },
      { ...good, duration: { ...good.duration!, counts: [1, 2] } },
      { ...good, duration: { ...good.duration!, buckets: [1, 0.5] } },
    ];
    for (const totals of bad) expect(() => m.restore(totals as MetricsTotals)).toThrow(/^metrics totals: /);
    expect((await m.render(false)).body).toBe(before);
  });
});

describe('the exposition', () => {
  const metrics = new Metrics({ sections: 5, buckets: DEFAULT_BUCKETS });
  countLines(metrics, new TextScanner(NGINX_TIMED, { borrowKeys: true }), traffic(500, 5, true).map((l) => l.text));
  metrics.setAlert('high_traffic', '', false);
  metrics.setWindowAverage(3.25);
  metrics.setAgents(2, 0);
  metrics.setAgentLag('web-1', 1.5);

  test('text 0.0.4: counters named _total, the content type, and promtool finds nothing to say', async () => {
    const { body, contentType } = await metrics.render(false);
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(body).toContain('# TYPE http_log_monitor_requests_total counter\n');
    expect(body).toContain('# TYPE http_log_monitor_request_duration_seconds histogram\n');
    expect(body).not.toContain('# EOF');
    if (existsSync(PROMTOOL)) expect(promtool(body)).toEqual({ code: 0, output: '' });
  });

  test('OpenMetrics 1.0: the same samples, counter families without _total, and # EOF at the end', async () => {
    const text = await metrics.render(false);
    const open = await metrics.render(true);
    expect(open.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(open.body.endsWith('\n# EOF\n')).toBe(true);
    expect(open.body).toContain('# TYPE http_log_monitor_requests counter\n');
    expect(open.body).not.toContain('\n\n');
    expect(samples(open.body)).toEqual(samples(text.body));
  });

  test.if(existsSync(PROMTOOL))('Prometheus’s OpenMetrics parser reads every series (and refuses it without # EOF)', async () => {
    const { body } = await metrics.render(true);
    const read = promtoolOpenMetrics(body);
    expect(read.code).toBe(0);
    expect(read.series).toBe(samples(body).size);
    expect(read.series).toBeGreaterThan(50);
    const cut = promtoolOpenMetrics(body.replace('# EOF\n', ''));
    expect(cut.code).not.toBe(0);
    expect(cut.output).toContain('# EOF');
  });

  test('two scrapes at once, one of each format, each get their own', async () => {
    const [a, b] = await Promise.all([metrics.render(true), metrics.render(false)]);
    expect(a.body.endsWith('# EOF\n')).toBe(true);
    expect(b.body).not.toContain('# EOF');
  });
});

describe('--metrics and --metrics-buckets', () => {
  test('addresses', () => {
    expect(metricsAddr('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(metricsAddr('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(metricsAddr('metrics.local:9464')).toEqual({ host: 'metrics.local', port: 9464 });
    expect(metricsAddr(':9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(metricsAddr('9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(metricsAddr('0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(metricsAddr('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(metricsAddr('[::]:65535')).toEqual({ host: '::', port: 65535 });
  });

  test('anything else is a one-line usage error', () => {
    for (const bad of ['', ':', 'host:', '65536', '-1', '12ab', '::1:9464', '[::1]', '[nope]:80', 'a b:80', 'host:80:81', '1e3', 'host:+80', '[::1]:99999']) {
      let error: unknown;
      try {
        metricsAddr(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toStartWith('--metrics must be HOST:PORT');
      expect((error as Error).message).not.toContain('\n');
    }
  });

  test('buckets', () => {
    expect(metricsBuckets('0.01,0.1,1')).toEqual([0.01, 0.1, 1]);
    expect(metricsBuckets(' 0.005, 2.5 ,10')).toEqual([0.005, 2.5, 10]);
    expect(metricsBuckets('5')).toEqual([5]);
    for (const bad of ['', '0.1,,1', '1,0.1', '0.1,0.1', '0,1', '-1', 'inf', '1,NaN', '0x10', `${Array.from({ length: 101 }, (_, i) => i + 1).join(',')}`]) {
      expect(() => metricsBuckets(bad)).toThrow(UsageError);
      expect(() => metricsBuckets(bad)).toThrow(/^--metrics-buckets must be ascending positive seconds/);
    }
  });

  test('a Metrics refuses bounds that are not ascending positive numbers', () => {
    expect(() => new Metrics({ sections: 1, buckets: [] })).toThrow();
    expect(() => new Metrics({ sections: 1, buckets: [1, 1] })).toThrow();
    expect(() => new Metrics({ sections: 1.5, buckets: [1] })).toThrow();
  });
});
