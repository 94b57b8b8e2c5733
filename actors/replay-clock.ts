/**
 * Replay's clock: it sits between the parser and the consumers and, before handing on the
 * lines of a log second, steps the simulated clock to that second, one second at a time, so
 * that every timer in the system fires exactly as it would have in a live run.
 */
import * as fs from 'node:fs';
import type { SimulatedClock } from 'xstate';
import { ClfScanner } from './clf-scanner';
import type { Scanner } from './input-scanner';
import { fromCallback } from 'xstate';
import type { BatchMessage, EndMessage } from './messages';

export interface ReplayClockInput {
  clock: SimulatedClock;
  /** systemIds that receive the batches. */
  to: string[];
  /** systemId told when the replay has ended. */
  endTo: string;
  /** Idle stretches longer than this (seconds) are jumped over once nothing is pending. */
  idleJump: number;
}

export const replayClock = fromCallback<BatchMessage | EndMessage, ReplayClockInput>(
  ({ input, receive, system }) => {
    const { clock } = input;
    let lastLine = Math.floor(clock.now() / 1000);

    /** Steps to `second`; a long silence is stepped through only as far as its effects reach. */
    const advanceTo = (second: number) => {
      let now = Math.floor(clock.now() / 1000);
      if (second - lastLine > input.idleJump) {
        while (now < lastLine + input.idleJump) {
          clock.increment(1000);
          now++;
        }
        if (second - 1 > now) {
          clock.set((second - 1) * 1000);
          now = second - 1;
        }
      }
      while (now < second) {
        clock.increment(1000);
        now++;
      }
    };

    receive((message) => {
      if (message.type === 'end') {
        advanceTo(Math.floor(clock.now() / 1000) + 1);
        system.get(input.endTo)?.send(message);
        return;
      }
      for (const segment of message.batch.segments) {
        if (Number.isFinite(segment.second)) {
          advanceTo(segment.second);
          if (segment.hits > 0) lastLine = Math.max(lastLine, segment.second);
        }
        const batch = { segments: [segment] };
        for (const id of input.to) system.get(id)?.send({ type: 'batch', batch });
      }
    });
  },
);

/** Bytes `firstSecond` reads at a time: room for a line of MAX_LINE bytes and its line end. */
const PEEK = 1 << 17;
/** Bytes it scans at a time: the first valid line is nearly always in the first few. */
const PEEK_SCAN = 1 << 12;

/** The first valid timestamp in the files (Unix seconds), where a replay's clock starts. */
export function firstSecond(paths: string[], scanner: Scanner = new ClfScanner()): number | null {
  for (const p of paths) {
    const fd = fs.openSync(p, 'r');
    try {
      const first = firstSecondOf(fd, scanner);
      if (first !== null) return first;
    } finally {
      fs.closeSync(fd);
    }
  }
  return null;
}

/** The first valid timestamp in an open file, read with positional reads (its offset is kept). */
export function firstSecondOf(fd: number, scanner: Scanner = new ClfScanner()): number | null {
  const buffer = new Uint8Array(PEEK);
  let offset = 0;
  for (;;) {
    const n = fs.readSync(fd, buffer, 0, buffer.length, offset);
    if (n <= 0) return null;
    // Whole lines only; a line longer than the buffer is skipped past.
    const end = n < buffer.length ? n : buffer.lastIndexOf(10, n - 1) + 1 || n;
    const first = firstSecondIn(buffer.subarray(0, end), scanner);
    if (first !== null) return first;
    offset += end;
  }
}

/** The first valid timestamp among whole lines of `bytes`, scanned a few KiB at a time. */
export function firstSecondIn(bytes: Uint8Array, scanner: Scanner = new ClfScanner()): number | null {
  const end = bytes.length;
  for (let pos = 0; pos < end; ) {
    let stop = Math.min(end, pos + PEEK_SCAN);
    if (stop < end) {
      const nl = bytes.lastIndexOf(10, stop - 1);
      stop = nl >= pos ? nl + 1 : bytes.indexOf(10, stop) + 1 || end;
    }
    const first = scanner.scan(bytes.subarray(pos, stop)).segments.find((s) => Number.isFinite(s.second));
    if (first) return first.second;
    pos = stop;
  }
  return null;
}
