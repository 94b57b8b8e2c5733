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
import { emptySegment } from '../actors/messages';
import { packMaps } from '../lib/byte-keys';
import { latencyRecord } from '../lib/latency-text';
import { parseRules } from '../lib/rules';
import { Sketch } from '../lib/sketch';
import { type CountsMessage, decode, encode, type Segment, WIRE_VERSION, WireError } from '../lib/wire';

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
        maxLagMs: 60_000,
        forgetAfterMs: 900_000,
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

interface Delivered {
  m: CountsMessage;
  seq: number;
  /** When it was stored (a replay of the stream), ms. */
  time?: number;
}

/**
 * The centre fed `messages` one per turn of the event loop, as a consumer delivers them live,
 * with `printed` told of every interval and the stream sequence delivered by then (the centre's
 * record). With `crashAfter` it is stopped dead after that many messages, as by SIGKILL: no
 * final record.
 */
async function centreRun(messages: Delivered[], extra: Partial<MonitorInput> & { crashAfter?: number; printedBefore?: { seq: number; at: number }; replaying?: boolean }) {
  const { crashAfter, printedBefore, replaying, ...rest } = extra;
  const clock = new SimulatedClock();
  clock.set(Math.min(...messages.flatMap((d) => [d.m.clock, ...d.m.segments.map((s) => s.second)])) * 1000);
  const out: string[] = [];
  const records: { at: number; seq: number }[] = [];
  let delivered = 0;
  let ended!: () => void;
  const over = new Promise<void>((resolve) => (ended = resolve));
  const actor = createActor(monitorMachine, {
    clock,
    systemId: 'monitor',
    input: input(clock, out, {
      intervalSeconds: 5,
      quiet: false,
      printed: (type, at) => {
        if (type === 'stats') records.push({ at, seq: delivered });
      },
      fleet: {
        subscribe: (deliver, end, live) => {
          live();
          void (async () => {
            for (const [i, d] of messages.entries()) {
              if (i === crashAfter) return ended();
              await new Promise((r) => setImmediate(r));
              delivered = d.seq;
              deliver(decode(encode(d.m)), d.time, d.seq);
            }
            await new Promise((r) => setImmediate(r));
            end();
          })();
          return () => {};
        },
        connected: () => true,
        replaying,
        printedUntil: -Infinity,
        printedBefore,
        agentTimeoutMs: 5000,
        maxLagMs: 60_000,
        forgetAfterMs: 900_000,
        wallNow: () => 0,
        reportEveryMs: 10_000,
      },
      ...rest,
    }),
  });
  actor.start();
  if (crashAfter === undefined) await toPromise(actor);
  else {
    await over;
    actor.stop();
  }
  const stats = out.map((l) => JSON.parse(l)).filter((r) => r.type === 'stats') as { start: string; end: string; hits: number; late: number; final: boolean }[];
  return { stats, records };
}

/** The agents' messages interleaved as a stream holds them, numbered as its sequence. */
function inStream(streams: CountsMessage[][]): Delivered[] {
  const out: Delivered[] = [];
  for (let i = 0; streams.some((s) => i < s.length); i++) for (const s of streams) if (i < s.length) out.push({ m: s[i]!, seq: out.length + 1 });
  return out;
}

const hitsOf = (stats: { hits: number }[]) => stats.reduce((n, s) => n + s.hits, 0);

