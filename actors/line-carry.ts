/**
 * Splits reads into complete lines, holding a partial last line until its newline arrives.
 *
 * Memory is bounded: a line longer than MAX_LINE keeps only its first MAX_LINE + 1 bytes, which
 * is enough for the scanner to count it as one invalid line when its newline comes. A run of NUL
 * bytes where a line should begin (the hole a writer leaves when it keeps its offset across a
 * truncation) is skipped, not taken for a line.
 */
import { MAX_LINE } from './clf-scanner';

/**
 * Receives complete lines. The bytes may be a view into a reused read buffer: they are valid
 * for the duration of the call only (the actors downstream consume a chunk synchronously and
 * keep no reference to it), which saves copying every read.
 */
export type Send = (bytes: Uint8Array) => void;

const KEEP = MAX_LINE + 1;

let zeros = new Uint8Array(0);

/** Whether every byte is 0, compared with a block of zeros (native memcmp, not a byte loop). */
function isZeros(bytes: Uint8Array): boolean {
  if (zeros.length < bytes.length) zeros = new Uint8Array(bytes.length);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(zeros.subarray(0, bytes.length));
}

export class LineCarry {
  private pending: Uint8Array = new Uint8Array(0);
  /** Bytes of the current over-long line thrown away so far. */
  private dropped = 0;

  constructor(private readonly send: Send) {}

  push(bytes: Uint8Array) {
    let start = 0;
    if (this.pending.length === 0 && bytes[0] === 0) {
      // A sparse hole can be gigabytes of NULs: a chunk of nothing else is passed over by memcmp.
      if (isZeros(bytes)) return;
      while (start < bytes.length && bytes[start] === 0) start++;
    }
    if (start > 0) bytes = bytes.subarray(start);
    const last = bytes.lastIndexOf(10);
    if (last === -1) {
      this.hold(bytes);
      return;
    }
    const first = bytes.indexOf(10);
    if (this.pending.length > 0) {
      this.hold(bytes.subarray(0, first + 1));
      this.send(this.pending);
      this.pending = new Uint8Array(0);
      this.dropped = 0;
      if (first < last) this.send(bytes.subarray(first + 1, last + 1));
    } else {
      this.send(bytes.subarray(0, last + 1));
    }
    this.pending = new Uint8Array(0);
    this.hold(bytes.subarray(last + 1));
  }

  /** Appends to the partial line, keeping at most KEEP bytes of it. */
  private hold(bytes: Uint8Array) {
    if (bytes.length === 0) return;
    const room = KEEP - this.pending.length;
    if (room <= 0) {
      this.dropped += bytes.length;
      return;
    }
    const take = bytes.length <= room ? bytes : bytes.subarray(0, room);
    const next = new Uint8Array(this.pending.length + take.length);
    next.set(this.pending);
    next.set(take, this.pending.length);
    this.pending = next;
    this.dropped += bytes.length - take.length;
  }

  /** The held partial line, for a source that has ended for good (replay, stdin). */
  flush() {
    if (this.pending.length > 0) this.send(this.pending);
    this.drop();
  }

  /** Forgets a partial line that will never be completed (its file was truncated or replaced). */
  drop() {
    this.pending = new Uint8Array(0);
    this.dropped = 0;
  }
}
