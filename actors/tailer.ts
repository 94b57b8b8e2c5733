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
import { FileServer, type Notice } from './file-follower';
import type { LogFormat } from '../lib/log-format';
import { InputScanner, type Scanner } from './input-scanner';
import { isStream, reason, statOrNull } from '../lib/input-paths';
import { CHUNK, openFiles, type ReplaySource } from './replay-reader';
import { LineCarry, type Send } from './line-carry';
import type { ChunkMessage, EndMessage, MarksMessage, ReporterMessage } from './messages';
import type { FileMark } from '../lib/wire';

export interface TailerInput {
  paths: string[];
  mode: 'follow' | 'replay';
  /** systemId of the parser. */
  to: string;
  pollMs: number;
  /** Use fs.watch as a hint (off: polling alone). */
  watch: boolean;
  /** How long a rotated or deleted file is still read, ms. */
  graceMs?: number;
  /** A replay's inputs, opened (default: the paths, as plain files). */
  sources?: ReplaySource[];
  /** `--log-format`'s (absent: each input's first lines decide): a replay peeks at its inputs' timestamps. */
  format?: LogFormat;
  /** A replay waits for this before each chunk while its output is behind (back-pressure). */
  outputBehind?: () => Promise<void> | null;
  /** An agent: systemId told the files' marks after each poll (its checkpoint). */
  marksTo?: string;
  /** An agent: where an earlier run stopped (from the stream). */
  resume?: FileMark[];
  /** An agent: no reading while this says so (its messages cannot be published). */
  paused?: () => boolean;
  /**
   * An agent: polls land on the wall-clock instants ≡ this (mod pollMs), ms, so that one of them
   * comes just as a second's lines are all written (its grace after the second's end).
   */
  pollPhaseMs?: number;
}

/** A chunk whose lines took longer than this (ms) makes the next read half as long. */
const SLOW_CHUNK_MS = 100;
const MIN_CHUNK = 16 << 10;

/** RSS growth, bytes, that makes a replay collect its garbage. */
const GC_STEP = 4 << 20;
/** Pipeline time, ms, after which RSS is looked at even before the fourth chunk (sparse logs). */
const GC_CHECK_MS = 25;

/** One input of a replay, and the newest second it has shown. */
interface Replaying {
  source: ReplaySource;
  /** Reads the timestamps of its last lines, in its format. */
  peek: Scanner;
  carry: LineCarry;
  /** The timestamp of the last complete line read so far (-Infinity before any). */
  second: number;
  done: boolean;
}

/**
 * Reads the sources from head to end, chunk by chunk, yielding to the event loop between chunks.
 * Several are read together: always the one whose last line is the oldest, so that the parser,
 * which merges their lines by second, never has to hold much of any of them.
 */
export async function replayFiles(
  sources: ReplaySource[],
  send: (bytes: Uint8Array, source: string) => void,
  sourceEnded: (source: string) => void,
  stopped: () => boolean,
  /** Back-pressure: a promise to wait for before the next chunk, while output is behind. */
  outputBehind: () => Promise<void> | null = () => null,
  format?: LogFormat,
) {
  const inputs: Replaying[] = sources.map((source) => ({
    source,
    peek: new InputScanner(format, source.name),
    carry: new LineCarry((bytes) => send(bytes, source.name)),
    second: -Infinity,
    done: false,
  }));
  let lowRss = process.memoryUsage.rss();
  let chunks = 0;
  let busy = 0;
  // Small at first, doubling while quick: a first 1 MiB of a log with a line a second would be
  // 10,000 seconds of stepping in one synchronous run.
  let want = MIN_CHUNK;
  try {
    for (;;) {
      // Never read inside the caller's turn: the pipeline runs synchronously from each read,
      // and the root must not be in the middle of starting when it does.
      await new Promise((resolve) => setImmediate(resolve));
      await outputBehind();
      if (stopped()) return;
      let next: Replaying | undefined;
      for (const s of inputs) if (!s.done && (!next || s.second < next.second)) next = s;
      if (!next) return;
      const read = next.source.next(want);
      const chunk = read instanceof Promise ? await read : read;
      if (stopped()) return;
      if (!chunk) {
        next.carry.flush();
        next.done = true;
        sourceEnded(next.source.name);
        continue;
      }
      if (inputs.length > 1) next.second = Math.max(next.second, lastSecond(next.peek, chunk));
      const started = performance.now();
      next.carry.push(chunk);
      // The pipeline runs synchronously on a chunk; a sparse log with a short interval can make
      // that long, and a signal waits for it: smaller reads then, back to full size when quick.
      const took = performance.now() - started;
      if (took > SLOW_CHUNK_MS) want = Math.max(MIN_CHUNK, want >> 1);
      else if (took < SLOW_CHUNK_MS / 4) want = Math.min(CHUNK, want << 1);
      // JSC lets the garbage of parsed chunks (segments, packed keys) pile up: a full collection
      // whenever RSS has grown GC_STEP over its low point (looked at every fourth chunk, and after
      // every GC_CHECK_MS of pipeline work: a chunk of a sparse log is many seconds of statechart
      // stepping) keeps a replay's peak flat, whatever the file's size, cardinality or density.
      busy += took;
      if (++chunks % 4 === 0 || busy > GC_CHECK_MS) {
        busy = 0;
        const rss = process.memoryUsage.rss();
        if (rss > lowRss + GC_STEP) {
          Bun.gc(true);
          lowRss = process.memoryUsage.rss();
        } else if (rss < lowRss) lowRss = rss;
      }
    }
  } finally {
    for (const s of inputs) s.source.close();
  }
}

