/**
 * `npm run bench`: throughput, memory, startup, follow latency and idle CPU of the monitor, with
 * a newline-counting loop (the ceiling) and GoAccess (if installed) as baselines. Prints Markdown
 * tables and writes them, with the machine, to bench/results/latest.md.
 *
 * Fleet rows (issue 11, bench/fleet.ts): the centre merging 1,000 simulated agents over a real
 * nats-server on 127.0.0.1, an agent's latency to the centre and its CPU (skipped with a note when
 * nats-server is absent).
 *
 * Inputs (bench/inputs.ts), in the table's order: 1M and 10M from the product's generator, combined
 * 10M (the same profile in the combined format), nginx-timed 10M (issue 19: the same requests with
 * request time, upstream time and vhost, read with `--log-format` and that nginx string), the same
 * file with its durations skipped, caddy 2M (Caddy's JSON), high-card 1M and 5M (every line a new
 * section, user and host), realistic 1M and 10M (issue 13: many clients, deeper paths, some
 * combined lines), sparse 100k (one line a second: the statecharts stepped through 100,000 s of
 * log); traefik 1M only when BENCH_INPUTS names it. The formats' table (issue 19) compares them.
 *
 * Env: BENCH_DIR (inputs, reused; default /tmp/hlm-bench), BENCH_INSTALL=1 (apt-get GoAccess),
 * BENCH_ONLY=fleet (only the fleet rows, ~2.5 min: printed, bench/results/latest.md left as it is),
 * BENCH_INPUTS=realistic,combined (only the throughput rows, on the inputs whose names start with
 * one of those comma-separated words, e.g. `realistic` or `realistic 10M`; the GoAccess and pinned
 * rows when their input, 1M or 10M, is among them; printed, latest.md left as it is),
 * BENCH_RUNS=3 (timed runs a measurement; default 5), BENCH_BASE=/path/to/another/checkout (each
 * CLF/combined replay measured there too, run for run in turn with this one, as rows "… at
 * COMMIT": what a change cost, on the same machine at the same moment; the other checkout needs
 * its node_modules).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fleetBench, fleetTables } from './fleet';
import { followLatency, idleCpu, type LatencyResult, startupFollow } from './follow';
import { INPUT_NAMES, type Input, prepareInputs } from './inputs';
import { clockTicks, fail, hasGnuTime, inTurn, median, repeat, run, type Run } from './measure';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const DIR = process.env.BENCH_DIR || '/tmp/hlm-bench';
const RUNS = Number(process.env.BENCH_RUNS) || 5;
const BASE = process.env.BENCH_BASE || '';
const log = (message: string) => console.error(`bench: ${message}`);
const REPLAY = 'monitor `--replay --json`';

/** A hash of the product's sources, to tell whether they changed while the benchmark ran. */
function productHash(): string {
  const hash = createHash('sha256');
  const files = ['entry.ts', ...['actors', 'commands', 'lib', 'machines'].flatMap((d) =>
    readdirSync(join(ROOT, d)).filter((f) => f.endsWith('.ts')).sort().map((f) => join(d, f)))];
  for (const f of files) hash.update(f).update(readFileSync(join(ROOT, f)));
  return hash.digest('hex').slice(0, 12);
}

