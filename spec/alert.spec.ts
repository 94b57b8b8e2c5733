import { describe, expect, test } from 'bun:test';
import { createActor, SimulatedClock } from 'xstate';
import { SecondWindow } from '../actors/hit-window';
import { emptySegment, type Batch } from '../actors/messages';
import { alertMachine, exceeds, type AlertEmitted } from '../machines/alert';

const START = 1_700_000_000; // a whole second, Unix time

function batchAt(second: number, hits: number): Batch {
  const segment = emptySegment(second);
  segment.perSecond.set(second, hits);
  segment.hits = hits;
  return { segments: [segment] };
}

/** An alert machine on a simulated clock standing at START. */
function scenario({ threshold = 10, window = 120 } = {}) {
  const clock = new SimulatedClock();
  clock.set(START * 1000);
  // Batches go into the window, as actors/hit-window.ts does; the machine only reads it.
  const hitWindow = new SecondWindow(window);
  const actor = createActor(alertMachine, {
    clock,
    input: { threshold, windowSeconds: window, hitWindow, now: () => clock.now() },
  });
  type Transition = Exclude<AlertEmitted, { type: 'sample' }>;
  const events: Transition[] = [];
  const samples: Extract<AlertEmitted, { type: 'sample' }>[] = [];
  actor.on('alert', (e) => events.push(e));
  actor.on('recovered', (e) => events.push(e));
  actor.on('sample', (e) => samples.push(e));
  actor.start();
  let peak = 0;
  const second = () => Math.floor(clock.now() / 1000);
  return {
    events,
    samples,
    actor,
    peak: () => peak,
    /** The lines of the current second arrive, then the clock moves on one second. */
    tick(hits = 0) {
      if (hits > 0) hitWindow.record(batchAt(second(), hits), clock.now());
      clock.increment(1000);
      peak = Math.max(peak, actor.getSnapshot().context.hits);
    },
    ticks(n: number, hits = 0) {
      for (let i = 0; i < n; i++) this.tick(hits);
    },
    send(batch: Batch) {
      hitWindow.record(batch, clock.now());
    },
    second,
    state: () => actor.getSnapshot().value,
  };
}

const secondsAfterStart = (e: Exclude<AlertEmitted, { type: 'sample' }>) =>
  ((e.type === 'alert' ? e.alert.at : e.recovery.at) / 1000) - START;

describe('alert statechart (W=120, T=10)', () => {
  test('10 hits every second never alerts: the window peaks at exactly 1200', () => {
    const s = scenario();
    s.ticks(400, 10);
    expect(s.peak()).toBe(1200);
    expect(s.events).toEqual([]);
    expect(s.state()).toBe('normal');
  });

  test('1201 hits in one second alerts at once and recovers exactly W seconds later with no further input', () => {
    const s = scenario();
    s.tick(1201);
    expect(s.state()).toBe('alerting');
    s.ticks(119);
    expect(s.state()).toBe('alerting');
    s.tick();
    expect(s.state()).toBe('normal');
    expect(s.events.map((e) => [e.type, secondsAfterStart(e)])).toEqual([
      ['alert', 1],
      ['recovered', 121],
    ]);
    const [alert, recovered] = s.events;
    expect(alert!.type === 'alert' && alert!.alert.hits).toBe(1201);
    expect(recovered!.type === 'recovered' && recovered!.recovery.hits).toBe(0);
    expect(recovered!.type === 'recovered' && recovered!.recovery.since).toBe((START + 1) * 1000);
  });

  test('1200 hits in one second (exactly threshold × W) does not alert', () => {
    const s = scenario();
    s.tick(1200);
    s.ticks(200);
    expect(s.events).toEqual([]);
  });

  test('15 hits/s alerts at the first second the window holds more than 1200 and recovers when it falls back to 1200', () => {
    const s = scenario();
    s.ticks(200, 15);
    s.ticks(200);
    expect(s.events.map((e) => e.type)).toEqual(['alert', 'recovered']);
    const [alert, recovered] = s.events;
    // 81 seconds of 15/s = 1215 > 1200; 80 seconds = 1200 is not over.
    expect(secondsAfterStart(alert!)).toBe(81);
    expect(alert!.type === 'alert' && alert!.alert.hits).toBe(1215);
    // After the last busy second (199) the window holds 15 × (busy seconds left in it).
    expect(secondsAfterStart(recovered!)).toBe(240);
    expect(recovered!.type === 'recovered' && recovered!.recovery.hits).toBe(1200);
  });

  test('15/s for a minute then 5/s never alerts', () => {
    const s = scenario();
    s.ticks(60, 15);
    s.ticks(400, 5);
    expect(s.peak()).toBe(1200);
    expect(s.events).toEqual([]);
  });

  test('alert → recover → alert gives exactly four messages in order', () => {
    const s = scenario();
    s.tick(1201);
    s.ticks(130);
    s.tick(1300);
    s.ticks(130);
    expect(s.events.map((e) => [e.type, secondsAfterStart(e)])).toEqual([
      ['alert', 1],
      ['recovered', 121],
      ['alert', 132],
      ['recovered', 252],
    ]);
  });

  test('an idle log still recovers: evaluation is driven by the clock, not by lines', () => {
    const s = scenario();
    s.tick(5000);
    expect(s.state()).toBe('alerting');
    s.ticks(120);
    expect(s.state()).toBe('normal');
  });

  test('the first W seconds are divided by the full W, so a busy start does not false-alert', () => {
    const s = scenario();
    // 100 hits/s for 12 s is 1200: an average of 10 over the whole window, not 100.
    s.ticks(12, 100);
    expect(s.events).toEqual([]);
    s.tick(1);
    expect(s.events.map((e) => e.type)).toEqual(['alert']);
  });
});

