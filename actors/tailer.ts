/**
 * files → chunks of complete lines.
 *
 * Follow mode starts at the end of the files that exist, reads a file that appears later from
 * its head, and notices truncation and replacement (rename or delete and recreate). Watch
 * events are only a hint that makes the next poll come sooner: a `stat` of the path and a read
 * of the open descriptor every `pollMs` are the authority. Replay mode reads each file from its
 * head to its end, then says `end`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromCallback } from 'xstate';
import type { ChunkMessage, EndMessage, ReporterMessage } from './messages';

const CHUNK = 1 << 20;

export interface TailerInput {
  paths: string[];
  mode: 'follow' | 'replay';
  /** systemId of the parser. */
  to: string;
  pollMs: number;
  /** Use fs.watch as a hint (off: polling alone). */
  watch: boolean;
}

type Send = (bytes: Uint8Array) => void;
type Notice = (level: 'info' | 'warn' | 'error', message: string) => void;

/** Splits reads into complete lines, holding a partial last line until its newline arrives. */
export class LineCarry {
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly send: Send) {}

  push(bytes: Uint8Array) {
    const last = bytes.lastIndexOf(10);
    if (last === -1) {
      this.pending = concat(this.pending, bytes);
      return;
    }
    this.send(concat(this.pending, bytes.subarray(0, last + 1)));
    this.pending = bytes.slice(last + 1);
  }

  /** The held partial line, for a source that has ended for good (replay, stdin). */
  flush() {
    if (this.pending.length > 0) this.send(this.pending);
    this.pending = new Uint8Array(0);
  }

  drop() {
    this.pending = new Uint8Array(0);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One followed path: which file is open there, and how far it has been read. */
export class FileFollower {
  private fd: number | null = null;
  private ino = 0;
  private dev = 0;
  private offset = 0;
  private waiting = false;
  /** The last open failure, said once until it changes. */
  private failure = '';
  private readonly carry: LineCarry;

  constructor(
    readonly path: string,
    private readonly buffer: Uint8Array,
    send: Send,
    private readonly notice: Notice,
    /** Start existing files at their end (follow); a file that appears later starts at 0. */
    private startAtEnd: boolean,
  ) {
    this.carry = new LineCarry(send);
  }

  /** Reads whatever is new; handles truncation, replacement and deletion. */
  poll() {
    const st = statOrNull(this.path);
    if (this.fd !== null) {
      this.readOpen();
      if (!st || st.ino !== this.ino || st.dev !== this.dev) this.close();
    }
    if (this.fd === null) {
      if (!st) {
        if (!this.waiting) this.notice('info', `waiting for ${this.path} to appear`);
        this.waiting = true;
        this.startAtEnd = false;
        return;
      }
      this.open();
      if (this.fd !== null) this.readOpen();
    }
  }

  private open() {
    try {
      this.fd = fs.openSync(this.path, 'r');
      if (fs.fstatSync(this.fd).isDirectory()) {
        fs.closeSync(this.fd);
        this.fd = null;
        throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      }
    } catch (error) {
      const failure = `cannot read ${this.path}: ${reason(error)}`;
      if (failure !== this.failure) this.notice('error', failure);
      this.failure = failure;
      this.startAtEnd = false;
      return;
    }
    this.failure = '';
    const fst = fs.fstatSync(this.fd);
    this.ino = fst.ino;
    this.dev = fst.dev;
    this.offset = this.startAtEnd ? fst.size : 0;
    if (this.waiting) this.notice('info', `reading ${this.path}`);
    this.waiting = false;
    this.startAtEnd = false;
    this.carry.drop();
  }

  private readOpen() {
    const fd = this.fd!;
    const size = fs.fstatSync(fd).size;
    if (size < this.offset) {
      this.notice('info', `${this.path} was truncated; reading it from the start`);
      this.offset = 0;
      this.carry.drop();
    }
    for (;;) {
      const n = fs.readSync(fd, this.buffer, 0, this.buffer.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      this.carry.push(this.buffer.subarray(0, n));
    }
  }

  close() {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    this.carry.drop();
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

export function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'EACCES') return 'permission denied';
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EISDIR') return 'it is a directory';
  return e?.message ?? String(error);
}

/** Reads files from head to end, chunk by chunk, yielding to the event loop between chunks. */
export async function replayFiles(paths: string[], send: Send, stopped: () => boolean) {
  const buffer = new Uint8Array(CHUNK);
  for (const p of paths) {
    // Never read inside the caller's turn: the pipeline runs synchronously from each read,
    // and the root must not be in the middle of starting when it does.
    await new Promise((resolve) => setImmediate(resolve));
    const fd = fs.openSync(p, 'r');
    const carry = new LineCarry(send);
    try {
      let offset = 0;
      for (let n; (n = fs.readSync(fd, buffer, 0, CHUNK, offset)) > 0; offset += n) {
        carry.push(buffer.subarray(0, n));
        await new Promise((resolve) => setImmediate(resolve));
        if (stopped()) return;
      }
      carry.flush();
    } finally {
      fs.closeSync(fd);
    }
  }
}

async function readStdin(send: Send, stopped: () => boolean) {
  const carry = new LineCarry(send);
  for await (const chunk of Bun.stdin.stream()) {
    carry.push(chunk);
    if (stopped()) return;
  }
  carry.flush();
}

export const tailer = fromCallback<{ type: 'poll' }, TailerInput>(({ input, system, receive }) => {
  let stopped = false;
  const parser = () => system.get(input.to);
  const send: Send = (bytes) => parser()?.send({ type: 'chunk', bytes, source: '' } satisfies ChunkMessage);
  const notice: Notice = (level, message) =>
    system.get('reporter')?.send({ type: 'notice', level, message } satisfies ReporterMessage);
  const end = () => parser()?.send({ type: 'end' } satisfies EndMessage);
  const fail = (error: unknown) => notice('error', reason(error));

  if (input.mode === 'replay') {
    replayFiles(input.paths, send, () => stopped).then(() => !stopped && end(), fail);
    return () => {
      stopped = true;
    };
  }

  const files = input.paths.filter((p) => p !== '-');
  if (files.length < input.paths.length) {
    setImmediate(() => readStdin(send, () => stopped).then(() => !stopped && end(), fail));
  }
  const buffer = new Uint8Array(CHUNK);
  const followers = files.map((p) => new FileFollower(p, buffer, send, notice, true));
  const pollAll = () => {
    for (const f of followers) {
      try {
        f.poll();
      } catch (error) {
        notice('error', `${f.path}: ${reason(error)}`);
      }
    }
  };
  const first = setImmediate(pollAll);
  const timer = setInterval(pollAll, input.pollMs);
  let soon: ReturnType<typeof setTimeout> | null = null;
  const hint = () => {
    soon ??= setTimeout(() => {
      soon = null;
      pollAll();
    }, 5);
  };
  const watchers: fs.FSWatcher[] = [];
  if (input.watch) {
    for (const dir of new Set(files.map((p) => path.dirname(path.resolve(p))))) {
      try {
        watchers.push(fs.watch(dir, hint));
      } catch {
        // The directory may not exist yet; polling covers it.
      }
    }
  }
  receive(() => pollAll());
  return () => {
    stopped = true;
    clearImmediate(first);
    clearInterval(timer);
    if (soon) clearTimeout(soon);
    for (const w of watchers) w.close();
    for (const f of followers) f.close();
  };
});
