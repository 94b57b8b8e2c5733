/**
 * Model-based test of the file lifecycle (FileServer), in the spirit of Vector's file-source
 * model test. fast-check generates sequences of operations on a real followed path
 * (`<tmp>/logs/access.log`) in a temp directory, and a FileServer created in-process follows it:
 * a fake clock (`now`) that only TimePasses advances, and `poll()` only when a Poll says so.
 *
 * Operations: write k complete lines, or half a line, through the writer's descriptor (which,
 * like nginx's, stays on the file it opened until Reopen); logrotate's numbered rotation (`.2`
 * removed or shifted to `.3`, `.1 → .2`, path → `.1`, optionally a new empty file at the path);
 * rename to a unique name (`access.log-<n>`); copytruncate (poll, shift, copy to `.1`, truncate);
 * delete and re-create; re-pointing a symlink at the path to a new file (cronolog style); writes
 * to look-alike strangers and to an old `.1`/`.2` history made before the server started.
 *
 * The model keeps, for every file, the newlines the writer appended to it, whether it has been
 * at the followed path since the server started, whether a poll happened while it was still
 * reachable (at the path, or under a sibling name where the sweep for fast rotations finds it),
 * and whether it was unlinked before any poll could see it (then its lines cannot be read).
 * Rules that keep the invariant exact: the writer writes to a file that has left the path only
 * until the next TimePasses (so always within its grace, which starts later, when a poll
 * notices the rotation); the lines of a file at the path when the server starts are history.
 *
 * Invariant, after three final polls (no time passing): the complete lines the server sent are
 * exactly the newlines written to files that have been at the path and were not lost, no more
 * (strangers, history, copies, a file counted under two names) and no fewer.
 *
 * Nothing sleeps: real time barely passes between two polls here (250 ms in the monitor), and
 * setup only waits, by creating a probe file, until the file clock has ticked past the strangers'
 * birth, so that the followed file is born strictly after them.
 *
 * Run: ./node_modules/.bin/bun test spec/file-server.model.spec.ts (MODEL_RUNS=2000 to search longer;
 * a failure prints fast-check's seed, path and the shrunk command list).
 */
import { describe, test } from 'bun:test';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { FileServer } from '../actors/file-follower';

const BASE = 'access.log';
const GRACE_MS = 5000;
const NUM_RUNS = Number(process.env.MODEL_RUNS) || 150;
const MAX_COMMANDS = 25;

// ---------------------------------------------------------------------------------------------
// Model and real system

interface FileM {
  /** The tag at the head of its lines. */
  label: string;
  /** Its name in the log directory; null once unlinked. */
  name: string | null;
  /** Newlines the writer appended to it during the run. */
  written: number;
  /** Has been the file at the followed path since the server started. */
  everAtPath: boolean;
  /** A poll happened while it was reachable (at the path or under a sibling name). */
  seen: boolean;
  /** Unlinked before any poll could see it: its lines can never be read. */
  lost: boolean;
  /** The TimePasses count when it left the path (Infinity while it is there). */
  awayEpoch: number;
  /** What it is, for messages. */
  kind: 'followed' | 'stranger' | 'history' | 'copy';
}

interface Model {
  files: FileM[];
  /** The file at the followed path (index into files), or null. */
  atPath: number | null;
  writer: { file: number; partial: boolean };
  /** How many TimePasses so far. */
  epoch: number;
  /** Strangers and history, which only WriteStranger writes. */
  strangers: number[];
  symlink: boolean;
  unique: number;
}

interface Real {
  logs: string;
  path: string;
  server: FileServer;
  clock: { now: number };
  chunks: string[];
  fd: number;
  /** The rest of the half line the writer has written. */
  rest: string;
  serial: number;
}

type Cmd = fc.Command<Model, Real>;

const at = (r: Real, name: string) => nodePath.join(r.logs, name);
const byName = (m: Model, name: string) => {
  const i = m.files.findIndex((f) => f.name === name);
  return i < 0 ? undefined : i;
};

function line(r: Real, label: string): string {
  const n = r.serial++;
  return `${label} #${String(n).padStart(5, '0')} ${'.'.repeat(n % 9)}\n`;
}

/** Adds a file to the model (the caller makes it on disk). */
function register(m: Model, name: string, kind: FileM['kind'], label?: string): number {
  const i = m.files.length;
  m.files.push({ label: label ?? `f${i}`, name, written: 0, everAtPath: false, seen: false, lost: false, awayEpoch: Infinity, kind });
  return i;
}

