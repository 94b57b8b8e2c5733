/**
 * Keys counted by their bytes. The scanner counts hosts, users, methods and sections without
 * making a string or an object per key: a key is a slice of a byte slab, found by its FNV-1a
 * hash in an open-addressing table. Strings are made only for the keys a report shows, so a log
 * in which every line brings a new host costs copies of bytes, not millions of strings.
 *
 * - `KeyTally`: the scanner's count of one kind of key in the segment in progress.
 * - `KeyCounts`: a segment's keys, packed by `pack` into one byte array and one int array.
 * - `ByteCounts`: the aggregator's table (under lib/space-saving.ts), which adds segments' keys
 *   by their bytes again (re-hashing a few bytes is cheaper than carrying the hashes).
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

/** What a segment counts by key, in the order of `KeyCounts` kinds. */
export const KEY_KINDS = ['sections', 'users', 'hosts', 'methods'] as const;
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
  private slotOf = new Int32Array(32);
  counts = new Float64Array(32);
  size = 0;
  /** Some key has a byte over 127 (its string may then equal another key's: see `toMap`). */
  nonAscii = false;

  /** Adds n to the key bytes[start..end), whose FNV-1a hash is `hash`; returns its entry. */
  add(bytes: Uint8Array, start: number, end: number, hash: number, n: number): number {
    hash |= 0; // as the table stores it
    const entries = this.slotEntries;
    const hashes = this.slotHashes;
    const mask = entries.length - 1;
    let slot = (hash ^ (hash >>> 15)) & mask;
    for (let e1 = entries[slot]!; e1 !== 0; e1 = entries[slot]!) {
      if (hashes[slot] === hash) {
        const e = e1 - 1;
        const s = this.starts[e]!;
        const len = end - start;
        if (this.ends[e]! - s === len) {
          const slab = this.slab;
          let i = 0;
          while (i < len && slab[s + i] === bytes[start + i]) i++;
          if (i === len) {
            this.counts[e]! += n;
            return e;
          }
        }
      }
      slot = (slot + 1) & mask;
    }
    return this.insert(bytes, start, end, hash, n, slot);
  }

  /** Adds n to a key given as a string (fixed keys, tests). */
  addString(key: string, n: number): number {
    const bytes = Buffer.from(key, 'utf8');
    return this.add(bytes, 0, bytes.length, fnv1a(bytes), n);
  }

  private insert(bytes: Uint8Array, start: number, end: number, hash: number, n: number, slot: number): number {
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
    this.counts[e] = n;
    this.slotEntries[slot] = e + 1;
    this.slotHashes[slot] = hash;
    this.slotOf[e] = slot;
    if (this.size * 2 > this.slotEntries.length) this.rehash(this.slotEntries.length * 2);
    return e;
  }

  private growEntries() {
    const cap = this.starts.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.starts = grow(this.starts);
    this.ends = grow(this.ends);
    this.hashes = grow(this.hashes);
    this.slotOf = grow(this.slotOf);
    this.counts = grow(this.counts);
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
      let slot = (h ^ (h >>> 15)) & mask;
      while (entries[slot] !== 0) slot = (slot + 1) & mask;
      entries[slot] = e + 1;
      this.slotHashes[slot] = h;
      this.slotOf[e] = slot;
    }
  }

  clear() {
    if (this.size * 8 < this.slotEntries.length) for (let e = 0; e < this.size; e++) this.slotEntries[this.slotOf[e]!] = 0;
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

/** Keys a tally holds before it starts over (it is emptied after a pack). */
export const TALLY_MAX_KEYS = 4096;

/**
 * The scanner's count of one kind of key in the segment in progress: counts by slot of an
 * open-addressing table (no entry indirection: this is the hottest lookup of the program), for
 * the keys `pack` has not taken yet. The table outlives segments, so a key seen before is found
 * rather than copied again, until it holds more than TALLY_MAX_KEYS keys.
 */
export class KeyTally {
  private mask = 63;
  private hashes = new Int32Array(64);
  private starts = new Int32Array(64);
  /** Key length + 1 a slot; 0 is empty. */
  private lens = new Int32Array(64);
  /** Count since the last pack, a slot. */
  private counts = new Int32Array(64);
  private slab = new Uint8Array(1 << 12);
  private slabView = new DataView(this.slab.buffer);
  private used = 0;
  private size = 0;
  /** Slots counted since the last pack, in first-seen order. */
  private touched = new Int32Array(64);
  private touchedCount = 0;
  private touchedBytes = 0;

  /**
   * Counts one occurrence of the key bytes[start..end) (`view`: a DataView of the same bytes),
   * whose FNV-1a hash is `hash`; returns its slot.
   */
  add(bytes: Uint8Array, view: DataView, start: number, end: number, hash: number): number {
    const len = end - start;
    const lens = this.lens;
    const mask = this.mask;
    let slot = (hash ^ (hash >>> 15)) & mask;
    for (let l = lens[slot]!; l !== 0; l = lens[slot]!) {
      if (l === len + 1) {
        const s = this.starts[slot]!;
        let same = true;
        if (len >= 4) {
          const sv = this.slabView;
          // Four bytes at a time, the last word overlapping the one before it.
          for (let i = 0; i < len - 4; i += 4) {
            if (sv.getInt32(s + i, true) !== view.getInt32(start + i, true)) {
              same = false;
              break;
            }
          }
          same &&= sv.getInt32(s + len - 4, true) === view.getInt32(end - 4, true);
        } else {
          const slab = this.slab;
          for (let i = 0; i < len; i++) if (slab[s + i] !== bytes[start + i]) same = false;
        }
        if (same) {
          if (this.counts[slot]!++ === 0) this.touch(slot, len);
          return slot;
        }
      }
      slot = (slot + 1) & mask;
    }
    if (this.used + len > this.slab.length) {
      const bigger = new Uint8Array(Math.max(this.slab.length * 2, this.used + len));
      bigger.set(this.slab.subarray(0, this.used));
      this.slab = bigger;
      this.slabView = new DataView(bigger.buffer);
    }
    const slab = this.slab;
    const at = this.used;
    for (let i = 0; i < len; i++) slab[at + i] = bytes[start + i]!;
    this.used += len;
    this.hashes[slot] = hash;
    this.starts[slot] = at;
    lens[slot] = len + 1;
    this.counts[slot] = 1;
    this.touch(slot, len);
    return ++this.size * 2 > lens.length ? this.grow(slot) : slot;
  }

  /** Counts n ≥ 1 occurrences of a key (see `add`). */
  addCount(bytes: Uint8Array, view: DataView, start: number, end: number, hash: number, n: number): void {
    this.counts[this.add(bytes, view, start, end, hash)]! += n - 1;
  }

  addString(key: string, n: number): void {
    const bytes = Buffer.from(key, 'utf8');
    this.addCount(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, fnv1a(bytes), n);
  }

  private touch(slot: number, len: number) {
    if (this.touchedCount === this.touched.length) {
      const bigger = new Int32Array(this.touched.length * 2);
      bigger.set(this.touched);
      this.touched = bigger;
    }
    this.touched[this.touchedCount++] = slot;
    this.touchedBytes += len;
  }

  /** Doubles the table (a segment with more keys than it holds); touched slots move with it. Returns where `slot` went. */
  private grow(slot: number): number {
    const { hashes, starts, lens, counts } = this;
    const slots = lens.length * 2;
    const mask = slots - 1;
    this.hashes = new Int32Array(slots);
    this.starts = new Int32Array(slots);
    this.lens = new Int32Array(slots);
    this.counts = new Int32Array(slots);
    this.mask = mask;
    const moved = new Int32Array(lens.length);
    for (let old = 0; old < lens.length; old++) {
      if (lens[old] === 0) continue;
      const h = hashes[old]!;
      let to = (h ^ (h >>> 15)) & mask;
      while (this.lens[to] !== 0) to = (to + 1) & mask;
      this.hashes[to] = h;
      this.starts[to] = starts[old]!;
      this.lens[to] = lens[old]!;
      this.counts[to] = counts[old]!;
      moved[old] = to;
    }
    for (let t = 0; t < this.touchedCount; t++) this.touched[t] = moved[this.touched[t]!]!;
    return moved[slot]!;
  }

  /** Keys counted since the last pack, and their bytes. */
  get packKeys(): number {
    return this.touchedCount;
  }

  get packBytes(): number {
    return this.touchedBytes;
  }

  /** Writes the keys counted since the last call into a packing (see `pack`) and zeroes them. */
  packInto(bytes: Uint8Array, at: number, entries: Int32Array, index: number): number {
    const { slab, starts, lens, counts, touched } = this;
    for (let t = 0; t < this.touchedCount; t++) {
      const slot = touched[t]!;
      const s = starts[slot]!;
      const end = s + lens[slot]! - 1;
      for (let i = s; i < end; i++) bytes[at++] = slab[i]!;
      entries[index++] = at;
      entries[index++] = counts[slot]!;
      counts[slot] = 0;
    }
    this.touchedCount = 0;
    this.touchedBytes = 0;
    if (this.size > TALLY_MAX_KEYS) {
      this.lens.fill(0);
      this.size = 0;
      this.used = 0;
    }
    return index;
  }
}

/** Packs one tally per kind (in `KEY_KINDS` order) into a segment's `KeyCounts`. */
export function pack(tallies: readonly KeyTally[]): KeyCounts {
  let keys = 0;
  let size = 0;
  for (const t of tallies) {
    keys += t.packKeys;
    size += t.packBytes;
  }
  if (keys === 0) return NO_KEYS;
  const bytes = new Uint8Array(size);
  const entries = new Int32Array(KEY_KINDS.length + keys * 2);
  let index: number = KEY_KINDS.length;
  let at = 0;
  for (let kind = 0; kind < tallies.length; kind++) {
    const t = tallies[kind]!;
    const size = t.packBytes;
    entries[kind] = t.packKeys;
    index = t.packInto(bytes, at, entries, index);
    at += size;
  }
  return { bytes, entries };
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

/** Packs string counts, one Map per kind (tests, and segments built by hand). */
export function packMaps(maps: Partial<Record<KeyKind, Map<string, number>>>): KeyCounts {
  return pack(
    KEY_KINDS.map((kind) => {
      const t = new KeyTally();
      for (const [key, n] of maps[kind] ?? []) t.addString(key, n);
      return t;
    }),
  );
}
