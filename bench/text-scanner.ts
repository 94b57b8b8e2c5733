/**
 * Micro-benchmark of actors/text-scanner.ts against actors/clf-scanner.ts on the same traffic:
 * the generator's `combined` and `nginx-timed` lines of one seed (the same requests; the timed
 * ones add `$request_time $upstream_response_time $host`), about 200 MB of timed lines made in
 * memory, cut into 1 MiB chunks of whole lines and scanned in turns, each scanner RUNS times;
 * prints each one's best ns/line and lines/s, and the ratios the issue sets:
 *
 * - the custom nginx format (TextScanner) against the built-in combined path (ClfScanner):
 *   at least 0.8 × its lines/s, end to end;
 * - what the latency sketches add: the timed format against the same format with its duration
 *   and upstream read as skipped fields (the same bytes walked, nothing timed): at most 10 %;
 *   and the timed format without the sketches only rules read (`ruleSketches: false`).
 *
 * No file, no actor: the scanners' own cost.
 *
 *   ./node_modules/.bin/bun bench/text-scanner.ts [MEGABYTES] [RUNS]      (default 200, 7)
 *
 * ONLY=text runs only the cases whose name holds `text` (the others' numbers are then missing).
 */
import { ClfScanner } from '../actors/clf-scanner';
import { TextScanner } from '../actors/text-scanner';
import { lineMaker, NGINX_TIMED_FORMAT } from '../lib/generator';
import { compileFormat, type TextFormat } from '../lib/log-format';

const MEGABYTES = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 7);
const CHUNK = 1 << 20;
const START = 1_767_225_600;
const PER_SECOND = 2000;

/** The lines of `format` for the traffic of seed 42 until the timed ones fill MEGABYTES, in 1 MiB chunks. */
function chunksOf(format: 'combined' | 'nginx-timed', lines: number): Uint8Array[] {
  const make = lineMaker(42, { format, offsetMinutes: 0 });
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) parts.push(make(START + Math.floor(i / PER_SECOND), i % PER_SECOND, PER_SECOND));
  const bytes = new TextEncoder().encode(parts.join(''));
  const chunks: Uint8Array[] = [];
  for (let p = 0; p < bytes.length; ) {
    const end = p + CHUNK >= bytes.length ? bytes.length : bytes.lastIndexOf(10, p + CHUNK - 1) + 1;
    chunks.push(bytes.subarray(p, end));
    p = end;
  }
  return chunks;
}

/** How many timed lines make MEGABYTES: measured on a sample. */
function linesFor(megabytes: number): number {
  const make = lineMaker(42, { format: 'nginx-timed', offsetMinutes: 0 });
  let bytes = 0;
  for (let i = 0; i < 10_000; i++) bytes += make(START, i, 10_000).length;
  return Math.round((megabytes * 1e6) / (bytes / 10_000));
}

const timed = compileFormat(NGINX_TIMED_FORMAT) as TextFormat;
/** The same format, its duration and upstream read as skipped fields: the walk without the sketches. */
const untimed: TextFormat = {
  ...timed,
  tokens: timed.tokens.map((t) => ('field' in t && (t.field === 'duration' || t.field === 'upstream') ? { field: null, source: t.source } : t)),
};

const lines = linesFor(MEGABYTES);
const inputs = { combined: chunksOf('combined', lines), timed: chunksOf('nginx-timed', lines) };
const mb = (chunks: Uint8Array[]) => chunks.reduce((n, c) => n + c.length, 0) / 1e6;

interface Case {
  name: string;
  chunks: Uint8Array[];
  scanner: () => { scan(bytes: Uint8Array): { segments: { hits: number }[] } };
}

const CLF = 'ClfScanner, combined';
const TIMED = 'TextScanner, nginx timed';
const LEAN = 'TextScanner, nginx timed, ruleSketches false';
const UNTIMED = 'TextScanner, nginx timed read untimed';
const cases: Case[] = [
  { name: CLF, chunks: inputs.combined, scanner: () => new ClfScanner({ borrowKeys: true }) },
  { name: TIMED, chunks: inputs.timed, scanner: () => new TextScanner(timed, { borrowKeys: true }) },
  { name: LEAN, chunks: inputs.timed, scanner: () => new TextScanner(timed, { borrowKeys: true, ruleSketches: false }) },
  { name: UNTIMED, chunks: inputs.timed, scanner: () => new TextScanner(untimed, { borrowKeys: true }) },
].filter((c) => process.env.ONLY === undefined || c.name.includes(process.env.ONLY));

const best = new Map<string, number>();
for (let run = 0; run < RUNS; run++) {
  for (const c of cases) {
    const scanner = c.scanner();
    const started = performance.now();
    let hits = 0;
    for (const chunk of c.chunks) for (const s of scanner.scan(chunk).segments) hits += s.hits;
    const ns = ((performance.now() - started) * 1e6) / hits;
    if (hits !== lines) throw new Error(`${c.name}: ${hits} of ${lines} lines counted`);
    best.set(c.name, Math.min(best.get(c.name) ?? Infinity, ns));
  }
}

console.log(`${lines.toLocaleString('en')} lines: combined ${mb(inputs.combined).toFixed(0)} MB, nginx timed ${mb(inputs.timed).toFixed(0)} MB; best of ${RUNS}`);
for (const c of cases) {
  const ns = best.get(c.name)!;
  console.log(`${c.name.padEnd(46)} ${ns.toFixed(1).padStart(6)} ns/line  ${(1000 / ns).toFixed(2)} M lines/s`);
}
const [clf, text, lean, plain] = [CLF, TIMED, LEAN, UNTIMED].map((name) => best.get(name) ?? NaN) as [number, number, number, number];
console.log(`nginx timed / combined lines/s: ${(clf / text).toFixed(2)}, without rule sketches ${(clf / lean).toFixed(2)} (the issue: ≥ 0.8 end to end)`);
console.log(`sketches' share of the timed scan: ${((text / plain - 1) * 100).toFixed(1)} %, without rule sketches ${((lean / plain - 1) * 100).toFixed(1)} % (the issue: ≤ 10 % of a replay)`);
