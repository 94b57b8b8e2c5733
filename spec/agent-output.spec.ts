/**
 * What an agent says (issue 18): at start, once, where it connected, what it publishes to and
 * follows, and whether it goes on from its checkpoint; at a stop, one line with the messages it
 * published and those left unsent. A real nats-server on 127.0.0.1, the agent as a process.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectNoStack, type Spawned, spawnInto, stopAll } from './support/fleet-process';
import { exitWithin } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-agent-output-'));
const started: Spawned[] = [];
afterAll(async () => {
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const STOPPED = /^stopped on SIGTERM: (\d+) messages? published to hlm\.counts\.out-1, (none left unsent|(\d+) left unsent \(the next start reads their lines again\))$/;

describe('the agent on stderr', () => {
  test('a fresh start, a stop, a restart from the checkpoint, and a stop with the server away', async () => {
    const server = await startNatsServer();
    const file = path.join(dir, 'access.log');
    fs.writeFileSync(file, '');
    const agent = () => spawnInto(started, ['agent', '-f', file, '--nats', server.url, '--name', 'out-1', '--poll-ms', '100']);

    const first = agent();
    await first.err.waitForLine('the start', 10_000, (l) => l.startsWith('starting fresh'));
    expect(first.err.lines).toEqual([
      `agent out-1: connected to ${server.url}, publishing to hlm.counts.out-1 (stream HLM)`,
      `starting fresh (no message on hlm.counts.out-1 yet), from the end of each file; following ${file}`,
    ]);
    first.proc.kill('SIGTERM');
    expect(await exitWithin(first.proc, 8_000)).toBe(0);
    await first.err.done;
    const stop = first.err.lines.at(-1)!.match(STOPPED);
    expect(stop?.[2], first.err.lines.join('\n')).toBe('none left unsent');
    const published = Number(stop![1]);
    expect(published).toBeGreaterThanOrEqual(1);

    // Its last message is where the next run goes on.
    const second = agent();
    await second.err.waitForLine('the restart', 10_000, (l) => l.startsWith('going on from'));
    // (1 file, or 0 when the first run was stopped before its first poll marked the file.) Its
    // last message is a moment old: it watches the subject first, in case another agent is live.
    expect(second.err.lines.slice(1).join('\n').replace(/\([01] files?\)/, '(N files)').replace(/is \d+\.\d s old/, 'is T s old')).toBe(
      `the last message on hlm.counts.out-1 is T s old: watching hlm.counts.out-1 for 3 s in case another agent publishes under --name out-1\n` +
        `going on from message ${published} of hlm.counts.out-1 (N files); following ${file}`,
    );

    // The server goes away: what the agent could not publish is counted as unsent.
    await server.stop();
    second.proc.kill('SIGTERM');
    expect(await exitWithin(second.proc, 10_000)).toBe(0);
    await second.err.done;
    const away = second.err.lines.at(-1)!.match(STOPPED);
    expect(Number(away?.[3]), second.err.lines.join('\n')).toBeGreaterThanOrEqual(1);
    expectNoStack(first, second);
  }, 60_000);
});
