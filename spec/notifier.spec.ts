/**
 * Deliveries against real receivers (Bun.serve on 127.0.0.1) and real commands: in order, once
 * after a 2xx, retried on 5xx and timeouts, not on 4xx, reported once per tick, bounded, and
 * closed within a deadline. Times are the options' small ones; nothing sleeps: each case awaits
 * the requests the receivers get, the attempts the delivery makes, or `settled()`.
 *
 * How long an event waits behind another is measured on a simulated clock and receiver (the
 * `clock` and `send` options), with the default timeout, backoff and attempts: `advance` moves
 * time on and fires the timers due, nothing waits for real time.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor } from 'xstate';
import type { NotifyEvent } from '../actors/messages';
import { type Attempt, Delivery, type DeliveryClock, notifier, type Outcome } from '../actors/notifier';

const START = Date.UTC(2026, 0, 1, 10, 0, 0);

/** An alert or a recovery of rule `rule` (its key: the events of one key keep their order). */
const event = (n: number, type: NotifyEvent['type'] = 'alert', rule = 'HighTraffic'): NotifyEvent => ({
  type,
  record: { type, n },
  message: `${type} ${n}`,
  labels: { alertname: rule },
  startsAt: START,
  ...(type === 'recovered' ? { endsAt: START + 60_000 } : {}),
});

/** A list that can be awaited for its nth item. */
class Seen<T> {
  readonly items: T[] = [];
  #waiting: { n: number; resolve: (item: T) => void }[] = [];
  push(item: T) {
    this.items.push(item);
    for (const w of this.#waiting.filter((w) => w.n <= this.items.length)) w.resolve(this.items[w.n - 1] as T);
    this.#waiting = this.#waiting.filter((w) => w.n > this.items.length);
  }
  nth(n: number): Promise<T> {
    if (n <= this.items.length) return Promise.resolve(this.items[n - 1] as T);
    return new Promise((resolve) => this.#waiting.push({ n, resolve }));
  }
}

const servers: ReturnType<typeof Bun.serve>[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const server of servers) server.stop(true);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Request {
  body: string;
  contentType: string | null;
  path: string;
}

/** A webhook receiver answering the nth request (from 1) with `answer(n)`. */
function receiver(answer: (n: number) => Response | Promise<Response> = () => new Response('ok')) {
  const requests = new Seen<Request>();
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      const request = { body: await req.text(), contentType: req.headers.get('content-type'), path: new URL(req.url).pathname };
      requests.push(request);
      return answer(requests.items.length);
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, requests };
}

const never = () => new Promise<Response>(() => {});
const status = (code: number) => new Response('', { status: code });
const records = (requests: Seen<Request>) => requests.items.map((r) => JSON.parse(r.body));

function tempFile(name: string) {
  const dir = mkdtempSync(join(tmpdir(), 'hlm-notifier-'));
  dirs.push(dir);
  return join(dir, name);
}

describe('webhooks', () => {
  test('an alert and its recovery reach every webhook once each, in order', async () => {
    const json = receiver();
    const am = receiver();
    const deliveries = [new Delivery({ url: `${json.url}/hook`, format: 'json' }), new Delivery({ url: am.url, format: 'alertmanager' })];
    const actor = createActor(notifier, { input: { deliveries, reportEveryMs: 0 } }).start();
    actor.send({ type: 'notify', event: event(1) });
    actor.send({ type: 'notify', event: event(1, 'recovered') });
    await Promise.all(deliveries.map((d) => d.settled()));
    actor.stop();

    expect(records(json.requests)).toEqual([
      { type: 'alert', n: 1 },
      { type: 'recovered', n: 1 },
    ]);
    expect(json.requests.items.map((r) => [r.path, r.contentType])).toEqual([
      ['/hook', 'application/json'],
      ['/hook', 'application/json'],
    ]);
    expect(records(am.requests).map((m) => [m.status, m.alerts[0].fingerprint])).toEqual([
      ['firing', expect.stringMatching(/^[0-9a-f]{16}$/)],
      ['resolved', records(am.requests)[0].alerts[0].fingerprint],
    ]);
    expect(deliveries.map((d) => d.stats())).toEqual([
      { waiting: 0, delivered: 2, failed: 0, dropped: 0 },
      { waiting: 0, delivered: 2, failed: 0, dropped: 0 },
    ]);
  }, 10_000);

  test('a 500 twice, then a 200: the event is retried and delivered once (3 requests)', async () => {
    const r = receiver((n) => (n <= 2 ? status(500) : status(200)));
    const attempts = new Seen<Attempt>();
    const d = new Delivery({ url: r.url, format: 'json' }, { backoffMs: 1, onAttempt: (a) => attempts.push(a) });
    d.push(event(1));
    await d.settled();
    expect(r.requests.items).toHaveLength(3);
    expect(records(r.requests)).toEqual([{ type: 'alert', n: 1 }, { type: 'alert', n: 1 }, { type: 'alert', n: 1 }]);
    expect(attempts.items.map((a) => [a.n, a.ok, a.reason, a.final])).toEqual([
      [1, false, 'HTTP 500', false],
      [2, false, 'HTTP 500', false],
      [3, true, undefined, true],
    ]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 1, failed: 0, dropped: 0 });
  }, 10_000);

  test('a 429 is retried like a 5xx', async () => {
    const r = receiver((n) => (n === 1 ? status(429) : status(204)));
    const d = new Delivery({ url: r.url, format: 'json' }, { backoffMs: 1 });
    d.push(event(1));
    await d.settled();
    expect(r.requests.items).toHaveLength(2);
    expect(d.stats().delivered).toBe(1);
  }, 10_000);

  test('a 404 is given up at once, and the next event still goes', async () => {
    const r = receiver((n) => (n === 1 ? status(404) : status(200)));
    const attempts = new Seen<Attempt>();
    const d = new Delivery({ url: r.url, format: 'json' }, { backoffMs: 1, onAttempt: (a) => attempts.push(a) });
    d.push(event(1));
    d.push(event(2));
    await d.settled();
    expect(records(r.requests)).toEqual([{ type: 'alert', n: 1 }, { type: 'alert', n: 2 }]);
    expect(attempts.items.map((a) => [a.n, a.reason, a.final])).toEqual([
      [1, 'HTTP 404', true],
      [1, undefined, true],
    ]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 1, failed: 1, dropped: 0 });
  }, 10_000);

