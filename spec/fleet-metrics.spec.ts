/**
 * The fleet's /metrics as real processes: a real nats-server (127.0.0.1, a free port, stopped by
 * its PID in afterAll), an agent with `--metrics` following a file the spec writes (CLF lines
 * stamped with the current time), and the centre (`--nats --json --metrics`). Both endpoints are
 * scraped over HTTP: the requests counted are the lines written, at the agent (what it published)
 * and at the centre (what the merged stream held); the centre shows the agent reporting and its
 * clock lag. The centre is then killed (SIGKILL: nothing but its last record survives) and started
 * again: its requests_total is never lower than before the kill, and once it has read the stream
 * again it is the lines written exactly (nothing counted twice), then goes on with new lines. The
 * agent is killed and started again too: it goes on from the totals its last message carries.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectNoStack, type Spawned, spawnInto, stopAll, transcript } from './support/fleet-process';
import { exitWithin, parseStats, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';
import { createActor } from 'xstate';
import { fleetFeed } from '../actors/fleet-feed';
import type { CountsMessage } from '../lib/wire';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-fleet-metrics-'));
const started: Spawned[] = [];

afterAll(async () => {
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const spawn = (args: string[]) => spawnInto(started, args);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
const clfTime = (at: Date) =>
  `${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;

/** Line i, stamped now: statuses 200, 404 and 500 in turn. */
const line = (i: number) => `10.0.0.${i % 9} - - [${clfTime(new Date())}] "GET /api/item/${i % 5} HTTP/1.1" ${[200, 404, 500][i % 3]} ${100 + i} "-" "curl/8"\n`;

/** Appends `count` lines in ticks of 10 every 100 ms, numbered from `from`. */
async function writeLines(file: string, from: number, count: number) {
  for (let i = from; i < from + count; i += 10) {
    fs.appendFileSync(file, Array.from({ length: Math.min(10, from + count - i) }, (_, k) => line(i + k)).join(''));
    await Bun.sleep(100);
  }
}

/** The URL a process printed on stderr (`metrics: http://…/metrics`). */
async function metricsUrl(p: Spawned): Promise<string> {
  const l = await p.err.waitForLine('the metrics line', 15_000, (l) => l.startsWith('metrics: http://'));
  return l.slice('metrics: '.length);
}

/** The samples of a text exposition: `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const samples = new Map<string, number>();
  for (const l of (await response.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(l);
    if (m) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

/** The sum of a family's samples (its name and any labels). */
const total = (samples: Map<string, number>, name: string) =>
  [...samples].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((n, [, v]) => n + v, 0);

const REQUESTS = 'http_log_monitor_requests_total';

/** Scrapes until `ready` holds of the samples (or the deadline): the last samples. */
async function scrapeUntil(url: string, ms: number, ready: (s: Map<string, number>) => boolean, seen?: number[]) {
  const end = Date.now() + ms;
  for (;;) {
    const samples = await scrape(url);
    seen?.push(total(samples, REQUESTS));
    if (ready(samples) || Date.now() > end) return samples;
    await Bun.sleep(100);
  }
}

