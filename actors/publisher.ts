/**
 * batches → the fleet's stream (the agent's last actor). It gathers the parser's segments and
 * publishes one message each time the agent's clock moves on to a new second (once a second), and
 * at least every `everyMs` whatever the clock: the segments since the last one, the clock, and
 * where each file has been counted up to (the tailer's latest marks).
 *
 * The clock is the last second every line of which has been read: a line of second S is written
 * by S + 1 s + `graceMs`, so once a poll that started after that has read every file to its end,
 * S is complete. The tailer's marks after each poll say when it started and whether it read to
 * the end; the message goes out at once, so the centre hears of S about `graceMs` + a poll after
 * S ends.
 *
 * Messages go out one at a time, in order, each acknowledged before the next; a failed publish
 * is retried with the same message ID, so the stream keeps it once. While NATS is away, messages
 * wait in a bounded queue and the tailer is told to stop reading (`backlog.full`): the files are
 * the buffer. After a `drain` it publishes what is gathered and tells its parent `drained`.
 *
 * A line stamped ahead of the wall clock (by more than the grace: a bad clock, a forged line)
 * counts at the current second, as a single-host run counts it (SecondWindow.add): its segment's
 * second and its entry in `perSecond` are brought back to now, so no message says anything
 * about a second to come and the centre's clock never jumps ahead with it. A message bigger than
 * the server takes (`maxBytes`) goes out as several (lib/message-split).
 *
 * Segments go out as the parser made them, one per chunk and second, never gathered into one:
 * their keys are copied (the parser's are borrowed), their sketches (durations) are their own,
 * made fresh for each segment, so they are kept as they are and never added to.
 */
import { fromCallback } from 'xstate';
import { ownKeys } from '../lib/byte-keys';
import { splitMessage } from '../lib/message-split';
import { type CountsMessage, type FileMark, WIRE_VERSION } from '../lib/wire';
import type { BatchMessage, DrainMessage, MarksMessage, ReporterMessage, Segment } from './messages';

export interface PublisherInput {
  agent: string;
  /** This process's random id, on every message (two agents under one name stay apart). */
  instance?: string;
  /** The largest message the server takes, bytes (its max_payload less room for headers); none: no limit. */
  maxBytes?: number;
  /** The first message's sequence number (one after the last one in the stream). */
  firstSeq: number;
  /** Publishes one message; resolves once the stream has it, rejects with a reason when it could not. */
  publish: (message: CountsMessage) => Promise<void>;
  /** The clock to start from: the last one published before a restart, or none. */
  firstClock?: number;
  /** The wall clock, ms. */
  now: () => number;
  /** The longest time between messages, ms (the clock stands still while the files are read behind). */
  everyMs: number;
  /** How long after its second a line may still be written, ms. */
  graceMs: number;
  /** Messages that may wait for the stream before the tailer stops reading. */
  maxQueued: number;
  /** Shared with the tailer and the agent's edge: the queue and what went out. */
  backlog: Backlog;
}

export interface Backlog {
  /** True while the tailer should not read (the queue is full). */
  full: boolean;
  /** Messages made and not yet acknowledged by the stream (the one being sent among them). */
  waiting: number;
  /** Messages the stream has acknowledged. */
  published: number;
}

const RETRY_MS = 1000;
const RESUME_HOLD_S = 10;

