/**
 * Which files a followed path means, tested on the real process: names that only look like the
 * followed one, logrotate's numbered shift, a file or a folder that cannot be read, one file under
 * two names, globs over symlinks and over rotated (compressed) names, literal names with glob
 * characters, and `--replay` with a glob.
 *
 * "Counted" is the sum of `hits` over the monitor's `{"type":"stats",...}` NDJSON lines
 * (`--json -s 1 --poll-ms 100`); the method is tailer-lifecycle's (spec/support/follow-harness):
 * start the monitor, wait for its first stats line, do the file operations, wait (deadline) until
 * the written number is counted, settle 1.5 s so that double counting would show, SIGINT, compare.
 * Scenarios 1, 2 and 4 run with file-system events as a hint and with polling alone
 * (`--no-watch`); the others with events. Pauses only place an operation.
 *
 * The unreadable cases (3, 17) run the monitor subject to file permissions: as root (CI), through
 * setpriv without the capabilities that let root read anything, on files owned by nobody.
 */
import { afterAll, describe, expect } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  argsFor,
  expectCounted,
  expectShowing,
  finish,
  hasOpen,
  lines,
  MODES,
  type Monitor,
  protect,
  runToEnd,
  scenario,
  sectionsOf,
  statsOf,
  sum,
  until,
} from './support/follow-harness';

// ---------------------------------------------------------------------------------------------
// Temp dirs

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-paths-'));
const tmpDir = (name: string) => fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** The warning that most lines of an interval were older than the alert window. */
const LATE_WARNING = /clock|arrived older than/i;

/** How many stderr lines contain `text`. */
const countIn = (m: Monitor, text: string) => m.err.lines.filter((l) => l.includes(text)).length;

// ---------------------------------------------------------------------------------------------

for (const { mode, flags } of MODES) {
  describe(`paths (${mode})`, () => {
    scenario('1. look-alike names (access.log_api, access.log-ssl, access.log.json) are never read as the followed access.log', async (start) => {
      const dir = tmpDir(`lookalike-${mode}`);
      const log = path.join(dir, 'access.log');
      const strangers = ['api', 'ssl', 'json'].map((tag) => ({
        tag,
        file: path.join(dir, `access.log${{ api: '_api', ssl: '-ssl', json: '.json' }[tag]}`),
        seq: 400,
      }));
      for (const s of strangers) fs.writeFileSync(s.file, lines(s.tag, 0, 400));
      const m = start(argsFor([log], flags));
      // The strangers keep getting lines during the whole run.
      const appender = setInterval(() => {
        for (const s of strangers) {
          fs.appendFileSync(s.file, lines(s.tag, s.seq, 3));
          s.seq += 3;
        }
      }, 100);
      try {
        await m.ready();
        await Bun.sleep(300); // a few looks with access.log missing and the strangers growing
        fs.writeFileSync(log, lines('main', 0, 50));
        await m.mustReach(50);
        fs.renameSync(log, `${log}.1`);
        await Bun.sleep(300); // the path is missing for a while
        fs.writeFileSync(log, lines('main', 50, 30));
        const o = await finish(m, 80);
        expectCounted(o, 80, m);
        expect(sectionsOf(o.stats)).toEqual(['/main']);
      } finally {
        clearInterval(appender);
      }
    });

    scenario("2. logrotate's numbered shift (.1 → .2, access.log → .1, new access.log): yesterday's file is not read again", async (start) => {
      const dir = tmpDir(`shift-${mode}`);
      const log = path.join(dir, 'access.log');
      const yesterday = new Date(Date.now() - 86_400_000);
      fs.writeFileSync(`${log}.1`, lines('yesterday', 0, 1000, yesterday));
      fs.utimesSync(`${log}.1`, yesterday, yesterday);
      fs.writeFileSync(log, lines('history', 0, 200, yesterday));
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('today', 0, 100, new Date()));
      await m.mustReach(100);
      fs.renameSync(`${log}.1`, `${log}.2`);
      fs.renameSync(log, `${log}.1`);
      fs.writeFileSync(log, '');
      fs.appendFileSync(log, lines('today', 100, 50, new Date()));
      const o = await finish(m, 150);
      expectCounted(o, 150, m);
      expect(sectionsOf(o.stats)).toEqual(['/today']);
      expect(o.stderr).not.toMatch(LATE_WARNING);
    });

    // 4. One file under two names is counted once.
    const twice: [string, (dir: string) => { args: string[]; file: string; cwd?: string }][] = [
      [
        "4a. -f a.log -f ./a.log, run from the log's folder",
        (dir) => ({ args: ['a.log', './a.log'], file: path.join(dir, 'a.log'), cwd: dir }),
      ],
      [
        '4b. a symlink and its target',
        (dir) => {
          const file = path.join(dir, 'real', 'a.log');
          fs.mkdirSync(path.dirname(file));
          fs.symlinkSync(file, path.join(dir, 'link.log'));
          return { args: [path.join(dir, 'link.log'), file], file };
        },
      ],
      [
        "4c. an explicit path and a quoted glob that matches it (-f a.log -f 'DIR/*.log', run from the log's folder)",
        (dir) => ({ args: ['a.log', path.join(dir, '*.log')], file: path.join(dir, 'a.log'), cwd: dir }),
      ],
      [
        "4d. an explicit path and a quoted glob that matches it, spelled alike (-f DIR/a.log -f 'DIR/*.log')",
        (dir) => ({ args: [path.join(dir, 'a.log'), path.join(dir, '*.log')], file: path.join(dir, 'a.log') }),
      ],
    ];
    for (const [name, setUp] of twice) {
      scenario(`${name}: counted once`, async (start) => {
        const dir = tmpDir(`twice-${mode}`);
        const { args, file, cwd } = setUp(dir);
        fs.writeFileSync(file, lines('old', 0, 10));
        const m = start(argsFor(args, flags), 'ignore', cwd ? { cwd } : {});
        await m.ready();
        fs.appendFileSync(file, lines('a', 0, 40));
        await Bun.sleep(200);
        fs.appendFileSync(file, lines('a', 40, 20));
        const o = await finish(m, 60);
        expectCounted(o, 60, m);
        expect(sectionsOf(o.stats)).toEqual(['/a']);
      });
    }
  });
}