/** The timestamp of the last complete, valid line of a chunk (-Infinity if there is none). */
function lastSecond(scanner: Scanner, chunk: Uint8Array): number {
  let end = chunk.lastIndexOf(10);
  while (end > 0) {
    const start = chunk.lastIndexOf(10, end - 1) + 1;
    const segment = scanner.scan(chunk.subarray(start, end)).segments[0];
    if (segment && segment.hits > 0) return segment.second;
    end = start - 1;
    if (chunk.length - end > 1 << 16) break; // only look at the last few lines
  }
  return -Infinity;
}

/** Reads a stream (standard input, a FIFO, a pipe) to its end, in whatever pieces it comes in. */
async function readStream(stream: AsyncIterable<Uint8Array>, send: Send, stopped: () => boolean) {
  const carry = new LineCarry(send);
  for await (const chunk of stream) {
    carry.push(chunk);
    if (stopped()) return;
  }
  carry.flush();
}

/** A followed input that is a stream: `-`, or a FIFO, pipe or device named by path. */
function streamOf(p: string): AsyncIterable<Uint8Array> | null {
  if (p === '-') return Bun.stdin.stream();
  const st = statOrNull(p);
  // Opened by a worker thread: opening a FIFO waits for a writer, and must not freeze the loop.
  return st && isStream(st) ? fs.createReadStream(p) : null;
}

export const tailer = fromCallback<{ type: 'poll' }, TailerInput>(({ input, system, receive }) => {
  let stopped = false;
  const parser = () => system.get(input.to);
  // Each input is its own source: its own scanner, in its own format.
  const send = (bytes: Uint8Array, source: string) => parser()?.send({ type: 'chunk', bytes, source } satisfies ChunkMessage);
  const notice: Notice = (level, message) =>
    system.get('reporter')?.send({ type: 'notice', level, message } satisfies ReporterMessage);
  const end = () => parser()?.send({ type: 'end' } satisfies EndMessage);
  const fail = (error: unknown) => notice('error', reason(error));

  if (input.mode === 'replay') {
    const sendFrom = (bytes: Uint8Array, source: string) =>
      parser()?.send({ type: 'chunk', bytes, source } satisfies ChunkMessage);
    const ended = (source: string) => parser()?.send({ type: 'end', source } satisfies EndMessage);
    const sources = input.sources ?? openFiles(input.paths);
    replayFiles(sources, sendFrom, ended, () => stopped, input.outputBehind, input.format).then(() => !stopped && end(), fail);
    return () => {
      stopped = true;
    };
  }

  // Streams are read as they come; the run ends with them only when there is nothing else to follow.
  const streams = new Map(input.paths.map((p) => [p, streamOf(p)] as const));
  const files = input.paths.filter((p) => !streams.get(p));
  let open = 0;
  for (const [p, stream] of streams) {
    if (!stream) continue;
    open++;
    setImmediate(() =>
      readStream(stream, (bytes) => send(bytes, p), () => stopped)
        .catch((error) => notice('error', `cannot read ${p}: ${reason(error)}`))
        .then(() => !stopped && --open === 0 && files.length === 0 && end()),
    );
  }
  const server = new FileServer(
    files,
    {
      send,
      notice,
      buffer: new Uint8Array(CHUNK),
      graceMs: input.graceMs ?? 5000,
      now: Date.now,
    },
    input.resume,
  );
  let again: ReturnType<typeof setImmediate> | null = null;
  const pollAll = () => {
    if (stopped || input.paused?.()) return;
    const at = Date.now();
    // A file with more to read than one poll's budget is read on at once, after timers and signals.
    const behind = server.poll();
    if (input.marksTo) system.get(input.marksTo)?.send({ type: 'marks', files: server.marks(), at, complete: !behind } satisfies MarksMessage);
    if (behind) again ??= setImmediate(() => {
      again = null;
      pollAll();
    });
  };
  const first = setImmediate(pollAll);
  let timer: ReturnType<typeof setTimeout>;
  const phase = input.pollPhaseMs;
  if (phase === undefined) timer = setInterval(pollAll, input.pollMs);
  else {
    const every = input.pollMs;
    const next = () => {
      // 2 ms past the instant: a timer may fire in the millisecond before.
      const wait = (((phase + 2 - Date.now()) % every) + every) % every;
      timer = setTimeout(() => {
        pollAll();
        next();
      }, wait || every);
    };
    next();
  }
  let soon: ReturnType<typeof setTimeout> | null = null;
  const hint = () => {
    soon ??= setTimeout(() => {
      soon = null;
      pollAll();
    }, 5);
  };
  const watchers: fs.FSWatcher[] = [];
  if (input.watch) {
    // The directory of each path (of a glob: the part before its first wildcard).
    const dirs = files.map((p) => path.dirname(path.resolve(p.split(/[*?[{]/)[0]! + 'x')));
    for (const dir of new Set(dirs)) {
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
    if (again) clearImmediate(again);
    clearTimeout(timer);
    if (soon) clearTimeout(soon);
    for (const w of watchers) w.close();
    server.close();
  };
});
