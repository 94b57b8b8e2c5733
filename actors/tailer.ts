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

/** Reads files from head to end, chunk by chunk, yielding to the event loop between chunks. */
export async function replayFiles(paths: string[], send: Send, stopped: () => boolean) {
  const buffer = new Uint8Array(CHUNK);
  for (const p of paths) {
    // Never read inside the caller's turn: the pipeline runs synchronously from each read,
    // and the root must not be in the middle of starting when it does.
    await new Promise((resolve) => setImmediate(resolve));
    const fd = fs.openSync(p, 'r');
    const carry = new LineCarry(send);
    let chunks = 0;
    try {
      let offset = 0;
      for (let n; (n = fs.readSync(fd, buffer, 0, CHUNK, offset)) > 0; offset += n) {
        carry.push(buffer.subarray(0, n));
        // A full collection every 128 MiB keeps the peak RSS of a long replay flat (JSC otherwise
        // lets the garbage of parsed chunks pile up); every 32 MiB cost 6 % of the time for 1 MB.
        if (++chunks % 128 === 0) Bun.gc(true);
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
