/**
 * A stream that cannot carry the fleet (issue 21): an agent started on a stream an operator made
 * with limits that would lose or stop its counts says what is wrong in one line, an error and
 * exit 1 for what cannot work, a warning for what may lose counts; a server without JetStream is
 * named with the flag it lacks. Real nats-servers on 127.0.0.1, stopped by their PIDs in afterAll.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectNats, jetstreamManager } from '../lib/nats';
import { expectNoStack, failing, type Spawned, spawnInto, stopAll } from './support/fleet-process';
import { exitWithin } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-agent-stream-'));
const started: Spawned[] = [];
afterAll(async () => {
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const file = path.join(dir, 'access.log');
fs.writeFileSync(file, '');
const agent = (url: string, stream: string) =>
  spawnInto(started, ['agent', '-f', file, '--nats', url, '--name', 'web-1', '--stream', stream, '--poll-ms', '100']);

describe('an agent on a stream that cannot carry the fleet', () => {
  test('what cannot work is one error line and exit 1; what may lose counts is a warning and the agent runs', async () => {
    const server = await startNatsServer();
    const nc = await connectNats(server.url, { env: {} });
    const jsm = await jetstreamManager(nc);
    const made = async (name: string, config: Record<string, unknown>) => {
      await jsm.streams.add({ name, subjects: [`hlm.${name}.counts.>`], ...config } as never);
      return name;
    };
    const cases: [string, string][] = [
      [await made('OTHER', { subjects: ['logs.>'] }),
        "error: stream OTHER takes logs.>, not hlm.OTHER.counts.web-1: add hlm.OTHER.counts.> to its subjects, or give --stream a stream of its own"],
      [await made('FULL', { max_msgs: 100, discard: 'new' }),
        'error: stream FULL refuses new messages once full (discard new, max_msgs 100): the fleet would stop counting; set discard old, or no such limit'],
      [await made('TINY', { max_msg_size: 1000 }),
        "error: stream TINY takes messages of 1000 bytes at most (max_msg_size): too small for an agent's message; set it to -1 (the server's max_payload)"],
      [await made('INTEREST', { retention: 'interest' }),
        "error: stream INTEREST has interest retention: it deletes messages before the centre reads them and loses the agents' checkpoints; it needs limits retention (nats stream edit cannot change it: make it again)"],
    ];
    for (const [stream, line] of cases) {
      const run = await failing(agent(server.url, stream), 15_000);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([line]);
    }
    // It may lose counts: said, and the agent runs.
    await made('SHORT', { max_age: 60e9, max_msg_size: 65_536 });
    const a = agent(server.url, 'SHORT');
    await a.err.waitForLine('the start', 10_000, (l) => l.startsWith('starting fresh'));
    expect(a.err.lines.filter((l) => l.startsWith('warning'))).toEqual([
      `warning: stream SHORT takes messages of 65536 bytes at most (max_msg_size), less than the server's 1048576: a busy second's counts go in several messages; set it to -1 to use the server's`,
      "warning: stream SHORT keeps less than an hour of one agent's messages (max_age 60 s): what it drops before the centre reads it is never counted",
    ]);
    a.proc.kill('SIGTERM');
    expect(await exitWithin(a.proc, 8_000)).toBe(0);
    await nc.close();
    expectNoStack(a);
  }, 90_000);

  test('a server without JetStream: the agent says so and how to start it', async () => {
    const server = await startNatsServer({ jetstream: false });
    const run = await failing(agent(server.url, 'HLM'), 15_000);
    expect(run.code).toBe(1);
    expect(run.err).toEqual([`error: JetStream is not enabled on 127.0.0.1:${server.port} (start nats-server with -js)`]);
  }, 30_000);
});
