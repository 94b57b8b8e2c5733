import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_LINE } from '../actors/clf-scanner';
import { firstSecond } from '../actors/replay-clock';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-replay-clock-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2018, 4, 9, 16, 0, 39) / 1000;
const line = (host = '127.0.0.1') => `${host} - - [09/May/2018:16:00:39 +0000] "GET /a HTTP/1.0" 200 1\n`;

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe('firstSecond: where a replay clock starts', () => {
  test('the first valid line of the first file that has one', () => {
    expect(firstSecond([file('empty.log', ''), file('one.log', line())])).toBe(T0);
    expect(firstSecond([file('none.log', 'garbage\n')])).toBeNull();
  });

  test('past thousands of garbage lines spread over many scan windows and reads', () => {
    const junk = 'not a log line at all, just junk\n'.repeat(20_000); // 660 KB
    expect(firstSecond([file('junk.log', junk + line())])).toBe(T0);
  });

  test('past a long invalid line, and on a valid line of exactly MAX_LINE bytes', () => {
    const long = 'x'.repeat(200_000) + '\n';
    expect(firstSecond([file('long.log', long + line())])).toBe(T0);
    const base = line().slice(0, -1);
    const host = 'h'.repeat(MAX_LINE - base.length + '127.0.0.1'.length);
    const exact = line(host);
    expect(Buffer.byteLength(exact) - 1).toBe(MAX_LINE);
    expect(firstSecond([file('exact.log', exact)])).toBe(T0);
    expect(firstSecond([file('exact-after-junk.log', 'junk\n'.repeat(1000) + exact)])).toBe(T0);
    // across the boundary of two reads
    expect(firstSecond([file('exact-across-reads.log', 'junk\n'.repeat(20_000) + exact)])).toBe(T0);
  });
});