describe('the fleet centre across restarts', () => {
  test('started again from its last record, it prints every line in exactly one interval, on the first run\'s boundaries', async () => {
    const files = [hostLog('r-1', [[3, 50], [1, 40]]), hostLog('r-2', [[2, 70], [5, 20]])];
    const messages = inStream(files.map((f, i) => agentMessages(`r-${i + 1}`, f, 5 + 4 * i)));
    const lines = files.reduce((n, f) => n + fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length, 0);
    // The first run begins at T0 + 3 (its start), and is killed two thirds of the way through.
    const anchor = (T0 + 3) * 1000;
    const first = await centreRun(messages, { intervals: { anchor, from: anchor }, printedBefore: { seq: Infinity, at: anchor }, crashAfter: Math.floor((messages.length * 2) / 3) });
    const record = first.records.at(-1)!;
    expect(first.stats.length).toBeGreaterThan(3);
    expect(Date.parse(first.stats[0]!.start)).toBe(anchor);
    // The second reads the stream from its start again (the history rebuilds the window).
    const second = await centreRun(messages, { intervals: { anchor, from: record.at }, printedBefore: { seq: record.seq, at: record.at } });
    expect(Date.parse(second.stats[0]!.start)).toBe(record.at);
    for (const s of second.stats.filter((r) => !r.final)) {
      expect((Date.parse(s.start) - anchor) % 5000).toBe(0);
      expect(Date.parse(s.end) - Date.parse(s.start)).toBe(5000);
    }
    // Contiguous: each second in exactly one printed interval.
    const all = [...first.stats, ...second.stats];
    for (let i = 1; i < all.length; i++) expect(all[i]!.start).toBe(all[i - 1]!.end);
    // The lines of the three seconds before the first run's start are not its to print.
    const before = 3 * (3 + 2);
    expect(hitsOf(first.stats) + hitsOf(second.stats)).toBe(lines - before);
  });

  test('a new centre prints nothing from before its start, and its first interval begins there', async () => {
    const files = [hostLog('n-1', [[2, 40]])];
    const messages = inStream(files.map((f) => agentMessages('n-1', f, 3)));
    const start = (T0 + 12) * 1000;
    const run = await centreRun(messages, { intervals: { anchor: start, from: start }, printedBefore: { seq: Infinity, at: start } });
    expect(Date.parse(run.stats[0]!.start)).toBe(start);
    expect(hitsOf(run.stats)).toBe(2 * (40 - 12));
  });

  test('an agent silent past the timeout: its delayed lines are counted late in the interval that takes them (silence in stored times, as a replay of the stream measures it)', async () => {
    const files = [hostLog('s-1', [[2, 60]]), hostLog('s-2', [[3, 60]])];
    const [one, two] = files.map((f, i) => agentMessages(`s-${i + 1}`, f, 2 * (i + 1)));
    // Stored a second and a half after their clock; s-2's of 20 s on are held back until 45.4 s (a frozen agent).
    const stored = (m: CountsMessage) => (m.clock + 1) * 1000 + 500;
    const back = (T0 + 45) * 1000 + 400;
    const heldBack = (m: CountsMessage) => stored(m) >= (T0 + 20) * 1000 && stored(m) < back;
    const timeline = [...one!, ...two!]
      .map((m) => ({ m, time: heldBack(m) && m.agent === 's-2' ? back : stored(m) }))
      .sort((a, b) => a.time - b.time)
      .map((d, i) => ({ ...d, seq: i + 1 }));
    const delayed = two!.filter(heldBack).reduce((n, m) => n + m.segments.reduce((k, s) => k + s.hits, 0), 0);
    expect(delayed).toBeGreaterThan(30);
    const run = await centreRun(timeline, { replaying: true });
    // (s-2's first message comes after s-1 has moved the clock on: a few of its lines are late at the start.)
    const late = run.stats.filter((s) => Date.parse(s.start) > (T0 + 20) * 1000).reduce((n, s) => n + s.late, 0);
    expect(hitsOf(run.stats)).toBe(5 * 60);
    // Every delayed line but those of the seconds the clock had not passed yet when s-2 fell silent,
    // and none of s-2's lines written before it was held back or after it was back (3 a second).
    expect(late).toBeGreaterThan(delayed - 3 * 6);
    expect(late).toBeLessThanOrEqual(3 * (46 - 17));
    // Without the fix: 0, the lines were in the window still.
    expect(late).toBeGreaterThan(30);
    // They land in one interval, the one after s-2 is back.
    const absorbing = run.stats.filter((s) => s.late > 0 && Date.parse(s.start) > (T0 + 20) * 1000);
    expect(absorbing).toHaveLength(1);
    expect(Date.parse(absorbing[0]!.end)).toBeGreaterThan((T0 + 45) * 1000);
  });
});

/** A message of `agent` with `hits` lines in the second `second` and its clock there. */
function tick(agent: string, second: number, hits: number, seq: number, instance?: string): CountsMessage {
  const batch = new ClfScanner().scan(Buffer.from(clf(second, agent).repeat(hits)));
  return { v: 1, agent, seq, clock: second, segments: hits > 0 ? batch.segments : [], files: [], ...(instance ? { instance } : {}) };
}