describe("the fleet feed's gauges (in this process)", () => {
  test("agents reporting and silent, and each agent's lag behind the fleet's clock: 0 while it holds the clock, the seconds it is behind once silent", async () => {
    const T0 = 1_767_225_600;
    let wall = T0 * 1000;
    /** The feed's watch, once a second on the wall clock (the first it sets; the second sums up unreadable messages). */
    let tick: (() => void) | undefined;
    let deliver: (m: CountsMessage) => void = () => {};
    const shown = { agents: [-1, -1], lags: new Map<string, number>() };
    const feed = createActor(fleetFeed, {
      input: {
        subscribe: (to) => {
          deliver = to;
          return () => {};
        },
        connected: () => true,
        printedUntil: -Infinity,
        to: [],
        endTo: 'nobody',
        agentTimeoutMs: 5000,
        maxLagMs: 60_000,
        forgetAfterMs: 900_000,
        wallNow: () => wall,
        reportEveryMs: 10_000,
        every: (fn) => {
          tick ??= fn;
          return () => {};
        },
        metrics: {
          setAgents: (reporting, silent) => (shown.agents = [reporting, silent]),
          setAgentLag: (agent, seconds) => shown.lags.set(agent, seconds),
          clearAgentLag: (agent) => shown.lags.delete(agent),
        },
      },
    });
    feed.start();
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    await turn();
    const message = (agent: string, seq: number, clock: number): CountsMessage => ({ v: 2, agent, seq, clock, segments: [], files: [] });
    deliver(message('web-1', 1, T0 + 10));
    deliver(message('web-2', 1, T0 + 12));
    await turn();
    expect(shown.agents).toEqual([2, 0]);
    // web-1 holds the fleet's clock (its newest second is the fleet's); web-2 is ahead: neither is behind.
    expect(Object.fromEntries(shown.lags)).toEqual({ 'web-1': 0, 'web-2': 0 });

    // web-1 goes quiet; web-2 reports on to T0 + 30, and web-1 is silent after the timeout.
    wall += 6000;
    deliver(message('web-2', 2, T0 + 30));
    tick!();
    await turn();
    expect(shown.agents).toEqual([1, 1]);
    expect(Object.fromEntries(shown.lags)).toEqual({ 'web-1': 20, 'web-2': 0 });

    // Silent past forgetAfterMs, web-1 is forgotten: no longer counted, its lag series gone.
    wall += 900_000;
    deliver(message('web-2', 3, T0 + 930));
    tick!();
    await turn();
    expect(shown.agents).toEqual([1, 0]);
    expect([...shown.lags.keys()]).toEqual(['web-2']);
    feed.stop();
  });
});

