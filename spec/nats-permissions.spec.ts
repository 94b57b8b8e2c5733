/**
 * docs/nats-server.conf.example, checked: a real nats-server started with it (its port and store
 * replaced by a free port and a temporary directory), an agent with its own user counts at a
 * centre with the centre's user, and the agent's user cannot publish to another agent's subject
 * or to the centre's record (a permissions violation). Stopped by its PID in afterAll.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectNats, jetstream } from '../lib/nats';
import { expectNoStack, type Spawned, spawnInto, stopAll, transcript } from './support/fleet-process';
import { exitWithin, parseStats, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-nats-permissions-'));
const started: Spawned[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
afterAll(async () => {
  for (const t of timers) clearInterval(t);
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
const clfLine = (at: Date) =>
  `127.0.0.1 - - [${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000] "GET /x HTTP/1.1" 200 1`;

/** The example; its port and store are the helper's -p and -sd (flags override the file; a store_dir in both is refused). */
function config(): string {
  const text = fs.readFileSync(path.join(import.meta.dir, '..', 'docs', 'nats-server.conf.example'), 'utf8');
  expect(text).toContain('store_dir: /var/lib/nats');
  const file = path.join(dir, 'nats-server.conf');
  fs.writeFileSync(file, text.replace('store_dir: /var/lib/nats', '').replace('listen: 0.0.0.0:4222', 'listen: 127.0.0.1:4222'));
  return file;
}

const user = (name: string) => ({ NATS_USER: name, NATS_PASSWORD: `change-me-${name}` });

describe('docs/nats-server.conf.example', () => {
  test('an agent with its own user counts at the centre; it may not publish to another agent’s subject or the centre’s record', async () => {
    const server = await startNatsServer({ args: ['-c', config()] });
    const file = path.join(dir, 'access.log');
    fs.writeFileSync(file, '');
    // The agent first: it makes the stream with its user's rights.
    const a = spawnInto(started, ['agent', '-f', file, '--nats', server.url, '--name', 'web-1', '--poll-ms', '100'], user('web-1'));
    await a.err.waitForLine('the agent started', 10_000, (l) => l.startsWith('starting fresh') || l.startsWith('error'));
    const c = spawnInto(started, ['--nats', server.url, '--json', '-s', '2', '-t', '100000'], user('centre'));
    await c.err.waitForLine('the agent reporting', 15_000, (l) => l.endsWith('agent web-1 is reporting') || l.startsWith('error'));
    let written = 0;
    const timer = setInterval(() => {
      fs.appendFileSync(file, `${clfLine(new Date())}\n`);
      written++;
    }, 200);
    timers.push(timer);
    await Bun.sleep(3_000);
    clearInterval(timer);
    const counted = await c.out.until(10_000, () => sum(parseStats(c.out.lines), 'hits') >= written);
    expect(counted, `${written} written\n${transcript(a, c)}`).toBe(true);

    // web-1's user, as a taken-over web server would use it.
    const nc = await connectNats(server.url, { env: user('web-1') });
    try {
      const js = jetstream(nc);
      for (const subject of ['hlm.counts.web-2', 'hlm.counts._centre']) {
        const e = await js.publish(subject, new TextEncoder().encode('{}'), { timeout: 3000 }).then(() => null, (x: Error) => x);
        expect(String(e?.message), subject).toMatch(/permissions violation/i);
      }
    } finally {
      await nc.close();
    }
    for (const p of [a, c]) p.proc.kill('SIGTERM');
    for (const p of [a, c]) expect(await exitWithin(p.proc, 8_000), transcript(p)).toBe(0);
    await Promise.all([a.err.done, c.err.done]);
    expect([...a.err.lines, ...c.err.lines].filter((l) => /violation|^error|^warn/i.test(l))).toEqual([]);
    expect(server.log()).not.toMatch(/Permissions Violation for Publish to "(?!hlm\.counts\.(web-2|_centre)")/);
    expectNoStack(a, c);
  }, 60_000);
});
