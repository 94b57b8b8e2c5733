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
import { FileServer, type Notice, reason } from './file-follower';
import { ClfScanner } from './clf-scanner';
import { LineCarry, type Send } from './line-carry';
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
  /** How long a rotated or deleted file is still read, ms. */
  graceMs?: number;
}

/** RSS growth, bytes, that makes a replay collect its garbage. */
const GC_STEP = 4 << 20;

/** One file of a replay: where it is read up to, and the newest second it has shown. */
interface ReplaySource {
  path: string;
  fd: number;
  offset: number;
  carry: LineCarry;
  /** The timestamp of the last complete line read so far (-Infinity before any). */
  second: number;
  done: boolean;
}

/**
 * Reads files from head to end, chunk by chunk, yielding to the event loop between chunks.
 * Several files are read together: always the one whose last line is the oldest, so that the
 * parser, which merges their lines by second, never has to hold much of any of them.
 */
export async function replayFiles(
  paths: string[],
  send: (bytes: Uint8Array, source: string) => void,
  sourceEnded: (source: string) => void,
  stopped: () => boolean,
) {
  const buffer = new Uint8Array(CHUNK);
  const peek = new ClfScanner();
  const sources: ReplaySource[] = paths.map((path) => ({
    path,
    fd: fs.openSync(path, 'r'),
    offset: 0,
    carry: new LineCarry((bytes) => send(bytes, path)),
    second: -Infinity,
    done: false,
  }));
  let lowRss = process.memoryUsage.rss();
  let chunks = 0;
  try {
    for (;;) {
      // Never read inside the caller's turn: the pipeline runs synchronously from each read,
      // and the root must not be in the middle of starting when it does.
      await new Promise((resolve) => setImmediate(resolve));
      if (stopped()) return;
      let next: ReplaySource | undefined;
      for (const s of sources) if (!s.done && (!next || s.second < next.second)) next = s;
      if (!next) return;
      const n = fs.readSync(next.fd, buffer, 0, CHUNK, next.offset);
      if (n <= 0) {
        next.carry.flush();
        next.done = true;
        sourceEnded(next.path);
        continue;
      }
      next.offset += n;
      const chunk = buffer.subarray(0, n);
      if (sources.length > 1) next.second = Math.max(next.second, lastSecond(peek, chunk));
      next.carry.push(chunk);
      // JSC lets the garbage of parsed chunks (segments, packed keys) pile up: a full collection
      // whenever RSS has grown GC_STEP over its low point (looked at every 4 MiB) keeps a replay's
      // peak flat, whatever the file's size or cardinality, for a few collections a run.
      if (++chunks % 4 === 0) {
        const rss = process.memoryUsage.rss();
        if (rss > lowRss + GC_STEP) {
          Bun.gc(true);
          lowRss = process.memoryUsage.rss();
        } else if (rss < lowRss) lowRss = rss;
      }
    }
  } finally {
    for (const s of sources) fs.closeSync(s.fd);
  }
}

/** The timestamp of the last complete, valid line of a chunk (-Infinity if there is none). */
function lastSecond(scanner: ClfScanner, chunk: Uint8Array): number {
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
    const sendFrom = (bytes: Uint8Array, source: string) =>
      parser()?.send({ type: 'chunk', bytes, source } satisfies ChunkMessage);
    const ended = (source: string) => parser()?.send({ type: 'end', source } satisfies EndMessage);
    replayFiles(input.paths, sendFrom, ended, () => stopped).then(() => !stopped && end(), fail);
    return () => {
      stopped = true;
    };
  }

  const files = input.paths.filter((p) => p !== '-');
  if (files.length < input.paths.length) {
    setImmediate(() => readStdin(send, () => stopped).then(() => !stopped && end(), fail));
  }
  const server = new FileServer(files, {
    send,
    notice,
    buffer: new Uint8Array(CHUNK),
    graceMs: input.graceMs ?? 5000,
    now: Date.now,
  });
  const pollAll = () => server.poll();
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
    clearInterval(timer);
    if (soon) clearTimeout(soon);
    for (const w of watchers) w.close();
    server.close();
  };
});
