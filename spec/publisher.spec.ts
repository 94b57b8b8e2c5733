/**
 * The agent's publisher alone: the tailer's marks (when each poll started, whether it read every
 * file to its end) drive when messages go out and what clock they carry; time is the marks'
 * own, and `now` a number the test sets.
 */
import { describe, expect, test } from 'bun:test';
import { createActor, fromCallback, setup, spawnChild } from 'xstate';
import { emptySegment, type ReporterMessage, type Segment } from '../actors/messages';
import { publisher } from '../actors/publisher';
import { packMaps } from '../lib/byte-keys';
import { Sketch } from '../lib/sketch';
import { type CountsMessage, decode, encode, type FileMark, WIRE_VERSION } from '../lib/wire';

const S = 1_767_225_600; // a second, in s
const at = (second: number, ms: number) => second * 1000 + ms;
const mark: FileMark = { path: '/var/log/a.log', id: '1:2:3', offset: 100, head: new Uint8Array([49]) };

/** Lets the publish promises settle (no time passes). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function start(o: { now: number; firstClock?: number; graceMs?: number; maxQueued?: number; hang?: boolean; maxBytes?: number }) {
  const sent: CountsMessage[] = [];
  const clock = { now: o.now };
  const backlog = { full: false, waiting: 0, published: 0 };
  const actor = createActor(publisher, {
    input: {
      agent: 'web-1',
      firstSeq: 7,
      firstClock: o.firstClock,
      maxBytes: o.maxBytes,
      publish: (m) => {
        sent.push(m);
        return o.hang ? new Promise<void>(() => {}) : Promise.resolve();
      },
      now: () => clock.now,
      everyMs: 1500,
      graceMs: o.graceMs ?? 500,
      maxQueued: o.maxQueued ?? 600,
      backlog,
    },
  }).start();
  const marks = (ms: number, complete = true) => actor.send({ type: 'marks', files: [mark], at: ms, complete });
  const batch = (...segments: Segment[]) => actor.send({ type: 'batch', batch: { segments } });
  return { actor, sent, clock, backlog, marks, batch };
}

describe('publisher', () => {
  test('a message goes out as soon as a poll that started grace after a second ended has read every file', async () => {
    const p = start({ now: at(S, 100) });
    // At start the clock is the last second complete by the wall clock: S − 1 ends at S, and with 0.5 s of grace is complete from S + 0.5.
    p.marks(at(S, 300));
    await settle();
    expect(p.sent).toEqual([]);
    p.marks(at(S, 550));
    await settle();
    expect(p.sent.map((m) => [m.seq, m.clock])).toEqual([[7, S - 1]]);
    p.batch(emptySegment(S + 1));
    p.marks(at(S + 1, 499));
    await settle();
    expect(p.sent).toHaveLength(1);
    p.marks(at(S + 1, 500));
    await settle();
    expect(p.sent.map((m) => [m.seq, m.clock])).toEqual([[7, S - 1], [8, S]]);
    expect(p.sent[1]!.segments.map((s) => s.second)).toEqual([S + 1]);
    expect(p.sent[1]!.files).toEqual([mark]);
    // The next second: one message again, and not before the poll that makes it complete.
    p.marks(at(S + 1, 750));
    p.marks(at(S + 2, 250));
    await settle();
    expect(p.sent).toHaveLength(2);
    p.marks(at(S + 2, 750));
    await settle();
    expect(p.sent.map((m) => [m.seq, m.clock, m.segments.length])).toEqual([[7, S - 1, 0], [8, S, 1], [9, S + 1, 0]]);
    p.actor.stop();
  });

  test('a poll that left a file behind does not move the clock; a message still goes out every 1.5 s', async () => {
    const p = start({ now: at(S, 0) });
    p.marks(at(S + 1, 0), false);
    p.marks(at(S + 1, 499), false);
    await settle();
    expect(p.sent).toEqual([]);
    p.marks(at(S + 1, 500), false);
    await settle();
    // The start's clock (S − 2: S − 1 ends at S, and is complete only from S + 0.5), still.
    expect(p.sent.map((m) => m.clock)).toEqual([S - 2]);
    p.marks(at(S + 2, 999), false);
    await settle();
    expect(p.sent).toHaveLength(1);
    p.marks(at(S + 3, 0), false);
    await settle();
    expect(p.sent.map((m) => m.clock)).toEqual([S - 2, S - 2]);
    // Caught up: the clock jumps to what the poll's start says, at once.
    p.marks(at(S + 3, 100), true);
    await settle();
    expect(p.sent.map((m) => m.clock)).toEqual([S - 2, S - 2, S + 1]);
    p.actor.stop();
  });

  test('the grace is how long after its second a line may still be written', async () => {
    const p = start({ now: at(S, 0), graceMs: 2000 });
    p.marks(at(S + 2, 999));
    await settle();
    expect(p.sent.map((m) => m.clock)).toEqual([S - 1]);
    p.marks(at(S + 3, 0));
    await settle();
    expect(p.sent.map((m) => m.clock)).toEqual([S - 1, S]);
    p.actor.stop();
  });

  test('after a short stop the clock goes on from the checkpoint, after a long one from 10 s ago', async () => {
    const short = start({ now: at(S, 0), firstClock: S - 6 });
    short.marks(at(S, 10), false);
    short.marks(at(S + 1, 600), false);
    await settle();
    expect(short.sent.map((m) => m.clock)).toEqual([S - 6]);
    short.actor.stop();
    const long = start({ now: at(S, 0), firstClock: S - 3600 });
    long.marks(at(S + 1, 600), false);
    await settle();
    expect(long.sent.map((m) => m.clock)).toEqual([S - 12]);
    long.actor.stop();
  });

  test('messages wait for the one before to be acknowledged; a full queue stops the reading', async () => {
    const p = start({ now: at(S, 0), maxQueued: 3, hang: true });
    for (let s = 1; s <= 4; s++) p.marks(at(S + s, 600));
    await settle();
    // One in flight (never acknowledged), three waiting.
    expect(p.sent.map((m) => m.seq)).toEqual([7]);
    expect(p.backlog.full).toBe(true);
    p.actor.stop();
  });

  test('a drain sends what was gathered, with the clock as it stands', async () => {
    const p = start({ now: at(S, 0) });
    const events: string[] = [];
    p.actor.subscribe({ complete: () => events.push('complete') });
    p.marks(at(S + 1, 600));
    p.clock.now = at(S + 2, 100);
    p.batch(emptySegment(S + 1), emptySegment(S + 2));
    p.actor.send({ type: 'drain' });
    await settle();
    expect(p.sent.map((m) => [m.seq, m.clock, m.segments.map((s) => s.second)])).toEqual([
      [7, S, []],
      [8, S, [S + 1, S + 2]],
    ]);
    // No message after the drain, whatever the marks say.
    p.marks(at(S + 5, 600));
    await settle();
    expect(p.sent).toHaveLength(2);
    p.actor.stop();
  });

  test('the backlog counts the messages waiting and those the stream acknowledged', async () => {
    const p = start({ now: at(S, 0) });
    for (let s = 1; s <= 3; s++) p.marks(at(S + s, 600));
    expect(p.backlog).toEqual({ full: false, waiting: 3, published: 0 });
    await settle();
    expect(p.backlog).toEqual({ full: false, waiting: 0, published: 3 });
    p.actor.stop();
  });
});

/**
 * The publisher with a reporter beside it (its notices go there, by systemId), and a stream
 * that keeps every publish waiting until the test settles it.
 */
