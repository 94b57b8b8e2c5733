/**
 * The file lifecycle, for the tailer: which file is open at a followed path, how far it has been
 * read, and what happens when it is rotated, truncated, deleted or replaced.
 *
 * - Identity is device and inode, confirmed by a fingerprint of the file's first bytes, so a
 *   file seen under another name (a rotated `a.log.1` matching a glob) goes on from where it was.
 *   One file under two names (`a.log` and `./a.log`, a symlink and its target) is read once.
 * - Files at the path when following starts are history: read from their end, also when the
 *   first open fails (permission denied, too many open files) and succeeds later.
 * - A renamed or deleted file is read through its open descriptor for a grace period, so lines a
 *   writer still appends to it are not lost; then it is closed.
 * - Files created at the path and rotated away between two looks (fast rotation) are found among
 *   the path's siblings (`a.log.1`, `a.log-20260101`, not compressed ones). Only a file this run
 *   has read before (it has a checkpoint) or one born since the last look, and after every file
 *   seen at the path, is taken: never yesterday's `.1` shifted to `.2`, never a stranger such as
 *   `a.log_api` that merely looks like a rotated name.
 * - Truncation is a size below the offset, or (truncated and rewritten past the offset before the
 *   next look) bytes before the offset that are not the ones read there.
 * - A poll reads at most `budget` bytes of a file, so that a huge backlog or a sparse hole of
 *   gigabytes never keeps timers and signals waiting; the tailer polls again at once.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { LineCarry, type Send } from './line-carry';
import type { FileMark } from '../lib/wire';
import {
  absolute,
  COMPRESSED_NAME,
  compression,
  expand,
  identity,
  isPattern,
  look,
  reason,
  statOrNull,
} from '../lib/input-paths';


export type Notice = (level: 'info' | 'warn' | 'error', message: string) => void;

const HEAD = 64;
const TAIL = 64;
/** File times come from the kernel's coarse clock, a tick (up to 10 ms) behind Date.now(). */
export const CLOCK_SLACK = 20;
/** Bytes a poll reads of one file at most. */
const BUDGET = 32 << 20;

/** When the file was created, ms; 0 where the file system does not say. */
const birth = (st: fs.Stats) => st.birthtimeMs || 0;

/** Where each file (by identity) has been read up to; the checkpointer of the file server. */
export class Checkpoints {
  private readonly offsets = new Map<string, { offset: number; head: Uint8Array }>();

  constructor(private readonly limit = 4096) {}

