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
const BLOCK = 4096;

/**
 * The bytes after a run of NULs at their start. A sparse hole can be gigabytes of them: they are
 * passed over a block at a time by memcmp, not a byte at a time.
 */
function skipNuls(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes[0] !== 0) return bytes;
  let start = 0;
  while (start + BLOCK <= bytes.length && isZeros(bytes.subarray(start, start + BLOCK))) start += BLOCK;
  while (start < bytes.length && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

/** Whether every byte is 0, compared with a block of zeros (native memcmp, not a byte loop). */
function isZeros(bytes: Uint8Array): boolean {
  if (zeros.length < bytes.length) zeros = new Uint8Array(bytes.length);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(zeros.subarray(0, bytes.length));
}

export class LineCarry {
  private pending: Uint8Array = new Uint8Array(0);
  /** Bytes of the current over-long line thrown away so far. */
  private dropped = 0;

  constructor(
    private readonly send: Send,
    /** Also pass over NUL runs between lines inside a read (files that may have holes). */
    private readonly holes = false,
  ) {}

  push(bytes: Uint8Array) {
    if (this.pending.length === 0) bytes = skipNuls(bytes);
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
      if (first < last) this.sendLines(bytes.subarray(first + 1, last + 1));
    } else {
      this.sendLines(bytes.subarray(0, last + 1));
    }
    this.pending = new Uint8Array(0);
    this.hold(skipNuls(bytes.subarray(last + 1)));
  }

  /** Sends complete lines; with `holes`, without the NUL runs that stand where a line begins. */
  private sendLines(lines: Uint8Array) {
    let at = this.holes ? lines.indexOf(0) : -1;
    let from = 0;
    while (at >= 0) {
      if (at === from || lines[at - 1] === 10) {
        if (at > from) this.send(lines.subarray(from, at));
        from = lines.length - skipNuls(lines.subarray(at)).length;
        at = lines.indexOf(0, from);
      } else {
        // A NUL inside a line is part of that (invalid) line.
        const nl = lines.indexOf(10, at);
        at = nl < 0 ? -1 : lines.indexOf(0, nl + 1);
      }
    }
    if (from < lines.length) this.send(lines.subarray(from));
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

  /** Bytes read but not yet sent: the partial line held, and what was dropped of it. */
  held(): number {
    return this.pending.length + this.dropped;
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