/**
 * A live centre whose wall clock and watch timer the spec moves: `at(ms)` sets the wall clock
 * and runs one watch tick; `send` delivers a message as the stream would, at the wall clock.
 */
async function liveCentre(extra: Partial<MonitorInput> = {}) {
  const clock = new SimulatedClock();
  clock.set(T0 * 1000);
  let wall = T0 * 1000;
  const watches: (() => void)[] = [];
  let deliver!: (m: CountsMessage | Error) => void;
  const out: string[] = [];
  const said: string[] = [];
  const turn = () => new Promise((r) => setImmediate(r));
  const actor = createActor(monitorMachine, {
    clock,
    systemId: 'monitor',
    input: input(clock, out, {
      quiet: false,
      intervalSeconds: 5,
      windowSeconds: 10,
      threshold: 5,
      err: (l) => said.push(l),
      fleet: {
        subscribe: (d, _end, live) => {
          deliver = d;
          live();
          return () => {};
        },
        connected: () => true,
        printedUntil: -Infinity,
        agentTimeoutMs: 3000,
        maxLagMs: 30_000,
        forgetAfterMs: 60_000,
        wallNow: () => wall,
        reportEveryMs: 10_000,
        every: (fn) => {
          watches.push(fn);
          return () => {};
        },
      },
      ...extra,
    }),
  });
  actor.start();
  await turn();
  return {
    out,
    said,
    records: () => out.map((l) => JSON.parse(l)),
    async send(m: CountsMessage) {
      deliver(decode(encode(m)));
      await turn();
    },
    /** A message the edge could not decode. */
    async deliverError(e: Error) {
      deliver(e);
      await turn();
    },
    /** Runs the summary of unreadable messages (the second timer). */
    report() {
      watches[1]!();
    },
    async at(ms: number) {
      wall = ms;
      watches[0]!();
      await turn();
    },
    async stop() {
      actor.send({ type: 'stop' });
      await toPromise(actor);
    },
  };
}

