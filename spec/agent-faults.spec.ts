/**
 * The agent through faults of its own (issue 21), as real processes against a real nats-server
 * (127.0.0.1, a free port, stopped by its PID in afterAll): a checkpoint that does not decode, a
 * line stamped years ahead, a second with more distinct clients than one message holds, two
 * agents under one --name, and a server back with an empty store. Lines are written here, stamped
 * with the current time (UTC). Every process started is killed in afterAll; none may print a
 * stack trace.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectNats, ensureStream, jetstream, jetstreamManager, lastMessage, type NatsConnection } from '../lib/nats';
import { decode, encode, messageId } from '../lib/wire';
import { expectNoStack, failing, type Spawned, spawnInto, stopAll, transcript } from './support/fleet-process';
import { exitWithin, parseStats, type StatsRecord, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers, wipeStore } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-agent-faults-'));
const started: Spawned[] = [];
const connections: NatsConnection[] = [];
const timers: ReturnType<typeof setInterval>[] = [];

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const nc of connections) await nc.close().catch(() => {});
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const agent = (file: string, name: string, url: string) =>
  spawnInto(started, ['agent', '-f', file, '--nats', url, '--name', name, '--poll-ms', '100']);
const centre = (url: string) => spawnInto(started, ['--nats', url, '--json', '-s', '2', '-t', '100000', '--agent-timeout', '3']);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
function clfLine(at: Date, host = '127.0.0.1'): string {
  const stamp = `${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;
  return `${host} - - [${stamp}] "GET /x HTTP/1.1" 200 1`;
}

/** Appends `perSecond` lines a second, stamped now, until the returned function is called; `written()` counts them. */
function writing(file: string, perSecond: number) {
  let written = 0;
  const timer = setInterval(() => {
    fs.appendFileSync(file, `${clfLine(new Date())}\n`);
    written++;
  }, 1000 / perSecond);
  timers.push(timer);
  return { written: () => written, halt: () => clearInterval(timer) };
}

interface FleetStats extends StatsRecord {
  late: number;
}
const stats = (s: Spawned) => parseStats<FleetStats>(s.out.lines);

async function connect(url: string) {
  const nc = await connectNats(url, { env: {} });
  connections.push(nc);
  return nc;
}

/** Stops the processes with SIGTERM and expects each to exit 0. */
async function stopped(...procs: Spawned[]) {
  for (const p of procs) p.proc.kill('SIGTERM');
  for (const p of procs) expect(await exitWithin(p.proc, 8_000), transcript(p)).toBe(0);
  await Promise.all(procs.flatMap((p) => [p.err.done, p.out.done]));
}