  test('a receiver that never answers times out, is reported once per tick without its secret, and holds up no other target', async () => {
    const hung = receiver(never);
    const healthy = receiver();
    const lines: string[] = [];
    const slow = new Delivery(
      { url: `${hung.url}/services/T0/B0/SECRET`, format: 'slack' },
      { timeoutMs: 50, backoffMs: 1, backoffCapMs: 1, maxAttempts: 1_000, report: (line) => lines.push(line) },
    );
    const fast = new Delivery({ url: healthy.url, format: 'json' }, { report: (line) => lines.push(line) });
    const actor = createActor(notifier, { input: { deliveries: [slow, fast], reportEveryMs: 0 } }).start();
    actor.send({ type: 'notify', event: event(1) });
    actor.send({ type: 'notify', event: event(1, 'recovered') });

    await fast.settled();
    expect(records(healthy.requests)).toEqual([{ type: 'alert', n: 1 }, { type: 'recovered', n: 1 }]);
    expect(slow.stats().waiting).toBe(2);

    // A second request means the first one timed out.
    await hung.requests.nth(2);
    slow.tick();
    fast.tick();
    const line = `notifications to ${hung.url} failing: timed out after 50 ms (2 events waiting, 0 given up)`;
    expect(lines).toEqual([line]);
    // Several more attempts fail before the next tick; it says so once.
    await hung.requests.nth(5);
    slow.tick();
    expect(lines).toEqual([line, line]);
    expect(lines.join('\n')).not.toContain('SECRET');

    actor.stop();
    await slow.close(50);
    expect(slow.stats()).toMatchObject({ waiting: 0, delivered: 0, failed: 2 });
  }, 10_000);