describe('the fleet centre on its own clock', () => {
  test('every agent silent: the clock goes on by the wall clock, so an alert recovers (it stood still)', async () => {
    const c = await liveCentre();
    for (let s = 0; s < 12; s++) {
      await c.send(tick('a', T0 + s, 8, s + 1));
      await c.at((T0 + s + 1.5) * 1000);
    }
    expect(c.records().filter((r) => r.type === 'alert')).toHaveLength(1);
    // The agent stops: nobody reports for a minute.
    for (let s = 12; s < 72; s++) await c.at((T0 + s + 1.5) * 1000);
    await c.stop();
    const recovered = c.records().filter((r) => r.type === 'recovered');
    expect(recovered).toHaveLength(1);
    expect(Date.parse(recovered[0]!.at)).toBeLessThanOrEqual((T0 + 24) * 1000);
    expect(c.said.filter((l) => l.includes('has not reported'))).toHaveLength(1);
    // The stats went on too, to about the wall clock.
    expect(Date.parse(c.records().filter((r) => r.type === 'stats' && !r.final).at(-1)!.end)).toBeGreaterThanOrEqual((T0 + 65) * 1000);
  });

  test('an agent far behind stops holding the clock: the fleet goes on, its lines come late, said once each way', async () => {
    const c = await liveCentre();
    let seq = 0;
    // b's clock stands at T0 + 2 (a backlog); a goes on.
    for (let s = 0; s < 50; s++) {
      await c.send(tick('a', T0 + s, 2, ++seq));
      await c.send(tick('b', T0 + Math.min(s, 2), s <= 2 ? 1 : 0, ++seq));
      await c.at((T0 + s + 1.5) * 1000);
    }
    const behind = c.said.filter((l) => /agent b is \d+ s behind; the clock goes on without it/.test(l));
    expect(behind).toHaveLength(1);
    const lastEnd = () => Date.parse(c.records().filter((r) => r.type === 'stats').at(-1)!.end);
    expect(lastEnd()).toBeGreaterThanOrEqual((T0 + 40) * 1000);
    // b catches up in one message with its backlog: late lines, and said.
    const backlog = tick('b', T0 + 20, 7, ++seq);
    backlog.clock = T0 + 49;
    await c.send(backlog);
    await c.send(tick('a', T0 + 50, 2, ++seq));
    await c.send(tick('b', T0 + 50, 0, ++seq));
    await c.at((T0 + 51.5) * 1000);
    await c.stop();
    expect(c.said.filter((l) => l.endsWith('agent b has caught up'))).toHaveLength(1);
    const stats = c.records().filter((r) => r.type === 'stats');
    // (b's first line came after a had moved the clock past its second: late too, at the start.)
    expect(stats.filter((r) => Date.parse(r.start) >= (T0 + 5) * 1000).reduce((n, r) => n + r.late, 0)).toBe(7);
    expect(stats.reduce((n, r) => n + r.hits, 0)).toBe(51 * 2 + 3 + 7);
  });

  test('an agent silent for longer than the forget time is no longer listed (said once)', async () => {
    const c = await liveCentre();
    let seq = 0;
    for (let s = 0; s < 5; s++) {
      await c.send(tick('a', T0 + s, 1, ++seq));
      await c.send(tick('gone', T0 + s, 1, ++seq));
      await c.at((T0 + s + 1.5) * 1000);
    }
    for (let s = 5; s < 75; s++) {
      await c.send(tick('a', T0 + s, 1, ++seq));
      await c.at((T0 + s + 1.5) * 1000);
    }
    await c.stop();
    expect(c.said.filter((l) => /^agent gone forgotten after 1 min of silence/.test(l))).toHaveLength(1);
    const rolls = c.records().filter((r) => r.type === 'stats').map((r) => r.agents);
    expect(rolls.at(-1)).toEqual({ reporting: ['a'], silent: [] });
    expect(rolls.some((r) => r.silent.includes('gone'))).toBe(true);
  });

  test('two processes publishing under one name: both counted, apart, and said loudly', async () => {
    const c = await liveCentre();
    let seq = 0;
    for (let s = 0; s < 10; s++) {
      await c.send(tick('web', T0 + s, 2, ++seq, 'instanceAAAAAAAA'));
      await c.send(tick('web', T0 + s, 3, ++seq, 'instanceBBBBBBBB'));
      await c.at((T0 + s + 1.5) * 1000);
    }
    await c.send(tick('web', T0 + 10, 0, ++seq, 'instanceAAAAAAAA'));
    await c.send(tick('web', T0 + 10, 0, ++seq, 'instanceBBBBBBBB'));
    await c.stop();
    const stats = c.records().filter((r) => r.type === 'stats');
    expect(stats.reduce((n, r) => n + r.hits, 0)).toBe(50);
    // Said at once, and again every 10 s while both publish.
    const twins = c.said.filter((l) => l.includes('two agents publish as web (instances instanceAAAAAAAA and instanceBBBBBBBB)'));
    expect(twins.length).toBeGreaterThanOrEqual(1);
    expect(twins.length).toBeLessThanOrEqual(2);
    expect(stats.at(-1)!.agents.reporting).toEqual(['web', 'web#instance']);
  });
});

/** Durations (ms) of `n` requests, log-uniform from `lo` to `hi`, from a fixed seed. */
function spread(n: number, lo: number, hi: number, seed: number): number[] {
  let x = seed >>> 0;
  const next = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, () => lo * (hi / lo) ** next());
}
const sketchOf = (values: number[]) => {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s;
};

/** A segment of `second` with these durations, as a timed format's scanner makes it: overall, by section, vhost and class. */
function timedSegment(agent: string, second: number, durations: number[]): Segment {
  const n = durations.length;
  return {
    ...emptySegment(second),
    hits: n,
    perSecond: new Map([[second, n]]),
    status: [0, 0, n, 0, 0, 0],
    codes: new Map([[200, n]]),
    bytes: 100 * n,
    keys: packMaps({ sections: new Map([['/api', n]]), hosts: new Map([[agent, n]]), methods: new Map([['GET', n]]), vhosts: new Map([[`${agent}.example`, n]]) }),
    latency: sketchOf(durations),
    sectionLatency: new Map([['/api', sketchOf(durations)]]),
    vhostLatency: new Map([[`${agent}.example`, sketchOf(durations)]]),
    classLatency: [undefined, undefined, sketchOf(durations)],
  };
}

