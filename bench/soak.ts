/**
 * `bun bench/soak.ts`: the fleet for SOAK_SECONDS (default 1,200: 20 minutes) against a real
 * nats-server on 127.0.0.1 and a free port: three agents, each following a file that grows by
 * RATE lines a second (default 20, stamped now; twice that from 30 % to 40 % of the run, over the
 * threshold) and a centre (`--json -s 10 -a 60 -t 75`), through
 * faults at fixed points of the run:
 *   25 %  web-1 is killed with SIGKILL and started again 10 s later;
 *   40 %  web-2 is frozen with SIGSTOP for 75 s, then goes on with its backlog (a lagging agent:
 *         more than --max-lag behind when it comes back);
 *   60 %  the centre is killed with SIGKILL and started again 5 s later;
 *   75 %  web-3 is stopped with SIGTERM and started again 5 s later.
 * At the end the writing stops, the agents and then the centre are stopped, and it prints one
 * Markdown table row: lines written, hits the two centres printed (each second in exactly one
 * printed interval: none printed twice, no gap), late lines, alerts and recoveries.
 * Everything started is stopped by PID at the end, also when something failed.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dir, '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 1200);
const RATE = Number(process.env.SOAK_RATE ?? 20);
const NATS = Bun.which('nats-server') ?? '/usr/sbin/nats-server';
const log = (m: string) => console.error(`soak ${new Date().toISOString().slice(11, 19)}: ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
const clf = (at: Date, n: number) =>
  `10.0.${n % 250}.${n % 7} - - [${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:` +
  `${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000] "GET /s${n % 9}/x HTTP/1.1" 200 ${100 + (n % 50)}\n`;

const dir = mkdtempSync(join(tmpdir(), 'hlm-soak-'));
const procs: Bun.Subprocess[] = [];
const spawn = (args: string[], out?: string) => {
  const p = Bun.spawn([process.execPath, 'entry.ts', ...args], {
    cwd: ROOT,
    stdout: out ? Bun.file(out) : 'ignore',
    stderr: Bun.file(join(dir, `${args[0] === 'agent' ? args[args.indexOf('--name') + 1] : 'centre'}-${procs.length}.err`)),
    env: { ...process.env, TZ: 'UTC', NATS_TOKEN: '', NATS_USER: '', NATS_PASSWORD: '' },
  });
  procs.push(p);
  return p;
};

async function main() {
  const port = await freePort();
  const server = Bun.spawn([NATS, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'store')], { stdout: 'ignore', stderr: 'ignore' });
  procs.push(server);
  await sleep(500);
  const url = `nats://127.0.0.1:${port}`;
  // Over the threshold only in the busy stretch: an alert and a recovery.
  const CENTRE = ['--nats', url, '--json', '-s', '10', '-a', '60', '-t', String(RATE * 3 * 1.25)];
  const outs = [join(dir, 'centre-1.ndjson'), join(dir, 'centre-2.ndjson')];
  let centre = spawn(CENTRE, outs[0]);
  await sleep(1500);
  const names = ['web-1', 'web-2', 'web-3'];
  const files = names.map((n) => join(dir, `${n}.log`));
  for (const f of files) writeFileSync(f, '');
  const agent = (i: number) => spawn(['agent', '-f', files[i]!, '--nats', url, '--name', names[i]!]);
  const agents = names.map((_, i) => agent(i));
  await sleep(3000);

  // RATE lines a second to each file, in ticks of 100 ms, a busier stretch in the middle (an alert).
  let n = 0;
  const started = Date.now();
  const writer = setInterval(() => {
    const t = (Date.now() - started) / 1000;
    const busy = t > SECONDS * 0.3 && t < SECONDS * 0.4;
    const lines = (RATE / 10) * (busy ? 2 : 1);
    const now = new Date();
    for (const f of files) {
      let text = '';
      for (let k = 0; k < lines; k++) text += clf(now, n++);
      appendFileSync(f, text);
    }
  }, 100);

  const at = async (share: number) => sleep(Math.max(0, started + SECONDS * share * 1000 - Date.now()));
  await at(0.25);
  log('web-1 killed (SIGKILL), back in 10 s');
  agents[0]!.kill('SIGKILL');
  await sleep(10_000);
  agents[0] = agent(0);
  await at(0.4);
  log('web-2 frozen (SIGSTOP) for 75 s');
  agents[1]!.kill('SIGSTOP');
  await sleep(75_000);
  agents[1]!.kill('SIGCONT');
  await at(0.6);
  log('the centre killed (SIGKILL), back in 5 s');
  centre.kill('SIGKILL');
  await centre.exited;
  await sleep(5000);
  centre = spawn(CENTRE, outs[1]);
  await at(0.75);
  log('web-3 stopped (SIGTERM), back in 5 s');
  agents[2]!.kill('SIGTERM');
  await agents[2]!.exited;
  await sleep(5000);
  agents[2] = agent(2);
  await at(1);
  clearInterval(writer);
  log('writing stopped');
  await sleep(8000);
  for (const a of agents) a.kill('SIGTERM');
  await Promise.all(agents.map((a) => a.exited));
  await sleep(3000);
  centre.kill('SIGTERM');
  await centre.exited;

  const written = files.reduce((k, f) => k + readFileSync(f, 'utf8').split('\n').filter(Boolean).length, 0);
  const records = outs.flatMap((o) => readFileSync(o, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  const stats = records.filter((r) => r.type === 'stats');
  const counted = stats.reduce((k, r) => k + r.hits, 0);
  const late = stats.reduce((k, r) => k + r.late, 0);
  let gaps = 0;
  let twice = 0;
  for (let i = 1; i < stats.length; i++) {
    if (stats[i].start < stats[i - 1].end) twice++;
    if (stats[i].start > stats[i - 1].end) gaps++;
  }
  const alerts = records.filter((r) => r.type === 'alert').length;
  const recoveries = records.filter((r) => r.type === 'recovered').length;
  console.log('| soak | written | counted | late | intervals | printed twice | gaps | alerts / recoveries |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| ${SECONDS} s, 3 agents × ${RATE} lines/s | ${written} | ${counted} | ${late} | ${stats.length} | ${twice} | ${gaps} | ${alerts} / ${recoveries} |`);
  if (counted !== written || twice > 0 || gaps > 0) {
    console.log(`not exact: see ${dir}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  if (process.exitCode !== 1) rmSync(dir, { recursive: true, force: true });
}