  test('nothing is reported while every attempt succeeds, nor for a failure already retried with success', async () => {
    const r = receiver((n) => (n === 1 ? status(503) : status(200)));
    const lines: string[] = [];
    const d = new Delivery({ url: r.url, format: 'json' }, { backoffMs: 1, report: (line) => lines.push(line) });
    d.push(event(1));
    await d.settled();
    d.tick();
    expect(lines).toEqual([]);
  }, 10_000);

  test('a URL that is not http(s) is given up at once', async () => {
    const lines: string[] = [];
    const d = new Delivery({ url: 'file:///etc/hostname', format: 'json' }, { report: (line) => lines.push(line) });
    d.push(event(1));
    await d.settled();
    d.tick();
    expect(d.stats()).toMatchObject({ delivered: 0, failed: 1 });
    expect(lines).toEqual(['notifications to (bad URL) failing: not an http(s) URL (0 events waiting, 1 given up)']);
  }, 10_000);
});

describe('commands', () => {
  test("the command gets the event's record as one JSON line on its standard input", async () => {
    const file = tempFile('record.json');
    const d = new Delivery({ command: `cat > '${file}'` });
    expect(d.label).toBe("command 'cat'");
    d.push(event(7));
    await d.settled();
    expect(readFileSync(file, 'utf8')).toBe('{"type":"alert","n":7}\n');
    expect(d.stats()).toEqual({ waiting: 0, delivered: 1, failed: 0, dropped: 0 });
  }, 10_000);

  test("a command is named by its first word in messages, never by its arguments or assignments", () => {
    expect(new Delivery({ command: "TOKEN=s3cret curl -H 'Authorization: s3cret' https://x" }).label).toBe("command 'curl'");
    expect(new Delivery({ command: '  /usr/local/bin/page-oncall --key s3cret' }).label).toBe("command '/usr/local/bin/page-oncall'");
  }, 10_000);

  test('a command exiting 3 is retried, then given up, and reported', async () => {
    const file = tempFile('runs');
    const attempts = new Seen<Attempt>();
    const lines: string[] = [];
    const d = new Delivery(
      { command: `echo run >> '${file}'; exit 3` },
      { backoffMs: 1, maxAttempts: 3, onAttempt: (a) => attempts.push(a), report: (line) => lines.push(line) },
    );
    d.push(event(1));
    await d.settled();
    expect(readFileSync(file, 'utf8')).toBe('run\nrun\nrun\n');
    expect(attempts.items.map((a) => [a.n, a.reason, a.final])).toEqual([
      [1, 'exit 3', false],
      [2, 'exit 3', false],
      [3, 'exit 3', true],
    ]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 0, failed: 1, dropped: 0 });
    d.tick();
    expect(lines).toEqual(["notifications to command 'echo' failing: exit 3 (0 events waiting, 1 given up)"]);
  }, 10_000);

  test('a command that runs too long is killed, with what it started', async () => {
    // The `sleep` started by the command holds the FIFO open for writing: its reader gets an end
    // of file once every writer is dead, which is what the test awaits.
    const fifo = tempFile('fifo');
    expect(Bun.spawnSync(['mkfifo', fifo]).exitCode).toBe(0);
    const writersGone = readFile(fifo, 'utf8');
    const attempts = new Seen<Attempt>();
    const d = new Delivery({ command: `sleep 30 3>'${fifo}' & wait` }, { timeoutMs: 1_000, maxAttempts: 1, onAttempt: (a) => attempts.push(a) });
    d.push(event(1));
    await d.settled();
    expect(attempts.items.map((a) => [a.reason, a.final])).toEqual([['timed out after 1 s', true]]);
    expect(d.stats().failed).toBe(1);
    expect(await writersGone).toBe('');
  }, 10_000);
});

