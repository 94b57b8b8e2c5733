/**
 * Notifications end to end: the real program (`bun entry.ts`), real log files in a temp dir, and
 * webhook receivers served by this file (Bun.serve on 127.0.0.1). What a receiver gets is checked
 * against what the same run prints with --json, for the high-traffic rule of -t/-a and for the
 * rules of a rules file, in each --notify-format; then failing receivers (5xx, 4xx, one that never
 * answers), --notify-exec, rules files that do not check out, and determinism (two replays, and a
 * live run against a replay of the file it followed).
 *
 * Replays are exact: the log's timestamps are the clock. The live runs follow a file on the wall
 * clock; they are waited for with deadlines on what the process prints or the receivers get.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineReader } from './support/line-reader';
import { entryProcesses, exitWithin, isStats, parseStats } from './support/monitor-process';

// ---------------------------------------------------------------------------------------------
// Processes: every one this file starts is killed at the end of its test, passed or failed.

const { spawn, run } = entryProcesses();

/** A monitor left running, its stdout and stderr read line by line as they come. */
function live(args: string[]) {
  const proc = spawn(args);
  const err = new LineReader(proc.stderr);
  const out = new LineReader(proc.stdout, () => `\nstderr:\n${err.lines.join('\n')}`);
  return { proc, out, err };
}


/**
 * Resolves as soon as `ready()` holds, looking every 20 ms; at the deadline, fails with `what`
 * and `context()` (the output so far).
 */
async function waitUntil(what: string, ms: number, ready: () => boolean, context: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() >= deadline) throw new Error(`no ${what} within ${ms} ms; so far:\n${context()}`);
    await Bun.sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Receivers

interface Received {
  body: string;
  contentType: string | null;
  path: string;
  /** The status it was answered with; undefined while it hangs. */
  status?: number;
  /** Wall ms when it arrived. */
  at: number;
}

const servers: ReturnType<typeof Bun.serve>[] = [];

/**
 * A webhook receiver at `http://127.0.0.1:PORT/hooks/SECRET-…` answering its nth request (from 1)
 * with the status `answer(n, body)` gives, or never when that is `'hang'`.
 */
function receiver(answer: (n: number, body: string) => number | 'hang' = () => 200) {
  const requests: Received[] = [];
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0, // a hanging answer stays hanging; the client's timeout is what is tested
    async fetch(request) {
      const received: Received = {
        body: await request.text(),
        contentType: request.headers.get('content-type'),
        path: new URL(request.url).pathname,
        at: Date.now(),
      };
      requests.push(received);
      const status = answer(requests.length, received.body);
      if (status === 'hang') return new Promise<Response>(() => {});
      received.status = status;
      return new Response(status < 300 ? 'ok' : 'no', { status });
    },
  });
  servers.push(server);
  const origin = `http://127.0.0.1:${server.port}`;
  return {
    /** Scheme and host: all a message may name. */
    origin,
    /** The path is the webhook's secret. */
    url: `${origin}/hooks/SECRET-${server.port}`,
    requests,
    /** The bodies answered with a 2xx, in order. */
    delivered: () => requests.filter((r) => r.status !== undefined && r.status < 300).map((r) => r.body),
    describe: () => requests.map((r) => `${r.status ?? 'hanging'} ${r.body}`).join('\n'),
  };
}

// ---------------------------------------------------------------------------------------------
// Logs

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-notify-'));

afterAll(() => {
  for (const server of servers) server.stop(true);
  fs.rmSync(dir, { recursive: true, force: true });
});

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** A CLF line stamped at `ms` (UTC, to the second). */
function clf(ms: number, host: string, section: string, status: number, seq: number): string {
  const d = new Date(ms);
  const stamp =
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
  return `${host} - - [${stamp}] "GET ${section}/item/${seq} HTTP/1.1" ${status} 100`;
}

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

/**
 * The incident, 300 s from 10:00:00: 5 lines a second from 10.0.0.1-5 (one of them to /shop);
 * from 60 s to 120 s host 6.6.6.6 sends 5 more a second; /shop stops from 150 s to 220 s; from
 * 170 s to 200 s two lines a second out of five are 503s.
 */