/**
 * A timed agent: for each second from T0, its durations (`perSecond(second)`), in `chunks`
 * segments a second (the polls of that second), one message a second with its clock there; then
 * idle messages past the last second. `v: 1` makes it an agent of before durations: the same
 * hits and keys, no sketches, no vhosts.
 */
function timedAgent(agent: string, seconds: number, perSecond: (second: number) => number[], o: { chunks?: number; v?: 1 } = {}) {
  const messages: CountsMessage[] = [];
  const durations: { second: number; ms: number }[] = [];
  let seq = 1;
  for (let i = 0; i < seconds; i++) {
    const second = T0 + i;
    const all = perSecond(second);
    for (const ms of all) durations.push({ second, ms });
    const chunks = o.chunks ?? 1;
    const size = Math.ceil(all.length / chunks);
    const segments = Array.from({ length: chunks }, (_, c) => timedSegment(agent, second, all.slice(c * size, (c + 1) * size))).filter((seg) => seg.hits > 0);
    const shipped = o.v === 1 ? segments.map((seg) => ({ ...emptySegment(second), hits: seg.hits, perSecond: seg.perSecond, status: seg.status, codes: seg.codes, bytes: seg.bytes, keys: packMaps({ sections: new Map([['/api', seg.hits]]), hosts: new Map([[agent, seg.hits]]), methods: new Map([['GET', seg.hits]]) }) })) : segments;
    messages.push({ v: o.v ?? WIRE_VERSION, agent, seq: seq++, clock: second, segments: shipped, files: [] });
  }
  for (let s = 0; s < 3; s++) messages.push({ v: o.v ?? WIRE_VERSION, agent, seq: seq++, clock: T0 + seconds + s, segments: [], files: [] });
  return { messages, durations };
}

interface LatencyStats {
  type: string;
  start: string;
  end: string;
  hits: number;
  final?: boolean;
  latency?: { count: number; p50: number; p90: number; p99: number; max: number };
  sections: { section: string; hits: number; latency?: { count: number; p99: number } }[];
  vhosts?: { vhost: string; hits: number }[];
}

const vhostsOf = (r: LatencyStats) => Object.fromEntries((r.vhosts ?? []).map((v) => [v.vhost, v.hits]));

/** The durations of the seconds in a stats record's interval. */
const within = (durations: { second: number; ms: number }[], r: LatencyStats) =>
  durations.filter((d) => d.second * 1000 >= Date.parse(r.start) && d.second * 1000 < Date.parse(r.end)).map((d) => d.ms);
/** The exact value at quantile q, with the sketch's rank rule (the lower value at ⌊q (n − 1)⌋). */
const exactAt = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;

