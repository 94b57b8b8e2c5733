/**
 * The logs real servers write, read by the monitor as a process (issue 19, "Real servers in the
 * tests"). Debian's nginx, apache2 and caddy each serve the same site on two virtual hosts, proxy
 * part of it to an upstream that answers after chosen delays with chosen statuses, and log in
 * custom formats (nginx `timed` and an `escape=json` template, Apache `%D` and `%{ms}T`, Caddy's
 * JSON). The same planned requests go to all three; then `entry.ts --replay --json -s 3600` reads
 * each log, and its one interval must count what was sent and what the log holds: hits, status
 * classes, vhosts, methods, sections and bytes exactly, and request (and nginx's upstream)
 * latency quantiles within 1 % of the exact ones, computed here from the log's own durations
 * with the sketch's rank rule ⌊q (n − 1)⌋.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import { entryProcesses, parseStats, type StatsRecord } from './support/monitor-process';
import {
  APACHE_VTIMED, countBy, exactQuantile, type LogKind, type LoggedRequest, NGINX_JSON, NGINX_TIMED, planRequests,
  type PlannedRequest, readLog, type RealServer, type SentRequest, sendRequests, startApache, startCaddy, startNginx,
  startUpstream, statusClass, stopAllRealServers, unescapeApache, type Upstream,
} from './support/real-servers';

const REQUESTS = 400;
const SEED = 19;

/** A stack trace or an uncaught error's header on stderr (not our one-line `error: ` messages). */
const STACK = /^\s+at\s|^\s*\d+ \| |Unhandled|[Uu]ncaught|panic/m;

interface Timed { count: number; p50: number; p90: number; p99: number; max: number }
interface ServerStats extends StatsRecord {
  status: Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'other', number>;
  bytes: number;
  late: number;
  hosts: { host: string; hits: number }[];
  methods: { method: string; hits: number }[];
  sections: { section: string; hits: number; latency?: Timed }[];
  vhosts?: { vhost: string; hits: number }[];
  latency?: Timed;
  upstream?: Timed;
}

type Kind = RealServer['kind'];
const servers = {} as Record<Kind, RealServer>;
const sent = {} as Record<Kind, SentRequest[]>;
const logged = {} as Record<LogKind, LoggedRequest[]>;
let upstream: Upstream | undefined;
let plan: PlannedRequest[] = [];

/** Where each of the five logs comes from. */
const LOGS: Record<LogKind, { server: Kind; log: string }> = {
  'nginx-timed': { server: 'nginx', log: 'timed' },
  'nginx-json': { server: 'nginx', log: 'json' },
  'apache-vtimed': { server: 'apache', log: 'vtimed' },
  'apache-combinedms': { server: 'apache', log: 'combinedms' },
  caddy: { server: 'caddy', log: 'caddy' },
};
const logPath = (kind: LogKind) => servers[LOGS[kind].server].logs[LOGS[kind].log]!;

beforeAll(async () => {
  upstream = startUpstream();
  const [nginx, apache, caddy] = await Promise.all([startNginx(upstream.port), startApache(upstream.port), startCaddy(upstream.port)]);
  Object.assign(servers, { nginx, apache, caddy });
  plan = planRequests(REQUESTS, SEED);
  const kinds = ['nginx', 'apache', 'caddy'] as const;
  const answers = await Promise.all(kinds.map((k) => sendRequests(servers[k].port, plan)));
  kinds.forEach((k, i) => { sent[k] = answers[i]!; });
  // A server's logs are complete once it has exited.
  await Promise.all(kinds.map((k) => servers[k].stop()));
  for (const kind of Object.keys(LOGS) as LogKind[]) logged[kind] = readLog(kind, fs.readFileSync(logPath(kind), 'utf8'));
}, 40_000);

afterAll(async () => {
  await stopAllRealServers();
  upstream?.stop();
});