function unlinked(m: Model, i: number) {
  const f = m.files[i]!;
  f.name = null;
  if (f.everAtPath && !f.seen) f.lost = true;
}

function leavesPath(m: Model, i: number) {
  m.files[i]!.awayEpoch = m.epoch;
  m.atPath = null;
}

function arrivesAtPath(m: Model, i: number) {
  const f = m.files[i]!;
  f.everAtPath = true;
  f.awayEpoch = Infinity;
  m.atPath = i;
}

function rename(m: Model, r: Real, from: string, to: string) {
  const i = byName(m, from);
  if (i === undefined) return;
  const replaced = byName(m, to);
  if (replaced !== undefined) unlinked(m, replaced);
  fs.renameSync(at(r, from), at(r, to));
  m.files[i]!.name = to;
  if (from === BASE) leavesPath(m, i);
}

function remove(m: Model, r: Real, name: string) {
  const i = byName(m, name);
  if (i === undefined) return;
  fs.unlinkSync(at(r, name));
  unlinked(m, i);
  if (name === BASE) leavesPath(m, i);
}

function createAtPath(m: Model, r: Real) {
  fs.writeFileSync(r.path, '');
  arrivesAtPath(m, register(m, BASE, 'followed'));
}

/** logrotate's numbered shift before the path becomes `.1`: `.2` removed or kept as `.3`. */
function shift(m: Model, r: Real, keep: boolean) {
  if (keep) rename(m, r, `${BASE}.2`, `${BASE}.3`);
  else remove(m, r, `${BASE}.2`);
  rename(m, r, `${BASE}.1`, `${BASE}.2`);
}

function poll(m: Model, r: Real) {
  r.server.poll();
  for (const f of m.files) if (f.everAtPath && f.name !== null) f.seen = true;
}

/** The writer may write: its file is at the path, or left it since the last TimePasses. */
function writable(m: Readonly<Model>): boolean {
  return m.atPath === m.writer.file || m.files[m.writer.file]!.awayEpoch === m.epoch;
}

// ---------------------------------------------------------------------------------------------
// Commands

class Write implements Cmd {
  constructor(readonly k: number) {}
  check = (m: Readonly<Model>) => writable(m);
  run(m: Model, r: Real) {
    const f = m.files[m.writer.file]!;
    let text = r.rest;
    for (let i = 0; i < this.k; i++) text += line(r, f.label);
    fs.writeSync(r.fd, text);
    f.written += this.k + (m.writer.partial ? 1 : 0);
    m.writer.partial = false;
    r.rest = '';
  }
  toString = () => `Write(${this.k})`;
}

class WriteHalf implements Cmd {
  check = (m: Readonly<Model>) => writable(m) && !m.writer.partial;
  run(m: Model, r: Real) {
    const whole = line(r, m.files[m.writer.file]!.label);
    const half = whole.indexOf('#') + 1;
    fs.writeSync(r.fd, whole.slice(0, half));
    r.rest = whole.slice(half);
    m.writer.partial = true;
  }
  toString = () => 'WriteHalf';
}

function reopen(m: Model, r: Real) {
  fs.closeSync(r.fd);
  r.fd = fs.openSync(r.path, fs.constants.O_WRONLY | fs.constants.O_APPEND);
  m.writer = { file: m.atPath!, partial: false };
  r.rest = '';
}

/** The writer opens the path again (nginx -s reopen); a half line it left behind stays unfinished. */
class Reopen implements Cmd {
  check = (m: Readonly<Model>) => m.atPath !== null && m.atPath !== m.writer.file;
  run(m: Model, r: Real) {
    reopen(m, r);
  }
  toString = () => 'Reopen';
}

class RotateNumbered implements Cmd {
  constructor(
    readonly keep: boolean,
    readonly create: boolean,
  ) {}
  check = (m: Readonly<Model>) => !m.symlink && m.atPath !== null;
  run(m: Model, r: Real) {
    shift(m, r, this.keep);
    rename(m, r, BASE, `${BASE}.1`);
    if (this.create) createAtPath(m, r);
  }
  toString = () => `RotateNumbered(${this.keep ? '.2→.3' : '.2 removed'}${this.create ? ', create' : ''})`;
}

class RotateUnique implements Cmd {
  constructor(readonly create: boolean) {}
  check = (m: Readonly<Model>) => !m.symlink && m.atPath !== null;
  run(m: Model, r: Real) {
    rename(m, r, BASE, `${BASE}-${++m.unique}`);
    if (this.create) createAtPath(m, r);
  }
  toString = () => `RotateUnique(${this.create ? 'create' : ''})`;
}

