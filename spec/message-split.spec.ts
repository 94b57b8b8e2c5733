/**
 * lib/message-split: a message bigger than the server takes goes out as several, each below it;
 * no hit and no key is lost, and only the last part says the new clock and files.
 */
import { describe, expect, test } from 'bun:test';
import { emptySegment } from '../actors/messages';
import { eachKey, packMaps } from '../lib/byte-keys';
import { splitMessage } from '../lib/message-split';
import { type CountsMessage, decode, encode, type FileMark } from '../lib/wire';

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
    const m: CountsMessage = { v: 1, agent: 'a', seq: 5, clock: S, segments: [busy(S, 10)], files: [file(10)] };
    expect(splitMessage(m, 65_536, { clock: S - 1, files: [file(1)] })).toEqual([m]);
  });

  test('20,000 hosts in one second under 64 KB: parts below it, every hit and key, the new clock and files on the last part only', () => {
    const m: CountsMessage = { v: 1, agent: 'a', instance: 'abcdefghijklmnop', seq: 5, clock: S, segments: [busy(S - 1, 100), busy(S, 20_000)], files: [file(999)] };
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