describe('the fleet centre: durations', () => {
  test("two agents, one fast and busy, one slow and quiet: the centre's p99 is the p99 of every request (the merge of their sketches is a sketch of everything), not an average of the agents' p99s", async () => {
    // web-fast: 200 requests a second, 1–30 ms, in 3 segments a second; web-slow: 5 a second, 0.3–4 s.
    const fast = timedAgent('web-fast', 30, (s) => spread(200, 1, 30, s), { chunks: 3 });
    const slow = timedAgent('web-slow', 30, (s) => spread(5, 300, 4000, s * 7), {});
    const records = (await centreOf([fast.messages, slow.messages], { quiet: false })) as LatencyStats[];
    const stats = records.filter((r) => r.type === 'stats' && r.hits > 0);
    expect(stats).toHaveLength(3);
    const everything = [...fast.durations, ...slow.durations];
    for (const r of stats) {
      const all = within(everything, r);
      expect(all).toHaveLength(10 * 205);
      // Exactly what one sketch of every request of the interval says.
      expect(r.latency).toEqual(latencyRecord(sketchOf(all).summary()!));
      expect(r.latency!.count).toBe(r.hits);
      const exact = exactAt(all, 0.99);
      expect(Math.abs(r.latency!.p99 - exact)).toBeLessThanOrEqual(0.01 * exact + 0.001);
      // An average of the agents' own p99s would be far off: the test tells them apart.
      const averaged = (exactAt(within(fast.durations, r), 0.99) + exactAt(within(slow.durations, r), 0.99)) / 2;
      expect(Math.abs(averaged - exact) / exact).toBeGreaterThan(0.2);
      // A section's own p99 across both agents, and each agent's vhost.
      const api = r.sections.find((x) => x.section === '/api')!;
      expect(api.latency!.count).toBe(all.length);
      expect(Math.abs(api.latency!.p99 - exact)).toBeLessThanOrEqual(0.01 * exact + 0.001);
      expect(vhostsOf(r)).toEqual({ 'web-fast.example': 2000, 'web-slow.example': 50 });
    }
  });

  test('a rolling upgrade: an agent still on version 1 and one on version 2 at one centre, every hit counted, the durations of the one that has them', async () => {
    const old = timedAgent('web-old', 20, (s) => spread(20, 1, 30, s), { v: 1 });
    const upgraded = timedAgent('web-new', 20, (s) => spread(10, 50, 500, s), {});
    expect(JSON.parse(Buffer.from(encode(old.messages[0]!)).toString()).v).toBe(1);
    const records = (await centreOf([old.messages, upgraded.messages], { quiet: false })) as LatencyStats[];
    const stats = records.filter((r) => r.type === 'stats' && r.hits > 0);
    expect(stats.reduce((n, r) => n + r.hits, 0)).toBe(20 * 30);
    expect(stats.reduce((n, r) => n + (r.latency?.count ?? 0), 0)).toBe(20 * 10);
    for (const r of stats) {
      expect(r.latency).toEqual(latencyRecord(sketchOf(within(upgraded.durations, r)).summary()!));
      expect(vhostsOf(r)).toEqual({ 'web-new.example': 100 });
    }
  });

  test('a message of a version the centre does not know is counted as unreadable and said; the others are counted', async () => {
    const c = await liveCentre();
    const body = (m: CountsMessage) => {
      const json = JSON.parse(Buffer.from(encode(m)).toString());
      json.v = 3;
      return Buffer.from(JSON.stringify(json));
    };
    let failure: unknown;
    try {
      decode(body(tick('a', T0, 4, 1)));
    } catch (e) {
      failure = e;
    }
    expect(failure).toEqual(new WireError('unknown version 3'));
    for (let s = 0; s < 6; s++) {
      await c.send(tick('a', T0 + s, 2, 2 * s + 1));
      await c.deliverError(failure as Error);
      await c.at((T0 + s + 1.5) * 1000);
    }
    c.report();
    await c.stop();
    expect(c.said.filter((l) => l.includes('could not be read'))).toEqual(['warn: 6 messages could not be read (unknown version 3)']);
    expect(c.records().filter((r) => r.type === 'stats').reduce((n, r) => n + r.hits, 0)).toBe(12);
  });

  test("a restarted centre's printed marking: every timed request in exactly one printed interval's latency, none lost, none twice", async () => {
    const a = timedAgent('p-1', 40, (s) => spread(7, 2, 900, s), { chunks: 2 });
    const b = timedAgent('p-2', 40, (s) => spread(3, 100, 3000, s * 3), {});
    const messages = inStream([a.messages, b.messages]);
    const anchor = (T0 + 3) * 1000;
    const first = await centreRun(messages, { intervals: { anchor, from: anchor }, printedBefore: { seq: Infinity, at: anchor }, crashAfter: Math.floor((messages.length * 2) / 3) });
    const record = first.records.at(-1)!;
    const second = await centreRun(messages, { intervals: { anchor, from: record.at }, printedBefore: { seq: record.seq, at: record.at } });
    const printed = [...first.stats, ...second.stats] as unknown as LatencyStats[];
    // Both runs printed durations: the second's history held segments the first had printed.
    for (const run of [first, second]) expect((run.stats as unknown as LatencyStats[]).some((r) => (r.latency?.count ?? 0) > 0)).toBe(true);
    const everything = [...a.durations, ...b.durations];
    expect(printed.reduce((n, r) => n + (r.latency?.count ?? 0), 0)).toBe(everything.filter((d) => d.second * 1000 >= anchor).length);
    for (const r of printed.filter((x) => x.hits > 0)) expect(r.latency).toEqual(latencyRecord(sketchOf(within(everything, r)).summary()!));
  });
});