describe('close', () => {
  test('an event waiting for its retry gets one last attempt at once', async () => {
    const r = receiver((n) => (n === 1 ? status(500) : status(200)));
    const attempts = new Seen<Attempt>();
    const d = new Delivery({ url: r.url, format: 'json' }, { backoffMs: 60_000, onAttempt: (a) => attempts.push(a) });
    d.push(event(1));
    d.push(event(2));
    expect((await attempts.nth(1)).final).toBe(false);
    await d.close(5_000);
    expect(records(r.requests)).toEqual([{ type: 'alert', n: 1 }, { type: 'alert', n: 1 }, { type: 'alert', n: 2 }]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 2, failed: 0, dropped: 0 });
    d.push(event(3));
    expect(d.stats().waiting).toBe(0);
  }, 10_000);

  test('at exit, retries come after 100 ms instead of their backoff, until the attempts run out', async () => {
    const r = receiver(() => status(500));
    const attempts = new Seen<Attempt>();
    const d = new Delivery({ url: r.url, format: 'json' }, { backoffMs: 60_000, maxAttempts: 4, onAttempt: (a) => attempts.push(a) });
    d.push(event(1));
    await attempts.nth(1);
    const started = performance.now();
    await d.close(5_000);
    // 3 more attempts, 100 ms apart: not the minutes of their backoff, nor more than the 4 allowed.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(r.requests.items).toHaveLength(4);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 0, failed: 1, dropped: 0 });
  }, 10_000);

  test('at exit, a 500 twice then a 200 still delivers the event once', async () => {
    let n = 0;
    const r = receiver(() => status(++n <= 2 ? 500 : 200));
    const d = new Delivery({ url: r.url, format: 'json' });
    d.push(event(1));
    await d.close(3_000);
    expect(r.requests.items).toHaveLength(3);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 1, failed: 0, dropped: 0 });
  }, 10_000);

  test('a target that gave an event up and then delivers again is reported with the reason it failed', async () => {
    let n = 0;
    const r = receiver(() => status(++n === 1 ? 404 : 200));
    const lines: string[] = [];
    const attempts = new Seen<Attempt>();
    const d = new Delivery({ url: r.url, format: 'json' }, { report: (line) => lines.push(line), onAttempt: (a) => attempts.push(a) });
    d.push(event(1));
    d.push(event(1, 'recovered'));
    await attempts.nth(2);
    d.tick();
    expect(lines).toEqual([`notifications to ${r.url} failing: HTTP 404 (0 events waiting, 1 given up)`]);
  }, 10_000);

  test('resolves by its deadline against a receiver that never answers, and says what was lost', async () => {
    const hung = receiver(never);
    const lines: string[] = [];
    const d = new Delivery({ url: hung.url, format: 'alertmanager' }, { report: (line) => lines.push(line) });
    d.push(event(1));
    d.push(event(1, 'recovered'));
    await hung.requests.nth(1);
    const started = performance.now();
    await d.close(200);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(2_000);
    expect(hung.requests.items).toHaveLength(1);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 0, failed: 2, dropped: 0 });
    expect(lines).toEqual([`notifications to ${hung.url} failing: not sent before exit (0 events waiting, 2 given up)`]);
  }, 10_000);
});

describe('the queue', () => {
  test('when full, the oldest event waiting is dropped (not the one in flight), counted and reported', async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = receiver(async (n) => {
      if (n === 1) await gate;
      return status(200);
    });
    const lines: string[] = [];
    const d = new Delivery({ url: r.url, format: 'json' }, { queueLimit: 3, report: (line) => lines.push(line) });
    for (let n = 1; n <= 5; n++) d.push(event(n));
    expect(d.stats()).toEqual({ waiting: 3, delivered: 0, failed: 0, dropped: 2 });
    d.tick();
    expect(lines).toEqual([`notifications to ${r.url} failing: queue full (3 events waiting, 0 given up, 2 dropped)`]);

    await r.requests.nth(1);
    release();
    await d.settled();
    expect(records(r.requests).map((x) => x.n)).toEqual([1, 4, 5]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 3, failed: 0, dropped: 2 });
  }, 10_000);
});

// ---------------------------------------------------------------------------------------------
// Simulated time

