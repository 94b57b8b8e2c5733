/**
 * The fleet through faults, as real processes against a real nats-server (127.0.0.1, a free port,
 * stopped by its PID in afterAll): an agent frozen with SIGSTOP while its file grows (the centre
 * goes on without it, says so once, and counts its lines when it is back), credentials (a token
 * server: the wrong token, the right one, credentials in the URL, a bad URL, a usage error) and
 * TLS with a CA made by openssl. The lines are written here, stamped with the current time (UTC).
 * Every process started is killed in afterAll, also when a test failed; no process may print a
 * stack trace.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectNoStack, failing, type Spawned, spawnInto, stopAll, transcript } from './support/fleet-process';
import { exitWithin, parseStats, type StatsRecord, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-fleet-faults-'));

const started: Spawned[] = [];
const writers: Writer[] = [];

afterAll(async () => {
  for (const w of writers) w.halt();
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const spawn = (args: string[], env: Record<string, string> = {}) => spawnInto(started, args, env);

const agent = (file: string, name: string, url: string, extra: string[] = [], env: Record<string, string> = {}) =>
  spawn(['agent', '-f', file, '--nats', url, '--name', name, '--poll-ms', '100', ...extra], env);

const centre = (url: string, extra: string[], env: Record<string, string> = {}) => spawn(['--nats', url, ...extra], env);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
/** A CLF line stamped `at`, in UTC: `127.0.0.1 - - [02/Dec/2026:01:00:00 +0000] "GET /x HTTP/1.1" 200 1`. */
export function clfLine(at: Date, section = 'x'): string {
  const stamp = `${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;
  return `127.0.0.1 - - [${stamp}] "GET /${section} HTTP/1.1" 200 1`;
}

interface Writer {
  /** Lines appended so far, per file. */
  readonly written: number[];
  total(): number;
  /** Stops writing (idempotent). */
  halt(): void;
}

/** Appends `perSecond` lines a second to each file, stamped now, until halted. */
function startWriting(files: string[], perSecond: number): Writer {
  const written = files.map(() => 0);
  const timer = setInterval(() => {
    const line = clfLine(new Date());
    files.forEach((f, i) => {
      fs.appendFileSync(f, `${line}\n`);
      written[i]!++;
    });
  }, 1000 / perSecond);
  const w: Writer = { written, total: () => written.reduce((a, b) => a + b, 0), halt: () => clearInterval(timer) };
  writers.push(w);
  return w;
}

/** Lines in the file (what was really written). */
const lineCount = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;

interface FleetStats extends StatsRecord {
  late: number;
}
const stats = (s: Spawned) => parseStats<FleetStats>(s.out.lines);
const hits = (s: Spawned) => sum(stats(s), 'hits');

/** Starts the agents on fresh files and waits until the centre says each is reporting. */
async function fleet(url: string, names: string[], c: Spawned, extra: string[] = [], env: Record<string, string> = {}) {
  const files = names.map((n) => path.join(dir, `${n}.log`));
  for (const f of files) fs.writeFileSync(f, '');
  const agents = files.map((f, i) => agent(f, names[i]!, url, extra, env));
  await fleet.reporting(c, names);
  return { files, agents };
}
/** Waits until the centre says each agent is reporting. */
fleet.reporting = (c: Spawned, names: string[]) =>
  c.err.waitForLine('every agent reporting', 15_000, () => names.every((n) => c.err.lines.some((l) => l.endsWith(`agent ${n} is reporting`))));

/** Writes 5 lines a second to each file for `ms`, waits until the centre counted them, and stops everything; the lines written. */
async function countedEndToEnd(c: Spawned, files: string[], agents: Spawned[], ms: number) {
  const w = startWriting(files, 5);
  await Bun.sleep(ms);
  w.halt();
  const written = files.reduce((n, f) => n + lineCount(f), 0);
  await c.out.until(10_000, () => hits(c) >= written);
  for (const a of agents) a.proc.kill('SIGTERM');
  for (const a of agents) expect(await exitWithin(a.proc, 8_000), transcript(a)).toBe(0);
  c.proc.kill('SIGTERM');
  expect(await exitWithin(c.proc, 8_000), transcript(c)).toBe(0);
  await c.out.done;
  await c.err.done;
  return written;
}

describe('the fleet through faults (nats-server, agents, centre)', () => {
  test(
    'an agent frozen with SIGSTOP while its file grows: the centre goes on without it after --agent-timeout, says so once, says once when it is back, and every line is counted',
    async () => {
      const server = await startNatsServer();
      const since = new Date().toISOString();
      const FLAGS = ['--agent-timeout', '3', '--json', '-s', '2', '-t', '1000'];
      // The centre as the issue runs it (alert window 120 s), and one beside it with a 2 s window,
      // shorter than the freeze: the frozen agent's lines reach it older than its window (late).
      const c = centre(server.url, FLAGS);
      const short = centre(server.url, [...FLAGS, '-a', '2', '--name', 'short']);
      const centres = [c, short];
      for (const x of centres) await x.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const names = ['web-1', 'web-2', 'web-3'];
      const { files, agents } = await fleet(server.url, names, c);
      await fleet.reporting(short, names);
      const frozen = agents[1]!;
      const silentLine = /agent web-2 has not reported for (\d+) s; the clock goes on without it$/;
      const backLine = /agent web-2 is reporting again$/;

      const w = startWriting(files, 5);
      await Bun.sleep(2_000);
      frozen.proc.kill('SIGSTOP');
      const frozenAt = Date.now();
      const writtenAtFreeze = w.written[1]!;
      const notice = await c.err.waitForLine('the silence notice', 8_000, (l) => silentLine.test(l));
      const noticeAfterMs = Date.now() - frozenAt;
      // The seconds up to here were evaluated without web-2 by the time it is back.
      const writtenUntilNotice = w.written[1]!;
      const before = stats(c).length;
      const lastEndBefore = stats(c).at(-1)?.end ?? '';
      // The clock moves on without web-2: stats records go on, ending later and later.
      await c.out.waitFor('two stats records while web-2 is frozen', 8_000, () => stats(c).length >= before + 2);
      await Bun.sleep(Math.max(0, 7_000 - (Date.now() - frozenAt))); // frozen 7 s in all
      const whileFrozen = stats(c).slice(before);
      const frozenMs = Date.now() - frozenAt;
      const writtenWhileFrozen = w.written[1]!;
      frozen.proc.kill('SIGCONT');
      for (const x of centres) await x.err.waitForLine('web-2 back', 8_000, (l) => backLine.test(l));
      await Bun.sleep(2_000);
      w.halt();

      const written = files.reduce((n, f) => n + lineCount(f), 0);
      expect(written).toBe(w.total());
      for (const x of centres) await x.out.until(10_000, () => hits(x) >= written);
      // What the centres said before the fleet is stopped (agents stopped later may be taken for silent, rightly).
      const said = centres.map((x) => [...x.err.lines]);
      for (const a of agents) a.proc.kill('SIGTERM');
      for (const a of agents) expect(await exitWithin(a.proc, 8_000), transcript(a)).toBe(0);
      await Bun.sleep(2_000);
      for (const x of centres) x.proc.kill('SIGTERM');
      for (const x of centres) expect(await exitWithin(x.proc, 8_000), transcript(x)).toBe(0);
      for (const x of centres) await Promise.all([x.out.done, x.err.done]);

      // The stream replayed, with the live centre's -s, -a and -t as recorded in the stream: the
      // intervals the live centre printed, with their hits and late lines, web-2's outage included.
      const history = spawn(['--nats', server.url, '--replay', '--since', since, '--json', '--agent-timeout', '3']);
      expect(await exitWithin(history.proc, 20_000), transcript(history)).toBe(0);
      await Promise.all([history.out.done, history.err.done]);
      expect(history.err.lines, transcript(history)).toContain("the live centre's settings, recorded in the stream: -s 2 -a 120 -t 1000");
      const live = stats(c).filter((r) => !r.final);
      const replayed = stats(history).filter((r) => !r.final);
      const key = (r: FleetStats) => `${r.start} → ${r.end}: ${r.hits} hits, ${r.late} late`;
      // From the live centre's first interval on (the stream holds the agents' first seconds before it).
      const upTo = (rs: FleetStats[], end: string) => rs.filter((r) => r.start >= live[0]!.start && r.end <= end).map(key);
      const last = [live.at(-1)!.end, replayed.at(-1)!.end].sort()[0]!;
      expect(upTo(replayed, last).join('\n'), transcript(history)).toBe(upTo(live, last).join('\n'));
      expect(upTo(live, last).length).toBeGreaterThan(5);

      const ends = [lastEndBefore, ...whileFrozen.map((s) => s.end)].filter(Boolean).map((e) => Date.parse(e));
      centres.forEach((x, i) => {
        const all = stats(x);
        const counted = sum(all, 'hits');
        const late = all.reduce((n, s) => n + s.late, 0);
        const odd = all.filter((s) => !s.final && Date.parse(s.end) - Date.parse(s.start) !== 2_000);
        const t = `${transcript(x, ...agents)}\nstats:\n${x.out.lines.join('\n')}`;
        console.log(
          `[silent agent${i === 0 ? '' : ', -a 2'}] written ${written} (web-2 ${w.written[1]} of them, ${writtenWhileFrozen} by SIGCONT), ` +
            (i === 0
              ? `frozen ${frozenMs} ms, notice after ${noticeAfterMs} ms: '${notice}'; ${whileFrozen.length} stats records after it while frozen ` +
                `(end ${lastEndBefore.slice(11, 19)} → ${whileFrozen.map((s) => s.end.slice(11, 19)).join(', ')}); `
              : '') +
            `counted ${counted}, late ${late}, ${all.length} stats records` +
            (odd.length ? `; not 2 s long: ${odd.map((s) => `${s.start.slice(11, 19)}→${s.end.slice(11, 19)} (${s.hits} hits)`).join(', ')}` : ''),
        );
        expect(said[i]!.filter((l) => silentLine.test(l)), t).toHaveLength(1);
        expect(said[i]!.filter((l) => backLine.test(l)), t).toHaveLength(1);
        // No other agent was taken for silent while the fleet ran.
        expect(said[i]!.filter((l) => l.includes('has not reported') && !silentLine.test(l)), t).toEqual([]);
        // Every line counted, once: web-2's lines from its frozen seconds too.
        expect({ counted, invalid: sum(all, 'invalid') }, t).toEqual({ counted: written, invalid: 0 });
        // web-2's lines that arrive after their second was evaluated are late, whatever the window
        // (with the default one they still count for the alert; older than a 2 s window, not).
        expect(late, t).toBeGreaterThanOrEqual(writtenUntilNotice - writtenAtFreeze);
        expect(late, t).toBeLessThanOrEqual(w.written[1]! - writtenAtFreeze + 10);
      });
      // The clock went on while web-2 was frozen: records kept coming, their ends never going back, the last at least an interval on.
      const t = `${transcript(c)}\nstats:\n${c.out.lines.join('\n')}`;
      expect(whileFrozen.length, t).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < ends.length; i++) expect(ends[i]!, t).toBeGreaterThanOrEqual(ends[i - 1]!);
      expect(ends.at(-1)! - ends[0]!, t).toBeGreaterThanOrEqual(2_000);
      expectNoStack(...centres, ...agents);
    },
    45_000,
  );

  test(
    'a message that speaks for another agent, or whose clock is a year ahead, is a bad message; with every agent stopped, the clock goes on and the alert recovers',
    async () => {
      const server = await startNatsServer();
      const c = centre(server.url, ['--json', '-s', '2', '-a', '4', '-t', '3', '--agent-timeout', '2']);
      await c.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const { files, agents } = await fleet(server.url, ['honest'], c);
      const w = startWriting(files, 10);
      await c.out.waitForLine('the alert', 15_000, (l) => l.startsWith('{"type":"alert"'));
      // A publisher on the account: honest's name on another subject, and a clock a year ahead on its own.
      const { connectNats, jetstream, publishCounts } = await import('../lib/nats');
      const { encode } = await import('../lib/wire');
      const nc = await connectNats(server.url);
      const now = Math.floor(Date.now() / 1000);
      try {
        const js = jetstream(nc);
        const body = (agent: string, clock: number) => encode({ v: 1, agent, seq: 1, clock, segments: [], files: [] });
        await publishCounts(js, 'hlm.counts.liar', body('honest', now + 365 * 86_400), 'forged:1');
        await publishCounts(js, 'hlm.counts.liar', body('liar', now + 365 * 86_400), 'forged:2');
      } finally {
        await nc.close();
      }
      await c.err.waitForLine('the summary', 10_000, (l) => l.includes('could not be read'));
      w.halt();
      const written = lineCount(files[0]!);
      // Then every agent stops: nobody reports, and the alert must still recover.
      agents[0]!.proc.kill('SIGTERM');
      expect(await exitWithin(agents[0]!.proc, 8_000)).toBe(0);
      await c.out.until(20_000, (ls) => ls.some((l) => l.startsWith('{"type":"recovered"')));
      c.proc.kill('SIGTERM');
      expect(await exitWithin(c.proc, 8_000), transcript(c)).toBe(0);
      await Promise.all([c.out.done, c.err.done]);
      const t = `${transcript(c)}\nstdout:\n${c.out.lines.join('\n')}`;
      expect(c.err.lines.filter((l) => l.includes('could not be read')), t).toEqual(['warn: 2 messages could not be read (agent liar\'s clock is ' + new Date((now + 365 * 86_400) * 1000).toISOString() + ', ahead of this clock)']);
      // The fleet's clock never went a year ahead: the last record ends about now.
      const last = stats(c).at(-1)!;
      expect(Date.parse(last.end), t).toBeLessThan(Date.now() + 5_000);
      expect(hits(c), t).toBe(written);
      expectNoStack(c, ...agents);
    },
    60_000,
  );

  test(
    'a token-protected server: the wrong token exits 1 with one line (agent and centre), the right one works; credentials in the URL, a bad URL and an unknown flag are refused',
    async () => {
      const server = await startNatsServer({ token: 's3cret' });
      const file = path.join(dir, 'token.log');
      fs.writeFileSync(file, '');
      const wrong = { NATS_TOKEN: 'wrong' };
      const refusals = await Promise.all([
        failing(agent(file, 'intruder', server.url, [], wrong), 8_000),
        failing(centre(server.url, ['--json', '-t', '1000'], wrong), 8_000),
        failing(agent(file, 'no-token', server.url), 8_000),
      ]);
      const onCommandLine = 'nats://user:pass@127.0.0.1:4222';
      const urls = await Promise.all([
        failing(agent(file, 'u', onCommandLine), 8_000),
        failing(centre(onCommandLine, ['--json']), 8_000),
        failing(agent(file, 'u', 'foo://x'), 8_000),
        failing(centre('foo://x', ['--json']), 8_000),
      ]);
      const usage = await failing(spawn(['agent', '-f', file, '--nats', server.url, '--bogus']), 8_000);
      console.log(
        `[credentials] ${[...refusals, ...urls, usage].map((r) => `exit ${r.code} in ${r.ms} ms: ${r.err.join(' | ')}`).join('\n  ')}`,
      );

      for (const r of refusals) {
        expect(r.code, r.err.join('\n')).toBe(1);
        expect(r.ms).toBeLessThan(5_000 + 1_500); // ~5 s, with Bun's start-up
        expect(r.err, r.err.join('\n')).toHaveLength(1);
        expect(r.err[0]!).toMatch(/^error: .*authorization/i);
        expect(r.out).toEqual([]);
      }
      for (const r of urls.slice(0, 2)) {
        expect(r.code, r.err.join('\n')).toBe(1);
        expect(r.err, r.err.join('\n')).toHaveLength(1);
        expect(r.err[0]!).toMatch(/^error: .*credentials/i);
        expect(r.err[0]!).not.toContain('pass');
      }
      for (const r of urls.slice(2)) {
        expect(r.code, r.err.join('\n')).toBe(1);
        expect(r.err, r.err.join('\n')).toHaveLength(1);
        expect(r.err[0]!).toMatch(/^error: bad NATS URL 'foo:\/\/x'/);
      }
      expect(usage.code, usage.err.join('\n')).toBe(2);
      expect(usage.err[0]!).toMatch(/^error: .*--bogus/);
      expect(usage.err.some((l) => l.startsWith('usage: bun run entry.ts agent'))).toBe(true);

      // The right token: an agent and a centre work end to end.
      const right = { NATS_TOKEN: 's3cret' };
      const c = centre(server.url, ['--json', '-s', '1', '-t', '1000'], right);
      await c.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const { files, agents } = await fleet(server.url, ['token-1'], c, [], right);
      const written = await countedEndToEnd(c, files, agents, 3_000);
      console.log(`[token] written ${written}, counted ${hits(c)}`);
      expect(written).toBeGreaterThan(10);
      expect(hits(c), transcript(c, ...agents)).toBe(written);
      expectNoStack(...started); // every process of this file so far, the refused ones too
    },
    45_000,
  );

  test(
    'TLS with a CA made by openssl: an agent and a centre with --nats-ca work end to end; without it the agent exits 1 with one line about TLS',
    async () => {
      const server = await startNatsServer({ tls: true });
      expect(server.url.startsWith('tls://127.0.0.1:')).toBe(true);
      const ca = ['--nats-ca', server.caFile!];
      const file = path.join(dir, 'no-ca.log');
      fs.writeFileSync(file, '');
      const noCa = await failing(agent(file, 'no-ca', server.url), 15_000);
      console.log(`[tls] without --nats-ca: exit ${noCa.code} in ${noCa.ms} ms: ${noCa.err.join(' | ')}`);
      expect(noCa.code, noCa.err.join('\n')).toBe(1);
      expect(noCa.err, noCa.err.join('\n')).toHaveLength(1);
      expect(noCa.err[0]!).toMatch(/^error: .*TLS/);

      const c = centre(server.url, ['--json', '-s', '1', '-t', '1000', ...ca]);
      await c.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const { files, agents } = await fleet(server.url, ['tls-1'], c, ca);
      const written = await countedEndToEnd(c, files, agents, 3_000);
      console.log(`[tls] written ${written}, counted ${hits(c)}`);
      expect(written).toBeGreaterThan(10);
      expect(hits(c), transcript(c, ...agents)).toBe(written);
      expectNoStack(...started);
    },
    45_000,
  );
});
