/**
 * The file lifecycle, for the tailer: which file is open at a followed path, how far it has been
 * read, and what happens when it is rotated, truncated, deleted or replaced.
 *
 * - Identity is device and inode, confirmed by a fingerprint of the file's first bytes, so a
 *   file seen under another name (a rotated `a.log.1` matching a glob) goes on from where it was.
 * - A renamed or deleted file is read through its open descriptor for a grace period, so lines a
 *   writer still appends to it are not lost; then it is closed.
 * - Files rotated away between two looks (fast rotation) are found among the path's siblings
 *   (`a.log.1`, `a.log-20260101`, not compressed ones) by their change time, and read too.
 * - Truncation is a size below the offset, or (truncated and rewritten past the offset before the
 *   next look) bytes before the offset that are not the ones read there.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { LineCarry, type Send } from './line-carry';

export type Notice = (level: 'info' | 'warn' | 'error', message: string) => void;

const HEAD = 64;
const TAIL = 64;

/** Where each file (by identity) has been read up to; the checkpointer of the file server. */
export class Checkpoints {
  private readonly offsets = new Map<string, { offset: number; head: Uint8Array }>();

  constructor(private readonly limit = 4096) {}

  get(id: string, head: Uint8Array): number | undefined {
    const seen = this.offsets.get(id);
    return seen && sameBytes(seen.head, head) ? seen.offset : undefined;
  }

  set(id: string, offset: number, head: Uint8Array) {
    this.offsets.delete(id);
    this.offsets.set(id, { offset, head });
    if (this.offsets.size > this.limit) this.offsets.delete(this.offsets.keys().next().value!);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readAt(fd: number, length: number, position: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, length));
  const n = length > 0 ? fs.readSync(fd, out, 0, length, position) : 0;
  return out.subarray(0, n);
}

/** One open file: a descriptor, its identity, and how far it has been read. */
class OpenFile {
  offset = 0;
  head: Uint8Array = new Uint8Array(0);
  /** The bytes just before `offset`, as read. */
  tail: Uint8Array = new Uint8Array(0);
  readonly carry: LineCarry;

  constructor(
    readonly fd: number,
    readonly id: string,
    send: Send,
  ) {
    this.carry = new LineCarry(send);
  }

  /** Whether the bytes before the offset are still the ones that were read there. */
  unchanged(): boolean {
    if (this.tail.length === 0) return true;
    return sameBytes(readAt(this.fd, this.tail.length, this.offset - this.tail.length), this.tail);
  }

  restart() {
    this.offset = 0;
    this.tail = new Uint8Array(0);
    this.head = new Uint8Array(0);
    this.carry.drop();
  }
}

export interface FollowOptions {
  send: Send;
  notice: Notice;
  checkpoints: Checkpoints;
  buffer: Uint8Array;
  /** How long a rotated or deleted file is still read, ms. */
  graceMs: number;
  now: () => number;
}

export const identity = (st: { dev: number; ino: number }) => `${st.dev}:${st.ino}`;

/** One followed path. */
export class FileFollower {
  private current: OpenFile | null = null;
  private draining: { file: OpenFile; until: number }[] = [];
  private waiting = false;
  private failure = '';
  /** Wall-clock time of the last look, for the rotation sweep (file times are wall-clock). */
  private lastLook = Date.now();

  constructor(
    readonly path: string,
    private readonly o: FollowOptions,
    /** Start a file that exists now at its end (follow); one that appears later starts at 0. */
    private startAtEnd: boolean,
  ) {}

  /** Identities of the files open for this path (current and draining). */
  ids(): string[] {
    return [...(this.current ? [this.current.id] : []), ...this.draining.map((d) => d.file.id)];
  }

  openCount(): number {
    return this.ids().length;
  }

  /** Reads whatever is new; handles truncation, replacement, rotation and deletion. */
  poll() {
    const look = Date.now();
    this.drain();
    const st = statOrNull(this.path);
    const file = this.current;
    if (file) {
      this.read(file);
      if (!st || identity(st) !== file.id) {
        this.draining.push({ file, until: this.o.now() + this.o.graceMs });
        this.current = null;
      }
    }
    // With no file open, any file that was at the path since the last look has been rotated away.
    if (!this.current && !this.startAtEnd) this.sweep();
    this.lastLook = look;
    if (this.current) return;
    if (!st) {
      if (!this.waiting) this.o.notice('info', `waiting for ${this.path} to appear`);
      this.waiting = true;
      this.startAtEnd = false;
      return;
    }
    if (this.draining.some((d) => d.file.id === identity(st))) return;
    this.open();
    if (this.current) this.read(this.current);
  }

