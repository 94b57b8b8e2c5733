/**
 * The self-contained executable (issue 11, "Ship it like an ops tool", test 7): package.json's
 * `build` script, with its --outfile pointed into a temp directory, makes one file that runs with
 * no Bun, node_modules or sources around it (its working directory here is a temp directory with
 * only a trap .env and bunfig.toml in it). It prints what `bun entry.ts` prints, and it runs an
 * agent whose lines a centre (`bun entry.ts --nats`) counts, through a real nats-server.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineReader } from './support/line-reader';
import { exitWithin, parseStats, spawnEntry, sum } from './support/monitor-process';
import { startNatsServer, stopAllNatsServers } from './support/nats-server';

const ROOT = path.resolve(import.meta.dir, '..');
const LOCAL_BUN = path.join(ROOT, 'node_modules/.bin/bun');
const BUN = fs.existsSync(LOCAL_BUN) ? LOCAL_BUN : process.execPath;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-build-'));
/** The executable's working directory: nothing of the project in it. */
const cwd = path.join(dir, 'cwd');
const BIN = path.join(dir, 'hlm');

type Proc = ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>;
const started: Proc[] = [];
afterAll(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(started.map((p) => p.exited));
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** package.json's build script as an argv, writing to `outfile` instead of dist/. */
function buildArgv(outfile: string): string[] {
  const script: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.build;
  const argv = script.trim().split(/\s+/);
  expect(argv.slice(0, 2)).toEqual(['bun', 'build']);
  expect(argv).toContain('--compile');
  const at = argv.indexOf('--outfile');
  expect(at).toBeGreaterThan(1);
  argv[at + 1] = outfile;
  return [BUN, ...argv.slice(1)];
}

/** The executable with a PATH that has no Bun on it, in `cwd`, with TZ=UTC. */
function spawnBin(args: string[], env: Record<string, string> = {}): Proc {
  const p = Bun.spawn([BIN, ...args], {
    cwd,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    env: { PATH: '/usr/bin:/bin', HOME: dir, TZ: 'UTC', ...env },
  });
  started.push(p);
  return p;
}

function spawnSource(args: string[]): Proc {
  const p = spawnEntry(args);
  started.push(p);
  return p;
}

async function run(p: Proc, ms = 20_000) {
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await exitWithin(p, ms), out, err };
}

beforeAll(async () => {
  fs.mkdirSync(cwd);
  // Neither is read by the executable (--no-compile-autoload-dotenv/-bunfig): the preload would
  // print a line, and NATS_USER without NATS_PASSWORD would make the agent refuse to start.
  fs.writeFileSync(path.join(cwd, 'bunfig.toml'), 'preload = ["./preload.ts"]\n');
  fs.writeFileSync(path.join(cwd, 'preload.ts'), 'console.log("PRELOADED");\n');
  fs.writeFileSync(path.join(cwd, '.env'), 'NATS_USER=not-for-the-executable\n');
  const build = Bun.spawn(buildArgv(BIN), { cwd: ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const [out, err] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text()]);
  if ((await build.exited) !== 0) throw new Error(`the build failed:\n${out}\n${err}`);
}, 120_000);