/** Poll, then shift, copy the path to `.1` and truncate it: nothing unread is lost. */
class CopyTruncate implements Cmd {
  constructor(readonly keep: boolean) {}
  check = (m: Readonly<Model>) => !m.symlink && m.atPath !== null;
  run(m: Model, r: Real) {
    poll(m, r);
    shift(m, r, this.keep);
    fs.copyFileSync(r.path, at(r, `${BASE}.1`));
    register(m, `${BASE}.1`, 'copy');
    fs.truncateSync(r.path, 0);
  }
  toString = () => `CopyTruncate(${this.keep ? '.2→.3' : '.2 removed'})`;
}

class Delete implements Cmd {
  check = (m: Readonly<Model>) => !m.symlink && m.atPath !== null;
  run(m: Model, r: Real) {
    remove(m, r, BASE);
  }
  toString = () => 'Delete';
}

/** A new file at the missing path, made by the writer itself (nginx -s reopen) or by someone else. */
class Create implements Cmd {
  constructor(readonly byWriter: boolean) {}
  check = (m: Readonly<Model>) => !m.symlink && m.atPath === null;
  run(m: Model, r: Real) {
    createAtPath(m, r);
    if (this.byWriter) reopen(m, r);
  }
  toString = () => `Create(${this.byWriter ? 'by the writer' : ''})`;
}

/** The path is a symlink: point it at a new empty `access.log-<n>` (atomically, by rename). */
class RePoint implements Cmd {
  check = (m: Readonly<Model>) => m.symlink;
  run(m: Model, r: Real) {
    const name = `${BASE}-${++m.unique}`;
    fs.writeFileSync(at(r, name), '');
    const i = register(m, name, 'followed');
    fs.symlinkSync(name, at(r, 'relink'));
    fs.renameSync(at(r, 'relink'), r.path);
    if (m.atPath !== null) leavesPath(m, m.atPath);
    arrivesAtPath(m, i);
  }
  toString = () => 'RePoint';
}

class WriteStranger implements Cmd {
  constructor(
    readonly which: number,
    readonly k: number,
  ) {}
  private file = (m: Readonly<Model>) => m.files[m.strangers[this.which % m.strangers.length]!]!;
  check = (m: Readonly<Model>) => m.strangers.length > 0 && this.file(m).name !== null;
  run(m: Model, r: Real) {
    const f = this.file(m);
    let text = '';
    for (let i = 0; i < this.k; i++) text += line(r, f.label);
    fs.appendFileSync(at(r, f.name!), text);
  }
  toString = () => `WriteStranger(${this.which}, ${this.k})`;
}

class Poll implements Cmd {
  check = () => true;
  run(m: Model, r: Real) {
    poll(m, r);
  }
  toString = () => 'Poll';
}

class TimePasses implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  run(m: Model, r: Real) {
    r.clock.now += this.ms;
    m.epoch++;
  }
  toString = () => `TimePasses(${this.ms})`;
}

// An arbitrary listed twice is generated twice as often.
const write = fc.integer({ min: 1, max: 4 }).map((k) => new Write(k));
const base: fc.Arbitrary<Cmd>[] = [
  write,
  write,
  write,
  fc.constant(new WriteHalf()),
  fc.constant(new Reopen()),
  fc.constant(new Reopen()),
  fc.constant(new Poll()),
  fc.constant(new Poll()),
  fc.integer({ min: 1, max: GRACE_MS - 1 }).map((ms) => new TimePasses(ms)),
];
const renames: fc.Arbitrary<Cmd>[] = [
  fc.tuple(fc.boolean(), fc.boolean()).map(([keep, create]) => new RotateNumbered(keep, create)),
  fc.boolean().map((create) => new RotateUnique(create)),
  fc.boolean().map((byWriter) => new Create(byWriter)),
  fc.boolean().map((byWriter) => new Create(byWriter)),
];
const strangerWrites = fc.tuple(fc.nat(4), fc.integer({ min: 1, max: 3 })).map(([w, k]) => new WriteStranger(w, k));
const copyTruncate = fc.boolean().map((keep) => new CopyTruncate(keep));
const deletes = fc.constant(new Delete());
const rePoint = fc.constant(new RePoint());

// ---------------------------------------------------------------------------------------------
// Setup, run and invariant

interface Variant {
  /** Look-alike strangers and an old `.1`/`.2` history, made before the server starts. */
  strangers: boolean;
  /** The followed path is a symlink to `access.log-<n>` (cronolog style). */
  symlink: boolean;
  /** The same path followed a second time under another name. */
  alias?: 'relative' | 'symlink';
}

