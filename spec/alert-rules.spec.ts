import { describe, expect, test } from 'bun:test';
import { type AnyActorRef, createActor, fromCallback, setup, SimulatedClock, spawnChild } from 'xstate';
import type { ReporterMessage, Segment } from '../actors/messages';
import { ruleMonitor } from '../actors/rule-monitor';
import { RuleWindow } from '../actors/rule-window';
import { packMaps } from '../lib/byte-keys';
import { RELATIVE_ACCURACY, Sketch } from '../lib/sketch';
import { alertMachine, type AlertEmitted } from '../machines/alert';
import { type Lines, rule, START, segmentAt } from './support/rule-segments';

/** `hits` lines, `errors` of them 5xx. */
const served = (hits: number, errors = 0): Lines => ({ hits, status: { 2: hits - errors, 5: errors } });
/** Lines from hosts, `{ a: 11 }`. */
const from = (hosts: Record<string, number>): Lines => ({ hits: Object.values(hosts).reduce((a, b) => a + b, 0), hosts });

type Transition = Exclude<AlertEmitted, { type: 'sample' }>;

/** One rule's alert statechart on a simulated clock standing at START, its window filled by `tick`. */
function scenario(yaml: string, { startedAt = START * 1000 } = {}) {
  const clock = new SimulatedClock();
  clock.set(START * 1000);
  const r = rule(yaml);
  // Segments go into the rule's window, as actors/rule-window.ts does; the machine only samples it.
  const window = new RuleWindow(r, startedAt);
  const actor = createActor(alertMachine, {
    clock,
    input: { threshold: r.threshold, windowSeconds: r.windowSeconds, forSeconds: r.forSeconds, check: window.check(), now: () => clock.now() },
  });
  const events: Transition[] = [];
  actor.on('alert', (e) => events.push(e));
  actor.on('recovered', (e) => events.push(e));
  const visited = new Set<string>();
  actor.subscribe((snapshot) => visited.add(String(snapshot.value)));
  actor.start();
  const second = () => Math.floor(clock.now() / 1000);
  return {
    events,
    actor,
    visited,
    /** The lines of the current second arrive, then the clock moves on one second. */
    tick(lines?: Lines) {
      if (lines) window.record([segmentAt(second(), lines)], second());
      clock.increment(1000);
    },
    ticks(n: number, lines?: Lines) {
      for (let i = 0; i < n; i++) this.tick(lines);
    },
    /** Timed lines of the current second arrive (a segment made for it), then the clock moves on. */
    timedTicks(n: number, timed: (second: number) => Segment) {
      for (let i = 0; i < n; i++) {
        window.record([timed(second())], second());
        clock.increment(1000);
      }
    },
    state: () => actor.getSnapshot().value,
    /** The transitions so far, with their instants in seconds after START. */
    timeline: () => events.map((e) => [e.type, secondsAfterStart(e)]),
  };
}

const secondsAfterStart = (e: Transition) => (e.type === 'alert' ? e.alert.at : e.recovery.at) / 1000 - START;