const { run } = entryProcesses();

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const sum = (xs: number[]) => xs.reduce((n, x) => n + x, 0);
const classes = (statuses: number[]) => {
  const out = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 } as Record<string, number>;
  for (const s of statuses) out[statusClass(s)]!++;
  return out;
};
/** A top list as `{ key: hits }`, whatever its key's name (`vhost`, `method`, `section`); a key listed twice shows. */
const counted = (rows: readonly { hits: number }[] | undefined, key: string) => {
  const out: Record<string, number> = {};
  for (const r of rows ?? []) {
    const k = String((r as unknown as Record<string, unknown>)[key]);
    out[k in out ? `${k} (again)` : k] = r.hits;
  }
  return out;
};
const sectionOf = (p: string) => `/${p.split('/')[1]}`;

/**
 * Within 1 % of the exact value at the rank, give or take the NDJSON's rounding to 1 µs; the
 * quantiles that are not, with what was expected.
 */
function offQuantiles(got: Timed | undefined, values: number[]) {
  const exact = sorted(values);
  const expected = { count: exact.length, p50: exactQuantile(exact, 0.5), p90: exactQuantile(exact, 0.9), p99: exactQuantile(exact, 0.99), max: exact.at(-1)! };
  if (!got) return [{ got, expected }];
  const off: { q: string; got: number; exact: number }[] = [];
  if (got.count !== expected.count) off.push({ q: 'count', got: got.count, exact: expected.count });
  for (const q of ['p50', 'p90', 'p99'] as const) {
    if (!(Math.abs(got[q] - expected[q]) <= 0.01 * expected[q] + 0.0005)) off.push({ q, got: got[q], exact: expected[q] });
  }
  if (!(Math.abs(got.max - expected.max) <= 0.0005)) off.push({ q: 'max', got: got.max, exact: expected.max });
  return off;
}

/** `entry.ts --replay -f LOG --json -s 3600 [--log-format VALUE]`: its one interval, and its stderr. */
async function replay(log: string, format?: string) {
  const args = ['--replay', '-f', log, '--json', '-s', '3600', ...(format === undefined ? [] : ['--log-format', format])];
  const { code, stdout, stderr } = await run(args);
  expect({ code, stack: stderr.match(STACK)?.[0] ?? null }, stderr).toEqual({ code: 0, stack: null });
  const stats = parseStats<ServerStats>(stdout.split('\n'));
  // The requests took a few seconds: one interval of an hour holds them all.
  expect(stats.map((s) => s.hits)).toHaveLength(1);
  return { stats: stats[0]!, stderr };
}

describe('the servers and their logs (what the monitor is checked against)', () => {
  test.each(['nginx', 'apache', 'caddy'] as const)('%s answered every request with the planned status', (kind) => {
    const wrong = sent[kind].filter((r) => r.gotStatus !== r.status).map((r) => `${r.vhost} ${r.method} ${r.target}: ${r.gotStatus}, planned ${r.status}`);
    expect(wrong).toEqual([]);
    expect(sent[kind]).toHaveLength(REQUESTS);
  });

  test('the upstream answered each proxied request once for each server', () => {
    expect(upstream!.answered).toBe(3 * plan.filter((p) => p.target.startsWith('/api/')).length);
  });

  test.each(Object.keys(LOGS) as LogKind[])('%s holds a line for every request: statuses, vhosts, methods and bytes as the client saw them', (kind) => {
    const rows = logged[kind];
    const answers = sent[LOGS[kind].server];
    expect(rows).toHaveLength(REQUESTS);
    expect(countBy(rows, (r) => String(r.status))).toEqual(countBy(answers, (r) => String(r.gotStatus)));
    expect(countBy(rows, (r) => r.vhost)).toEqual(countBy(plan, (p) => p.vhost));
    expect(countBy(rows, (r) => r.method)).toEqual(countBy(plan, (p) => p.method));
    expect(sum(rows.map((r) => r.bytes))).toBe(sum(answers.map((r) => r.gotBytes)));
    // Every line has a duration, and the proxied ones span the upstream's delays.
    expect(rows.every((r) => Number.isFinite(r.durationMs) && r.durationMs! >= 0)).toBe(true);
    expect(Math.max(...rows.map((r) => r.durationMs!))).toBeGreaterThan(250);
  });
});

