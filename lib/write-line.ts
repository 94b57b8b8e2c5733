/**
 * Output that never stalls the program: lines and text for stdout and stderr, written in order,
 * at once, and without ever blocking the event loop.
 *
 * - A pipe, a terminal or a socket is written with the asynchronous `fs.write`, which runs on
 *   a thread pool: a reader that stops reading blocks that thread, not this one, so timers and
 *   signal handlers still run and `process.exit` still ends the process. One write is in
 *   flight per target; what is printed meanwhile waits in a queue (in order) and goes out in
 *   the next write as soon as the previous one is done. Nothing is held back for later.
 * - A regular file (`> out.ndjson`, `2>> log`) is written synchronously, as before: a disk does
 *   not stall like a pipe nobody reads, and a long replay into a file keeps its back-pressure.
 * - stdout and stderr on the same terminal or pipe (`2>&1`) share one queue, so that a report
 *   line and a progress line on one terminal keep their order.
 * - At most `QUEUE_LIMIT` bytes wait per target; beyond it new text is dropped and counted,
 *   and a stdout that falls behind is reported once on stderr.
 * - stdout closed by its reader (EPIPE, as with `| head -1`; EIO from a terminal that hung
 *   up) is no error: the listeners of `onStdoutClosed` are told, and nothing is printed. Any
 *   other stdout failure (ENOSPC, EIO on a file) prints `error: cannot write to standard
 *   output: <reason>` once, tells them as well, and `outputFailed()` is true from then on
 *   (exit 1).
 * - A failing stderr (`2>/dev/full`, a full disk) is given up for the rest of the run,
 *   silently: diagnostics are dropped, never thrown, never retried.
 * Nothing here throws.
 */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';

/** The most bytes waiting for one target; what would go beyond it is dropped. */
export const QUEUE_LIMIT = 64 * 1024 * 1024;
/** The most bytes one write hands to the kernel (queued text is joined up to this). */
const WRITE_CHUNK = 1024 * 1024;
/** A non-blocking descriptor that is full (EAGAIN) is tried again after this long. */
const RETRY_MS = 10;

interface Pending {
  fd: number;
  bytes: Buffer;
}

/** One file, pipe or terminal, which one or more descriptors (stdout and stderr) lead to. */
interface Target {
  /** A regular file: written synchronously while nothing waits. */
  file: boolean;
  /** A terminal: EIO means that it hung up, which is no failure of ours. */
  tty: boolean;
  queue: Pending[];
  /** Bytes queued or in flight. */
  waiting: number;
  /** A write is in flight (or a retry after EAGAIN is due). */
  busy: boolean;
  /** Given up: closed by its reader, failed, or left behind at a flush deadline. */
  gone: boolean;
  /** Those waiting for the queue to empty. */
  idle: (() => void)[];
}

const targets = new Map<string, Target>();
const targetOfFd = new Map<number, Target>();
const dropped = new Map<number, { bytes: number; lines: number }>();
const stdoutListeners = new Set<() => void>();
let stdoutClosed = false;
let stdoutFailed = false;
let dropNoticeGiven = false;
let dropSummaryGiven = false;

/**
 * Writes a line to a file descriptor at once, with nothing held in a buffer, so that output
 * through a pipe, `tee` or into a file is there as soon as it is printed.
 */
export function writeLine(fd: number, text: string) {
  write(fd, `${text}\n`);
}

/** Writes text as it is, at once (escape codes for a terminal, in order with the lines). */
export function write(fd: number, text: string) {
  if (text.length === 0) return;
  const target = targetOf(fd);
  if (target.gone) return;
  const bytes = Buffer.from(text);
  if (target.file && !target.busy && target.queue.length === 0) {
    const rest = writeNow(target, fd, bytes);
    if (rest === null) return;
    queue(target, fd, rest);
    return;
  }
  queue(target, fd, bytes);
}

/**
 * Resolves when everything printed so far has been written, or when `deadlineMs` milliseconds
 * have passed (`Infinity`: no deadline). At the deadline, whatever still waits is given up for
 * good (the process is about to exit): later writes to those targets are dropped, and a later
 * flush does not wait for them. Never rejects.
 */
export async function flushOutput(deadlineMs: number): Promise<void> {
  const lost = dropped.get(1);
  if (lost && !dropSummaryGiven) {
    dropSummaryGiven = true;
    writeLine(2, `warning: ${lost.lines} lines of standard output (${lost.bytes} bytes) were dropped because it was not read fast enough`);
  }
  await settle(Date.now() + deadlineMs);
}

/**
 * Calls `listener` once stdout is closed by its reader (EPIPE) or fails: a run should then
 * stop as on SIGTERM. Called at once (in a microtask) when that has already happened. Returns
 * what removes it.
 */
export function onStdoutClosed(listener: () => void): () => void {
  if (stdoutClosed) {
    queueMicrotask(listener);
    return () => {};
  }
  stdoutListeners.add(listener);
  return () => stdoutListeners.delete(listener);
}

/**
 * Back-pressure for a producer that can wait (a replay): null while at most `limit` bytes wait
 * to be written to `fd`, else a promise that resolves once they have been written (or given up).
 */
export function backlog(fd: number, limit = WRITE_CHUNK): Promise<void> | null {
  const target = targetOfFd.get(fd);
  if (!target || target.gone || target.waiting <= limit) return null;
  return new Promise((resolve) => target.idle.push(resolve));
}

/** stdout failed for another reason than its reader leaving (it was said on stderr): exit 1. */
export function outputFailed(): boolean {
  return stdoutFailed;
}

/**
 * One synchronous attempt to write `text`, for a process 'exit' handler (the event loop is
 * over): skipped when the target was given up (a stuck pipe would block the exit), errors
 * ignored. Text still queued for the target is not written first.
 */
