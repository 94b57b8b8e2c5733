/**
 * The tailer's promise, tested on the real process: every complete line written to a followed
 * path is counted exactly once, whatever happens to the file (creation, rotation by rename,
 * copytruncate, truncation, deletion, recreation, partial lines, globs, standard input), and the
 * monitor neither crashes, spins nor leaks descriptors doing so.
 *
 * "Counted" is the sum of `hits` over the monitor's `{"type":"stats",...}` NDJSON lines
 * (`--json -s 1 --poll-ms 100`). Every scenario runs twice: with file-system events as a hint
 * (the default) and with polling alone (`--no-watch`).
 *
 * Method: start the monitor on a temp dir, wait for its first stats line (it is up and has
 * looked at its paths), do the file operations with node:fs, wait (deadline, not assertion)
 * until the counted hits reach the written number, wait 1.5 s more so that double counting would
 * show, then SIGINT it and compare. The pauses inside scenarios only place an operation (let the
 * monitor notice a state); they assert nothing.
 *
 * The scenarios are independent processes in their own directories, so they run concurrently
 * (at most SLOTS monitors at once) to keep the suite short; the fast-rotation one runs alone.
 * The harness (Monitor, finish, expectCounted, scenario) is spec/support/follow-harness.ts,
 * shared with tailer-paths and tailer-streams.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  argsFor,
  exitWithin,
  expectCounted,
  expectShowing,
  finish,
  line,
  lines,
  MODES,
  openFds,
  scenario,
  STACK,
  statsOf,
  sum,
} from './support/follow-harness';

// ---------------------------------------------------------------------------------------------
// Temp dirs

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-life-'));
const tmpDir = (name: string) => fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------

for (const { mode, flags } of MODES) {
  describe(`follow mode (${mode})`, () => {
    scenario('1. a file missing at start, and its directory too, is read from its first byte once created', async (start) => {
      const dir = tmpDir(`missing-${mode}`);
      const log = path.join(dir, 'later/deeper/access.log');
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.mkdirSync(path.dirname(log), { recursive: true });
      fs.writeFileSync(log, lines('s1', 0, 30));
      await Bun.sleep(200);
      fs.appendFileSync(log, lines('s1', 30, 20));
      const o = await finish(m, 50);
      expectCounted(o, 50, m);
    });

    scenario('2. lines already in an existing file are not counted; appended ones are', async (start) => {
      const log = path.join(tmpDir(`existing-${mode}`), 'access.log');
      fs.writeFileSync(log, lines('old', 0, 25));
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('new', 0, 35));
      const o = await finish(m, 35);
      expectCounted(o, 35, m);
      const sections = o.stats.flatMap((s) => s.sections.map((x) => x.section));
      expect(sections).toContain('/new');
      expect(sections).not.toContain('/old');
    });

    scenario('3. rename and create (logrotate): lines still appended to the renamed file are counted too', async (start) => {
      const log = path.join(tmpDir(`rename-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('s3', 0, 100));
      fs.renameSync(log, `${log}.1`);
      // A writer still holding the old file: it appends to it under its new name.
      const writer = fs.openSync(`${log}.1`, 'a');
      try {
        fs.writeSync(writer, lines('s3', 100, 25));
        await Bun.sleep(300); // the monitor notices the rename (the path is missing for a while)
        fs.writeFileSync(log, lines('s3', 125, 70)); // the new file
        await Bun.sleep(300); // the monitor has moved to the new file
        fs.writeSync(writer, lines('s3', 195, 25)); // the writer has not reopened yet
      } finally {
        fs.closeSync(writer);
      }
      const o = await finish(m, 220);
      expectCounted(o, 220, m);
    });

    scenario('4. copytruncate: the lines before the copy and after the truncation are each counted once', async (start) => {
      const log = path.join(tmpDir(`copytruncate-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('s4', 0, 100));
      await m.mustReach(100);
      fs.copyFileSync(log, `${log}.1`);
      fs.truncateSync(log, 0);
      fs.appendFileSync(log, lines('s4', 100, 30));
      const o = await finish(m, 130);
      expectCounted(o, 130, m);
    });

    scenario('5. truncated and refilled past the old offset before the monitor looks: all the new content is counted', async (start) => {
      const log = path.join(tmpDir(`truncate-grow-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('s5', 0, 20));
      await m.mustReach(20);
      // One synchronous step: no poll can fall between the truncation and the new, longer content.
      fs.truncateSync(log, 0);
      fs.appendFileSync(log, lines('s5', 20, 40));
      const o = await finish(m, 60);
      expectCounted(o, 60, m);
    });

    scenario('6. a writer keeping its offset after a truncation: the NUL hole is not a line, the new lines count', async (start) => {
      const log = path.join(tmpDir(`nul-hole-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      const fd = fs.openSync(log, 'r+');
      try {
        // More than MAX_LINE (64 KiB) before the truncation, so that a NUL run glued to the
        // first new line would make it too long.
        const first = Buffer.from(lines('s6', 0, 1000));
        expect(first.length).toBeGreaterThan(65536);
        fs.writeSync(fd, first, 0, first.length, 0);
        let offset = first.length;
        await m.mustReach(1000);
        fs.truncateSync(log, 0); // through another handle
        await Bun.sleep(300); // the monitor sees the file empty
        const second = Buffer.from(lines('s6', 1000, 30));
        fs.writeSync(fd, second, 0, second.length, offset); // leaves a hole of NULs at the head
        offset += second.length;
        await Bun.sleep(300);
        const third = Buffer.from(lines('s6', 1030, 20));
        fs.writeSync(fd, third, 0, third.length, offset);
      } finally {
        fs.closeSync(fd);
      }
      const o = await finish(m, 1050);
      expectCounted(o, 1050, m);
      // No host made of NULs: the hole was not glued to a line.
      const hosts = o.stats.flatMap((s) => s.hosts.map((h) => h.host));
      expect(hosts.filter((h) => h.includes('\u0000'))).toEqual([]);
    });

    scenario('7. deleted and not recreated: its lines count, and the monitor keeps running', async (start) => {
      const log = path.join(tmpDir(`delete-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('s7', 0, 40));
      fs.unlinkSync(log);
      await m.reach(40);
      expect(await m.nextStats(2, 5_000)).toBe(true); // still printing stats after the deletion
      const o = await finish(m, 40);
      expectCounted(o, 40, m);
    });

    scenario('8. deleted and recreated at once with more bytes than the old offset: all counted', async (start) => {
      const log = path.join(tmpDir(`recreate-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      fs.appendFileSync(log, lines('s8', 0, 40));
      fs.unlinkSync(log);
      fs.writeFileSync(log, lines('s8', 40, 80));
      const o = await finish(m, 120);
      expectCounted(o, 120, m);
    });

    scenario('10. a partial line is not counted until its newline arrives, then once', async (start) => {
      const log = path.join(tmpDir(`partial-${mode}`), 'access.log');
      fs.writeFileSync(log, '');
      const m = start(argsFor([log], flags));
      await m.ready();
      const whole = `${line('s10', 5)}\n`;
      const cut = whole.indexOf('HTTP/1.1') + 3;
      fs.appendFileSync(log, lines('s10', 0, 5) + whole.slice(0, cut));
      await m.mustReach(5);
      // Two more intervals (at least a second) with the partial line in the file.
      expect(await m.nextStats(2, 5_000)).toBe(true);
      expect(m.hits()).toBe(5);
      expect(sum(statsOf(m.out.lines), 'invalid')).toBe(0);
      fs.appendFileSync(log, whole.slice(cut));
      const o = await finish(m, 6);
      expectCounted(o, 6, m);
    });

    scenario('11a. several files at once (-f a -f b), one of them created later', async (start) => {
      const dir = tmpDir(`several-${mode}`);
      const [a, b, c] = ['a.log', 'b.log', 'c.log'].map((n) => path.join(dir, n)) as [string, string, string];
      fs.writeFileSync(a, lines('old', 0, 5));
      fs.writeFileSync(b, lines('old', 5, 5));
      const m = start(argsFor([a, b, c], flags));
      await m.ready();
      fs.appendFileSync(a, lines('a', 0, 10));
      fs.appendFileSync(b, lines('b', 0, 15));
      fs.writeFileSync(c, lines('c', 0, 7));
      await Bun.sleep(150);
      fs.appendFileSync(b, lines('b', 15, 5));
      fs.appendFileSync(a, lines('a', 10, 3));
      const o = await finish(m, 40);
      expectCounted(o, 40, m);
      const bySection = new Map<string, number>();
      for (const s of o.stats) for (const x of s.sections) bySection.set(x.section, (bySection.get(x.section) ?? 0) + x.hits);
      expect(Object.fromEntries(bySection)).toEqual({ '/a': 13, '/b': 20, '/c': 7 });
    });

    scenario("11b. a glob (-f 'DIR/*.log', one argument): a matching file created later is read from its head", async (start) => {
      const dir = tmpDir(`glob-${mode}`);
      const x = path.join(dir, 'x.log');
      fs.writeFileSync(x, lines('old', 0, 5));
      fs.writeFileSync(path.join(dir, 'notes.txt'), '');
      const m = start(argsFor([path.join(dir, '*.log')], flags));
      await m.ready();
      fs.appendFileSync(x, lines('x', 0, 10)); // existing match: from its end
      fs.writeFileSync(path.join(dir, 'y.log'), lines('y', 0, 20)); // new match: from its head
      fs.appendFileSync(path.join(dir, 'notes.txt'), lines('txt', 0, 7)); // no match
      await Bun.sleep(200);
      fs.appendFileSync(path.join(dir, 'y.log'), lines('y', 20, 4));
      const o = await finish(m, 34);
      expectCounted(o, 34, m);
      const sections = new Set(o.stats.flatMap((s) => s.sections.map((x) => x.section)));
      expect([...sections].sort()).toEqual(['/x', '/y']);
    });

    scenario('12. standard input (-f -): piped lines are counted, and closing it ends the run with exit 0', async (start) => {
      const m = start(argsFor(['-'], flags), 'pipe');
      const stdin = m.proc.stdin as import('bun').FileSink;
      const all = lines('s12', 0, 200);
      // In pieces that split lines, with pauses so that they arrive separately.
      for (const piece of [all.slice(0, 1000), all.slice(1000, 5003), all.slice(5003)]) {
        stdin.write(piece);
        await stdin.flush();
        await Bun.sleep(150);
      }
      await stdin.end();
      const code = await exitWithin(m.proc, 8_000);
      await Promise.all([m.out.done, m.err.done]);
      const stats = statsOf(m.out.lines);
      expectShowing(m, { code, hits: sum(stats, 'hits'), invalid: sum(stats, 'invalid') }, { code: 0, hits: 200, invalid: 0 });
      expect(stats.filter((s) => s.final)).toHaveLength(1);
      expect(stats.at(-1)!.final).toBe(true);
      expect(m.err.lines.join('\n')).not.toMatch(STACK);
    });
  });
}

// The heavy one runs alone (not concurrently with the others), once per mode.
for (const { mode, flags } of MODES) {
  describe(`fast rotation under load (${mode})`, () => {
    scenario(
      '9. 50 rotations by rename, ~40 ms apart, while thousands of lines a second are appended: all counted, no fd leak',
      async (start) => {
        const log = path.join(tmpDir(`rotate-${mode}`), 'access.log');
        fs.writeFileSync(log, '');
        const m = start(argsFor([log], flags));
        await m.ready();
        const fdsBefore = openFds(m.pid);
        let written = 0;
        const batch = 50;
        for (let rotation = 0; rotation < 50; rotation++) {
          const until = Date.now() + 40;
          while (Date.now() < until) {
            fs.appendFileSync(log, lines('s9', written, batch));
            written += batch;
            await Bun.sleep(4);
          }
          fs.renameSync(log, `${log}.${rotation}`);
        }
        fs.appendFileSync(log, lines('s9', written, batch));
        written += batch;
        expect(written).toBeGreaterThan(5_000);
        await m.reach(written, 15_000);
        // Rotated files may stay open for a grace period (to read what a writer still appends);
        // after it, the descriptors must be back to about what they were.
        const fdsDeadline = Date.now() + 12_000;
        let fdsAfter = openFds(m.pid);
        while (fdsAfter > fdsBefore + 3 && Date.now() < fdsDeadline) {
          await Bun.sleep(100);
          fdsAfter = openFds(m.pid);
        }
        const o = await finish(m, written, 1);
        expectCounted(o, written, m);
        expect(fdsAfter - fdsBefore).toBeLessThanOrEqual(3); // descriptors more than at the start
      },
      60_000,
      test.serial,
    );
  });
}
