/**
 * alerts and recoveries → webhooks and commands (`--notify URL`, `--notify-exec CMD`), without
 * ever holding up the pipeline: the actor hands each event to every `Delivery` and returns.
 *
 * A `Delivery` is one target. Its events wait in a bounded queue (the oldest is dropped when it
 * is full). An attempt that times out, cannot connect, gets a 5xx or a 429, or (a command) exits
 * non-zero is tried again after 1 s, 2 s, 4 s … (at most 30 s), up to 8 attempts; any other
 * answer but a 2xx is given up at once. After a 2xx or an exit 0 the event is never sent again.
 *
 * Order is kept where it means something: the events of one alert (a rule, and a group of a
 * grouped rule) go one at a time, so a recovery never overtakes its alert; it waits for the alert
 * to be delivered or given up. Other alerts' events do not wait for those retries: new events go
 * out in order, the next one when the one before is answered or after 1 s in flight, and retries
 * go beside them, at most 4 requests (or commands) in flight, one place always left for a new
 * event. So an event is never held by another alert's retries, and by another's attempt in
 * flight for 1 s at most (with 4 in flight, until the first of them ends: 5 s at most).
 * Targets share nothing.
 *
 * Failures are said at most once per report interval per target, through `report`, with the
 * URL cut to its scheme and host (a webhook's path is its secret) and a command to its first
 * word (its arguments may carry a token). The owner keeps the deliveries to `close()` them at
 * exit: one last attempt of what still waits, within a deadline.
 */
import { fromCallback } from 'xstate';
import { body, groupKey, type NotifyFormat, redact } from '../lib/notify-format';
import type { NotifyEvent, NotifyMessage } from './messages';

/** A webhook with the format of its body, or a command run with `sh -c`, the record on its stdin. */
export type NotifyTarget = { url: string; format: NotifyFormat } | { command: string };

export interface DeliveryOptions {
  /**
   * Told one line (without a level) when the target is failing, at most once per `tick()`:
   * the owner prints it as a warning (`warn: notifications to … failing: …`).
   */
  report?: (message: string) => void;
  /** Told after each attempt (the owner may log; tests await it). */
  onAttempt?: (attempt: Attempt) => void;
  /** Per attempt, ms: the request is aborted, the command killed. */
  timeoutMs?: number;
  /** The first wait before a retry, ms; doubled at each retry. */
  backoffMs?: number;
  backoffCapMs?: number;
  /** Attempts of one event before it is given up. */
  maxAttempts?: number;
  /** Events held (in flight included) before the oldest waiting one is dropped. */
  queueLimit?: number;
  /** Attempts in flight at once; retries take at most all but one. */
  maxInFlight?: number;
  /** How long (ms) an event's first attempt may be in flight before the next new event goes beside it. */
  slowMs?: number;
  /** The timers of timeouts, retries and the close deadline; the real ones by default (tests pass a simulated clock). */
  clock?: DeliveryClock;
  /** One attempt; by default a POST or `sh -c` (tests pass a simulated receiver). Ended by `signal` at the timeout. */
  send?: (event: NotifyEvent, signal: AbortSignal) => Promise<Outcome>;
}

