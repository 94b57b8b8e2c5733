import { afterEach, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileFollower, LineCarry } from '../actors/tailer';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tailer-'));
  dirs.push(d);
  return d;
}

/** A follower whose chunks and notices are collected as text. */
function follow(file: string, startAtEnd = true) {
  const chunks: string[] = [];
  const notices: string[] = [];
  const f = new FileFollower(
    file,
    new Uint8Array(64), // a tiny buffer, so that lines cross reads
    (bytes) => chunks.push(Buffer.from(bytes).toString()),
    (_level, message) => notices.push(message),
    startAtEnd,
  );
  const lines = () => chunks.join('').split('\n').filter(Boolean);
  return { f, chunks, notices, lines };
}

describe('LineCarry', () => {
  test('holds a partial line until its newline arrives, then sends it once', () => {
    const sent: string[] = [];
    const carry = new LineCarry((b) => sent.push(Buffer.from(b).toString()));
    carry.push(Buffer.from('a\nb'));
    carry.push(Buffer.from('c'));
    expect(sent).toEqual(['a\n']);
    carry.push(Buffer.from('d\ne\n'));
    expect(sent).toEqual(['a\n', 'bcd\ne\n']);
  });

  test('a line never completed is not sent unless the source ends for good', () => {
    const sent: string[] = [];
    const carry = new LineCarry((b) => sent.push(Buffer.from(b).toString()));
    carry.push(Buffer.from('partial'));
    carry.drop();
    carry.push(Buffer.from('x\n'));
    expect(sent).toEqual(['x\n']);
    carry.push(Buffer.from('last'));
    carry.flush();
    expect(sent).toEqual(['x\n', 'last']);
  });

  test('a multi-byte character split across two reads arrives whole', () => {
    const sent: Uint8Array[] = [];
    const carry = new LineCarry((b) => sent.push(b));
    const bytes = Buffer.from('/café\n');
    carry.push(bytes.subarray(0, 4));
    carry.push(bytes.subarray(4));
    expect(Buffer.concat(sent).toString()).toBe('/café\n');
  });
});

describe('FileFollower', () => {
  test('starts at the end of an existing file and reads only what is appended', () => {
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, 'old 1\nold 2\n');
    const t = follow(file);
    t.f.poll();
    expect(t.lines()).toEqual([]);
    fs.appendFileSync(file, 'new 1\nnew 2\n');
    t.f.poll();
    expect(t.lines()).toEqual(['new 1', 'new 2']);
    t.f.close();
  });

  test('waits for a missing file, says so once, and reads it from its head when it appears', () => {
    const file = path.join(tmp(), 'later.log');
    const t = follow(file);
    t.f.poll();
    t.f.poll();
    expect(t.notices).toEqual([`waiting for ${file} to appear`]);
    fs.writeFileSync(file, 'first\nsecond\n');
    t.f.poll();
    expect(t.lines()).toEqual(['first', 'second']);
    t.f.close();
  });

  test('a truncated file (copytruncate) is read again from the start', () => {
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    fs.appendFileSync(file, 'one long line before truncation\n');
    t.f.poll();
    fs.truncateSync(file, 0);
    fs.appendFileSync(file, 'after\n');
    t.f.poll();
    expect(t.lines()).toEqual(['one long line before truncation', 'after']);
    expect(t.notices.some((n) => n.includes('truncated'))).toBe(true);
    t.f.close();
  });

  test('rename and create: the old file is drained, the new one read from its head', () => {
    const dir = tmp();
    const file = path.join(dir, 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    fs.appendFileSync(file, 'before rotation\n');
    fs.renameSync(file, path.join(dir, 'a.log.1'));
    fs.appendFileSync(path.join(dir, 'a.log.1'), 'late write to the old file\n');
    fs.writeFileSync(file, 'in the new file\n');
    t.f.poll();
    t.f.poll();
    expect(t.lines()).toEqual(['before rotation', 'late write to the old file', 'in the new file']);
    t.f.close();
  });

  test('delete then recreate at the same path is followed', () => {
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    fs.appendFileSync(file, 'x\n');
    fs.rmSync(file);
    t.f.poll();
    fs.writeFileSync(file, 'recreated and longer than before\n');
    t.f.poll();
    expect(t.lines()).toEqual(['x', 'recreated and longer than before']);
    t.f.close();
  });

  test('an unfinished last line is held until its newline is written', () => {
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    fs.appendFileSync(file, 'complete\nhalf');
    t.f.poll();
    expect(t.lines()).toEqual(['complete']);
    fs.appendFileSync(file, ' done\n');
    t.f.poll();
    expect(t.lines()).toEqual(['complete', 'half done']);
    t.f.close();
  });
});

describe('FileFollower, unreadable files', () => {
  test('a file it may not read is reported once, not at every poll', () => {
    if (process.getuid?.() === 0) {
      // root reads anything; a directory at the path is unreadable as a log for everyone
      const dir = tmp();
      const file = path.join(dir, 'a.log');
      fs.mkdirSync(file);
      const t = follow(file);
      t.f.poll();
      t.f.poll();
      t.f.poll();
      expect(t.notices.filter((n) => n.startsWith('cannot read')).length).toBe(1);
      return;
    }
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, 'x\n', { mode: 0o000 });
    const t = follow(file);
    t.f.poll();
    t.f.poll();
    expect(t.notices.filter((n) => n.startsWith('cannot read')).length).toBe(1);
  });
});