function incidentLog(): string {
  const lines: string[] = [];
  for (let s = 0; s < 300; s++) {
    const ms = T0 + s * 1000;
    for (let i = 0; i < 5; i++) {
      const shop = i === 4 && (s < 150 || s >= 220);
      const status = s >= 170 && s < 200 && i < 2 ? 503 : 200;
      lines.push(clf(ms, `10.0.0.${i + 1}`, shop ? '/shop' : '/api', status, s));
    }
    if (s >= 60 && s < 120) for (let i = 0; i < 5; i++) lines.push(clf(ms, '6.6.6.6', '/api', 200, s));
  }
  return `${lines.join('\n')}\n`;
}

const RULES_YAML = `rules:
  - name: hot-host
    rate: 3
    window: 30s
    by: host
  - name: server-errors
    ratio: 20%
    match: { status: 503 }
    window: 30s
  - name: shop-silent
    silence: 1
    match: { section: /shop }
    window: 30s
`;

const RULES_TOML = `[[rules]]
name = "hot-host"
rate = 3
window = "30s"
by = "host"

[[rules]]
name = "server-errors"
ratio = "20%"
match = { status = 503 }
window = "30s"

[[rules]]
name = "shop-silent"
silence = 1
match = { section = "/shop" }
window = "30s"
`;

/** rules[1].window, on line 7, is not a duration. */
const RULES_BAD = `rules:
  - name: hot-host
    rate: 3
    by: host
  - name: server-errors
    ratio: 20%
    window: 30 seconds
`;

const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};
const incident = write('incident.log', incidentLog());
const rulesYaml = write('rules.yaml', RULES_YAML);
const rulesToml = write('rules.toml', RULES_TOML);
const rulesBad = write('bad.yaml', RULES_BAD);

/** The incident replayed with -t 7 -a 30 and the three rules, alerts and recoveries only. */
const INCIDENT = ['--replay', '-f', incident, '-t', '7', '-a', '30', '--rules', rulesYaml, '--json', '--quiet'];

// ---------------------------------------------------------------------------------------------
// Records

interface Event {
  type: 'alert' | 'recovered';
  rule?: string;
  group?: { by: string; key: string } | null;
  at: string;
  hits: number;
  since?: string;
  message: string;
}

const isEvent = (line: string) => line.startsWith('{"type":"alert"') || line.startsWith('{"type":"recovered"');
const eventLines = (text: string) => text.split('\n').filter(isEvent);
const eventsOf = (text: string) => eventLines(text).map((l) => JSON.parse(l) as Event);

/** What an event is, without its instants: the kind, the rule and group, the hits. */
const kindOf = (e: Event) => ({ type: e.type, rule: e.rule ?? null, group: e.group ?? null, hits: e.hits });

/** A line as Slack's text takes it: `&`, `<` and `>` escaped (a rule's line holds `>`). */
const slackEscaped = (line: string) => line.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The labels of an event's notification: the rule's name (HighTraffic for -t), and its group's field. */
function labelsOf(e: Event): Record<string, string> {
  const labels: Record<string, string> = { alertname: e.rule ?? 'HighTraffic' };
  if (e.group) labels[e.group.by] = e.group.key;
  return labels;
}

/** json bodies by alert (rule and group), in the order given: what delivery keeps in order. */
function perAlert(bodies: string[]): Record<string, string[]> {
  const alerts: Record<string, string[]> = {};
  for (const b of bodies) {
    const e = JSON.parse(b) as Event;
    (alerts[JSON.stringify(labelsOf(e))] ??= []).push(b);
  }
  return alerts;
}

/** The incident's alerts and recoveries, in order: what the tests below are built on. */
const INCIDENT_EVENTS: { type: Event['type']; rule: string | null; group: { by: string; key: string } | null; at: string }[] = [
  { type: 'alert', rule: null, group: null, at: iso(73) },
  { type: 'alert', rule: 'hot-host', group: { by: 'host', key: '6.6.6.6' }, at: iso(79) },
  { type: 'recovered', rule: 'hot-host', group: { by: 'host', key: '6.6.6.6' }, at: iso(132) },
  { type: 'recovered', rule: null, group: null, at: iso(138) },
  { type: 'alert', rule: 'shop-silent', group: null, at: iso(180) },
  { type: 'alert', rule: 'server-errors', group: null, at: iso(186) },
  { type: 'recovered', rule: 'server-errors', group: null, at: iso(215) },
  { type: 'recovered', rule: 'shop-silent', group: null, at: iso(221) },
];

