/**
 * Follow mode: startup to the first line counted, latency of appended lines under load, and
 * CPU used while idle. The monitor runs with HLM_PROBE=1 and prints `probe <hits> <epoch ms>`
 * on stderr each time a batch has been counted.
 *
 * Follow mode starts a file that exists at its end, and says nothing when it is ready, so the
 * harness appends a line every 5 ms after spawning it until the first probe arrives.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { clfTime } from './inputs';
import { cpuTicks, fail, percentile, vmHWM } from './measure';

interface Probe {
  hits: number;
  ms: number;
}

/** A following monitor and the probes it has printed. */
class Follower {
  readonly probes: Probe[] = [];
  readonly other: string[] = [];
  readonly spawnedAt = Date.now();
  private readonly proc;
  private waiting: { hits: number; resolve: () => void } | null = null;
  private readonly done: Promise<void>;

  constructor(bun: string, root: string, file: string, args: string[]) {
    try {
      this.proc = Bun.spawn([bun, 'entry.ts', '--json', '-f', file, ...args], {
        cwd: root,
        env: { ...process.env, HLM_PROBE: '1' },
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: 'pipe',
      });
    } catch (error) {
      fail(`cannot start the monitor: ${(error as Error).message}`);
    }
    this.done = this.read();
  }

  get pid() {
    return this.proc.pid;
  }

  get hits() {
    return this.probes.at(-1)?.hits ?? 0;
  }

  private async read() {
    let rest = '';
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const m = /^probe (\d+) (\d+)$/.exec(line);
        if (!m) {
          this.other.push(line);
          continue;
        }
        this.probes.push({ hits: Number(m[1]), ms: Number(m[2]) });
        if (this.waiting && this.hits >= this.waiting.hits) this.waiting.resolve();
      }
    }
  }

  /** Resolves true when a probe reports at least `hits`, false after `timeoutMs`. */
  reach(hits: number, timeoutMs: number): Promise<boolean> {
    if (this.hits >= hits) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(false);
      }, timeoutMs);
      this.waiting = {
        hits,
        resolve: () => {
          clearTimeout(timer);
          this.waiting = null;
          resolve(true);
        },
      };
    });
  }

  /** Appends a line every 5 ms until the first probe; the epoch ms of that probe. */
  async firstLine(fd: number): Promise<number> {
    const line = Buffer.from(lineAt(Math.floor(Date.now() / 1000), 0));
    const timer = setInterval(() => writeSync(fd, line), 5);
    writeSync(fd, line);
    const ok = await this.reach(1, 20_000);
    clearInterval(timer);
    if (!ok) await this.fail('counted no line within 20 s of starting');
    return this.probes[0]!.ms;
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await Promise.all([this.proc.exited, this.done]);
    clearTimeout(timer);
  }

  async fail(message: string): Promise<never> {
    await this.stop();
    fail(`follow: the monitor ${message}${this.other.length ? `; stderr: ${this.other.slice(-3).join(' | ')}` : ''}`);
  }
}

function lineAt(second: number, i: number): string {
  return `10.1.${(i >> 8) & 255}.${i & 255} - - [${clfTime(second)}] "GET /api/items/${i % 1000} HTTP/1.1" 200 512\n`;
}

/** A fresh, empty directory for one follow run (the monitor watches the file's directory). */
function freshFile(dir: string, name: string): string {
  const sub = join(dir, 'follow');
  mkdirSync(sub, { recursive: true });
  const file = join(sub, name);
  rmSync(file, { force: true });
  closeSync(openSync(file, 'w'));
  return file;
}

/** ms from spawn to the first probe of a line appended to a followed file (watch on, defaults). */
export async function startupFollow(bun: string, root: string, dir: string): Promise<number> {
  const file = freshFile(dir, 'startup.log');
  const fd = openSync(file, 'a');
  const monitor = new Follower(bun, root, file, []);
  const first = await monitor.firstLine(fd);
  await monitor.stop();
  closeSync(fd);
  return first - monitor.spawnedAt;
}