describe('the fleet: /metrics (nats-server, an agent and the centre with --metrics)', () => {
  test(
    "the agent's and the centre's requests_total are the lines written, the centre shows the agent reporting and its lag, and a killed and restarted centre's (or agent's) counter goes on from where it was",
    async () => {
      const server = await startNatsServer();
      const file = path.join(dir, 'access.log');
      fs.writeFileSync(file, '');
      const centreArgs = ['--nats', server.url, '--json', '-s', '2', '-t', '100000', '--metrics', '127.0.0.1:0'];
      let agent = spawn(['agent', '-f', file, '--nats', server.url, '--name', 'web-1', '--poll-ms', '100', '--metrics', '127.0.0.1:0']);
      const agentUrl = await metricsUrl(agent);
      await agent.err.waitForLine('the agent following', 10_000, (l) => l.includes('following'));
      let centre = spawn(centreArgs);
      await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const centreUrl = await metricsUrl(centre);
      await centre.err.waitForLine('the agent reporting', 15_000, (l) => l.endsWith('agent web-1 is reporting'));

      // Before any line: the agent reports, counts nothing yet.
      expect(total(await scrape(centreUrl), REQUESTS)).toBe(0);

      await writeLines(file, 0, 150);
      const said = () => transcript(centre, agent);
      await centre.out.until(15_000, () => sum(parseStats(centre.out.lines), 'hits') >= 150);
      const atAgent = await scrapeUntil(agentUrl, 10_000, (s) => total(s, REQUESTS) >= 150);
      expect(total(atAgent, REQUESTS), said()).toBe(150);
      expect(atAgent.get(`${REQUESTS}{status_class="5xx"}`)).toBe(50);
      const atCentre = await scrapeUntil(centreUrl, 10_000, (s) => total(s, REQUESTS) >= 150);
      expect(total(atCentre, REQUESTS), said()).toBe(150);
      expect(atCentre.get(`${REQUESTS}{status_class="2xx"}`)).toBe(50);
      expect(atCentre.get(`${REQUESTS}{status_class="4xx"}`)).toBe(50);
      expect(atCentre.get('http_log_monitor_agents{state="reporting"}'), said()).toBe(1);
      expect(atCentre.get('http_log_monitor_agents{state="silent"}')).toBe(0);
      const lag = atCentre.get('http_log_monitor_agent_clock_lag_seconds{agent="web-1"}');
      expect(lag, said()).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThanOrEqual(2);

      // Killed after an interval or two more was recorded, then started again on the same stream.
      const printed = parseStats(centre.out.lines).length;
      await centre.out.until(8_000, (lines) => parseStats(lines).length >= printed + 1);
      const before = total(await scrape(centreUrl), REQUESTS);
      expect(before).toBe(150);
      centre.proc.kill('SIGKILL');
      await exitWithin(centre.proc, 5_000);
      const first = centre;
      centre = spawn(centreArgs);
      const againUrl = await metricsUrl(centre);
      const seen: number[] = [];
      const again = await scrapeUntil(againUrl, 10_000, (s) => total(s, REQUESTS) >= 150, seen);
      expect(total(again, REQUESTS), transcript(first, centre, agent)).toBe(150);
      expect(Math.min(...seen), `requests_total after the restart, scrape by scrape: ${seen.join(' ')}`).toBeGreaterThanOrEqual(before);

      // Nothing counted twice: new lines add exactly themselves.
      await writeLines(file, 150, 60);
      const after = await scrapeUntil(againUrl, 15_000, (s) => total(s, REQUESTS) >= 210, seen);
      await Bun.sleep(1500);
      expect(total(after, REQUESTS), transcript(centre, agent)).toBe(210);
      expect(total(await scrape(againUrl), REQUESTS), transcript(centre, agent)).toBe(210);
      expect(total(await scrape(agentUrl), REQUESTS)).toBe(210);

      // The agent killed and started again: it goes on from the totals its last message carries.
      const agentArgs = agent.args;
      agent.proc.kill('SIGKILL');
      await exitWithin(agent.proc, 5_000);
      const killed = agent;
      agent = spawn(agentArgs);
      const agentAgain = await metricsUrl(agent);
      const agentSeen: number[] = [];
      await agent.err.waitForLine('the agent going on', 10_000, (l) => l.startsWith('going on from message'));
      agentSeen.push(total(await scrape(agentAgain), REQUESTS));
      expect(agentSeen[0], transcript(killed, agent)).toBe(210);
      await writeLines(file, 210, 30);
      expect(total(await scrapeUntil(agentAgain, 10_000, (s) => total(s, REQUESTS) >= 240, agentSeen), REQUESTS), transcript(agent)).toBe(240);
      expect(Math.min(...agentSeen), `the agent's requests_total after its restart: ${agentSeen.join(' ')}`).toBeGreaterThanOrEqual(210);
      expect(total(await scrapeUntil(againUrl, 10_000, (s) => total(s, REQUESTS) >= 240), REQUESTS), transcript(centre, agent)).toBe(240);

      agent.proc.kill('SIGTERM');
      centre.proc.kill('SIGTERM');
      expect(await exitWithin(agent.proc, 8_000), transcript(agent)).toBe(0);
      expect(await exitWithin(centre.proc, 8_000), transcript(centre)).toBe(0);
      expectNoStack(centre, agent);
    },
    60_000,
  );

  test('usage errors are one line and exit 2', async () => {
    for (const args of [
      ['agent', '--metrics', 'nowhere:port'],
      ['agent', '--metrics-sections', '3'],
      ['agent', '--metrics', ':0', '--metrics-buckets', '1,0.5'],
      ['--nats', 'nats://127.0.0.1:1', '--metrics', ':0', '--metrics-sections', '-1'],
    ]) {
      const p = spawn(args);
      expect(await exitWithin(p.proc, 8_000), args.join(' ')).toBe(2);
      await p.err.done;
      const lines = p.err.lines.filter((l) => l.trim() !== '');
      expect(lines[0], args.join(' ')).toMatch(/^error: --metrics/);
      expect(lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
    }
  });
});
