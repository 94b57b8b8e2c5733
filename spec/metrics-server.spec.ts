import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { packMaps } from '../lib/byte-keys';
import { DEFAULT_BUCKETS, Metrics } from '../lib/metrics';
import { serveMetrics, wantsOpenMetrics } from '../lib/metrics-server';
import { Sketch } from '../lib/sketch';
import { emptySegment } from '../lib/wire';

const PROMTOOL = '/usr/bin/promtool';
/** What Prometheus 2.x sends when it scrapes. */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const metrics = new Metrics({ sections: 5, buckets: DEFAULT_BUCKETS });
const latency = new Sketch();
for (const ms of [3, 40, 40, 700]) latency.add(ms);
metrics.addSegments([
  { ...emptySegment(1), hits: 4, status: [0, 0, 3, 0, 1, 0], bytes: 900, latency, keys: packMaps({ sections: new Map([['/api', 3], ['/', 1]]), methods: new Map([['GET', 4]]) }) },
]);
metrics.setAlert('high_traffic', '', true);

/** A Metrics whose rendering fails: what the server does then. */
class BrokenMetrics extends Metrics {
  override render(): Promise<never> {
    return Promise.reject(new Error('no\nrender'));
  }
}

let server: { port: number; stop(): void };
let broken: { port: number; stop(): void };
const url = (path = '/metrics', port = server.port) => `http://127.0.0.1:${port}${path}`;

beforeAll(async () => {
  server = await serveMetrics(metrics, { host: '127.0.0.1', port: 0 });
  broken = await serveMetrics(new BrokenMetrics({ sections: 1, buckets: [1] }), { host: '127.0.0.1', port: 0 });
});

afterAll(() => {
  server.stop();
  broken.stop();
});

describe('GET /metrics over HTTP', () => {
  test('a free port is bound', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(broken.port).not.toBe(server.port);
  });

  test('the text format by default, with what the counts are', async () => {
    const response = await fetch(url());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const body = await response.text();
    expect(body).toContain('http_log_monitor_requests_total{status_class="2xx"} 3\n');
    expect(body).toContain('http_log_monitor_section_requests_total{section="/api"} 3\n');
    expect(body).toContain('http_log_monitor_request_duration_seconds_bucket{le="0.05"} 3\n');
    expect(body).toContain('http_log_monitor_alert_firing{rule="high_traffic",group=""} 1\n');
    expect(body).not.toContain('# EOF');
    if (existsSync(PROMTOOL)) {
      const run = Bun.spawnSync([PROMTOOL, 'check', 'metrics'], { stdin: Buffer.from(body) });
      expect(`${run.stdout}${run.stderr}`).toBe('');
      expect(run.exitCode).toBe(0);
    }
  });

  test('OpenMetrics when the scraper asks for it, as Prometheus does', async () => {
    const response = await fetch(url(), { headers: { accept: PROMETHEUS_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const body = await response.text();
    expect(body).toContain('# TYPE http_log_monitor_requests counter\nhttp_log_monitor_requests_total{');
    expect(body.endsWith('\n# EOF\n')).toBe(true);
  });

  test('HEAD answers the headers', async () => {
    const response = await fetch(url(), { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  test('another path is 404, whatever the method', async () => {
    for (const [path, method] of [['/', 'GET'], ['/metrics/', 'GET'], ['/metricsx', 'GET'], ['/other', 'POST']] as const) {
      const response = await fetch(url(path), { method });
      expect(response.status).toBe(404);
      await response.text();
    }
  });

  test('a query string is still /metrics', async () => {
    const response = await fetch(url('/metrics?name[]=x'));
    expect(response.status).toBe(200);
    await response.text();
  });

  test('another method on /metrics is 405, saying which are allowed', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await fetch(url(), { method, body: method === 'DELETE' ? undefined : 'x' });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      await response.text();
    }
  });

  test('a render that fails is 500 with one line, and the server goes on', async () => {
    const response = await fetch(url('/metrics', broken.port));
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('error: metrics could not be rendered: no render\n');
    expect((await fetch(url())).status).toBe(200);
    expect((await fetch(url('/metrics', broken.port))).status).toBe(500);
  });
});

describe('serving', () => {
  test('a port already bound is refused; after stop the port is free', async () => {
    const first = await serveMetrics(metrics, { host: '127.0.0.1', port: 0 });
    let error: unknown;
    try {
      const second = await serveMetrics(metrics, { host: '127.0.0.1', port: first.port });
      second.stop();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    first.stop();
    await expect(fetch(url('/metrics', first.port))).rejects.toThrow();
    const again = await serveMetrics(metrics, { host: '127.0.0.1', port: first.port });
    expect(again.port).toBe(first.port);
    again.stop();
  });
});

describe('which format an Accept header asks for', () => {
  test('OpenMetrics only when a range names it with q above 0', () => {
    expect(wantsOpenMetrics(PROMETHEUS_ACCEPT)).toBe(true);
    expect(wantsOpenMetrics('application/openmetrics-text')).toBe(true);
    expect(wantsOpenMetrics('text/plain, Application/OpenMetrics-Text; q=0.2')).toBe(true);
    expect(wantsOpenMetrics(null)).toBe(false);
    expect(wantsOpenMetrics('')).toBe(false);
    expect(wantsOpenMetrics('*/*')).toBe(false);
    expect(wantsOpenMetrics('text/plain;version=0.0.4')).toBe(false);
    expect(wantsOpenMetrics('application/openmetrics-text;q=0, text/plain')).toBe(false);
  });
});