describe('the agent through faults (nats-server, agent, centre)', () => {
  test('a last message that does not decode: the agent says why once and starts fresh from the files’ ends', async () => {
    const server = await startNatsServer();
    const nc = await connect(server.url);
    await ensureStream(nc);
    await jetstream(nc).publish('hlm.counts.garbled', new TextEncoder().encode('{"v":1,"agent":"garbled","seq":'));
    const file = path.join(dir, 'garbled.log');
    fs.writeFileSync(file, `${clfLine(new Date())}\n`);
    const a = agent(file, 'garbled', server.url);
    const line = await a.err.waitForLine('the start', 10_000, (l) => /checkpoint|going on|fresh/.test(l));
    expect(line).toBe(`the checkpoint (message 1 of stream HLM) could not be read (not JSON): starting fresh, from the end of each file; following ${file}`);
    // It publishes, from the end of the file: a line written now is in its next checkpoint.
    fs.appendFileSync(file, `${clfLine(new Date())}\n`);
    const size = fs.statSync(file).size;
    const jsm = await jetstreamManager(nc);
    let offset = -1;
    for (const end = Date.now() + 8_000; Date.now() < end && offset !== size; await Bun.sleep(100)) {
      const last = await lastMessage(jsm, 'HLM', 'hlm.counts.garbled');
      try {
        offset = decode(last!.data).files[0]?.offset ?? -1;
      } catch {}
    }
    expect(offset, transcript(a)).toBe(size);
    await stopped(a);
    expect(a.err.lines.filter((l) => l.includes('could not be read'))).toHaveLength(1);
    expectNoStack(a);
  }, 30_000);

  test('one line stamped in 2030 among current ones counts at the current second, and the centre counts every later line on time', async () => {
    const server = await startNatsServer();
    const file = path.join(dir, 'future.log');
    fs.writeFileSync(file, '');
    const c = centre(server.url);
    await c.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
    const a = agent(file, 'future', server.url);
    await c.err.waitForLine('the agent', 15_000, (l) => l.endsWith('agent future is reporting'));
    const w = writing(file, 5);
    await Bun.sleep(2_000);
    fs.appendFileSync(file, `${clfLine(new Date('2030-06-01T12:00:00Z'))}\n`);
    await Bun.sleep(4_000);
    w.halt();
    const written = w.written() + 1;
    const haltedAt = Date.now();
    // Every line, the future one too, within a few seconds of the last one written.
    const onTime = await c.out.until(6_000, () => sum(stats(c), 'hits') >= written);
    const tookMs = Date.now() - haltedAt;
    await stopped(a, c);
    const all = stats(c);
    expect(onTime, `${written} written, ${sum(all, 'hits')} counted; last interval ends ${all.at(-1)?.end}\n${transcript(a, c)}`).toBe(true);
    expect(tookMs).toBeLessThan(6_000);
    expect(sum(all, 'hits')).toBe(written);
    expect(all.reduce((n, s) => n + s.late, 0)).toBe(0);
    // The centre's clock never went to 2030.
    for (const s of all) expect(Date.parse(s.end)).toBeLessThan(Date.now() + 5_000);
    expect(a.err.lines.filter((l) => l.includes('ahead of this host'))).toEqual([
      "warn: a line stamped 2030-06-01T12:00:00.000Z, ahead of this host's clock, counts at the current second (as lines stamped ahead always will)",
    ]);
    expectNoStack(a, c);
  }, 60_000);

  test('a second with 20,000 distinct clients on a server that takes 64 KB a message: every line counted at the centre, no wedge', async () => {
    const conf = path.join(dir, 'small-payload.conf');
    fs.writeFileSync(conf, 'max_payload: 65536\n');
    const server = await startNatsServer({ args: ['-c', conf] });
    const file = path.join(dir, 'busy.log');
    fs.writeFileSync(file, '');
    const c = centre(server.url);
    await c.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
    const a = agent(file, 'busy', server.url);
    await c.err.waitForLine('the agent', 15_000, (l) => l.endsWith('agent busy is reporting'));
    const now = new Date();
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(clfLine(now, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    fs.appendFileSync(file, `${lines.join('\n')}\n`);
    // Then ordinary traffic: the agent is not wedged behind the big second.
    const w = writing(file, 5);
    await Bun.sleep(3_000);
    w.halt();
    const written = lines.length + w.written();
    const counted = await c.out.until(10_000, () => sum(stats(c), 'hits') >= written);
    await stopped(a, c);
    const all = stats(c);
    expect(counted, `${written} written, ${sum(all, 'hits')} counted\n${transcript(a, c)}`).toBe(true);
    expect(sum(all, 'hits')).toBe(written);
    expect(a.err.lines.filter((l) => l.includes('more than the server takes'))).toHaveLength(1);
    expect(a.err.lines.filter((l) => l.startsWith('warning: cannot publish'))).toEqual([]);
    expectNoStack(a, c);
  }, 60_000);

  test('two agents under one --name: the second refuses to start while the first publishes; after the first is killed, one adopts its checkpoint', async () => {
    const server = await startNatsServer();
    const file = path.join(dir, 'twin.log');
    fs.writeFileSync(file, '');
    const first = agent(file, 'twin', server.url);
    await first.err.waitForLine('the start', 10_000, (l) => l.startsWith('starting fresh'));
    const nc = await connect(server.url);
    const jsm = await jetstreamManager(nc);
    let firstInstance: string | undefined;
    for (const end = Date.now() + 5_000; Date.now() < end && !firstInstance; await Bun.sleep(100)) {
      const last = await lastMessage(jsm, 'HLM', 'hlm.counts.twin');
      if (last) firstInstance = decode(last.data).instance;
    }
    expect(firstInstance).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    await Bun.sleep(1_500);
    const second = await failing(agent(file, 'twin', server.url), 15_000);
    expect(second.code).toBe(1);
    expect(second.err.at(-1)).toBe(
      `error: another agent (instance ${firstInstance}) is publishing to hlm.counts.twin: give each agent its own --name (this one is not starting)`,
    );
    // SIGKILLed: it is silent, and the next one goes on from its checkpoint.
    first.proc.kill('SIGKILL');
    await first.proc.exited;
    const third = agent(file, 'twin', server.url);
    const start = await third.err.waitForLine('the start', 15_000, (l) => /^going on from message \d+ of hlm.counts.twin/.test(l) || l.startsWith('error'));
    expect(start, transcript(third)).toStartWith('going on from message');
    expect(third.err.lines.some((l) => l.startsWith('the last message on hlm.counts.twin is'))).toBe(true);
    // Another instance publishing on its subject while it runs: said loudly, once within 10 s.
    const intruder = { v: 1 as const, agent: 'twin', instance: 'intruder-0123456789', seq: 1, clock: Math.floor(Date.now() / 1000) - 2, segments: [], files: [] };
    for (let i = 0; i < 3; i++) {
      await jetstream(nc).publish('hlm.counts.twin', encode({ ...intruder, seq: i + 1 }), { msgID: messageId({ ...intruder, seq: i + 1 }) });
      await Bun.sleep(1_100);
    }
    await third.err.waitForLine('the warning', 5_000, (l) => l.includes('intruder-0123456789'));
    await stopped(third);
    expect(third.err.lines.filter((l) => l.includes('intruder-0123456789'))).toEqual([
      'warning: another agent (instance intruder-0123456789) is publishing to hlm.counts.twin too: give each agent its own --name (the centre counts both)',
    ]);
    expectNoStack(first, third);
  }, 60_000);

  test('the server back with an empty store: the agent makes the stream again, says so once, and publishes on', async () => {
    const server = await startNatsServer();
    const file = path.join(dir, 'wiped.log');
    fs.writeFileSync(file, '');
    const a = agent(file, 'wiped', server.url);
    await a.err.waitForLine('the start', 10_000, (l) => l.startsWith('starting fresh'));
    const w = writing(file, 5);
    await Bun.sleep(1_500);
    await server.stop();
    wipeStore(server);
    await Bun.sleep(1_000);
    await server.restart();
    await a.err.waitForLine('the stream made again', 10_000, (l) => l.includes('created it again'));
    await Bun.sleep(2_000);
    w.halt();
    // Its checkpoint, in the new stream, reaches the end of the file.
    const size = fs.statSync(file).size;
    const nc = await connect(server.url);
    const jsm = await jetstreamManager(nc);
    let offset = -1;
    for (const end = Date.now() + 8_000; Date.now() < end && offset !== size; await Bun.sleep(100)) {
      const last = await lastMessage(jsm, 'HLM', 'hlm.counts.wiped').catch(() => null);
      if (last) offset = decode(last.data).files[0]?.offset ?? -1;
    }
    expect(offset, transcript(a)).toBe(size);
    await stopped(a);
    expect(a.err.lines.filter((l) => l.includes('created it again'))).toEqual([
      `stream HLM was gone from ${server.url} (its store lost?): created it again; publishing on`,
    ]);
    expectNoStack(a);
  }, 60_000);
});
