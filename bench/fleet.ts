/**
 * The fleet rows of `npm run bench` (issue 11), against a real nats-server (127.0.0.1, a free
 * port, a temporary store, a fresh server per run; the rows are skipped with a note when
 * nats-server is absent). Five runs, ~2.5 min in all, each bounded in time; every process started
 * is stopped by its PID at the end, also when a step fails:
 *
 * 1. centre: the central monitor (`--nats URL --json -s 10`, defaults otherwise) merging 1,000
 *    agents simulated in one child process (`bun bench/fleet.ts simulate URL AGENTS SECONDS OUT
 *    [IDLE]`): each agent publishes once a second as a real one does, when its clock moves on
 *    (its poll 0.5 s into the second, the agents spread evenly over 50 ms: 1,000 messages/s),
 *    a small realistic segment for the current second (5 lines scanned by the product's
 *    ClfScanner) and its clock (the second before the last one), through lib/wire's encode and lib/nats's
 *    publishCounts with the message ID `agent:seq`. After a 10 s warm-up, the centre's CPU
 *    (/proc/PID/stat, all threads) and RSS over 20 s; it kept up if every stats interval of the
 *    simulation has exactly the hits the stream acknowledged for its seconds, and its stats lines
 *    come a steady time after their interval's end.
 * 2. agent alone: one real agent (`agent -f FILE --nats URL`, as by default: a poll a second, with `--watch`;
 *    then as by default, polling only) while its file grows by 1,000 lines/s, one line per write(2)
 *    as a web server writes, in bursts every 10 ms; its CPU over 20 s after a warm-up (and over 5 s
 *    before any line), and the latency of each burst: from its write to the message carrying it
 *    on the stream (a subscription here), and to its count at the centre (`-s 1`).
 * 3. the same agent among 999 simulated ones, all with lines every second, then 10 of them idle
 *    (clock-only messages): the centre steps past a second once every agent has shown a later one
 *    or every agent's clock has reached it, so in a fleet the latest agent decides.
 *
 * Latency at the centre: HLM_PROBE=1 prints nothing there (its probe is the parser's, and the
 * centre has no parser: the fleet feed hands batches to the replay clock), so the centre runs with
 * `-s 1` and a line counts as counted when the stats line of its second is printed, read here as
 * it comes: the fleet feed releases a second's segments and steps the clock past it in the same
 * turn, and that step closes the interval. The real agent's lines are told from the simulated
 * ones' by their section (the simulated agents use fewer than the 10 sections a stats line lists).
 *
 * `BENCH_ONLY=fleet npm run bench` runs only these (see bench/run.ts); it prints them and does
 * not write bench/results/latest.md.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { clfTime } from './inputs';
import { cpuTicks, percentile } from './measure';

const SUBJECT_PREFIX = 'hlm.counts.'; // countsPrefix('HLM') in commands/agent.ts
const NO_CREDS = { NATS_TOKEN: '', NATS_USER: '', NATS_PASSWORD: '' };
/** The section of the real agent's lines (the simulated agents never use it). */
const PROBE_SECTION = '/fleet-probe';
const log = (message: string) => console.error(`bench: fleet: ${message}`);

// ---------------------------------------------------------------------------------------------
// The simulator (a child process): AGENTS agents publishing once a second each for SECONDS s.

/** Lines each simulated agent counts a second (the fleet: 5 × agents lines/s). */
const SIM_LINES = 5;
/** Distinct segments made each second, shared out among the agents. */
const SIM_VARIANTS = 20;
/** The agent's default `--grace-ms`: its poll, and its message, come this far into each second. */
const SIM_GRACE_MS = 500;
/** How the agents' messages spread around that instant (timers, reading, clocks a few ms apart). */
const SIM_SPREAD_MS = 50;
/** Fewer than the 10 sections a stats line lists, so that the real agent's section is always among them. */
const SECTIONS = ['/api', '/static', '/img', '/login', '/search', '/cart', '/products', '/users'];
const USERS = ['-', '-', '-', 'alice', 'bob', 'carol'];
const STATUSES = [200, 200, 200, 200, 200, 304, 301, 404, 500, 201];

export interface SimResult {
  agents: number;
  messages: number;
  acked: number;
  /** Publishes that failed (each retried with its message ID); lost: gave up after 3. */
  failed: number;
  lost: number;
  /** Acknowledged hits by segment second. */
  published: [number, number][];
  /** How late messages went out against their schedule, ms. */
  lagP99: number;
  lagMax: number;
  /** The first and last second in which messages were scheduled. */
  firstSecond: number;
  lastSecond: number;
}

