/**
 * Debian's real Prometheus for the specs (`prometheus` and `promtool`, installed by
 * scripts/test-deps.sh): a server on 127.0.0.1 and a free port, its configuration and storage in
 * a temporary directory, scraping the given targets every second; its HTTP query API; and
 * `promtool check metrics` on an exposition. Stopped by PID: `stop()` or, for what a failed test
 * left running, `stopAllPrometheus()` in afterAll.
 *
 *   const prom = await startPrometheus({ clf: `127.0.0.1:${port}` });
 *   const up = await prom.until('up{job="clf"}', (v) => v === 1);
 *   prom.stop();
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './nats-server';

export const PROMETHEUS_BIN = Bun.which('prometheus') ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = Bun.which('promtool') ?? '/usr/bin/promtool';

/** How often Prometheus scrapes, s: the smallest interval worth having in a test that should take seconds. */
export const SCRAPE_SECONDS = 1;

export interface Prometheus {
  port: number;
  dir: string;
  /** An instant query's result, each series' labels and value (NaN as NaN). */
  query(promql: string): Promise<Sample[]>;
  /**
   * Polls `promql` (every 200 ms, up to `ms`) until the sum of its series' values satisfies
   * `ok`; that value, or an Error saying what the query last answered.
   */
  until(promql: string, ok: (value: number) => boolean, ms?: number): Promise<number>;
  /** What Prometheus printed, for a failing test's message. */
  log(): string;
  stop(): void;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const live = new Set<Prometheus>();

/** Stops every Prometheus a spec started and did not stop (a failed test's). */
export function stopAllPrometheus(): void {
  for (const p of live) p.stop();
}

// A test runner killed mid-test still takes its servers along.
process.on('exit', stopAllPrometheus);

/** Starts Prometheus scraping each job's target (`HOST:PORT`, path /metrics) every SCRAPE_SECONDS; resolves once it answers queries. */
export async function startPrometheus(jobs: Record<string, string>): Promise<Prometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(config, configText(jobs));
  const port = await freePort();
  const proc = Bun.spawn(
    [PROMETHEUS_BIN, `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: dir, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' },
  );
  let stderr = '';
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  let stopped = false;
  const base = `http://127.0.0.1:${port}`;
  const prometheus: Prometheus = {
    port,
    dir,
    log: () => stderr,
    stop: () => {
      if (stopped) return;
      stopped = true;
      live.delete(prometheus);
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
    query: async (promql) => {
      const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.json()) as QueryAnswer;
      if (body.status !== 'success') throw new Error(`${promql}: ${body.errorType}: ${body.error}`);
      if (body.data.resultType === 'scalar') return [{ labels: {}, value: Number(body.data.result[1]) }];
      return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
    until: async (promql, ok, ms = 20_000) => {
      const deadline = Date.now() + ms;
      let last: Sample[] | string = 'no answer';
      for (;;) {
        try {
          last = await prometheus.query(promql);
          const value = last.reduce((n, s) => n + s.value, 0);
          if (last.length > 0 && ok(value)) return value;
        } catch (error) {
          last = String(error);
        }
        if (Date.now() > deadline) throw new Error(`${promql}: still ${JSON.stringify(last)} after ${ms} ms; prometheus said:\n${stderr}`);
        await Bun.sleep(200);
      }
    },
  };
  live.add(prometheus);
  await waitUntilReady(base, proc, () => stderr);
  return prometheus;
}

type QueryAnswer =
  | { status: 'success'; data: { resultType: 'vector'; result: { metric: Record<string, string>; value: [number, string] }[] } }
  | { status: 'success'; data: { resultType: 'scalar'; result: [number, string] } }
  | { status: 'error'; errorType: string; error: string };

/** A scrape config: one job a target, every SCRAPE_SECONDS, on the default path /metrics. */
export function configText(jobs: Record<string, string>): string {
  const lines = ['global:', `  scrape_interval: ${SCRAPE_SECONDS}s`, `  scrape_timeout: ${SCRAPE_SECONDS}s`, 'scrape_configs:'];
  for (const [job, target] of Object.entries(jobs)) lines.push(`  - job_name: ${job}`, '    static_configs:', `      - targets: ['${target}']`);
  return `${lines.join('\n')}\n`;
}

/** Polls /-/ready until Prometheus answers 200 (its storage open, its config loaded). */
async function waitUntilReady(base: string, proc: { exitCode: number | null }, stderr: () => string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited (${proc.exitCode}):\n${stderr()}`);
    try {
      if ((await fetch(`${base}/-/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`prometheus not ready after ${ms} ms:\n${stderr()}`);
}

/** `promtool check metrics` on an exposition (text format, on its standard input): its exit code and what it said. */
export async function promtoolCheckMetrics(exposition: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([PROMTOOL_BIN, 'check', 'metrics'], { stdin: new Blob([exposition]), stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: out + err };
}