describe('alert statechart, other settings', () => {
  test('T=2.5: 300 hits in 120 s is not over, 301 is', () => {
    const at = scenario({ threshold: 2.5 });
    at.tick(300);
    at.ticks(5);
    expect(at.events).toEqual([]);
    const over = scenario({ threshold: 2.5 });
    over.tick(301);
    expect(over.events.map((e) => e.type)).toEqual(['alert']);
  });

  test('W=10: 101 hits alert, and recover 10 s later', () => {
    const s = scenario({ window: 10 });
    s.tick(101);
    s.ticks(20);
    expect(s.events.map((e) => [e.type, secondsAfterStart(e)])).toEqual([
      ['alert', 1],
      ['recovered', 11],
    ]);
  });

  test('a line older than the window when it arrives is not counted; a future line counts at now', () => {
    const s = scenario({ window: 10, threshold: 1 });
    s.ticks(30);
    const now = s.second();
    s.send(batchAt(now - 10, 50)); // its second can never be in a coming evaluation
    s.tick();
    expect(s.actor.getSnapshot().context.hits).toBe(0);
    s.send(batchAt(now + 3600, 11)); // stamped an hour ahead
    s.tick();
    expect(s.actor.getSnapshot().context.hits).toBe(11);
    expect(s.events.map((e) => e.type)).toEqual(['alert']);
  });

  test('evaluations land on whole seconds even when the clock starts mid-second', () => {
    const clock = new SimulatedClock();
    clock.set(START * 1000 + 400);
    const hitWindow = new SecondWindow(10);
    const actor = createActor(alertMachine, {
      clock,
      input: { threshold: 1, windowSeconds: 10, hitWindow, now: () => clock.now() },
    }).start();
    hitWindow.record(batchAt(START, 20), clock.now());
    clock.increment(600);
    expect(actor.getSnapshot().value).toBe('alerting');
    expect(actor.getSnapshot().context.at).toBe((START + 1) * 1000);
  });
});

describe('the hit window and a late timer', () => {
  test('lines of the second S recorded before its evaluation leave the window oldest second, S − W, in it', () => {
    const window = new SecondWindow(3);
    window.add(START, 5, START);
    expect(window.hitsBefore(START + 1)).toBe(5);
    window.add(START + 3, 1, START + 3); // the timer for START + 3 fired late: its lines came first
    expect(window.hitsBefore(START + 3)).toBe(5);
    expect(window.series(START + 3)).toEqual([5, 0, 0]);
    expect(window.hitsBefore(START + 4)).toBe(1);
  });
});

describe('window samples (for a dashboard)', () => {
  test('every evaluation reports the hits and the per-second series of the window, oldest first', () => {
    const s = scenario({ window: 5 });
    s.tick(3);
    s.tick(0);
    s.tick(7);
    const last = s.samples.at(-1)!;
    expect(s.samples.length).toBe(3);
    expect(last.at).toBe((START + 3) * 1000);
    expect(last.series).toEqual([0, 0, 3, 0, 7]);
    expect(last.hits).toBe(10);
    s.ticks(3);
    expect(s.samples.at(-1)!.series).toEqual([0, 7, 0, 0, 0]);
  });
});

describe('exceeds: exact arithmetic', () => {
  test('compares against the decimal threshold, not its binary approximation', () => {
    // 0.57 × 100 is 56.99999999999999 in floating point.
    expect(exceeds(57, 0.57, 100)).toBe(false);
    expect(exceeds(58, 0.57, 100)).toBe(true);
    expect(exceeds(12, 0.1, 120)).toBe(false);
    expect(exceeds(13, 0.1, 120)).toBe(true);
    expect(exceeds(1, 1e-7, 10_000_000)).toBe(false);
    expect(exceeds(2, 1e-7, 10_000_000)).toBe(true);
  });
});