/** The incident replayed with every alert and recovery POSTed to one receiver in `format`. */
async function notifiedReplay(format: 'json' | 'alertmanager' | 'slack', args = INCIDENT) {
  const hook = receiver();
  const result = await run([...args, '--notify', hook.url, '--notify-format', format]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const events = eventsOf(result.stdout);
  return { hook, events, lines: eventLines(result.stdout) };
}

/** Each event reached the receiver exactly once: as many requests as events, all answered, all different. */
function expectOnceEach(hook: ReturnType<typeof receiver>, events: Event[]) {
  expect(hook.requests).toHaveLength(events.length);
  expect(new Set(hook.delivered()).size).toBe(events.length);
  for (const r of hook.requests) {
    expect(r.contentType).toBe('application/json');
    expect(r.path).toBe(new URL(hook.url).pathname);
  }
}

// ---------------------------------------------------------------------------------------------
// Live runs

/**
 * Appends lines stamped with the wall clock's current second, one group per second: group k is
 * written 150 ms into the k-th second after the call, so that a follower reads it well before
 * the second ends and its evaluation (at the next second) counts it. The waits place the writes
 * on the wall clock; they assert nothing.
 */
async function writeLive(file: string, perSecond: ((ms: number, k: number) => string[])[]) {
  for (let k = 0; k < perSecond.length; k++) {
    await Bun.sleep(1150 - (Date.now() % 1000));
    const second = Math.floor(Date.now() / 1000) * 1000;
    fs.appendFileSync(file, perSecond[k]!(second, k).map((l) => `${l}\n`).join(''));
  }
}

/** A live follower of `file` (-s 1, --json, quick polls), ready once it prints its first stats record. */
async function follow(file: string, args: string[]) {
  const monitor = live(['-f', file, '-s', '1', '--json', '--poll-ms', '50', ...args]);
  await monitor.out.waitForLine('a first stats record', 10_000, isStats);
  return monitor;
}

// ---------------------------------------------------------------------------------------------

describe('the incident replayed, notified in each format', () => {
  test('json: the body of each alert and recovery is its --json record, delivered once each', async () => {
    const { hook, events, lines } = await notifiedReplay('json');
    expect(events.map(({ type, rule, group, at }) => ({ type, rule: rule ?? null, group: group ?? null, at }))).toEqual(INCIDENT_EVENTS);
    expectOnceEach(hook, events);
    expect(hook.delivered()).toEqual(lines);
    expect(hook.delivered().map((b) => JSON.parse(b))).toEqual(events);
  }, 30_000);

  test('alertmanager: version 4, firing then resolved with one fingerprint, labels of the rule and its group', async () => {
    const { hook, events } = await notifiedReplay('alertmanager');
    expect(events).toHaveLength(INCIDENT_EVENTS.length);
    expectOnceEach(hook, events);
    const bodies = hook.delivered().map((b) => JSON.parse(b));
    const fingerprints = new Map<string, string>();
    bodies.forEach((body, i) => {
      const e = events[i]!;
      const labels = labelsOf(e);
      const status = e.type === 'alert' ? 'firing' : 'resolved';
      expect(body).toMatchObject({ version: '4', status, groupLabels: labels, commonLabels: labels, truncatedAlerts: 0 });
      expect(body.alerts).toHaveLength(1);
      const alert = body.alerts[0];
      expect(alert.status).toBe(status);
      expect(alert.labels).toEqual(labels);
      expect(alert.annotations).toEqual({ summary: e.message });
      expect(alert.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      if (e.type === 'alert') {
        expect(alert.startsAt).toBe(e.at);
        expect(alert.endsAt).toBe('0001-01-01T00:00:00Z');
        fingerprints.set(JSON.stringify(labels), alert.fingerprint);
      } else {
        // The alert it ends: its start, and its fingerprint.
        expect(alert.startsAt).toBe(e.since!);
        expect(alert.endsAt).toBe(e.at);
        expect(fingerprints.get(JSON.stringify(labels))).toBe(alert.fingerprint);
      }
    });
    // The high-traffic rule, and the grouped rule with its host among the labels.
    expect(bodies[0].alerts[0].labels).toEqual({ alertname: 'HighTraffic' });
    expect(bodies[1].alerts[0].labels).toEqual({ alertname: 'hot-host', host: '6.6.6.6' });
    expect(bodies[1].alerts[0].startsAt).toBe(iso(79));
    expect(bodies[2]).toMatchObject({ status: 'resolved', alerts: [{ startsAt: iso(79), endsAt: iso(132) }] });
    expect(bodies[3]).toMatchObject({ status: 'resolved', alerts: [{ startsAt: iso(73), endsAt: iso(138) }] });
    // One fingerprint per label set, different label sets told apart.
    expect(fingerprints.size).toBe(4);
    expect(new Set(fingerprints.values()).size).toBe(4);
  }, 30_000);

  test('slack: the text is the line, marked firing or resolved; the labels under it', async () => {
    const { hook, events } = await notifiedReplay('slack');
    expect(events).toHaveLength(INCIDENT_EVENTS.length);
    expectOnceEach(hook, events);
    const bodies = hook.delivered().map((b) => JSON.parse(b));
    bodies.forEach((body, i) => {
      const e = events[i]!;
      expect(body.text).toContain(slackEscaped(e.message));
      expect(body.text.startsWith(e.type === 'alert' ? '[FIRING]' : '[RESOLVED]')).toBe(true);
      expect(Array.isArray(body.blocks)).toBe(true);
      expect(JSON.stringify(body.blocks)).toContain(`alertname=${labelsOf(e).alertname}`);
    });
    expect(bodies[0].text).toBe('[FIRING] High traffic generated an alert - hits = 215, triggered at 2026-01-01T10:01:13+00:00');
    expect(bodies[1].text).toContain('Rule "hot-host" (host 6.6.6.6) fired');
    expect(JSON.stringify(bodies[1].blocks)).toContain('host=6.6.6.6');
  }, 30_000);
});

describe('failing receivers', () => {
  test('a receiver that answers 500 twice, then 200, gets each event once (the first one in its third request)', async () => {
    const log = write('retry.log', '');
    const hook = receiver((n) => (n <= 2 ? 500 : 200));
    const monitor = await follow(log, ['-t', '1', '-a', '2', '--notify', hook.url]);
    await writeLive(log, [(ms) => Array.from({ length: 10 }, (_, i) => clf(ms, '10.0.0.1', '/api', 200, i))]);
    // The alert after 1 s and 2 s of backoff, then its recovery.
    await waitUntil('alert and recovery delivered', 15_000, () => hook.delivered().length >= 2, () =>
      `requests:\n${hook.describe()}\nstdout:\n${monitor.out.lines.join('\n')}\nstderr:\n${monitor.err.lines.join('\n')}`,
    );
    monitor.proc.kill('SIGTERM');
    expect(await exitWithin(monitor.proc, 8_000)).toBe(0);

    const events = eventLines(monitor.out.lines.join('\n'));
    expect(events.map((l) => JSON.parse(l).type)).toEqual(['alert', 'recovered']);
    expect(hook.requests.map((r) => [r.status, r.body])).toEqual([
      [500, events[0]],
      [500, events[0]],
      [200, events[0]],
      [200, events[1]],
    ]);
    const [first, second, third] = hook.requests.map((r) => r.at);
    expect(second! - first!).toBeGreaterThanOrEqual(900);
    expect(third! - second!).toBeGreaterThanOrEqual(1900);
  }, 30_000);

  test('a replay whose receiver answers 500 twice, then 200, still delivers every event once (retries at exit come sooner), each alert before its recovery, with nothing to report', async () => {
    const hook = receiver((n) => (n <= 2 ? 500 : 200));
    const result = await run([...INCIDENT, '--notify', hook.url]);
    expect(result.code).toBe(0);
    // The two alerts refused first are retried while the others go on: the order is kept per alert.
    const lines = eventLines(result.stdout);
    expect(hook.delivered().toSorted()).toEqual(lines.toSorted());
    expect(perAlert(hook.delivered())).toEqual(perAlert(lines));
    expect(hook.requests.filter((r) => r.status === 500)).toHaveLength(2);
    expect(result.stderr).toBe('');
  }, 30_000);

  test('a 404 is not retried: one request per event, one warning naming the redacted URL, exit 0', async () => {
    const hook = receiver(() => 404);
    const result = await run([...INCIDENT, '--notify', hook.url]);
    expect(result.code).toBe(0);
    const events = eventsOf(result.stdout);
    expect(events).toHaveLength(INCIDENT_EVENTS.length);
    expect(hook.requests.map((r) => r.body)).toEqual(eventLines(result.stdout));
    const warnings = result.stderr.split('\n').filter((l) => l !== '');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.startsWith(`warn: notifications to ${hook.origin} failing: HTTP 404`)).toBe(true);
    expect(result.stderr).not.toContain('SECRET');
  }, 30_000);

  test('a receiver that never answers: stats keep their interval, the target is reported, SIGTERM exits 0 within the last attempt', async () => {
    const log = write('hang.log', '');
    const hook = receiver(() => 'hang');
    const monitor = await follow(log, ['-t', '1', '-a', '2', '--notify', hook.url]);
    fs.appendFileSync(log, Array.from({ length: 10 }, (_, i) => `${clf(Date.now(), '10.0.0.1', '/api', 200, i)}\n`).join(''));
    await monitor.out.waitForLine('the alert', 5_000, (l) => l.startsWith('{"type":"alert"'));
    await waitUntil('request to the receiver', 5_000, () => hook.requests.length > 0, hook.describe);
    // The attempt times out after 5 s; the report comes at the next 10 s tick.
    const warning = await monitor.err.waitForLine('warning about the receiver', 25_000, (l) =>
      l.startsWith(`warn: notifications to ${hook.origin} failing: `),
    );
    expect(warning).toContain('timed out after 5 s');
    expect(warning).not.toContain('SECRET');

    // Meanwhile, one stats record a second (intervals close at start + k s), none missing, the latest recent.
    const stats = parseStats(monitor.out.lines);
    expect(stats.length).toBeGreaterThanOrEqual(8);
    expect(stats.some((s) => s.final)).toBe(false);
    for (const s of stats) expect(Date.parse(s.end) - Date.parse(s.start)).toBe(1000);
    for (let i = 1; i < stats.length; i++) expect(stats[i]!.start).toBe(stats[i - 1]!.end);
    expect(Date.now() - Date.parse(stats.at(-1)!.end)).toBeLessThan(2_500);

    const stopped = Date.now();
    monitor.proc.kill('SIGTERM');
    expect(await exitWithin(monitor.proc, 8_000)).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(5_000);
    await monitor.out.done;
    expect(parseStats(monitor.out.lines).at(-1)!.final).toBe(true);
  }, 45_000);
});

/** The high-traffic rule's events (json format): the only ones without a `rule`. */
const isHighTraffic = (body: string) => !('rule' in JSON.parse(body));

describe('one alert failing, or one target', () => {
  test("a replay whose receiver hangs for the high-traffic alert still delivers the other rules' events, in order, within the 3 s at exit", async () => {
    const hook = receiver((_, body) => (isHighTraffic(body) ? 'hang' : 200));
    const started = Date.now();
    const result = await run([...INCIDENT, '--notify', hook.url]);
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const lines = eventLines(result.stdout);
    expect(lines).toHaveLength(INCIDENT_EVENTS.length);
    // Only the high-traffic alert was tried (its recovery waits for it), and it hung until the exit.
    expect(hook.requests.filter((r) => isHighTraffic(r.body)).map((r) => r.body)).toEqual([lines[0]!]);
    expect(hook.delivered()).toEqual(lines.filter((l) => !isHighTraffic(l)));
    const warnings = result.stderr.split('\n').filter((l) => l !== '');
    expect(warnings).toEqual([`warn: notifications to ${hook.origin} failing: not sent before exit (0 events waiting, 2 given up)`]);
  }, 30_000);

  test('live: a receiver that hangs does not delay another target, and one hanging for one alert does not hold another alert', async () => {
    const log = write('two-keys.log', '');
    const rules = write('two-keys-rules.yaml', 'rules:\n  - name: hot-host\n    rate: 1\n    window: 6s\n    by: host\n');
    const dead = receiver(() => 'hang');
    const picky = receiver((_, body) => (isHighTraffic(body) ? 'hang' : 200));
    const healthy = receiver();
    const targets = [dead, picky, healthy].flatMap((r) => ['--notify', r.url]);
    const monitor = await follow(log, ['-t', '2', '-a', '4', '--rules', rules, ...targets]);
    // As in the determinism test below: the traffic alert fires at 4 s and recovers at 11 s, the
    // rule for 6.6.6.6 fires at 5 s and recovers at 12 s.
    const base = (ms: number, k: number) => [clf(ms, '10.0.0.1', '/api', 200, k)];
    const burst = (ms: number, k: number) => [...base(ms, k), ...Array.from({ length: 5 }, (_, i) => clf(ms, '6.6.6.6', '/api', 200, k * 10 + i))];
    await writeLive(log, [base, base, base, burst, burst, burst, burst, base, base, base, base, base, base]);
    const context = () =>
      `dead:\n${dead.describe()}\npicky:\n${picky.describe()}\nhealthy:\n${healthy.describe()}\n` +
      `stdout:\n${monitor.out.lines.join('\n')}\nstderr:\n${monitor.err.lines.join('\n')}`;
    await waitUntil('the four events at the healthy receiver, the hot-host ones at the picky one', 10_000, () => healthy.delivered().length >= 4 && picky.delivered().length >= 2, context);
    monitor.proc.kill('SIGTERM');
    expect(await exitWithin(monitor.proc, 8_000)).toBe(0);

    const lines = eventLines(monitor.out.lines.join('\n'));
    expect(lines.map((l) => kindOf(JSON.parse(l))).map((k) => `${k.type} ${k.rule}`)).toEqual(['alert null', 'alert hot-host', 'recovered null', 'recovered hot-host']);
    // Each event reached the healthy receiver, in order, within 2 s of its instant; the dead one got the first.
    expect(healthy.delivered()).toEqual(lines);
    for (const r of healthy.requests) expect(r.at - Date.parse(JSON.parse(r.body).at)).toBeLessThan(2_000);
    expect(dead.requests.map((r) => r.body)[0]).toBe(lines[0]);
    // The picky receiver hangs on the traffic alert, but got the hot-host alert and its recovery on time.
    expect(picky.delivered()).toEqual(lines.filter((l) => !isHighTraffic(l)));
    for (const r of picky.requests.filter((r) => !isHighTraffic(r.body))) expect(r.at - Date.parse(JSON.parse(r.body).at)).toBeLessThan(2_500);
    expect(monitor.err.lines.join('\n')).not.toContain('SECRET');
  }, 60_000);
});

describe('--notify-exec', () => {
  test('each command gets one JSON line per alert and recovery, equal to the --json records', async () => {
    const first = path.join(dir, 'exec-1.ndjson');
    const second = path.join(dir, 'exec-2.ndjson');
    const result = await run([...INCIDENT, '--notify-exec', `cat >> '${first}'`, '--notify-exec', `cat >> '${second}'`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = eventLines(result.stdout);
    expect(lines).toHaveLength(INCIDENT_EVENTS.length);
    expect(fs.readFileSync(first, 'utf8')).toBe(lines.map((l) => `${l}\n`).join(''));
    expect(fs.readFileSync(second, 'utf8')).toBe(lines.map((l) => `${l}\n`).join(''));
  }, 30_000);
});

describe('rules files', () => {
  test('an error exits 2 with one line naming the file, line and field, and no usage', async () => {
    for (const flag of ['--rules', '--check-rules']) {
      const result = await run(['--replay', '-f', incident, flag, rulesBad]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      // The house prefix of every error line, then the file, line and field.
      expect(lines[0]!.startsWith(`error: ${rulesBad}:7: rules[1].window: `)).toBe(true);
      expect(result.stderr).not.toContain('usage');
    }
  }, 30_000);

  test('--check-rules of a good file (YAML or TOML) prints one line per rule and exits 0', async () => {
    const expected =
      'hot-host: all hits per host > 3 req/s over 30s, busiest 100 hosts · memory ≤ 832 kB\n' +
      'server-errors: 503 / all hits > 20 % over 30s · memory ≤ 8.45 kB\n' +
      'shop-silent: /shop < 1 hit over 30s · memory ≤ 8.32 kB\n' +
      '3 rules: memory ≤ 849 kB of the 256 MB limit\n';
    expect(await run(['--check-rules', rulesYaml])).toEqual({ code: 0, stdout: expected, stderr: '' });
    expect(await run(['--check-rules', rulesToml])).toEqual({ code: 0, stdout: expected, stderr: '' });
  }, 30_000);

  test('a TOML rules file replays and notifies as its YAML twin does', async () => {
    const yaml = await notifiedReplay('json');
    const toml = await notifiedReplay('json', INCIDENT.map((a) => (a === rulesYaml ? rulesToml : a)));
    expect(toml.lines).toEqual(yaml.lines);
    expect(toml.hook.delivered()).toEqual(yaml.hook.delivered());
  }, 30_000);
});

describe('determinism', () => {
  test('the incident replayed twice notifies the same bodies', async () => {
    const [a, b] = await Promise.all([notifiedReplay('alertmanager'), notifiedReplay('alertmanager')]);
    expect(a.hook.delivered()).toHaveLength(INCIDENT_EVENTS.length);
    expect(b.hook.delivered()).toEqual(a.hook.delivered());
  }, 30_000);

  test('a live run notifies the events a replay of the file it followed notifies, in the same order', async () => {
    const log = write('live.log', '');
    const rules = write('live-rules.yaml', 'rules:\n  - name: hot-host\n    rate: 1\n    window: 6s\n    by: host\n');
    const args = ['-t', '2', '-a', '4', '--rules', rules];
    const hook = receiver();
    const monitor = await follow(log, [...args, '--notify', hook.url]);
    // 10.0.0.1 sends a line a second throughout; 6.6.6.6 sends 5 a second in seconds 3 to 6. The
    // traffic alert fires at 4 and recovers at 11, the rule for 6.6.6.6 fires at 5 and recovers
    // at 12; the lines go on to 15, so that the replay, which ends with them, sees it all too.
    const base = (ms: number, k: number) => [clf(ms, '10.0.0.1', '/api', 200, k)];
    const burst = (ms: number, k: number) => [...base(ms, k), ...Array.from({ length: 5 }, (_, i) => clf(ms, '6.6.6.6', '/api', 200, k * 10 + i))];
    await writeLive(log, [base, base, base, burst, burst, burst, burst, base, base, base, base, base, base, base, base, base]);
    await waitUntil('four notifications from the live run', 10_000, () => hook.delivered().length >= 4, () =>
      `requests:\n${hook.describe()}\nstdout:\n${monitor.out.lines.join('\n')}\nstderr:\n${monitor.err.lines.join('\n')}`,
    );
    monitor.proc.kill('SIGTERM');
    expect(await exitWithin(monitor.proc, 8_000)).toBe(0);
    const liveEvents = hook.delivered().map((b) => JSON.parse(b) as Event);

    const replayed = await notifiedReplay('json', ['--replay', '-f', log, ...args, '--json', '--quiet']);
    const replayEvents = replayed.hook.delivered().map((b) => JSON.parse(b) as Event);
    expect(replayEvents.map(kindOf)).toEqual([
      { type: 'alert', rule: null, group: null, hits: 9 },
      { type: 'alert', rule: 'hot-host', group: { by: 'host', key: '6.6.6.6' }, hits: 10 },
      { type: 'recovered', rule: null, group: null, hits: 4 },
      { type: 'recovered', rule: 'hot-host', group: { by: 'host', key: '6.6.6.6' }, hits: 5 },
    ]);
    expect(liveEvents.map(kindOf)).toEqual(replayEvents.map(kindOf));
    // Each second's lines were read within their second, so the instants are exact too: the same bodies.
    expect(hook.delivered()).toEqual(replayed.hook.delivered());
  }, 60_000);
});