export interface DeliveryClock {
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const REAL_CLOCK: DeliveryClock = {
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

export interface Attempt {
  event: NotifyEvent;
  /** 1 for the first attempt of the event. */
  n: number;
  ok: boolean;
  /** Why it failed: `HTTP 500`, `timed out after 5 s`, `exit 3`, `ECONNREFUSED`. */
  reason?: string;
  /** The event is done with: delivered, or given up. */
  final: boolean;
}

export interface DeliveryStats {
  /** Held: in flight or waiting for their turn or a retry. */
  waiting: number;
  delivered: number;
  /** Given up: out of attempts, refused (4xx), or still waiting at the close deadline. */
  failed: number;
  /** Dropped from a full queue: the oldest not in flight (it may be waiting for a retry). */
  dropped: number;
}

export const DELIVERY_DEFAULTS = {
  timeoutMs: 5_000,
  backoffMs: 1_000,
  backoffCapMs: 30_000,
  maxAttempts: 8,
  queueLimit: 1_000,
  maxInFlight: 4,
  slowMs: 1_000,
} as const;

/** At exit, a retry comes this soon (ms) instead of after its backoff. */
const CLOSE_RETRY_MS = 100;

/** How an attempt ended: `retry` for what may go better later (a timeout, a 5xx, a 429, an exit code). */
export type Outcome = { ok: true } | { ok: false; retry: boolean; reason: string };

interface Held {
  event: NotifyEvent;
  /** Its alert (the rule and the group, as labels): the events of one key go out in order. */
  key: string;
  attempts: number;
  /** Ready for an attempt, in flight, or waiting for its retry's time. */
  state: 'ready' | 'sending' | 'backoff';
  /** The retry's timer, while in backoff. */
  timer?: unknown;
  /** Why its last attempt failed; `seq` tells the latest failure among the events held. */
  failure?: { reason: string; seq: number };
}

export class Delivery {
  /** How the target is named in messages: `https://hooks.slack.com`, `command 'notify-send'`. */
  readonly label: string;
  readonly #o: Required<Omit<DeliveryOptions, 'report' | 'onAttempt' | 'clock' | 'send'>>;
  readonly #clock: DeliveryClock;
  readonly #send: (event: NotifyEvent, signal: AbortSignal) => Promise<Outcome>;
  readonly #report?: (message: string) => void;
  readonly #onAttempt?: (attempt: Attempt) => void;
  /** Every event held, oldest first. Of each key, only the oldest is in flight or in backoff. */
  #held: Held[] = [];
  #inFlight = 0;
  #retrying = 0;
  /** The first attempt the next new event waits for: until it ends, or for `slowMs` at most. */
  #lead: { held: Held; timer: unknown } | null = null;
  /** Aborts what is in flight at the close deadline. */
  readonly #stop = new AbortController();
  #closing: Promise<void> | null = null;
  #closed = false;
  #delivered = 0;
  #failed = 0;
  #dropped = 0;
  #failures = 0;
  /** Why the last failed attempt failed, whatever came after it. */
  #lastFailure: string | null = null;
  /** What was left at the close deadline failed for: its last failure, or `not sent before exit`. */
  #leftAtExit: string | null = null;
  /** Counts when the last report was made, to tell what is new. */
  #reported = { failed: 0, dropped: 0 };
  #idle: (() => void)[] = [];

  constructor(target: NotifyTarget, options: DeliveryOptions = {}) {
    const d = DELIVERY_DEFAULTS;
    this.#o = {
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      backoffMs: options.backoffMs ?? d.backoffMs,
      backoffCapMs: options.backoffCapMs ?? d.backoffCapMs,
      maxAttempts: options.maxAttempts ?? d.maxAttempts,
      queueLimit: options.queueLimit ?? d.queueLimit,
      maxInFlight: Math.max(1, options.maxInFlight ?? d.maxInFlight),
      slowMs: options.slowMs ?? d.slowMs,
    };
    this.#report = options.report;
    this.#onAttempt = options.onAttempt;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#send = options.send ?? ((event, signal) => ('url' in target ? this.#post(target, event, signal) : this.#run(target.command, event, signal)));
    this.label = 'url' in target ? redact(target.url) : `command '${firstWord(target.command)}'`;
  }

  /** Queues an event; returns at once. Ignored once closed. */
  push(event: NotifyEvent) {
    if (this.#closed) return;
    if (this.#held.length >= this.#o.queueLimit) {
      this.#dropped++;
      // What is in flight cannot be taken back: the oldest that is not goes, or (all in flight) the new one.
      const oldest = this.#held.findIndex((h) => h.state !== 'sending');
      if (oldest === -1) return;
      const [gone] = this.#held.splice(oldest, 1);
      this.#clock.clearTimeout(gone?.timer);
    }
    this.#held.push({ event, key: groupKey(event.labels), attempts: 0, state: 'ready' });
    this.#pump();
  }

  stats(): DeliveryStats {
    return { waiting: this.#held.length, delivered: this.#delivered, failed: this.#failed, dropped: this.#dropped };
  }

  /** Resolves once nothing waits (everything delivered or given up). */
  settled(): Promise<void> {
    if (this.#held.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * The report interval: one line through `report` if the target is failing now (an event held
   * failed its last attempt) or events were given up or dropped since the last tick.
   */
  tick() {
    const failed = this.#failed - this.#reported.failed;
    const dropped = this.#dropped - this.#reported.dropped;
    this.#reported = { failed: this.#failed, dropped: this.#dropped };
    const failing = this.#failingNow();
    if (failing === null && failed === 0 && dropped === 0) return;
    this.#report?.(
      `notifications to ${this.label} failing: ${failing ?? this.#leftAtExit ?? this.#lastFailure ?? 'queue full'} ` +
        `(${count(this.#held.length, 'event')} waiting, ${this.#failed} given up` +
        `${this.#dropped > 0 ? `, ${this.#dropped} dropped` : ''})`,
    );
  }

  /**
   * At exit: delivery goes on until `deadlineMs`, retries coming after CLOSE_RETRY_MS instead of
   * their backoff (a replay ends at once; its events get the attempts a live run's would, as far
   * as the deadline allows). Resolves when nothing waits or at the deadline, when what is in
   * flight is aborted and what is left is given up. A last `tick()` says what failed. Never rejects.
   */
  close(deadlineMs: number): Promise<void> {
    this.#closing ??= this.#close(deadlineMs);
    return this.#closing;
  }

  async #close(deadlineMs: number) {
    for (const h of this.#held) {
      if (h.state !== 'backoff') continue;
      this.#clock.clearTimeout(h.timer);
      h.state = 'ready';
    }
    const done = this.settled();
    this.#pump();
    let timer: unknown;
    await Promise.race([done, new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, deadlineMs)))]);
    this.#clock.clearTimeout(timer);
    this.#closed = true;
    this.#stop.abort();
    this.#clock.clearTimeout(this.#lead?.timer);
    this.#lead = null;
    if (this.#held.length > 0) {
      this.#leftAtExit = this.#failingNow() ?? 'not sent before exit';
      for (const h of this.#held) this.#clock.clearTimeout(h.timer);
      this.#failed += this.#held.length;
      this.#held = [];
    }
    this.#inFlight = 0;
    this.#retrying = 0;
    this.#settle();
    this.tick();
  }

  /**
   * New events go out in the order they came, each as soon as the one before it is answered or
   * has been in flight for `slowMs` (a receiver that answers in time sees them in order; one
   * that hangs holds the next event that long, not for its timeout). Retries go beside them,
   * never in the last place in flight, so they hold up no new event. Of each key only the oldest
   * event goes: a recovery waits for its alert to be delivered or given up.
   */
  #pump() {
    if (this.#closed) return;
    const max = this.#o.maxInFlight;
    while (this.#inFlight < max && this.#lead === null) {
      const next = this.#next(false);
      if (!next) break;
      this.#start(next);
    }
    while (this.#inFlight < max && this.#retrying < Math.max(1, max - 1)) {
      const next = this.#next(true);
      if (!next) break;
      this.#start(next);
    }
    this.#settle();
  }

  /** The oldest event ready for its first attempt (or for a retry) with nothing older of its key held. */
  #next(retry: boolean): Held | undefined {
    const seen = new Set<string>();
    for (const h of this.#held) {
      if (seen.has(h.key)) continue;
      seen.add(h.key);
      if (h.state === 'ready' && h.attempts > 0 === retry) return h;
    }
    return undefined;
  }

