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
 */
import { fromCallback } from 'xstate';
import { ownKeys } from '../lib/byte-keys';
import { type CountsMessage, type FileMark, WIRE_VERSION } from '../lib/wire';
import type { BatchMessage, DrainMessage, MarksMessage, ReporterMessage, Segment } from './messages';

export interface PublisherInput {
  agent: string;
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
  let clock = input.firstClock === undefined ? fresh : Math.max(input.firstClock, fresh - RESUME_HOLD_S);
  let lastCut = input.now();
  let segments: Segment[] = [];
  let files: FileMark[] = [];
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
    queue.push({
      v: WIRE_VERSION,
      agent: input.agent,
      seq: seq++,
      clock,
      segments,
      files,
    });
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

  receive((message) => {
    if (message.type === 'batch') for (const s of message.batch.segments) segments.push({ ...s, keys: ownKeys(s.keys) });
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
