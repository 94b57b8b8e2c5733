/**
 * The fleet's centre (`--nats URL`): the monitor's machines fed by the agents' messages instead
 * of files. This sits beside the command that uses it: it connects, finds the stream, waits for
 * the first message (the fleet's clock starts at its second) and hands the root a `subscribe`.
 */
import { SimulatedClock } from 'xstate';
import type { FleetFeedInput } from '../actors/fleet-feed';
import { type CountsMessage, decode } from '../lib/wire';
import { countsPrefix } from './agent';

export interface CentreOptions {
  nats: string;
  stream: string;
  credsFile?: string;
  caFile?: string;
  agentTimeoutSeconds: number;
  intervalSeconds: number;
  /** The longest window the machines keep (-a, or a rule's with its `for`): what a restart rebuilds. */
  windowSeconds: number;
  /** Replay the stream's history from `since` to `until` (or its end), instead of following it live. */
  replay?: { since: Date; until?: Date };
}

export interface Centre {
  clock: SimulatedClock;
  fleet: Omit<FleetFeedInput, 'to' | 'endTo'>;
  /** Records an alert or recovery in the stream before it is printed (what a restart must not print again). */
  printed: (type: 'alert' | 'recovered', at: number) => Promise<void>;
  close: () => Promise<void>;
}

/** The centre's own subject in a stream: what it printed (agent names cannot start with `_`). */
const CENTRE = '_centre';
/** How long an alert line waits for its record to be stored, ms. */
const RECORD_WAIT_MS = 2000;

/** Connects and waits for the first message; throws one-line errors (a bad URL, refused, unauthorized). */
export async function openCentre(o: CentreOptions, err: (line: string) => void): Promise<Centre> {
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
  await nats.ensureStream(nc, { name: o.stream, subjects: [`${prefix}>`] });
  const js = nats.jetstream(nc);
  const centreSubject = `${prefix}${CENTRE}`;
  // What this centre printed last, before a restart: nothing up to it is printed again.
  const last = o.replay ? null : await nats.lastMessage(await nats.jetstreamManager(nc), o.stream, centreSubject);
  const printedUntil = last ? Number(JSON.parse(Buffer.from(last.data).toString()).at) : -Infinity;

  // The last window and interval of history rebuild the state; messages wait until the feed subscribes.
  const early: [CountsMessage | Error, number][] = [];
  let deliver: ((m: CountsMessage | Error, time?: number) => void) | null = null;
  let caughtUp = false;
  let ended = false;
  let live: (() => void) | null = null;
  let end: (() => void) | null = null;
  let first!: (m: CountsMessage | null) => void;
  const firstMessage = new Promise<CountsMessage | null>((resolve) => (first = resolve));
  const replay = o.replay;
  const since = replay?.since ?? new Date(Date.now() - (o.windowSeconds + o.intervalSeconds + 10) * 1000);
  const finish = () => {
    if (ended) return;
    ended = true;
    first(null);
    end?.();
  };
  const stop = nats.consumeFrom(js, o.stream, `${prefix}>`, { startTime: since }, (subject, data, _seq, time, pending) => {
    if (ended) return;
    if (replay?.until && time > replay.until) return finish();
    if (subject !== centreSubject) {
      let m: CountsMessage | Error;
      try {
        m = decode(data);
        first(m);
      } catch (error) {
        m = error as Error;
      }
      if (deliver) deliver(m, replay ? time.getTime() : undefined);
      else early.push([m, time.getTime()]);
    }
    if (pending === 0 && !caughtUp) {
      caughtUp = true;
      live?.();
      // A replay of the stream ends where the stream does (when it was read).
      if (replay) finish();
    }
  });
  if (!replay) err(`waiting for the agents on ${o.nats} (stream ${o.stream})`);
  const m = await firstMessage;
  if (!m) {
    await stop();
    await nc.close().catch(() => {});
    throw new Error(`no agent's message in stream ${o.stream} from ${since.toISOString()}${replay?.until ? ` to ${replay.until.toISOString()}` : ''}`);
  }
  const seconds = [m.clock, ...m.segments.map((s) => s.second).filter(Number.isFinite)];
  const clock = new SimulatedClock();
  clock.set(Math.min(...seconds) * 1000);
  return {
    clock,
    fleet: {
      subscribe: (to, isEnd, isLive) => {
        // A replay prints all it reads; a live centre prints once the history has rebuilt its state.
        if (replay) isLive();
        for (const [e, time] of early.splice(0)) to(e, replay ? time : undefined);
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
      agentTimeoutMs: o.agentTimeoutSeconds * 1000,
      wallNow: Date.now,
      reportEveryMs: o.intervalSeconds * 1000,
    },
    printed: (type, at) => {
      if (replay) return Promise.resolve(); // history: nothing to record
      const record = nats
        .publishCounts(js, centreSubject, Buffer.from(JSON.stringify({ v: 1, type, at })), `${CENTRE}:${type}:${at}`)
        .then(() => {})
        .catch((error) => err(`warn: cannot record the ${type} in the stream (${error instanceof Error ? error.message : error}); a restart may print it again`));
      // The line is not held back for long by a stream that is away.
      return Promise.race([record, new Promise<void>((resolve) => setTimeout(resolve, RECORD_WAIT_MS))]);
    },
    close: async () => {
      await stop();
      await nc.close().catch(() => {});
    },
  };
}
