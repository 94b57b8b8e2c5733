import { afterEach, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoints, FileFollower, FileServer } from '../actors/file-follower';

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
  const clock = { now: 0 };
  const f = new FileFollower(
    file,
    {
      buffer: new Uint8Array(64), // a tiny buffer, so that lines cross reads
      send: (bytes) => chunks.push(Buffer.from(bytes).toString()),
      notice: (_level, message) => notices.push(message),
      checkpoints: new Checkpoints(),
      graceMs: 1000,
      now: () => clock.now,
    },
    startAtEnd,
  );
  const lines = () => chunks.join('').split('\n').filter(Boolean);
  return { f, chunks, notices, lines, clock };
}

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

describe('FileFollower, rotation and rewrites', () => {
  test('a rotated file is still read for the grace period, then closed', () => {
    const dir = tmp();
    const file = path.join(dir, 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    fs.appendFileSync(file, 'one\n');
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, 'new one\n');
    t.f.poll();
    expect(t.f.openCount()).toBe(2);
    fs.appendFileSync(`${file}.1`, 'written after the rotation was noticed\n');
    t.clock.now = 999;
    t.f.poll();
    t.clock.now = 1000;
    t.f.poll();
    expect(t.f.openCount()).toBe(1);
    fs.appendFileSync(`${file}.1`, 'too late: after the grace period\n');
    t.f.poll();
    expect(t.lines().sort()).toEqual(['new one', 'one', 'written after the rotation was noticed']);
  });

  test('truncated and rewritten past the old offset before the next look: read from the start', () => {
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    fs.appendFileSync(file, 'first generation 1\nfirst generation 2\n');
    t.f.poll();
    fs.truncateSync(file, 0);
    fs.appendFileSync(file, 'second generation, line 1 is longer\nsecond generation 2\n');
    t.f.poll();
    expect(t.lines()).toEqual([
      'first generation 1',
      'first generation 2',
      'second generation, line 1 is longer',
      'second generation 2',
    ]);
  });

  test('a writer that keeps its offset after truncation leaves a NUL hole, which is skipped', () => {
    const file = path.join(tmp(), 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    const writer = fs.openSync(file, 'r+');
    const first = Buffer.from('line 1 before\nline 2 before\n');
    fs.writeSync(writer, first, 0, first.length, 0);
    t.f.poll();
    fs.truncateSync(file, 0);
    const next = Buffer.from('after the truncation\n');
    fs.writeSync(writer, next, 0, next.length, first.length);
    fs.closeSync(writer);
    t.f.poll();
    expect(t.lines()).toEqual(['line 1 before', 'line 2 before', 'after the truncation']);
  });

  test('50 rotations in a row: every line once, and no descriptor kept past its grace', () => {
    const dir = tmp();
    const file = path.join(dir, 'a.log');
    fs.writeFileSync(file, '');
    const t = follow(file);
    t.f.poll();
    let written = 0;
    for (let r = 0; r < 50; r++) {
      const lines = Array.from({ length: 20 }, (_, i) => `r${r} l${i}\n`).join('');
      fs.appendFileSync(file, lines);
      written += 20;
      if (r % 3 === 0) t.f.poll();
      fs.renameSync(file, path.join(dir, `a.log.${r}`));
      fs.writeFileSync(file, '');
      t.clock.now += 100;
    }
    t.f.poll();
    t.clock.now += 2000;
    t.f.poll();
    expect(t.lines().length).toBe(written);
    expect(new Set(t.lines()).size).toBe(written);
    expect(t.f.openCount()).toBe(1);
  });
});

describe('FileServer', () => {
  function serve(paths: string[]) {
    const chunks: string[] = [];
    const clock = { now: 0 };
    const server = new FileServer(paths, {
      buffer: new Uint8Array(1 << 16),
      send: (bytes) => chunks.push(Buffer.from(bytes).toString()),
      notice: () => {},
      graceMs: 1000,
      now: () => clock.now,
    });
    const lines = () => chunks.join('').split('\n').filter(Boolean);
    return { server, lines, clock };
  }

  test('a glob picks up a file created later and reads it from its head', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'a.access.log'), 'old\n');
    const s = serve([path.join(dir, '*.access.log')]);
    s.server.poll();
    fs.appendFileSync(path.join(dir, 'a.access.log'), 'a new\n');
    fs.writeFileSync(path.join(dir, 'b.access.log'), 'b 1\nb 2\n');
    fs.writeFileSync(path.join(dir, 'c.error.log'), 'not matched\n');
    s.server.poll();
    expect(s.lines().sort()).toEqual(['a new', 'b 1', 'b 2']);
    s.server.close();
  });

  test('a rotated file that the glob also matches is not read twice', () => {
    const dir = tmp();
    const file = path.join(dir, 'site.log');
    fs.writeFileSync(file, '');
    const s = serve([path.join(dir, 'site.log*')]);
    s.server.poll();
    fs.appendFileSync(file, 'one\ntwo\n');
    s.server.poll();
    fs.renameSync(file, `${file}.1`);
    fs.appendFileSync(`${file}.1`, 'three\n');
    fs.writeFileSync(file, 'four\n');
    s.server.poll();
    s.clock.now = 5000;
    s.server.poll();
    fs.appendFileSync(`${file}.1`, 'five, to the old file after its grace\n');
    s.server.poll();
    s.server.poll();
    expect(s.lines()).toEqual(['one', 'two', 'three', 'four', 'five, to the old file after its grace']);
    expect(s.server.openCount()).toBe(2);
    s.server.close();
  });
});
