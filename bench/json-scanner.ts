/**
 * Micro-benchmark of actors/json-scanner.ts alone: Caddy access log lines made in memory by the
 * product's generator (`generate --format caddy`, the traffic of the bench's `caddy 2M` input:
 * 2,000 lines a second, about 600 bytes a line, Caddy 2.6's shape with a browser's headers), cut
 * into 1 MiB chunks of whole lines and scanned five times over; prints each run and the best
 * one's lines/s. No file and no actor: the scanner's own cost, to set against the ≥ 1 M lines/s
 * a Caddy replay must reach end to end.
 *
 *   ./node_modules/.bin/bun bench/json-scanner.ts [LINES]      (default 2,000,000)
 */
import { JsonScanner } from '../actors/json-scanner';
import { lineMaker } from '../lib/generator';
import { compileFormat, type JsonFormat } from '../lib/log-format';

const LINES = Number(process.argv[2] ?? 2_000_000);
const RATE = 2000;
const CHUNK = 1 << 20;
const RUNS = 5;
const CADDY = compileFormat('caddy') as JsonFormat;

function caddyLines(count: number): string[] {
  const make = lineMaker(42, { format: 'caddy', offsetMinutes: 0 });
  const start = Date.UTC(2026, 0, 1) / 1000;
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(make(start + Math.floor(i / RATE), i % RATE, RATE).replace(/\n$/, ''));
  return lines;
}

/** The lines as chunks of at most CHUNK bytes, each ending at a newline. */
function chunks(lines: string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let part: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (size + line.length + 1 > CHUNK && part.length > 0) {
      out.push(new TextEncoder().encode(part.join('\n') + '\n'));
      part = [];
      size = 0;
    }
    part.push(line);
    size += line.length + 1;
  }
  if (part.length > 0) out.push(new TextEncoder().encode(part.join('\n') + '\n'));
  return out;
}

const lines = caddyLines(LINES);
const bytes = lines.reduce((n, l) => n + l.length + 1, 0);
const input = chunks(lines);
console.log(`${LINES.toLocaleString('en')} Caddy lines, ${Math.round(bytes / LINES)} bytes a line, ${input.length} chunks of ≤ 1 MiB`);

const perSecond = (ms: number) => Math.round(LINES / (ms / 1000)).toLocaleString('en');
let best = Infinity;
let bestCpu = Infinity;
for (let run = 0; run < RUNS; run++) {
  const scanner = new JsonScanner(CADDY, { borrowKeys: true });
  let hits = 0;
  let timed = 0;
  const began = performance.now();
  const cpu = process.cpuUsage();
  for (const chunk of input) {
    for (const s of scanner.scan(chunk).segments) {
      hits += s.hits;
      timed += s.latency?.count ?? 0;
    }
  }
  const ms = performance.now() - began;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  best = Math.min(best, ms);
  bestCpu = Math.min(bestCpu, cpuMs);
  if (hits !== LINES || timed !== LINES) throw new Error(`counted ${hits} hits, ${timed} timed of ${LINES} lines`);
  console.log(`run ${run + 1}: ${(ms / 1000).toFixed(3)} s, ${perSecond(ms)} lines/s (CPU ${(cpuMs / 1000).toFixed(3)} s: ${perSecond(cpuMs)} lines/s)`);
}
// CPU time too: on a shared machine, a run's wall time counts what others ran meanwhile.
console.log(`best of ${RUNS}: ${perSecond(best)} lines/s, ${(bytes / (best / 1000) / 2 ** 20).toFixed(0)} MiB/s; by CPU time ${perSecond(bestCpu)} lines/s`);