describe('a rate rule', () => {
  test('fires when the matching hits over W exceed threshold × W, recovers as soon as they do not; other hits do not count', () => {
    const s = scenario('{ name: errors, rate: 1, window: 10s, match: { status: 5xx } }');
    s.tick(served(1000));
    s.tick(served(10, 10)); // 10 = 1 × 10: not over
    expect(s.events).toEqual([]);
    s.tick(served(1, 1));
    s.ticks(20);
    expect(s.timeline()).toEqual([
      ['alert', 3],
      ['recovered', 12],
    ]);
    const [alert, recovered] = s.events;
    expect(alert!.type === 'alert' && alert!.alert).toEqual({
      at: (START + 3) * 1000,
      hits: 11,
      threshold: 1,
      window: 10,
      rule: { name: 'errors', kind: 'rate', value: 1.1 },
    });
    expect(recovered!.type === 'recovered' && recovered!.recovery).toMatchObject({ hits: 1, since: (START + 3) * 1000, rule: { value: 0.1 } });
  });

  test('a decimal threshold is compared exactly: 57 hits over 100 s is not over 0.57 req/s, 58 is', () => {
    const at = scenario('{ name: r, rate: 0.57, window: 100s }');
    at.tick(served(57));
    at.ticks(150);
    expect(at.events).toEqual([]);
    const over = scenario('{ name: r, rate: 0.57, window: 100s }');
    over.tick(served(58));
    over.ticks(150);
    expect(over.timeline()).toEqual([
      ['alert', 1],
      ['recovered', 101],
    ]);
  });

  test('with recover it stays alerting until the hits are at or below recover × W', () => {
    const stays = scenario('{ name: r, rate: 1, recover: 0.5, window: 10s }');
    stays.tick(served(5));
    stays.tick(served(6)); // 11 > 10 at 2; at 11 the window holds 6 > 5
    stays.ticks(9);
    expect(stays.state()).toBe('alerting');
    stays.ticks(5);
    expect(stays.timeline()).toEqual([
      ['alert', 2],
      ['recovered', 12],
    ]);
    const boundary = scenario('{ name: r, rate: 1, recover: 0.5, window: 10s }');
    boundary.tick(served(6));
    boundary.tick(served(5)); // at 11 the window holds 5 = 0.5 × 10
    boundary.ticks(14);
    expect(boundary.timeline()).toEqual([
      ['alert', 2],
      ['recovered', 11],
    ]);
    const recovered = boundary.events[1]!;
    expect(recovered.type === 'recovered' && recovered.recovery.rule).toEqual({ name: 'r', kind: 'rate', value: 0.5, recover: 0.5 });
  });

  test('alert → recover → alert gives exactly four messages in order', () => {
    const s = scenario('{ name: r, rate: 1, window: 10s }');
    s.tick(served(11));
    s.ticks(15);
    s.tick(served(20));
    s.ticks(15);
    expect(s.timeline()).toEqual([
      ['alert', 1],
      ['recovered', 11],
      ['alert', 17],
      ['recovered', 27],
    ]);
  });
});

describe('a ratio rule', () => {
  test('fires when matching / all hits > threshold with at least min_hits hits; its events carry value and total', () => {
    const s = scenario('{ name: errors, ratio: 5%, min_hits: 20, window: 10s, match: { status: 5xx } }');
    s.tick(served(100, 5)); // 5 % exactly: not over
    expect(s.events).toEqual([]);
    s.tick(served(20, 2)); // 7 / 120
    s.ticks(9);
    expect(s.state()).toBe('alerting'); // at 11: 2 / 20 = 10 %, with 20 hits
    s.ticks(5);
    expect(s.timeline()).toEqual([
      ['alert', 2],
      ['recovered', 12],
    ]);
    const [alert, recovered] = s.events;
    expect(alert!.type === 'alert' && alert!.alert).toEqual({
      at: (START + 2) * 1000,
      hits: 7,
      threshold: 0.05,
      window: 10,
      rule: { name: 'errors', kind: 'ratio', value: 7 / 120, total: 120 },
    });
    expect(recovered!.type === 'recovered' && recovered!.recovery.rule).toMatchObject({ value: 0, total: 0 });
  });

  test('never fires with fewer than min_hits hits, even when every hit matches', () => {
    const s = scenario('{ name: errors, ratio: 10%, min_hits: 50, window: 10s, match: { status: 5xx } }');
    s.ticks(5, served(9, 9));
    expect(s.events).toEqual([]);
    s.tick(served(5, 5));
    expect(s.timeline()).toEqual([['alert', 6]]);
  });

  test('recovers when fewer than min_hits hits are left, even with the ratio still over', () => {
    const s = scenario('{ name: errors, ratio: 40%, min_hits: 10, window: 10s, match: { status: 5xx } }');
    s.tick(served(5, 0));
    s.tick(served(5, 5)); // 5 / 10 at 2
    s.ticks(12);
    expect(s.timeline()).toEqual([
      ['alert', 2],
      ['recovered', 11],
    ]);
    const recovered = s.events[1]!;
    expect(recovered.type === 'recovered' && recovered.recovery.rule).toMatchObject({ value: 1, total: 5 });
  });

  test('with recover it stays alerting until the ratio is at or below recover', () => {
    const run = (yaml: string) => {
      const s = scenario(yaml);
      s.tick(served(100, 4)); // 4 % at 1
      s.tick(served(100, 18)); // 22 / 200 = 11 % at 2
      s.ticks(13, served(100, 5)); // 27 / 300 = 9 % at 3 … 63 / 1000 at 11, 50 / 1000 = 5 % at 12
      return s.timeline();
    };
    expect(run('{ name: e, ratio: 10%, recover: 5%, window: 10s, match: { status: 5xx } }')).toEqual([
      ['alert', 2],
      ['recovered', 12],
    ]);
    expect(run('{ name: e, ratio: 10%, window: 10s, match: { status: 5xx } }')).toEqual([
      ['alert', 2],
      ['recovered', 3],
    ]);
  });
});

