import { describe, expect, test } from 'bun:test';
import type { ArgsDef } from 'citty';
import { list, positiveNumber, readArgs, UsageError } from '../lib/cli-args';

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
});