function simLine(second: number, v: number, j: number): string {
  const k = v * SIM_LINES + j;
  const section = SECTIONS[(k * 7) % SECTIONS.length]!;
  const method = k % 9 === 0 ? 'POST' : 'GET';
  return `10.${v}.${j}.${(k * 13) % 250} - ${USERS[k % USERS.length]} [${clfTime(second)}] "${method} ${section}/item/${k % 50} HTTP/1.1" ${STATUSES[k % STATUSES.length]} ${200 + ((k * 37) % 5000)}\n`;
}

async function simulate(url: string, agents: number, seconds: number, outFile: string, idle: number): Promise<void> {
  const [{ connectNats, ensureStream, jetstream, publishCounts }, { encode, messageId, WIRE_VERSION }, { ClfScanner }] = await Promise.all([
    import('../lib/nats'),
    import('../lib/wire'),
    import('../actors/clf-scanner'),
  ]);
  type Segment = import('../lib/wire').Segment;
  type CountsMessage = import('../lib/wire').CountsMessage;
  const nc = await connectNats(url, { name: 'hlm-bench-simulator', env: {} });
  await ensureStream(nc, { name: 'HLM', subjects: [`${SUBJECT_PREFIX}>`] });
  const js = jetstream(nc);
  const scanner = new ClfScanner();
  let variantsOf = -1;
  let variants: { segment: Segment; bytes: number }[] = [];
  const segmentFor = (second: number, agent: number) => {
    if (second !== variantsOf) {
      variantsOf = second;
      variants = Array.from({ length: SIM_VARIANTS }, (_, v) => {
        const text = Array.from({ length: SIM_LINES }, (_, j) => simLine(second, v, j)).join('');
        const segments = scanner.scan(Buffer.from(text)).segments;
        if (segments.length !== 1 || segments[0]!.hits !== SIM_LINES) throw new Error(`simulator: a variant scanned to ${segments.length} segments`);
        return { segment: segments[0]!, bytes: text.length };
      });
    }
    return variants[(agent + second) % SIM_VARIANTS]!;
  };
  const names = Array.from({ length: agents }, (_, i) => `sim-${String(i + 1).padStart(4, '0')}`);
  // Idle agents (no line this second: a clock-only message, as a real idle agent sends), spread out.
  const step = idle > 0 ? Math.floor(agents / idle) : 0;
  const isIdle = (i: number) => step > 0 && i % step === step - 1 && Math.floor(i / step) < idle;
  const seqs = new Array<number>(agents).fill(1);
  const offsets = new Array<number>(agents).fill(0);
  const head = new Uint8Array(Buffer.from(simLine(0, 0, 0).slice(0, 64)));
  const published = new Map<number, number>();
  const lags: number[] = [];
  let messages = 0;
  let acked = 0;
  let failed = 0;
  let lost = 0;
  let inFlight = 0;
  const MAX_IN_FLIGHT = 2000;

  const send = (subject: string, payload: Uint8Array, id: string, second: number, hits: number, attempt: number) => {
    inFlight++;
    publishCounts(js, subject, payload, id).then(
      () => {
        inFlight--;
        acked++;
        published.set(second, (published.get(second) ?? 0) + hits);
      },
      () => {
        inFlight--;
        failed++;
        if (attempt >= 3) lost++;
        else setTimeout(() => send(subject, payload, id, second, hits, attempt + 1), 200);
      },
    );
  };

  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  // As real agents publish: when the clock moves on, at the poll that lands its grace after a
  // second's end: SIM_GRACE_MS into each second, the agents spread evenly over SIM_SPREAD_MS.
  const base = Math.ceil(Date.now() / 1000) * 1000;
  const dueOf = (k: number) => base + Math.floor(k / agents) * 1000 + SIM_GRACE_MS + Math.floor((SIM_SPREAD_MS * (k % agents)) / agents);
  const total = agents * seconds;
  let firstSecond = Infinity;
  let lastSecond = -Infinity;
  while (!stop && messages < total) {
    while (messages < total && dueOf(messages) <= Date.now() && inFlight < MAX_IN_FLIGHT) {
      const i = messages % agents;
      const at = Date.now();
      const due = dueOf(messages);
      lags.push(at - due);
      const second = Math.floor(at / 1000);
      firstSecond = Math.min(firstSecond, second);
      lastSecond = Math.max(lastSecond, second);
      const { segment, bytes } = isIdle(i) ? { segment: null, bytes: 0 } : segmentFor(second, i);
      offsets[i]! += bytes;
      const m: CountsMessage = {
        v: WIRE_VERSION,
        agent: names[i]!,
        seq: seqs[i]!++,
        clock: Math.floor((due - SIM_GRACE_MS) / 1000) - 1,
        segments: segment ? [segment] : [],
        files: [{ path: '/var/log/nginx/access.log', id: `2049:${100_000 + i}`, offset: offsets[i]!, head }],
      };
      send(`${SUBJECT_PREFIX}${m.agent}`, encode(m), messageId(m), second, segment?.hits ?? 0, 1);
      messages++;
    }
    await Bun.sleep(1);
  }
  const deadline = Date.now() + 10_000;
  while (inFlight > 0 && Date.now() < deadline) await Bun.sleep(20);
  const result: SimResult = {
    agents,
    messages,
    acked,
    failed,
    lost: lost + inFlight,
    published: [...published].sort((a, b) => a[0] - b[0]),
    lagP99: percentile(lags, 0.99),
    lagMax: Math.max(...lags),
    firstSecond,
    lastSecond,
  };
  await Bun.write(outFile, JSON.stringify(result));
  await nc.close().catch(() => {});
}

