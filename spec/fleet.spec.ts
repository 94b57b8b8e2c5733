/**
 * The fleet as real processes: a real nats-server (127.0.0.1, a free port, stopped by its PID in
 * afterAll), agents following files that `generate` writes live, and the centre (`--nats`).
 * Each host writes under the threshold and the fleet over it: the centre alerts as a replay of
 * all the files together does, and its hits add up to the lines written, also when an agent is
 * killed with SIGKILL in the middle and started again; and `--replay --since` of the stream
 * prints what the live centre printed.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineReader } from './support/line-reader';
import { type EntryProcess, exitWithin, isStats, parseStats, spawnEntry, type StatsRecord, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers, wipeStore } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-fleet-'));
const started: EntryProcess<'ignore'>[] = [];
afterAll(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The alert settings of every run here: over 5 req/s on average over 10 s. */
const ALERT = ['-t', '5', '-a', '10', '-s', '5', '--json'];

function spawn(args: string[]) {
  const startedAt = Date.now();
  const p = spawnEntry(args);
  started.push(p);
  return { proc: p, out: new LineReader(p.stdout), err: new LineReader(p.stderr), startedAt };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** A CLF line's timestamp, ms. */
function stampOf(line: string): number {
  const [, d, mon, y, h, m, s, off] = /\[(\d\d)\/(\w{3})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\]/.exec(line)!;
  const offset = (Number(off!.slice(0, 3)) * 60 + Math.sign(Number(off!.slice(0, 3)) || 1) * Number(off!.slice(3))) * 60_000;
  return Date.UTC(Number(y), MONTHS.indexOf(mon!), Number(d), Number(h), Number(m), Number(s)) - offset;
}

const agent = (file: string, name: string, url: string) =>
  spawn(['agent', '-f', file, '--nats', url, '--name', name, '--poll-ms', '100']);

/** `generate` writing `rate` lines a second, stamped now, for `seconds` (resolves when done). */
async function write(file: string, rate: number, seconds: number) {
  const g = spawn(['generate', '-f', file, '-r', String(rate), '-d', String(seconds), '--seed', String(rate * 7 + seconds)]);
  expect(await exitWithin(g.proc, (seconds + 10) * 1000)).toBe(0);
}

const lineCount = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
const alertsOf = (lines: string[]) => lines.filter((l) => l.startsWith('{"type":"alert"'));

describe('the fleet (nats-server, agents, centre)', () => {
  test(
    'three hosts under the threshold, over it together: the centre alerts as a replay of the three files, its hits add up, and an agent killed with SIGKILL and restarted loses no line and counts none twice',
    async () => {
      const server = await startNatsServer();
      const since = new Date().toISOString();
      const centre = spawn(['--nats', server.url, ...ALERT]);
      await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const files = ['web-1', 'web-2', 'web-3'].map((n) => path.join(dir, `${n}.log`));
      for (const f of files) fs.writeFileSync(f, '');
      const agents = files.map((f, i) => agent(f, `web-${i + 1}`, server.url));
      await centre.err.waitForLine('three agents', 15_000, () => centre.err.lines.filter((l) => / is reporting$/.test(l)).length === 3);

      // 2 + 2 + 2 = 6 req/s for 12 s: over 5 together, each host well under it.
      const writing = Promise.all(files.map((f) => write(f, 2, 12)));
      // web-2 is killed in the middle of it and started again a second later.
      await Bun.sleep(5_000);
      agents[1]!.proc.kill('SIGKILL');
      await agents[1]!.proc.exited;
      await Bun.sleep(1_000);
      const again = agent(files[1]!, 'web-2', server.url);
      await again.err.waitForLine('the restart', 10_000, (l) => l.startsWith('going on from message'));
      await writing;

      const written = files.reduce((n, f) => n + lineCount(f), 0);
      expect(written).toBe(3 * 2 * 12);
      // Counted, and the window emptied (recovery) before the centre is stopped.
      const counted = () => sum(parseStats(centre.out.lines), 'hits');
      await centre.out.until(30_000, (ls) => alertsOf(ls).length > 0 && ls.some((l) => l.startsWith('{"type":"recovered"')) && counted() >= written);
      for (const a of [agents[0]!, again, agents[2]!]) a.proc.kill('SIGTERM');
      for (const a of [agents[0]!, again, agents[2]!]) expect(await exitWithin(a.proc, 8_000)).toBe(0);
      await Bun.sleep(2_000); // the agents' last messages reach the centre
      centre.proc.kill('SIGTERM');
      expect(await exitWithin(centre.proc, 8_000)).toBe(0);
      await centre.out.done;

      const transcript = `centre stderr:\n${centre.err.lines.join('\n')}\ncentre stdout (not stats):\n${centre.out.lines.filter((l) => !isStats(l)).join('\n')}`;
      expect({ counted: counted(), invalid: sum(parseStats(centre.out.lines), 'invalid') }, transcript).toEqual({ counted: written, invalid: 0 });

      // The same alert as a replay of the three files together (same instant, same hits).
      const replay = Bun.spawnSync([process.execPath, 'entry.ts', '--replay', ...files.flatMap((f) => ['-f', f]), ...ALERT], {
        cwd: path.resolve(import.meta.dir, '..'),
        env: { ...process.env, TZ: 'UTC' },
      });
      const replayed = alertsOf(replay.stdout.toString().split('\n'));
      expect(replayed.length).toBeGreaterThan(0);
      expect(alertsOf(centre.out.lines), transcript).toEqual(replayed);
      expect(centre.out.lines.filter((l) => l.startsWith('{"type":"recovered"'))).toHaveLength(1);

      // Every interval but the final one is -s long (the first one too: nothing arrives before the root has started).
      const lengths = parseStats(centre.out.lines).filter((r) => !r.final).map((r) => Date.parse(r.end) - Date.parse(r.start));
      expect(new Set(lengths)).toEqual(new Set([5000]));

      // The stats name the agents.
      expect(parseStats<StatsRecord & { agents?: unknown }>(centre.out.lines).at(-1)!.agents).toEqual({ reporting: ['web-1', 'web-2', 'web-3'], silent: [] });

      // The stream's history replayed (an incident from last night): the same alert lines and hits.
      const history = spawn(['--nats', server.url, '--replay', '--since', since, ...ALERT]);
      expect(await exitWithin(history.proc, 20_000)).toBe(0);
      await history.out.done;
      const said = (lines: string[]) => lines.filter((l) => !isStats(l));
      expect(said(history.out.lines), history.err.lines.join('\n')).toEqual(said(centre.out.lines));
      expect(sum(parseStats(history.out.lines), 'hits')).toBe(written);
      // Written to a file (written at once, not through a pipe): all of it, not cut after the alert.
      const file = path.join(dir, 'history.ndjson');
      const toFile = Bun.spawn([process.execPath, 'entry.ts', '--nats', server.url, '--replay', '--since', since, ...ALERT], {
        cwd: path.resolve(import.meta.dir, '..'),
        env: { ...process.env, TZ: 'UTC' },
        stdout: Bun.file(file),
        stderr: 'ignore',
      });
      started.push(toFile as unknown as EntryProcess<'ignore'>);
      expect(await exitWithin(toFile as unknown as EntryProcess<'ignore'>, 20_000)).toBe(0);
      expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toEqual(history.out.lines.filter(Boolean));
    },
    120_000,
  );

  test(
    'the centre killed during an alert and started again: no second alert line, one recovery line, from the state the stream rebuilt',
    async () => {
      const server = await startNatsServer();
      const first = spawn(['--nats', server.url, ...ALERT]);
      await first.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const files = ['a', 'b'].map((n) => path.join(dir, `restart-${n}.log`));
      for (const f of files) fs.writeFileSync(f, '');
      const agents = files.map((f, i) => agent(f, `host-${i + 1}`, server.url));
      // On a stream of its own, an agent whose history a brand-new centre will read first.
      const freshFile = path.join(dir, 'restart-fresh.log');
      fs.writeFileSync(freshFile, '');
      const freshAgent = spawn(['agent', '-f', freshFile, '--nats', server.url, '--stream', 'OTHER', '--name', 'fresh', '--poll-ms', '100']);
      await first.err.waitForLine('two agents', 15_000, () => first.err.lines.filter((l) => / is reporting$/.test(l)).length === 2);
      await freshAgent.err.waitForLine('the fresh agent', 15_000, (l) => /publish|follow/.test(l));
      const writing = Promise.all([...files.map((f) => write(f, 4, 18)), write(freshFile, 3, 18)]); // 8 req/s together, over 5
      await first.out.waitForLine('the alert', 20_000, (l) => l.startsWith('{"type":"alert"'));
      first.proc.kill('SIGKILL');
      await first.proc.exited;
      const second = spawn(['--nats', server.url, ...ALERT]);
      // A brand-new centre, with seconds of history in its stream: its intervals begin at its start.
      const fresh = spawn(['--nats', server.url, '--stream', 'OTHER', ...ALERT]);
      await writing;
      await second.out.until(30_000, (ls) => ls.some((l) => l.startsWith('{"type":"recovered"')));
      await Bun.sleep(1_500); // nothing more comes
      for (const a of [...agents, freshAgent]) a.proc.kill('SIGTERM');
      for (const a of [...agents, freshAgent]) expect(await exitWithin(a.proc, 8_000)).toBe(0);
      await Bun.sleep(1_500); // the agents' last messages reach the centres
      for (const c of [second, fresh]) c.proc.kill('SIGTERM');
      for (const c of [second, fresh]) expect(await exitWithin(c.proc, 8_000)).toBe(0);
      await Promise.all([second.out.done, fresh.out.done]);
      const said = second.out.lines.filter((l) => !isStats(l));
      const transcript = `first centre:\n${first.out.lines.join('\n')}\nsecond centre:\n${second.out.lines.join('\n')}\n${second.err.lines.join('\n')}`;
      expect(said.map((l) => JSON.parse(l).type), transcript).toEqual(['recovered']);
      expect(alertsOf(first.out.lines)).toHaveLength(1);

      // The two runs' stats add up to the lines written, each second in exactly one printed
      // interval: the second goes on where the first's printing ended, on its boundaries.
      const written = files.reduce((n, f) => n + lineCount(f), 0);
      const [before, after] = [parseStats(first.out.lines), parseStats(second.out.lines)];
      expect(before.length, transcript).toBeGreaterThan(0);
      expect(sum(before, 'hits') + sum(after, 'hits'), transcript).toBe(written);
      const all = [...before, ...after];
      for (let i = 1; i < all.length; i++) expect(all[i]!.start, transcript).toBe(all[i - 1]!.end);
      const anchor = Date.parse(before[0]!.start);
      for (const r of after.filter((r) => !r.final)) expect((Date.parse(r.end) - anchor) % 5000, transcript).toBe(0);
      expect(second.err.lines.filter((l) => l.startsWith('resuming from the record')), transcript).toHaveLength(1);

      // The new centre printed nothing from before its start (not the history it read first), and
      // every line from its start on.
      const freshStats = parseStats(fresh.out.lines);
      const freshStart = Date.parse(freshStats[0]!.start);
      const freshT = `new centre:\n${fresh.out.lines.join('\n')}\n${fresh.err.lines.join('\n')}`;
      expect(freshStart, freshT).toBeGreaterThanOrEqual(Math.floor(fresh.startedAt / 1000) * 1000);
      expect(freshStart, freshT).toBeLessThan(fresh.startedAt + 5_000);
      const stamped = fs.readFileSync(freshFile, 'utf8').split('\n').filter(Boolean).map(stampOf);
      expect(stamped.filter((t) => t < freshStart).length, freshT).toBeGreaterThan(10);
      expect(sum(freshStats, 'hits'), freshT).toBe(stamped.filter((t) => t >= freshStart).length);
    },
    120_000,
  );

  test(
    'an alert that began longer ago than the window a restart reads is not announced again; its recovery says when it began',
    async () => {
      const server = await startNatsServer();
      // -a 4 -s 2: a restart reads 4 + 2 + 10 s of history; the alert is 25 s old when the centre is killed.
      const FLAGS = ['-t', '5', '-a', '4', '-s', '2', '--json'];
      const first = spawn(['--nats', server.url, ...FLAGS]);
      await first.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const file = path.join(dir, 'old-alert.log');
      fs.writeFileSync(file, '');
      const a = agent(file, 'old-alert', server.url);
      await first.err.waitForLine('the agent', 15_000, (l) => / is reporting$/.test(l));
      const writing = write(file, 8, 36);
      const alert = JSON.parse(await first.out.waitForLine('the alert', 20_000, (l) => l.startsWith('{"type":"alert"')));
      await Bun.sleep(25_000);
      first.proc.kill('SIGKILL');
      await first.proc.exited;
      const second = spawn(['--nats', server.url, ...FLAGS]);
      await writing;
      await second.out.until(30_000, (ls) => ls.some((l) => l.startsWith('{"type":"recovered"')));
      a.proc.kill('SIGTERM');
      second.proc.kill('SIGTERM');
      expect(await exitWithin(second.proc, 8_000)).toBe(0);
      await second.out.done;
      const said = second.out.lines.filter((l) => l && !isStats(l)).map((l) => JSON.parse(l));
      const t = `second centre:\n${second.out.lines.join('\n')}\n${second.err.lines.join('\n')}`;
      expect(said.map((r) => r.type), t).toEqual(['recovered']);
      expect(said[0].since, t).toBe(alert.at);
    },
    120_000,
  );

  test(
    'a forged record on the centre\'s subject (garbage, or times a year ahead to mute every alert) is ignored with one warning',
    async () => {
      const server = await startNatsServer();
      const { connectNats, ensureStream, jetstream, publishCounts } = await import('../lib/nats');
      const nc = await connectNats(server.url);
      const year = Date.now() + 365 * 86_400_000;
      const forged = [
        '{not json',
        JSON.stringify({ v: 2, type: 'alert', at: year, alertsUntil: year, statsUntil: year, seq: 0, anchor: year, settings: { interval: 2, window: 4, threshold: 5 } }),
      ];
      for (const [i, body] of forged.entries()) {
        const stream = `FORGED${i}`;
        try {
          await ensureStream(nc, { name: stream, subjects: [`hlm.${stream}.counts.>`] });
          await publishCounts(jetstream(nc), `hlm.${stream}.counts._centre`, Buffer.from(body), `forged:${i}`);
        } catch (error) {
          await nc.close();
          throw error;
        }
        const c = spawn(['--nats', server.url, '--stream', stream, '-t', '5', '-a', '4', '-s', '2', '--json']);
        const file = path.join(dir, `forged-${i}.log`);
        fs.writeFileSync(file, '');
        const a = spawn(['agent', '-f', file, '--nats', server.url, '--stream', stream, '--name', `forged-${i}`, '--poll-ms', '100']);
        await c.err.waitForLine('the agent', 15_000, (l) => / is reporting$/.test(l));
        await write(file, 10, 6);
        await c.out.waitForLine('the alert', 15_000, (l) => l.startsWith('{"type":"alert"'));
        a.proc.kill('SIGTERM');
        c.proc.kill('SIGTERM');
        expect(await exitWithin(c.proc, 8_000)).toBe(0);
        await c.err.done;
        expect(c.err.lines.filter((l) => l.includes('does not check out')), c.err.lines.join('\n')).toHaveLength(1);
      }
      await nc.close();
    },
    120_000,
  );

  test(
    'the server back with an empty store: the centre makes the stream again or finds it made, reads it from its start, and counts on',
    async () => {
      const server = await startNatsServer();
      const centre = spawn(['--nats', server.url, '--json', '-s', '2', '-t', '1000']);
      await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const file = path.join(dir, 'wiped.log');
      fs.writeFileSync(file, '');
      const a = agent(file, 'wiped', server.url);
      await centre.err.waitForLine('the agent', 15_000, (l) => / is reporting$/.test(l));
      await write(file, 5, 3);
      const counted = () => sum(parseStats(centre.out.lines), 'hits');
      await centre.out.until(10_000, () => counted() >= lineCount(file));
      await server.stop();
      wipeStore(server);
      await server.restart();
      await centre.err.waitForLine('the stream made anew', 15_000, (l) => l.includes('was made anew'));
      await write(file, 5, 4);
      const written = lineCount(file);
      await centre.out.until(15_000, () => counted() >= written);
      a.proc.kill('SIGTERM');
      expect(await exitWithin(a.proc, 8_000)).toBe(0);
      await Bun.sleep(1_500);
      centre.proc.kill('SIGTERM');
      expect(await exitWithin(centre.proc, 8_000)).toBe(0);
      await Promise.all([centre.out.done, centre.err.done]);
      const t = `centre:\n${centre.err.lines.join('\n')}\nagent:\n${a.err.lines.join('\n')}`;
      expect(counted(), t).toBe(written);
      expect(centre.err.lines.filter((l) => l.includes('was made anew')), t).toHaveLength(1);
    },
    90_000,
  );

  test(
    'a centre stopped while it waits for its first message exits 0 at once, with its final record',
    async () => {
      const server = await startNatsServer();
      for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
        const centre = spawn(['--nats', server.url, '--stream', `WAIT${signal}`, '--json']);
        await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
        centre.proc.kill(signal);
        expect(await exitWithin(centre.proc, 3_000), `${signal}: ${centre.err.lines.join('\n')}`).toBe(0);
        await centre.out.done;
        const records = centre.out.lines.filter(Boolean).map((l) => JSON.parse(l));
        expect(records.map((r) => [r.type, r.hits, r.final])).toEqual([['stats', 0, true]]);
      }
    },
    60_000,
  );

  test(
    'the NATS server stopped for 10 s and started again: agents read on and publish when it is back, the centre says so once, and every line is counted',
    async () => {
      const server = await startNatsServer();
      const centre = spawn(['--nats', server.url, ...ALERT, '-t', '1000']);
      await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const file = path.join(dir, 'outage.log');
      fs.writeFileSync(file, '');
      const a = agent(file, 'outage', server.url);
      await centre.err.waitForLine('the agent', 15_000, (l) => / is reporting$/.test(l));
      const writing = write(file, 20, 16);
      await Bun.sleep(3_000);
      await server.stop();
      await Bun.sleep(10_000);
      await server.restart();
      await writing;
      const written = lineCount(file);
      const counted = () => sum(parseStats(centre.out.lines), 'hits');
      await centre.out.until(30_000, () => counted() >= written);
      await Bun.sleep(1_500);
      a.proc.kill('SIGTERM');
      expect(await exitWithin(a.proc, 8_000)).toBe(0);
      centre.proc.kill('SIGTERM');
      expect(await exitWithin(centre.proc, 8_000)).toBe(0);
      await centre.out.done;
      const transcript = `centre:\n${centre.err.lines.join('\n')}\nagent:\n${a.err.lines.join('\n')}`;
      expect(counted(), transcript).toBe(written);
      expect(centre.err.lines.filter((l) => l.startsWith('lost the connection')), transcript).toHaveLength(1);
      expect(centre.err.lines.filter((l) => l.includes('has not reported')), transcript).toEqual([]);
    },
    120_000,
  );

  test(
    'messages that do not decode (not JSON, another version) are counted and said once an interval, and the centre goes on',
    async () => {
      const server = await startNatsServer();
      const centre = spawn(['--nats', server.url, '--json', '-s', '2', '-t', '1000']);
      await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const file = path.join(dir, 'wire.log');
      fs.writeFileSync(file, '');
      const a = agent(file, 'honest', server.url);
      await centre.err.waitForLine('the agent', 15_000, (l) => / is reporting$/.test(l));
      const { connectNats, jetstream, publishCounts } = await import('../lib/nats');
      const nc = await connectNats(server.url);
      try {
        const js = jetstream(nc);
        await publishCounts(js, 'hlm.counts.liar', Buffer.from('{not json'), 'liar:1');
        await publishCounts(js, 'hlm.counts.liar', Buffer.from(JSON.stringify({ v: 99 })), 'liar:2');
      } finally {
        await nc.close();
      }
      const said = await centre.err.waitForLine('the summary', 10_000, (l) => l.includes('could not be read'));
      expect(said).toBe('warn: 2 messages could not be read (unknown version 99)');
      await write(file, 5, 3);
      const written = lineCount(file);
      await centre.out.until(15_000, () => sum(parseStats(centre.out.lines), 'hits') >= written);
      a.proc.kill('SIGTERM');
      expect(await exitWithin(a.proc, 8_000)).toBe(0);
      centre.proc.kill('SIGTERM');
      expect(await exitWithin(centre.proc, 8_000)).toBe(0);
      await centre.out.done;
      expect(sum(parseStats(centre.out.lines), 'hits')).toBe(written);
      expect(centre.err.lines.filter((l) => l.includes('could not be read'))).toHaveLength(1);
      expect(centre.err.lines.join('\n')).not.toMatch(/\n\s+at /);
    },
    60_000,
  );
});
