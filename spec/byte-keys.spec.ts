import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import {
  ByteCounts,
  decodeKey,
  eachKey,
  fixedKey,
  FNV_PRIME,
  fnv1a,
  KEY_KINDS,
  type KeyCounts,
  KeyTally,
  MAX_KEY_BYTES,
  NO_KEYS,
  ownKeys,
  pack,
  PackBuffer,
  packMaps,
  slotOf,
  stableHash,
  unpack,
} from '../lib/byte-keys';

const bytesOf = (key: string) => Buffer.from(key, 'utf8');

/** Keys written back to back into one chunk, as a scanner finds them in a read; `add` tallies the i-th. */
/** A packing's keys in order, as [kind, key, count]. */
function entriesOf(keys: KeyCounts): [number, string, number][] {
  const seen: [number, string, number][] = [];
  eachKey(keys, (kind, bytes, start, end, count) => seen.push([kind, decodeKey(bytes, start, end), count]));
  return seen;
}

function chunkOf(keys: string[]) {
  const bytes = Buffer.from(keys.join(''), 'latin1');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts: number[] = [];
  let at = 0;
  for (const k of keys) {
    starts.push(at);
    at += k.length;
  }
  starts.push(at);
  return {
    bytes,
    add: (tally: KeyTally, i: number) => tally.add(view, starts[i]!, starts[i + 1]!, fnv1a(bytes, starts[i]!, starts[i + 1]!)),
  };
}

function addKey(t: ByteCounts, key: Uint8Array, n: number) {
  return t.add(key, 0, key.length, fnv1a(key), n);
}

/** Keys as arrays of bytes, with many repeats and shared prefixes, and any byte value. */
const keyArb = fc.oneof(
  fc.constantFrom('/a', '/b', '/pages', '10.0.0.1', 'james', '', 'GET'),
  fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('latin1')),
);

describe('ByteCounts', () => {
  test('counts like a Map of the keys, through growth, rehashing and clear', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(keyArb, fc.integer({ min: 1, max: 9 })), { maxLength: 600 }), (stream) => {
        const t = new ByteCounts();
        const model = new Map<string, number>();
        for (const [key, n] of stream) {
          addKey(t, Buffer.from(key, 'latin1'), n);
          model.set(key, (model.get(key) ?? 0) + n);
        }
        expect(t.size).toBe(model.size);
        // The table's strings: the model's keys decoded the same way, equal strings added up.
        const expected = new Map<string, number>();
        for (const [k, v] of model) {
          const text = decodeKey(Buffer.from(k, 'latin1'), 0, Buffer.byteLength(k, 'latin1'));
          expected.set(text, (expected.get(text) ?? 0) + v);
        }
        expect(t.toMap()).toEqual(expected);
        t.clear();
        expect(t.size).toBe(0);
        expect(t.toMap()).toEqual(new Map());
        addKey(t, bytesOf('/again'), 2);
        expect(t.toMap()).toEqual(new Map([['/again', 2]]));
      }),
    );
  });

  test('10,000 distinct keys, then each once more: every count is 2', () => {
    const t = new ByteCounts();
    for (let round = 0; round < 2; round++) for (let i = 0; i < 10_000; i++) addKey(t, bytesOf(`host-${i}`), 1);
    expect(t.size).toBe(10_000);
    for (let e = 0; e < t.size; e++) expect(t.counts[e]).toBe(2);
    expect(t.key(9_999)).toBe('host-9999');
  });

  test('retain keeps the chosen keys with their counts, and they are still found', () => {
    const t = new ByteCounts();
    for (let i = 0; i < 100; i++) addKey(t, bytesOf(`k${i}`), i);
    t.retain((e) => t.counts[e]! % 10 === 0);
    expect(t.size).toBe(10);
    expect([...t.toMap()].map(([k]) => k)).toEqual(['k0', 'k10', 'k20', 'k30', 'k40', 'k50', 'k60', 'k70', 'k80', 'k90']);
    const size = t.size;
    addKey(t, bytesOf('k50'), 1);
    expect(t.size).toBe(size);
    expect(t.toMap().get('k50')).toBe(51);
    addKey(t, bytesOf('k51'), 1);
    expect(t.size).toBe(size + 1);
  });

  test('keys are compared by their bytes, not by their hash', () => {
    const t = new ByteCounts();
    // Same hash given on purpose: the table must still tell the keys apart.
    t.add(bytesOf('/a'), 0, 2, 42, 1);
    t.add(bytesOf('/b'), 0, 2, 42, 1);
    t.add(bytesOf('/a'), 0, 2, 42, 1);
    expect(t.toMap()).toEqual(new Map([['/a', 2], ['/b', 1]]));
  });

  test('byte keys that decode to the same string (invalid UTF-8) add up as one string', () => {
    const t = new ByteCounts();
    addKey(t, Uint8Array.of(0x68, 0xff), 1);
    addKey(t, Uint8Array.of(0x68, 0xfe), 2);
    expect(t.nonAscii).toBe(true);
    expect(t.toMap()).toEqual(new Map([['h\ufffd', 3]]));
  });
});