describe('a silence rule', () => {
  const health = (n: number): Lines => ({ hits: n, sections: { '/health': n } });

  test('fires only once a whole window has been watched since the start, and recovers at recover hits', () => {
    const s = scenario('{ name: quiet, silence: 1, recover: 3, window: 10s, match: { section: /health } }');
    s.ticks(9, { hits: 5, sections: { '/api': 5 } });
    expect(s.events).toEqual([]);
    s.tick();
    expect(s.timeline()).toEqual([['alert', 10]]);
    s.ticks(2, health(1)); // 1, then 2: no longer silent, not yet recovered
    expect(s.state()).toBe('alerting');
    s.tick(health(1));
    expect(s.timeline()).toEqual([
      ['alert', 10],
      ['recovered', 13],
    ]);
    const [alert, recovered] = s.events;
    expect(alert!.type === 'alert' && alert!.alert).toMatchObject({ hits: 0, threshold: 1, rule: { name: 'quiet', kind: 'silence', value: 0, recover: 3 } });
    expect(recovered!.type === 'recovered' && recovered!.recovery).toMatchObject({ hits: 3, rule: { value: 3 } });
  });

  test('fires when the matching hits fall below the threshold; without recover it recovers at the threshold', () => {
    const s = scenario('{ name: quiet, silence: 2, window: 10s, match: { section: /health } }');
    s.ticks(15, health(1)); // seconds 0..14
    s.ticks(9); // at 24 the window [14, 24) holds one hit
    s.ticks(6);
    s.ticks(2, health(1));
    expect(s.timeline()).toEqual([
      ['alert', 24],
      ['recovered', 32],
    ]);
  });

  test('the whole window is counted from when the monitor started, not from the first evaluation', () => {
    const s = scenario('{ name: quiet, silence: 1, window: 10s }', { startedAt: (START - 10) * 1000 });
    s.tick();
    expect(s.timeline()).toEqual([['alert', 1]]);
  });
});

describe('for: the condition must hold a while', () => {
  test('pending from the first evaluation where it holds, firing when it has held N seconds', () => {
    const s = scenario('{ name: r, rate: 1, window: 10s, for: 3s }');
    s.tick(served(11));
    expect(s.state()).toBe('pending');
    expect(s.actor.getSnapshot().context.pendingSince).toBe((START + 1) * 1000);
    s.ticks(2);
    expect(s.state()).toBe('pending');
    expect(s.events).toEqual([]);
    s.tick();
    expect(s.state()).toBe('alerting');
    s.ticks(10);
    expect(s.timeline()).toEqual([
      ['alert', 4],
      ['recovered', 11],
    ]);
    const [alert, recovered] = s.events;
    expect(alert!.type === 'alert' && alert!.alert.hits).toBe(11);
    expect(recovered!.type === 'recovered' && recovered!.recovery.since).toBe((START + 4) * 1000);
  });

  test('a pending that ends before N seconds goes back to normal with no event', () => {
    const s = scenario('{ name: r, rate: 1, window: 10s, for: 20s }');
    s.tick(served(11));
    s.ticks(9);
    expect(s.state()).toBe('pending');
    s.tick();
    expect(s.state()).toBe('normal');
    s.ticks(30);
    expect(s.events).toEqual([]);
  });

  test('an interruption restarts the count: it fires N seconds after the condition holds again', () => {
    const s = scenario('{ name: r, rate: 1, window: 2s, for: 3s }');
    s.tick(served(3)); // pending at 1
    s.tick(); // still 3 at 2
    s.tick(); // 0 at 3: back to normal
    expect(s.state()).toBe('normal');
    s.ticks(6, served(3)); // pending again at 4
    expect(s.actor.getSnapshot().context.pendingSince).toBe((START + 4) * 1000);
    expect(s.timeline()).toEqual([['alert', 7]]);
  });

  test('without for, pending is never entered', () => {
    const s = scenario('{ name: r, rate: 1, window: 10s }');
    s.tick(served(11));
    expect(s.state()).toBe('alerting');
    s.ticks(20);
    s.tick(served(11));
    s.ticks(20);
    expect(s.timeline().map(([type]) => type)).toEqual(['alert', 'recovered', 'alert', 'recovered']);
    expect([...s.visited].sort()).toEqual(['alerting', 'normal']);
  });
});

