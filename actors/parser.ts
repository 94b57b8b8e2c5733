/**
 * chunks → batches. The scanner beside it does the byte work; this actor routes its batches
 * to the next hops and, with `--time-source arrival`, restamps them with the time they were read.
 */
import { fromCallback } from 'xstate';
import { ClfScanner } from './clf-scanner';
import type { Batch, ChunkMessage, EndMessage, ReporterMessage } from './messages';

export type TimeSource = 'log' | 'arrival';

export interface ParserInput {
  /** systemIds that receive every batch. */
  to: string[];
  /** systemId told when the input has ended (replay, or standard input closing). */
  endTo: string;
  timeSource: TimeSource;
  now: () => number;
  /** Told the running total of hits after each batch has been delivered (latency benchmark). */
  probe?: (hits: number) => void;
  /** Tell the reporter how many bytes and lines each chunk held (a replay's progress line). */
  progress?: boolean;
}

/** Every line counts at `second`, whatever its timestamp says. */
export function restamp(batch: Batch, second: number): Batch {
  for (const segment of batch.segments) {
    segment.second = second;
    segment.perSecond = segment.hits > 0 ? new Map([[second, segment.hits]]) : new Map();
  }
  return batch;
}

export const parser = fromCallback<ChunkMessage | EndMessage, ParserInput>(
  ({ input, receive, system }) => {
    const scanner = new ClfScanner();
    let total = 0;
    receive((message) => {
      if (message.type === 'end') {
        system.get(input.endTo)?.send(message);
        return;
      }
      let batch = scanner.scan(message.bytes);
      if (batch.segments.length === 0) return;
      if (input.timeSource === 'arrival') batch = restamp(batch, Math.floor(input.now() / 1000));
      for (const id of input.to) system.get(id)?.send({ type: 'batch', batch });
      if (input.probe) {
        for (const s of batch.segments) total += s.hits;
        input.probe(total);
      }
      if (input.progress) {
        let lines = 0;
        for (const s of batch.segments) lines += s.hits + s.invalid;
        system.get('reporter')?.send({ type: 'progress', bytes: message.bytes.length, lines } satisfies ReporterMessage);
      }
    });
  },
);