/** Waits, without sleeping, until the file clock has passed `than` (file times are coarse). */
function fileClockPast(dir: string, than: number) {
  const probe = nodePath.join(dir, 'probe');
  for (;;) {
    fs.writeFileSync(probe, '');
    const born = fs.statSync(probe).birthtimeMs;
    fs.unlinkSync(probe);
    if (born > than) return;
  }
}

function setup(v: Variant, root: string): { model: Model; real: Real } {
  const logs = nodePath.join(root, 'logs');
  fs.mkdirSync(logs);
  const path = nodePath.join(logs, BASE);
  const m: Model = { files: [], atPath: null, writer: { file: 0, partial: false }, epoch: 0, strangers: [], symlink: v.symlink, unique: 0 };
  let newest = 0;
  if (v.strangers) {
    const made: [string, FileM['kind'], string][] = [
      [`${BASE}_api`, 'stranger', 's_api'],
      [`${BASE}-ssl`, 'stranger', 's_ssl'],
      [`${BASE}.json`, 'stranger', 's_json'],
      [`${BASE}.2`, 'history', 'h2'],
      [`${BASE}.1`, 'history', 'h1'],
    ];
    for (const [name, kind, label] of made) {
      const p = nodePath.join(logs, name);
      fs.writeFileSync(p, `${label} before the start 1\n${label} before the start 2\n`);
      newest = Math.max(newest, fs.statSync(p).birthtimeMs);
      m.strangers.push(register(m, name, kind, label));
    }
    fileClockPast(root, newest);
  }
  const pre = 'pre 1, history at the followed path\npre 2\n';
  let first: number;
  if (v.symlink) {
    const name = `${BASE}-0`;
    fs.writeFileSync(nodePath.join(logs, name), pre);
    first = register(m, name, 'followed');
    fs.symlinkSync(name, path);
  } else {
    fs.writeFileSync(path, pre);
    first = register(m, BASE, 'followed');
  }
  arrivesAtPath(m, first);
  m.writer = { file: first, partial: false };

  const paths = [path];
  if (v.alias === 'relative') paths.push(nodePath.relative(process.cwd(), path));
  if (v.alias === 'symlink') {
    fs.mkdirSync(nodePath.join(root, 'alias'));
    fs.symlinkSync(path, nodePath.join(root, 'alias', BASE));
    paths.push(nodePath.join(root, 'alias', BASE));
  }
  const clock = { now: 0 };
  const chunks: string[] = [];
  const server = new FileServer(paths, {
    send: (bytes) => chunks.push(Buffer.from(bytes).toString('latin1')),
    notice: () => {},
    buffer: new Uint8Array(64), // smaller than a few lines, so that lines cross reads
    graceMs: GRACE_MS,
    now: () => clock.now,
  });
  const real: Real = { logs, path, server, clock, chunks, fd: fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND), rest: '', serial: 0 };
  poll(m, real); // the start: the file at the path is history, followed from its end
  return { model: m, real };
}

/** Sent lines against the model, per file; null when they agree. */
function disagreement(m: Model, r: Real): string | null {
  const text = r.chunks.join('');
  const got = (text.match(/\n/g) ?? []).length;
  const counts = (f: FileM) => f.everAtPath && !f.lost;
  const expected = m.files.reduce((n, f) => n + (counts(f) ? f.written : 0), 0);
  if (got === expected) return null;
  const sent = new Map<string, number>();
  for (const l of text.split('\n').slice(0, -1)) {
    const label = l.split(' ')[0]!;
    const known = m.files.some((f) => f.label === label) || label === 'pre';
    sent.set(known ? label : '?', (sent.get(known ? label : '?') ?? 0) + 1);
  }
  const rows = m.files.map((f) => {
    const want = counts(f) ? f.written : 0;
    const why = f.kind !== 'followed' ? f.kind : f.lost ? 'lost: unlinked before a poll' : f.everAtPath ? 'was at the path' : '';
    return `  ${f.label} (${f.name ?? 'unlinked'}, ${why}): expected ${want}, sent ${sent.get(f.label) ?? 0}`;
  });
  if (sent.has('pre')) rows.push(`  pre (history of the first file): expected 0, sent ${sent.get('pre')}`);
  if (sent.has('?')) rows.push(`  ? (a line cut by copytruncate): sent ${sent.get('?')}`);
  return `sent ${got} lines, expected ${expected} (per tag; a copy's lines carry its original's tag):\n${rows.join('\n')}`;
}