/** A segment of `second` whose timed lines took these durations (ms), with `untimed` lines besides. */
function timed(durations: number[], { untimed = 0, vhosts }: { untimed?: number; vhosts?: Record<string, number[]> } = {}) {
  const sketchOf = (values: number[]) => {
    const s = new Sketch();
    for (const ms of values) s.add(ms);
    return s;
  };
  return (second: number): Segment => {
    const all = vhosts ? Object.values(vhosts).flat() : durations;
    const seg = segmentAt(second, { hits: all.length + untimed });
    if (all.length > 0) seg.latency = sketchOf(all);
    if (vhosts) {
      seg.vhostLatency = new Map(Object.entries(vhosts).map(([v, d]) => [v, sketchOf(d)]));
      seg.keys = packMaps({ vhosts: new Map(Object.entries(vhosts).map(([v, d]) => [v, d.length])) });
    }
    return seg;
  };
}
const times = (n: number, ms: number) => Array.from({ length: n }, () => ms);
const near = (got: number, want: number) => Math.abs(got - want) <= RELATIVE_ACCURACY * want;

describe('a latency rule', () => {
  test('fires when the p99 of the timed hits crosses 500 ms, not before for; recovers only at or below recover', () => {
    const s = scenario('{ name: slow, latency: 500ms, recover: 300ms, window: 10s, for: 3s }');
    // Seconds 0..4: 100 ms; 5..14: 900 ms; 15..24: 400 ms; 25 on: 200 ms. Untimed lines beside, never counted.
    s.timedTicks(5, timed(times(30, 100), { untimed: 1000 }));
    expect(s.state()).toBe('normal');
    s.timedTicks(1, timed(times(30, 900), { untimed: 1000 }));
    expect(s.state()).toBe('pending'); // at 6: [−4, 6) holds 30 of 180 at 900 ms
    s.timedTicks(9, timed(times(30, 900), { untimed: 1000 }));
    s.timedTicks(10, timed(times(30, 400)));
    // At 25 the window [15, 25) is all 400 ms: under the latency, over recover: still alerting.
    expect(s.state()).toBe('alerting');
    s.timedTicks(12, timed(times(30, 200)));
    expect(s.timeline()).toEqual([
      ['alert', 9],
      ['recovered', 35],
    ]);
    const [alert, recovered] = s.events;
    const fired = alert!.type === 'alert' ? alert!.alert : undefined;
    // At 9: [−1, 9) holds 5 seconds of 100 ms and 4 of 900 ms, 30 timed hits each.
    expect(fired).toMatchObject({ at: (START + 9) * 1000, hits: 270, threshold: 500, window: 10, rule: { name: 'slow', kind: 'latency', quantile: 0.99, recover: 300 } });
    expect(near(fired!.rule!.value, 900)).toBe(true);
    const over = recovered!.type === 'recovered' ? recovered!.recovery : undefined;
    expect(over).toMatchObject({ hits: 300, since: (START + 9) * 1000, rule: { kind: 'latency', quantile: 0.99 } });
    expect(near(over!.rule!.value, 200)).toBe(true);
  });

  test('without recover it recovers as soon as the p99 is at or below the latency', () => {
    const s = scenario('{ name: slow, latency: 500ms, window: 10s }');
    s.timedTicks(1, timed(times(30, 900)));
    s.timedTicks(11, timed(times(30, 450)));
    expect(s.timeline()).toEqual([
      ['alert', 1],
      ['recovered', 11],
    ]);
  });

  test('never fires with fewer than min_hits timed hits, and an alert ends when too few are left, slow as they are', () => {
    const s = scenario('{ name: slow, latency: 500ms, window: 10s }');
    s.timedTicks(1, timed(times(15, 900), { untimed: 500 })); // 15 < 20 timed hits
    s.ticks(2);
    expect(s.events).toEqual([]);
    s.timedTicks(1, timed(times(10, 900))); // 25 at 4
    s.ticks(10);
    // At 11 the window [1, 11) holds the 10 of second 3: still 900 ms, too few to judge.
    expect(s.timeline()).toEqual([
      ['alert', 4],
      ['recovered', 11],
    ]);
    const recovered = s.events[1]!;
    expect(recovered.type === 'recovered' && recovered.recovery).toMatchObject({ hits: 10 });
    expect(recovered.type === 'recovered' && near(recovered.recovery.rule!.value, 900)).toBe(true);
  });

  test('lines with no duration at all never fire it', () => {
    const s = scenario('{ name: slow, latency: 1ms, min_hits: 1, window: 10s }');
    s.ticks(20, served(5000));
    expect(s.events).toEqual([]);
  });
});

