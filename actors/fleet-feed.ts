/**
 * The fleet's messages → batches, at the centre, in place of the tailer and the parser. The
 * agents' segments are merged by second as a replay merges its files (SegmentMerge), and the
 * fleet's clock is a watermark: the centre's simulated clock is stepped to one second past the
 * oldest clock among the agents it hears from, so the second S is evaluated once every live
 * agent has published past S. An agent not heard from for `agentTimeoutMs` stops holding the
 * clock back (said once, and again when it is back); its lines, when they come, are late lines.
 * After a restart of the centre, the stream's last minutes rebuild the window and the alert
 * state with the reporter muted, so that nothing printed before is printed again.
 *
 * Segments go on as the agents sent them, their sketches (durations) with them: the aggregator
 * merges the sketches of all agents into the interval's, so the fleet's p99 is the p99 of every
 * request. A segment marked `printed` keeps its sketches too; the aggregator skips it whole, so
 * its durations count once, in the run that printed them. Version 1 messages (agents not yet
 * upgraded) come decoded with no sketches and no vhosts: their hits count, untimed.
 */
import { fromCallback } from 'xstate';
import type { Metrics } from '../lib/metrics';
import type { CountsMessage } from '../lib/wire';
import { type AgentsMessage, type BatchMessage, emptySegment, type EndMessage, type ReporterMessage, type Segment } from './messages';
import { SegmentMerge } from './segment-merge';

export interface FleetFeedInput {
  /**
   * Starts delivering the stream's messages (an Error for one that does not decode); `live` once
   * the history it started with has been delivered, `end` at the end of a replayed stretch.
   * Returns what stops it.
   */
  subscribe: (deliver: (message: CountsMessage | Error, time?: number, seq?: number) => void, end: () => void, live: () => void) => () => void;
  /** Replaying the stream's history: silence is measured in the messages' stored times, not the wall clock. */
  replaying?: boolean;
  /** Whether the centre can hear from the stream: agents are not taken for silent while it cannot. */
  connected: () => boolean;
  /**
   * The history before `live` rebuilds the window and the alert state: no stats are printed
   * from it, and no alert or recovery at or before this instant (ms), the last one printed
   * before a restart (-Infinity: none; an alert still going on is printed).
   */
  printedUntil: number;
  /**
   * What an earlier run of the centre printed already (or what precedes a new centre's start):
   * the segments, below `second` (ms), of the messages up to stream sequence `seq`. They rebuild
   * the windows and are not counted in the stats again.
   */
  printedBefore?: { seq: number; at: number };
  /** The alerts still going on when an earlier run stopped (key → when each began): not announced again. */
  activeAlerts?: [string, number][];
  /** systemIds that receive the batches (the replay clock). */
  to: string[];
  /** systemId told when the stream's history has been read (a replay of the stream). */
  endTo: string;
  agentTimeoutMs: number;
  /**
   * An agent whose clock is further behind than this (ms) stops holding the fleet's clock back:
   * its lines come as late lines (said once, and once when it has caught up).
   */
  maxLagMs: number;
  /** An agent silent this long (ms) is forgotten: no longer listed in the stats (said once). */
  forgetAfterMs: number;
  /** The wall clock, ms (for silence; the fleet's own clock is the watermark). */
  wallNow: () => number;
  /** How often unreadable messages are summed up on stderr, ms. */
  reportEveryMs: number;
  /**
   * With --metrics: the agents reporting and silent (with each roll the stats get) and each
   * agent's clock lag, the seconds between the fleet's clock (its newest complete second) and the
   * agent's newest, 0 when it is not behind (kept at each flush).
   */
  metrics?: Pick<Metrics, 'setAgents' | 'setAgentLag' | 'clearAgentLag'>;
  /** Runs `fn` every `ms` on the wall clock until the returned function is called (default: setInterval; specs tick it themselves). */
  every?: (fn: () => void, ms: number) => () => void;
}

const everyMs = (fn: () => void, ms: number) => {
  const timer = setInterval(fn, ms);
  return () => clearInterval(timer);
};

/** A new process under an agent's name whose predecessor has been quiet this long (ms) takes its place. */
const TAKEOVER_MS = 2_500;

/** How far behind the wall clock the fleet's clock runs when no agent holds it: where it is when they report (a poll 0.5 s into a second, 1 s of it). */
const IDLE_LAG_MS = 2_000;

