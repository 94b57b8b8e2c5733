/**
 * lib/message-split: a message bigger than the server takes goes out as several, each below it;
 * no hit and no key is lost, and only the last part says the new clock and files.
 */
import { describe, expect, test } from 'bun:test';
import { emptySegment } from '../actors/messages';
import { eachKey, packMaps } from '../lib/byte-keys';
import { sketchPieces, splitMessage } from '../lib/message-split';
import { Sketch } from '../lib/sketch';
import { type CountsMessage, decode, encode, type FileMark, type Segment, sketchToWire, WIRE_VERSION } from '../lib/wire';

const S = 1_767_225_600;
const file = (offset: number): FileMark => ({ path: '/var/log/a.log', id: '1:2', offset, head: new Uint8Array([49]) });

/** A segment of `hosts` distinct hosts, a hit each. */
function busy(second: number, hosts: number) {
  const map = new Map<string, number>();
  for (let i = 0; i < hosts; i++) map.set(`10.0.${i >> 8}.${i & 255}`, 1);
  return { ...emptySegment(second), hits: hosts, perSecond: new Map([[second, hosts]]), status: [0, 0, hosts, 0, 0, 0] as [number, number, number, number, number, number], keys: packMaps({ hosts: map, sections: new Map([['/x', hosts]]) }) };
}

const keysOf = (parts: CountsMessage[]) => {
  const keys = new Map<string, number>();
  for (const p of parts) for (const s of p.segments) eachKey(s.keys, (kind, b, start, end, n) => {
    const k = `${kind}:${Buffer.from(b.subarray(start, end)).toString()}`;
    keys.set(k, (keys.get(k) ?? 0) + n);
  });
  return keys;
};

describe('splitMessage', () => {
  test('a message that fits is itself', () => {
    const m: CountsMessage = { v: WIRE_VERSION, agent: 'a', seq: 5, clock: S, segments: [busy(S, 10)], files: [file(10)] };
    expect(splitMessage(m, 65_536, { clock: S - 1, files: [file(1)] })).toEqual([m]);
  });

  test('20,000 hosts in one second under 64 KB: parts below it, every hit and key, the new clock and files on the last part only', () => {
    const m: CountsMessage = { v: WIRE_VERSION, agent: 'a', instance: 'abcdefghijklmnop', seq: 5, clock: S, segments: [busy(S - 1, 100), busy(S, 20_000)], files: [file(999)] };
    const parts = splitMessage(m, 65_536, { clock: S - 1, files: [file(1)] });
    expect(parts.length).toBeGreaterThan(5);
    for (const p of parts) expect(encode(p).length).toBeLessThanOrEqual(65_536);
    expect(parts.map((p) => p.seq)).toEqual(parts.map((_, i) => 5 + i));
    expect(parts.slice(0, -1).every((p) => p.clock === S - 1 && p.files[0]!.offset === 1)).toBe(true);
    expect(parts.at(-1)).toMatchObject({ clock: S, files: [file(999)] });
    // Decoded as the centre decodes them: the same hits, per second, statuses and keys.
    const decoded = parts.map((p) => decode(encode(p)));
    const segments = decoded.flatMap((p) => p.segments);
    expect(segments.reduce((n, s) => n + s.hits, 0)).toBe(20_100);
    expect(segments.reduce((n, s) => n + (s.perSecond.get(S) ?? 0), 0)).toBe(20_000);
    expect(segments.reduce((n, s) => n + s.status[2], 0)).toBe(20_100);
    expect(keysOf(decoded)).toEqual(keysOf([m]));
    expect(segments.every((s) => s.second === S - 1 || s.second === S)).toBe(true);
  });
});

/** A deterministic spread of durations (ms): mostly 5–200 ms, a tail to 30 s, some zeros. */
function durations(n: number, seed: number): number[] {
  let x = seed;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => {
    const u = next();
    return u < 0.02 ? 0 : u < 0.97 ? 5 + 195 * next() : 200 + 30_000 * next() ** 3;
  });
}
const sketchOf = (values: number[]) => {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s;
};
const merged = (list: (Sketch | undefined)[]) => list.reduce<Sketch>((all, s) => (s ? all.merge(s) : all), new Sketch());
/** Everything a sketch says, and its quantiles: equal before and after a split. */
const said = (s: Sketch) => ({ ...s.toJSON(), q: [0.01, 0.25, 0.5, 0.9, 0.99, 0.999].map((q) => s.quantile(q)) });

