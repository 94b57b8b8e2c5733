import { describe, expect, test } from 'bun:test';
import { emptySegment } from '../actors/messages';
import { SegmentMerge } from '../actors/segment-merge';
import { ClfScanner } from '../actors/clf-scanner';
import { unpack } from '../lib/byte-keys';
import { Sketch } from '../lib/sketch';

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

describe('SegmentMerge: what a segment carries', () => {
  test('a segment held back keeps its own copy of borrowed keys and its sketches, also when its source is forgotten', () => {
    const sketch = (...ms: number[]) => {
      const s = new Sketch();
      for (const v of ms) s.add(v);
      return s;
    };
    // A borrowing scanner packs every scan into one buffer: the next scan overwrites the keys.
    const scanner = new ClfScanner({ borrowKeys: true });
    const line = (path: string) => `10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET ${path} HTTP/1.1" 200 5\n`;
    const [scanned] = scanner.scan(Buffer.from(line('/first'))).segments;
    const timed = { ...scanned!, latency: sketch(12, 40), sectionLatency: new Map([['/first', sketch(12, 40)]]), classLatency: [undefined, undefined, sketch(12, 40)] };
    const m = new SegmentMerge(['a', 'b']);
    m.add('a', [timed]);
    scanner.scan(Buffer.from(line('/other')));
    m.forget('b');
    m.forget('a');
    const [out] = m.take();
    expect(Object.fromEntries(unpack(out!.keys, 'sections'))).toEqual({ '/first': 1 });
    expect(out!.latency!.summary()).toEqual(sketch(12, 40).summary());
    expect(out!.sectionLatency!.get('/first')!.count).toBe(2);
    expect(out!.classLatency![2]!.max).toBe(40);
  });
});
