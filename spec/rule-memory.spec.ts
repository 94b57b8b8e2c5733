/**
 * A rules file's memory, end to end (`bun entry.ts`): a file whose windows would take more than
 * the limit is refused by --check-rules and at the start of --rules, in one line and before any
 * file is followed; a file at the limit's edge starts, and a replay with it grows the process by
 * no more than the cost --check-rules states.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRules, ruleCost, RULES_MEMORY_LIMIT } from '../lib/rules';
import { entryProcesses, exitWithin } from './support/monitor-process';

const { spawn, run } = entryProcesses();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rule-memory-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};

const dayOfHosts = (groups: number) => `rules:\n  - name: one-client\n    rate: 20\n    by: host\n    groups: ${groups}\n    window: 24h\n`;
const tooBig = write('day-of-1000-hosts.yaml', dayOfHosts(1000));
// 723 hosts over 24h: 255.8 MB, the most the limit lets one file hold.
const EDGE = 723;
const edge = write('day-of-723-hosts.yaml', dayOfHosts(EDGE));

/** 800 hosts in the first second (more than the rule follows), then a few quieter seconds. */
function smallLog(): string {
  const line = (host: string, second: number) => `${host} - - [01/Jan/2026:10:00:${String(second).padStart(2, '0')} +0000] "GET /api/x HTTP/1.1" 200 12\n`;
  let text = '';
  for (let i = 0; i < 800; i++) text += line(`10.0.${i >> 8}.${i & 255}`, 0);
  for (let s = 1; s < 5; s++) for (let i = 0; i < 50; i++) text += line(`10.0.0.${i}`, s);
  return text;
}
const log = write('access.log', smallLog());

const REFUSED = `error: ${tooBig}:6: rules[0].window: 24h × 1000 hosts would take 354 MB, more than the 256 MB limit of all rules (fewer groups or a shorter window)\n`;

describe('a rules file over the memory limit', () => {
  test('--check-rules: one line naming the file, line and field, exit 2', async () => {
    expect(await run(['--check-rules', tooBig])).toEqual({ code: 2, stdout: '', stderr: REFUSED });
  }, 30_000);

  test('--rules: refused at the start, before following anything', async () => {
    // Following a file never ends on its own: only the refusal makes it exit.
    const proc = spawn(['-f', log, '--rules', tooBig]);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), exitWithin(proc, 15_000)]);
    expect({ code, stdout, stderr }).toEqual({ code: 2, stdout: '', stderr: REFUSED });
  }, 30_000);
});

describe('a rules file at the edge of the limit', () => {
  const cost = ruleCost(parseRules(fs.readFileSync(edge, 'utf8'), edge)[0]!);

  test('--check-rules says what it may take, within the limit', async () => {
    expect(cost).toBeLessThanOrEqual(RULES_MEMORY_LIMIT);
    const result = await run(['--check-rules', edge]);
    expect(result).toEqual({
      code: 0,
      stdout: `one-client: all hits per host > 20 req/s over 24h, busiest ${EDGE} hosts · memory ≤ 256 MB\n1 rule: memory ≤ 256 MB of the 256 MB limit\n`,
      stderr: '',
    });
  }, 30_000);

  test('a replay with it starts, and grows the process by no more than its cost', async () => {
    /** The peak resident size of a replay of the small log, bytes. */
    const peak = async (...extra: string[]) => {
      // The format said, so that stderr holds no detection notice.
      const proc = spawn(['--replay', '--json', '--log-format', 'common', '-f', log, ...extra]);
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), exitWithin(proc, 20_000)]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain('"type":"stats"');
      return proc.resourceUsage()!.maxRSS;
    };
    const without = await peak();
    const withRule = await peak('--rules', edge);
    // The margin is for what a run's heap does anyway (the collector's timing, the replay's buffers).
    expect(withRule - without).toBeLessThanOrEqual(cost + 32e6);
  }, 60_000);
});

describe('latency rules', () => {
  const day = write('latency-day.yaml', 'rules:\n  - name: slow-day\n    latency: 500ms\n    window: 24h\n');
  const sites = write('latency-sites.yaml', 'rules:\n  - name: slow-sites\n    latency: 1.5s\n    quantile: p90\n    by: vhost\n    groups: 20\n    window: 5m\n');

  test('--check-rules: what a latency window may take (4.4 kB a second, each group), one line each, the total', async () => {
    expect(await run(['--check-rules', sites])).toEqual({
      code: 0,
      stdout: 'slow-sites: p90 per vhost > 1500 ms over 5m (≥ 20 timed hits), busiest 20 vhosts · memory ≤ 28.5 MB\n1 rule: memory ≤ 28.5 MB of the 256 MB limit\n',
      stderr: '',
    });
  }, 30_000);

  test('a 24h latency window is over the limit: one line at its window, exit 2', async () => {
    expect(await run(['--check-rules', day])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: ${day}:4: rules[0].window: a latency rule over 24h would take 403 MB, more than the 256 MB limit of all rules (a shorter window or fewer rules)\n`,
    });
  }, 30_000);
});