/**
 * The rule monitor in a tiny system of its own: a fake reporter (the instances message
 * `system.get('reporter')`) and the simulated clock given once, at the root.
 */
function monitorScenario(...yamls: string[]) {
  const clock = new SimulatedClock();
  clock.set(START * 1000);
  const now = () => clock.now();
  const windows = yamls.map((yaml) => new RuleWindow(rule(yaml), START * 1000));
  const messages: ReporterMessage[] = [];
  const root = setup({
    actors: {
      ruleMonitor,
      reporter: fromCallback<ReporterMessage>(({ receive }) => {
        receive((message) => messages.push(message));
      }),
    },
  }).createMachine({
    entry: [
      spawnChild('reporter', { id: 'reporter', systemId: 'reporter' }),
      spawnChild('ruleMonitor', { id: 'rules', systemId: 'rules', input: { windows, now } }),
    ],
  });
  const actor = createActor(root, { clock }).start();
  const second = () => Math.floor(clock.now() / 1000);
  return {
    windows,
    messages,
    tick(lines?: Lines) {
      if (lines) for (const w of windows) w.record([segmentAt(second(), lines)], second());
      clock.increment(1000);
    },
    ticks(n: number, lines?: Lines) {
      for (let i = 0; i < n; i++) this.tick(lines);
    },
    /** A segment made for the current second goes to every rule, then the clock moves on. */
    timedTick(make: (second: number) => Segment) {
      for (const w of windows) w.record([make(second())], second());
      clock.increment(1000);
    },
    /** The ids of the alert instances the monitor runs. */
    instances: () => Object.keys((actor.system.get('rules') as AnyActorRef).getSnapshot().children).sort(),
    /** Alerts and recoveries as the reporter got them: type, rule, group key, seconds after START. */
    timeline: () =>
      messages.flatMap((m) => {
        if (m.type === 'alert') return [[m.type, m.alert.rule?.name, m.alert.rule?.group?.key, m.alert.at / 1000 - START]];
        if (m.type === 'recovered') return [[m.type, m.recovery.rule?.name, m.recovery.rule?.group?.key, m.recovery.at / 1000 - START]];
        return [];
      }),
  };
}