/** Common log format lines stamped `at`. */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clfLine(at: Date, i: number): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${p(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())} +0000`;
  return `10.0.0.${i % 250} - - [${stamp}] "GET /api/item${i} HTTP/1.1" 200 ${100 + i}\n`;
}

describe('the executable `npm run build` makes', () => {
  test('is one executable file; --help exits 0 with the options `bun entry.ts --help` lists, in 80 columns; --version', async () => {
    const stat = fs.statSync(BIN);
    expect(stat.isFile()).toBe(true);
    expect(stat.mode & 0o111).toBe(0o111);
    fs.accessSync(BIN, fs.constants.X_OK);
    const [bin, src] = await Promise.all([run(spawnBin(['--help'])), run(spawnSource(['--help']))]);
    expect(bin.code).toBe(0);
    expect(bin.out).not.toContain('PRELOADED'); // no bunfig.toml from the working directory
    // The options (the program's name above them may differ: the executable is not `bun run entry.ts`).
    const options = (help: string) => help.slice(help.indexOf('\noptions:\n'));
    expect(options(bin.out)).toContain('\n  --nats URL  ');
    expect(options(bin.out)).toBe(options(src.out));
    expect(bin.out.split('\n').filter((l) => l.length > 80)).toEqual([]);
    expect(bin.err).toBe('');
    // The version is package.json's, read when it was built.
    const version = `http-log-monitor ${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`;
    for (const args of [['--version'], ['agent', '-V']]) expect(await run(spawnBin(args))).toEqual({ code: 0, out: version, err: '' });
    // Its usage names it as it is run (here `hlm`), not as the sources are.
    expect(bin.out).not.toContain('bun run entry.ts');
    const usage = await run(spawnBin(['agent', '--bogus']));
    expect(usage.code).toBe(2);
    expect(usage.err.split('\n').filter(Boolean).at(-1)).toStartWith(`usage: ${path.basename(BIN)} agent [-f FILE]`);
  }, 60_000);

  test('--replay -f FILE --json prints what `bun entry.ts` prints (a log `generate` wrote, with an alert and its recovery)', async () => {
    const log = path.join(dir, 'replay.log');
    const gen = await run(spawnBin(['generate', '-f', log, '--backfill', '--profile', '1x20,6x20,1x40', '--seed', '11', '--start', '2026-03-01T10:00:00Z']));
    expect(gen.code).toBe(0);
    const args = ['--replay', '-f', log, '--json', '-t', '3', '-a', '10', '-s', '10'];
    const [bin, src] = await Promise.all([run(spawnBin(args)), run(spawnSource(args))]);
    expect(bin.code).toBe(0);
    expect(src.code).toBe(0);
    expect(bin.out).toContain('{"type":"alert"');
    expect(bin.out).toContain('{"type":"recovered"');
    expect(bin.out).toBe(src.out);
    expect(sum(parseStats(bin.out.split('\n')), 'hits')).toBe(20 + 120 + 40);
  }, 60_000);

  test('chart --format svg (Graphviz as WebAssembly, bundled) draws what `bun entry.ts` draws', async () => {
    const args = ['chart', '--format', 'svg'];
    const [bin, src] = await Promise.all([run(spawnBin(args)), run(spawnSource(args))]);
    expect(bin.code).toBe(0);
    expect(bin.out).toStartWith('<?xml');
    expect(bin.out).toBe(src.out);
  }, 60_000);

  // The build embeds the page with `--asset ./inspector` (at /$bunfs/root/inspector), where
  // lib/inspector.ts looks for it in the executable.
  test('--inspect serves its page (index.html, app.js, app.css)', async () => {
    fs.writeFileSync(path.join(dir, 'inspect.log'), '');
    const p = spawnBin(['-f', path.join(dir, 'inspect.log'), '--plain', '--inspect']);
    const err = new LineReader(p.stderr);
    const line = await err.waitForLine('the inspector URL', 10_000, (l) => l.startsWith('inspector: '));
    const url = line.slice('inspector: '.length);
    for (const name of ['index.html', 'app.js', 'app.css']) {
      const res = await fetch(new URL(name === 'index.html' ? '/' : `/${name}`, url));
      expect(`${name} ${res.status}`).toBe(`${name} 200`);
      expect(await res.text()).toBe(fs.readFileSync(path.join(ROOT, 'inspector', name), 'utf8'));
    }
    p.kill('SIGTERM');
    expect(await exitWithin(p, 8_000)).toBe(0);
  }, 60_000);

  test('runs an agent: lines appended to a followed file are counted at the centre, and SIGTERM exits 0', async () => {
    const server = await startNatsServer();
    const centre = spawnSource(['--nats', server.url, '--json', '-s', '1', '-t', '1000']);
    const centreOut = new LineReader(centre.stdout);
    const centreErr = new LineReader(centre.stderr);
    await centreErr.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));

    const file = path.join(dir, 'access.log');
    fs.writeFileSync(file, '');
    const agent = spawnBin(['agent', '-f', file, '--nats', server.url, '--name', 'built-1', '--poll-ms', '100']);
    const agentErr = new LineReader(agent.stderr);
    try {
      await centreErr.waitForLine('the agent reporting', 15_000, (l) => l === 'agent built-1 is reporting');
    } catch (e) {
      throw new Error(`${(e as Error).message}\nthe agent's stderr (exit ${agent.exitCode}):\n${agentErr.lines.join('\n')}`);
    }

    // 3 seconds of 8 lines each, stamped with the second they are written in.
    let written = 0;
    for (let s = 0; s < 3; s++) {
      const now = new Date();
      fs.appendFileSync(file, Array.from({ length: 8 }, (_, i) => clfLine(now, written + i)).join(''));
      written += 8;
      await Bun.sleep(1_000);
    }
    const counted = () => sum(parseStats(centreOut.lines), 'hits');
    const all = await centreOut.until(15_000, () => counted() >= written);
    // Notices (a publish retried on a busy machine) may come; errors and stack traces may not.
    expect({ counted: counted(), errors: agentErr.lines.filter((l) => /^error|^\s+at /.test(l)) }).toEqual({ counted: written, errors: [] });
    expect(all).toBe(true);

    agent.kill('SIGTERM');
    expect(await exitWithin(agent, 8_000)).toBe(0);
    centre.kill('SIGTERM');
    expect(await exitWithin(centre, 8_000)).toBe(0);
    expect(counted()).toBe(written);
  }, 60_000);
});