export const publisher = fromCallback<BatchMessage | MarksMessage | DrainMessage, PublisherInput>(({ input, receive, system, sendBack }) => {
  let seq = input.firstSeq;
  const clockAt = (ms: number) => Math.floor((ms - input.graceMs) / 1000) - 1;
  // A fresh start reads from the files' ends: nothing earlier will come. A restart goes on from
  // its checkpoint; after a short stop (10 s) the clock stays where it was, so that the lines
  // written while the agent was down reach the centre before its clock passes them.
  const fresh = clockAt(input.now());
  // A checkpoint's clock ahead of the wall clock (a line from the future, before this was
  // fixed) is not taken: the clock never moves past the wall clock.
  let clock = input.firstClock === undefined ? fresh : Math.max(Math.min(input.firstClock, fresh), fresh - RESUME_HOLD_S);
  let lastCut = input.now();
  let segments: Segment[] = [];
  let files: FileMark[] = [];
  /** The last message made: what the earlier parts of a message split in several say. */
  let previous = { clock, files };
  let saidAhead = false;
  let saidSplit = false;
  const queue: CountsMessage[] = [];
  let sending = false;
  let failing = '';
  let draining = false;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const notice = (level: 'info' | 'warn', message: string) =>
    system.get('reporter')?.send({ type: 'notice', level, message } satisfies ReporterMessage);

  /** Makes the next message from what has been gathered (also with no lines: the clock moves). */
  const cut = (at: number) => {
    lastCut = at;
    const m: CountsMessage = {
      v: WIRE_VERSION,
      agent: input.agent,
      ...(input.instance ? { instance: input.instance } : {}),
      seq,
      clock,
      segments,
      files,
    };
    const parts = input.maxBytes ? splitMessage(m, input.maxBytes, previous) : [m];
    if (parts.length > 1 && !saidSplit) {
      saidSplit = true;
      notice('warn', `a second's counts are more than the server takes in one message (${input.maxBytes} bytes): sent in ${parts.length} messages (every hit and key still counted)`);
    }
    queue.push(...parts);
    seq += parts.length;
    previous = { clock, files };
    segments = [];
    queued();
    pump();
  };

  /** The queue's length, shared; reading stops while it is full, and the log says so once. */
  const queued = () => {
    const full = queue.length >= input.maxQueued;
    if (full && !input.backlog.full) notice('warn', `reading paused: ${waiting()} for the stream`);
    input.backlog.full = full;
    input.backlog.waiting = queue.length;
  };
  const waiting = () => `${queue.length} message${queue.length === 1 ? '' : 's'} waiting`;

  const pump = () => {
    if (sending || stopped || retry) return;
    const next = queue[0];
    if (!next) {
      if (draining) sendBack({ type: 'drained' });
      return;
    }
    sending = true;
    input.publish(next).then(
      () => {
        sending = false;
        queue.shift();
        input.backlog.published++;
        queued();
        if (failing) notice('info', `publishing again (${waiting()})`);
        failing = '';
        pump();
      },
      (error: unknown) => {
        sending = false;
        const why = error instanceof Error ? error.message : String(error);
        // The queue so far, and the length at which reading stops (not reached yet, mostly).
        if (why !== failing) notice('warn', `cannot publish: ${why}; retrying every ${RETRY_MS / 1000} s (${waiting()}; reading stops at ${input.maxQueued})`);
        failing = why;
        retry = setTimeout(() => {
          retry = undefined;
          pump();
        }, RETRY_MS);
      },
    );
  };

  /** A segment with its lines stamped ahead of the wall clock (beyond the grace) brought back to now. */
  const notAhead = (s: Segment): Segment => {
    const now = input.now();
    const nowSecond = Math.floor(now / 1000);
    const limit = Math.floor((now + Math.max(input.graceMs, 1000)) / 1000);
    let ahead = s.second > limit && Number.isFinite(s.second);
    for (const second of s.perSecond.keys()) if (second > limit) ahead = true;
    if (!ahead) return s;
    const perSecond = new Map<number, number>();
    let first = Infinity;
    for (const [second, hits] of s.perSecond) {
      if (second > limit) first = Math.min(first, second);
      const at = second > limit ? nowSecond : second;
      perSecond.set(at, (perSecond.get(at) ?? 0) + hits);
    }
    if (!saidAhead && Number.isFinite(first)) {
      saidAhead = true;
      notice('warn', `a line stamped ${new Date(first * 1000).toISOString()}, ahead of this host's clock, counts at the current second (as lines stamped ahead always will)`);
    }
    return { ...s, second: s.second > limit ? nowSecond : s.second, perSecond };
  };

  receive((message) => {
    if (message.type === 'batch') for (const s of message.batch.segments) segments.push({ ...notAhead(s), keys: ownKeys(s.keys) });
    else if (message.type === 'marks') {
      files = message.files;
      const was = clock;
      if (message.complete) clock = Math.max(clock, clockAt(message.at));
      if (!draining && (clock > was || message.at - lastCut >= input.everyMs)) cut(message.at);
    } else if (!draining) {
      draining = true;
      cut(input.now());
    }
  });
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
  };
});