describe('rules in the rule monitor', () => {
  test('a rule without by has its instance from the start, which messages the reporter', () => {
    const s = monitorScenario('{ name: errors, rate: 1, window: 10s, match: { status: 5xx } }');
    expect(s.instances()).toEqual(['rule-0']);
    s.tick(served(11, 11));
    s.ticks(12);
    expect(s.timeline()).toEqual([
      ['alert', 'errors', undefined, 1],
      ['recovered', 'errors', undefined, 11],
    ]);
  });

  test('by host: an instance per group that went over, firing at the very second it did, with the group in its events', () => {
    const s = monitorScenario('{ name: busy, rate: 1, window: 10s, by: host }');
    expect(s.instances()).toEqual([]);
    s.tick(from({ '10.0.0.1': 11, '10.0.0.3': 3 }));
    expect(s.instances()).toEqual(['rule-0-10.0.0.1']);
    s.tick(from({ '10.0.0.2': 11, '10.0.0.3': 3 }));
    expect(s.instances()).toEqual(['rule-0-10.0.0.1', 'rule-0-10.0.0.2']);
    s.ticks(12);
    expect(s.timeline()).toEqual([
      ['alert', 'busy', '10.0.0.1', 1],
      ['alert', 'busy', '10.0.0.2', 2],
      ['recovered', 'busy', '10.0.0.1', 11],
      ['recovered', 'busy', '10.0.0.2', 12],
    ]);
    const first = s.messages[0]!;
    expect(first.type === 'alert' && first.alert).toEqual({
      at: (START + 1) * 1000,
      hits: 11,
      threshold: 1,
      window: 10,
      rule: { name: 'busy', kind: 'rate', group: { by: 'host', key: '10.0.0.1' }, value: 1.1 },
    });
  });

  test('a quiet group loses its instance and is forgotten; it can fire again later', () => {
    const s = monitorScenario('{ name: busy, rate: 1, window: 5s, by: host }');
    s.tick(from({ a: 6 }));
    s.ticks(10);
    expect(s.instances()).toEqual([]);
    expect(s.windows[0]!.groups.size).toBe(0);
    s.tick(from({ a: 6 }));
    expect(s.instances()).toEqual(['rule-0-a']);
    s.ticks(10);
    expect(s.timeline()).toEqual([
      ['alert', 'busy', 'a', 1],
      ['recovered', 'busy', 'a', 6],
      ['alert', 'busy', 'a', 12],
      ['recovered', 'busy', 'a', 17],
    ]);
  });

  test('a group with an alert going on is never replaced, even by a busier one', () => {
    const s = monitorScenario('{ name: busy, rate: 1, window: 10s, by: host, groups: 1 }');
    s.tick(from({ a: 11 }));
    s.tick(from({ b: 1000 }));
    expect([...s.windows[0]!.groups.keys()]).toEqual(['a']);
    s.ticks(10);
    s.tick(from({ b: 11 }));
    expect(s.timeline()).toEqual([
      ['alert', 'busy', 'a', 1],
      ['recovered', 'busy', 'a', 11],
      ['alert', 'busy', 'b', 13],
    ]);
  });

  test('with for, a group instance starts pending and fires once the group has been over N seconds', () => {
    const s = monitorScenario('{ name: busy, rate: 1, window: 10s, by: host, for: 2s }');
    s.tick(from({ a: 11 }));
    expect(s.instances()).toEqual(['rule-0-a']);
    s.tick();
    expect(s.timeline()).toEqual([]);
    s.tick();
    expect(s.timeline()).toEqual([['alert', 'busy', 'a', 3]]);
  });

  test('1,000 distinct hosts, one hit each, with groups: 10 keep state bounded; a busy newcomer still gets in', () => {
    const s = monitorScenario('{ name: busy, rate: 1, window: 10s, by: host, groups: 10 }');
    for (let t = 0; t < 10; t++) {
      const hosts: Record<string, number> = {};
      for (let i = 0; i < 100; i++) hosts[`10.${t}.0.${i}`] = 1;
      s.tick(from(hosts));
      expect(s.windows[0]!.groups.size).toBeLessThanOrEqual(10);
    }
    expect(s.windows[0]!.groups.size).toBe(10);
    expect(s.instances()).toEqual([]);
    s.tick(from({ 'big.example': 50 }));
    expect(s.windows[0]!.groups.size).toBeLessThanOrEqual(10);
    expect(s.instances()).toEqual(['rule-0-big.example']);
    expect(s.timeline()).toEqual([['alert', 'busy', 'big.example', 11]]);
  });
});

describe('latency rules in the rule monitor', () => {
  test('by vhost: an instance for the slow virtual host only, its events naming the vhost, the quantile and the timed hits', () => {
    const s = monitorScenario('{ name: slow-site, latency: 500ms, window: 10s, by: vhost }');
    s.timedTick(timed([], { vhosts: { 'a.example': times(40, 900), 'b.example': times(40, 50) } }));
    expect(s.instances()).toEqual(['rule-0-a.example']);
    s.ticks(12);
    expect(s.timeline()).toEqual([
      ['alert', 'slow-site', 'a.example', 1],
      ['recovered', 'slow-site', 'a.example', 11],
    ]);
    const first = s.messages[0]!;
    expect(first.type === 'alert' && first.alert).toMatchObject({
      at: (START + 1) * 1000,
      hits: 40,
      threshold: 500,
      window: 10,
      rule: { name: 'slow-site', kind: 'latency', group: { by: 'vhost', key: 'a.example' }, quantile: 0.99 },
    });
    expect(s.instances()).toEqual([]);
  });

  test('with match and for: pending, then fires; the rule without by has its instance from the start', () => {
    const s = monitorScenario('{ name: slow-a, latency: 500ms, window: 10s, for: 2s, match: { vhost: a.example } }', '{ name: busy-b, rate: 1, window: 10s, match: { vhost: b.example } }');
    expect(s.instances()).toEqual(['rule-0', 'rule-1']);
    s.timedTick(timed([], { vhosts: { 'a.example': times(40, 900), 'b.example': times(11, 50) } }));
    s.ticks(3);
    expect(s.timeline()).toEqual([
      ['alert', 'busy-b', undefined, 1],
      ['alert', 'slow-a', undefined, 3],
    ]);
  });
});
