import { describe, expect, test } from 'bun:test';
import { emptySegment } from '../actors/messages';
import { SegmentMerge } from '../actors/segment-merge';

const seg = (second: number) => emptySegment(second);
const seconds = (list: { second: number }[]) => list.map((s) => s.second);

describe('SegmentMerge', () => {
  test('holds a file back until every file still being read has shown a line as new', () => {
    const m = new SegmentMerge(['a', 'b']);
    m.add('a', [seg(1), seg(2), seg(5)]);
    expect(m.take()).toEqual([]); // b has shown nothing yet
    m.add('b', [seg(1), seg(3)]);
    expect(seconds(m.take())).toEqual([1, 1, 2, 3]);
    m.add('b', [seg(7)]);
    expect(seconds(m.take())).toEqual([5]);
    m.end('a');
    expect(seconds(m.take())).toEqual([7]);
  });

  test('a file that has ended no longer holds the others back', () => {
    const m = new SegmentMerge(['a', 'b']);
    m.end('b');
    m.add('a', [seg(10), seg(11)]);
    expect(seconds(m.take())).toEqual([10, 11]);
  });

  test('invalid lines before any valid one (second -Infinity) go first', () => {
    const m = new SegmentMerge(['a', 'b']);
    m.add('a', [seg(-Infinity), seg(4)]);
    expect(seconds(m.take())).toEqual([-Infinity]);
    m.add('b', [seg(4)]);
    expect(seconds(m.take())).toEqual([4, 4]);
  });

  test("an agent's clock lets the others' lines go without lines of its own; a silent agent stops holding them", () => {
    const m = new SegmentMerge(['web-1', 'web-2']);
    m.add('web-1', [seg(10), seg(12)]);
    expect(m.take()).toEqual([]);
    m.advance('web-2', 11); // idle, but its clock is at 11
    expect(seconds(m.take())).toEqual([10]);
    expect(m.watermark()).toBe(11);
    m.hold('web-2', false); // not heard from
    expect(seconds(m.take())).toEqual([12]);
    m.hold('web-2', true); // back: holds again from where its clock was
    m.add('web-1', [seg(13)]);
    expect(m.take()).toEqual([]);
    m.advance('web-2', 11); // a clock never goes back
    expect(m.watermark()).toBe(11);
  });
});
