/**
 * The fleet's centre (`--nats URL`): the monitor's machines fed by the agents' messages instead
 * of files. This sits beside the command that uses it: it connects, finds the stream, waits for
 * the first message (the fleet's clock starts at its second) and hands the root a `subscribe`.
 */
import { SimulatedClock } from 'xstate';
import type { FleetFeedInput } from '../actors/fleet-feed';
import type { Printed } from '../actors/messages';
import type { Metrics, MetricsTotals } from '../lib/metrics';
import { type CountsMessage, decode, subjectToken } from '../lib/wire';
import { countsPrefix } from './agent';

export interface CentreOptions {
  nats: string;
  stream: string;
  credsFile?: string;
  caFile?: string;
  agentTimeoutSeconds: number;
  /** An agent further behind than this stops holding the fleet's clock back (its lines are late). */
  maxLagSeconds: number;
  /** Several centres on one stream keep their records apart by name. */
  name?: string;
  intervalSeconds: number;
  /** The longest window the machines keep (-a, or a rule's with its `for`): what a restart rebuilds. */
  windowSeconds: number;
  /** Replay the stream's history from `since` to `until` (or its end), instead of following it live. */
  replay?: { since: Date; until?: Date };
  /** -s, -a and -t as given: recorded with what the centre prints, for a replay of the stream to default to. */
  settings: CentreSettings;
}

export interface CentreSettings {
  interval: number;
  window: number;
  threshold: number;
}

/**
 * What a centre records in the stream before it prints an alert, a recovery or an interval (one
 * record carries it all, so the last one is enough): a restart prints nothing twice, keeps the
 * intervals' boundaries and counts every line in exactly one printed interval.
 */
export interface CentreRecord {
  v: 2;
  type: 'alert' | 'recovered' | 'stats';
  at: number;
  /** The last alert or recovery printed, ms (-1: none). */
  alertsUntil: number;
  /** Where the printed intervals end, ms (-1: none yet). */
  statsUntil: number;
  /** The stream sequence of the last message whose segments below `statsUntil` those intervals took. */
  seq: number;
  /** The alerts printed and not recovered (key → when each began, ms): a restart does not announce them again. */
  active?: [string, number][];
  /** A boundary of the intervals, ms: they fall on anchor + k × interval. */
  anchor: number;
  settings: CentreSettings;
  /**
   * With --metrics: the counters' totals when the record was made (lib/metrics' `totals()`). A
   * restarted centre restores them and counts only what the restart does not mark printed, so
   * its counters go on from where the printed intervals ended and never go down.
   */
  metrics?: MetricsTotals;
}

/** A record's times are not after `latest` (ms) and its sequence is within the stream. */
function plausible(r: CentreRecord, latest: number, lastSeq: number): boolean {
  return [r.at, r.alertsUntil, r.statsUntil, r.anchor, ...(r.active ?? []).map(([, since]) => since)].every((t) => t <= latest) && r.seq <= lastSeq;
}

/** A record read back from the stream, checked; null when it does not check out (it is then ignored). Version 1 recorded alerts only. */
export function readRecord(data: Uint8Array): CentreRecord | null {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(Buffer.from(data).toString());
  } catch {
    return null;
  }
  const time = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= -1 && x < 253402300800000;
  if (r?.v === 1 && time(r.at)) {
    return { v: 2, type: 'alert', at: r.at as number, alertsUntil: r.at as number, statsUntil: -1, seq: 0, anchor: -1, settings: { interval: 0, window: 0, threshold: 0 } };
  }
  const s = r?.settings as CentreSettings | undefined;
  const ok =
    r?.v === 2 &&
    ['alert', 'recovered', 'stats'].includes(r.type as string) &&
    [r.at, r.alertsUntil, r.statsUntil, r.anchor].every(time) &&
    Number.isSafeInteger(r.seq) && (r.seq as number) >= 0 &&
    typeof s === 'object' && s !== null &&
    [s.interval, s.window, s.threshold].every((n) => typeof n === 'number' && Number.isFinite(n) && n > 0 && n <= 1e9) &&
    (r.active === undefined ||
      (Array.isArray(r.active) && r.active.length <= MAX_ACTIVE && r.active.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && p[0].length <= 1024 && time(p[1]))));
  return ok ? (r as unknown as CentreRecord) : null;
}