/** A busy second of a timed format: `sections` sections, each with its sketch, and 3 vhosts. */
function timedSecond(second: number, sections: number): Segment {
  const names = Array.from({ length: sections }, (_, i) => `/s${i}`);
  const values = durations(sections * 4, second);
  const bySection = new Map(names.map((n, i) => [n, sketchOf(values.slice(4 * i, 4 * i + 4))]));
  const vhosts = ['a.example', 'b.example', 'c.example'];
  return {
    ...emptySegment(second),
    hits: values.length,
    perSecond: new Map([[second, values.length]]),
    status: [0, 0, values.length - 10, 0, 0, 10],
    keys: packMaps({ sections: new Map(names.map((n) => [n, 4])), vhosts: new Map(vhosts.map((v, i) => [v, i === 0 ? values.length - 2 * sections : sections])) }),
    latency: sketchOf(values),
    upstream: sketchOf(values.map((v) => v * 0.9)),
    sectionLatency: bySection,
    vhostLatency: new Map(vhosts.map((v, i) => [v, sketchOf(values.filter((_, j) => j % 3 === i))])),
    classLatency: [undefined, undefined, sketchOf(values.slice(10)), undefined, undefined, sketchOf(values.slice(0, 10))],
  };
}

describe('splitMessage: durations', () => {
  test('a second of 3,000 timed sections under 16 KB: every sketch merges back to the same counts and quantiles, overall and by section, vhost and class', () => {
    const segment = timedSecond(S, 3000);
    const before = said(segment.latency!);
    const m: CountsMessage = { v: WIRE_VERSION, agent: 'a', seq: 1, clock: S, segments: [segment], files: [file(5)] };
    const parts = splitMessage(m, 16_384, { clock: S - 1, files: [file(1)] });
    expect(parts.length).toBeGreaterThan(10);
    for (const p of parts) expect(encode(p).length).toBeLessThanOrEqual(16_384);
    const segments = parts.map((p) => decode(encode(p))).flatMap((p) => p.segments);
    expect(segments.every((s) => s.second === S)).toBe(true);
    expect(segments.reduce((n, s) => n + s.hits, 0)).toBe(12_000);
    for (const field of ['latency', 'upstream'] as const) expect(said(merged(segments.map((s) => s[field])))).toEqual(said(segment[field]!));
    expect(said(merged(segments.map((s) => s.latency)))).toEqual(before);
    expect(merged(segments.map((s) => s.latency)).count).toBe(12_000);
    for (const c of [2, 5]) expect(said(merged(segments.map((s) => s.classLatency?.[c])))).toEqual(said(segment.classLatency![c]!));
    for (const field of ['sectionLatency', 'vhostLatency'] as const) {
      const names = new Set(segments.flatMap((s) => [...(s[field]?.keys() ?? [])]));
      expect(names).toEqual(new Set(segment[field]!.keys()));
      for (const name of names) expect(said(merged(segments.map((s) => s[field]?.get(name))))).toEqual(said(segment[field]!.get(name)!));
    }
    // The sketches given are not changed by the split.
    expect(said(segment.latency!)).toEqual(before);
  });

  test('one sketch too big for a part goes in pieces by bucket ranges, which merge back to it exactly', () => {
    // Every bucket from 1 µs to 3 h, thousands of durations in each: about 7 KB of sketch alone.
    const wide = new Sketch();
    for (let v = 0.001; v < 1e7; v *= 1.015) wide.add(v, 12_345);
    wide.add(0, 3);
    expect(JSON.stringify(sketchToWire(wide)).length).toBeGreaterThan(6_000);
    const segment: Segment = { ...emptySegment(S), hits: wide.count, perSecond: new Map([[S, wide.count]]), latency: wide, classLatency: [undefined, undefined, wide] };
    const m: CountsMessage = { v: WIRE_VERSION, agent: 'a', seq: 1, clock: S, segments: [segment], files: [] };
    const parts = splitMessage(m, 4096, { clock: S - 1, files: [] });
    expect(parts.length).toBeGreaterThanOrEqual(4);
    for (const p of parts) expect(encode(p).length).toBeLessThanOrEqual(4096);
    const segments = parts.map((p) => decode(encode(p))).flatMap((p) => p.segments);
    expect(said(merged(segments.map((s) => s.latency)))).toEqual(said(wide));
    expect(said(merged(segments.map((s) => s.classLatency?.[2])))).toEqual(said(wide));
    expect(segments.reduce((n, s) => n + s.hits, 0)).toBe(wide.count);
  });

  test('sketchPieces: each piece within the budget, the first with the zeros and the sum, all together the sketch', () => {
    const s = sketchOf([...durations(5000, 7), 0, 0]);
    const json = s.toJSON();
    const pieces = sketchPieces(s, 200);
    expect(pieces.length).toBeGreaterThan(2);
    for (const p of pieces) expect(JSON.stringify(sketchToWire(p)).length).toBeLessThanOrEqual(200);
    expect(pieces.slice(1).every((p) => p.sum === 0 && p.toJSON().zero === 0)).toBe(true);
    expect(said(merged(pieces))).toEqual(said(s));
    expect(s.toJSON()).toEqual(json);
    expect(sketchPieces(s, 100_000)).toEqual([s]);
  });
});
