/**
 * What /metrics costs (issue 20: a scrape ≤ 5 ms at 1,000 series, nothing while nobody scrapes).
 *
 * 1. Scrape: a Metrics with 1,001 series (6 status classes, 10 methods, 800 sections and other,
 *    bytes/invalid/late, two duration histograms of 11 bounds, 100 alert states, the window, the
 *    agents and 50 agents' clock lags) rendered SCRAPES times in each format; prints the best and
 *    median (p99, worst) ms of a render (what the server does for one scrape, without the socket),
 *    back to back and each after a full collection (as scrapes 15 s apart find the heap), and
 *    the very first render's.
 * 2. Counting: the segments of the first MB megabytes of an nginx-timed log (default
 *    /tmp/hlm-bench/nginx-timed-2000x5000-seed42.log), scanned by TextScanner with and without
 *    `addSegments` after each chunk, in turns (A B A B …); prints best and median ns a line of
 *    each, and of the `addSegments` calls alone (timed around each): what counting adds to the
 *    pipeline (the difference of the first two is within their noise).
 *
 *   ./node_modules/.bin/bun bench/metrics-scrape.ts [SCRAPES] [MB] [LOG]      (default 200, 64)
 */
import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import { TextScanner } from '../actors/text-scanner';
import { packMaps } from '../lib/byte-keys';
import { NGINX_TIMED_FORMAT } from '../lib/generator';
import { compileFormat, type TextFormat } from '../lib/log-format';
import { DEFAULT_BUCKETS, Metrics } from '../lib/metrics';
import { Sketch } from '../lib/sketch';
import { emptySegment } from '../lib/wire';

const SCRAPES = Number(process.argv[2] ?? 200);
const MB = Number(process.argv[3] ?? 64);
const LOG = process.argv[4] ?? '/tmp/hlm-bench/nginx-timed-2000x5000-seed42.log';
const ROUNDS = 5;

const best = (xs: number[]) => Math.min(...xs);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const median = (xs: number[]) => quantile(xs, 0.5);
const f = (n: number, digits = 3) => n.toFixed(digits);

async function scrape() {
  const metrics = new Metrics({ sections: 800, buckets: DEFAULT_BUCKETS });
  const sections = new Map(Array.from({ length: 900 }, (_, i) => [`/section-${i}`, 1 + (i % 17)]));
  const latency = new Sketch();
  const upstream = new Sketch();
  for (let i = 1; i <= 5000; i++) {
    latency.add(i * 1.7);
    upstream.add(i * 1.3);
  }
  metrics.addSegments([
    {
      ...emptySegment(1),
      hits: 9000,
      status: [1, 2, 8000, 500, 400, 97],
      bytes: 123456789,
      invalid: 3,
      latency,
      upstream,
      keys: packMaps({ sections, methods: new Map([['GET', 8000], ['POST', 900], ['PROPFIND', 100]]) }),
    },
  ]);
  metrics.addLate(4);
  for (let r = 0; r < 10; r++) for (let g = 0; g < 10; g++) metrics.setAlert(`rule-${r}`, `/group-${g}`, (r + g) % 3 === 0);
  metrics.setWindowAverage(812.5);
  metrics.setAgents(50, 0);
  for (let a = 0; a < 50; a++) metrics.setAgentLag(`web-${a}`, a / 10);

  for (const openMetrics of [false, true]) {
    const cold = Bun.nanoseconds();
    const { body } = await metrics.render(openMetrics);
    console.log(`first scrape (${openMetrics ? 'OpenMetrics' : 'text'}, code not yet optimised): ${f((Bun.nanoseconds() - cold) / 1e6)} ms`);
    const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    for (let i = 0; i < 20; i++) await metrics.render(openMetrics);
    const times: number[] = [];
    const spaced: number[] = [];
    for (let i = 0; i < SCRAPES; i++) {
      const t0 = Bun.nanoseconds();
      await metrics.render(openMetrics);
      times.push((Bun.nanoseconds() - t0) / 1e6);
    }
    // As Prometheus scrapes, every 15 s or so: the heap collected in between, the caches cold.
    for (let i = 0; i < Math.min(SCRAPES, 100); i++) {
      Bun.gc(true);
      const t0 = Bun.nanoseconds();
      await metrics.render(openMetrics);
      spaced.push((Bun.nanoseconds() - t0) / 1e6);
    }
    console.log(
      `scrape ${openMetrics ? 'OpenMetrics' : 'text 0.0.4 '}: ${series} series, ${(body.length / 1024).toFixed(0)} KiB, best ${f(best(times))} ms, median ${f(median(times))} ms, p99 ${f(quantile(times, 0.99))} ms, worst ${f(Math.max(...times))} ms (${SCRAPES} scrapes back to back; the worst are collections)`,
    );
    console.log(`  after a full collection each: best ${f(best(spaced))} ms, median ${f(median(spaced))} ms, worst ${f(Math.max(...spaced))} ms (${spaced.length})`);
  }
}

/** Whole lines of the first MB megabytes of the log, in 1 MiB chunks as the tailer gives them. */
function chunks(): Uint8Array[] {
  const fd = openSync(LOG, 'r');
  const out: Uint8Array[] = [];
  let carry = new Uint8Array(0);
  for (let i = 0; i < MB; i++) {
    const buf = new Uint8Array(1 << 20);
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    const all = new Uint8Array(carry.length + n);
    all.set(carry);
    all.set(buf.subarray(0, n), carry.length);
    const cut = all.lastIndexOf(10) + 1;
    out.push(all.subarray(0, cut));
    carry = all.slice(cut);
  }
  closeSync(fd);
  return out;
}

function counting() {
  if (!existsSync(LOG)) {
    console.log(`counting: ${LOG} not found, skipped`);
    return;
  }
  const input = chunks();
  const lines = input.reduce((n, c) => n + c.filter((b) => b === 10).length, 0);
  const format = compileFormat(NGINX_TIMED_FORMAT) as TextFormat;
  const run = (count: boolean) => {
    const scanner = new TextScanner(format, { borrowKeys: true });
    const metrics = new Metrics({ sections: 20, buckets: DEFAULT_BUCKETS });
    let adding = 0;
    const t0 = Bun.nanoseconds();
    for (const chunk of input) {
      const batch = scanner.scan(chunk);
      if (!count) continue;
      const t1 = Bun.nanoseconds();
      metrics.addSegments(batch.segments);
      adding += Bun.nanoseconds() - t1;
    }
    return { total: (Bun.nanoseconds() - t0) / lines, adding: adding / lines };
  };
  run(true);
  const a: number[] = [];
  const b: number[] = [];
  const adding: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(run(false).total);
    const with_ = run(true);
    b.push(with_.total);
    adding.push(with_.adding);
  }
  console.log(`counting: ${lines} nginx-timed lines (${MB} MB), ${ROUNDS} rounds in turns`);
  console.log(`  scan alone            best ${f(best(a), 1)} ns/line, median ${f(median(a), 1)}`);
  console.log(`  scan + addSegments    best ${f(best(b), 1)} ns/line, median ${f(median(b), 1)}`);
  console.log(`  addSegments alone     best ${f(best(adding), 1)} ns/line, median ${f(median(adding), 1)} (timed around each call)`);
}

await scrape();
counting();
