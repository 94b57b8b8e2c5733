import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileFormat, detectFormat } from '../lib/log-format';
import { DETECT_SAMPLE } from '../lib/log-format-detect';

const DIR = join(import.meta.dir, 'fixtures', 'formats');
const lines = (file: string) => readFileSync(join(DIR, file), 'utf8').split('\n').filter((l) => l !== '');

describe('detectFormat', () => {
  test.each([
    ['common.log', 'common'],
    ['combined.log', 'combined'],
    ['vcombined.log', 'vcombined'],
    ['caddy.log', 'caddy'],
    ['traefik.log', 'traefik'],
    ['aws-alb.log', 'aws-alb'],
  ])('%s is %s, every line matched, and the format is the name compiled', (file, name) => {
    const sample = lines(file);
    const found = detectFormat(sample);
    expect(found?.name).toBe(name as never);
    expect(found?.matched).toBe(sample.length);
    expect(found?.format).toEqual(compileFormat(name));
  });

  test('garbage, nothing and blank lines are no format', () => {
    expect(detectFormat(['hello world', 'this is not a log', '{"json": "but not a server\'s"}'])).toBeNull();
    expect(detectFormat([])).toBeNull();
    expect(detectFormat(['', '   ', '\t', '\r'])).toBeNull();
  });

  test('an nginx JSON template log is no name: it needs --log-format', () => {
    expect(detectFormat(lines('nginx-json.log'))).toBeNull();
  });

  test('blank lines are not counted; half of the others is enough, less is not', () => {
    const common = lines('common.log');
    expect(detectFormat(['', common[0]!, 'junk', '', common[1]!, 'junk'])).toMatchObject({ name: 'common', matched: 2 });
    expect(detectFormat([common[0]!, 'junk', 'junk'])).toBeNull();
  });

  test('combined beats common when at least half of the lines carry the referer and user agent', () => {
    const common = lines('common.log');
    const combined = lines('combined.log');
    expect(detectFormat([...combined.slice(0, 2), ...common.slice(0, 2)])).toMatchObject({ name: 'combined', matched: 4 });
    expect(detectFormat([...combined.slice(0, 1), ...common])).toMatchObject({ name: 'common', matched: 4 });
  });

  test('an nginx format that extends combined reads as combined (its extra fields need --log-format)', () => {
    expect(detectFormat(lines('nginx-main.log'))).toMatchObject({ name: 'combined', matched: lines('nginx-main.log').length });
  });

  test('the best share wins among several names', () => {
    const mixed = [...lines('caddy.log').slice(0, 4), ...lines('traefik.log').slice(0, 2)];
    expect(detectFormat(mixed)).toMatchObject({ name: 'caddy', matched: 4 });
  });

  test(`only the first ${DETECT_SAMPLE} non-blank lines are looked at`, () => {
    const common = lines('common.log')[0]!;
    const late = [...Array.from({ length: DETECT_SAMPLE }, () => 'junk'), ...Array.from({ length: 100 }, () => common)];
    expect(detectFormat(late)).toBeNull();
    const early = [...Array.from({ length: 30 }, () => ''), ...Array.from({ length: DETECT_SAMPLE }, () => common), 'junk'];
    expect(detectFormat(early)).toMatchObject({ name: 'common', matched: DETECT_SAMPLE });
  });

  test('it is cheap: 20 lines of each kind well under a millisecond a line', () => {
    const all = ['common.log', 'caddy.log', 'aws-alb.log'].flatMap(lines);
    const started = performance.now();
    for (let i = 0; i < 50; i++) detectFormat(all);
    const perLine = (performance.now() - started) / (50 * Math.min(all.length, DETECT_SAMPLE));
    expect(perLine).toBeLessThan(1);
  });
});
