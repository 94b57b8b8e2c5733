/**
 * The inputs of a replay, read front to back: a log file, a compressed one (gzip, read through
 * zlib as it streams), or a pipe (`-`, `<(zcat …)`, a FIFO). Not an actor: the tailer pulls
 * chunks from these, always from the source furthest behind.
 */
import * as fs from 'node:fs';
import { firstSecond, firstSecondIn } from './replay-clock';
import { compression, isStream } from '../lib/input-paths';

/** Bytes read at a time, and the least a stream's chunks are gathered into. */
export const CHUNK = 1 << 20;
/** How far into a stream the first timestamp is looked for before the replay starts. */
const PEEK_LIMIT = 8 << 20;

export interface ReplaySource {
  /** The name the user gave (the parser's source key). */
  readonly name: string;
  /** Bytes on disk, for the progress line: 0 when unknown (a pipe, a compressed file). */
  readonly size: number;
  /** The next chunk of at most about `max` bytes (a view valid until the next call), or null at the end. */
  next(max?: number): Uint8Array | null | Promise<Uint8Array | null>;
  /** The first valid timestamp, Unix seconds, or null; reading ahead keeps what it read. */
  firstSecond(): number | null | Promise<number | null>;
  close(): void;
}

/** A plain file, read with positional reads into one reused buffer. */
export function fileSource(name: string, buffer = new Uint8Array(CHUNK)): ReplaySource {
  const fd = fs.openSync(name, 'r');
  const size = fs.fstatSync(fd).size;
  let offset = 0;
  return {
    name,
    size,
    next(max = buffer.length) {
      const n = fs.readSync(fd, buffer, 0, Math.min(max, buffer.length), offset);
      offset += Math.max(0, n);
      return n > 0 ? buffer.subarray(0, n) : null;
    },
    firstSecond: () => firstSecond([name]),
    close: () => fs.closeSync(fd),
  };
}

/** A stream of bytes, gathered into chunks of at least CHUNK bytes (or what is left at the end). */
export function streamSource(name: string, stream: AsyncIterable<Uint8Array>, size = 0): ReplaySource {
  const iterator = stream[Symbol.asyncIterator]();
  const ahead: Uint8Array[] = [];
  let ended = false;
  const pull = async (max = CHUNK): Promise<Uint8Array | null> => {
    const parts: Uint8Array[] = [];
    let length = 0;
    while (length < max && !ended) {
      const { value, done } = await iterator.next();
      if (done) ended = true;
      else if (value.length > 0) {
        parts.push(value);
        length += value.length;
      }
    }
    return length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  };
  return {
    name,
    size,
    next: (max) => (ahead.length > 0 ? ahead.shift()! : pull(max)),
    async firstSecond() {
      let looked = 0;
      while (looked < PEEK_LIMIT) {
        const chunk = await pull();
        if (!chunk) break;
        ahead.push(chunk);
        looked += chunk.length;
        const second = firstSecondIn(Buffer.concat(ahead));
        if (second !== null) return second;
      }
      return null;
    },
    close: () => {
      ended = true;
      void iterator.return?.();
    },
  };
}

/** Plain files, sharing one read buffer (a chunk is handed on before the next read). */
export function openFiles(names: string[]): ReplaySource[] {
  const buffer = new Uint8Array(CHUNK);
  return names.map((name) => fileSource(name, buffer));
}

/** Opens each input for a replay: `-` is standard input, a gzip file is inflated as it is read. */
export async function openReplay(names: string[]): Promise<ReplaySource[]> {
  const sources: ReplaySource[] = [];
  let buffer: Uint8Array<ArrayBuffer> | undefined;
  for (const name of names) {
    if (name === '-') {
      sources.push(streamSource(name, Bun.stdin.stream()));
      continue;
    }
    const st = fs.statSync(name);
    if (isStream(st)) {
      sources.push(streamSource(name, fs.createReadStream(name)));
      continue;
    }
    const head = new Uint8Array(4);
    const fd = fs.openSync(name, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    const kind = compression(head);
    if (kind === 'gzip') {
      // Loaded only for a gzip input: zlib costs start-up time that a plain replay does not need.
      const zlib = await import('node:zlib');
      sources.push(streamSource(name, fs.createReadStream(name).pipe(zlib.createGunzip()), 0));
    }
    else if (kind) throw new Error(`cannot read ${name}: it is compressed with ${kind}; only gzip is read directly (try: ${kind === 'zstd' ? 'zstdcat' : kind === 'xz' ? 'xzcat' : 'bzcat'} ${name} | … --replay -f -)`);
    else sources.push(fileSource(name, (buffer ??= new Uint8Array(CHUNK))));
  }
  return sources;
}

/** Where a replay's clock starts: the first valid timestamp of the first source that has one. */
export async function replayStart(sources: ReplaySource[]): Promise<number | null> {
  for (const s of sources) {
    const second = await s.firstSecond();
    if (second !== null) return second;
  }
  return null;
}