export interface LatencyResult {
  written: number;
  counted: number;
  /** Lines per second the harness actually wrote. */
  writeRate: number;
  p50: number;
  p99: number;
  max: number;
  /** Most lines written but not yet counted, seen at any batch write. */
  maxBacklog: number;
  keptUp: boolean;
  peakKB: number | null;
  stderr: string[];
}

export interface LatencyOptions {
  args: string[];
  rate: number;
  seconds: number;
  batchLines: number;
  pollMs: number;
}

/**
 * Appends `rate` lines/s for `seconds` s in batches of `batchLines`, each batch's time taken
 * right after its write returns; a batch's latency is the first probe that counts it minus that.
 */
export async function followLatency(bun: string, root: string, dir: string, o: LatencyOptions): Promise<LatencyResult> {
  const file = freshFile(dir, 'latency.log');
  const fd = openSync(file, 'a');
  const monitor = new Follower(bun, root, file, ['--poll-ms', String(o.pollMs), ...o.args]);
  await monitor.firstLine(fd);
  // Let the warm-up lines in flight be counted (a poll at most pollMs away), then start from there.
  await Bun.sleep(o.pollMs + 250);
  const base = monitor.hits;

  const everyMs = (o.batchLines / o.rate) * 1000;
  const total = o.rate * o.seconds;
  const batches: { cum: number; ms: number }[] = [];
  const lines = Array.from({ length: o.batchLines }, (_, i) => i);
  let second = 0;
  let text = '';
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total / o.batchLines, Math.floor((performance.now() - started) / everyMs) + 1);
      while (batches.length < due) {
        const now = Math.floor(Date.now() / 1000);
        if (now !== second) {
          second = now;
          text = lines.map((i) => lineAt(now, i)).join('');
        }
        writeSync(fd, text);
        batches.push({ cum: base + (batches.length + 1) * o.batchLines, ms: Date.now() });
      }
      if (batches.length * o.batchLines >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const writeRate = total / ((performance.now() - started) / 1000);
  const target = base + total;
  await monitor.reach(target, 30_000);
  const peakKB = vmHWM(monitor.pid);
  await monitor.stop();
  closeSync(fd);

  // Both lists are in time order and their counts never go down: walk them together.
  const latencies: number[] = [];
  let maxBacklog = 0;
  let first = 0; // the first probe that counts batch b
  let seen = -1; // the last probe printed at or before batch b was written
  const probes = monitor.probes;
  for (const b of batches) {
    while (first < probes.length && probes[first]!.hits < b.cum) first++;
    if (first < probes.length) latencies.push(probes[first]!.ms - b.ms);
    while (seen + 1 < probes.length && probes[seen + 1]!.ms <= b.ms) seen++;
    maxBacklog = Math.max(maxBacklog, b.cum - (seen >= 0 ? probes[seen]!.hits : base));
  }
  const counted = monitor.hits - base;
  return {
    written: total,
    counted,
    writeRate,
    p50: latencies.length ? percentile(latencies, 0.5) : NaN,
    p99: latencies.length ? percentile(latencies, 0.99) : NaN,
    max: latencies.length ? Math.max(...latencies) : NaN,
    maxBacklog,
    // Every line counted, and never more than one second of traffic behind.
    keptUp: counted === total && maxBacklog <= o.rate,
    peakKB,
    stderr: monitor.other,
  };
}

/** CPU used by a monitor following a file nobody writes to, % of one core over `seconds`. */
export async function idleCpu(bun: string, root: string, dir: string, args: string[], seconds: number, clkTck: number): Promise<number> {
  const file = freshFile(dir, 'idle.log');
  const fd = openSync(file, 'a');
  const monitor = new Follower(bun, root, file, args);
  await monitor.firstLine(fd); // started and settled: startup's own CPU is not counted
  await Bun.sleep(500);
  const before = cpuTicks(monitor.pid);
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  const ticks = cpuTicks(monitor.pid) - before;
  const wall = (performance.now() - t0) / 1000;
  await monitor.stop();
  closeSync(fd);
  return ((ticks / clkTck) / wall) * 100;
}
