import { describe, expect, test } from 'bun:test';
import type { ArgsDef } from 'citty';
import { list, numberInRange, positiveNumber, readArgs, shown, unknownCommand, UsageError, VERSION, VersionRequest } from '../lib/cli-args';

const def = {
  file: { type: 'string', alias: ['f', 'filename'] as string[] },
  threshold: { type: 'string', alias: 't', default: '10' },
  watch: { type: 'boolean', default: true },
  json: { type: 'boolean' },
} satisfies ArgsDef;

describe('cli args', () => {
  test('repeated flags and positionals are all kept', () => {
    const args = readArgs(['-f', 'a', '--filename=b', 'c', '--file', 'd'], def, ['file']);
    expect(list(args.file)).toEqual(['a', 'b', 'd']);
    expect(args._).toEqual(['c']);
  });

  test('a string flag takes the next word even when it starts with a dash', () => {
    expect(readArgs(['-t', '-1'], def).threshold).toBe('-1');
  });

  test('defaults, booleans and --no- negation', () => {
    const args = readArgs(['--json', '--no-watch'], def);
    expect(args).toMatchObject({ threshold: '10', json: true, watch: false });
  });

  test('unknown flags, missing values and values on booleans are usage errors', () => {
    expect(() => readArgs(['--bogus'], def)).toThrow(new UsageError('unknown option --bogus'));
    expect(() => readArgs(['-t'], def)).toThrow(UsageError);
    expect(() => readArgs(['--json=yes'], def)).toThrow(UsageError);
  });

  test('positive numbers: decimals allowed, junk, zero and negatives refused', () => {
    expect(positiveNumber('2.5', '-t')).toBe(2.5);
    expect(positiveNumber('120', '-a', true)).toBe(120);
    for (const bad of ['abc', '0', '-1', '', '1.5x', 'Infinity', 'NaN']) {
      expect(() => positiveNumber(bad, '-t')).toThrow(UsageError);
    }
    expect(() => positiveNumber('1.5', '-a', true)).toThrow('-a must be a positive whole number');
  });

  describe('numberInRange', () => {
    const seconds = { min: 1, max: 86400 };
    const whole = { min: 10, max: 60000, integer: true };
    const threshold = { min: 0.001, max: 1e9 };
    const fails = (value: string, flag: string, range: Parameters<typeof numberInRange>[2]) => {
      let error: unknown;
      try {
        numberInRange(value, flag, range);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      return (error as UsageError).message;
    };

    test('both bounds are inside, with fractions unless the range is whole', () => {
      expect(numberInRange('1', '-s', seconds)).toBe(1);
      expect(numberInRange('86400', '-s', seconds)).toBe(86400);
      expect(numberInRange('2.5', '-s', seconds)).toBe(2.5);
      expect(numberInRange('86399.999', '-s', seconds)).toBe(86399.999);
      expect(numberInRange('1.000001', '-s', seconds)).toBe(1.000001);
      expect(numberInRange('10', '--poll-ms', whole)).toBe(10);
      expect(numberInRange('60000', '--poll-ms', whole)).toBe(60000);
      expect(numberInRange('0.001', '-t', threshold)).toBe(0.001);
      expect(numberInRange('1000000000', '-t', threshold)).toBe(1e9);
      expect(numberInRange('1e9', '-t', threshold)).toBe(1e9);
      expect(numberInRange(' 120 ', '-a', seconds)).toBe(120);
      expect(numberInRange('0', 'port', { min: 0, max: 65535, integer: true })).toBe(0);
    });

    test('just outside either bound is refused with one line naming the flag and the range', () => {
      expect(fails('0.999999', '-s/--interval', seconds)).toBe("-s/--interval must be a number from 1 to 86400, got '0.999999'");
      expect(fails('86400.001', '-s/--interval', seconds)).toBe("-s/--interval must be a number from 1 to 86400, got '86400.001'");
      expect(fails('9', '--poll-ms', whole)).toBe("--poll-ms must be a whole number from 10 to 60000, got '9'");
      expect(fails('60001', '--poll-ms', whole)).toBe("--poll-ms must be a whole number from 10 to 60000, got '60001'");
      expect(fails('0.000999', '-t', threshold)).toBe("-t must be a number from 0.001 to 1000000000, got '0.000999'");
      expect(fails('1000000000.5', '-t', threshold)).toBe("-t must be a number from 0.001 to 1000000000, got '1000000000.5'");
    });

    test("the issue's examples are refused", () => {
      for (const value of ['3000000', '1e308', '1e-9']) expect(fails(value, '-s', seconds)).toContain('from 1 to 86400');
      for (const value of ['1e10', '0.001', '0']) expect(fails(value, '--poll-ms', whole)).toContain('from 10 to 60000');
      for (const value of ['100000000', '1e9']) expect(fails(value, '-a', { ...seconds, integer: true })).toContain('from 1 to 86400');
    });

    test('fractions are refused by a whole range, also inside it', () => {
      expect(fails('10.5', '--poll-ms', whole)).toBe("--poll-ms must be a whole number from 10 to 60000, got '10.5'");
      expect(numberInRange('1e2', '--poll-ms', whole)).toBe(100);
    });

    test('NaN, Infinity, huge, hex, signs, blanks and junk are refused', () => {
      const bad = ['NaN', 'nan', 'Infinity', '-Infinity', '1e308', '1e309', '0x10', '0b11', '0o7', '', ' ', '-1', '+5', '-0', '1,5', '1_000', '5.', '.', 'e5', '1e', '10abc', '٣'];
      for (const value of bad) expect(fails(value, '-s', seconds)).toStartWith('-s must be a number from 1 to 86400, got ');
      expect(fails(undefined as unknown as string, '-s', seconds)).toBe("-s must be a number from 1 to 86400, got ''");
    });

    test('the value quoted stays on one line and short', () => {
      expect(fails('1\n2', '-s', seconds)).toBe("-s must be a number from 1 to 86400, got '1\\n2'");
      const message = fails('9'.repeat(10_000), '-s', seconds);
      expect(message).not.toContain('\n');
      expect(message.length).toBeLessThan(120);
      expect(shown('a\u2028b\x1bc')).toBe("'a\\u2028b\\u001bc'");
    });
  });
});

describe('--version and sub-command names', () => {
  test('--version, -V and -v ask for the version, unless the command uses the flag', () => {
    for (const flag of ['--version', '-V', '-v']) expect(() => readArgs(['--json', flag, '--bogus'], def)).toThrow(VersionRequest);
    expect(readArgs(['-v'], { verbose: { type: 'boolean', alias: 'v' } }).verbose).toBe(true);
    expect(() => readArgs(['--version=1'], def)).toThrow(new UsageError('unknown option --version'));
    expect(VERSION).toMatch(/^http-log-monitor \d+\.\d+\.\d+/);
  });

  test('a plain word that is no path is an unknown command; a path, a pattern or a flag is not', () => {
    const none = () => false;
    expect(unknownCommand('frobnicate', none)).toBe(
      "unknown command 'frobnicate' (commands: agent, format, generate, chart; a file to follow that does not exist yet: -f frobnicate)",
    );
    expect(unknownCommand('web_2-log', none)).toContain("'web_2-log'");
    for (const word of [undefined, 'access.log', 'logs/access', '*log', 'log?', '[ab]', '-f', '-', '--json', 'dossier 2']) expect(unknownCommand(word, none)).toBeUndefined();
    expect(unknownCommand('access', (p) => p === 'access')).toBeUndefined();
  });
});

describe("the centre's arguments", () => {
  test('--name names a centre (as an agent is named) and goes only with --nats; the flags given are told from the defaults', async () => {
    const { parseMonitorArgs } = await import('../commands/monitor');
    expect(parseMonitorArgs(['--nats', 'nats://127.0.0.1:4222', '--name', 'standby-1'])!.centre!.name).toBe('standby-1');
    expect(() => parseMonitorArgs(['--nats', 'nats://127.0.0.1:4222', '--name', '_centre'])).toThrow(UsageError);
    expect(() => parseMonitorArgs(['--nats', 'nats://127.0.0.1:4222', '--name', 'a.b'])).toThrow(/--name must be/);
    expect(() => parseMonitorArgs(['--name', 'x'])).toThrow(/--name goes with --nats/);
    const replay = parseMonitorArgs(['--nats', 'nats://127.0.0.1:4222', '--replay', '--since', '0', '-t', '10'])!.centre!;
    // -t 10 is the default's value, but given: it stands over the live centre's recorded one.
    expect(replay.given).toEqual({ interval: false, window: false, threshold: true });
  });
});