/** Timers that fire only when `advance` moves the time past them, in the order they are due. */
class SimulatedClock implements DeliveryClock {
  now = 0;
  #timers = new Map<number, { at: number; fire: () => void }>();
  #ids = 0;
  setTimeout = (fire: () => void, ms: number) => {
    this.#timers.set(++this.#ids, { at: this.now + Math.max(0, ms), fire });
    return this.#ids;
  };
  clearTimeout = (timer: unknown) => {
    this.#timers.delete(timer as number);
  };
  /** Moves the time on by `ms`, letting what each timer starts run before the next one fires. */
  async advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      let due: [number, { at: number; fire: () => void }] | undefined;
      for (const timer of this.#timers) if (timer[1].at <= end && (!due || timer[1].at < due[1].at)) due = timer;
      if (!due) break;
      this.#timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fire();
    }
    this.now = end;
    await settle();
  }
}

/** Lets the callbacks of settled promises run; no time passes. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Call {
  event: NotifyEvent;
  /** Simulated ms when the request was made. */
  at: number;
}

/**
 * A simulated receiver: each request is answered at once with what `answer` gives for its event,
 * or never (`'hang'`: the attempt ends at its timeout). Counts the requests in flight.
 */
function simulated(clock: SimulatedClock, answer: (event: NotifyEvent) => Outcome | 'hang') {
  const calls: Call[] = [];
  const inFlight = { all: 0, retries: 0 };
  const most = { all: 0, retries: 0 };
  const send = (e: NotifyEvent, signal: AbortSignal): Promise<Outcome> => {
    const retry = calls.some((c) => c.event === e);
    calls.push({ event: e, at: clock.now });
    const end = () => {
      inFlight.all--;
      if (retry) inFlight.retries--;
    };
    most.all = Math.max(most.all, ++inFlight.all);
    if (retry) most.retries = Math.max(most.retries, ++inFlight.retries);
    const a = answer(e);
    if (a !== 'hang') {
      end();
      return Promise.resolve(a);
    }
    signal.addEventListener('abort', end, { once: true });
    return new Promise<Outcome>(() => {});
  };
  /** When the requests for an event were made, ms. */
  const times = (rule: string, type: NotifyEvent['type'] = 'alert') =>
    calls.filter((c) => c.event.labels.alertname === rule && c.event.type === type).map((c) => c.at);
  /** The most requests in flight at once: all of them, and retries. */
  return { send, calls, times, most };
}

const OK: Outcome = { ok: true };
const HTTP_500: Outcome = { ok: false, retry: true, reason: 'HTTP 500' };

