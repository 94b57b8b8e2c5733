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

describe('LineCarry, holes (NUL runs where a line begins)', () => {
  const collect = (holes: boolean) => {
    const sent: string[] = [];
    return { sent, carry: new LineCarry((b) => sent.push(Buffer.from(b).toString()), holes) };
  };
  const nuls = (n: number) => '\0'.repeat(n);

  test('a hole after a line, cut anywhere across reads, is not glued to the next line', () => {
    const whole = `one\n${nuls(10_000)}two\nthree\n${nuls(5)}four\n`;
    for (const cut of [1, 4, 5, 100, 9_000, 10_004, 10_008, 10_015]) {
      const { sent, carry } = collect(true);
      carry.push(Buffer.from(whole.slice(0, cut)));
      carry.push(Buffer.from(whole.slice(cut)));
      expect(sent.join('').split('\n')).toEqual(['one', 'two', 'three', 'four', '']);
    }
  });

  test('a NUL inside a line stays part of it; without `holes`, NULs between lines in one read stay too', () => {
    const { sent, carry } = collect(true);
    carry.push(Buffer.from('a\0b\n\0c\n'));
    expect(sent.join('')).toBe('a\0b\nc\n');
    const plain = collect(false);
    plain.carry.push(Buffer.from('a\n\0\0b\n'));
    expect(plain.sent.join('')).toBe('a\n\0\0b\n');
  });

  test('reads of nothing but NULs send nothing and hold nothing', () => {
    const { sent, carry } = collect(true);
    const hole = new Uint8Array(1 << 20);
    for (let i = 0; i < 8; i++) carry.push(hole);
    carry.push(Buffer.from('after\n'));
    expect(sent).toEqual(['after\n']);
  });
});