  #start(h: Held) {
    h.state = 'sending';
    h.attempts++;
    this.#inFlight++;
    if (h.attempts > 1) this.#retrying++;
    else {
      const timer = this.#clock.setTimeout(() => {
        this.#lead = null;
        this.#pump();
      }, this.#o.slowMs);
      this.#lead = { held: h, timer };
    }
    void this.#attempt(h.event).then((outcome) => this.#after(h, outcome));
  }

  #after(h: Held, outcome: Outcome) {
    if (this.#closed) return; // given up at the close deadline, and counted
    this.#inFlight--;
    if (h.attempts > 1) this.#retrying--;
    if (this.#lead?.held === h) {
      this.#clock.clearTimeout(this.#lead.timer);
      this.#lead = null;
    }
    let final = true;
    if (outcome.ok) {
      h.failure = undefined;
      this.#delivered++;
    } else {
      h.failure = { reason: outcome.reason, seq: ++this.#failures };
      this.#lastFailure = outcome.reason;
      if (outcome.retry && h.attempts < this.#o.maxAttempts) final = false;
      else this.#failed++;
    }
    if (final) this.#held.splice(this.#held.indexOf(h), 1);
    else {
      const backoff = Math.min(this.#o.backoffMs * 2 ** (h.attempts - 1), this.#o.backoffCapMs);
      h.state = 'backoff';
      h.timer = this.#clock.setTimeout(
        () => {
          h.state = 'ready';
          this.#pump();
        },
        this.#closing ? Math.min(backoff, CLOSE_RETRY_MS) : backoff,
      );
    }
    this.#onAttempt?.({ event: h.event, n: h.attempts, ok: outcome.ok, reason: outcome.ok ? undefined : outcome.reason, final });
    this.#pump();
  }

  /** The latest failure of an event still held: the target is failing now. */
  #failingNow(): string | null {
    let latest: Held['failure'];
    for (const h of this.#held) if (h.failure && (!latest || h.failure.seq > latest.seq)) latest = h.failure;
    return latest?.reason ?? null;
  }

  #settle() {
    if (this.#held.length > 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  /**
   * One attempt, ended at the timeout (or at the close deadline) whatever the transport does: a
   * receiver that ignores the abort still frees its place.
   */
  async #attempt(event: NotifyEvent): Promise<Outcome> {
    const timeout = new AbortController();
    const timer = this.#clock.setTimeout(() => timeout.abort(new DOMException('timed out', 'TimeoutError')), this.#o.timeoutMs);
    const signal = AbortSignal.any([timeout.signal, this.#stop.signal]);
    const ended = new Promise<Outcome>((resolve) =>
      signal.addEventListener('abort', () => resolve({ ok: false, retry: true, reason: this.#why(signal.reason) }), { once: true }),
    );
    const sent = this.#send(event, signal).catch((error): Outcome => ({ ok: false, retry: true, reason: this.#why(error) }));
    try {
      return await Promise.race([sent, ended]);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  async #post(target: { url: string; format: NotifyFormat }, event: NotifyEvent, signal: AbortSignal): Promise<Outcome> {
    if (!/^https?:$/.test(protocol(target.url))) return { ok: false, retry: false, reason: 'not an http(s) URL' };
    const { contentType, text } = body(target.format, event);
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: text,
        // A redirect would send the alert where the user did not say; it is a failure instead.
        redirect: 'manual',
        signal,
      });
      void response.body?.cancel().catch(() => {});
      if (response.ok) return { ok: true };
      const status = response.status;
      return { ok: false, retry: status >= 500 || status === 429, reason: `HTTP ${status}` };
    } catch (error) {
      return { ok: false, retry: true, reason: this.#why(error) };
    }
  }

  async #run(command: string, event: NotifyEvent, signal: AbortSignal): Promise<Outcome> {
    let child: ReturnType<typeof Bun.spawn>;
    try {
      // Its own process group, so that a kill reaches what `sh` started too; its output would
      // mix with ours (a dashboard, NDJSON on stdout), so it goes nowhere.
      child = Bun.spawn(['sh', '-c', command], {
        stdin: new Blob([`${JSON.stringify(event.record)}\n`]),
        stdout: 'ignore',
        stderr: 'ignore',
        detached: true,
      });
    } catch (error) {
      return { ok: false, retry: true, reason: this.#why(error) };
    }
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    signal.addEventListener('abort', kill);
    const code = await child.exited;
    signal.removeEventListener('abort', kill);
    if (code === 0) return { ok: true };
    if (signal.aborted) return { ok: false, retry: true, reason: this.#why(signal.reason) };
    return { ok: false, retry: true, reason: child.signalCode ? `killed by ${child.signalCode}` : `exit ${code}` };
  }

  #why(error: unknown): string {
    const e = error as { name?: string; code?: unknown; message?: string } | undefined;
    if (e?.name === 'TimeoutError') return `timed out after ${msText(this.#o.timeoutMs)}`;
    if (e?.name === 'AbortError') return 'aborted at exit';
    if (typeof e?.code === 'string' && e.code) return e.code;
    return e?.message || String(error);
  }
}

export interface NotifierInput {
  deliveries: Delivery[];
  /** Calls every delivery's `tick()` this often, ms (default 10 s); 0: the owner calls it. */
  reportEveryMs?: number;
}

export const notifier = fromCallback<NotifyMessage, NotifierInput>(({ input, receive }) => {
  receive((message) => {
    for (const delivery of input.deliveries) delivery.push(message.event);
  });
  const every = input.reportEveryMs ?? 10_000;
  const timer = every > 0 ? setInterval(() => input.deliveries.forEach((d) => d.tick()), every) : undefined;
  return () => clearInterval(timer);
});

/**
 * A command's first word: enough to tell which hook it is, without the arguments it may carry a
 * token in; leading assignments (`TOKEN=… curl …`) are skipped for the same reason.
 */
function firstWord(command: string): string {
  return command.trim().split(/\s+/).find((word) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) ?? 'sh';
}

function protocol(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return '';
  }
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

const msText = (ms: number) => (ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);
