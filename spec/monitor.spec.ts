import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createActor, SimulatedClock, toPromise } from 'xstate';
import { firstSecond } from '../actors/replay-clock';
import { fileSource } from '../actors/replay-reader';
import { parseRules } from '../lib/rules';
import { type MonitorInput, monitorMachine } from '../machines/monitor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'monitor-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 1) / 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function clf(second: number, section = '/pages/x'): string {
  const d = new Date(second * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const ts = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  return `10.0.0.1 - - [${ts}] "GET ${section} HTTP/1.1" 200 100\n`;
}

/** A log with `rate` lines a second for each phase, from T0. */
function profileLog(name: string, phases: [rate: number, seconds: number][]): string {
  let second = T0;
  let text = '';
  for (const [rate, seconds] of phases) {
    for (let s = 0; s < seconds; s++, second++) text += clf(second).repeat(rate);
  }
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Runs the root machine over files in replay mode, in this process; returns the NDJSON lines. */
async function replay(paths: string[], options: Partial<MonitorInput> = {}) {
  const clock = new SimulatedClock();
  clock.set((firstSecond(paths) ?? 0) * 1000);
  const out: string[] = [];
  const err: string[] = [];
  const actor = createActor(monitorMachine, {
    clock,
    systemId: 'monitor',
    input: {
      paths,
      mode: 'replay',
      json: true,
      quiet: false,
      threshold: 10,
      windowSeconds: 120,
      intervalSeconds: 10,
      timeSource: 'log',
      now: () => clock.now(),
      clock,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      pollMs: 250,
      watch: false,
      limit: 10,
      ...options,
    },
  });
  actor.start();
  await toPromise(actor);
  return { records: out.map((l) => JSON.parse(l)), err };
}

const secondsAfterT0 = (iso: string) => Date.parse(iso) / 1000 - T0;

describe('monitor (root machine), replaying with a simulated clock', () => {
  test('profile 5x300,25x200,5x400: one alert at 331 s and one recovery at 590 s', async () => {
    const file = profileLog('profile.log', [[5, 300], [25, 200], [5, 400]]);
    const { records } = await replay([file]);
    const alerts = records.filter((r) => r.type !== 'stats');
    expect(alerts.map((r) => [r.type, secondsAfterT0(r.at), r.hits])).toEqual([
      ['alert', 331, 1220],
      ['recovered', 590, 1200],
    ]);
    const stats = records.filter((r) => r.type === 'stats');
    expect(stats.reduce((n, s) => n + s.hits, 0)).toBe(5 * 300 + 25 * 200 + 5 * 400);
    // 90 whole intervals, then the final record: the replay ended on an interval boundary.
    expect(stats.length).toBe(91);
    expect(stats.slice(0, 90).every((s, i) => secondsAfterT0(s.start) === i * 10 && secondsAfterT0(s.end) === i * 10 + 10)).toBe(true);
    expect(stats[90]).toMatchObject({ start: stats[90].end, hits: 0, final: true });
  });

  test('stats and alerts come out in the order a live run would print them', async () => {
    const file = path.join(dir, 'order.log');
    fs.writeFileSync(file, clf(T0) + clf(T0 + 5).repeat(200) + clf(T0 + 26));
    const { records } = await replay([file], { windowSeconds: 10, threshold: 10 });
    expect(records.map((r) => [r.type, secondsAfterT0(r.at ?? r.end), r.hits])).toEqual([
      ['alert', 6, 201],
      ['stats', 10, 201],
      ['recovered', 16, 0],
      ['stats', 20, 0],
      // The replay ends one second after its last line, with the partial interval.
      ['stats', 27, 1],
    ]);
    expect(records.at(-1).final).toBe(true);
  });

  test('a silence of three days is jumped over, not printed as 26,000 empty intervals', async () => {
    const file = path.join(dir, 'gap.log');
    fs.writeFileSync(file, clf(T0).repeat(1500) + clf(T0 + 3 * 86400).repeat(3));
    const { records } = await replay([file]);
    const types = records.map((r) => r.type);
    expect(types.filter((t) => t === 'alert').length).toBe(1);
    expect(types.filter((t) => t === 'recovered').length).toBe(1);
    expect(records.find((r) => r.type === 'recovered').at).toBe(new Date((T0 + 121) * 1000).toISOString());
    expect(records.length).toBeLessThan(40);
    const stats = records.filter((r) => r.type === 'stats');
    expect(stats.reduce((n, s) => n + s.hits, 0)).toBe(1503);
    expect(stats.at(-1).final).toBe(true);
  });

  test('--time-source arrival in a replay counts every line at the replay clock', async () => {
    const file = profileLog('arrival.log', [[30, 5]]);
    const { records } = await replay([file], { timeSource: 'arrival', windowSeconds: 10, threshold: 10 });
    const stats = records.filter((r) => r.type === 'stats');
    expect(stats.reduce((n, s) => n + s.hits, 0)).toBe(150);
    expect(records.filter((r) => r.type === 'alert').length).toBe(1);
  });
});

describe('monitor, replaying with rules', () => {
  test('a long idle stretch is jumped over only after the longest rule window (+ for) has seen it: a silence rule fires on time', async () => {
    // 2 lines/s for 60 s, 20 min of silence, 2 lines/s for 60 s; the traffic window is 10 s.
    const file = path.join(dir, 'idle-gap.log');
    let text = '';
    for (let s = 0; s < 60; s++) text += clf(T0 + s).repeat(2);
    for (let s = 0; s < 60; s++) text += clf(T0 + 1260 + s).repeat(2);
    fs.writeFileSync(file, text);
    const rules = parseRules(
      'rules:\n  - { name: quiet, silence: 1, window: 300 }\n  - { name: busy, rate: 1, window: 240, for: 120s, recover: 0.5 }\n',
      'r.yaml',
    );
    const { records } = await replay([file], { windowSeconds: 10, threshold: 1000, rules });
    const transitions = records.filter((r) => r.rule).map((r) => [r.rule, r.type, secondsAfterT0(r.at)]);
    // quiet: the last line is at 59, so the window [t − 300, t) is empty from t = 360; it recovers at 1261.
    // busy: 2 req/s > 1 over 240 s needs 241 hits (from second 120 on, held 120 s); never over here.
    expect(transitions).toEqual([
      ['quiet', 'alert', 360],
      ['quiet', 'recovered', 1261],
    ]);
  });
});

describe('monitor, replaying several files at once', () => {
  test('two logs of the same stretch are merged by second: their traffic adds up for the alert', async () => {
    // Each file alone is 6 lines a second (never over 10/s); together they are 12/s.
    const a = profileLog('server-a.log', [[6, 200]]);
    const b = profileLog('server-b.log', [[6, 200]]);
    const { records } = await replay([a, b]);
    const alerts = records.filter((r) => r.type !== 'stats');
    // 12 hits a second: the window holds more than 1200 from the 101st second on.
    expect(alerts.map((r) => [r.type, secondsAfterT0(r.at)])).toEqual([['alert', 101]]);
    const stats = records.filter((r) => r.type === 'stats');
    expect(stats.reduce((n, s) => n + s.hits, 0)).toBe(2 * 6 * 200);
    expect(stats.reduce((n, s) => n + s.late, 0)).toBe(0);
    expect(stats[0].hits).toBe(120);
  });

  test('read a few KiB at a time, each file\'s segments wait in the merge past its next chunk: their keys still count right', async () => {
    // The parser's scanners pack a chunk's keys into a buffer that the next chunk reuses; segments
    // the merge holds keep copies. Wrong copies would show as wrong sections and hosts here.
    const write = (name: string, perSecond: number, key: string, sections: number) => {
      let text = '';
      for (let s = 0; s < 60; s++) {
        for (let i = 0; i < perSecond; i++) {
          text += clf(T0 + s, `/${key}${s % sections}/x`).replace('10.0.0.1', `10.${key === 'a' ? 1 : 2}.${s}.${i}`);
        }
      }
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    };
    const a = write('merge-a.log', 5, 'a', 7);
    const b = write('merge-b.log', 3, 'b', 5);
    const sources = [a, b].map((f) => fileSource(f, new Uint8Array(4096)));
    const { records } = await replay([a, b], { sources, limit: 20 });
    const stats = records.filter((r) => r.type === 'stats' && r.hits > 0);
    expect(stats.length).toBe(6);
    for (const st of stats) {
      const from = secondsAfterT0(st.start);
      const expected = new Map<string, number>();
      for (let s = from; s < from + 10; s++) {
        expected.set(`/a${s % 7}`, (expected.get(`/a${s % 7}`) ?? 0) + 5);
        expected.set(`/b${s % 5}`, (expected.get(`/b${s % 5}`) ?? 0) + 3);
      }
      expect(new Map(st.sections.map((x: { section: string; hits: number }) => [x.section, x.hits]))).toEqual(expected);
      expect(st.unique).toEqual({ hosts: 80, users: 0, sections: expected.size, estimated: true });
    }
  });

  test('files of very different density interleave: a sparse log is not read ahead of a dense one', async () => {
    const dense = profileLog('dense.log', [[20, 300]]);
    const sparse = path.join(dir, 'sparse.log');
    fs.writeFileSync(sparse, [0, 100, 200, 299].map((s) => clf(T0 + s, '/sparse/x')).join(''));
    const { records } = await replay([sparse, dense], { windowSeconds: 10, threshold: 100 });
    const stats = records.filter((r) => r.type === 'stats');
    expect(stats.reduce((n, s) => n + s.hits, 0)).toBe(20 * 300 + 4);
    expect(stats.reduce((n, s) => n + s.late, 0)).toBe(0);
    // The sparse file's lines land in the intervals of their own seconds.
    const withSparse = stats.filter((s) => s.sections.some((x: { section: string }) => x.section === '/sparse'));
    expect(withSparse.map((s) => secondsAfterT0(s.start))).toEqual([0, 100, 200, 290]);
  });
});
