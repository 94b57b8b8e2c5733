/**
 * What a new user types first (issue 18): `--help` of the monitor and of each sub-command, in
 * 80 columns, with usage lines that run as written; `--version`; a misspelt sub-command. Each
 * runs entry.ts as a process; one runs it as the README says, with `npm start --`.
 */
import { describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pkg from '../package.json' with { type: 'json' };
import { LineReader } from './support/line-reader';
import { entryProcesses } from './support/monitor-process';

const ROOT = path.resolve(import.meta.dir, '..');
const { spawn, run } = entryProcesses();
const VERSION = `http-log-monitor ${pkg.version}`;

/** The lines of a usage section: from `usage:` to the first blank line. */
function usageOf(help: string): string[] {
  const lines = help.split('\n');
  const from = lines.findIndex((l) => l.startsWith('usage: '));
  const to = lines.indexOf('', from);
  return lines.slice(from, to);
}

/** Each usage line's start (its continuation lines are indented deeper). */
const usageStarts = (help: string) => usageOf(help).filter((l) => /^(usage: | {7})\S/.test(l)).map((l) => l.slice(7));

describe('--help', () => {
  test.each([[[]], [['agent']], [['generate']], [['chart']]])('%p --help: stdout, exit 0, no line over 80 columns', async (command) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await run([...command, flag]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const long = stdout.split('\n').filter((l) => l.length > 80);
      expect(long).toEqual([]);
      expect(stdout).toContain('\noptions:\n');
      expect(stdout).toMatch(/\n {2}-V, -v, --version {2,}Print the version/);
      // Every usage line names the program as it was run, then the command.
      for (const start of usageStarts(stdout)) expect(start).toStartWith(['bun run entry.ts', ...command].join(' '));
    }
  });

  test('the monitor lists the sub-commands and the centre, and wraps a description under its option', async () => {
    const { stdout } = await run(['--help']);
    expect(stdout).toStartWith(`${VERSION}: follow HTTP access logs`);
    expect(usageStarts(stdout).map((l) => l.split(' [')[0])).toEqual([
      'bun run entry.ts',
      'bun run entry.ts --nats URL',
      'bun run entry.ts agent|format|generate|chart',
    ]);
    const commands = stdout.slice(stdout.indexOf('\ncommands:\n'), stdout.indexOf('\noptions:\n'));
    expect(commands.match(/^ {2}\S+/gm)).toEqual(['  agent', '  format', '  generate', '  chart']);
    expect(commands).toContain('  agent                   Follow this host’s logs');
    // A label too long for its column has its description on the lines under it.
    expect(stdout).toContain('\n  -f, --file, --filename PATH\n                          Log file to follow, repeatable;');
    expect(stdout).toContain('\n  --stream NAME           With --nats: the JetStream stream (default: HLM)\n');
    expect(stdout).toContain('\n  --watch, --no-watch     Use file-system events');
    // A range is not broken across lines.
    for (const range of ['0.001 to 1000000000', 'a whole number from 10 to 60000', 'a whole number from 1 to 86400']) expect(stdout).toContain(range);
  });

  test('run with `npm start --`, as the README says after `npm install`, the usage lines say so, and run as written', async () => {
    const npm = (args: string[]) =>
      Bun.spawn(['npm', 'start', '--silent', '--', ...args], { cwd: ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: { ...process.env } });
    const help = npm(['agent', '--help']);
    const [out, code] = await Promise.all([new Response(help.stdout).text(), help.exited]);
    expect(code).toBe(0);
    const [line] = usageStarts(out);
    expect(line).toStartWith('npm start -- agent [-f FILE]...');
    // The line as shown, with --version for its options: npm runs it.
    const shown = line!.split(' [')[0]!.split(' ');
    expect(shown).toEqual(['npm', 'start', '--', 'agent']);
    const again = Bun.spawn([...shown, '--version'], { cwd: ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: { ...process.env } });
    const [againOut, againCode] = await Promise.all([new Response(again.stdout).text(), again.exited]);
    expect({ againCode, last: againOut.trimEnd().split('\n').at(-1) }).toEqual({ againCode: 0, last: VERSION });
  }, 30_000);
});

describe('--version', () => {
  test.each([[['--version']], [['-V']], [['-v']], [['agent', '--version']], [['agent', '-V']], [['generate', '--version']], [['chart', '-v']], [['-s', '5', '--version']]])(
    '%p prints the version from package.json, exit 0',
    async (args) => {
      expect(await run(args)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    },
  );
});

describe('a misspelt sub-command', () => {
  test('a plain word that is no file is an unknown command: one line and the usage, exit 2', async () => {
    const { code, stdout, stderr } = await run(['frobnicate']);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    const err = stderr.trimEnd().split('\n');
    expect(err).toHaveLength(2);
    expect(err[0]).toBe("error: unknown command 'frobnicate' (commands: agent, format, generate, chart; a file to follow that does not exist yet: -f frobnicate)");
    expect(err[1]).toStartWith('usage: bun run entry.ts [-f FILE]');
  });

  test('`-f WORD` still waits for the file, and so does a word with a dot or a slash', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-help-'));
    try {
      for (const args of [['-f', path.relative(ROOT, path.join(dir, 'frobnicate'))], ['-f', 'frobnicate'], ['frobnicate.log'], [`${dir}/later`]]) {
        const p = spawn([...args, '--plain']);
        const err = new LineReader(p.stderr);
        await err.waitForLine(`waiting for ${args.at(-1)}`, 10_000, (l) => l === `waiting for ${args.at(-1)} to appear`);
        p.kill('SIGTERM');
        expect(await p.exited).toBe(0);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an existing file with a plain name is followed, not taken for a command', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-help-'));
    try {
      fs.writeFileSync(path.join(dir, 'access'), '');
      const p = Bun.spawn([path.join(ROOT, 'node_modules/.bin/bun'), path.join(ROOT, 'entry.ts'), 'access', '--replay', '--json'], { cwd: dir, stdout: 'pipe', stderr: 'pipe' });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(out).toContain('"type":"stats"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the usage after a usage error', () => {
  test('is one line within 80 columns for every command, pointing at --help when the whole usage is longer', async () => {
    const { errorUsage } = await import('../lib/usage');
    const usages = await Promise.all(['monitor', 'agent', 'format', 'generate', 'chart'].map(async (c) => (await import(`../commands/${c}`)).USAGE as string));
    for (const usage of usages) {
      const line = errorUsage(usage);
      expect(line.length).toBeLessThanOrEqual(80);
      expect(line.startsWith(usage.split(' [')[0]!)).toBe(true);
      if (usage.length > 80) expect(line).toEndWith('… (--help lists all)');
      else expect(line).toBe(usage);
    }
  });
});
