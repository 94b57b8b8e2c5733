/**
 * The inputs of a replay, read front to back: a log file, a compressed one (gzip, read through
 * zlib as it streams), or a pipe (`-`, `<(zcat …)`, a FIFO). Not an actor: the tailer pulls
 * chunks from these, always from the source furthest behind.
 */
import * as fs from 'node:fs';
import { firstSecondIn, firstSecondOf } from './replay-clock';
import { compression, isStream } from '../lib/input-paths';
import type { LogFormat } from '../lib/log-format';
import { InputScanner } from './input-scanner';

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
  /** The first valid timestamp (in `format`, or the one its first lines are in), Unix seconds, or null; reading ahead keeps what it read. */
  firstSecond(format?: LogFormat): number | null | Promise<number | null>;
  close(): void;
}

/** A plain file, read with positional reads into one reused buffer. */
export function fileSource(name: string, buffer = new Uint8Array(CHUNK), open?: number): ReplaySource {
  const fd = open ?? fs.openSync(name, 'r');
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
    firstSecond: (format) => firstSecondOf(fd, new InputScanner(format, name)),
    close: () => open === undefined && fs.closeSync(fd),
  };
}

/** Reads up to `length` bytes into `buffer` at `offset`; 0 at the end. */
type Read = (buffer: Uint8Array, offset: number, length: number) => Promise<number>;

/**
 * A stream of bytes, gathered into chunks of about CHUNK bytes (or what is left at the end) in
 * one reused buffer: a replay of gigabytes makes no garbage per chunk.
 */
export function streamSource(name: string, read: Read, close: () => void, size = 0): ReplaySource {
  const buffer = new Uint8Array(CHUNK);
  const ahead: Uint8Array[] = [];
  let ended = false;
  const pull = async (max = CHUNK): Promise<Uint8Array | null> => {
    let length = 0;
    while (length < max && !ended) {
      const n = await read(buffer, length, Math.min(max, buffer.length) - length);
      if (n === 0) ended = true;
      length += n;
    }
    return length === 0 ? null : buffer.subarray(0, length);
  };
  return {
    name,
    size,
    next: (max) => (ahead.length > 0 ? ahead.shift()! : pull(max)),
    async firstSecond(format) {
      let looked = 0;
      while (looked < PEEK_LIMIT) {
        const chunk = await pull();
        if (!chunk) break;
        ahead.push(chunk.slice()); // kept past the next read
        looked += chunk.length;
        const second = firstSecondIn(ahead.length === 1 ? ahead[0]! : Buffer.concat(ahead), new InputScanner(format, name));
        if (second !== null) return second;
      }
      return null;
    },
    close: () => {
      ended = true;
      close();
    },
  };
}

/** Reads from a descriptor (a pipe, a FIFO, standard input) on the thread pool, never blocking the loop. */
function fdReader(fd: number): Read {
  const once = (buffer: Uint8Array, offset: number, length: number) =>
    new Promise<number>((resolve, reject) =>
      fs.read(fd, buffer, offset, length, null, (error, n) => (error ? reject(error) : resolve(n))),
    );
  return async (buffer, offset, length) => {
    for (;;) {
      try {
        return await once(buffer, offset, length);
      } catch (error) {
        // A non-blocking pipe with nothing in it yet.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
}

/** An async iterable of byte chunks (a decompressor) as a `Read`. */
function iterableReader(stream: AsyncIterable<Uint8Array>): Read {
  const iterator = stream[Symbol.asyncIterator]();
  let rest: Uint8Array = new Uint8Array(0);
  return async (buffer, offset, length) => {
    if (rest.length === 0) {
      const { value, done } = await iterator.next();
      if (done) return 0;
      rest = value;
    }
    const n = Math.min(length, rest.length);
    buffer.set(rest.subarray(0, n), offset);
    rest = rest.subarray(n);
    return n;
  };
}

/** A FIFO or pipe named by path: opened on the thread pool (it waits for a writer). */
async function openPipe(name: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(name, 'r', (error, fd) => (error ? reject(error) : resolve(fd))));
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
    if (name === '-' && !fs.fstatSync(0).isFile()) {
      sources.push(streamSource(name, fdReader(0), () => {}));
      continue;
    }
    const st = name === '-' ? fs.fstatSync(0) : fs.statSync(name);
    if (isStream(st)) {
      const fd = await openPipe(name);
      sources.push(streamSource(name, fdReader(fd), () => fs.closeSync(fd)));
      continue;
    }
    if (name === '-') {
      // Standard input redirected from a file (`< access.log`): read as the file it is.
      sources.push(fileSource(name, (buffer ??= new Uint8Array(CHUNK)), 0));
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
      const inflated = fs.createReadStream(name, { highWaterMark: 1 << 16 }).pipe(zlib.createGunzip({ chunkSize: 1 << 18 }));
      sources.push(streamSource(name, iterableReader(inflated), () => inflated.destroy()));
    }
    else if (kind) throw new Error(`cannot read ${name}: it is compressed with ${kind}; only gzip is read directly (try: ${kind === 'zstd' ? 'zstdcat' : kind === 'xz' ? 'xzcat' : 'bzcat'} ${name} | … --replay -f -)`);
    else sources.push(fileSource(name, (buffer ??= new Uint8Array(CHUNK))));
  }
  return sources;
}

/** Where a replay's clock starts: the first valid timestamp of the first source that has one. */
export async function replayStart(sources: ReplaySource[], format?: LogFormat): Promise<number | null> {
  for (const s of sources) {
    const second = await s.firstSecond(format);
    if (second !== null) return second;
  }
  return null;
}
