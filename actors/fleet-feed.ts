/**
 * The fleet's messages → batches, at the centre, in place of the tailer and the parser. The
 * agents' segments are merged by second as a replay merges its files (SegmentMerge), and the
 * fleet's clock is a watermark: the centre's simulated clock is stepped to one second past the
 * oldest clock among the agents it hears from, so the second S is evaluated once every live
 * agent has published past S. An agent not heard from for `agentTimeoutMs` stops holding the
 * clock back (said once, and again when it is back); its lines, when they come, are late lines.
 * After a restart of the centre, the stream's last minutes rebuild the window and the alert
 * state with the reporter muted, so that nothing printed before is printed again.
 */
import { fromCallback } from 'xstate';
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
  /** systemIds that receive the batches (the replay clock). */
  to: string[];
  /** systemId told when the stream's history has been read (a replay of the stream). */
  endTo: string;
  agentTimeoutMs: number;
  /** The wall clock, ms (for silence; the fleet's own clock is the watermark). */
  wallNow: () => number;
  /** How often unreadable messages are summed up on stderr, ms. */
  reportEveryMs: number;
}

export const fleetFeed = fromCallback<{ type: string }, FleetFeedInput>(({ input, system }) => {
  const merge = new SegmentMerge([]);
  const heard = new Map<string, number>();
  /** Each agent's clock: every line it will read of a second up to this one has been published. */
  const clocks = new Map<string, number>();
  const silent = new Set<string>();
  let stepped = -Infinity;
  let unreadable = 0;
  let why = '';
  const notice = (level: 'info' | 'warn', message: string) => {
    system.get('reporter')?.send({ type: 'notice', level, message } satisfies ReporterMessage);
    // The notices here are about agents coming and going: with each, the stats get the roll.
    const names = [...heard.keys()].sort();
    const roll = { reporting: names.filter((a) => !silent.has(a)), silent: names.filter((a) => silent.has(a)) };
    system.get('aggregator')?.send({ type: 'agents', roll } satisfies AgentsMessage);
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
    for (const [agent, clock] of clocks) if (!silent.has(agent) && clock < watermark) watermark = clock;
    if (Number.isFinite(watermark) && watermark + 1 > stepped) {
      stepped = watermark + 1;
      send([emptySegment(stepped)]);
    }
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
    const { agent } = message;
    if (time !== undefined) {
      // Live, what came before an agent's return was handed on in turns of their own.
      const silenced = silence(time);
      if (silenced || silent.has(agent) || Math.floor(time / 1000) > flushedAt) {
        flushedAt = Math.floor(time / 1000);
        flush();
      }
    }
    const known = heard.has(agent);
    heard.set(agent, time ?? input.wallNow());
    if (!known) notice('info', `agent ${agent} is reporting`);
    if (silent.delete(agent)) {
      merge.hold(agent, true);
      notice('info', `agent ${agent} is reporting again`);
    }
    merge.add(agent, message.segments);
    merge.advance(agent, message.clock);
    clocks.set(agent, Math.max(clocks.get(agent) ?? -Infinity, message.clock));
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
  const watch = setInterval(() => {
    const now = input.wallNow();
    if (!input.connected()) {
      away = true;
      return;
    }
    // Back from an outage of the stream: every agent gets a new timeout to catch up in.
    if (away) for (const agent of heard.keys()) heard.set(agent, now);
    away = false;
    if (!input.replaying) silence(now);
    flush();
  }, Math.min(1000, input.agentTimeoutMs / 2));
  const report = setInterval(() => {
    if (unreadable === 0) return;
    notice('warn', `${unreadable} message${unreadable === 1 ? '' : 's'} could not be read (${why})`);
    unreadable = 0;
  }, input.reportEveryMs);
  system.get('reporter')?.send({ type: 'mute', on: true, printedUntil: input.printedUntil } satisfies ReporterMessage);
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
    () => system.get('reporter')?.send({ type: 'mute', on: false } satisfies ReporterMessage),
  );
  return () => {
    clearImmediate(start);
    if (flushing) clearImmediate(flushing);
    clearInterval(watch);
    clearInterval(report);
    stop();
  };
});
