/**
 * Keys counted by their bytes. The scanner counts hosts, users, methods and sections without
 * making a string or an object per key: a key is a slice of the chunk it scans, found by its
 * FNV-1a hash in an open-addressing table. Strings are made only for the keys a report shows, so
 * a log in which every line brings a new host costs copies of bytes, not millions of strings.
 *
 * - `KeyTally`: the scanner's count of one kind of key in the chunk it scans.
 * - `KeyCounts`: a segment's keys, packed by `pack` into one byte array and one int array, with
 *   two hashes a key (the scanner's: the tables' hash made while it scans the key, and the
 *   stable one made when its tally first meets the key in a chunk).
 * - `ByteCounts`: the aggregator's table (under lib/space-saving.ts).
 */

/**
 * FNV-1a: h = imul(h ^ byte, FNV_PRIME) for each byte of a key, from FNV_SEED. The seed (the
 * offset basis) is drawn at random for each process: with the standard one, anybody can compute
 * keys that all fall into one slot of the tables, and 4,000 such hosts made a replay 14× slower.
 * This is not a keyed hash in the cryptographic sense; it takes away the precomputed attack.
 */
export const FNV_SEED = crypto.getRandomValues(new Int32Array(1))[0]!;
export const FNV_PRIME = 0x01000193;

export function fnv1a(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let h = FNV_SEED;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h | 0;
}

/**
 * The slot of an FNV-1a hash in a table of mask + 1 slots: its halves folded, multiplied and folded
 * again. FNV-1a's low bits depend only on the low bits of its seed and its bytes, so a slot taken
 * from them alone left keys crafted against the standard seed crowded under about one random seed
 * in 70 (200 such keys in 61 of 4,096 slots at worst); mixed, in 182 or more under 300,000 seeds.
 */
