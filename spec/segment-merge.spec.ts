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
});