/** Each log and the `--log-format` values that name its format (the @FILE ones from the server's own config). */
const CASES: [string, LogKind, () => string][] = [
  ['nginx timed, the format string', 'nginx-timed', () => NGINX_TIMED],
  ['nginx timed, @nginx.conf:timed', 'nginx-timed', () => `@${servers.nginx.config}:timed`],
  ['nginx escape=json, the JSON template', 'nginx-json', () => NGINX_JSON],
  ['nginx escape=json, @nginx.conf:json', 'nginx-json', () => `@${servers.nginx.config}:json`],
  ['Apache %v … %D, the LogFormat string', 'apache-vtimed', () => unescapeApache(APACHE_VTIMED)],
  ['Apache %v … %D, @apache2.conf:vtimed', 'apache-vtimed', () => `@${servers.apache.config}:vtimed`],
  ['Apache combined + %{ms}T %v, @apache2.conf:combinedms', 'apache-combinedms', () => `@${servers.apache.config}:combinedms`],
  ['Caddy JSON, caddy', 'caddy', () => 'caddy'],
];

describe('the monitor over each log', () => {
  test.each(CASES)('%s: hits, statuses, vhosts, methods, sections and bytes exact; latency within 1 %%', async (_, kind, format) => {
    const rows = logged[kind];
    const { stats } = await replay(logPath(kind), format());
    expect({ hits: stats.hits, invalid: stats.invalid }).toEqual({ hits: rows.length, invalid: 0 });
    expect(stats.status).toEqual(classes(rows.map((r) => r.status)));
    expect(stats.bytes).toBe(sum(rows.map((r) => r.bytes)));
    expect(counted(stats.vhosts, 'vhost')).toEqual(countBy(rows, (r) => r.vhost));
    expect(counted(stats.methods, 'method')).toEqual(countBy(rows, (r) => r.method));
    expect(counted(stats.sections, 'section')).toEqual(countBy(rows, (r) => sectionOf(r.path)));
    expect(stats.hosts).toEqual([{ host: '127.0.0.1', hits: rows.length }]);
    expect(offQuantiles(stats.latency, rows.map((r) => r.durationMs!))).toEqual([]);
    // Each section's own latency (/api's proxied delays, the servers' own quick answers) alike.
    for (const { section, latency } of stats.sections) {
      expect({ section, off: offQuantiles(latency, rows.filter((r) => sectionOf(r.path) === section).map((r) => r.durationMs!)) }).toEqual({ section, off: [] });
    }
    const proxied = rows.filter((r) => r.upstreamMs !== undefined);
    if (kind.startsWith('nginx')) {
      // $upstream_response_time: the proxied requests only (`-`, or "" in JSON, for the others).
      expect(proxied.length).toBe(plan.filter((p) => p.target.startsWith('/api/')).length);
      expect(offQuantiles(stats.upstream, proxied.map((r) => r.upstreamMs!))).toEqual([]);
    } else {
      expect(stats.upstream).toBeUndefined();
    }
  });

  test('Caddy without --log-format: detected (said once on stderr), and counted as with --log-format caddy', async () => {
    const detected = await replay(logPath('caddy'));
    const named = await replay(logPath('caddy'), 'caddy');
    expect(detected.stats).toEqual(named.stats);
    const said = detected.stderr.split('\n').filter((l) => /caddy/i.test(l));
    expect(said, detected.stderr).toHaveLength(1);
    expect(named.stderr).not.toMatch(/caddy/i);
  });
});

describe('format over each log', () => {
  const FORMATS: [LogKind, () => string][] = [
    ['nginx-timed', () => `@${servers.nginx.config}:timed`],
    ['nginx-json', () => `@${servers.nginx.config}:json`],
    ['apache-vtimed', () => `@${servers.apache.config}:vtimed`],
    ['apache-combinedms', () => `@${servers.apache.config}:combinedms`],
    ['caddy', () => 'caddy'],
  ];
  test.each(FORMATS)('%s: every line parses', async (kind, format) => {
    const { code, stdout, stderr } = await run(['format', '--log-format', format(), '-f', logPath(kind), '-n', '1']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`\\b${REQUESTS} of the first ${REQUESTS} lines parse \\(100(\\.0)? %\\)`));
  });
});
