import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { openReplay, streamSource } from '../actors/replay-reader';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-reader-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 1) / 1000;
const line = (i: number) => `127.0.0.1 - - [01/Jan/2026:00:00:${String(i % 60).padStart(2, '0')} +0000] "GET /r/${i} HTTP/1.1" 200 1\n`;
const text = (n: number, junk = '') => junk + Array.from({ length: n }, (_, i) => line(i)).join('');

/** Everything a source yields, as text. */
async function drain(source: { next(max?: number): Uint8Array | null | Promise<Uint8Array | null> }, max?: number) {
  let out = '';
  for (;;) {
    const chunk = await source.next(max);
    if (!chunk) return out;
    out += Buffer.from(chunk).toString();
  }
}

describe('streamSource', () => {
  /** A reader that hands out at most `piece` bytes a call, as a pipe does. */
  const pieces = (bytes: Buffer, piece: number) => {
    let at = 0;
    return async (buffer: Uint8Array, offset: number, length: number) => {
      const n = Math.min(piece, length, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n), offset);
      at += n;
      return n;
    };
  };

  test('gathers small reads into chunks and loses nothing, whatever the chunk size asked for', async () => {
    const bytes = Buffer.from(text(5000));
    for (const max of [undefined, 1000, 70_000]) {
      expect(await drain(streamSource('s', pieces(bytes, 4096), () => {}), max)).toBe(bytes.toString());
    }
  });

  test('finds where the clock starts past junk, and still yields every byte read to find it', async () => {
    const bytes = Buffer.from(text(3000, 'junk\n'.repeat(50_000)));
    const source = streamSource('s', pieces(bytes, 65_536), () => {});
    expect(await source.firstSecond()).toBe(T0);
    expect(await drain(source)).toBe(bytes.toString());
  });
});

describe('openReplay', () => {
  test('a gzip file (found by its bytes, not its name) reads as the plain file', async () => {
    const plain = text(20_000);
    const gz = path.join(dir, 'looks-plain.log');
    fs.writeFileSync(gz, gzipSync(plain));
    const [source] = await openReplay([gz]);
    expect(source!.size).toBe(0); // no size to show progress against
    expect(await source!.firstSecond()).toBe(T0);
    expect(await drain(source!)).toBe(plain);
    source!.close();
  });

  test('a file compressed with something else is refused with a hint', async () => {
    const xz = path.join(dir, 'a.log.xz');
    fs.writeFileSync(xz, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]));
    expect(openReplay([xz])).rejects.toThrow(`cannot read ${xz}: it is compressed with xz; only gzip is read directly`);
  });
});
