/**
 * Micro-benchmark of actors/clf-scanner.ts (ClfScanner) alone: the first MEGABYTES of a log file
 * (the generator's `clf` or `combined` lines, say /tmp/hlm-bench/combined-2000x5000-seed42.log),
 * cut into 1 MiB chunks of whole lines as the tailer cuts them, scanned RUNS times with
 * `borrowKeys` (as the parser scans); prints the best and the median ns/line, wall clock and CPU
 * time. No actor, no file read in the timing: the scanner's own cost.
 *
 * SCANNERS (default: this checkout's) are paths of clf-scanner.ts versions (another worktree's,
 * say) to compare: they are run in turns, A B A B ..., each run on a fresh scanner, so that the
 * load of a shared machine falls on all alike. Each is its own module, so each has its own
 * compiled code.
 *
 *   ./node_modules/.bin/bun bench/clf-scanner.ts FILE [MEGABYTES] [RUNS] [SCANNER...]   (default 200, 9)
 */
import { openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';

const file = process.argv[2];
if (!file) throw new Error('usage: bench/clf-scanner.ts FILE [MEGABYTES] [RUNS] [SCANNER...]');
const MEGABYTES = Number(process.argv[3] ?? 200);
const RUNS = Number(process.argv[4] ?? 9);
const paths = process.argv.slice(5).map((p) => resolve(p));
if (paths.length === 0) paths.push(resolve(`${import.meta.dir}/../actors/clf-scanner.ts`));
type Scanner = { scan(bytes: Uint8Array): { segments: { hits: number }[] } };
const makers: ((options: { borrowKeys: boolean }) => Scanner)[] = [];
for (const p of paths) {
  const { ClfScanner } = (await import(p)) as typeof import('../actors/clf-scanner');
  makers.push((options) => new ClfScanner(options));
}

const CHUNK = 1 << 20;
const all = new Uint8Array(MEGABYTES * 1e6);
const read = readSync(openSync(file, 'r'), all, 0, all.length, 0);
const bytes = all.subarray(0, all.lastIndexOf(10, read - 1) + 1);
const chunks: Uint8Array[] = [];
for (let p = 0; p < bytes.length; ) {
  const end = p + CHUNK >= bytes.length ? bytes.length : bytes.lastIndexOf(10, p + CHUNK - 1) + 1;
  chunks.push(bytes.subarray(p, end));
  p = end;
}
let lines = 0;
for (let p = bytes.indexOf(10); p >= 0; p = bytes.indexOf(10, p + 1)) lines++;

const wall = paths.map((): number[] => []);
/** CPU time: steadier than the wall clock on a machine others use. */
const cpu = paths.map((): number[] => []);
const hits = paths.map(() => 0);
for (let r = 0; r < RUNS; r++) {
  makers.forEach((make, i) => {
    const scanner = make({ borrowKeys: true });
    let n = 0;
    const t0 = Bun.nanoseconds();
    const c0 = process.cpuUsage();
    for (const c of chunks) for (const s of scanner.scan(c).segments) n += s.hits;
    const used = process.cpuUsage(c0);
    wall[i]!.push((Bun.nanoseconds() - t0) / lines);
    cpu[i]!.push(((used.user + used.system) * 1e3) / lines);
    hits[i] = n;
  });
}
const best = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`${file}: ${lines} lines, ${chunks.length} chunks, ${RUNS} runs each`);
paths.forEach((p, i) => {
  const w = wall[i]!;
  const c = cpu[i]!;
  console.log(
    `${p}: ${hits[i]} hits; wall best ${best(w).toFixed(1)} median ${median(w).toFixed(1)} ns/line (best ${(1e3 / best(w)).toFixed(2)} M lines/s); ` +
      `CPU best ${best(c).toFixed(1)} median ${median(c).toFixed(1)} ns/line`,
  );
});