function withReporter(maxQueued: number) {
  const notices: string[] = [];
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const backlog = { full: false, waiting: 0, published: 0 };
  const reporter = fromCallback<ReporterMessage>(({ receive }) => {
    receive((m) => {
      if (m.type === 'notice') notices.push(`${m.level}: ${m.message}`);
    });
  });
  const root = setup({ actors: { publisher, reporter } }).createMachine({
    entry: [
      spawnChild('reporter', { systemId: 'reporter' }),
      spawnChild('publisher', {
        systemId: 'publisher',
        input: {
          agent: 'web-1',
          firstSeq: 1,
          publish: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
          now: () => at(S, 0),
          everyMs: 1500,
          graceMs: 500,
          maxQueued,
          backlog,
        },
      }),
    ],
  });
  const actor = createActor(root).start();
  const marks = (ms: number) => actor.system.get('publisher')!.send({ type: 'marks', files: [mark], at: ms, complete: true });
  return { actor, notices, pending, backlog, marks };
}

describe('publisher notices', () => {
  test('a failed publish says how many messages wait, and where reading stops (it does not stop yet)', async () => {
    const p = withReporter(600);
    for (let s = 1; s <= 12; s++) p.marks(at(S + s, 600));
    expect(p.pending).toHaveLength(1);
    p.pending[0]!.reject(new Error('no responders'));
    await settle();
    expect(p.notices).toEqual(['warn: cannot publish: no responders; retrying every 1 s (12 messages waiting; reading stops at 600)']);
    expect(p.backlog.full).toBe(false);
    p.actor.stop();
  });

  test('a full queue says once that reading is paused', async () => {
    const p = withReporter(3);
    for (let s = 1; s <= 5; s++) p.marks(at(S + s, 600));
    expect(p.notices).toEqual(['warn: reading paused: 3 messages waiting for the stream']);
    expect(p.backlog).toEqual({ full: true, waiting: 5, published: 0 });
    // Acknowledged: the queue shrinks below the limit and the tailer may read again.
    p.pending[0]!.resolve();
    await settle();
    p.pending[1]!.resolve();
    await settle();
    p.pending[2]!.resolve();
    await settle();
    expect(p.backlog).toEqual({ full: false, waiting: 2, published: 3 });
    expect(p.notices).toHaveLength(1);
    p.actor.stop();
  });
});

