/**
 * batches → the fleet's stream (the agent's last actor). It gathers the parser's segments and,
 * every `everyMs`, publishes one message: the segments since the last one, the agent's clock,
 * and where each file has been counted up to (the tailer's latest marks). Messages go out one
 * at a time, in order, each acknowledged before the next; a failed publish is retried with the
 * same message ID, so the stream keeps it once. While NATS is away, messages wait in a bounded
 * queue and the tailer is told to stop reading (`backlog.full`): the files are the buffer.
 * After a `drain` it publishes what is gathered and tells its parent `drained`.
 */
import { fromCallback } from 'xstate';
import { type CountsMessage, type FileMark, WIRE_VERSION } from '../lib/wire';
import type { BatchMessage, DrainMessage, MarksMessage, ReporterMessage, Segment } from './messages';


export interface PublisherInput {
  agent: string;
  /** The first message's sequence number (one after the last one in the stream). */
  firstSeq: number;
  /** Publishes one message; resolves once the stream has it, rejects with a reason when it could not. */
  publish: (message: CountsMessage) => Promise<void>;
  /** The wall clock, ms. */
  now: () => number;
  everyMs: number;
  /** How long a line takes to be read after its second is over, ms: the clock runs this far behind. */
  lagMs: number;
  /** Messages that may wait for the stream before the tailer stops reading. */
  maxQueued: number;
  /** Shared with the tailer: true while it should not read (the queue is full). */
  backlog: { full: boolean };
}

const RETRY_MS = 1000;

export const publisher = fromCallback<BatchMessage | MarksMessage | DrainMessage, PublisherInput>(({ input, receive, system, sendBack }) => {
  let seq = input.firstSeq;
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
  const cut = () => {
    queue.push({
      v: WIRE_VERSION,
      agent: input.agent,
      seq: seq++,
      clock: Math.floor((input.now() - input.lagMs) / 1000),
      segments,
      files,
    });
    segments = [];
    input.backlog.full = queue.length >= input.maxQueued;
    pump();
  };

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
        input.backlog.full = queue.length >= input.maxQueued;
        if (failing) notice('info', `publishing again (${queue.length} messages waiting)`);
        failing = '';
        pump();
      },
      (error: unknown) => {
        sending = false;
        const why = error instanceof Error ? error.message : String(error);
        if (why !== failing) notice('warn', `cannot publish: ${why}; retrying every ${RETRY_MS / 1000} s, reading paused while ${input.maxQueued} messages wait`);
        failing = why;
        retry = setTimeout(() => {
          retry = undefined;
          pump();
        }, RETRY_MS);
      },
    );
  };

  const timer = setInterval(cut, input.everyMs);
  receive((message) => {
    if (message.type === 'batch') segments.push(...message.batch.segments);
    else if (message.type === 'marks') files = message.files;
    else {
      draining = true;
      clearInterval(timer);
      cut();
    }
  });
  return () => {
    stopped = true;
    clearInterval(timer);
    if (retry) clearTimeout(retry);
  };
});