  /** Adopts siblings rotated since the last look that were never read (or not to their end). */
  private sweep() {
    const dir = nodePath.dirname(this.path);
    const base = nodePath.basename(this.path);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.length <= base.length || !name.startsWith(base) || !'.-_'.includes(name[base.length]!)) continue;
      if (/\.(gz|bz2|xz|zst|lz4|zip|Z)$/.test(name)) continue;
      const sibling = nodePath.join(dir, name);
      const st = statOrNull(sibling);
      if (!st?.isFile() || st.ctimeMs < this.lastLook - 50 || this.ids().includes(identity(st))) continue;
      const file = this.openFile(sibling, 0);
      if (file) this.draining.push({ file, until: this.o.now() + this.o.graceMs });
    }
  }

  /** Opens a file, going on from its checkpoint if it was read before, else from `fallback`. */
  private openFile(p: string, fallback: 'end' | 0): OpenFile | null {
    let fd: number;
    try {
      fd = fs.openSync(p, 'r');
      if (fs.fstatSync(fd).isDirectory()) {
        fs.closeSync(fd);
        throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      }
    } catch (error) {
      const failure = `cannot read ${p}: ${reason(error)}`;
      if (failure !== this.failure) this.o.notice('error', failure);
      this.failure = failure;
      return null;
    }
    this.failure = '';
    const st = fs.fstatSync(fd);
    const file = new OpenFile(fd, identity(st), this.o.send);
    file.head = readAt(fd, HEAD, 0);
    const known = this.o.checkpoints.get(file.id, file.head);
    file.offset = known ?? (fallback === 'end' ? st.size : 0);
    const tail = Math.min(TAIL, file.offset);
    if (tail > 0) file.tail = readAt(fd, tail, file.offset - tail);
    return file;
  }

  private drain() {
    const now = this.o.now();
    this.draining = this.draining.filter(({ file, until }) => {
      this.read(file);
      if (now < until) return true;
      fs.closeSync(file.fd);
      return false;
    });
  }

  private open() {
    const file = this.openFile(this.path, this.startAtEnd ? 'end' : 0);
    this.startAtEnd = false;
    if (!file) return;
    if (this.waiting) this.o.notice('info', `reading ${this.path}`);
    this.waiting = false;
    this.current = file;
  }

  private read(file: OpenFile) {
    const size = fs.fstatSync(file.fd).size;
    if (size < file.offset || !file.unchanged()) {
      this.o.notice('info', `${this.path} was truncated or rewritten; reading it from the start`);
      file.restart();
    }
    const buffer = this.o.buffer;
    for (;;) {
      const n = fs.readSync(file.fd, buffer, 0, buffer.length, file.offset);
      if (n <= 0) break;
      if (file.head.length < HEAD && file.offset < HEAD) file.head = readAt(file.fd, HEAD, 0);
      file.offset += n;
      file.tail =
        n >= TAIL ? buffer.slice(n - TAIL, n) : readAt(file.fd, Math.min(TAIL, file.offset), file.offset - Math.min(TAIL, file.offset));
      file.carry.push(buffer.subarray(0, n));
    }
    this.o.checkpoints.set(file.id, file.offset, file.head);
  }

  close() {
    for (const f of [this.current, ...this.draining.map((d) => d.file)]) if (f) fs.closeSync(f.fd);
    this.current = null;
    this.draining = [];
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

const isGlob = (p: string) => /[*?[{]/.test(p);

/**
 * The file server: owns the followers for the given paths and globs. A glob is expanded at every
 * poll, so a matching file created later is followed from its head; a file already followed under
 * another name (by identity) is not followed twice.
 */
export class FileServer {
  private readonly followers = new Map<string, FileFollower>();
  /** Followers found by a glob: dropped once their path is gone and nothing is left to read. */
  private readonly found = new Set<string>();
  private readonly checkpoints = new Checkpoints();
  private readonly globs: string[];
  private started = false;

  constructor(
    paths: string[],
    private readonly o: Omit<FollowOptions, 'checkpoints'>,
  ) {
    this.globs = paths.filter(isGlob);
    for (const p of paths.filter((p) => !isGlob(p))) this.add(p, true);
  }

  private add(p: string, startAtEnd: boolean) {
    this.followers.set(p, new FileFollower(p, { ...this.o, checkpoints: this.checkpoints }, startAtEnd));
  }

  poll() {
    for (const pattern of this.globs) {
      for (const p of expand(pattern)) {
        if (this.followers.has(p)) continue;
        const st = statOrNull(p);
        if (!st || !st.isFile()) continue;
        if (this.isOpen(identity(st))) continue;
        this.add(p, !this.started);
        this.found.add(p);
      }
    }
    this.started = true;
    for (const f of this.followers.values()) {
      try {
        if (this.found.has(f.path) && f.openCount() === 0 && !statOrNull(f.path)) {
          this.followers.delete(f.path);
          this.found.delete(f.path);
          continue;
        }
        f.poll();
      } catch (error) {
        this.o.notice('error', `${f.path}: ${reason(error)}`);
      }
    }
  }

  private isOpen(id: string): boolean {
    for (const f of this.followers.values()) if (f.ids().includes(id)) return true;
    return false;
  }

  openCount(): number {
    let n = 0;
    for (const f of this.followers.values()) n += f.openCount();
    return n;
  }

  close() {
    for (const f of this.followers.values()) f.close();
  }
}

/** Absolute paths matching a glob pattern (absolute or relative to the working directory). */
export function expand(pattern: string): string[] {
  const parts = pattern.split('/');
  const firstGlob = parts.findIndex(isGlob);
  const base = parts.slice(0, firstGlob).join('/') || (pattern.startsWith('/') ? '/' : '.');
  const rest = parts.slice(firstGlob).join('/');
  try {
    return [...new Bun.Glob(rest).scanSync({ cwd: base, absolute: true, onlyFiles: true })].sort();
  } catch {
    return [];
  }
}
