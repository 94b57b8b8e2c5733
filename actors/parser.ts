/**
 * chunks → batches. The scanners do the byte work (one a source, in the source's log format:
 * actors/input-scanner.ts); this actor
 * routes the batches to the next hops, merges a multi-file replay's files by second, and, with
 * `--time-source arrival`, restamps batches with the time they were read.
 */
import { fromCallback } from 'xstate';
import type { LogFormat } from '../lib/log-format';
import { InputScanner } from './input-scanner';
import type { Batch, ChunkMessage, EndMessage, ReporterMessage, Segment } from './messages';
import { SegmentMerge } from './segment-merge';

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
  /** A replay's files: each gets its own scanner, and their segments are merged by second. */
  sources?: string[];
  /** `--log-format`'s; absent: each source's first lines decide (said once on stderr). */
  format?: LogFormat;
  /** Keep the durations by status class and vhost (default true; see ScannerOptions). */
  ruleSketches?: boolean;
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
    const scanners = new Map<string, InputScanner>();
    const tell = (level: 'info' | 'warn', message: string) =>
      system.get('reporter')?.send({ type: 'notice', level, message } satisfies ReporterMessage);
    const scannerOf = (source: string) => {
      let s = scanners.get(source);
      // Borrowed keys: a batch is read while it is delivered (see ClfScanner).
      if (!s) scanners.set(source, (s = new InputScanner(input.format, source, tell, { borrowKeys: true, ruleSketches: input.ruleSketches })));
      return s;
    };
    const merge = input.sources && input.sources.length > 1 ? new SegmentMerge(input.sources) : null;
    const deliver = (segments: Segment[]) => {
      if (segments.length === 0) return;
      let batch: Batch = { segments };
      if (input.timeSource === 'arrival') batch = restamp(batch, Math.floor(input.now() / 1000));
      for (const id of input.to) system.get(id)?.send({ type: 'batch', batch });
    };
    let total = 0;
    receive((message) => {
      if (message.type === 'end') {
        if (message.source === undefined) system.get(input.endTo)?.send(message);
        else if (merge) {
          merge.end(message.source);
          deliver(merge.take());
        }
        return;
      }
      const batch = scannerOf(message.source).scan(message.bytes);
      if (batch.segments.length === 0) return;
      if (merge) {
        merge.add(message.source, batch.segments);
        deliver(merge.take());
      } else {
        deliver(batch.segments);
      }
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
