/// <reference lib="dom" />
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import * as net from 'node:net';
import type { IntervalStats } from '../actors/messages';
import { BACKLOG_LIMIT, CSP, HISTORY_LIMIT, type Inspector, type InspectorModel, isLoopbackHost, reduce, startInspector } from '../lib/inspector';
import { latencyText, msText } from '../lib/latency-text';
import { Sketch } from '../lib/sketch';

const ROOT = path.join(import.meta.dir, '..');
const BUN = path.join(ROOT, 'node_modules/.bin/bun');
const CHROMIUM = '/usr/bin/chromium';
const launchBrowser = () =>
  chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-inspect-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clfNow(section: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const ts = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  return `127.0.0.1 - - [${ts}] "GET ${section} HTTP/1.1" 200 12\n`;
}

/** Reads a stream line by line until `match` is seen (or the deadline). */
async function waitForLine(stream: ReadableStream<Uint8Array>, match: RegExp, ms: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
      if (!chunk || chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
      const found = text.split('\n').find((l) => match.test(l));
      if (found) return found;
    }
  } finally {
    reader.releaseLock();
  }
  throw new Error(`no line matching ${match} in: ${text}`);
}

describe('inspector page, in a real browser', () => {
  test('the highlighted state goes from normal to alerting and back while traffic flows', async () => {
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, '');
    // -s 4: the interval that holds the lines closes within 4 s (the empty ones after it do not replace it).
    const monitor = Bun.spawn([BUN, 'entry.ts', '-f', log, '--inspect', '-s', '4', '-a', '4', '-t', '2', '--plain', '--poll-ms', '100'], {
      cwd: ROOT,
      stdout: 'ignore',
      stderr: 'pipe',
    });
    const browser = await launchBrowser();
    try {
      const line = await waitForLine(monitor.stderr, /^inspector: http:\/\/127\.0\.0\.1:\d+\/$/, 10_000);
      const url = line.slice('inspector: '.length);
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy|Refused/.test(m.text())) violations.push(m.text());
      });
      const response = await page.goto(url);
      expect(response?.headers()['content-security-policy']).toBe(CSP);
      const active = () => page.locator('#chart g.node.active title').textContent({ timeout: 10_000 });
      await page.waitForSelector('#connection.online', { timeout: 10_000 });
      await page.waitForSelector('#chart g.node.active', { timeout: 10_000 });
      expect(await active()).toBe('normal');
      expect(await page.locator('#state').textContent()).toBe('normal');

      // 30 lines in one second: 30 > 2 × 4, so the next evaluation alerts.
      fs.appendFileSync(log, Array.from({ length: 30 }, () => clfNow('/pages/alert')).join(''));
      await page.waitForSelector('#chart g.node.active[data-state="alerting"]', { timeout: 10_000 });
      expect(await active()).toBe('alerting');
      expect(await page.locator('#history-list li.alert').first().textContent()).toContain('High traffic generated an alert - hits = 30');
      await page.waitForFunction(() => document.querySelector('#sections-body')?.textContent?.includes('/pages'), undefined, { timeout: 15_000 });

      // No more traffic: after the window has passed, it recovers.
      await page.waitForSelector('#chart g.node.active[data-state="normal"]', { timeout: 15_000 });
      expect(await active()).toBe('normal');
      expect(await page.locator('#history-list li.recovered').first().textContent()).toContain('High traffic alert recovered');
      expect(violations).toEqual([]);
      if (process.env.INSPECTOR_SCREENSHOT) await page.screenshot({ path: process.env.INSPECTOR_SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
      monitor.kill('SIGINT');
      await monitor.exited;
    }
  }, 60_000);

  test('after a --replay: the last interval that had traffic, its times ISO-8601 as the terminal prints them, whatever the browser locale', async () => {
    const log = path.join(dir, 'replay.log');
    // 3 lines a second from 12:00:00 to 12:00:09 UTC: with -s 5 the replay ends on a boundary, in
    // an empty final interval (12:00:10 → 12:00:10), which the plain output does not print.
    const stamp = (i: number) => `01/Jan/2026:12:00:0${i} +0000`;
    fs.writeFileSync(log, Array.from({ length: 30 }, (_, k) => `127.0.0.1 - - [${stamp(Math.floor(k / 3))}] "GET /pages/x HTTP/1.1" 200 12\n`).join(''));
    const monitor = Bun.spawn([BUN, 'entry.ts', '--replay', '-f', log, '-s', '5', '--inspect', '--plain'], {
      cwd: ROOT,
      env: { ...process.env, TZ: 'UTC' },
      stdout: 'ignore',
      stderr: 'pipe',
    });
    const browser = await launchBrowser();
    try {
      const line = await waitForLine(monitor.stderr, /^replay finished; the inspector stays at http:\/\/127\.0\.0\.1:\d+\/ until Ctrl-C$/, 10_000);
      const url = /http:\S+\//.exec(line)![0];
      // A 12-hour locale in another zone: the page must not reformat the times.
      const page = await browser.newPage({ locale: 'en-US', timezoneId: 'America/New_York' });
      await page.goto(url);
      await page.waitForSelector('#connection.online', { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelector('#interval')?.textContent !== '', undefined, { timeout: 10_000 });
      expect(await page.locator('#interval').textContent()).toBe('2026-01-01T12:00:05+00:00 → 12:00:10+00:00 · 15 hits · 0 invalid');
      expect(await page.locator('#sections-body').textContent()).toContain('/pages');
      expect(await page.locator('#sections h2').textContent()).toContain('Last interval with traffic');
    } finally {
      await browser.close();
      monitor.kill('SIGINT');
      await monitor.exited;
    }
  }, 30_000);

  test('binds to 127.0.0.1 only and serves nothing from elsewhere', async () => {
    const log = path.join(dir, 'bind.log');
    fs.writeFileSync(log, '');
    const monitor = Bun.spawn([BUN, 'entry.ts', '-f', log, '--inspect', '--plain'], { cwd: ROOT, stdout: 'ignore', stderr: 'pipe' });
    try {
      const line = await waitForLine(monitor.stderr, /^inspector: /, 10_000);
      const port = Number(new URL(line.slice('inspector: '.length)).port);
      const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      // Every script, style and image the page names is its own.
      for (const ref of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(ref[1]!.startsWith('/')).toBe(true);
      const svg = await (await fetch(`http://127.0.0.1:${port}/statechart.svg`)).text();
      expect(svg).toContain('<title>normal</title>');
      expect(svg).toContain('<title>alerting</title>');
      const listening = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => l.includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `) && / 0A /.test(l));
      expect(listening.length).toBeGreaterThan(0);
      // 0100007F is 127.0.0.1 in /proc/net/tcp's little-endian hex; 00000000 would be every address.
      for (const l of listening) expect(l.trim().split(/\s+/)[1]!.startsWith('0100007F:')).toBe(true);
    } finally {
      monitor.kill('SIGINT');
      await monitor.exited;
    }
  }, 30_000);
});

/** A sketch of these durations (ms). */
const sketchOf = (values: number[]) => {
  const sk = new Sketch();
  for (const v of values) sk.add(v);
  return sk;
};
const T = Date.UTC(2026, 0, 1, 12, 0, 0);
const all = sketchOf(Array.from({ length: 40 }, (_, k) => 0.3 + k * k));
const api = sketchOf(Array.from({ length: 30 }, (_, k) => 5 + k * 7));
/** An interval of a log with durations, upstream times and virtual hosts. */
const timedStats: IntervalStats = {
  start: T, end: T + 5_000, hits: 40, invalid: 0, late: 0, sections: [['/api', 30], ['/static', 10]], users: [], hosts: [], methods: [],
  vhosts: [['shop.example', 25], ['\x1b[2Japi.example', 15]],
  status: { '1xx': 0, '2xx': 40, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 }, bytes: 0, approximate: [], unique: { hosts: 0, users: 0, sections: 0 },
  latency: all.summary()!, upstream: { count: 30, p50: 4.2, p90: 40, p99: 230, max: 1500 }, sectionLatency: [['/api', api.summary()!]], final: false,
};
const statsEvent = (stats: IntervalStats) =>
  ({ type: '@xstate.event', actorRef: { id: 'reporter' } as never, rootId: 'x', sourceRef: undefined, event: { type: 'stats', stats } }) as never;

describe('inspector page: latency and virtual hosts, in a real browser', () => {
  test("the latest interval's latency and upstream lines, each timed section's p99 and the vhosts; a log without them shows none", async () => {
    const inspector = startInspector({ port: 0, files: ['a.log'], threshold: 2, windowSeconds: 4, svg: '<svg/>' });
    const browser = await launchBrowser();
    try {
      inspector.observe(statsEvent(timedStats));
      const page = await browser.newPage();
      await page.goto(inspector.url);
      await page.waitForSelector('#connection.online', { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelector('#interval')?.textContent !== '', undefined, { timeout: 10_000 });
      expect(await page.locator('#latency').isVisible()).toBe(true);
      expect(await page.locator('#latency-text').textContent()).toBe(latencyText(all.summary()!, 40));
      expect(await page.locator('#latency-text').textContent()).toContain(`p99 ${msText(all.quantile(0.99))}`);
      expect(await page.locator('#upstream-text').textContent()).toBe('p50 4.2 ms · p90 40 ms · p99 230 ms · max 1.5 s · 30 of 40 timed');
      const cells = async (body: string) => page.locator(`${body} tr`).evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
      expect(await page.locator('#p99-head').isVisible()).toBe(true);
      expect(await cells('#sections-body')).toEqual([['/api', '30', msText(api.quantile(0.99))], ['/static', '10', '']]);
      expect(await page.locator('#vhosts').isVisible()).toBe(true);
      expect(await cells('#vhosts-body')).toEqual([['shop.example', '25'], ['\\x1b[2Japi.example', '15']]);

      // The next interval, from a log with none of them (live, over the open page): all hidden again.
      inspector.observe(statsEvent({ ...timedStats, start: T + 5_000, end: T + 10_000, hits: 7, vhosts: [], latency: undefined, upstream: undefined, sectionLatency: undefined, sections: [['/pages', 7]] }));
      await page.waitForFunction(() => document.querySelector('#sections-body')?.textContent?.includes('/pages'), undefined, { timeout: 10_000 });
      expect(await page.locator('#latency').isVisible()).toBe(false);
      expect(await page.locator('#upstream').isVisible()).toBe(false);
      expect(await page.locator('#vhosts').isVisible()).toBe(false);
      expect(await page.locator('#p99-head').isVisible()).toBe(false);
      expect(await cells('#sections-body')).toEqual([['/pages', '7']]);
    } finally {
      await browser.close();
      inspector.stop();
    }
  }, 30_000);
});

describe('inspector model', () => {
  test('alert snapshots and reporter messages become updates; anything else is ignored', () => {
    const model: InspectorModel = {
      files: ['a.log'], threshold: 2, windowSeconds: 4, state: 'normal', windowHits: 0, series: [], at: 0, sections: [], vhosts: [], last: null, history: [], historyLimit: 100, active: [],
    };
    const ref = (id: string) => ({ id }) as never;
    expect(reduce(model, { type: '@xstate.snapshot', actorRef: ref('alert'), rootId: 'x', event: { type: 'x' }, snapshot: { value: 'alerting' } as never })).toEqual({ type: 'state', state: 'alerting' });
    expect(reduce(model, { type: '@xstate.snapshot', actorRef: ref('alert'), rootId: 'x', event: { type: 'x' }, snapshot: { value: 'alerting' } as never })).toBeNull();
    expect(reduce(model, { type: '@xstate.event', actorRef: ref('reporter'), rootId: 'x', sourceRef: undefined, event: { type: 'window', at: 5000, hits: 9, series: [4, 5] } })).toEqual({ type: 'window', at: 5000, hits: 9, series: [4, 5] });
    expect(reduce(model, { type: '@xstate.event', actorRef: ref('aggregator'), rootId: 'x', sourceRef: undefined, event: { type: 'window', at: 1, hits: 1, series: [] } })).toBeNull();
    const alert = reduce(model, { type: '@xstate.event', actorRef: ref('reporter'), rootId: 'x', sourceRef: undefined, event: { type: 'alert', alert: { at: 5000, hits: 9, threshold: 2, window: 4 } } });
    expect(alert).toMatchObject({ type: 'history', entry: { type: 'alert', at: 5000 } });
    expect(model).toMatchObject({ state: 'alerting', windowHits: 9, series: [4, 5], history: [{ type: 'alert' }] });
  });

  test('an interval with traffic becomes the last one, its times ISO-8601; an empty one leaves it as it was', () => {
    const model: InspectorModel = {
      files: ['a.log'], threshold: 2, windowSeconds: 4, state: 'normal', windowHits: 0, series: [], at: 0, sections: [], vhosts: [], last: null, history: [], historyLimit: 100, active: [],
    };
    const T = Date.UTC(2026, 0, 1, 12, 0, 0);
    const stats = (start: number, end: number, hits: number, invalid = 0) => reduce(model, {
      type: '@xstate.event', actorRef: { id: 'reporter' } as never, rootId: 'x', sourceRef: undefined,
      event: { type: 'stats', stats: {
        start, end, hits, invalid, late: 0, sections: hits ? [['/pages', hits]] : [], users: [], hosts: [], methods: [], vhosts: [],
        status: { '1xx': 0, '2xx': hits, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 }, bytes: 0, approximate: [],
        unique: { hosts: 0, users: 0, sections: 0 }, final: false,
      } } as never,
    });
    const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/;
    expect(stats(T, T + 5_000, 15)).toMatchObject({ type: 'stats', sections: [['/pages', 15]], last: { start: T, hits: 15 } });
    expect(model.last!.from).toMatch(ISO);
    expect(model.last!.to).toMatch(ISO);
    expect(stats(T + 5_000, T + 5_000, 0)).toBeNull();
    expect(model.last).toMatchObject({ start: T, end: T + 5_000, hits: 15 });
    expect(model.sections).toEqual([['/pages', 15]]);
    // Invalid lines are traffic too: they say why an interval counted no hits.
    expect(stats(T + 5_000, T + 10_000, 0, 4)).toMatchObject({ last: { hits: 0, invalid: 4 } });
  });

  test("the rules' alerts going on are listed until their recovery, a group each; the traffic state is theirs alone", () => {
    const model: InspectorModel = {
      files: ['a.log'], threshold: 2, windowSeconds: 4, state: 'normal', windowHits: 0, series: [], at: 0, sections: [], vhosts: [], last: null, history: [], historyLimit: 100, active: [],
    };
    const event = (e: unknown) => reduce(model, { type: '@xstate.event', actorRef: { id: 'reporter' } as never, rootId: 'x', sourceRef: undefined, event: e as never });
    const rule = (key: string) => ({ name: 'one-client', kind: 'rate' as const, group: { by: 'host' as const, key }, value: 4 });
    event({ type: 'alert', alert: { at: 5000, hits: 80, threshold: 3, window: 20, rule: rule('6.6.6.6') } });
    const second = event({ type: 'alert', alert: { at: 6000, hits: 81, threshold: 3, window: 20, rule: rule('7.7.7.7') } });
    expect(second).toMatchObject({ type: 'history', active: [{ at: 5000 }, { at: 6000 }] });
    expect(model.active.map((a) => a.message)).toEqual([
      expect.stringContaining('Rule "one-client" (host 6.6.6.6) fired - rate = 4 req/s > 3'),
      expect.stringContaining('Rule "one-client" (host 7.7.7.7) fired'),
    ]);
    event({ type: 'recovered', recovery: { at: 9000, hits: 60, threshold: 3, window: 20, since: 5000, rule: rule('6.6.6.6') } });
    expect(model.active.map((a) => a.at)).toEqual([6000]);
    expect(model.history.map((h) => h.type)).toEqual(['recovered', 'alert', 'alert']);
    expect(model.state).toBe('normal');
  });
});

describe('inspector model, bounded and printable', () => {
  const blank = (): InspectorModel => ({
    files: ['a.log'], threshold: 2, windowSeconds: 4, state: 'normal', windowHits: 0, series: [], at: 0, sections: [], vhosts: [], last: null, history: [], historyLimit: HISTORY_LIMIT, active: [],
  });
  const event = (model: InspectorModel, e: unknown) =>
    reduce(model, { type: '@xstate.event', actorRef: { id: 'reporter' } as never, rootId: 'x', sourceRef: undefined, event: e as never });

  test('the page gets the last 100 transitions of a long run, newest first; each update still carries its own', () => {
    const model = blank();
    for (let i = 0; i < 250; i++) {
      const at = 1000 * (i + 1);
      const update =
        i % 2 === 0
          ? event(model, { type: 'alert', alert: { at, hits: 9, threshold: 2, window: 4 } })
          : event(model, { type: 'recovered', recovery: { at, hits: 1, threshold: 2, window: 4, since: at - 1000 } });
      expect(update).toMatchObject({ type: 'history', entry: { at } });
    }
    expect(HISTORY_LIMIT).toBe(100);
    expect(model.history.length).toBe(100);
    expect(model.history[0]!.at).toBe(250_000);
    expect(model.history.at(-1)!.at).toBe(151_000);
  });

  test("sections from the log reach the page printable, as the terminal shows them", () => {
    const model = blank();
    event(model, {
      type: 'stats',
      stats: {
        start: 0, end: 5000, hits: 3, invalid: 0, late: 0, sections: [['/\x1b[2J', 2], ['/<img src=x>', 1]], users: [], hosts: [], methods: [], vhosts: [],
        status: { '1xx': 0, '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 }, bytes: 0, approximate: [], unique: { hosts: 0, users: 0, sections: 0 }, final: false,
      },
    });
    // Markup stays as it is: the page sets it as text.
    expect(model.sections).toEqual([['/\\x1b[2J', 2], ['/<img src=x>', 1]]);
  });

  test("a timed interval: the latency lines as the terminal prints them, each timed section's p99, the vhosts printable", () => {
    const model = blank();
    const update = event(model, { type: 'stats', stats: timedStats });
    expect(model.last).toMatchObject({ latency: latencyText(all.summary()!, 40), upstream: latencyText(timedStats.upstream!, 40) });
    expect(model.sections).toEqual([['/api', 30, msText(api.quantile(0.99))], ['/static', 10]]);
    expect(model.vhosts).toEqual([['shop.example', 25], ['\\x1b[2Japi.example', 15]]);
    expect(update).toMatchObject({ type: 'stats', vhosts: model.vhosts, sections: model.sections, last: { latency: model.last!.latency } });
    // An interval of a log without durations: no latency key at all, sections as they always were.
    event(model, { type: 'stats', stats: { ...timedStats, vhosts: [], latency: undefined, upstream: undefined, sectionLatency: undefined } });
    expect(Object.keys(model.last!)).not.toContain('latency');
    expect(Object.keys(model.last!)).not.toContain('upstream');
    expect(model.sections).toEqual([['/api', 30], ['/static', 10]]);
    expect(model.vhosts).toEqual([]);
  });

  test('the page sets what it shows as text, never as markup', () => {
    const app = fs.readFileSync(path.join(ROOT, 'inspector/app.js'), 'utf8');
    expect(app).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(/);
    expect(app).toContain('textContent');
  });
});

describe('inspector server', () => {
  test('only a loopback Host with its port is answered', () => {
    for (const host of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080', '[::1]:8080']) expect(isLoopbackHost(host, 8080)).toBe(true);
    for (const host of [null, '', 'evil.example:8080', '127.0.0.1', 'localhost', '127.0.0.1:8081', 'localhost.evil.example:8080', '127.0.0.2:8080', '[::1]']) {
      expect(isLoopbackHost(host, 8080)).toBe(false);
    }
  });

  test('a forged Host (DNS rebinding) is refused on every path, /events included; the loopback names are answered', async () => {
    const log = path.join(dir, 'host.log');
    fs.writeFileSync(log, '');
    const monitor = Bun.spawn([BUN, 'entry.ts', '-f', log, '--inspect', '--plain'], { cwd: ROOT, stdout: 'ignore', stderr: 'pipe' });
    try {
      const line = await waitForLine(monitor.stderr, /^inspector: /, 10_000);
      const port = Number(new URL(line.slice('inspector: '.length)).port);
      const get = (pathname: string, host: string) => fetch(`http://127.0.0.1:${port}${pathname}`, { headers: { host } });
      for (const pathname of ['/', '/app.js', '/app.css', '/statechart.svg', '/events', '/nothing']) {
        for (const host of [`evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost:${port + 1}`]) {
          const response = await get(pathname, host);
          expect(response.status).toBe(403);
          expect(response.headers.get('content-type')).toBe('text/plain');
          expect(await response.text()).not.toContain('statechart');
        }
      }
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
        expect((await get('/', host)).status).toBe(200);
        const events = await get('/events', host);
        expect(events.status).toBe(200);
        expect(events.headers.get('content-type')).toBe('text/event-stream');
        await events.body?.cancel();
      }
    } finally {
      monitor.kill('SIGINT');
      await monitor.exited;
    }
  }, 30_000);

  describe('an /events client that stops reading', () => {
    let inspector: Inspector;
    afterAll(() => inspector?.stop());
    const ref = { id: 'reporter' } as never;
    /** A window update of about 10 kB. */
    const update = (at: number) => ({
      type: '@xstate.event' as const, actorRef: ref, rootId: 'x', sourceRef: undefined,
      event: { type: 'window' as const, at, hits: 1, series: Array.from({ length: 2500 }, (_, i) => i % 10) },
    });
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

    test('is dropped once over 1 MiB waits for it, and what the server holds stays bounded; a client that reads is kept', async () => {
      inspector = startInspector({ port: 0, files: ['a.log'], threshold: 2, windowSeconds: 4, svg: '<svg/>' });
      const port = Number(new URL(inspector.url).port);

      // A client that reads everything it is sent.
      const reading = await fetch(`http://127.0.0.1:${port}/events`);
      const reader = reading.body!.getReader();
      let received = 0;
      let readerDone = false;
      void (async () => {
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          received += chunk.value.byteLength;
        }
        readerDone = true;
      })();

      // A client that sends its request and never reads a byte.
      const stalled = net.connect(port, '127.0.0.1');
      stalled.pause();
      let closed = false;
      stalled.on('close', () => {
        closed = true;
      });
      await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
      stalled.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      while (inspector.clients().connected < 2) await turn();

      let produced = 0;
      let maxBacklog = 0;
      const size = JSON.stringify(update(0).event).length + 20;
      for (let at = 1; inspector.clients().dropped === 0 && produced < 64 << 20; at++) {
        inspector.observe(update(at) as never);
        produced += size;
        maxBacklog = Math.max(maxBacklog, inspector.clients().backlog);
        // Every 20 updates, the event loop runs: the sockets take what they can.
        if (at % 20 === 0) await turn();
      }
      expect(inspector.clients().dropped).toBe(1);
      expect(produced).toBeLessThan(64 << 20);
      // Two clients: one about to be dropped, over the limit by at most one update; the other reading.
      expect(maxBacklog).toBeLessThan(2 * BACKLOG_LIMIT + 2 * size);
      expect(inspector.clients().connected).toBe(1);

      // The stalled connection is closed: once it reads, it gets what was in flight, then the end.
      let got = 0;
      stalled.on('data', (b: Buffer) => {
        got += b.length;
      });
      stalled.resume();
      while (!closed) await turn();
      expect(got).toBeLessThan(produced);

      // The client that reads is still there and gets the next update.
      const before = received;
      inspector.observe(update(1e9) as never);
      while (received === before && !readerDone) await turn();
      expect(readerDone).toBe(false);
      expect(inspector.clients()).toMatchObject({ connected: 1, dropped: 1 });
      await reader.cancel();
    }, 30_000);
  });
});