describe('publisher: lines stamped ahead of the wall clock', () => {
  test('a line years ahead counts at the current second, segment and per second; the clock stays with the wall clock', async () => {
    const p = start({ now: at(S, 0) });
    const FUTURE = 1_906_977_600; // 2030-06-06
    p.clock.now = at(S + 1, 600);
    p.batch({ ...emptySegment(FUTURE), hits: 3, perSecond: new Map([[S + 1, 2], [FUTURE, 1]]) });
    // Within the grace (1 s at least) a line is as it is.
    p.batch({ ...emptySegment(S + 2), hits: 1, perSecond: new Map([[S + 2, 1]]) });
    p.marks(at(S + 1, 600));
    await settle();
    expect(p.sent.map((m) => [m.clock, m.segments.map((s) => [s.second, [...s.perSecond]])])).toEqual([
      [S, [[S + 1, [[S + 1, 3]]], [S + 2, [[S + 2, 1]]]]],
    ]);
    p.actor.stop();
  });

  test('a checkpoint whose clock is ahead of the wall clock is not taken', async () => {
    const p = start({ now: at(S, 0), firstClock: 1_906_977_600 });
    p.marks(at(S, 10), false);
    p.marks(at(S + 1, 600), false);
    await settle();
    expect(p.sent.map((m) => m.clock)).toEqual([S - 2]);
    p.actor.stop();
  });
});

/** A sketch of `n` durations from `from` ms, `step` apart. */
function sketch(n: number, from: number, step: number) {
  const s = new Sketch();
  for (let i = 0; i < n; i++) s.add(from + i * step);
  return s;
}
/** Everything a sketch says. */
const said = (s: Sketch | undefined) => s && { ...s.toJSON(), p99: s.quantile(0.99) };

/** A timed segment of `second`: `n` lines of one section and vhost, its sketches its own. */
function timed(second: number, n: number, from: number): Segment {
  const latency = sketch(n, from, 1);
  return {
    ...emptySegment(second),
    hits: n,
    perSecond: new Map([[second, n]]),
    status: [0, 0, n, 0, 0, 0],
    keys: packMaps({ sections: new Map([['/api', n]]), vhosts: new Map([['shop.example', n]]) }),
    latency,
    upstream: sketch(n, from / 2, 1),
    sectionLatency: new Map([['/api', sketch(n, from, 1)]]),
    vhostLatency: new Map([['shop.example', sketch(n, from, 1)]]),
    classLatency: [undefined, undefined, sketch(n, from, 1)],
  };
}

describe('publisher: durations', () => {
  test('segments go out with their sketches as the scanner made them (none added to, none merged away), a line ahead of the clock too', async () => {
    const p = start({ now: at(S, 0) });
    const FUTURE = 1_906_977_600;
    p.clock.now = at(S + 1, 600);
    const given = [timed(S + 1, 10, 100), timed(S + 1, 5, 2000), { ...timed(FUTURE, 3, 40), perSecond: new Map([[FUTURE, 3]]) }];
    const before = given.map((g) => [said(g.latency), said(g.upstream), said(g.sectionLatency!.get('/api')), said(g.vhostLatency!.get('shop.example')), said(g.classLatency![2])]);
    p.batch(...given);
    p.marks(at(S + 1, 600));
    await settle();
    expect(p.sent).toHaveLength(1);
    const m = decode(encode(p.sent[0]!));
    expect(m.v).toBe(WIRE_VERSION);
    // The line ahead counts now, with its durations.
    expect(m.segments.map((s) => s.second)).toEqual([S + 1, S + 1, S + 1]);
    expect(m.segments.map((s) => [said(s.latency), said(s.upstream), said(s.sectionLatency!.get('/api')), said(s.vhostLatency!.get('shop.example')), said(s.classLatency![2])])).toEqual(before);
    expect(given.map((g) => [said(g.latency), said(g.upstream), said(g.sectionLatency!.get('/api')), said(g.vhostLatency!.get('shop.example')), said(g.classLatency![2])])).toEqual(before);
    p.actor.stop();
  });

  test('a second too big for one message goes in several; its durations merge back to what was given', async () => {
    const p = start({ now: at(S, 0), maxBytes: 8192 });
    const given = timed(S + 1, 20, 1);
    // 400 sections, each timed: far over 8 KB in all.
    const sections = new Map(Array.from({ length: 400 }, (_, i) => [`/s${i}`, sketch(3, 10 + i, 7)] as [string, Sketch]));
    given.sectionLatency = sections;
    given.keys = packMaps({ sections: new Map([...sections.keys()].map((k) => [k, 3])) });
    p.batch(given);
    p.marks(at(S + 1, 600));
    await settle();
    expect(p.sent.length).toBeGreaterThan(2);
    const segments = p.sent.map((m) => decode(encode(m))).flatMap((m) => m.segments);
    const merged = (list: (Sketch | undefined)[]) => list.reduce<Sketch>((all, s) => (s ? all.merge(s) : all), new Sketch());
    expect(said(merged(segments.map((s) => s.latency)))).toEqual(said(given.latency));
    for (const [name, s] of sections) expect(said(merged(segments.map((x) => x.sectionLatency?.get(name))))).toEqual(said(s));
    expect(segments.reduce((n, s) => n + s.hits, 0)).toBe(20);
    p.actor.stop();
  });
});