export function writeAtExit(fd: number, text: string) {
  const target = targetOfFd.get(fd);
  if (target?.gone) return;
  try {
    fs.writeSync(fd, text);
  } catch {
    // best effort: the process is ending
  }
}

function targetOf(fd: number): Target {
  let target = targetOfFd.get(fd);
  if (target) return target;
  let key = `fd ${fd}`;
  let file = false;
  let tty = false;
  try {
    const stat = fs.fstatSync(fd);
    tty = stat.isCharacterDevice() && isatty(fd);
    // A regular file, or a device that is not a terminal (/dev/null, /dev/full), never blocks
    // for long: written in place, without the thread pool's threads and their memory.
    file = stat.isFile() || (stat.isCharacterDevice() && !tty);
    // Two descriptors for one pipe or terminal share a queue; regular files are written in
    // place, in order already.
    if (!file) key = `${stat.dev}:${stat.ino}`;
  } catch {
    // a closed descriptor: its first write fails and says why
  }
  target = targets.get(key);
  if (!target) {
    target = { file, tty, queue: [], waiting: 0, busy: false, gone: false, idle: [] };
    targets.set(key, target);
  }
  targetOfFd.set(fd, target);
  return target;
}

/** Writes synchronously (a regular file); what is left when it would block, or null. */
function writeNow(target: Target, fd: number, bytes: Buffer): Buffer | null {
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(fs.writeSync(fd, bytes));
    } catch (error) {
      if (code(error) === 'EAGAIN') return bytes;
      fail(target, error);
      return null;
    }
  }
  return null;
}

function queue(target: Target, fd: number, bytes: Buffer) {
  if (target.waiting + bytes.length > QUEUE_LIMIT) {
    drop(fd, bytes);
    return;
  }
  target.queue.push({ fd, bytes });
  target.waiting += bytes.length;
  pump(target);
}

/** Starts the next write unless one is in flight: the queue's head, joined with what follows it for the same fd. */
function pump(target: Target) {
  if (target.busy || target.gone) return;
  const head = target.queue[0];
  if (!head) {
    const idle = target.idle;
    target.idle = [];
    for (const resolve of idle) resolve();
    return;
  }
  let n = 1;
  let size = head.bytes.length;
  for (let next = target.queue[n]; next && next.fd === head.fd && size + next.bytes.length <= WRITE_CHUNK; next = target.queue[++n]) {
    size += next.bytes.length;
  }
  const parts = target.queue.splice(0, n);
  const bytes = n === 1 ? head.bytes : Buffer.concat(parts.map((p) => p.bytes), size);
  target.busy = true;
  fs.write(head.fd, bytes, 0, bytes.length, null, (error, written) => {
    target.busy = false;
    if (target.gone) return;
    if (error && code(error) === 'EAGAIN') {
      target.queue.unshift({ fd: head.fd, bytes });
      target.busy = true;
      setTimeout(() => {
        target.busy = false;
        pump(target);
      }, RETRY_MS);
      return;
    }
    if (error) {
      fail(target, error);
      return;
    }
    target.waiting -= written;
    if (written < bytes.length) target.queue.unshift({ fd: head.fd, bytes: bytes.subarray(written) });
    pump(target);
  });
}

/** The target is given up; a stdout among its descriptors is reported closed or failed. */
function fail(target: Target, error: unknown) {
  giveUp(target);
  // stderr may fail first on the pipe or file it shares with stdout (`2>&1 | head -1`).
  if (stdoutClosed || targetOf(1) !== target) return;
  const why = code(error);
  const closed = why === 'EPIPE' || why === 'ECONNRESET' || (why === 'EIO' && target.tty);
  if (!closed) {
    stdoutFailed = true;
    writeLine(2, `error: cannot write to standard output: ${reason(error)}`);
  }
  stdoutClosed = true;
  const listeners = [...stdoutListeners];
  stdoutListeners.clear();
  for (const listener of listeners) listener();
}

function giveUp(target: Target) {
  target.gone = true;
  target.queue = [];
  target.waiting = 0;
  const idle = target.idle;
  target.idle = [];
  for (const resolve of idle) resolve();
}

function drop(fd: number, bytes: Buffer) {
  const count = dropped.get(fd) ?? { bytes: 0, lines: 0 };
  count.bytes += bytes.length;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) count.lines++;
  dropped.set(fd, count);
  if (fd === 1 && !dropNoticeGiven) {
    dropNoticeGiven = true;
    writeLine(
      2,
      `warning: standard output is not read fast enough: ${QUEUE_LIMIT / 1024 / 1024} MiB are waiting to be written; more output is dropped until it catches up`,
    );
  }
}

/** Waits until every target is idle or given up, or until the deadline, when those still busy are given up. */
function settle(deadline: number): Promise<void> {
  const busy = [...new Set(targetOfFd.values())].filter((t) => !t.gone && (t.busy || t.queue.length > 0));
  if (busy.length === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let left = busy.length;
    const done = () => {
      if (timer) clearTimeout(timer);
      resolve();
    };
    for (const target of busy) {
      target.idle.push(() => {
        if (--left === 0) done();
      });
    }
    const ms = deadline - Date.now();
    if (Number.isFinite(ms)) {
      timer = setTimeout(() => {
        for (const target of busy) if (!target.gone && (target.busy || target.queue.length > 0)) giveUp(target);
        done();
      }, Math.max(0, ms));
    }
  });
}

const code = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;

/** `no space left on device` from `ENOSPC: no space left on device, write`. */
function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined;
  const text = String(e?.message ?? error)
    .replace(/^E[A-Z0-9]+: /, '')
    .replace(/, write$/, '');
  return text || e?.code || 'unknown error';
}