export const fleetFeed = fromCallback<{ type: string }, FleetFeedInput>(({ input, system }) => {
  const merge = new SegmentMerge([]);
  const heard = new Map<string, number>();
  /** Each agent's clock: every line it will read of a second up to this one has been published. */
  const clocks = new Map<string, number>();
  const silent = new Set<string>();
  /** Agents whose clock lags the wall clock by more than maxLagMs. */
  const behind = new Set<string>();
  /** Each agent name's instance, and when it was last heard (two processes under one name). */
  const instances = new Map<string, { id: string; at: number; seq: number }>();
  let warnedTwins = -Infinity;
  /** The history the centre started with has been read: the live stream from here. */
  let caughtUp = false;
  let stepped = -Infinity;
  let unreadable = 0;
  let why = '';
  const notice = (level: 'info' | 'warn', message: string) => {
    system.get('reporter')?.send({ type: 'notice', level, message } satisfies ReporterMessage);
    // The notices here are about agents coming and going: with each, the stats get the roll.
    const names = [...heard.keys()].sort();
    // A lagging agent reports; it just does not hold the clock back.
    const roll = { reporting: names.filter((a) => !silent.has(a)), silent: names.filter((a) => silent.has(a)) };
    system.get('aggregator')?.send({ type: 'agents', roll } satisfies AgentsMessage);
    input.metrics?.setAgents(roll.reporting.length, roll.silent.length);
  };
  /** Each agent's lag behind the fleet's clock, as far as it has changed. */
  const lags = new Map<string, number>();
  const showLags = () => {
    if (!input.metrics || !Number.isFinite(stepped)) return;
    for (const [agent, clock] of clocks) {
      const lag = Math.max(0, stepped - 1 - clock);
      if (lags.get(agent) === lag) continue;
      lags.set(agent, lag);
      input.metrics.setAgentLag(agent, lag);
    }
  };
  const send = (segments: Segment[]) => {
    for (const id of input.to) system.get(id)?.send({ type: 'batch', batch: { segments } } satisfies BatchMessage);
  };

  /**
   * Hands on what every live agent has shown (as a replay merges files), then steps the clock to
   * one second past the oldest agent clock: every line of the seconds before it is in, so the
   * evaluation at that instant sees what a replay's would.
   */
  const flush = () => {
    const segments = merge.take();
    if (segments.length > 0) send(segments);
    let watermark = Infinity;
    for (const [agent, clock] of clocks) if (!silent.has(agent) && !behind.has(agent) && clock < watermark) watermark = clock;
    if (Number.isFinite(watermark)) step(watermark + 1);
    showLags();
  };
  const step = (second: number) => {
    if (second <= stepped) return;
    stepped = second;
    send([emptySegment(stepped)]);
  };

  /**
   * At `now` (ms): an agent whose clock is more than maxLagMs behind stops holding the clock back,
   * and holds it again once it has caught up with the fleet's clock.
   */
  const pace = (now: number) => {
    const limit = Math.floor((now - input.maxLagMs) / 1000);
    for (const [agent, clock] of clocks) {
      if (silent.has(agent)) continue;
      if (!behind.has(agent) && clock < limit) {
        behind.add(agent);
        merge.hold(agent, false);
        notice('warn', `agent ${agent} is ${Math.floor(now / 1000) - clock} s behind; the clock goes on without it and its lines come as late lines until it catches up`);
      } else if (behind.has(agent) && clock >= Math.max(limit, stepped - 1)) {
        behind.delete(agent);
        merge.hold(agent, true);
        notice('info', `agent ${agent} has caught up`);
      }
    }
  };

  /** Agents silent for forgetAfterMs at `now` are no longer listed. */
  const forget = (now: number) => {
    for (const [agent, at] of heard) {
      if (!silent.has(agent) || now - at < input.forgetAfterMs) continue;
      heard.delete(agent);
      clocks.delete(agent);
      lags.delete(agent);
      input.metrics?.clearAgentLag(agent);
      silent.delete(agent);
      merge.forget(agent);
      notice('info', `agent ${agent} forgotten after ${Math.round((now - at) / 60_000)} min of silence; it is listed again when it reports`);
    }
  };

  /**
   * Which source a message speaks for: its agent, or, while another process publishes under the
   * same name (a cloned host), `agent#instance`, counted apart and said loudly.
   */
  const sourceOf = (message: CountsMessage, now: number): string => {
    const { agent, instance } = message;
    if (!instance) return agent;
    const known = instances.get(agent);
    // The first process heard under this name, or one that took over from a stopped one: an
    // agent started again publishes only after its predecessor has been quiet (it watches its
    // checkpoint 3 s first); twins both publish every second.
    if (!known || known.id === instance || now - known.at >= TAKEOVER_MS) {
      instances.set(agent, { id: instance, at: now, seq: message.seq });
      return agent;
    }
    if (now - warnedTwins >= 10_000) {
      warnedTwins = now;
      notice('warn', `two agents publish as ${agent} (instances ${known.id} and ${instance}): the second one's lines are counted apart, as ${agent}#${instance.slice(0, 8)}; give each agent its own --name`);
    }
    return `${agent}#${instance.slice(0, 8)}`;
  };

  /** Agents not heard from for the timeout, at `now`, stop holding the clock back. */
  const silence = (now: number) => {
    let any = false;
    for (const [agent, at] of heard) {
      if (silent.has(agent) || now - at < input.agentTimeoutMs) continue;
      silent.add(agent);
      merge.hold(agent, false);
      any = true;
      notice('warn', `agent ${agent} has not reported for ${Math.round((now - at) / 1000)} s; the clock goes on without it`);
    }
    return any;
  };

  /** When the stream's history is replayed: the second of stored time last flushed at. */
  let flushedAt = -Infinity;
  /**
   * A message, `seq` its stream sequence. `time`, when the stream's history is replayed, is when
   * it was stored: silence is measured in it, and the merge is flushed as the live centre did,
   * once a second and when an agent falls silent, so that an agent's delayed lines are late in
   * the replay as they were live (not merged back into their seconds).
   */
  const deliver = (message: CountsMessage | Error, time?: number, seq?: number) => {
    if (message instanceof Error) {
      unreadable++;
      why = message.message;
      return;
    }
    const before = input.printedBefore;
    if (before && seq !== undefined && seq <= before.seq) {
      for (const s of message.segments) if (s.second * 1000 < before.at) s.printed = true;
    }
    const now = time ?? input.wallNow();
    const agent = sourceOf(message, now);
    if (time !== undefined) {
      // Live, what came before an agent's return was handed on in turns of their own.
      const silenced = silence(time);
      if (silenced || silent.has(agent) || Math.floor(time / 1000) > flushedAt) {
        flushedAt = Math.floor(time / 1000);
        flush();
      }
    }
    const known = heard.has(agent);
    heard.set(agent, now);
    if (!known) notice('info', `agent ${agent} is reporting`);
    if (silent.delete(agent)) {
      merge.hold(agent, true);
      notice('info', `agent ${agent} is reporting again`);
    }
    merge.add(agent, message.segments);
    merge.advance(agent, message.clock);
    clocks.set(agent, Math.max(clocks.get(agent) ?? -Infinity, message.clock));
    // A live centre's history is behind the wall clock by its nature: lag counts once it is read.
    if (time !== undefined || caughtUp) pace(now);
    flushSoon();
  };

  // Many messages come in one turn of the event loop (1,000 agents: 1,000 a second); the merge
  // and the watermark, which look at every agent, run once for all of them.
  let flushing: ReturnType<typeof setImmediate> | null = null;
  const flushSoon = () => {
    flushing ??= setImmediate(() => {
      flushing = null;
      flush();
    });
  };

  let away = false;
  const every = input.every ?? everyMs;
  const unwatch = every(() => {
    const now = input.wallNow();
    if (!input.connected()) {
      away = true;
      return;
    }
    // Back from an outage of the stream: every agent gets a new timeout to catch up in.
    if (away) for (const agent of heard.keys()) heard.set(agent, now);
    away = false;
    if (!input.replaying) {
      silence(now);
      if (caughtUp) pace(now);
      forget(now);
    }
    flush();
    // Nobody holds the clock (every agent silent, or behind): it keeps time by the wall clock,
    // as far behind it as the agents' clocks are when they report, so alerts recover on time.
    if (!input.replaying && caughtUp && heard.size > 0 && [...heard.keys()].every((a) => silent.has(a) || behind.has(a))) {
      step(Math.floor((now - IDLE_LAG_MS) / 1000));
      showLags();
    }
  }, Math.min(1000, input.agentTimeoutMs / 2));
  const unreport = every(() => {
    if (unreadable === 0) return;
    notice('warn', `${unreadable} message${unreadable === 1 ? '' : 's'} could not be read (${why})`);
    unreadable = 0;
  }, input.reportEveryMs);
  system.get('reporter')?.send({ type: 'mute', on: true, printedUntil: input.printedUntil, active: input.activeAlerts } satisfies ReporterMessage);
  // Never deliver inside the caller's turn: the pipeline steps the clock synchronously, and the
  // root must have started (its interval timer set) first, as the tailer waits in a replay.
  let stop = () => {};
  const start = setImmediate(() => (stop = subscribe()));
  const subscribe = () => input.subscribe(
    deliver,
    () => {
      if (flushing) clearImmediate(flushing);
      flushing = null;
      flush();
      for (const agent of heard.keys()) merge.end(agent);
      const segments = merge.take();
      if (segments.length > 0) send(segments);
      system.get(input.endTo)?.send({ type: 'end' } satisfies EndMessage);
    },
    () => {
      caughtUp = true;
      system.get('reporter')?.send({ type: 'mute', on: false } satisfies ReporterMessage);
    },
  );
  return () => {
    clearImmediate(start);
    if (flushing) clearImmediate(flushing);
    unwatch();
    unreport();
    stop();
  };
});
