import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLines, describeRule, formatBytes, LATENCY_BUCKETS, loadRules, needsRuleSketches, parseRules, type Rule, ruleCost, RULES_MEMORY_LIMIT, RulesError } from '../lib/rules';

const dir = mkdtempSync(join(tmpdir(), 'rules-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const sampleYaml = `rules:
  - name: server-errors
    ratio: 0.05          # fires when 5xx / all hits over the window > 5 %
    match: { status: 5xx }
    min_hits: 50
    window: 2m
    for: 30s
    recover: 0.02
  - name: one-client
    rate: 20             # req/s over the window, per host
    by: host
    groups: 100
    window: 60
  - name: api-quiet
    silence: 1           # fewer than 1 hit in the window
    match: { section: /api }
    window: 5m
`;

const sampleToml = `# the same rules as sampleYaml
[[rules]]
name = "server-errors"
ratio = 0.05
match = { status = "5xx" }
min_hits = 50
window = "2m"
for = "30s"
recover = 0.02

[[rules]]
name = "one-client"
rate = 20
by = "host"
groups = 100
window = 60

[[rules]]
name = "api-quiet"
silence = 1
match = { section = "/api" }
window = "5m"
`;

const withoutLines = (rules: Rule[]) => rules.map(({ line, ...rest }) => rest);

/** A YAML file of one rule named r: line 1 `rules:`, line 2 `- name: r`, `extra` from line 3 on. */
const oneRule = (...extra: string[]) => ['rules:', '  - name: r', ...extra.map((l) => `    ${l}`)].join('\n') + '\n';

function errorOf(text: string, file = 'rules.yaml'): RulesError {
  try {
    parseRules(text, file);
  } catch (error) {
    if (error instanceof RulesError) return error;
    throw error;
  }
  throw new Error(`no error for ${file}:\n${text}`);
}

/** The error names `line` and `field` in both its properties and its one-line message. */
function expectError(text: string, line: number, field: string, detail: string, file = 'rules.yaml') {
  const error = errorOf(text, file);
  expect({ line: error.line, field: error.field, file: error.file }).toEqual({ line, field, file });
  expect(error.message.startsWith(`${file}:${line}: ${field ? `${field}: ` : ''}`)).toBe(true);
  expect(error.message).toContain(detail);
  expect(error.message).not.toContain('\n');
}

describe('rules files', () => {
  test('the YAML and TOML forms of one file give the same rules', () => {
    const fromYaml = loadRules(write('rules.yaml', sampleYaml));
    const fromToml = loadRules(write('rules.toml', sampleToml));
    expect(withoutLines(fromToml)).toEqual(withoutLines(fromYaml));
    expect(fromYaml.map((r) => r.line)).toEqual([2, 9, 14]);
    expect(fromToml.map((r) => r.line)).toEqual([2, 11, 18]);
    expect(fromYaml).toEqual([
      {
        name: 'server-errors',
        kind: 'ratio',
        threshold: 0.05,
        recover: 0.02,
        match: { field: 'status', values: ['5xx'] },
        minHits: 50,
        windowSeconds: 120,
        forSeconds: 30,
        groups: 100,
        line: 2,
      },
      { name: 'one-client', kind: 'rate', threshold: 20, minHits: 1, windowSeconds: 60, forSeconds: 0, by: 'host', groups: 100, line: 9 },
      {
        name: 'api-quiet',
        kind: 'silence',
        threshold: 1,
        match: { field: 'section', values: ['/api'] },
        minHits: 1,
        windowSeconds: 300,
        forSeconds: 0,
        groups: 100,
        line: 14,
      },
    ]);
  });

  test('the extension picks the format: .toml (any case) is TOML, .yml and anything else YAML', () => {
    const toml = '[[rules]]\nname = "a"\nrate = 1\n';
    expect(parseRules(toml, 'r.TOML')[0]!.name).toBe('a');
    expect(loadRules(write('rules.yml', 'rules:\n  - { name: b, rate: 1 }\n'))[0]!.name).toBe('b');
    expect(parseRules('rules:\n  - { name: c, rate: 1 }\n', 'rules.conf')[0]!.name).toBe('c');
    expect(errorOf(toml, 'rules.conf').message).toContain('not valid YAML');
  });

  test('defaults: every hit, a 120 s window, no delay, min_hits 1, 100 groups, no recover', () => {
    const [rule] = parseRules(oneRule('rate: 10'), 'rules.yaml');
    expect(rule).toEqual({ name: 'r', kind: 'rate', threshold: 10, minHits: 1, windowSeconds: 120, forSeconds: 0, groups: 100, line: 2 });
    expect(rule).not.toHaveProperty('recover');
    expect(rule).not.toHaveProperty('match');
    expect(rule).not.toHaveProperty('by');
  });

  test('numbers are kept as written; durations in seconds, minutes or hours', () => {
    const [rule] = parseRules(oneRule('rate: 0.57', 'recover: 0.1', 'window: 1h', 'for: 90s'), 'rules.yaml');
    expect([rule!.threshold, rule!.recover, rule!.windowSeconds, rule!.forSeconds]).toEqual([0.57, 0.1, 3600, 90]);
    const [edges] = parseRules(oneRule('silence: 1000000000', 'window: 86400', 'for: 0'), 'rules.yaml');
    expect([edges!.threshold, edges!.windowSeconds, edges!.forSeconds]).toEqual([1e9, 86400, 0]);
  });

  test('ratios may be percentages: "5%" and "5 %" are 0.05, "0.1%" exactly 0.001', () => {
    const ratio = (value: string, recover?: string) =>
      parseRules(oneRule(`ratio: ${value}`, ...(recover ? [`recover: ${recover}`] : [])), 'rules.yaml')[0]!;
    expect(ratio('"5%"').threshold).toBe(0.05);
    expect(ratio('5 %').threshold).toBe(0.05);
    expect(ratio('0.1%').threshold).toBe(0.001);
    expect(ratio('100%').threshold).toBe(1);
    expect(ratio('0.07', '"2%"').recover).toBe(0.02);
    expect(parseRules('[[rules]]\nname = "t"\nratio = "12.5%"\n', 'r.toml')[0]!.threshold).toBe(0.125);
    expectError(oneRule('ratio: "5"'), 3, 'rules[0].ratio', 'expected a fraction such as 0.05 or a percentage such as "5%", got "5"');
    expectError(oneRule('ratio: 5%%'), 3, 'rules[0].ratio', 'got "5%%"');
    expectError(oneRule('ratio: 150%'), 3, 'rules[0].ratio', 'must be at most 1, got 1.5');
    expectError(oneRule('rate: 5%'), 3, 'rules[0].rate', 'expected a number of requests per second, got "5%"');
  });

  test('match values are normalised to strings: status classes in lower case, methods in upper case', () => {
    const match = (m: string) => parseRules(oneRule('rate: 1', `match: ${m}`), 'rules.yaml')[0]!.match;
    expect(match('{ status: [5XX, 404, "503"] }')).toEqual({ field: 'status', values: ['5xx', '404', '503'] });
    expect(match('{ method: [get, Post] }')).toEqual({ field: 'method', values: ['GET', 'POST'] });
    expect(match('{ section: [/, /api] }')).toEqual({ field: 'section', values: ['/', '/api'] });
    expect(match('{ host: 10.0.0.1 }')).toEqual({ field: 'host', values: ['10.0.0.1'] });
    expect(match('{ user: 42 }')).toEqual({ field: 'user', values: ['42'] });
  });

  test('loadRules on a missing file: line 0, no field, no "line 0" in the message', () => {
    const missing = join(dir, 'absent.yaml');
    let error: unknown;
    try {
      loadRules(missing);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RulesError);
    expect((error as RulesError).message).toBe(`cannot read ${missing}: no such file`);
    expect([(error as RulesError).line, (error as RulesError).field, (error as RulesError).file]).toEqual([0, '', missing]);
  });
});

describe('YAML errors name the line and field', () => {
  test('the example message, exactly', () => {
    const text = ['rules:', '  - name: server-errors', '    ratio: 0.05', '    match: { status: 5xx }', '  - name: one-client', '    rate: 20', '    window: 2 minutes'].join('\n');
    expect(errorOf(text).message).toBe('rules.yaml:7: rules[1].window: expected a duration such as 30, "30s", "2m" or "1h", got "2 minutes"');
  });

  test('top level: a mapping with one key, rules, holding a non-empty list', () => {
    expectError('', 1, 'rules', 'no rules');
    expectError('# nothing yet\n', 1, 'rules', 'no rules');
    expectError('rules: []\n', 1, 'rules', 'no rules');
    expectError('\nrules:\n', 2, 'rules', 'no rules');
    expectError('- name: a\n', 1, 'rules', 'expected a mapping with one key, rules, got a list');
    expectError('rules:\n  name: a\n', 1, 'rules', 'expected a list of rules, got a mapping');
    expectError('rules:\n  - { name: a, rate: 1 }\nrule:\n  - {}\n', 3, 'rule', 'unknown key "rule"; the file takes one key, rules');
    expectError('rules:\n  - { name: a, rate: 1 }\n  - just words\n', 3, 'rules[1]', 'expected a rule (a mapping');
  });

  test('unknown keys, in a rule or in match, are named with the allowed ones', () => {
    const keys = 'name, rate, ratio, silence, latency, quantile, recover, match, min_hits, window, for, by, groups';
    expectError(oneRule('rate: 1', 'windw: 60'), 4, 'rules[0].windw', `unknown key "windw"; a rule takes ${keys}`);
    const fields = 'status, section, method, host, user, vhost';
    expectError(oneRule('rate: 1', 'match:', '  code: 500'), 5, 'rules[0].match.code', `unknown field "code"; match takes one of ${fields}`);
  });

  test('names: required, well formed, unique (at the duplicate)', () => {
    expectError('rules:\n  - rate: 1\n', 2, 'rules[0]', 'a rule needs a name');
    expectError('rules:\n  - name: -x\n    rate: 1\n', 2, 'rules[0].name', 'got "-x"');
    expectError('rules:\n  - name: [a]\n    rate: 1\n', 2, 'rules[0].name', 'got a list');
    expectError(`rules:\n  - name: ${'n'.repeat(65)}\n    rate: 1\n`, 2, 'rules[0].name', 'expected a name of 1 to 64');
    expect(parseRules(`rules:\n  - name: ${'n'.repeat(64)}\n    rate: 1\n`, 'r.yaml')).toHaveLength(1);
    const twice = 'rules:\n  - name: a\n    rate: 1\n  - name: b\n    rate: 1\n  -\n    rate: 2\n    name: a\n';
    expectError(twice, 8, 'rules[2].name', '"a" is already the name of rules[0] (line 2)');
  });

  test('exactly one of rate, ratio, silence, each in its range', () => {
    expectError(oneRule('window: 60'), 2, 'rules[0]', 'a rule needs one of rate, ratio, silence or latency');
    expectError(oneRule('rate: 1', 'silence: 2'), 4, 'rules[0].silence', 'not both rate and silence');
    expectError(oneRule('rate: 0'), 3, 'rules[0].rate', 'must be more than 0, got 0');
    expectError(oneRule('rate: 2e9'), 3, 'rules[0].rate', 'must be at most 1000000000, got 2000000000');
    expectError(oneRule('rate: .nan'), 3, 'rules[0].rate', 'expected a number of requests per second, got NaN');
    expectError(oneRule('ratio: 0'), 3, 'rules[0].ratio', 'must be more than 0');
    expectError(oneRule('silence: 1.5'), 3, 'rules[0].silence', 'expected a whole number, got 1.5');
    expectError(oneRule('silence: 0'), 3, 'rules[0].silence', 'must be at least 1, got 0');
  });

  test('recover: on the recovering side of the threshold, naming the bound it breaks', () => {
    expectError(oneRule('rate: 20', 'recover: 25'), 4, 'rules[0].recover', 'must be at most the rate (20), got 25');
    expectError(oneRule('rate: 20', 'recover: -1'), 4, 'rules[0].recover', 'must be at least 0, got -1');
    expectError(oneRule('ratio: 5%', 'recover: 6%'), 4, 'rules[0].recover', 'must be at most the ratio (0.05), got 0.06');
    expectError(oneRule('silence: 3', 'recover: 2'), 4, 'rules[0].recover', 'must be at least the silence threshold (3), got 2');
    expect(parseRules(oneRule('silence: 3', 'recover: 3'), 'r.yaml')[0]!.recover).toBe(3);
    expect(parseRules(oneRule('rate: 20', 'recover: 0'), 'r.yaml')[0]!.recover).toBe(0);
  });

  test('match: one field, well-formed values, list items at their own line', () => {
    const jointly = 'match takes one field: counts are kept per field, not jointly';
    expectError(oneRule('rate: 1', 'match: { status: 5xx, method: GET }'), 4, 'rules[0].match', jointly);
    expectError(oneRule('rate: 1', 'match: {}'), 4, 'rules[0].match', 'match needs a field');
    expectError(oneRule('rate: 1', 'match: 5xx'), 4, 'rules[0].match', 'expected a mapping of one field');
    expectError(oneRule('rate: 1', 'match: { status: [] }'), 4, 'rules[0].match.status', 'got an empty list');
    const status = 'expected a status class 1xx..5xx or a code 100..599';
    expectError(oneRule('rate: 1', 'match: { status: 6xx }'), 4, 'rules[0].match.status', `${status}, got "6xx"`);
    expectError(oneRule('rate: 1', 'match: { status: 600 }'), 4, 'rules[0].match.status', 'got 600');
    expectError(oneRule('rate: 1', 'match: { section: api }'), 4, 'rules[0].match.section', 'got "api"');
    expectError(oneRule('rate: 1', 'match: { section: /api/v1 }'), 4, 'rules[0].match.section', 'got "/api/v1"');
    expectError(oneRule('rate: 1', 'match: { method: G1 }'), 4, 'rules[0].match.method', 'letters only');
    expectError(oneRule('rate: 1', 'match: { host: "a b" }'), 4, 'rules[0].match.host', 'a host without spaces, got "a b"');
    expectError(oneRule('rate: 1', 'match: { user: null }'), 4, 'rules[0].match.user', 'got nothing');
    expectError(oneRule('rate: 1', 'match:', '  status:', '    - 5xx', '    - 700'), 7, 'rules[0].match.status[1]', 'got 700');
  });

  test('min_hits, window, for, by and groups', () => {
    expectError(oneRule('rate: 1', 'min_hits: 5'), 4, 'rules[0].min_hits', 'min_hits is for ratio and latency rules only, not rate');
    expectError(oneRule('ratio: 0.1', 'min_hits: 0'), 4, 'rules[0].min_hits', 'must be at least 1');
    expectError(oneRule('rate: 1', 'window: 0'), 4, 'rules[0].window', 'must be from 1 to 86400 seconds (24h), got 0');
    expectError(oneRule('rate: 1', 'window: 25h'), 4, 'rules[0].window', 'got "25h"');
    expectError(oneRule('rate: 1', 'for: -1'), 4, 'rules[0].for', 'must be from 0 to 86400 seconds');
    expectError(oneRule('rate: 1', 'for: 1.5m'), 4, 'rules[0].for', 'expected a duration such as 30');
    expectError(oneRule('rate: 1', 'window: "60"'), 4, 'rules[0].window', 'got "60"');
    expectError(oneRule('rate: 1', 'by: status'), 4, 'rules[0].by', 'expected section, host, user, vhost, got "status"');
    expectError(oneRule('ratio: 0.1', 'by: host'), 4, 'rules[0].by', 'by is for rate and latency rules only, not ratio');
    expectError(oneRule('rate: 1', 'match: { status: 5xx }', 'by: host'), 5, 'rules[0].by', 'grouped counts are the hits by host');
    expectError(oneRule('rate: 1', 'groups: 10'), 4, 'rules[0].groups', 'groups goes with by only');
    expectError(oneRule('rate: 1', 'by: user', 'groups: 1001'), 5, 'rules[0].groups', 'must be at most 1000');
    expect(parseRules(oneRule('rate: 1', 'by: user', 'groups: 1000'), 'r.yaml')[0]!.groups).toBe(1000);
  });

  test('a later rule is checked as well, at its own lines', () => {
    expectError(`${oneRule('rate: 1')}  - name: s\n    silence: 2\n    for: soon\n`, 6, 'rules[1].for', 'got "soon"');
  });

  test('syntax errors and duplicate keys give their line and no field', () => {
    expectError('rules:\n  - name: a\n   rate: 2\n', 3, '', 'not valid YAML: ');
    expectError('rules:\n  - name: a\n    rate: 1\n    rate: 2\n', 4, '', 'not valid YAML: Map keys must be unique');
    expectError('rules:\n  - name: "a\n', 3, '', 'not valid YAML: Missing closing "quote');
  });

  test('messages stay on one line whatever the value', () => {
    const error = errorOf('rules:\n  - name: "a\\nb"\n    rate: 1\n');
    expect(error.message).toContain('got "a\\nb"');
    expect(error.message).not.toContain('\n');
  });
});

describe('TOML errors name the line and field', () => {
  test('a syntax error gives its line, also after a multi-line array', () => {
    expectError('[[rules]]\nname = "a"\nrate = 1\n\nrate = 2\n', 5, '', "not valid TOML: Cannot redefine key 'rate'", 'r.toml');
    expectError('[[rules]]\nname = "a\nrate = 1\n', 2, '', 'not valid TOML: Unterminated string', 'r.toml');
    const afterArray = '[[rules]]\nname = "a"\nrate = 1\nmatch = { status = [\n  "4xx",\n  "5xx"] }\n[[rules]]\nname = "b" x\n';
    expectError(afterArray, 8, '', 'not valid TOML: ', 'r.toml');
  });

  test('a field is at its `key =` line under its own [[rules]] header', () => {
    const text = '[[rules]]\nname = "a"\nrate = 1\nwindow = 30\n\n[[rules]]\nname = "b"\nrate = 2\n  match = { status = "5xx", host = "x" }\nwindow = 30\n';
    expectError(text, 9, 'rules[1].match', 'match takes one field', 'r.toml');
    expectError(text.replace('window = 30\n\n', 'windw = 30\n\n'), 4, 'rules[0].windw', 'unknown key "windw"', 'r.toml');
    expectError('[[rules]]\nname = "a"\nrate = 1\n[[rules]]\nrate = 2\nname = "a"\n', 6, 'rules[1].name', 'is already the name of rules[0] (line 2)', 'r.toml');
  });

  test('a field that is not written falls back to its header; top-level keys to their own line', () => {
    expectError('[[rules]]\nname = "a"\nrate = 1\n\n[[rules]]\nname = "b"\n', 5, 'rules[1]', 'a rule needs one of rate, ratio, silence or latency', 'r.toml');
    expectError('title = "x"\n[[rules]]\nname = "a"\nrate = 1\n', 1, 'title', 'unknown key "title"', 'r.toml');
    expectError('[[rules]]\nname = "a"\nrate = 1\n\n[extra]\nx = 1\n', 5, 'extra', 'unknown key "extra"', 'r.toml');
    expectError('# empty\n', 1, 'rules', 'no rules', 'r.toml');
    expectError('# one table, not a list\n[rules]\nname = "a"\n', 2, 'rules', 'expected a list of rules, got a mapping', 'r.toml');
    expectError('[[rules]]\nname = "a"\nrate = 1\nwindow = 1979-05-27\n', 4, 'rules[0].window', 'expected a duration', 'r.toml');
  });
});

describe('describeRule', () => {
  test('the sample rules, one short line each', () => {
    expect(parseRules(sampleYaml, 'rules.yaml').map(describeRule)).toEqual([
      'server-errors: 5xx / all hits > 5 % over 2m (≥ 50 hits) for 30s, recovers at ≤ 2 %',
      'one-client: all hits per host > 20 req/s over 1m, busiest 100 hosts',
      'api-quiet: /api < 1 hit over 5m',
    ]);
  });

  test('recovery, delays, several values, hosts and users', () => {
    const describe = (...lines: string[]) => describeRule(parseRules(oneRule(...lines), 'r.yaml')[0]!);
    expect(describe('rate: 0.57', 'recover: 0.5', 'window: 90', 'for: 1h')).toBe('r: all hits > 0.57 req/s over 90s for 1h, recovers at ≤ 0.5 req/s');
    expect(describe('ratio: 0.07', 'match: { status: [4xx, 503] }')).toBe('r: 4xx or 503 / all hits > 7 % over 2m');
    expect(describe('silence: 3', 'recover: 5', 'match: { user: [frank, bob] }')).toBe('r: user frank or bob < 3 hits over 2m, recovers at ≥ 5 hits');
    expect(describe('rate: 5', 'match: { host: 10.0.0.1 }', 'for: 45')).toBe('r: host 10.0.0.1 > 5 req/s over 2m for 45s');
  });
});

describe('what a rule costs in memory', () => {
  const only = (...lines: string[]) => parseRules(oneRule(...lines), 'r.yaml')[0]!;
  /** A grouped rate rule over 24h following `groups` hosts, as the `n`th rule of a file. */
  const dayOfHosts = (name: string, groups: number) => `  - name: ${name}\n    rate: 20\n    by: host\n    groups: ${groups}\n    window: 24h\n`;

  test('4 bytes a second of the window, W + 2 seconds a ring, and 8,192 bytes an instance', () => {
    expect(ruleCost(only('rate: 1', 'window: 24h'))).toBe(4 * 86402 + 8192);
    expect(ruleCost(only('ratio: 5%', 'match: { status: 5xx }', 'window: 24h'))).toBe(2 * 4 * 86402 + 8192);
    expect(ruleCost(only('silence: 1', 'window: 10'))).toBe(4 * 12 + 8192);
    // `for` holds no counts: the instance counts the seconds, not a ring.
    expect(ruleCost(only('rate: 1', 'window: 10', 'for: 1h'))).toBe(4 * 12 + 8192);
    // Over the limit, so not a rule a file can hold: built by hand.
    expect(ruleCost({ ...only('rate: 1', 'by: host', 'window: 24h'), groups: 1000 })).toBe(1000 * (4 * 86402 + 8192));
    expect(ruleCost(only('rate: 1', 'by: host', 'window: 60'))).toBe(100 * (4 * 62 + 8192));
  });

  test('bytes as --check-rules says them: three digits, kB, MB or GB (10^3, 10^6, 10^9)', () => {
    expect([9_200, 353_800, 35_380_000, 353_800_000, 1_382_432_000].map(formatBytes)).toEqual(['9.2 kB', '354 kB', '35.4 MB', '354 MB', '1.38 GB']);
    expect(formatBytes(RULES_MEMORY_LIMIT)).toBe('256 MB');
  });

  test('--check-rules: each rule with its cost, then the total against the limit', () => {
    expect(checkLines(parseRules(sampleYaml, 'rules.yaml'))).toEqual([
      'server-errors: 5xx / all hits > 5 % over 2m (≥ 50 hits) for 30s, recovers at ≤ 2 % · memory ≤ 9.17 kB',
      'one-client: all hits per host > 20 req/s over 1m, busiest 100 hosts · memory ≤ 844 kB',
      'api-quiet: /api < 1 hit over 5m · memory ≤ 9.4 kB',
      '3 rules: memory ≤ 863 kB of the 256 MB limit',
    ]);
    expect(checkLines([only('rate: 1', 'by: user', 'groups: 100', 'window: 24h')])).toEqual([
      'r: all hits per user > 1 req/s over 24h, busiest 100 users · memory ≤ 35.4 MB',
      '1 rule: memory ≤ 35.4 MB of the 256 MB limit',
    ]);
  });

  test('a 24h window over 1,000 hosts is refused at its window, saying what it would take', () => {
    const text = `rules:\n${dayOfHosts('one-client', 1000)}`;
    expectError(text, 6, 'rules[0].window', '24h × 1000 hosts would take 354 MB, more than the 256 MB limit of all rules (fewer groups or a shorter window)');
    expect(errorOf(text).message).toBe(
      'rules.yaml:6: rules[0].window: 24h × 1000 hosts would take 354 MB, more than the 256 MB limit of all rules (fewer groups or a shorter window)',
    );
    // The same in TOML.
    const toml = '[[rules]]\nname = "one-client"\nrate = 20\nby = "host"\ngroups = 1000\nwindow = "24h"\n';
    expectError(toml, 6, 'rules[0].window', '24h × 1000 hosts would take 354 MB', 'r.toml');
  });

  test('the limit is over all rules: the rule that takes the total over it is the error', () => {
    // 723 hosts over 24h: 255.8 MB, the most one file can hold; one host more is refused.
    const edge = parseRules(`rules:\n${dayOfHosts('edge', 723)}`, 'rules.yaml');
    expect(ruleCost(edge[0]!)).toBeLessThanOrEqual(RULES_MEMORY_LIMIT);
    expectError(`rules:\n${dayOfHosts('edge', 724)}`, 6, 'rules[0].window', '24h × 724 hosts would take 256 MB, more than');
    // Three rules of 100 MB: the third goes over.
    const three = `rules:\n${dayOfHosts('a', 283)}${dayOfHosts('b', 283)}${dayOfHosts('c', 283)}`;
    expectError(three, 16, 'rules[2].window', '24h × 283 hosts would take 100 MB, 300 MB with the rules before it, more than the 256 MB limit');
    // Without a window written, the error is at its groups.
    const many = `rules:\n${dayOfHosts('a', 723)}  - name: hosts\n    rate: 1\n    by: host\n    groups: 1000\n`;
    expectError(many, 10, 'rules[1].groups', '2m × 1000 hosts would take 8.68 MB, 264 MB with the rules before it, more than the 256 MB limit of all rules (fewer groups or a shorter window)');
  });
});

describe('latency rules', () => {
  const only = (...lines: string[]) => parseRules(oneRule(...lines), 'r.yaml')[0]!;

  test('defaults: p99 of every timed hit, at least 20 timed hits, over 120 s', () => {
    expect(only('latency: 500ms')).toEqual({ name: 'r', kind: 'latency', threshold: 500, quantile: 0.99, minHits: 20, windowSeconds: 120, forSeconds: 0, groups: 100, line: 2 });
  });

  test('a latency is a duration in ms, s, µs (us) or m, or a plain number of milliseconds; decimals kept as written', () => {
    const ms = (value: string) => only(`latency: ${value}`).threshold;
    expect([ms('500ms'), ms('500 ms'), ms('1.5s'), ms('1.1s'), ms('250'), ms('0.5'), ms('750us'), ms('750µs'), ms('2m'), ms('"10m"')]).toEqual([
      500, 500, 1500, 1100, 250, 0.5, 0.75, 0.75, 120_000, 600_000,
    ]);
    expect(only('latency: 500ms', 'recover: 0.3s').recover).toBe(300);
    expect(only('latency: 500ms', 'recover: 0').recover).toBe(0);
    expect(parseRules('[[rules]]\nname = "t"\nlatency = "1.5s"\nrecover = 900\n', 'r.toml')[0]).toMatchObject({ threshold: 1500, recover: 900 });
  });

  test('quantile: a fraction strictly between 0 and 1, or p99 / p99.9', () => {
    const q = (value: string) => only('latency: 1s', `quantile: ${value}`).quantile;
    expect([q('0.5'), q('0.999'), q('p90'), q('P99.9')]).toEqual([0.5, 0.999, 0.9, 0.999]);
    const shape = 'expected a quantile such as 0.99 or p99, more than 0 and less than 1';
    expectError(oneRule('latency: 1s', 'quantile: 1'), 4, 'rules[0].quantile', `${shape}, got 1`);
    expectError(oneRule('latency: 1s', 'quantile: 0'), 4, 'rules[0].quantile', `${shape}, got 0`);
    expectError(oneRule('latency: 1s', 'quantile: 99'), 4, 'rules[0].quantile', `${shape}, got 99`);
    expectError(oneRule('latency: 1s', 'quantile: p100'), 4, 'rules[0].quantile', `${shape}, got "p100"`);
    expectError(oneRule('latency: 1s', 'quantile: high'), 4, 'rules[0].quantile', 'got "high"');
    expectError(oneRule('rate: 1', 'quantile: 0.9'), 4, 'rules[0].quantile', 'quantile is for latency rules only, not rate');
  });

  test('bad latencies and recovers name the line and the field', () => {
    const shape = 'expected a duration such as 500ms, 1.5s or 250 (milliseconds)';
    expectError(oneRule('latency: fast'), 3, 'rules[0].latency', `${shape}, got "fast"`);
    expectError(oneRule('latency: "500"'), 3, 'rules[0].latency', `${shape}, got "500"`);
    expectError(oneRule('latency: 5h'), 3, 'rules[0].latency', 'got "5h"');
    expectError(oneRule('latency: 0'), 3, 'rules[0].latency', 'must be from 1µs to 10m, got 0');
    expectError(oneRule('latency: 11m'), 3, 'rules[0].latency', 'must be from 1µs to 10m, got "11m"');
    expectError(oneRule('latency: -5'), 3, 'rules[0].latency', 'got -5');
    expectError(oneRule('latency: 500ms', 'recover: 600ms'), 4, 'rules[0].recover', 'must be at most the latency (500 ms), got "600ms"');
    expectError(oneRule('latency: 500ms', 'recover: -1'), 4, 'rules[0].recover', 'must be at least 0, got -1');
    expectError(oneRule('latency: 500ms', 'rate: 5'), 3, 'rules[0].latency', 'not both rate and latency');
    expectError(oneRule('latency: 500ms', 'min_hits: 0'), 4, 'rules[0].min_hits', 'must be at least 1, got 0');
    expect(only('latency: 500ms', 'min_hits: 1').minHits).toBe(1);
  });

  test('match: a section, a vhost or a status class; any other field, or a status code, is refused at its line', () => {
    expect(only('latency: 1s', 'match: { section: /api }').match).toEqual({ field: 'section', values: ['/api'] });
    expect(only('latency: 1s', 'match: { vhost: [a.example, b.example] }').match).toEqual({ field: 'vhost', values: ['a.example', 'b.example'] });
    expect(only('latency: 1s', 'match: { status: [5XX, 4xx] }').match).toEqual({ field: 'status', values: ['5xx', '4xx'] });
    const kept = 'a latency rule matches section, vhost or status class: request durations are kept by those, not by';
    expectError(oneRule('latency: 1s', 'match: { host: 10.0.0.1 }'), 4, 'rules[0].match.host', `${kept} host`);
    expectError(oneRule('latency: 1s', 'match:', '  user: alice'), 5, 'rules[0].match.user', `${kept} user`);
    expectError(oneRule('latency: 1s', 'match: { method: GET }'), 4, 'rules[0].match.method', `${kept} method`);
    const code = 'a latency rule matches a status class such as 5xx, not a code (404): durations are kept by class';
    expectError(oneRule('latency: 1s', 'match: { status: 404 }'), 4, 'rules[0].match.status', code);
    expectError(oneRule('latency: 1s', 'match:', '  status:', '    - 5xx', '    - 404'), 7, 'rules[0].match.status[1]', code);
    // The whole message, in the rules file's error style.
    expect(errorOf(oneRule('latency: 1s', 'match: { host: 10.0.0.1 }')).message).toBe(`rules.yaml:4: rules[0].match.host: ${kept} host`);
  });

  test('by: section or vhost; not with match; host and user refused at their line', () => {
    expect(only('latency: 1s', 'by: vhost', 'groups: 20')).toMatchObject({ by: 'vhost', groups: 20 });
    expect(only('latency: 1s', 'by: section').by).toBe('section');
    const kept = 'a latency rule groups by section or vhost: request durations are kept by those, not by host';
    expectError(oneRule('latency: 1s', 'by: host'), 4, 'rules[0].by', kept);
    expectError(oneRule('latency: 1s', 'by: user'), 4, 'rules[0].by', 'not by user');
    expectError(oneRule('latency: 1s', 'match: { status: 5xx }', 'by: vhost'), 5, 'rules[0].by', 'by cannot go with match: grouped counts are the durations by vhost');
    // The same in TOML, at its own line.
    expectError('[[rules]]\nname = "a"\nlatency = "1s"\nby = "host"\n', 4, 'rules[0].by', kept, 'r.toml');
  });

  test('described for --check-rules', () => {
    const describe = (...lines: string[]) => describeRule(only(...lines));
    expect(describe('latency: 500ms')).toBe('r: p99 of all timed hits > 500 ms over 2m (≥ 20 timed hits)');
    expect(describe('latency: 0.5s', 'recover: 400', 'quantile: 0.999', 'match: { section: /api }', 'for: 30s', 'min_hits: 100')).toBe(
      'r: p99.9 of /api > 500 ms over 2m (≥ 100 timed hits) for 30s, recovers at ≤ 400 ms',
    );
    expect(describe('latency: 1.5s', 'quantile: p50', 'match: { vhost: a.example }', 'window: 5m', 'min_hits: 1')).toBe('r: p50 of vhost a.example > 1500 ms over 5m (≥ 1 timed hit)');
    expect(describe('latency: 250', 'match: { status: 5xx }')).toBe('r: p99 of 5xx > 250 ms over 2m (≥ 20 timed hits)');
    expect(describe('latency: 1s', 'by: vhost', 'groups: 20')).toBe('r: p99 per vhost > 1000 ms over 2m (≥ 20 timed hits), busiest 20 vhosts');
  });

  test('what a latency rule may take: at most 4.4 kB a second of its window (1 µs to 1 h in 1 % buckets), its running sketch, an instance', () => {
    expect(LATENCY_BUCKETS).toBe(1101);
    const second = 4 * 1101 + 256;
    const window = 8 * 1101 + 256;
    expect(ruleCost(only('latency: 1s'))).toBe(122 * second + window + 8192);
    expect(ruleCost(only('latency: 1s', 'by: vhost'))).toBe(100 * (122 * second + window + 8192));
    expect(checkLines([only('latency: 500ms', 'match: { section: /api }'), only('latency: 1s', 'by: vhost', 'groups: 20', 'window: 5m')].map((r, i) => ({ ...r, name: `r${i}` })))).toEqual([
      'r0: p99 of /api > 500 ms over 2m (≥ 20 timed hits) · memory ≤ 586 kB',
      'r1: p99 per vhost > 1000 ms over 5m (≥ 20 timed hits), busiest 20 vhosts · memory ≤ 28.5 MB',
      '2 rules: memory ≤ 29.1 MB of the 256 MB limit',
    ]);
  });

  test('a latency window too big for the limit is refused at its window, saying what it would take', () => {
    expectError(oneRule('latency: 1s', 'window: 24h'), 4, 'rules[0].window', 'a latency rule over 24h would take 403 MB, more than the 256 MB limit of all rules (a shorter window or fewer rules)');
    expectError(oneRule('latency: 1s', 'by: section', 'window: 10m'), 5, 'rules[0].window', '10m × 100 sections would take 282 MB, more than the 256 MB limit');
    expect(ruleCost(only('latency: 1s', 'window: 1h'))).toBeLessThan(17e6);
  });
});

describe('vhost as a field of counting rules', () => {
  test('match: { vhost } for rate, ratio and silence; by: vhost for rate', () => {
    const parsed = parseRules(
      'rules:\n  - { name: a, rate: 5, match: { vhost: a.example } }\n  - { name: b, ratio: 5%, match: { vhost: [a.example, b.example] } }\n  - { name: c, silence: 1, match: { vhost: shop.example } }\n  - { name: d, rate: 20, by: vhost }\n',
      'r.yaml',
    );
    expect(parsed.map((r) => [r.match ?? null, r.by ?? null])).toEqual([
      [{ field: 'vhost', values: ['a.example'] }, null],
      [{ field: 'vhost', values: ['a.example', 'b.example'] }, null],
      [{ field: 'vhost', values: ['shop.example'] }, null],
      [null, 'vhost'],
    ]);
    expect(parsed.map(describeRule)).toEqual([
      'a: vhost a.example > 5 req/s over 2m',
      'b: vhost a.example or b.example / all hits > 5 % over 2m',
      'c: vhost shop.example < 1 hit over 2m',
      'd: all hits per vhost > 20 req/s over 2m, busiest 100 vhosts',
    ]);
    expectError(oneRule('rate: 1', 'match: { vhost: "a b" }'), 4, 'rules[0].match.vhost', 'expected a virtual host without spaces, got "a b"');
    expectError(oneRule('silence: 1', 'by: vhost'), 4, 'rules[0].by', 'by is for rate and latency rules only, not silence');
  });
});

describe('needsRuleSketches: whether the scanners keep durations by status class and vhost', () => {
  const rules = (...lines: string[]) => parseRules(`rules:\n${lines.map((l) => `  - ${l}\n`).join('')}`, 'r.yaml');
  test('only a latency rule that matches a status class or a vhost, or is grouped by vhost, reads them', () => {
    expect(needsRuleSketches()).toBe(false);
    expect(needsRuleSketches(rules('{ name: a, rate: 1, by: vhost }', '{ name: b, ratio: 0.1, match: { status: 5xx } }'))).toBe(false);
    expect(needsRuleSketches(rules('{ name: a, latency: 500ms }', '{ name: b, latency: 1s, match: { section: /api } }', '{ name: c, latency: 1s, by: section }'))).toBe(false);
    expect(needsRuleSketches(rules('{ name: a, latency: 500ms, match: { status: 5xx } }'))).toBe(true);
    expect(needsRuleSketches(rules('{ name: a, latency: 500ms, match: { vhost: a.test } }'))).toBe(true);
    expect(needsRuleSketches(rules('{ name: a, rate: 1 }', '{ name: b, latency: 500ms, by: vhost }'))).toBe(true);
  });
});
