/**
 * Merges the segments of several files by second, for a replay of more than one log: a line
 * of one file is handed on only when every file still being read has shown a line at least as
 * new, so the replay clock sees the files' traffic as it happened, interleaved. The fleet's
 * centre merges its agents the same way: an agent's clock (`advance`) counts as a second shown,
 * and an agent gone silent (`hold(source, false)`) stops holding the others back.
 */
import { ownKeys } from '../lib/byte-keys';
import type { Segment } from './messages';

interface Queue {
  segments: Segment[];
  /** The newest second this file has shown. */
  last: number;
  done: boolean;
}

export class SegmentMerge {
  private readonly queues = new Map<string, Queue>();

  constructor(sources: string[]) {
    for (const s of sources) this.queues.set(s, { segments: [], last: -Infinity, done: false });
  }

  add(source: string, segments: Segment[]) {
    const q = this.queue(source);
    for (const s of segments) {
      // Kept until every source has caught up, past the scan that packed its keys. Its sketches
      // are the segment's own (never reused by a scanner): kept as they are, with it.
      q.segments.push({ ...s, keys: ownKeys(s.keys) });
      if (s.second > q.last) q.last = s.second;
    }
  }

  end(source: string) {
    this.queue(source).done = true;
  }

  /** The source has shown everything up to `second`, lines or not. */
  advance(source: string, second: number) {
    const q = this.queue(source);
    if (second > q.last) q.last = second;
  }

  /** Whether the source holds the others back (a silent agent stops; one heard from again starts). */
  hold(source: string, holding: boolean) {
    this.queue(source).done = !holding;
  }

  /** Forgets a source: what it still held goes at the next `take`, and it holds nothing back. */
  forget(source: string) {
    const q = this.queues.get(source);
    if (!q) return;
    this.queues.delete(source);
    if (q.segments.length > 0) this.queues.set(`${source}\u0000gone`, { ...q, done: true });
  }

  /** The newest second every source that holds has shown: what `take` hands on up to. */
  watermark(): number {
    let watermark = Infinity;
    for (const q of this.queues.values()) if (!q.done && q.last < watermark) watermark = q.last;
    return watermark;
  }

  /** The segments that can go now, oldest second first (ties in the order of the sources). */
  take(): Segment[] {
    const watermark = this.watermark();
    const out: Segment[] = [];
    for (;;) {
      let from: Queue | undefined;
      for (const q of this.queues.values()) {
        const head = q.segments[0];
        if (head && head.second <= watermark && (!from || head.second < from.segments[0]!.second)) from = q;
      }
      if (!from) return out;
      out.push(from.segments.shift()!);
    }
  }

  private queue(source: string): Queue {
    let q = this.queues.get(source);
    if (!q) this.queues.set(source, (q = { segments: [], last: -Infinity, done: false }));
    return q;
  }
}
