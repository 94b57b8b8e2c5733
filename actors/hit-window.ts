/**
 * batches → the per-second hit window the alert statechart reads.
 *
 * The window is a ring of W one-second buckets, filled once per batch from the parser's
 * per-second counts. Filling it is plain code outside the statechart: the alert machine only
 * ever runs its own once-a-second evaluation, never an event per batch.
 */
import { fromCallback } from 'xstate';
import type { HitWindow } from '../machines/alert';
import type { Batch, BatchMessage } from './messages';

/** A ring of W one-second buckets; a line counts in the bucket of its own second. */
export class SecondWindow implements HitWindow {
  private readonly seconds: Float64Array;
  private readonly counts: Float64Array;

  /** W + 1 buckets: lines of the second being evaluated may come before its evaluation (a late timer) without taking the bucket of the window's oldest second. */
  private readonly slots: number;

  constructor(readonly size: number) {
    this.slots = size + 1;
    this.seconds = new Float64Array(this.slots).fill(-Infinity);
    this.counts = new Float64Array(this.slots);
  }

  /**
   * A line stamped in the future counts at `now`; one older than the window (it could never be
   * part of a coming evaluation) is late and not counted.
   */
  add(second: number, hits: number, nowSecond: number): boolean {
    const at = Math.min(second, nowSecond);
    if (at < lateBefore(nowSecond, this.size)) return false;
    const slot = ((at % this.slots) + this.slots) % this.slots;
    if (this.seconds[slot] !== at) {
      this.seconds[slot] = at;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += hits;
    return true;
  }

  record(batch: Batch, nowMs: number): number {
    const nowSecond = Math.floor(nowMs / 1000);
    let late = 0;
    for (const segment of batch.segments) {
      for (const [second, hits] of segment.perSecond) {
        if (!this.add(second, hits, nowSecond)) late += hits;
      }
    }
    return late;
  }

  series(second: number): number[] {
    const out = new Array<number>(this.size).fill(0);
    for (let i = 0; i < this.slots; i++) {
      const s = this.seconds[i]!;
      if (s >= second - this.size && s < second) out[s - (second - this.size)] = this.counts[i]!;
    }
    return out;
  }

  hitsBefore(second: number): number {
    let hits = 0;
    for (let i = 0; i < this.slots; i++) {
      const s = this.seconds[i]!;
      if (s >= second - this.size && s < second) hits += this.counts[i]!;
    }
    return hits;
  }
}

/** Seconds before this are outside every evaluation still to come: [now + 1 - W, now + 1). */
export function lateBefore(nowSecond: number, windowSeconds: number): number {
  return nowSecond + 1 - windowSeconds;
}

/**
 * Lines of a batch, arriving at `nowMs`, that are too old for the alert window; with
 * `afterEvaluation` (the fleet's centre), also every line of a segment that arrives after the
 * clock has passed its second: its seconds were evaluated without it. Segments already printed
 * (a restarted centre's history) are not counted.
 */
export function countLate(batch: Batch, nowMs: number, windowSeconds: number, afterEvaluation = false): number {
  const nowSecond = Math.floor(nowMs / 1000);
  const limit = lateBefore(nowSecond, windowSeconds);
  let late = 0;
  for (const segment of batch.segments) {
    if (segment.printed) continue;
    const before = afterEvaluation && segment.second < nowSecond ? nowSecond : limit;
    for (const [second, hits] of segment.perSecond) if (second < before) late += hits;
  }
  return late;
}

export interface HitWindowInput {
  window: SecondWindow;
  now: () => number;
}

/** Records each batch into the window the alert monitor reads. */
export const hitWindow = fromCallback<BatchMessage, HitWindowInput>(({ input, receive }) => {
  receive((message) => {
    input.window.record(message.batch, input.now());
  });
});