describe('one alert failing does not hold up the others', () => {
  test("a receiver that hangs for one rule's alert: another rule's events are not held by its retries", async () => {
    const clock = new SimulatedClock();
    const r = simulated(clock, (e) => (e.labels.alertname === 'dead' ? 'hang' : OK));
    const d = new Delivery({ url: 'https://hooks.example/x', format: 'json' }, { clock, send: r.send });
    d.push(event(1, 'alert', 'dead'));
    d.push(event(2, 'alert', 'other'));
    await clock.advance(20_000);
    // By now the dead rule's alert has timed out twice and waits for its third attempt.
    expect(r.times('dead')).toEqual([0, 6_000, 13_000]);
    d.push(event(2, 'recovered', 'other'));
    await clock.advance(200_000);

    // The other alert went beside the hanging request after 1 s, not after its 8 attempts (131 s);
    // its recovery, sent during the dead alert's retries, went at once.
    expect(r.times('other')).toEqual([1_000]);
    expect(r.times('other', 'recovered')).toEqual([20_000]);
    expect(r.times('dead')).toHaveLength(8);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 2, failed: 1, dropped: 0 });
  });

  test('four alerts hanging at once: a fresh event waits at most one timeout (5 s), and not at all for their retries', async () => {
    const clock = new SimulatedClock();
    const r = simulated(clock, (e) => (e.labels.alertname?.startsWith('dead') ? 'hang' : OK));
    const d = new Delivery({ url: 'https://hooks.example/x', format: 'json' }, { clock, send: r.send });
    for (const n of [1, 2, 3, 4]) d.push(event(n, 'alert', `dead-${n}`));
    d.push(event(5, 'alert', 'fresh'));
    await clock.advance(30_000);
    d.push(event(6, 'alert', 'later'));
    await clock.advance(200_000);

    // dead-1 … dead-4 start a second apart; four requests in flight, so `fresh` waits for the first
    // of them to time out (5 s). At 30 s their retries are under way: `later` goes at once.
    expect([1, 2, 3, 4].map((n) => r.times(`dead-${n}`)[0])).toEqual([0, 1_000, 2_000, 3_000]);
    expect(r.times('fresh')).toEqual([5_000]);
    expect(r.times('later')).toEqual([30_000]);
    // Retries never took the fourth place: it was there for `later`.
    expect(r.most).toEqual({ all: 4, retries: 3 });
    expect(d.stats()).toEqual({ waiting: 0, delivered: 2, failed: 4, dropped: 0 });
  });

  test("the events of one alert keep their order: a recovery waits for its alert's retries, then goes", async () => {
    const clock = new SimulatedClock();
    let alerts = 0;
    const r = simulated(clock, (e) => (e.type === 'alert' && ++alerts <= 3 ? HTTP_500 : OK));
    const d = new Delivery({ url: 'https://hooks.example/x', format: 'json' }, { clock, send: r.send });
    d.push(event(1, 'alert'));
    await clock.advance(2_000);
    d.push(event(1, 'recovered'));
    await clock.advance(60_000);
    // 500 at 0, 1 s and 3 s (backoff 1 s, 2 s), delivered at 7 s (4 s): then the recovery.
    expect(r.calls.map((c) => [c.event.type, c.at])).toEqual([
      ['alert', 0],
      ['alert', 1_000],
      ['alert', 3_000],
      ['alert', 7_000],
      ['recovered', 7_000],
    ]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 2, failed: 0, dropped: 0 });
  });

  test("a recovery whose alert was given up still goes, after it", async () => {
    const clock = new SimulatedClock();
    const r = simulated(clock, (e) => (e.type === 'alert' ? HTTP_500 : OK));
    const d = new Delivery({ url: 'https://hooks.example/x', format: 'json' }, { clock, send: r.send, maxAttempts: 3 });
    d.push(event(1, 'alert'));
    d.push(event(1, 'recovered'));
    await clock.advance(60_000);
    expect(r.calls.map((c) => [c.event.type, c.at])).toEqual([
      ['alert', 0],
      ['alert', 1_000],
      ['alert', 3_000],
      ['recovered', 3_000],
    ]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 1, failed: 1, dropped: 0 });
  });

  test('at exit, an alert that hangs does not keep the others from their last attempt', async () => {
    const clock = new SimulatedClock();
    const r = simulated(clock, (e) => (e.labels.alertname === 'dead' ? 'hang' : OK));
    const d = new Delivery({ url: 'https://hooks.example/x', format: 'json' }, { clock, send: r.send });
    d.push(event(1, 'alert', 'dead'));
    d.push(event(2, 'alert', 'other'));
    d.push(event(1, 'recovered', 'dead'));
    d.push(event(2, 'recovered', 'other'));
    const closed = d.close(3_000);
    await clock.advance(3_000);
    await closed;
    expect(r.calls.map((c) => [c.event.labels.alertname, c.event.type, c.at])).toEqual([
      ['dead', 'alert', 0],
      ['other', 'alert', 1_000],
      ['other', 'recovered', 1_000],
    ]);
    expect(d.stats()).toEqual({ waiting: 0, delivered: 2, failed: 2, dropped: 0 });
  });

  test('a target that hangs holds up no other target', async () => {
    const clock = new SimulatedClock();
    const dead = simulated(clock, () => 'hang');
    const alive = simulated(clock, () => OK);
    const deliveries = [dead, alive].map((r) => new Delivery({ url: 'https://hooks.example/x', format: 'json' }, { clock, send: r.send }));
    const actor = createActor(notifier, { input: { deliveries, reportEveryMs: 0 } }).start();
    actor.send({ type: 'notify', event: event(1) });
    actor.send({ type: 'notify', event: event(2, 'alert', 'other') });
    await clock.advance(30_000);
    actor.send({ type: 'notify', event: event(1, 'recovered') });
    await clock.advance(1);
    actor.stop();
    expect(alive.calls.map((c) => c.at)).toEqual([0, 0, 30_000]);
    expect(deliveries[1]!.stats()).toEqual({ waiting: 0, delivered: 3, failed: 0, dropped: 0 });
  });
});