  /** Where the file was read up to, if it is the one read before: its head holds the recorded one. */
  get(id: string, head: Uint8Array): number | undefined {
    const seen = this.offsets.get(id);
    // A head shorter than the one recorded is another file under a reused inode, or a rewrite;
    // nothing read (offset 0) tells nothing either.
    return seen && seen.offset > 0 && head.length >= seen.head.length && sameBytes(seen.head, head) ? seen.offset : undefined;
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

/** The content a file had been read through when it was truncated. */
interface Generation {
  head: Uint8Array;
  tail: Uint8Array;
  offset: number;
  /** When the truncation was seen (wall clock). */
  at: number;
}

/** How long a truncated file's copy is looked for, ms. */
const COPY_WAIT = 60_000;

/** Whether the file holds what was read of `g`: its first bytes and the ones before g.offset. */
function holds(fd: number, size: number, g: Pick<Generation, 'head' | 'tail' | 'offset'>): boolean {
  // Only what was really read is a fingerprint: its first bytes and the ones before the offset.
  const span = Math.min(HEAD, g.offset);
  if (g.offset === 0 || size < g.offset || g.head.length < span || g.tail.length < Math.min(TAIL, g.offset)) return false;
  return bytesEqual(readAt(fd, span, 0), g.head.subarray(0, span)) && bytesEqual(readAt(fd, g.tail.length, g.offset - g.tail.length), g.tail);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sameBytes(a, b);
}

/** One open file: a descriptor, its identity, and how far it has been read. */
class OpenFile {
  offset = 0;
  head: Uint8Array = new Uint8Array(0);
  /** The bytes just before `offset`, as read. */
  tail: Uint8Array = new Uint8Array(0);
  /** Bytes left to read when the last poll's budget ran out. */
  more = false;
  readonly carry: LineCarry;

  constructor(
    readonly fd: number,
    readonly id: string,
    send: Send,
  ) {
    this.carry = new LineCarry(send, true);
  }

  /** Whether the bytes before the offset are still the ones that were read there. */
  unchanged(): boolean {
    if (this.tail.length === 0) return true;
    return sameBytes(readAt(this.fd, this.tail.length, this.offset - this.tail.length), this.tail);
  }

  /** What was read before a truncation: a copy of it (copytruncate) goes on from `offset`. */
  generation(): Generation {
    return { head: this.head, tail: this.tail, offset: this.offset, at: Date.now() };
  }

  restart() {
    this.offset = 0;
    this.tail = new Uint8Array(0);
    this.head = new Uint8Array(0);
    this.carry.drop();
  }
}

export interface FollowOptions {
  /** Complete lines of the file at `source` (the path followed: each path is read in its own format). */
  send: (bytes: Uint8Array, source: string) => void;
  notice: Notice;
  checkpoints: Checkpoints;
  buffer: Uint8Array;
  /** How long a rotated or deleted file is still read, ms. */
  graceMs: number;
  now: () => number;
  /** Whether another follower holds this file (one file under two names is read once). */
  claimed?: (id: string) => boolean;
  /** Bytes one poll reads of a file at most. */
  budget?: number;
}

/** One followed path. */
export class FileFollower {
  private current: OpenFile | null = null;
  private draining: { file: OpenFile; until: number }[] = [];
  private waiting = false;
  private failure = '';
  /** Wall-clock time of the last look, for the rotation sweep (file times are wall-clock). */
  private lastLook = Date.now();
  private looked = false;
  /** The identity at the path at the last look (null: nothing there). */
  private seen: string | null = null;
  /** The birth time of the newest file seen at the path. */
  private newestBirth = -Infinity;
  /** The file at the path when following started (read from its end whenever it opens). */
  private history: string | null = null;
  /** The path could not be looked at when following started: files born before are history. */
  private historyBefore = -Infinity;
  /** A file at the path that is not followed (compressed, not a regular file): said once. */
  private refused = '';
  /** Files seen at the path but gone from it before they could be opened: owed from their head. */
  private owed: string[] = [];
  /** Truncated files whose copy (copytruncate's `.1`) has not been found yet. */
  private truncations: Generation[] = [];
  /** Wall-clock time following started: copies of truncated files are younger. */
  private readonly since = Date.now();

  constructor(
    readonly path: string,
    private readonly o: FollowOptions,
    /** Files at the path now are history (follow from their end); one that appears later starts at 0. */
    private readonly startAtEnd: boolean,
  ) {}

  /** Identities of the files open for this path (current and draining). */
  ids(): string[] {
    return [...(this.current ? [this.current.id] : []), ...this.draining.map((d) => d.file.id)];
  }

  openCount(): number {
    return this.ids().length;
  }

  /** Where each open file has been counted up to: the offset after its last complete line sent. */
  marks(): FileMark[] {
    const files = [...(this.current ? [this.current] : []), ...this.draining.map((d) => d.file)];
    return files.map((f) => ({ path: this.path, id: f.id, offset: f.offset - f.carry.held(), head: f.head }));
  }

  /** Files to look for among the path's siblings at the first look (an agent's restart): owed. */
  resume(ids: string[]) {
    this.owed = [...ids];
  }

  /** Whether the last poll stopped with bytes left to read (its budget ran out). */
  behind(): boolean {
    return (this.current?.more ?? false) || this.draining.some((d) => d.file.more);
  }

  /** Reads whatever is new; handles truncation, replacement, rotation and deletion. */
  poll() {
    const now = Date.now();
    this.drain();
    const st = this.lookAtPath();
    const id = st ? identity(st) : null;
    if (!this.looked && this.startAtEnd) {
      if (st) this.history = id;
      else if (this.failure) this.historyBefore = now;
    }
    const file = this.current;
    if (file) {
      this.read(file);
      if (id !== file.id) {
        this.draining.push({ file, until: this.o.now() + this.o.graceMs });
        this.current = null;
      }
    }
    // The path changed since the last look, or is empty after holding a file: files may have
    // come and gone in between. A truncation: its copy may be among the siblings.
    const truncated = this.truncations.length > 0;
    const resuming = !this.looked && this.owed.length > 0;
    if (resuming || (this.looked && (id !== this.seen || (id === null && this.newestBirth > -Infinity) || truncated))) this.sweep();
    if (st) this.newestBirth = Math.max(this.newestBirth, birth(st));
    this.seen = id;
    this.looked = true;
    this.lastLook = now;
    if (this.current || !st || !id) return;
    if (st.isDirectory()) {
      this.fail(`cannot read ${this.path}: it is a directory`);
      return;
    }
    if (!st.isFile()) {
      this.refuse(id, `cannot follow ${this.path}: not a regular file`);
      return;
    }
    if (id === this.refused) return;
    if (this.draining.some((d) => d.file.id === id) || this.o.claimed?.(id)) return;
    const fromEnd = id === this.history || birth(st) < this.historyBefore - CLOCK_SLACK;
    const opened = this.openFile(this.path, fromEnd ? 'end' : 0);
    // Rotated between the look and the open (the path empty for a moment, or another file there):
    // the file looked at is owed, and the next sweep finds it.
    if (opened?.id !== id && !fromEnd) this.owed = [...this.owed.slice(-15), id];
    if (!opened) return;
    if (this.waiting) this.o.notice('info', `reading ${this.path}`);
    this.waiting = false;
    this.current = opened;
    this.read(opened);
  }

  /** The path's stats, or null when there is nothing to read there (said once). */
  private lookAtPath(): fs.Stats | null {
    const st = look(this.path);
    if (st instanceof fs.Stats) return st;
    if (st === null) {
      if (!this.waiting && !this.failure) this.o.notice('info', `waiting for ${this.path} to appear`);
      this.waiting = true;
      this.failure = '';
      return null;
    }
    this.fail(`cannot read ${this.path}: ${st.error}`);
    return null;
  }

  private fail(failure: string) {
    if (failure !== this.failure) this.o.notice('error', failure);
    this.failure = failure;
  }

  private refuse(id: string, why: string) {
    if (id !== this.refused) this.o.notice('warn', why);
    this.refused = id;
  }

  /**
   * Takes the siblings owed lines: files this run has read before (from their checkpoint); the
   * copy of a file truncated since (from where that file had been read: copytruncate's lines
   * written after the last read are in it); and files born since the last look after every
   * file seen at the path, which can only have been created there and rotated away in between
   * (from their head). Not a copy of a file still being read: its lines are read there.
   */
  private sweep() {
    const dir = nodePath.dirname(this.path);
    const base = nodePath.basename(this.path);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    const now = Date.now();
    this.truncations = this.truncations.filter((g) => now - g.at < COPY_WAIT);
    const bornAfter = Math.max(this.newestBirth, this.lastLook - CLOCK_SLACK);
    for (const name of names) {
      if (name.length <= base.length || !name.startsWith(base) || !'.-_'.includes(name[base.length]!)) continue;
      if (COMPRESSED_NAME.test(name)) continue;
      const sibling = nodePath.join(dir, name);
      const st = statOrNull(sibling);
      if (!st?.isFile()) continue;
      const born = birth(st);
      const fresh = st.ctimeMs >= this.lastLook - CLOCK_SLACK;
      const id = identity(st);
      if (!fresh && !(this.truncations.length > 0 && born >= this.since - CLOCK_SLACK) && !this.owed.includes(id)) continue;
      if (this.ids().includes(id) || this.o.claimed?.(id)) continue;
      let copy = false;
      const file = this.openFile(sibling, null, (fd, size) => {
        if (this.owed.includes(id)) return 0;
        const copied = this.truncations.findIndex((g) => holds(fd, size, g));
        copy = copied !== -1;
        if (copy) return this.truncations.splice(copied, 1)[0]!.offset;
        if (!fresh || born <= 0 || born < bornAfter) return null;
        const live = [this.current, ...this.draining.map((d) => d.file)];
        return live.some((f) => f && holds(fd, size, f)) ? null : 0;
      });
      if (!file) continue;
      this.owed = this.owed.filter((o) => o !== id);
      this.read(file);
      // A copy is read to its end once: nobody writes to it, and it was never at the path.
      if (copy && !file.more) fs.closeSync(file.fd);
      else this.draining.push({ file, until: this.o.now() + this.o.graceMs });
    }
  }

  /**
   * Opens a file, going on from its checkpoint if it was read before, else from `fallback`
   * (null: only a file read before is opened, or where `from` says, given its descriptor).
   */
  private openFile(
    p: string,
    fallback: 'end' | 0 | null,
    from?: (fd: number, size: number) => number | null,
  ): OpenFile | null {
    let fd: number;
    try {
      // Non-blocking: a FIFO put at the path must not freeze the event loop in open().
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (error) {
      // Gone since it was looked at (rotated): no failure, the next look sees what is there.
      const gone = (error as NodeJS.ErrnoException).code === 'ENOENT';
      if (fallback !== null && !gone) this.fail(`cannot read ${p}: ${reason(error)}`);
      return null;
    }
    const st = fs.fstatSync(fd);
    const file = new OpenFile(fd, identity(st), (bytes) => this.o.send(bytes, this.path));
    file.head = readAt(fd, HEAD, 0);
    const known = st.isFile() ? (this.o.checkpoints.get(file.id, file.head) ?? from?.(fd, st.size) ?? undefined) : undefined;
    const kind = compression(file.head);
    if (known === undefined && (fallback === null || kind || !st.isFile())) {
      fs.closeSync(fd);
      if (fallback !== null && kind) this.refuse(file.id, `skipping ${p}: it is compressed (${kind}); --replay reads it`);
      return null;
    }
    if (fallback !== null) this.failure = '';
    file.offset = known ?? (fallback === 'end' ? st.size : 0);
    const tail = Math.min(TAIL, file.offset);
    if (tail > 0) file.tail = readAt(fd, tail, file.offset - tail);
    return file;
  }

  /** Reads the draining files; closes those whose grace is over and that are read to the end. */
  private drain() {
    const now = this.o.now();
    this.draining = this.draining.filter(({ file, until }) => {
      this.read(file);
      if (now < until || file.more) return true;
      fs.closeSync(file.fd);
      return false;
    });
  }

  private read(file: OpenFile) {
    const size = fs.fstatSync(file.fd).size;
    if (size < file.offset || !file.unchanged()) {
      this.o.notice('info', `${this.path} was truncated or rewritten; reading it from the start`);
      if (file.offset > 0) this.truncations = [...this.truncations.slice(-3), file.generation()];
      file.restart();
    }
    const buffer = this.o.buffer;
    let budget = this.o.budget ?? BUDGET;
    file.more = false;
    for (;;) {
      if (budget <= 0) {
        file.more = file.offset < fs.fstatSync(file.fd).size;
        break;
      }
      const n = fs.readSync(file.fd, buffer, 0, Math.min(buffer.length, budget), file.offset);
      if (n <= 0) break;
      budget -= n;
      if (file.head.length < HEAD && file.offset < HEAD) file.head = readAt(file.fd, HEAD, 0);
      const kind = file.offset === 0 ? compression(file.head) : null;
      if (kind) {
        // Compressed after it was opened (a compressor writing at the path): not text.
        this.refuse(file.id, `skipping ${this.path}: it is compressed (${kind}); --replay reads it`);
        file.offset = fs.fstatSync(file.fd).size;
        break;
      }
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

/**
 * The file server: owns the followers for the given paths and patterns. A pattern is expanded
 * at every poll, so a matching file created later is followed from its head; a file already
 * followed under another name (by identity) is not followed twice.
 */
export class FileServer {
  private readonly followers = new Map<string, FileFollower>();
  /** Followers found by a pattern: dropped once their path is gone and nothing is left to read. */
  private readonly found = new Set<string>();
  private readonly checkpoints = new Checkpoints();
  private readonly patterns: string[];
  /** Patterns that matched nothing at their last expansion and have said so. */
  private readonly unmatched = new Set<string>();
  private lastExpand = -Infinity;

  constructor(
    paths: string[],
    private readonly o: Omit<FollowOptions, 'checkpoints' | 'claimed'>,
    /** Checkpoints of an earlier run (an agent's restart): those files go on from there. */
    resume: FileMark[] = [],
  ) {
    for (const m of resume) this.checkpoints.set(m.id, m.offset, m.head);
    this.patterns = [...new Set(paths.filter(isPattern))];
    const marked = (p: string) => resume.filter((m) => absolute(m.path) === absolute(p)).map((m) => m.id);
    // A path with marks goes on from them, and what is there besides was written since: from its head.
    for (const p of paths) if (!isPattern(p) && !this.followers.has(absolute(p))) this.add(p, marked(p).length === 0);
    for (const f of this.followers.values()) f.resume(marked(f.path));
  }

  /** Where every open file has been counted up to (an agent's checkpoint). */
  marks(): FileMark[] {
    return [...this.followers.values()].flatMap((f) => f.marks());
  }

  private add(p: string, startAtEnd: boolean) {
    const follower = new FileFollower(
      p,
      {
        ...this.o,
        checkpoints: this.checkpoints,
        claimed: (id) => {
          const holder = this.holder(id);
          return holder !== null && holder !== follower;
        },
      },
      startAtEnd,
    );
    this.followers.set(absolute(p), follower);
  }

  /** Polls every path; true when a file still has bytes to read (poll again soon). */
  poll(): boolean {
    this.expandPatterns();
    let behind = false;
    for (const [key, f] of this.followers) {
      try {
        if (this.found.has(key) && f.openCount() === 0 && !statOrNull(f.path)) {
          this.followers.delete(key);
          this.found.delete(key);
          continue;
        }
        f.poll();
        behind ||= f.behind();
      } catch (error) {
        this.o.notice('error', `${f.path}: ${reason(error)}`);
      }
    }
    return behind;
  }

  private expandPatterns() {
    const now = Date.now();
    for (const pattern of this.patterns) {
      const matches = expand(pattern).filter((p) => !COMPRESSED_NAME.test(p));
      if (matches.length === 0 && ![...this.found].some((p) => this.followers.get(p)?.openCount())) {
        if (!this.unmatched.has(pattern)) this.o.notice('info', `waiting for files matching ${pattern} to appear`);
        this.unmatched.add(pattern);
      } else this.unmatched.delete(pattern);
      for (const p of matches) {
        if (this.followers.has(p)) continue;
        const st = statOrNull(p);
        if (!st?.isFile() || this.holder(identity(st))) continue;
        // A match that existed before the last expansion is history, also one renamed into the pattern.
        this.add(p, birth(st) < this.lastExpand - CLOCK_SLACK || this.lastExpand === -Infinity);
        this.found.add(p);
      }
    }
    this.lastExpand = now;
  }

  /** The follower that holds a file open, if any. */
  private holder(id: string): FileFollower | null {
    for (const f of this.followers.values()) if (f.ids().includes(id)) return f;
    return null;
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