export function slotOf(hash: number, mask: number): number {
  const m = Math.imul(hash ^ (hash >>> 16), 0x9e3779b1);
  return (m ^ (m >>> 16)) & mask;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * The stable hash of a key: MurmurHash3_x86_32 with seed 0 of bytes[start..end), unsigned. The
 * same in every process, so that what is drawn from it (a unique count, which keys the top
 * tables' sketch confuses) is the same on every run; the tables' FNV-1a has a random seed
 * instead. The scanner's tally makes it once a key a chunk, when it first meets the key.
 */
export function stableHash(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return stableHashOf(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), start, end);
}

/** `stableHash` of view[start..end): a little-endian word a load, as MurmurHash3 reads them. */
export function stableHashOf(view: DataView, start: number, end: number): number {
  let h = 0;
  let i = start;
  for (const blocksEnd = start + ((end - start) & ~3); i < blocksEnd; i += 4) {
    let k = view.getInt32(i, true);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (end - i) {
    case 3:
      k ^= view.getUint8(i + 2) << 16;
    // falls through
    case 2:
      k ^= view.getUint8(i + 1) << 8;
    // falls through
    case 1:
      k ^= view.getUint8(i);
      k = Math.imul(k, C1);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, C2);
  }
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What a segment counts by key, in the order of `KeyCounts` kinds. */
export const KEY_KINDS = ['sections', 'users', 'hosts', 'methods', 'vhosts'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/**
 * A segment's keys and their counts, packed: two arrays, whatever the number of keys.
 * `entries` starts with the number of keys of each kind (in `KEY_KINDS` order), then holds two
 * ints a key, kind by kind: where its bytes end in `bytes` (each key starts where the one before
 * it ends) and its count. A key may appear more than once; its counts add up.
 */
export interface KeyCounts {
  bytes: Uint8Array;
  entries: Int32Array;
  /**
   * Two hashes a key, in entry order, when the packer had them (the scanner's packings): its
   * FNV-1a with this process's FNV_SEED, then its `stableHash`. A decoded packing has none, and
   * its keys are hashed where they are added.
   */
  hashes?: Int32Array;
}

export const NO_KEYS: KeyCounts = { bytes: new Uint8Array(0), entries: new Int32Array(KEY_KINDS.length) };

/** Calls `visit` for each key of a packing, kind by kind. */
export function eachKey(
  keys: KeyCounts,
  visit: (kind: number, bytes: Uint8Array, start: number, end: number, count: number) => void,
) {
  const { bytes, entries } = keys;
  let i: number = KEY_KINDS.length;
  let start = 0;
  for (let kind = 0; kind < KEY_KINDS.length; kind++) {
    for (let n = entries[kind]!; n > 0; n--, i += 2) {
      const end = entries[i]!;
      visit(kind, bytes, start, end, entries[i + 1]!);
      start = end;
    }
  }
}

/**
 * The scanner keeps a key to its first MAX_KEY_BYTES bytes, so that a hostile log (64 KiB paths,
 * all different) cannot make the tables hold gigabytes; a key that long is shown with `…` after
 * it, and keys that share those bytes are counted together.
 */
export const MAX_KEY_BYTES = 256;

/**
 * ASCII keys decode byte for byte; others as UTF-8, invalid sequences as U+FFFD (never throws).
 * A key of MAX_KEY_BYTES bytes ends in `…`.
 */
export function decodeKey(bytes: Uint8Array, start: number, end: number): string {
  let high = 0;
  for (let i = start; i < end; i++) high |= bytes[i]!;
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString(high > 127 ? 'utf8' : 'latin1', start, end);
  return end - start >= MAX_KEY_BYTES ? `${text}…` : text;
}

/**
 * A hash table from byte keys to counts. Entries are numbered in insertion order; their bytes
 * live back to back in one slab. `clear` and `retain` keep the arrays for reuse.
 */
export class ByteCounts {
  // Open addressing: a slot holds an entry + 1 (0 is empty) and that entry's hash, so that a
  // probe reads one cache line before it looks at any bytes.
  private slotEntries = new Int32Array(64);
  private slotHashes = new Int32Array(64);
  private slab = new Uint8Array(1024);
  private used = 0;
  private starts = new Int32Array(32);
  private ends = new Int32Array(32);
  private hashes = new Int32Array(32);
  private stables = new Int32Array(32);
  private entrySlot = new Int32Array(32);
  counts = new Float64Array(32);
  size = 0;
  /** Some key has a byte over 127 (its string may then equal another key's: see `toMap`). */
  nonAscii = false;

  /** Adds n to the key bytes[start..end), whose FNV-1a hash is `hash`; returns its entry. */
  add(bytes: Uint8Array, start: number, end: number, hash: number, n: number): number {
    const e = this.find(bytes, start, end, hash);
    if (e >= 0) {
      this.counts[e]! += n;
      return e;
    }
    return this.insert(bytes, start, end, hash, stableHash(bytes, start, end), n, ~e);
  }

  /** The entry of the key bytes[start..end) (FNV-1a hash `hash`), or ~slot, where `insert` puts it. */
  find(bytes: Uint8Array, start: number, end: number, hash: number): number {
    hash |= 0; // as the table stores it
    const entries = this.slotEntries;
    const hashes = this.slotHashes;
    const mask = entries.length - 1;
    let slot = slotOf(hash, mask);
    for (let e1 = entries[slot]!; e1 !== 0; e1 = entries[slot]!) {
      if (hashes[slot] === hash) {
        const e = e1 - 1;
        const s = this.starts[e]!;
        const len = end - start;
        if (this.ends[e]! - s === len) {
          const slab = this.slab;
          let i = 0;
          while (i < len && slab[s + i] === bytes[start + i]) i++;
          if (i === len) return e;
        }
      }
      slot = (slot + 1) & mask;
    }
    return ~slot;
  }

  /** The stable hash an entry's key was added with. */
  stableOf(entry: number): number {
    return this.stables[entry]!;
  }

  /** Adds n to a key given as a string (fixed keys, tests). */
  addString(key: string, n: number): number {
    const bytes = Buffer.from(key, 'utf8');
    return this.add(bytes, 0, bytes.length, fnv1a(bytes), n);
  }

  /** Adds a key `find` did not find, at the slot it gave, with count n; returns its entry. */
  insert(bytes: Uint8Array, start: number, end: number, hash: number, stable: number, n: number, slot: number): number {
    hash |= 0;
    const e = this.size++;
    if (e === this.starts.length) this.growEntries();
    const len = end - start;
    if (this.used + len > this.slab.length) {
      const bigger = new Uint8Array(Math.max(this.slab.length * 2, this.used + len));
      bigger.set(this.slab.subarray(0, this.used));
      this.slab = bigger;
    }
    const slab = this.slab;
    const at = this.used;
    let high = 0;
    for (let i = 0; i < len; i++) high |= slab[at + i] = bytes[start + i]!;
    if (high > 127) this.nonAscii = true;
    this.used += len;
    this.starts[e] = at;
    this.ends[e] = at + len;
    this.hashes[e] = hash;
    this.stables[e] = stable;
    this.counts[e] = n;
    this.slotEntries[slot] = e + 1;
    this.slotHashes[slot] = hash;
    this.entrySlot[e] = slot;
    if (this.size * 2 > this.slotEntries.length) this.rehash(this.slotEntries.length * 2);
    return e;
  }

  private growEntries() {
    this.starts = grown(this.starts);
    this.ends = grown(this.ends);
    this.hashes = grown(this.hashes);
    this.stables = grown(this.stables);
    this.entrySlot = grown(this.entrySlot);
    this.counts = grown(this.counts);
  }

  private rehash(slotCount: number) {
    if (slotCount !== this.slotEntries.length) {
      this.slotEntries = new Int32Array(slotCount);
      this.slotHashes = new Int32Array(slotCount);
    } else this.slotEntries.fill(0);
    const entries = this.slotEntries;
    const mask = slotCount - 1;
    for (let e = 0; e < this.size; e++) {
      const h = this.hashes[e]!;
      let slot = slotOf(h, mask);
      while (entries[slot] !== 0) slot = (slot + 1) & mask;
      entries[slot] = e + 1;
      this.slotHashes[slot] = h;
      this.entrySlot[e] = slot;
    }
  }

  clear() {
    if (this.size * 8 < this.slotEntries.length) for (let e = 0; e < this.size; e++) this.slotEntries[this.entrySlot[e]!] = 0;
    else this.slotEntries.fill(0);
    this.size = 0;
    this.used = 0;
    this.nonAscii = false;
  }

  /** Keeps only the entries for which `keep(entry)` holds, renumbered in their order. */
  retain(keep: (entry: number) => boolean) {
    let to = 0;
    let at = 0;
    let nonAscii = false;
    for (let e = 0; e < this.size; e++) {
      if (!keep(e)) continue;
      const s = this.starts[e]!;
      const len = this.ends[e]! - s;
      this.slab.copyWithin(at, s, s + len);
      for (let i = at; i < at + len; i++) if (this.slab[i]! > 127) nonAscii = true;
      this.starts[to] = at;
      this.ends[to] = at + len;
      this.hashes[to] = this.hashes[e]!;
      this.stables[to] = this.stables[e]!;
      this.counts[to] = this.counts[e]!;
      at += len;
      to++;
    }
    this.size = to;
    this.used = at;
    this.nonAscii = nonAscii;
    this.rehash(this.slotEntries.length);
  }

  key(entry: number): string {
    return decodeKey(this.slab, this.starts[entry]!, this.ends[entry]!);
  }

  /** Byte order of two entries' keys (the string order, for ASCII keys). */
  compareKeys(a: number, b: number): number {
    const slab = this.slab;
    const as = this.starts[a]!;
    const bs = this.starts[b]!;
    const al = this.ends[a]! - as;
    const bl = this.ends[b]! - bs;
    const n = Math.min(al, bl);
    for (let i = 0; i < n; i++) {
      const d = slab[as + i]! - slab[bs + i]!;
      if (d !== 0) return d;
    }
    return al - bl;
  }

  /** Every key as a string with its count; keys whose bytes decode to the same string add up. */
  toMap(): Map<string, number> {
    const out = new Map<string, number>();
    for (let e = 0; e < this.size; e++) {
      const k = this.key(e);
      out.set(k, (out.get(k) ?? 0) + this.counts[e]!);
    }
    return out;
  }
}

/**
 * The scanner's count of one kind of key in the chunk it is scanning: counts by slot of an
 * open-addressing table (no entry indirection: this is the hottest lookup of the program). A key
 * is not copied here: a slot points at its bytes in the chunk, and `pack` copies each key once,
 * into the segment. So the table must be `reset` before the chunk's buffer is reused.
 */
export class KeyTally {
  private mask = 63;
  /**
   * Four ints a slot, side by side so that a probe or an insert touches one cache line: the key's
   * length + 1 (0: empty), its FNV-1a hash, where it starts in the chunk, and its count since the
   * last pack.
   */
  private cells = new Int32Array(64 * CELL);
  /** `stableHash` a slot (read only when packing). */
  private stables = new Int32Array(64);
  private size = 0;
  /** Slots counted since the last pack, in first-seen order. */
  private touched = new Int32Array(64);
  private touchedCount = 0;
  private touchedBytes = 0;
  /** Every slot in use, to empty them by `reset`. */
  private filled = new Int32Array(32);

  /**
   * Counts one occurrence of the key at view[start..end) (a DataView of the chunk), whose FNV-1a
   * hash is `hash`; its stable hash is made here, the first time.
   */
  add(view: DataView, start: number, end: number, hash: number): void {
    const len = end - start;
    const cells = this.cells;
    const mask = this.mask;
    let slot = slotOf(hash, mask);
    for (let c = slot * CELL, l = cells[c]!; l !== 0; c = slot * CELL, l = cells[c]!) {
      if (l === len + 1 && cells[c + 1] === hash && sameBytes(view, cells[c + 2]!, start, len)) {
        if (cells[c + 3]!++ === 0) this.touch(slot, len);
        return;
      }
      slot = (slot + 1) & mask;
    }
    this.insert(view, start, end, hash, slot);
  }

  /** A key the chunk has not shown before, at the empty slot `add` found (apart: `add` stays small). */
  private insert(view: DataView, start: number, end: number, hash: number, slot: number): void {
    const len = end - start;
    const c = slot * CELL;
    const cells = this.cells;
    cells[c] = len + 1;
    cells[c + 1] = hash;
    cells[c + 2] = start;
    cells[c + 3] = 1;
    this.stables[slot] = stableHashOf(view, start, end);
    this.touch(slot, len);
    if (this.size === this.filled.length) this.filled = grown(this.filled);
    this.filled[this.size] = slot;
    if (++this.size * 2 > this.stables.length) this.grow();
  }

  private touch(slot: number, len: number) {
    if (this.touchedCount === this.touched.length) this.touched = grown(this.touched);
    this.touched[this.touchedCount++] = slot;
    this.touchedBytes += len;
  }

  /** Doubles the table (a chunk with more keys than it holds); touched and filled slots move with it. */
  private grow(): void {
    const { cells, stables } = this;
    const slots = stables.length * 2;
    const mask = slots - 1;
    this.cells = new Int32Array(slots * CELL);
    this.stables = new Int32Array(slots);
    this.mask = mask;
    const moved = new Int32Array(stables.length);
    for (let old = 0; old < stables.length; old++) {
      const o = old * CELL;
      if (cells[o] === 0) continue;
      let to = slotOf(cells[o + 1]!, mask);
      while (this.cells[to * CELL] !== 0) to = (to + 1) & mask;
      this.cells.set(cells.subarray(o, o + CELL), to * CELL);
      this.stables[to] = stables[old]!;
      moved[old] = to;
    }
    for (let t = 0; t < this.touchedCount; t++) this.touched[t] = moved[this.touched[t]!]!;
    for (let f = 0; f < this.size; f++) this.filled[f] = moved[this.filled[f]!]!;
  }

  /** Keys counted since the last pack, and their bytes. */
  get packKeys(): number {
    return this.touchedCount;
  }

  get packBytes(): number {
    return this.touchedBytes;
  }

  /**
   * Writes the keys counted since the last call (their bytes from `chunk`) into a packing (see
   * `pack`) and zeroes them; returns where the entries end.
   */
  packInto(chunk: Uint8Array, out: Uint8Array, at: number, entries: Int32Array, hashes: Int32Array, index: number): number {
    const { cells, stables, touched } = this;
    for (let t = 0; t < this.touchedCount; t++) {
      const slot = touched[t]!;
      const c = slot * CELL;
      const s = cells[c + 2]!;
      const end = s + cells[c]! - 1;
      for (let i = s; i < end; i++) out[at++] = chunk[i]!;
      const h = index - KEY_KINDS.length;
      hashes[h] = cells[c + 1]!;
      hashes[h + 1] = stables[slot]!;
      entries[index++] = at;
      entries[index++] = cells[c + 3]!;
      cells[c + 3] = 0;
    }
    this.touchedCount = 0;
    this.touchedBytes = 0;
    return index;
  }

  /** Forgets every key: the chunk they are in is done with. Call after the last pack of a chunk. */
  reset(): void {
    if (this.size * 8 < this.stables.length) for (let f = 0; f < this.size; f++) this.cells[this.filled[f]! * CELL] = 0;
    else this.cells.fill(0);
    this.size = 0;
    this.touchedCount = 0;
    this.touchedBytes = 0;
  }
}

/** Ints a KeyTally slot takes. */
const CELL = 4;

/** Whether view[a..a+len) and view[b..b+len) hold the same bytes: four at a time, the last word overlapping. */
function sameBytes(view: DataView, a: number, b: number, len: number): boolean {
  if (len < 4) {
    for (let i = 0; i < len; i++) if (view.getUint8(a + i) !== view.getUint8(b + i)) return false;
    return true;
  }
  for (let i = 0; i < len - 4; i += 4) if (view.getInt32(a + i, true) !== view.getInt32(b + i, true)) return false;
  return view.getInt32(a + len - 4, true) === view.getInt32(b + len - 4, true);
}

/** A typed array twice as long as `a`, starting with its values. */
function grown<T extends Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/**
 * A key counted in a plain counter rather than a tally: one that is not bytes of the line
 * (`(no request)`, `(not a path)`), or a common method, counted cheaper so.
 */
export interface FixedKey {
  /** Index in KEY_KINDS. */
  kind: number;
  bytes: Uint8Array;
  hash: number;
  stable: number;
}

export function fixedKey(kind: KeyKind, key: string): FixedKey {
  const bytes = new TextEncoder().encode(key);
  return { kind: KEY_KINDS.indexOf(kind), bytes, hash: fnv1a(bytes), stable: stableHash(bytes) };
}

/**
 * Where a scanner packs its segments' keys: one buffer of bytes and one of ints, reused. A
 * replay makes a segment per second of log, and allocating its typed arrays one by one made
 * fresh pages to fault in for each (about a tenth of a replay's time on traffic with many
 * clients). So a packing cut from here is borrowed: it is valid until `reuse`, which the scanner
 * calls when it starts its next chunk; whoever keeps a segment longer keeps `ownKeys` of it.
 */
export class PackBuffer {
  private bytes = new Uint8Array(1 << 16);
  private byteAt = 0;
  private ints = new Int32Array(1 << 14);
  private intAt = 0;

  /** Starts over: every packing cut since the last call may be overwritten from here on. */
  reuse() {
    this.byteAt = 0;
    this.intAt = 0;
  }

  takeBytes(n: number): Uint8Array {
    // A fuller chunk than before: a bigger buffer; the packings already cut keep the old one.
    if (this.byteAt + n > this.bytes.length) {
      this.bytes = new Uint8Array(Math.max(this.bytes.length * 2, n));
      this.byteAt = 0;
    }
    return this.bytes.subarray(this.byteAt, (this.byteAt += n));
  }

  takeInts(n: number): Int32Array {
    if (this.intAt + n > this.ints.length) {
      this.ints = new Int32Array(Math.max(this.ints.length * 2, n));
      this.intAt = 0;
    }
    return this.ints.subarray(this.intAt, (this.intAt += n));
  }
}

/** A copy of a packing that owns its arrays (for a segment kept past its delivery). */
export function ownKeys(keys: KeyCounts): KeyCounts {
  if (keys === NO_KEYS) return keys;
  return { bytes: keys.bytes.slice(), entries: keys.entries.slice(), ...(keys.hashes && { hashes: keys.hashes.slice() }) };
}

/**
 * Packs one tally per kind (in `KEY_KINDS` order, their keys in `chunk`) and the fixed keys
 * counted in `fixedCounts` (zeroed) into a segment's `KeyCounts`, with the keys' hashes.
 */
export function pack(
  into: PackBuffer,
  chunk: Uint8Array,
  tallies: readonly KeyTally[],
  fixed: readonly FixedKey[] = [],
  fixedCounts?: Int32Array,
): KeyCounts {
  let keys = 0;
  let size = 0;
  for (const t of tallies) {
    keys += t.packKeys;
    size += t.packBytes;
  }
  for (let f = 0; f < fixed.length; f++) {
    if (fixedCounts![f] === 0) continue;
    keys++;
    size += fixed[f]!.bytes.length;
  }
  if (keys === 0) return NO_KEYS;
  const bytes = into.takeBytes(size);
  const ints = into.takeInts(KEY_KINDS.length + keys * 4);
  const entries = ints.subarray(0, KEY_KINDS.length + keys * 2);
  const hashes = ints.subarray(KEY_KINDS.length + keys * 2);
  let index: number = KEY_KINDS.length;
  let at = 0;
  for (let kind = 0; kind < KEY_KINDS.length; kind++) {
    const from = index;
    const t = tallies[kind];
    if (t) {
      const tallied = t.packBytes;
      index = t.packInto(chunk, bytes, at, entries, hashes, index);
      at += tallied;
    }
    for (let f = 0; f < fixed.length; f++) {
      const key = fixed[f]!;
      const n = fixedCounts![f]!;
      if (key.kind !== kind || n === 0) continue;
      bytes.set(key.bytes, at);
      at += key.bytes.length;
      hashes[index - KEY_KINDS.length] = key.hash;
      hashes[index - KEY_KINDS.length + 1] = key.stable;
      entries[index++] = at;
      entries[index++] = n;
      fixedCounts![f] = 0;
    }
    entries[kind] = (index - from) >> 1;
  }
  return { bytes, entries, hashes };
}

/** The keys of one kind as strings with their counts (tests, and anything that wants a Map). */
export function unpack(keys: KeyCounts, kind: KeyKind): Map<string, number> {
  const wanted = KEY_KINDS.indexOf(kind);
  const out = new Map<string, number>();
  eachKey(keys, (k, bytes, start, end, count) => {
    if (k !== wanted) return;
    const key = decodeKey(bytes, start, end);
    out.set(key, (out.get(key) ?? 0) + count);
  });
  return out;
}

/** Packs string counts, one Map per kind (tests, and segments built by hand); without hashes, as a decoded one. */
export function packMaps(maps: Partial<Record<KeyKind, Map<string, number>>>): KeyCounts {
  const parts: Uint8Array[] = [];
  const entries: number[] = KEY_KINDS.map((kind) => maps[kind]?.size ?? 0);
  let at = 0;
  for (const kind of KEY_KINDS) {
    for (const [key, n] of maps[kind] ?? []) {
      const bytes = Buffer.from(key, 'utf8');
      parts.push(bytes);
      at += bytes.length;
      entries.push(at, n);
    }
  }
  if (entries.length === KEY_KINDS.length) return NO_KEYS;
  return { bytes: new Uint8Array(Buffer.concat(parts)), entries: Int32Array.from(entries) };
}