describe('paths', () => {
  scenario('3. a file that exists but cannot be opened: said once, the run goes on, and once readable only new lines count', async (start) => {
    const dir = tmpDir('denied');
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, lines('history', 0, 1000));
    protect(log, 0o600);
    const m = start(argsFor([log], []), 'ignore', { unprivileged: true });
    await m.ready();
    const said = `cannot read ${log}: permission denied`;
    await m.err.waitForLine(said, 5_000, (l) => l.includes(said));
    expect(await m.nextStats(2)).toBe(true); // still running, and looking again
    fs.chmodSync(log, 0o644);
    // Placing the append: once the monitor has opened the file (or, if it does not, after 3 s).
    await until(3_000, () => hasOpen(m.pid, log));
    fs.appendFileSync(log, lines('new', 0, 100));
    const o = await finish(m, 100);
    expectCounted(o, 100, m);
    expect(sectionsOf(o.stats)).toEqual(['/new']);
    expectShowing(m, countIn(m, said), 1);
  });

  scenario('5. a glob whose matches are symlinks: appended lines count, a link made later is read from its head', async (start) => {
    const dir = tmpDir('symlink-glob');
    const links = path.join(dir, 'links');
    const data = path.join(dir, 'data');
    fs.mkdirSync(links);
    fs.mkdirSync(data);
    for (const name of ['one', 'two']) {
      fs.writeFileSync(path.join(data, `${name}.log`), lines('old', 0, 10));
      fs.symlinkSync(path.join(data, `${name}.log`), path.join(links, `${name}.log`));
    }
    const m = start(argsFor([path.join(links, '*.log')], []));
    await m.ready();
    fs.appendFileSync(path.join(data, 'one.log'), lines('one', 0, 20));
    fs.appendFileSync(path.join(data, 'two.log'), lines('two', 0, 30));
    fs.writeFileSync(path.join(data, 'three.log'), lines('three', 0, 15));
    fs.symlinkSync(path.join(data, 'three.log'), path.join(links, 'three.log'));
    await Bun.sleep(300); // the new link is found
    fs.appendFileSync(path.join(data, 'three.log'), lines('three', 15, 10));
    const o = await finish(m, 75);
    expectCounted(o, 75, m);
    expect(sectionsOf(o.stats)).toEqual(['/one', '/three', '/two']);
  });

  scenario('6a. literal file names with glob characters (site[1].log, x{a}.log) that exist are followed as paths', async (start) => {
    const dir = tmpDir('literal');
    const site = path.join(dir, 'site[1].log');
    const xa = path.join(dir, 'x{a}.log');
    // Files that the names would match as globs: not to be followed.
    const lookalikes = [path.join(dir, 'site1.log'), path.join(dir, 'xa.log')];
    for (const f of [site, xa, ...lookalikes]) fs.writeFileSync(f, lines('old', 0, 10));
    const m = start(argsFor([site, xa], []));
    await m.ready();
    fs.appendFileSync(site, lines('site', 0, 25));
    fs.appendFileSync(xa, lines('xa', 0, 35));
    for (const f of lookalikes) fs.appendFileSync(f, lines('other', 0, 5));
    const o = await finish(m, 60);
    expectCounted(o, 60, m);
    expect(sectionsOf(o.stats)).toEqual(['/site', '/xa']);
  });

  scenario('6b. a glob that matches nothing says so once, however many polls', async (start) => {
    const pattern = path.join(tmpDir('nomatch'), '*.nothing');
    const m = start(argsFor([pattern], []));
    await m.ready();
    const said = `waiting for files matching ${pattern} to appear`;
    await m.err.waitForLine(said, 5_000, (l) => l.includes(said));
    expect(await m.nextStats(3)).toBe(true); // 3 s: about 30 polls
    const o = await finish(m, 0);
    expectCounted(o, 0, m);
    expectShowing(m, countIn(m, said), 1);
  });

  scenario("7. --replay with a quoted glob replays every match; a glob that matches nothing is an error", async () => {
    const dir = tmpDir('replay-glob');
    fs.writeFileSync(path.join(dir, 'a.log'), lines('a', 0, 120));
    fs.writeFileSync(path.join(dir, 'b.log'), lines('b', 0, 80));
    fs.writeFileSync(path.join(dir, 'c.txt'), lines('c', 0, 50)); // not a match
    const common = ['--json', '-s', '1', '--poll-ms', '100'];
    const [both, none] = await Promise.all([
      runToEnd(['--replay', '-f', path.join(dir, '*.log'), ...common]),
      runToEnd(['--replay', '-f', path.join(dir, '*.nothing'), ...common]),
    ]);
    const stats = statsOf(both.stdout.split('\n'));
    expect({ code: both.code, hits: sum(stats, 'hits'), invalid: sum(stats, 'invalid'), stderr: both.stderr }).toEqual({
      code: 0,
      hits: 200,
      invalid: 0,
      stderr: '',
    });
    expect(sectionsOf(stats)).toEqual(['/a', '/b']);
    expect({ code: none.code, stderr: none.stderr, stdout: none.stdout }).toEqual({
      code: 1,
      stderr: `error: cannot read ${path.join(dir, '*.nothing')}: no file matches\n`,
      stdout: '',
    });
  });

  scenario("8. a glob over rotated names (access.log*): a rotated file compressed to .gz is not read", async (start) => {
    const dir = tmpDir('gz-glob');
    const log = path.join(dir, 'access.log');
    fs.writeFileSync(log, lines('old', 0, 10));
    const m = start(argsFor([path.join(dir, 'access.log*')], []));
    await m.ready();
    fs.appendFileSync(log, lines('live', 0, 40));
    await m.mustReach(40);
    fs.renameSync(log, `${log}.1`);
    fs.writeFileSync(log, lines('live', 40, 30));
    await m.mustReach(70);
    await Bun.sleep(300); // rotated a while ago
    // logrotate's compress: the .gz is written, then the rotated file removed.
    fs.writeFileSync(`${log}.1.gz`, gzipSync(lines('gz', 0, 500)));
    fs.unlinkSync(`${log}.1`);
    await Bun.sleep(300); // a few looks with the .gz there
    fs.appendFileSync(log, lines('live', 70, 20));
    const o = await finish(m, 90);
    expectCounted(o, 90, m);
    expect(sectionsOf(o.stats)).toEqual(['/live']);
  });

  scenario('17. a folder that cannot be searched: "permission denied", not "waiting for"', async (start) => {
    const dir = tmpDir('locked');
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked);
    const log = path.join(locked, 'access.log');
    fs.writeFileSync(log, lines('old', 0, 10));
    protect(locked, 0o700);
    const m = start(argsFor([log], []), 'ignore', { unprivileged: true });
    await m.ready();
    const said = `cannot read ${log}: permission denied`;
    await m.err.waitForLine(said, 5_000, (l) => l.includes(said));
    expect(await m.nextStats(2)).toBe(true);
    const o = await finish(m, 0);
    expectCounted(o, 0, m);
    expect(o.stderr).not.toContain('waiting for');
    expectShowing(m, countIn(m, said), 1);
  });
});