function gitCommit(root = ROOT): string {
  try {
    const out = Bun.spawnSync(['git', '-C', root, 'log', '-1', '--format=%h']);
    return out.exitCode === 0 ? out.stdout.toString().trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The GoAccess command, installing it first if BENCH_INSTALL=1; null (with a note) if absent. */
function goaccess(notes: string[]): string | null {
  const version = () => {
    try {
      const out = Bun.spawnSync(['goaccess', '--version']);
      return out.exitCode === 0 ? out.stdout.toString().split('\n')[0]!.trim().replace(/\.$/, '') : null;
    } catch {
      return null;
    }
  };
  let v = version();
  if (!v && process.env.BENCH_INSTALL === '1') {
    log('installing goaccess (BENCH_INSTALL=1)');
    const out = Bun.spawnSync(['apt-get', 'install', '-y', 'goaccess'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (out.exitCode !== 0) log(`apt-get install goaccess failed: ${out.stderr.toString().trim().split('\n').pop()}`);
    v = version();
  }
  if (!v) {
    notes.push('goaccess not installed: apt-get install goaccess (or run with BENCH_INSTALL=1)');
    return null;
  }
  notes.push(`GoAccess: ${v}, \`goaccess FILE --log-format=COMMON --no-global-config -o report.json\`, 1 M file only.`);
  return 'goaccess';
}

interface Row {
  what: string;
  input: Input;
  runs: Run[];
  /** Lines/s of the newline loop on the same file (best run), for the ratio. */
  ceiling?: number;
  /** One extra run after the timed ones, sampling /proc/PID/smaps_rollup (anon vs file-backed). */
  smaps?: Run;
  /** The commit of BENCH_BASE's checkout, for its rows. */
  base?: string;
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
/** Two decimals, or two significant digits below 0.1 (GoAccess is far below the ceiling). */
const ratio = (r: number) => (r >= 0.1 ? r.toFixed(2) : r.toPrecision(2));
const rate = (input: Input, ms: number) => input.lines / (ms / 1000);
const mb = (kb: number | null) => (kb === null ? 'n/a' : fmt(kb / 1024, 0));

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/**
 * Checks a replay's NDJSON: the stats intervals add up to every line of the input, and for an input
 * read with a format, its latency to every line (timed) or to none (durations skipped).
 */
function checkReplay(input: Input, ndjson: string) {
  let hits = 0;
  let invalid = 0;
  let timed = 0;
  for (const line of ndjson.split('\n')) {
    if (!line.startsWith('{')) continue;
    const o = JSON.parse(line) as { type?: string; hits?: number; invalid?: number; latency?: { count?: number } };
    if (o.type === 'stats') {
      hits += o.hits ?? 0;
      invalid += o.invalid ?? 0;
      timed += o.latency?.count ?? 0;
    }
  }
  if (hits !== input.lines || invalid !== 0) {
    fail(`the monitor's replay of ${input.path} counted ${hits} hits and ${invalid} invalid, expected ${input.lines} hits`);
  }
  if (input.timed !== undefined && timed !== (input.timed ? input.lines : 0)) {
    fail(`the monitor's replay of ${input.name} timed ${timed} requests, expected ${input.timed ? input.lines : 0}`);
  }
}

/** Fleet rows only (BENCH_ONLY=fleet): printed with the machine, latest.md left alone. */
async function fleetOnly() {
  const began = Date.now();
  const hashBefore = productHash();
  const commit = gitCommit();
  const notes: string[] = [];
  const fleet = await fleetWithFloor(clockTicks(), notes);
  printPart(['## Fleet (issue 11)', '', ...(fleet ? [fleetTables(fleet, table), ''] : [])], notes, machineLines(began, hashBefore, commit));
}

/** A part of the bench run alone (BENCH_ONLY, BENCH_INPUTS): its tables, the notes and the machine, on stdout. */
function printPart(tables: string[], notes: string[], machine: string) {
  console.log([...tables, '## Notes', '', ...notes.map((n) => `- ${n}`), '', '## Machine', '', machine, ''].join('\n'));
}

/** The fleet runs, with `bun -e 0` timed before and after them: how noisy the machine was. */
async function fleetWithFloor(clk: number, notes: string[]) {
  const floor = async () => median((await repeat(10, [BUN, '-e', '0'])).map((r) => r.ms));
  const before = await floor();
  const fleet = await fleetBench(BUN, ROOT, DIR, clk, notes);
  notes.push(`Fleet: \`bun -e 0\` (how busy the machine was) took ${fmt(before, 1)} ms (median of 10) before the fleet runs, ${fmt(await floor(), 1)} ms after.`);
  return fleet;
}

function machineLines(began: number, hashBefore: string, commit: string): string {
  const hashAfter = productHash();
  return [
    `- commit ${commit}, product sources sha256 ${hashBefore}${hashAfter === hashBefore ? ' (unchanged during the run)' : ` → ${hashAfter}: **the product changed during the run**`}`,
    `- ${new Date(began).toISOString()}, ${((Date.now() - began) / 1000).toFixed(0)} s`,
    `- ${cpus().length} cores (nproc), ${cpuModel()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${process.platform} ${readOs()}`,
    `- Bun ${Bun.version}; inputs in ${DIR}`,
  ].join('\n');
}

/** The throughput rows: the newline loop, GoAccess (1M), the monitor's replay, and pinned (10M). */
async function throughputRows(inputs: Input[], notes: string[]): Promise<Row[]> {
  const rows: Row[] = [];

  // The ceiling: newline counting, on every input (its ratio column is 1 by definition).
  const ceilings = new Map<Input, number>();
  const byPath = new Map<string, number>();
  for (const input of inputs) {
    const known = byPath.get(input.path);
    if (known !== undefined) {
      ceilings.set(input, known); // the same file read with another format: its ceiling is measured
      continue;
    }
    log(`newline loop on ${input.name}`);
    const out = join(DIR, 'newline.out');
    await run([BUN, join(ROOT, 'bench/newline.ts'), input.path], { stdout: out });
    const counted = Number(readFileSync(out, 'utf8').trim());
    if (counted !== input.lines) fail(`${input.path} has ${counted} lines, expected ${input.lines}: delete it to regenerate`);
    const runs = await repeat(RUNS, [BUN, join(ROOT, 'bench/newline.ts'), input.path]);
    ceilings.set(input, rate(input, Math.min(...runs.map((r) => r.ms))));
    byPath.set(input.path, ceilings.get(input)!);
    const smaps = await run([BUN, join(ROOT, 'bench/newline.ts'), input.path], { smaps: true });
    rows.push({ what: 'newline loop (ceiling)', input, runs, ceiling: ceilings.get(input), smaps });
  }

  const small = inputs.find((i) => i.name === '1M');
  const ga = small && goaccess(notes);
  if (small && ga) {
    log(`goaccess on ${small.name}`);
    const runs = await repeat(RUNS, [ga, small.path, '--log-format=COMMON', '--no-global-config', '-o', join(DIR, 'goaccess.json')]);
    const report = JSON.parse(readFileSync(join(DIR, 'goaccess.json'), 'utf8')) as { general?: { valid_requests?: number } };
    if (report.general?.valid_requests !== small.lines) notes.push(`GoAccess counted ${report.general?.valid_requests} valid requests of ${small.lines}`);
    rows.push({ what: 'GoAccess', input: small, runs, ceiling: ceilings.get(small) });
  }

  const baseCommit = BASE && gitCommit(BASE);
  for (const input of inputs) {
    log(`monitor --replay --json on ${input.name}`);
    const cmd = [BUN, 'entry.ts', '--replay', '--json', ...(input.args ?? []), '-f', input.path];
    const out = join(DIR, 'replay.ndjson');
    await run(cmd, { cwd: ROOT, stdout: out }); // warm-up, and a check that it counts every line
    checkReplay(input, readFileSync(out, 'utf8'));
    if (BASE && !input.args) {
      // The other checkout on the same input, its runs in turn with these: the machine's moods hit both alike.
      log(`monitor --replay --json on ${input.name} at ${baseCommit} (${BASE}), in turn`);
      await run(cmd, { cwd: BASE, stdout: out });
      checkReplay(input, readFileSync(out, 'utf8'));
      const [runs, baseRuns] = await inTurn(RUNS, [{ cmd, opts: { cwd: ROOT } }, { cmd, opts: { cwd: BASE } }]);
      rows.push({ what: `${REPLAY} at ${baseCommit} (BENCH_BASE)`, input, runs: baseRuns!, ceiling: ceilings.get(input), base: baseCommit });
      rows.push({ what: REPLAY, input, runs: runs!, ceiling: ceilings.get(input), smaps: await run(cmd, { cwd: ROOT, smaps: true }) });
      continue;
    }
    const runs = await repeat(RUNS, cmd, { cwd: ROOT });
    const smaps = await run(cmd, { cwd: ROOT, smaps: true });
    rows.push({ what: REPLAY, input, runs, ceiling: ceilings.get(input), smaps });
  }

  // The same replay pinned to one core: JSC compiles and collects on threads of its own, which
  // otherwise run on the second core.
  const taskset = Bun.which('taskset');
  const big = inputs.find((i) => i.name === '10M');
  if (taskset && big) {
    log(`monitor --replay --json on ${big.name}, pinned to one core`);
    const runs = await repeat(RUNS, [taskset, '-c', '0', BUN, 'entry.ts', '--replay', '--json', '-f', big.path], { cwd: ROOT });
    rows.push({ what: 'monitor `--replay --json`, pinned to one core (`taskset -c 0`)', input: big, runs, ceiling: ceilings.get(big) });
  } else if (!taskset) notes.push('taskset not found: the pinned-to-one-core row is skipped.');
  if (inputs.some((i) => i.args)) {
    notes.push('Formats (issue 19): an input with a format is replayed with its `--log-format` (the nginx string for nginx-timed, `caddy`); its check also asks that the stats time every line (its durations skipped: none).');
  }
  if (BASE) notes.push(`BENCH_BASE: the rows "at ${baseCommit}" ran ${BASE}'s \`entry.ts\` on the same files, its runs in turn with this checkout's (A B A B …), after a checked warm-up of each.`);
  notes.push(
    `Throughput: best and median of ${RUNS} runs after one warm-up run (whose output is checked: every line counted); wall time of the whole process, stdout to /dev/null. Peak RSS: ${hasGnuTime ? '`/usr/bin/time -f %M`' : 'VmHWM polled every 20 ms'}, max over the runs. CPU s: user + system of the process (all its threads, the JIT's too), the least of the runs${hasGnuTime ? '' : ' (n/a: no /usr/bin/time)'}; unlike the wall time, it leaves out waiting for a core on a busy machine.`,
    'Peak anon / file-backed MB: one extra run per input after the timed runs (not timed), the command spawned directly (no /usr/bin/time) and its /proc/PID/smaps_rollup sampled every 20 ms; anon = `Anonymous:`, file-backed = `Rss:` − `Anonymous:`, each its own maximum (so they need not add up to the peak RSS, and a run under ~0.1 s gets only a few samples). File-backed: pages of the Bun executable and other mapped files, shared and reclaimable; anon: the process\'s own memory (JS heap, JIT code, allocator).',
  );
  return rows;
}

function throughputTable(rows: Row[]): string {
  return table(
    ['measurement', 'input', 'lines/s (best)', 'lines/s (median)', 'best ÷ newline loop', 'peak RSS MB', 'peak anon MB', 'peak file-backed MB', 'wall s (best)', 'CPU s (best)'],
    rows.map(({ what, input, runs, ceiling, smaps }) => {
      const ms = runs.map((r) => r.ms);
      const best = Math.min(...ms);
      return [
        what,
        input.name,
        fmt(rate(input, best)),
        fmt(rate(input, median(ms))),
        ceiling ? ratio(rate(input, best) / ceiling) : 'n/a',
        mb(Math.max(...runs.map((r) => r.peakKB ?? 0)) || null),
        mb(smaps?.peakAnonKB ?? null),
        mb(smaps?.peakFileKB ?? null),
        fmt(best / 1000, 2),
        cpuOf(runs) === undefined ? 'n/a' : fmt(cpuOf(runs)! / 1000, 2),
      ];
    }),
  );
}

/** The least CPU time (user + system) of the runs, when /usr/bin/time gave it. */
const cpuOf = (runs: Run[]) => (runs.every((r) => r.cpuMs !== undefined) ? Math.min(...runs.map((r) => r.cpuMs!)) : undefined);
const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} %`;

/**
 * Issue 19's targets from the throughput rows that are there: a custom nginx format at ≥ 0.8 × the
 * combined path's lines/s on the same requests, Caddy's JSON at ≥ 1 M lines/s, the latency
 * sketches (durations read and counted) ≤ 10 % of a timed replay's time, and with BENCH_BASE, the
 * CLF and combined paths within 3 % of the other checkout. Judged on the best wall times; the
 * medians, and the best CPU times (user + system, which waiting for a busy machine's cores leaves
 * out), beside them.
 */
function formatsTable(rows: Row[]): string | null {
  const replay = (name: string) => rows.find((r) => r.what === REPLAY && r.input.name === name);
  const best = (r: Row) => Math.min(...r.runs.map((x) => x.ms));
  const mid = (r: Row) => median(r.runs.map((x) => x.ms));
  /** `a / b` of the best wall times, of the medians, and of the best CPU times. */
  const ratios = (a: Row, b: Row) => ({ best: best(a) / best(b), median: mid(a) / mid(b), cpu: (cpuOf(a.runs) ?? NaN) / (cpuOf(b.runs) ?? NaN) });
  const shown = (r: { best: number; median: number; cpu: number }, f: (x: number) => string) =>
    [f(r.best), f(r.median), Number.isFinite(r.cpu) ? f(r.cpu) : 'n/a'];
  const lines: string[][] = [];
  const [combined, timed, untimed, caddy] = ['combined 10M', 'nginx-timed 10M', 'nginx-timed 10M (durations skipped)', 'caddy 2M'].map(replay);
  // Same requests, same number of lines: the ratio of lines/s is the inverse ratio of the times.
  if (combined && timed) {
    const r = ratios(combined, timed);
    lines.push(['nginx-timed 10M ÷ combined 10M, lines/s', ...shown(r, (x) => x.toFixed(2)), '≥ 0.80', r.best >= 0.8 ? 'yes' : '**no**']);
  }
  if (caddy) {
    const cpu = cpuOf(caddy.runs);
    const r = rate(caddy.input, best(caddy));
    lines.push(['caddy 2M, lines/s', fmt(r), fmt(rate(caddy.input, mid(caddy))), cpu ? fmt(rate(caddy.input, cpu)) : 'n/a', '≥ 1,000,000', r >= 1e6 ? 'yes' : '**no**']);
  }
  if (timed && untimed) {
    const r = ratios(timed, untimed);
    lines.push(['latency sketches: nginx-timed 10M against its durations skipped, time', ...shown(r, (x) => pct(x - 1)), '≤ +10 %', r.best <= 1.1 ? 'yes' : '**no**']);
  }
  for (const row of rows.filter((r) => r.base)) {
    const now = replay(row.input.name);
    if (!now) continue;
    const r = ratios(row, now); // lines/s now against then
    lines.push([`${row.input.name}: lines/s against ${row.base}`, ...shown(r, (x) => pct(x - 1)), '≥ −3 %', r.best >= 0.97 ? 'yes' : '**no**']);
  }
  return lines.length ? table(['issue 19', 'best', 'median', 'best CPU', 'target', 'met'], lines) : null;
}

/** The throughput table, and the formats' targets under it when their rows are there. */
function throughputPart(rows: Row[]): string[] {
  const formats = formatsTable(rows);
  return [throughputTable(rows), '', ...(formats ? ['### Log formats and latency (issue 19)', '', formats, ''] : [])];
}

/** Throughput rows on some inputs only (BENCH_INPUTS): printed with the machine, latest.md left alone. */
async function inputsOnly(words: string[]) {
  const began = Date.now();
  const hashBefore = productHash();
  const commit = gitCommit();
  const wanted = (name: string) => words.some((w) => name === w || name.startsWith(`${w} `));
  if (!INPUT_NAMES.some(wanted)) fail(`BENCH_INPUTS=${words.join(',')} matches no input; the inputs are ${INPUT_NAMES.join(', ')}`);
  const notes: string[] = [];
  const rows = await throughputRows(await prepareInputs(DIR, BUN, ROOT, wanted), notes);
  printPart(['## Throughput (replay)', '', ...throughputPart(rows)], notes, machineLines(began, hashBefore, commit));
}

async function main() {
  const began = Date.now();
  const hashBefore = productHash();
  const commit = gitCommit();
  const notes: string[] = [];
  const inputs = await prepareInputs(DIR, BUN, ROOT);
  const small = inputs[0]!;
  const rows = await throughputRows(inputs, notes);

  // Startup.
  log('startup');
  const oneLine = join(DIR, 'one-line.log');
  writeFileSync(oneLine, readFileSync(small.path).subarray(0, 200).toString().split('\n')[0] + '\n');
  const STARTS = 10;
  const floor = (await repeat(STARTS, [BUN, '-e', '0'])).map((r) => r.ms);
  const replayOne = (await repeat(STARTS, [BUN, 'entry.ts', '--replay', '--json', '-f', oneLine], { cwd: ROOT })).map((r) => r.ms);
  const followFirst: number[] = [];
  for (let i = 0; i < STARTS; i++) followFirst.push(await startupFollow(BUN, ROOT, DIR));

  // Follow latency and idle CPU, with file-system events (default) and polling alone.
  const load = { rate: 50_000, seconds: 10, batchLines: 100, pollMs: 250 };
  const clk = clockTicks();
  const modes: { name: string; args: string[]; latency?: LatencyResult; idle?: number }[] = [
    { name: 'watch + poll 250 ms (default)', args: [] },
    { name: '`--no-watch`, poll 250 ms', args: ['--no-watch'] },
  ];
  for (const mode of modes) {
    log(`follow latency, ${mode.name}`);
    mode.latency = await followLatency(BUN, ROOT, DIR, { ...load, args: mode.args });
    if (mode.latency.stderr.length) notes.push(`follow (${mode.name}) stderr: ${mode.latency.stderr.slice(0, 3).join(' | ')}`);
    log(`idle CPU, ${mode.name}`);
    mode.idle = await idleCpu(BUN, ROOT, DIR, ['--poll-ms', String(load.pollMs), ...mode.args], 10, clk);
  }

  // The fleet (issue 11): the centre, an agent, and the latency between them.
  const fleetNotes: string[] = [];
  const fleet = await fleetWithFloor(clk, fleetNotes);

  // Tables.
  const throughput = throughputPart(rows).join('\n');
  const follow = table(
    ['follow, 50,000 lines/s for 10 s', 'p50 ms', 'p99 ms', 'max ms', 'kept up', 'max backlog (lines)', 'counted / written', 'peak RSS MB', 'idle CPU % of a core'],
    modes.map(({ name, latency: l, idle }) => [
      name,
      fmt(l!.p50),
      fmt(l!.p99),
      fmt(l!.max),
      l!.keptUp ? 'yes' : '**no**',
      fmt(l!.maxBacklog),
      `${fmt(l!.counted)} / ${fmt(l!.written)}`,
      mb(l!.peakKB),
      fmt(idle!, 2),
    ]),
  );
  const startup = table(
    [`startup (${STARTS} runs)`, 'median ms', 'min ms', 'max ms'],
    [
      ['`--replay --json` of a 1-line file, whole process', replayOne],
      ['follow: spawn → first appended line counted (probe)', followFirst],
      ['`bun -e 0` (Bun alone, the floor)', floor],
    ].map(([what, v]) => [what as string, fmt(median(v as number[]), 1), fmt(Math.min(...(v as number[])), 1), fmt(Math.max(...(v as number[])), 1)]),
  );
  const writeRates = modes.map((m) => fmt(m.latency!.writeRate)).join(' and ');
  notes.push(
    `Follow: the harness writes ${load.batchLines} lines every ${(load.batchLines / load.rate) * 1000} ms (achieved ${writeRates} lines/s) with current timestamps; latency = first \`probe\` (HLM_PROBE=1) whose count covers a batch − the time its write returned. Kept up = every line counted and the backlog never above 1 s of traffic.`,
    'Startup (follow): lines are appended every 5 ms after spawning (follow mode starts existing files at their end and prints nothing when ready), so it includes up to ~5 ms of that granularity and the 5 ms watch-hint delay.',
    ...fleetNotes,
  );
  const machine = machineLines(began, hashBefore, commit);
  const report = [
    '## Throughput (replay)',
    '',
    throughput,
    '',
    '## Follow mode',
    '',
    follow,
    '',
    startup,
    '',
    '## Fleet (issue 11)',
    '',
    fleet ? fleetTables(fleet, table) : 'Skipped: see the notes.',
    '',
    '## Notes',
    '',
    ...notes.map((n) => `- ${n}`),
    '',
    '## Machine',
    '',
    machine,
    '',
  ].join('\n');
  console.log(report);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/latest.md'), `# Benchmark results\n\n${report}`);
  log('wrote bench/results/latest.md');
}

function cpuModel(): string {
  const m = /model name\s*:\s*(.*)/.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '');
  return m?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown CPU';
}

function readOs(): string {
  const m = /PRETTY_NAME="(.*)"/.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '');
  return m?.[1] ?? '';
}

const only = (process.env.BENCH_INPUTS ?? '').split(',').map((w) => w.trim()).filter(Boolean);
if (process.env.BENCH_ONLY === 'fleet') await fleetOnly();
else if (process.env.BENCH_ONLY) fail(`BENCH_ONLY=${process.env.BENCH_ONLY}: the only part that runs alone is 'fleet'`);
else if (only.length) await inputsOnly(only);
else await main();
