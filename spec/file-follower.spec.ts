import { afterEach, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoints, CLOCK_SLACK, FileFollower, FileServer } from '../actors/file-follower';

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

/**
 * File birth times come from the kernel's clock and cannot be faked. A test whose files must be
 * older than the monitor's first look waits (without sleeping) until that clock has moved
 * CLOCK_SLACK past the newest of them: a probe file made now is born later than that.
 */
function ageFiles(files: string[]) {
  const newest = Math.max(...files.map((f) => fs.statSync(f).birthtimeMs));
  const probe = path.join(path.dirname(files[0]!), '.probe');
  for (;;) {
    fs.writeFileSync(probe, '');
    const born = fs.statSync(probe).birthtimeMs;
    fs.rmSync(probe);
    if (born > newest + CLOCK_SLACK + 1) return;
  }
}

describe('FileServer: only what was written to the followed path', () => {
  function serve(paths: string[]) {
    const chunks: string[] = [];
    const notices: string[] = [];
    const clock = { now: 0 };
    const server = new FileServer(paths, {
      buffer: new Uint8Array(1 << 16),
      send: (bytes) => chunks.push(Buffer.from(bytes).toString()),
      notice: (_level, message) => notices.push(message),
      graceMs: 1000,
      now: () => clock.now,
    });
    const lines = () => chunks.join('').split('\n').filter(Boolean);
    return { server, lines, clock, notices };
  }
  const many = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} ${i}\n`).join('');

  test('look-alike strangers are never adopted, while the path is missing or after a rotation', () => {
    const dir = tmp();
    const log = path.join(dir, 'access.log');
    const strangers = ['access.log_api', 'access.log-ssl', 'access.log.json'].map((n) => path.join(dir, n));
    for (const s of strangers) fs.writeFileSync(s, many('history', 3));
    ageFiles(strangers);
    const s = serve([log]);
    s.server.poll();
    for (const x of strangers) fs.appendFileSync(x, many('stranger', 2));
    s.server.poll();
    fs.writeFileSync(log, many('ours', 4));
    for (const x of strangers) fs.appendFileSync(x, many('stranger', 2));
    s.server.poll();
    fs.renameSync(log, `${log}.1`);
    for (const x of strangers) fs.appendFileSync(x, many('stranger', 2));
    s.server.poll();
    fs.writeFileSync(log, many('ours again', 3));
    s.server.poll();
    expect(s.lines().filter((l) => !l.startsWith('ours'))).toEqual([]);
    expect(s.lines()).toHaveLength(7);
    s.server.close();
  });

  test("logrotate's numbered shift: yesterday's .1 moved to .2 is not read; today's file is drained", () => {
    const dir = tmp();
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(`${log}.1`, many('yesterday', 10));
    fs.writeFileSync(log, many('history', 10));
    ageFiles([`${log}.1`, log]);
    const s = serve([log]);
    s.server.poll();
    fs.appendFileSync(log, many('today', 5));
    fs.renameSync(`${log}.1`, `${log}.2`);
    fs.renameSync(log, `${log}.1`);
    fs.appendFileSync(`${log}.1`, many('late write', 2));
    fs.writeFileSync(log, many('new', 3));
    s.server.poll();
    s.clock.now = 2000;
    s.server.poll();
    expect(s.lines().map((l) => l.split(' ')[0]).sort()).toEqual([...Array(2).fill('late'), ...Array(3).fill('new'), ...Array(5).fill('today')]);
    s.server.close();
  });

  test('files created at the path and rotated away between two looks are read from their head', () => {
    const dir = tmp();
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, '');
    const s = serve([log]);
    s.server.poll();
    for (let r = 1; r <= 3; r++) {
      fs.appendFileSync(log, many(`r${r}`, 4));
      fs.renameSync(log, `${log}-${r}`);
      fs.writeFileSync(log, '');
    }
    s.server.poll();
    expect(s.lines()).toHaveLength(12);
    s.server.close();
  });

  test('one file under several names (two spellings, a symlink, a glob) is read once', () => {
    const dir = tmp();
    const log = path.join(dir, 'a.log');
    fs.writeFileSync(log, '');
    fs.symlinkSync(log, path.join(dir, 'link.log'));
    const relative = path.relative(process.cwd(), log);
    const s = serve([log, relative, `./${relative}`, path.join(dir, 'link.log'), path.join(dir, '*.log')]);
    s.server.poll();
    fs.appendFileSync(log, many('x', 6));
    s.server.poll();
    s.server.poll();
    expect(s.lines()).toHaveLength(6);
    s.server.close();
  });

  test('a glob matches symlinks to files; a literal name with glob characters is a path', () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'real'));
    fs.mkdirSync(path.join(dir, 'links'));
    fs.writeFileSync(path.join(dir, 'real/a'), '');
    fs.symlinkSync(path.join(dir, 'real/a'), path.join(dir, 'links/a.log'));
    const literal = path.join(dir, 'site[1].log');
    fs.writeFileSync(literal, 'old\n');
    fs.writeFileSync(path.join(dir, 'site1.log'), '');
    const s = serve([path.join(dir, 'links/*.log'), literal]);
    s.server.poll();
    fs.appendFileSync(path.join(dir, 'real/a'), many('linked', 2));
    fs.appendFileSync(literal, many('literal', 3));
    fs.appendFileSync(path.join(dir, 'site1.log'), many('not followed', 1));
    fs.writeFileSync(path.join(dir, 'real/b'), many('new target', 4));
    fs.symlinkSync(path.join(dir, 'real/b'), path.join(dir, 'links/b.log'));
    s.server.poll();
    expect(s.lines().map((l) => l.replace(/ \d+$/, '')).sort()).toEqual([
      ...Array(2).fill('linked'),
      ...Array(3).fill('literal'),
      ...Array(4).fill('new target'),
    ]);
    s.server.close();
  });

  test('a pattern that matches nothing says so once; compressed rotations are never read as text', () => {
    const dir = tmp();
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, '');
    const nothing = serve([path.join(dir, '*.nothing')]);
    nothing.server.poll();
    nothing.server.poll();
    expect(nothing.notices).toEqual([`waiting for files matching ${path.join(dir, '*.nothing')} to appear`]);
    const s = serve([`${log}*`]);
    s.server.poll();
    fs.writeFileSync(`${log}.1.gz`, Bun.gzipSync(Buffer.from(many('zipped', 50))));
    fs.writeFileSync(`${log}.2`, Bun.gzipSync(Buffer.from(many('zipped', 50)))); // compressed, plain name
    fs.appendFileSync(log, many('plain', 2));
    s.server.poll();
    s.server.poll();
    expect(s.lines()).toEqual(['plain 0', 'plain 1']);
    expect(s.notices).toEqual([`skipping ${log}.2: it is compressed (gzip); --replay reads it`]);
    s.server.close();
  });

  test('copytruncate between two looks: the lines written after the last read are read from the copy, once', () => {
    const dir = tmp();
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, '');
    const s = serve([log]);
    s.server.poll();
    fs.appendFileSync(log, many('read before', 4));
    s.server.poll();
    fs.appendFileSync(log, many('only in the copy', 5));
    fs.copyFileSync(log, `${log}.1`);
    fs.truncateSync(log, 0);
    fs.appendFileSync(log, many('after', 3));
    s.server.poll();
    s.server.poll();
    fs.appendFileSync(`${log}.1`, many('never: the copy is not written to', 1));
    s.server.poll();
    expect(s.lines().map((l) => l.replace(/ \d+$/, ''))).toEqual([
      ...Array(4).fill('read before'),
      ...Array(3).fill('after'),
      ...Array(5).fill('only in the copy'),
    ]);
    s.server.close();
  });

  test("an agent's restart: a new server given the old one's marks goes on after the last line it sent, rotated files included", () => {
    const dir = tmp();
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, many('history', 3));
    ageFiles([log]);
    const first = serve([log]);
    first.server.poll();
    fs.appendFileSync(log, `${many('sent', 4)}half a li`);
    first.server.poll();
    const marks = first.server.marks();
    expect(marks).toHaveLength(1);
    expect(marks[0]!.offset).toBe(Buffer.byteLength(many('history', 3) + many('sent', 4)));
    first.server.close(); // killed: it never sent the half line
    fs.appendFileSync(log, `ne\n${many('while down', 2)}`);
    fs.renameSync(log, `${log}.1`);
    fs.appendFileSync(`${log}.1`, many('late to the rotated file', 1));
    fs.writeFileSync(log, many('new file', 2));
    const second = new FileServer([log], { buffer: new Uint8Array(1 << 16), send: (b) => got.push(Buffer.from(b).toString()), notice: () => {}, graceMs: 1000, now: () => 0 }, marks);
    const got: string[] = [];
    second.poll();
    const lines = got.join('').split('\n').filter(Boolean).map((l) => l.replace(/ \d+$/, ''));
    expect(lines.sort()).toEqual(['half a line', 'late to the rotated file', 'new file', 'new file', 'while down', 'while down']);
    second.close();
  });

  test('a backlog larger than the budget is read over several polls, each bounded', () => {
    const dir = tmp();
    const log = path.join(dir, 'a.log');
    fs.writeFileSync(log, '');
    const chunks: number[] = [];
    const server = new FileServer([log], {
      buffer: new Uint8Array(1 << 10),
      send: (bytes) => chunks.push(bytes.length),
      notice: () => {},
      graceMs: 1000,
      now: () => 0,
      budget: 4096,
    });
    server.poll();
    fs.appendFileSync(log, many('line', 2000)); // about 20 KB
    let polls = 0;
    while (server.poll()) polls++;
    expect(polls).toBeGreaterThanOrEqual(4);
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(fs.statSync(log).size);
    server.close();
  });
});