export interface Centre {
  clock: SimulatedClock;
  fleet: Omit<FleetFeedInput, 'to' | 'endTo'>;
  /** Where the intervals fall: the first run's boundaries, from where its printing ended (a replay without a record: its own). */
  intervals?: { anchor: number; from: number };
  /** The live centre's -s, -a and -t, as recorded in the stream (a replay of it defaults to them). */
  recorded?: CentreSettings;
  /** Records an alert, a recovery or an interval in the stream before it is printed (what a restart must not print again). */
  printed: Printed;
  close: () => Promise<void>;
}

/** The centre's own subject in a stream: what it printed (agent names cannot start with `_`). */
const CENTRE = '_centre';
/** The alerts going on a record keeps (every rule's groups, at the most). */
const MAX_ACTIVE = 10_000;
/** An agent silent this long is no longer listed in the stats. */
const FORGET_AFTER_MS = 15 * 60_000;
/** How far ahead of this centre's clock (or of when it was stored) a message's clock may be: further is a bad message. */
const AHEAD_MS = 60_000;
/** How long an alert line waits for its record to be stored, ms. */
const RECORD_WAIT_MS = 2000;

/** A signal came while the centre waited for its first message: nothing to print but its final record. */
export class StoppedWaiting extends Error {
  override name = 'StoppedWaiting';
  constructor(readonly since: number) {
    super('stopped while waiting for the agents');
  }
}

/**
 * Connects and waits for the first message; throws one-line errors (a bad URL, refused,
 * unauthorized), or `StoppedWaiting` when `stop` is aborted first.
 */
