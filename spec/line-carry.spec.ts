import { describe, expect, test } from 'bun:test';
import { MAX_LINE } from '../actors/clf-scanner';
import { LineCarry } from '../actors/line-carry';

describe('LineCarry', () => {
  test('holds a partial line until its newline arrives, then sends it once', () => {
    const sent: string[] = [];
    const carry = new LineCarry((b) => sent.push(Buffer.from(b).toString()));
    carry.push(Buffer.from('a\nb'));
    carry.push(Buffer.from('c'));
    expect(sent).toEqual(['a\n']);
    carry.push(Buffer.from('d\ne\n'));
    expect(sent.join('')).toBe('a\nbcd\ne\n');
    expect(sent.every((chunk) => chunk.endsWith('\n'))).toBe(true);
  });

  test('a line never completed is not sent unless the source ends for good', () => {
    const sent: string[] = [];
    const carry = new LineCarry((b) => sent.push(Buffer.from(b).toString()));
    carry.push(Buffer.from('partial'));
    carry.drop();
    carry.push(Buffer.from('x\n'));
    expect(sent).toEqual(['x\n']);
    carry.push(Buffer.from('last'));
    carry.flush();
    expect(sent).toEqual(['x\n', 'last']);
  });

  test('a multi-byte character split across two reads arrives whole', () => {
    const sent: Uint8Array[] = [];
    const carry = new LineCarry((b) => sent.push(b));
    const bytes = Buffer.from('/café\n');
    carry.push(bytes.subarray(0, 4));
    carry.push(bytes.subarray(4));
    expect(Buffer.concat(sent).toString()).toBe('/café\n');
  });
});

describe('LineCarry, hostile input', () => {
  test('an over-long line keeps only MAX_LINE + 1 bytes, however many reads it spans', () => {
    const sent: Uint8Array[] = [];
    const carry = new LineCarry((b) => sent.push(b));
    carry.push(Buffer.from('ok 1\n'));
    for (let i = 0; i < 10; i++) carry.push(new Uint8Array(40_000).fill(120));
    carry.push(Buffer.from('xyz\nok 2\n'));
    expect(sent.map((b) => b.length)).toEqual([5, MAX_LINE + 1, 5]);
    expect(Buffer.from(sent[2]!).toString()).toBe('ok 2\n');
  });

  test('NUL bytes where a line begins (a hole left by a writer after truncation) are skipped', () => {
    const sent: string[] = [];
    const carry = new LineCarry((b) => sent.push(Buffer.from(b).toString()));
    carry.push(new Uint8Array(100_000));
    carry.push(Buffer.concat([new Uint8Array(10), Buffer.from('line\n')]));
    expect(sent).toEqual(['line\n']);
  });
});
