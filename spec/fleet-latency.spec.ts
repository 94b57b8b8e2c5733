/**
 * The fleet's latency as real processes: a real nats-server (127.0.0.1, a free port, stopped by
 * its PID in afterAll), two agents each following a file in an nginx `log_format` with
 * `$request_time` (`--log-format`), and the centre (`--nats --json`). One web server is busy and
 * fast, the other quiet and slow: the centre's p99 is the p99 of every request of both (within
 * 1 % of the exact value from the files' own durations), not an average of theirs (which
 * spec/fleet-feed.spec.ts tells apart in-process). The lines are written here, stamped with the
 * current time (UTC).
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectNoStack, type Spawned, spawnInto, stopAll, transcript } from './support/fleet-process';
import { exitWithin, parseStats, type StatsRecord, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-fleet-latency-'));
const started: Spawned[] = [];
let writing: ReturnType<typeof setInterval> | undefined;

afterAll(async () => {
  if (writing) clearInterval(writing);
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const spawn = (args: string[]) => spawnInto(started, args);

/** nginx's combined with the request time, the upstream's and the virtual host, as nginx.conf has it. */
const FORMAT = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
const timeLocal = (at: Date) =>
  `${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;

/** A web server's traffic: its host name, lines a tick, and its request times (s, as nginx writes them: ms resolution). */
interface Server {
  name: string;
  perTick: number;
  /** A request time in seconds, log-uniform from lo to hi. */
  lo: number;
  hi: number;
}

/** A fixed-seed generator, so that a failure can be run again as it was. */
function random(seed: number) {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** One line of `server` at `at` and the duration it says, ms (nginx's `$request_time`, three decimals). */
function line(server: Server, at: Date, next: () => number, i: number): { text: string; ms: number; second: number } {
  const seconds = (server.lo * (server.hi / server.lo) ** next()).toFixed(3);
  const upstream = i % 4 === 0 ? '-' : (Number(seconds) * 0.9).toFixed(3);
  const text = `10.0.${i % 7}.${i % 200} - - [${timeLocal(at)}] "GET /api/item/${i % 50} HTTP/1.1" 200 ${300 + (i % 900)} "-" "curl/8.5.0" ${seconds} ${upstream} ${server.name}`;
  return { text, ms: Number(seconds) * 1000, second: Math.floor(at.getTime() / 1000) };
}

interface LatencyStats extends StatsRecord {
  late: number;
  latency?: { count: number; p50: number; p90: number; p99: number; max: number };
  vhosts?: { vhost: string; hits: number }[];
}

/** The exact value at quantile q, with the sketch's rank rule (the lower value at ⌊q (n − 1)⌋). */
const exactAt = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;

describe('the fleet: latency (nats-server, two agents with --log-format, the centre)', () => {
  test(
    "a busy fast server and a quiet slow one: every timed line is in the centre's latency, and each interval's p99 is within 1 % of the exact p99 of both files' requests",
    async () => {
      const server = await startNatsServer();
      const centre = spawn(['--nats', server.url, '--json', '-s', '3', '-t', '100000']);
      await centre.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const servers: Server[] = [
        { name: 'fast.example', perTick: 20, lo: 0.001, hi: 0.03 },
        { name: 'slow.example', perTick: 1, lo: 0.3, hi: 4 },
      ];
      const files = servers.map((s) => path.join(dir, `${s.name}.log`));
      for (const f of files) fs.writeFileSync(f, '');
      const agents = files.map((f, i) => spawn(['agent', '-f', f, '--nats', server.url, '--name', `web-${i + 1}`, '--poll-ms', '100', '--log-format', FORMAT]));
      await centre.err.waitForLine('both agents', 15_000, () => ['web-1', 'web-2'].every((n) => centre.err.lines.some((l) => l.endsWith(`agent ${n} is reporting`))));

      // 8 s of traffic, a tick every 200 ms: 100 lines a second on the fast server, 5 on the slow one.
      const written: { ms: number; second: number; server: string }[] = [];
      const next = random(19);
      let i = 0;
      await new Promise<void>((resolve) => {
        let ticks = 0;
        writing = setInterval(() => {
          const at = new Date();
          servers.forEach((s, k) => {
            const lines = Array.from({ length: s.perTick }, () => line(s, at, next, i++));
            fs.appendFileSync(files[k]!, lines.map((l) => `${l.text}\n`).join(''));
            for (const l of lines) written.push({ ms: l.ms, second: l.second, server: s.name });
          });
          if (++ticks === 40) {
            clearInterval(writing);
            resolve();
          }
        }, 200);
      });
      expect(written).toHaveLength(40 * 21);

      const stats = () => parseStats<LatencyStats>(centre.out.lines);
      await centre.out.until(20_000, () => sum(stats(), 'hits') >= written.length);
      for (const a of agents) a.proc.kill('SIGTERM');
      for (const a of agents) expect(await exitWithin(a.proc, 8_000), transcript(a)).toBe(0);
      centre.proc.kill('SIGTERM');
      expect(await exitWithin(centre.proc, 8_000), transcript(centre)).toBe(0);
      await centre.out.done;
      const said = transcript(centre, ...agents);

      const records = stats();
      expect(sum(records, 'hits'), said).toBe(written.length);
      expect(records.reduce((n, r) => n + r.late, 0), said).toBe(0);
      // Every line was timed, and every timed line is in some interval's latency.
      expect(records.reduce((n, r) => n + (r.latency?.count ?? 0), 0), said).toBe(written.length);
      const timed = records.filter((r) => r.hits > 0);
      expect(timed.length).toBeGreaterThanOrEqual(2);
      for (const r of timed) {
        const inside = written.filter((w) => w.second * 1000 >= Date.parse(r.start) && w.second * 1000 < Date.parse(r.end));
        const all = inside.map((w) => w.ms);
        expect(r.latency!.count, said).toBe(all.length);
        const exact = exactAt(all, 0.99);
        expect(Math.abs(r.latency!.p99 - exact), `p99 ${r.latency!.p99} against ${exact}`).toBeLessThanOrEqual(0.01 * exact + 0.001);
        expect(Math.abs(r.latency!.max - Math.max(...all))).toBeLessThanOrEqual(0.001);
        // Each file's virtual host, counted by its agent.
        expect(Object.fromEntries((r.vhosts ?? []).map((v) => [v.vhost, v.hits]))).toEqual(
          Object.fromEntries(servers.map((s) => [s.name, inside.filter((w) => w.server === s.name).length]).filter(([, n]) => n !== 0)),
        );
      }
      expectNoStack(centre, ...agents);
    },
    90_000,
  );
});
