/**
 * The centre alone, in this process: agents' messages (made here by scanning each agent's log in
 * pieces, as an agent reads it live) go through the fleet feed and the monitor's machines on a
 * simulated clock, and what it prints is compared with a replay of the same files together.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createActor, SimulatedClock, toPromise } from 'xstate';
import { ClfScanner } from '../actors/clf-scanner';
import { firstSecond } from '../actors/replay-clock';
import { type MonitorInput, monitorMachine } from '../machines/monitor';
import { parseRules } from '../lib/rules';
import { type CountsMessage, decode, encode } from '../lib/wire';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-feed-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 1) / 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
const clf = (second: number, host: string) => {
  const d = new Date(second * 1000);
  return `${host} - - [${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000] "GET /api/x HTTP/1.1" 200 100\n`;
};

/** A host's log: `rate` lines a second for each phase, from T0. */
function hostLog(name: string, phases: [rate: number, seconds: number][]): string {
  let second = T0;
  let text = '';
  for (const [rate, seconds] of phases) for (let s = 0; s < seconds; s++, second++) text += clf(second, name).repeat(rate);
  const file = path.join(dir, `${name}.log`);
  fs.writeFileSync(file, text);
  return file;
}

/**
 * What an agent following `file` live would publish: the file read in pieces of about `piece`
 * lines (a poll's worth), one message a second of log time, each with the agent's clock two
 * seconds behind the newest line (a line's time to be read).
 */
function agentMessages(agent: string, file: string, piece: number): CountsMessage[] {
  const lines = fs.readFileSync(file, 'utf8').split(/(?<=\n)/);
  const scanner = new ClfScanner();
  const out: CountsMessage[] = [];
  let seq = 1;
  for (let i = 0; i < lines.length; i += piece) {
    const batch = scanner.scan(Buffer.from(lines.slice(i, i + piece).join('')));
    out.push({ v: 1, agent, seq: seq++, clock: scanner.highWater - 2, segments: batch.segments, files: [] });
  }
  // Idle afterwards: its clock keeps moving, past the newest line.
  for (let s = 0; s < 3; s++) out.push({ v: 1, agent, seq: seq++, clock: scanner.highWater + s, segments: [], files: [] });
  return out;
}

function input(clock: SimulatedClock, out: string[], extra: Partial<MonitorInput>): MonitorInput {
  return {
    paths: [],
    mode: 'replay',
    json: true,
    quiet: true,
    threshold: 10,
    windowSeconds: 60,
    intervalSeconds: 10,
    timeSource: 'log',
    now: () => clock.now(),
    clock,
    out: (l) => out.push(l),
    err: () => {},
    pollMs: 250,
    watch: false,
    limit: 10,
    ...extra,
  };
}

async function replayOf(files: string[], extra: Partial<MonitorInput> = {}) {
  const clock = new SimulatedClock();
  clock.set(firstSecond(files)! * 1000);
  const out: string[] = [];
  const actor = createActor(monitorMachine, { clock, systemId: 'monitor', input: input(clock, out, { paths: files, ...extra }) });
  actor.start();
  await toPromise(actor);
  return out.map((l) => JSON.parse(l));
}

/** The centre fed the agents' messages, interleaved as a stream would hold them; then the stream's end. */
async function centreOf(streams: CountsMessage[][], extra: Partial<MonitorInput> = {}) {
  const clock = new SimulatedClock();
  clock.set(T0 * 1000);
  const out: string[] = [];
  const interleaved: CountsMessage[] = [];
  for (let i = 0; streams.some((s) => i < s.length); i++) for (const s of streams) if (i < s.length) interleaved.push(s[i]!);
  const actor = createActor(monitorMachine, {
    clock,
    systemId: 'monitor',
    input: input(clock, out, {
      fleet: {
        subscribe: (deliver, end, live) => {
          live();
          setImmediate(() => {
            for (const m of interleaved) deliver(decode(encode(m)));
            deliver(new Error('not JSON'));
            end();
          });
          return () => {};
        },
        connected: () => true,
        printedUntil: -Infinity,
        agentTimeoutMs: 5000,
        wallNow: () => 0,
        reportEveryMs: 10_000,
      },
      ...extra,
    }),
  });
  actor.start();
  await toPromise(actor);
  return out.map((l) => JSON.parse(l));
}

const alertsOf = (records: { type: string; at: string; hits: number; rule?: string; group?: { key: string } | null }[]) =>
  records.filter((r) => r.type !== 'stats').map((r) => (r.rule ? [r.type, r.at, r.hits, r.rule, r.group?.key ?? null] : [r.type, r.at, r.hits]));

describe('the fleet centre', () => {
  test('three hosts each under the threshold, over it together: the centre alerts and recovers as a replay of the three files does', async () => {
    // 4 + 3 + 4 = 11 req/s for 100 s, over the threshold of 10; each host alone is under it.
    const files = [
      hostLog('web-1', [[2, 60], [4, 100], [2, 120]]),
      hostLog('web-2', [[2, 60], [3, 100], [2, 120]]),
      hostLog('web-3', [[1, 60], [4, 100], [1, 120]]),
    ];
    const replayed = alertsOf(await replayOf(files));
    expect(replayed.map((a) => a[0])).toEqual(['alert', 'recovered']);
    const central = alertsOf(await centreOf(files.map((f, i) => agentMessages(`web-${i + 1}`, f, 7 + 5 * i))));
    expect(central).toEqual(replayed);
  });

  test('rules run at the centre on what the agents ship: a rate per host, a status class and a silence alert as a replay does', async () => {
    const files = [
      hostLog('web-1', [[2, 60], [4, 100], [2, 120]]),
      hostLog('web-2', [[2, 60], [3, 100], [2, 120]]),
      hostLog('web-3', [[1, 60], [4, 100], [1, 40]]),
    ];
    const rules = parseRules(
      [
        'rules:',
        '  - { name: busy host, rate: 3.5, by: host, window: 20 }',
        '  - { name: ok traffic, rate: 10, match: { status: 2xx }, window: 30, for: 5s, recover: 9 }',
        '  - { name: web-3 quiet, silence: 1, match: { host: web-3 }, window: 15 }',
      ].join('\n'),
      'rules.yaml',
    );
    const replayed = alertsOf(await replayOf(files, { rules }));
    const byRule = (name: string) => replayed.filter((a) => a[3] === name).map((a) => [a[0], a[4]]);
    expect(byRule('busy host')).toEqual([['alert', 'web-1'], ['alert', 'web-3'], ['recovered', 'web-3'], ['recovered', 'web-1']]);
    expect(byRule('ok traffic')).toEqual([['alert', null], ['recovered', null]]);
    expect(byRule('web-3 quiet')).toEqual([['alert', null]]);
    const central = alertsOf(await centreOf(files.map((f, i) => agentMessages(`web-${i + 1}`, f, 7 + 5 * i)), { rules }));
    expect(central).toEqual(replayed);
  });
});