if (import.meta.main) {
  const [mode, url, agents, seconds, out, idle = '0'] = process.argv.slice(2);
  if (mode !== 'simulate' || !url || !out) {
    console.error('usage: bun bench/fleet.ts simulate NATS_URL AGENTS SECONDS OUTFILE [IDLE_AGENTS]');
    process.exit(2);
  }
  await simulate(url, Number(agents), Number(seconds), out, Number(idle));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The harness.

interface Line {
  text: string;
  /** When it was read here, epoch ms. */
  ms: number;
}

/** A spawned process whose stdout and stderr lines are kept with the time each was read. */
class Child {
  readonly out: Line[] = [];
  readonly err: Line[] = [];
  readonly proc;
  private wake: (() => void)[] = [];
  private readonly reading: Promise<void>[];

  constructor(
    readonly what: string,
    cmd: string[],
    cwd: string,
    env: Record<string, string> = {},
  ) {
    this.proc = Bun.spawn(cmd, { cwd, env: { ...process.env, TZ: 'UTC', ...NO_CREDS, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    this.reading = [this.read(this.proc.stdout, this.out), this.read(this.proc.stderr, this.err)];
  }

  get pid() {
    return this.proc.pid;
  }

  get running() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async read(stream: ReadableStream<Uint8Array>, into: Line[]) {
    const decoder = new TextDecoder();
    let rest = '';
    for await (const chunk of stream) {
      const ms = Date.now();
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop()!;
      for (const text of lines) into.push({ text, ms });
      const wake = this.wake;
      this.wake = [];
      for (const w of wake) w();
    }
    if (rest) into.push({ text: rest, ms: Date.now() });
  }

  /** Resolves once `ready()` holds; fails the step (with the last stderr lines) after `ms`. */
  async until(what: string, ms: number, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (!this.running) throw new Error(`${this.what} exited (${this.proc.exitCode ?? this.proc.signalCode}) before ${what}; stderr: ${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.what}: no ${what} within ${ms / 1000} s; stderr: ${this.tail()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.wake.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  tail(n = 3): string {
    return this.err.slice(-n).map((l) => l.text).join(' | ') || '(none)';
  }

  /** SIGTERM, SIGKILL after `graceMs`; the exit code (-1 when it had to be killed). */
  async stop(graceMs = 5000): Promise<number> {
    let killed = false;
    if (this.running) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => {
        killed = true;
        this.proc.kill('SIGKILL');
      }, graceMs);
      await this.proc.exited;
      clearTimeout(timer);
    }
    await Promise.all(this.reading);
    return killed ? -1 : (this.proc.exitCode ?? -1);
  }
}

interface Stats {
  start: string;
  end: string;
  hits: number;
  sections: { section: string; hits: number }[];
  final: boolean;
}

const statsOf = (c: Child): (Stats & { ms: number })[] =>
  c.out.flatMap((l) => (l.text.startsWith('{"type":"stats"') ? [{ ...(JSON.parse(l.text) as Stats), ms: l.ms }] : []));

/** VmRSS and VmHWM of a live process, KiB. */
function memory(pid: number): { rssKB: number; hwmKB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN), hwmKB: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) };
}

/** CPU of several processes over the same stretch, % of one core. */
async function cpuOver(pids: number[], ms: number, clkTck: number): Promise<number[]> {
  const before = pids.map(cpuTicks);
  const t0 = performance.now();
  await Bun.sleep(ms);
  const after = pids.map(cpuTicks);
  const wall = (performance.now() - t0) / 1000;
  return pids.map((_, i) => ((after[i]! - before[i]!) / clkTck / wall) * 100);
}

function probeLine(second: number, i: number): string {
  return `10.2.${(i >> 8) & 255}.${i & 255} - - [${clfTime(second)}] "GET ${PROBE_SECTION}/${i % 100} HTTP/1.1" 200 512\n`;
}

interface Mark {
  /** Running total of lines. */
  cum: number;
  /** Epoch ms. */
  ms: number;
}

/**
 * Appends `rate` lines/s to `file`, stamped now, one write(2) a line (as a web server writes its
 * log) in bursts every 10 ms; each burst's running total and the time its last write returned.
 */
function startWriter(file: string, rate: number, linesPerWrite = 1) {
  const fd = openSync(file, 'a');
  const bursts: Mark[] = [];
  let written = 0;
  let stopped = false;
  let rateAtStop = NaN;
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout>;
  const tick = () => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    if (due > written) {
      const second = Math.floor(Date.now() / 1000);
      if (linesPerWrite === 1) for (; written < due; written++) writeSync(fd, probeLine(second, written));
      else {
        let text = '';
        for (; written < due; written++) {
          text += probeLine(second, written);
          if ((written + 1) % linesPerWrite === 0 || written + 1 === due) {
            writeSync(fd, text);
            text = '';
          }
        }
      }
      bursts.push({ cum: written, ms: Date.now() });
    }
    if (!stopped) timer = setTimeout(tick, 10);
  };
  timer = setTimeout(tick, 10);
  return {
    bursts,
    get written() {
      return written;
    },
    /** Lines/s achieved, from the start to the stop. */
    get rate() {
      return rateAtStop;
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      closeSync(fd);
      rateAtStop = written / ((performance.now() - t0) / 1000);
    },
  };
}

/**
 * For each burst written in [from, to), the first of `seen` (running totals in time order) that
 * covers it, less the burst's write time, ms.
 */
function latencies(bursts: Mark[], seen: Mark[], from: number, to: number): number[] {
  const out: number[] = [];
  let j = 0;
  for (const b of bursts) {
    while (j < seen.length && seen[j]!.cum < b.cum) j++;
    if (j === seen.length) break;
    if (b.ms >= from && b.ms < to) out.push(seen[j]!.ms - b.ms);
  }
  return out;
}

export interface Dist {
  n: number;
  p50: number;
  p99: number;
  max: number;
}
const dist = (v: number[]): Dist => (v.length ? { n: v.length, p50: percentile(v, 0.5), p99: percentile(v, 0.99), max: Math.max(...v) } : { n: 0, p50: NaN, p99: NaN, max: NaN });

export interface CentreRun {
  agents: number;
  seconds: number;
  cpu: number;
  rssKB: number;
  hwmKB: number;
  simulatorCpu: number;
  natsCpu: number;
  /** Stats intervals ending within the simulation, and how many had exactly the hits acknowledged for their seconds. */
  intervals: number;
  intervalsEqual: number;
  hitsCounted: number;
  hitsPublished: number;
  /** Whether every such interval is `-s` (10 s) long. */
  allTenSeconds: boolean;
  /** Stats line printed − its interval's end, ms, every interval but the first (startup, the alert's record). */
  printLag: Dist;
  messagesPerSecond: number;
  sim: SimResult;
  probeLines: number;
}

export interface LatencyRun {
  what: string;
  agents: number;
  simulated: number;
  idle: number;
  seconds: number;
  written: number;
  writeRate: number;
  counted: number;
  /** Write → the message carrying the line delivered to a subscription on the agent's subject. */
  toStream: Dist;
  /** Write → counted at the centre (its second's stats line printed). */
  toCentre: Dist;
  /** The agent's publishing phase in the second, ms (median of its messages' arrival ms % 1000). */
  phase: number;
  agentCpu: number;
  /** The agent's CPU before any line was written (NaN: not measured). */
  agentIdleCpu: number;
  agentRssKB: number;
  centreCpu: number;
}

export interface FleetResult {
  centre: CentreRun;
  latency: LatencyRun[];
  notes: string[];
}

export interface Ctx {
  bun: string;
  root: string;
  dir: string;
  clkTck: number;
  children: Child[];
}

function spawnChild(ctx: Ctx, what: string, cmd: string[], env: Record<string, string> = {}): Child {
  const c = new Child(what, cmd, ctx.root, env);
  ctx.children.push(c);
  return c;
}

const entry = (ctx: Ctx, args: string[]) => [ctx.bun, 'entry.ts', ...args];

/** The centre, started and waiting for the agents. */
async function startCentre(ctx: Ctx, url: string, args: string[], env: Record<string, string> = {}): Promise<Child> {
  const c = spawnChild(ctx, 'the centre', entry(ctx, ['--nats', url, '--json', ...args]), env);
  await c.until("'waiting for the agents'", 15_000, () => c.err.some((l) => l.text.startsWith('waiting for the agents')));
  return c;
}

function startSimulator(ctx: Ctx, url: string, agents: number, seconds: number, out: string, idle = 0): Child {
  rmSync(out, { force: true });
  return spawnChild(ctx, 'the simulator', [ctx.bun, join(ctx.root, 'bench/fleet.ts'), 'simulate', url, String(agents), String(seconds), out, String(idle)]);
}

async function simResult(sim: Child, out: string): Promise<SimResult> {
  await sim.proc.exited;
  if (sim.proc.exitCode !== 0) throw new Error(`the simulator exited with ${sim.proc.exitCode ?? sim.proc.signalCode}: ${sim.tail()}`);
  return JSON.parse(readFileSync(out, 'utf8')) as SimResult;
}

const reporting = (c: Child) => c.err.filter((l) => / is reporting$/.test(l.text)).length;
const seconds = (iso: string) => Date.parse(iso) / 1000;

/** Run 1: the centre (`-s 10`) merging `agents` simulated agents. */
export async function centreRun(ctx: Ctx, server: { url: string; pid: number }, agents: number, warmS: number, measureS: number): Promise<CentreRun> {
  // HLM_PROBE=1 to see whether the centre prints probes (it does not: see the header).
  const centre = await startCentre(ctx, server.url, ['-s', '10'], { HLM_PROBE: '1' });
  const out = join(ctx.dir, 'fleet-sim.json');
  const simSeconds = warmS + measureS + 4;
  const simStart = Date.now();
  const sim = startSimulator(ctx, server.url, agents, simSeconds, out);
  await centre.until(`'agent … is reporting' for ${agents} agents`, warmS * 1000 + 10_000, () => reporting(centre) >= agents);
  await Bun.sleep(Math.max(0, simStart + warmS * 1000 - Date.now()));
  const [cpu, simulatorCpu, natsCpu] = (await cpuOver([centre.pid, sim.pid, server.pid], measureS * 1000, ctx.clkTck)) as [number, number, number];
  const { rssKB, hwmKB } = memory(centre.pid);
  const result = await simResult(sim, out);
  const published = new Map(result.published);
  const publishedIn = (from: number, to: number) => {
    let n = 0;
    for (let sec = from; sec < to; sec++) n += published.get(sec) ?? 0;
    return n;
  };
  // The interval ending at or before the simulation's last (partial) second: the agents' clocks
  // pass it before they stop, so it is printed without waiting for their timeout.
  const first = statsOf(centre)[0];
  if (first) {
    const origin = seconds(first.start);
    const lastBoundary = origin + 10 * Math.floor((result.lastSecond - origin) / 10);
    await centre.until('the stats of the last whole interval', 15_000, () => statsOf(centre).some((s) => seconds(s.end) >= lastBoundary)).catch(() => {});
  }
  const all = statsOf(centre).filter((s) => !s.final && seconds(s.end) <= result.lastSecond);
  let intervalsEqual = 0;
  let hitsCounted = 0;
  let hitsPublished = 0;
  for (const s of all) {
    const expected = publishedIn(seconds(s.start), seconds(s.end));
    hitsCounted += s.hits;
    hitsPublished += expected;
    if (expected === s.hits) intervalsEqual++;
  }
  const probeLines = centre.err.filter((l) => l.text.startsWith('probe ')).length;
  const code = await centre.stop();
  if (code !== 0) throw new Error(`the centre exited with ${code}: ${centre.tail()}`);
  return {
    agents,
    seconds: measureS,
    cpu,
    rssKB,
    hwmKB,
    simulatorCpu,
    natsCpu,
    intervals: all.length,
    intervalsEqual,
    hitsCounted,
    hitsPublished,
    allTenSeconds: all.every((s) => seconds(s.end) - seconds(s.start) === 10),
    printLag: dist(all.slice(1).map((s) => s.ms - Date.parse(s.end))),
    messagesPerSecond: result.acked / simSeconds,
    sim: result,
    probeLines,
  };
}

export interface LatencyOptions {
  what: string;
  /** Simulated agents beside the real one, and how many of them are idle (clock-only messages). */
  simulated: number;
  idle: number;
  /** Lines/s appended to the real agent's file, `linesPerWrite` a write(2) (default 1). */
  rate: number;
  linesPerWrite?: number;
  /** More arguments for the agent (`--no-watch`). */
  agentArgs?: string[];
  warmS: number;
  measureS: number;
  /** Seconds of the agent's CPU measured before the writing starts (0: none). */
  idleS?: number;
}

/**
 * Runs 2 and 3: a real agent whose file grows by `rate` lines/s, with a centre at `-s 1`, among
 * `simulated` other agents. The writing goes on 2 s past the measured stretch, so that the lines
 * measured are released by the traffic after them (when the writing stops, the last second's lines
 * wait for the agent's clock instead: see the notes).
 */
export async function latencyRun(ctx: Ctx, url: string, o: LatencyOptions): Promise<LatencyRun> {
  const TAIL_S = 2;
  const centre = await startCentre(ctx, url, ['-s', '1', '-t', '1000000']);
  const out = join(ctx.dir, 'fleet-sim-latency.json');
  // The simulated agents go on past the writing, so that they do not hold the last lines back.
  const sim = o.simulated > 0 ? startSimulator(ctx, url, o.simulated, o.warmS + o.measureS + TAIL_S + 10, out, o.idle) : null;
  const sub = join(ctx.dir, 'fleet');
  mkdirSync(sub, { recursive: true });
  const file = join(sub, `agent-${o.simulated}-${o.idle}.log`);
  rmSync(file, { force: true });
  closeSync(openSync(file, 'w'));
  const name = 'bench-agent';
  const agent = spawnChild(ctx, 'the agent', entry(ctx, ['agent', '-f', file, '--nats', url, '--name', name, ...(o.agentArgs ?? [])]));

  // The stream side: a subscription to the agent's subject, the running total of its hits.
  const { connectNats } = await import('../lib/nats');
  const { decode } = await import('../lib/wire');
  const nc = await connectNats(url, { name: 'hlm-bench-watch', env: {} });
  const onStream: Mark[] = [];
  let streamCum = 0;
  nc.subscribe(`${SUBJECT_PREFIX}${name}`, {
    callback: (error, msg) => {
      if (error) return;
      const ms = Date.now();
      for (const s of decode(msg.data).segments) streamCum += s.hits;
      onStream.push({ cum: streamCum, ms });
    },
  });
  try {
    await centre.until(`'agent ${name} is reporting'`, 20_000, () => centre.err.some((l) => l.text.endsWith(`agent ${name} is reporting`)));
    if (sim) await centre.until(`${o.simulated + 1} agents reporting`, 20_000, () => reporting(centre) >= o.simulated + 1);

    const [agentIdleCpu] = o.idleS ? ((await cpuOver([agent.pid], o.idleS * 1000, ctx.clkTck)) as [number]) : [NaN];
    const writer = startWriter(file, o.rate, o.linesPerWrite);
    await Bun.sleep(o.warmS * 1000);
    const from = Date.now();
    const [agentCpu, centreCpu] = (await cpuOver([agent.pid, centre.pid], o.measureS * 1000, ctx.clkTck)) as [number, number];
    const to = Date.now();
    const { rssKB: agentRssKB } = memory(agent.pid);
    await Bun.sleep(TAIL_S * 1000);
    writer.stop();
    const written = writer.written;
    // The centre's running total of the agent's lines, from each stats line's count of their section.
    const atCentre = () => {
      let cum = 0;
      return statsOf(centre).map((s) => ({ cum: (cum += s.sections.find((x) => x.section === PROBE_SECTION)?.hits ?? 0), ms: s.ms }));
    };
    await centre.until(`the ${written} lines counted`, 15_000, () => (atCentre().at(-1)?.cum ?? 0) >= written).catch(() => {});
    const counted = atCentre().at(-1)?.cum ?? 0;
    const agentExit = await agent.stop();
    if (agentExit !== 0) throw new Error(`the agent exited with ${agentExit}: ${agent.tail()}`);
    if (sim) {
      sim.proc.kill('SIGTERM');
      await simResult(sim, out);
    }
    const centreExit = await centre.stop();
    if (centreExit !== 0) throw new Error(`the centre exited with ${centreExit}: ${centre.tail()}`);
    const phases = onStream.filter((m) => m.ms >= from && m.ms < to).map((m) => m.ms % 1000);
    return {
      what: o.what,
      agents: o.simulated + 1,
      simulated: o.simulated,
      idle: o.idle,
      seconds: o.measureS,
      written,
      writeRate: writer.rate,
      counted,
      toStream: dist(latencies(writer.bursts, onStream, from, to)),
      toCentre: dist(latencies(writer.bursts, atCentre(), from, to)),
      phase: phases.length ? percentile(phases, 0.5) : NaN,
      agentCpu,
      agentIdleCpu,
      agentRssKB,
      centreCpu,
    };
  } finally {
    await nc.close().catch(() => {});
  }
}

/**
 * The fleet runs; null (with a note) when nats-server is absent. Each run has a server of its own,
 * and every process started here is stopped at the end, whatever happened.
 */
export async function fleetBench(bun: string, root: string, dir: string, clkTck: number, notes: string[]): Promise<FleetResult | null> {
  const { NATS_SERVER_BIN, startNatsServer } = await import('../spec/support/nats-server');
  let version = '';
  try {
    const v = Bun.spawnSync([NATS_SERVER_BIN, '--version']);
    if (v.exitCode === 0) version = v.stdout.toString().trim();
  } catch {
    // not installed
  }
  if (!version) {
    notes.push(`Fleet: nats-server not found (${NATS_SERVER_BIN}, nor on PATH): the fleet rows are skipped; \`apt-get install nats-server\` (scripts/test-deps.sh does).`);
    return null;
  }
  const ctx: Ctx = { bun, root, dir, clkTck, children: [] };
  const servers: Awaited<ReturnType<typeof startNatsServer>>[] = [];
  const server = async () => {
    const s = await startNatsServer();
    servers.push(s);
    return { url: s.url, pid: s.pid! };
  };
  mkdirSync(dir, { recursive: true });
  const load = [loadavg()[0]!];
  try {
    log('the centre merging 1,000 simulated agents (~45 s)');
    const centre = await centreRun(ctx, await server(), 1000, 10, 20);
    load.push(loadavg()[0]!);
    const latency: LatencyRun[] = [];
    const plans: LatencyOptions[] = [
      // 30 s of warm-up: in the first 20 s of writing, Bun's JIT threads compile the agent's code and
      // take more CPU than the agent itself (1.6 % of a core at 5–20 s, 0.45 % from 30 s on).
      { what: 'alone, agent `--watch` (file events as a hint)', simulated: 0, idle: 0, rate: 1000, warmS: 30, measureS: 20, idleS: 5, agentArgs: ['--watch'] },
      { what: 'alone, agent as by default (a poll a second, 0.5 s into it)', simulated: 0, idle: 0, rate: 1000, warmS: 30, measureS: 20, idleS: 5, agentArgs: ['--no-watch'] },
      { what: 'among 999 simulated agents, each with lines every second', simulated: 999, idle: 0, rate: 1000, warmS: 5, measureS: 12 },
      { what: 'among 999 simulated agents, 10 of them idle', simulated: 999, idle: 10, rate: 1000, warmS: 5, measureS: 12 },
    ];
    for (const plan of plans) {
      log(`an agent, its file growing by ${plan.rate.toLocaleString('en-US')} lines/s, ${plan.what} (~${plan.warmS + plan.measureS + 8} s)`);
      latency.push(await latencyRun(ctx, (await server()).url, plan));
      load.push(loadavg()[0]!);
    }
    const [alone, noWatch] = latency as [LatencyRun, LatencyRun];
    const out: string[] = [
      `Fleet: ${version}, on 127.0.0.1, a fresh server and stream per run. 1-minute load average ${load.map((l) => l.toFixed(2)).join(' → ')} over the fleet runs.`,
      `Fleet, centre: \`entry.ts --nats URL --json -s 10\` (defaults otherwise) and ${fmt(centre.agents)} agents simulated in one process (\`bun bench/fleet.ts simulate\`): each publishes one message a second as a real agent does, when its clock moves on: ${SIM_GRACE_MS} ms (the agent's \`--grace-ms\`, where its polls land) into the second, the agents spread evenly over ${SIM_SPREAD_MS} ms (${fmt(centre.messagesPerSecond)} messages/s acknowledged), with a ${SIM_LINES}-line segment for the current second (scanned by the product's ClfScanner; ${fmt(SIM_LINES * centre.agents)} lines/s in all) and its clock, the second before the last one, through lib/wire \`encode\` and lib/nats \`publishCounts\` with IDs \`agent:seq\`; publishes went out at most ${fmt(centre.sim.lagMax)} ms late (p99 ${fmt(centre.sim.lagP99)} ms), ${centre.sim.failed} failed, ${centre.sim.lost} lost. CPU (utime + stime of all threads, /proc/PID/stat) over ${centre.seconds} s after a 10 s warm-up with every agent reporting; RSS (VmRSS) at the end of that stretch, peak VmHWM. Over the same stretch the simulator used ${fmt(centre.simulatorCpu, 1)} % and nats-server ${fmt(centre.natsCpu, 1)} % of a core.`,
      `Fleet, centre kept up: every stats interval that ended within the simulation has exactly the hits the stream acknowledged for its seconds (${centre.intervalsEqual} of ${centre.intervals}, the first one included; ${fmt(centre.hitsCounted)} of ${fmt(centre.hitsPublished)} hits; ${centre.allTenSeconds ? 'each 10 s long' : '**not all 10 s long**'}), and each one after the first was printed ${fmt(centre.printLag.p50)} ms (median; max ${fmt(centre.printLag.max)}) after its interval's end, when the last agent of the second had shown the next one: no backlog building up.`,
      `Fleet, latency: a real agent (\`entry.ts agent -f FILE --nats URL\`, with \`--watch\` and as by default; a poll a second, 0.5 s into it) while the harness appends ${fmt(alone.writeRate)} lines/s to its file, one write(2) a line in bursts every 10 ms, stamped now; the latency of a burst is from its write to (a) the message carrying it being delivered to a subscription on the agent's subject (line → stream), (b) its count at the centre (\`-s 1 -t 1000000\`): the first stats line whose running count of the agent's section covers it, read as it is printed (line → centre). HLM_PROBE=1 prints nothing at the centre${centre.probeLines ? ` (here it printed ${centre.probeLines} probe lines!)` : ''}: the probe is the parser's, and the centre has no parser; a second's stats line is printed in the same turn as the fleet feed releases that second's segments and steps the clock past it. Bursts of the measured stretch after a warm-up (30 s alone, 5 s in the fleet runs), the writing going on 2 s beyond it. Counted at the centre: ${latency.map((l) => `${fmt(l.counted)} of ${fmt(l.written)}`).join(', ')} lines. The agent's messages went out at ${latency.map((l) => `${fmt(l.phase)} ms`).join(', ')} into the second.`,
      'Fleet, how the latency splits: the second S is complete on an agent once a poll that started its grace (500 ms) after S ended has read every file to its end, and the agent publishes at that moment, its segments and its clock S with it: the agent\'s polls land 0.5 s into each second, so at ~S + 1.5 s (a line reaches the stream with the next message, 0–1 s after its write). The centre counts S (and prints its stats line) once its clock steps past S: as soon as every agent has shown a line of a later second, or every agent\'s clock has reached S, whichever comes first; both come with the agents\' messages at ~S + 1.5 s, so a line of S counts 0.5–1.5 s after it was written (plus the time to read and send), whether agents are idle or busy. Simulated agents publish at the same phases. When the writing stops, its last second waits for the clocks the same way.',
      `Fleet, agent CPU: the agent of the "alone" runs, over their ${alone.seconds} s after 30 s of writing (the JIT's compiling is over by then) (utime + stime of all its threads; ${fmt(alone.writeRate)} and ${fmt(noWatch.writeRate)} lines/s, one write(2) a line); its RSS at the end. Before the writing started, over ${5} s with no line: ${fmt(alone.agentIdleCpu, 2)} % (watch) and ${fmt(noWatch.agentIdleCpu, 2)} % (\`--no-watch\`) of a core. In parentheses: the same agent in the fleet runs, beside the simulator and a busier centre on the same cores.`,
    ];
    notes.push(...out);
    return { centre, latency, notes: out };
  } finally {
    for (const c of ctx.children) if (c.running) await c.stop(3000);
    for (const s of servers) await s.dispose();
    rmSync(join(dir, 'fleet'), { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';

/** The fleet's Markdown tables. */
export function fleetTables(r: FleetResult, table: (head: string[], rows: string[][]) => string): string {
  const mb = (kb?: number) => (kb === undefined || !Number.isFinite(kb) ? 'n/a' : fmt(kb / 1024, 0));
  const c = r.centre;
  const keptUp = c.intervalsEqual === c.intervals && c.intervals > 0 && c.sim.lost === 0;
  const centre = table(
    ['fleet: the centre', 'agents', 'messages/s', 'CPU % of a core (target ≤ 25)', 'RSS MB', 'peak RSS MB', 'kept up: whole 10 s intervals with every hit', 'stats printed after interval end, median / max ms'],
    [[
      `\`--nats URL --json -s 10\`, ${fmt(c.agents)} simulated agents, ${c.seconds} s`,
      fmt(c.agents),
      fmt(c.messagesPerSecond),
      fmt(c.cpu, 1),
      mb(c.rssKB),
      mb(c.hwmKB),
      `${keptUp ? 'yes' : '**no**'}: ${c.intervalsEqual} of ${c.intervals}, ${fmt(c.hitsCounted)} / ${fmt(c.hitsPublished)} hits`,
      `${fmt(c.printLag.p50)} / ${fmt(c.printLag.max)}`,
    ]],
  );
  const latency = table(
    ['fleet: an agent, its file growing by 1,000 lines/s', 'line → stream p50 / p99 ms', 'line → centre p50 ms', 'line → centre p99 ms (target ≤ 2,000)', 'max ms', 'counted / written', 'agent CPU % of a core (target ≤ 2)', 'agent RSS MB'],
    r.latency.map((l) => [
      `${l.what} (${l.seconds} s)`,
      `${fmt(l.toStream.p50)} / ${fmt(l.toStream.p99)}`,
      fmt(l.toCentre.p50),
      fmt(l.toCentre.p99),
      fmt(l.toCentre.max),
      `${fmt(l.counted)} / ${fmt(l.written)}`,
      l.simulated === 0 ? fmt(l.agentCpu, 2) : `(${fmt(l.agentCpu, 2)})`,
      l.simulated === 0 ? mb(l.agentRssKB) : `(${mb(l.agentRssKB)})`,
    ]),
  );
  return `${centre}\n\n${latency}`;
}