describe('packed segment keys', () => {
  test('pack and unpack give back every kind with its counts', () => {
    const maps = {
      sections: new Map([['/a', 3], ['/pages', 1]]),
      users: new Map([['james', 2]]),
      hosts: new Map([['10.0.0.1', 4], ['h\u00e9', 1]]),
      methods: new Map([['GET', 4]]),
      vhosts: new Map([['example.com', 4]]),
    };
    const keys = packMaps(maps);
    for (const kind of KEY_KINDS) expect(unpack(keys, kind)).toEqual(maps[kind]);
    expect(entriesOf(keys)).toEqual([
      [0, '/a', 3],
      [0, '/pages', 1],
      [1, 'james', 2],
      [2, '10.0.0.1', 4],
      [2, 'h\u00e9', 1],
      [3, 'GET', 4],
      [4, 'example.com', 4],
    ]);
  });

  test('no keys pack to the shared empty packing', () => {
    expect(pack(new PackBuffer(), new Uint8Array(0), KEY_KINDS.map(() => new KeyTally()))).toBe(NO_KEYS);
    for (const kind of KEY_KINDS) expect(unpack(NO_KEYS, kind).size).toBe(0);
  });

  test('a tally packs what it counted since the last pack, with each key\'s hash, into packings that do not overlap', () => {
    const c = chunkOf(['10.0.0.1', '10.0.0.2', '10.0.0.2', '99.9.9.9', '10.0.0.1']);
    const tallies = KEY_KINDS.map(() => new KeyTally());
    const hosts = tallies[2]!;
    const into = new PackBuffer();
    for (let n = 0; n < 5; n++) c.add(hosts, 0);
    c.add(hosts, 1);
    const first = pack(into, c.bytes, tallies);
    c.add(hosts, 2);
    c.add(hosts, 1);
    c.add(hosts, 3);
    const second = pack(into, c.bytes, tallies);
    expect(unpack(first, 'hosts')).toEqual(new Map([['10.0.0.1', 5], ['10.0.0.2', 1]]));
    expect(unpack(second, 'hosts')).toEqual(new Map([['10.0.0.2', 2], ['99.9.9.9', 1]]));
    for (const keys of [first, second]) {
      const hashes: number[] = [];
      eachKey(keys, (_kind, bytes, start, end) => hashes.push(fnv1a(bytes, start, end), stableHash(bytes, start, end) | 0));
      expect([...keys.hashes!]).toEqual(hashes);
    }
    expect(pack(into, c.bytes, tallies)).toBe(NO_KEYS);
  });

  test('reset forgets the chunk: the next chunk\'s keys, at the same places, are counted afresh', () => {
    const tallies = KEY_KINDS.map(() => new KeyTally());
    const into = new PackBuffer();
    const got = new Map<string, number>();
    const expected = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      // 3,000 keys a chunk (the table grows), a third of them repeated from the chunk before.
      const keys = Array.from({ length: 3000 }, (_, i) => `h${round * 2000 + i}`);
      const c = chunkOf(keys);
      for (let i = 0; i < keys.length; i++) {
        c.add(tallies[2]!, i);
        expected.set(keys[i]!, (expected.get(keys[i]!) ?? 0) + 1);
      }
      into.reuse();
      for (const [k, n] of unpack(pack(into, c.bytes, tallies), 'hosts')) got.set(k, (got.get(k) ?? 0) + n);
      for (const t of tallies) t.reset();
    }
    expect(got).toEqual(expected);
  });

  test('a tally tells apart keys of every length that differ in any one byte (word compares, overlapping tail)', () => {
    const keys: string[] = [];
    for (let len = 1; len <= 13; len++) {
      const base = 'abcdefghijklm'.slice(0, len);
      for (let at = 0; at < len; at++) keys.push(base, base.slice(0, at) + 'Z' + base.slice(at + 1), base);
    }
    const c = chunkOf(keys);
    const tallies = KEY_KINDS.map(() => new KeyTally());
    const expected = new Map<string, number>();
    keys.forEach((key, i) => {
      c.add(tallies[0]!, i);
      expected.set(key, (expected.get(key) ?? 0) + 1);
    });
    expect(unpack(pack(new PackBuffer(), c.bytes, tallies), 'sections')).toEqual(expected);
  });

  test('fixed keys are packed in their kind, after the tallied keys, and their counters zeroed', () => {
    const c = chunkOf(['/a', 'DELETE']);
    const tallies = KEY_KINDS.map(() => new KeyTally());
    c.add(tallies[0]!, 0);
    c.add(tallies[3]!, 1);
    const fixed = [fixedKey('methods', 'GET'), fixedKey('sections', '(no request)'), fixedKey('methods', 'POST')];
    const counts = Int32Array.of(4, 2, 0);
    const keys = pack(new PackBuffer(), c.bytes, tallies, fixed, counts);
    expect(entriesOf(keys)).toEqual([
      [0, '/a', 1],
      [0, '(no request)', 2],
      [3, 'DELETE', 1],
      [3, 'GET', 4],
    ]);
    expect([...counts]).toEqual([0, 0, 0]);
    expect([keys.hashes![2], keys.hashes![3]]).toEqual([fnv1a(Buffer.from('(no request)')), stableHash(Buffer.from('(no request)')) | 0]);
  });

  test('packings cut before the buffer grows keep their bytes; ownKeys is a copy that outlives reuse', () => {
    const into = new PackBuffer();
    const tallies = KEY_KINDS.map(() => new KeyTally());
    const small = chunkOf(['/kept']);
    small.add(tallies[0]!, 0);
    const first = pack(into, small.bytes, tallies);
    const owned = ownKeys(first);
    tallies[0]!.reset();
    // Far more than the buffer's first size, in the same round: it grows.
    const keys = Array.from({ length: 20_000 }, (_, i) => `/section-${i}`);
    const big = chunkOf(keys);
    keys.forEach((_, i) => big.add(tallies[0]!, i));
    const second = pack(into, big.bytes, tallies);
    expect(unpack(first, 'sections')).toEqual(new Map([['/kept', 1]]));
    expect(unpack(second, 'sections').size).toBe(20_000);
    into.reuse();
    tallies[0]!.reset();
    const other = chunkOf(['/other-key']);
    other.add(tallies[0]!, 0);
    pack(into, other.bytes, tallies);
    expect(unpack(owned, 'sections')).toEqual(new Map([['/kept', 1]]));
    expect(owned.hashes).toEqual(first.hashes!.slice());
  });

  test(`a key of MAX_KEY_BYTES (${MAX_KEY_BYTES}) bytes, as the scanner keeps a longer one, is shown with …`, () => {
    const kept = Buffer.from('/'.padEnd(MAX_KEY_BYTES, 'x'));
    expect(decodeKey(kept, 0, MAX_KEY_BYTES)).toBe(`${kept.toString('latin1')}…`);
    expect(decodeKey(kept, 0, MAX_KEY_BYTES - 1)).toBe(kept.toString('latin1', 0, MAX_KEY_BYTES - 1));
  });

  test('keys crafted to share one slot under the standard FNV-1a seed do not share one under this process\'s seed, nor under 2,000 other random seeds', () => {
    const fnvFrom = (seed: number, key: Uint8Array) => {
      let h = seed;
      for (const b of key) h = Math.imul(h ^ b, FNV_PRIME);
      return h | 0;
    };
    const STANDARD = 0x811c9dc5;
    const mask = 4095;
    const crafted: Uint8Array[] = [];
    for (let i = 0; crafted.length < 200; i++) {
      const key = Buffer.from(`10.${(i >>> 8) & 255}.${i & 255}.${i >>> 16}`);
      if (slotOf(fnvFrom(STANDARD, key), mask) === 0) crafted.push(key);
    }
    const slotsUnder = (hash: (key: Uint8Array) => number) => new Set(crafted.map((k) => slotOf(hash(k), mask))).size;
    expect(slotsUnder((k) => fnvFrom(STANDARD, k))).toBe(1);
    // 200 keys thrown at random into 4,096 slots fill about 195; 182 was the fewest under 300,000 seeds.
    expect(slotsUnder((k) => fnv1a(k))).toBeGreaterThan(150);
    const seeds = crypto.getRandomValues(new Int32Array(2000));
    const fewest = Math.min(...Array.from(seeds, (seed) => slotsUnder((k) => fnvFrom(seed, k))));
    expect(fewest).toBeGreaterThan(150);
  });

});