/** One run: setup, the commands, three final polls; what disagrees with the model, or null. */
function runOnce(v: Variant, cmds: Iterable<Cmd>): string | null {
  const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'file-server-model-'));
  let world: { model: Model; real: Real } | undefined;
  try {
    fc.modelRun(() => (world = setup(v, root)), cmds);
    const { model, real } = world!;
    for (let i = 0; i < 3; i++) poll(model, real);
    return disagreement(model, real);
  } finally {
    if (world) {
      fs.closeSync(world.real.fd);
      world.real.server.close();
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function check(variants: fc.Arbitrary<Variant>, commands: fc.Arbitrary<Cmd>[]) {
  fc.assert(
    fc.property(variants, fc.commands(commands, { maxCommands: MAX_COMMANDS, size: 'max' }), (v, cmds) => {
      const wrong = runOnce(v, cmds);
      if (wrong) throw new Error(wrong);
    }),
    { numRuns: NUM_RUNS, includeErrorInReport: true },
  );
}

const plain = fc.constant<Variant>({ strangers: false, symlink: false });
const withStrangers = fc.constant<Variant>({ strangers: true, symlink: false });

describe('FileServer against a model of the followed path', () => {
  test('rename rotations (numbered and unique, several between two polls), half lines, reopen', () => {
    check(plain, [...base, ...renames]);
  });

  test('look-alike strangers and an old .1/.2 history are never read', () => {
    check(withStrangers, [...base, ...renames, strangerWrites, strangerWrites]);
  });

  test('delete, with or without a re-create', () => {
    check(plain, [...base, ...renames, deletes]);
  });

  test('copytruncate', () => {
    check(plain, [...base, copyTruncate, copyTruncate]);
  });

  test('copytruncate mixed with rename rotations and deletes', () => {
    check(plain, [...base, ...renames, deletes, copyTruncate, copyTruncate]);
  });

  test('a symlink at the path re-pointed to new files, strangers beside them', () => {
    check(fc.constant({ strangers: true, symlink: true }), [...base, rePoint, rePoint, strangerWrites]);
  });

  test('everything together', () => {
    check(withStrangers, [...base, ...renames, copyTruncate, deletes, strangerWrites]);
  });

  test('the same file followed under two names is counted once', () => {
    check(
      fc.constantFrom<Variant>({ strangers: false, symlink: false, alias: 'relative' }, { strangers: false, symlink: false, alias: 'symlink' }),
      [...base, ...renames, deletes],
    );
  });
});

/** Sequences the model found (shrunk by fast-check, then by hand), kept as plain examples. */
describe('FileServer: counterexamples found by the model', () => {
  const plainV: Variant = { strangers: false, symlink: false };
  const strangersV: Variant = { strangers: true, symlink: false };
  const cases: [string, Variant, Cmd[]][] = [
    [
      'a file created at the path and rotated away between two polls is read (fast rotation)',
      plainV,
      [new RotateNumbered(false, true), new Reopen(), new Write(2), new RotateNumbered(false, true), new Write(1), new Poll()],
    ],
    [
      'the path missing at two polls: a file created and rotated away between them is read',
      plainV,
      [new RotateNumbered(false, false), new Poll(), new Create(true), new Write(1), new RotateUnique(false)],
    ],
    ['after a rotation, the old .1 (now .2) and the strangers are not read from their head', strangersV, [new RotateNumbered(false, true), new Write(1), new Poll()]],
    ['a stranger written during the run is not read after a rotation', strangersV, [new WriteStranger(0, 1), new RotateUnique(true), new Poll()]],
    ['a symlink re-pointed: the strangers beside its targets are not read', { strangers: true, symlink: true }, [new RePoint(), new WriteStranger(0, 1)]],
    ['one file followed as p and as a relative path: each line once', { ...plainV, alias: 'relative' }, [new Write(1)]],
    ['one file followed as p and through a symlink to p: each line once', { ...plainV, alias: 'symlink' }, [new Write(1)]],
    ['a copytruncate copy, then a rename before the next poll: the copy is not read', plainV, [new Write(2), new CopyTruncate(false), new RotateUnique(true)]],
    ['a copytruncate copy, then a delete before the next poll: the copy is not read', plainV, [new Write(2), new CopyTruncate(false), new Delete()]],
  ];
  for (const [name, v, cmds] of cases) {
    test(`${name}: ${cmds.join(', ')}`, () => {
      const wrong = runOnce(v, cmds);
      if (wrong) throw new Error(wrong);
    });
  }
});