export async function openCentre(o: CentreOptions, err: (line: string) => void, stop?: AbortSignal, metrics?: Metrics): Promise<Centre> {
  const nats = await import('../lib/nats');
  let lost = false;
  const nc = await nats.connectNats(o.nats, {
    credsFile: o.credsFile,
    caFile: o.caFile,
    name: 'hlm-centre',
    onStatus: (s) => {
      // Said once a loss: the consumer catches up by itself when the server is back.
      if (s === 'disconnected' && !lost) err(`lost the connection to ${o.nats}; catching up when it is back`);
      if (s === 'reconnected' && lost) err(`connected to ${o.nats} again`);
      lost = s === 'disconnected';
    },
  });
  const prefix = countsPrefix(o.stream);
  const js = nats.jetstream(nc);
  const centreSubject = o.name ? `${prefix}${CENTRE}.${o.name}` : `${prefix}${CENTRE}`;
  const info = await nats.ensureStream(nc, { name: o.stream, subjects: [`${prefix}>`] });
  // What this centre printed last, before a restart: nothing up to it is printed again.
  const last = await nats.lastMessage(await nats.jetstreamManager(nc), o.stream, centreSubject);
  const read = last ? readRecord(last.data) : null;
  // A record from the future, or past the stream's end, is not this centre's: any publisher on
  // the account could have written it (to mute every alert, or stop the printing).
  const record = read && plausible(read, Date.now() + AHEAD_MS, info.state.last_seq) ? read : null;
  if (last && !record) err(`warn: the centre's last record in stream ${o.stream} (message ${last.seq}) does not check out; it is ignored, and this centre starts as a new one`);
  const startedAt = Math.floor(Date.now() / 1000) * 1000;
  const resumed = !o.replay && record && record.statsUntil >= 0 ? record : null;
  // A new centre begins at its start; a restarted one where its last run's printing ended, on its boundaries.
  // A replay of the stream keeps the live centre's boundaries too, when it recorded them.
  const intervals = resumed
    ? { anchor: resumed.anchor, from: resumed.statsUntil }
    : !o.replay
    ? { anchor: startedAt, from: startedAt }
    : record && record.anchor >= 0
    ? { anchor: record.anchor, from: -Infinity }
    : undefined;
  const active = new Map<string, number>(o.replay ? [] : (record?.active ?? []));
  const state = {
    alertsUntil: record?.alertsUntil ?? -1,
    statsUntil: resumed?.statsUntil ?? -1,
    seq: resumed?.seq ?? 0,
    anchor: intervals?.anchor ?? startedAt,
  };
  const printedUntil = o.replay || state.alertsUntil < 0 ? -Infinity : state.alertsUntil;
  /** The stream sequence of the last message handed to the feed. */
  let delivered = 0;
  const pending = new Set<Promise<void>>();

  // The last window and interval of history rebuild the state; messages wait until the feed subscribes.
  const early: [CountsMessage | Error, number, number][] = [];
  let deliver: ((m: CountsMessage | Error, time?: number, seq?: number) => void) | null = null;
  let caughtUp = false;
  let ended = false;
  let live: (() => void) | null = null;
  let end: (() => void) | null = null;
  let first!: (m: CountsMessage | null) => void;
  const firstMessage = new Promise<CountsMessage | null>((resolve) => (first = resolve));
  const replay = o.replay;
  // The history read rebuilds the window before where the printing begins.
  const since = replay?.since ?? new Date(Math.min(intervals!.from, Date.now()) - (o.windowSeconds + o.intervalSeconds + 10) * 1000);
  const finish = () => {
    if (ended) return;
    ended = true;
    first(null);
    end?.();
  };
  /** The stream was made anew under the consumer. */
  let renewed = false;
  const stopConsumer = nats.consumeFrom(js, o.stream, `${prefix}>`, { startTime: since }, (subject, data, seq, time, pending) => {
    if (ended) return;
    if (replay?.until && time > replay.until) return finish();
    // Agents' subjects only: a centre's (`_centre`, `_centre.NAME`) holds its records.
    if (!subject.startsWith(`${prefix}_`)) {
      let m: CountsMessage | Error;
      try {
        m = decode(data);
        // The subject says who speaks: any publisher on the account could write any name in a body.
        const token = subject.slice(prefix.length);
        if (subjectToken(m.agent) !== token) throw new Error(`a message on ${subject} speaks for agent ${JSON.stringify(m.agent)}`);
        if (m.clock * 1000 > (replay ? time.getTime() : Date.now()) + AHEAD_MS) throw new Error(`agent ${m.agent}'s clock is ${new Date(m.clock * 1000).toISOString()}, ahead of ${replay ? 'when it was stored' : 'this clock'}`);
        first(m);
      } catch (error) {
        m = error as Error;
      }
      // After the stream was made anew, its sequences say nothing of what was printed before.
      const printedSeq = renewed ? undefined : seq;
      if (deliver) {
        delivered = seq;
        deliver(m, replay ? time.getTime() : undefined, printedSeq);
      } else early.push([m, time.getTime(), printedSeq ?? -1]);
    }
    if (pending === 0 && !caughtUp) {
      caughtUp = true;
      live?.();
      // A replay of the stream ends where the stream does (when it was read).
      if (replay) finish();
    }
  }, {
    // Lost with the server's store: made again (the agents do the same), and read from its start.
    recreate: async () => {
      await nats.ensureStream(nc, { name: o.stream, subjects: [`${prefix}>`] });
    },
    onReset: () => {
      renewed = true;
      err(`warn: stream ${o.stream} on ${o.nats} was made anew (its store lost?): reading it from its start; the centre's record is gone with it`);
    },
  });
  if (resumed) {
    err(`resuming from the record in stream ${o.stream}: intervals from ${new Date(resumed.statsUntil).toISOString()} on, on the boundaries printed before`);
    // The counters go on from the record's: what it counted is marked printed below and not counted again.
    if (metrics && resumed.metrics !== undefined) {
      try {
        metrics.restore(resumed.metrics);
      } catch (error) {
        err(`warn: the metrics' totals in the centre's record could not be restored (${error instanceof Error ? error.message : error}); the counters start from 0`);
      }
    }
  }
  // The counters show what the stored records hold (`showTotals`): a new centre's 0 until its
  // first record, a restarted one's its last record's: never more than a restart goes on from.
  metrics?.showTotals(metrics.totals());
  if (!replay) err(`waiting for the agents on ${o.nats} (stream ${o.stream})`);
  const disconnect = async () => {
    await stopConsumer();
    await nc.close().catch(() => {});
  };
  const stopped = new Promise<'stopped'>((resolve) => stop?.addEventListener('abort', () => resolve('stopped'), { once: true }));
  const m = stop?.aborted ? 'stopped' : await Promise.race([firstMessage, stopped]);
  if (m === 'stopped') {
    await disconnect();
    throw new StoppedWaiting(intervals?.from ?? startedAt);
  }
  if (!m) {
    await disconnect();
    throw new Error(`no agent's message in stream ${o.stream} from ${since.toISOString()}${replay?.until ? ` to ${replay.until.toISOString()}` : ''}`);
  }
  // The clock starts at the first message's oldest second, never before the history read: an
  // agent far behind (or lying) does not take the fleet back.
  const seconds = [m.clock, ...m.segments.map((s) => s.second).filter(Number.isFinite)];
  const clock = new SimulatedClock();
  clock.set(Math.max(Math.min(...seconds), Math.floor(since.getTime() / 1000)) * 1000);
  return {
    clock,
    fleet: {
      subscribe: (to, isEnd, isLive) => {
        // A replay prints all it reads; a live centre prints once the history has rebuilt its state.
        if (replay) isLive();
        for (const [e, time, seq] of early.splice(0)) {
          if (seq >= 0) delivered = seq;
          to(e, replay ? time : undefined, seq >= 0 ? seq : undefined);
        }
        deliver = to;
        if (!replay) {
          if (caughtUp) isLive();
          else live = isLive;
        }
        if (ended) isEnd();
        else end = isEnd;
        return () => {
          deliver = null;
        };
      },
      connected: () => !lost,
      replaying: Boolean(replay),
      printedUntil,
      activeAlerts: [...active],
      // A new centre counts nothing before its start; a restarted one nothing its last run printed.
      printedBefore: replay ? undefined : resumed ? { seq: resumed.seq, at: resumed.statsUntil } : { seq: Infinity, at: startedAt },
      metrics,
      agentTimeoutMs: o.agentTimeoutSeconds * 1000,
      maxLagMs: o.maxLagSeconds * 1000,
      forgetAfterMs: FORGET_AFTER_MS,
      wallNow: Date.now,
      reportEveryMs: o.intervalSeconds * 1000,
    },
    intervals,
    recorded: record && record.settings.interval > 0 ? record.settings : undefined,
    printed: (type, at, alert) => {
      // History: nothing to record, and nothing to wait for (a line printed later than its turn
      // could come after the exit, when the output is a file written at once).
      if (replay) return;
      if (type === 'stats') {
        // The interval took every segment below its end of the messages delivered so far.
        state.statsUntil = at;
        state.seq = delivered;
      } else {
        state.alertsUntil = Math.max(state.alertsUntil, at);
        if (alert !== undefined && type === 'alert' && active.size < MAX_ACTIVE) active.set(alert, at);
        if (alert !== undefined && type === 'recovered') active.delete(alert);
      }
      const body: CentreRecord = { v: 2, type, at, ...state, active: [...active], settings: o.settings, ...(metrics && { metrics: metrics.totals() }) };
      const stored = nats
        .publishCounts(js, centreSubject, Buffer.from(JSON.stringify(body)), `${centreSubject}:${type}:${at}:${state.seq}`)
        // Stored: the counters show what it holds (what a restart goes on from).
        .then(() => body.metrics && metrics?.showTotals(body.metrics))
        .catch((error) => err(`warn: cannot record the ${type === 'stats' ? 'interval' : type} in the stream (${error instanceof Error ? error.message : error}); a restart may print it again`));
      // The line is not held back for long by a stream that is away.
      const recorded = new Promise<void>((resolve) => {
        const wait = setTimeout(resolve, RECORD_WAIT_MS);
        void stored.then(() => {
          clearTimeout(wait);
          resolve();
        });
      });
      pending.add(recorded);
      void recorded.then(() => pending.delete(recorded));
      return recorded;
    },
    close: async () => {
      // The last interval's record is stored before the connection closes, and its line printed.
      await Promise.all(pending);
      await new Promise((resolve) => setImmediate(resolve));
      await stopConsumer();
      await nc.close().catch(() => {});
    },
  };
}
