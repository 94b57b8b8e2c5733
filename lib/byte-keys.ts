/**
 * Keys counted by their bytes. The scanner counts hosts, users, methods and sections without
 * making a string or an object per key: a key is a slice of a byte slab, found by its FNV-1a
 * hash in an open-addressing table. Strings are made only for the keys a report shows, so a log
 * in which every line brings a new host costs copies of bytes, not millions of strings.
 *
 * A segment carries its keys packed (`KeyCounts`: one byte array and one int array), and the
 * aggregator adds them into its bounded tables by their bytes again (re-hashing a few bytes is
 * cheaper than carrying the hashes).
 */

/** FNV-1a: h = imul(h ^ byte, FNV_PRIME) for each byte of a key, from FNV_SEED. */
export const FNV_SEED = 0x811c9dc5;
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

/** ASCII keys decode byte for byte; others as UTF-8, invalid sequences as U+FFFD (never throws). */
export function decodeKey(bytes: Uint8Array, start: number, end: number): string {
  let high = 0;
  for (let i = start; i < end; i++) high |= bytes[i]!;
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.toString(high > 127 ? 'utf8' : 'latin1', start, end);
}

/**
 * A hash table from byte keys to counts. Entries are numbered in insertion order; their bytes
 * live back to back in one slab. `clear` and `retain` keep the arrays for reuse.
 */
export class ByteCounts {
  private slots = new Int32Array(64); // entry + 1; 0 is empty
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
    const len = end - start;
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = (hash ^ (hash >>> 15)) & mask;
    for (let e = slots[slot]! - 1; e >= 0; e = slots[slot]! - 1) {
      if (this.hashes[e] === hash) {
        const s = this.starts[e]!;
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
    this.slots[slot] = e + 1;
    this.slotOf[e] = slot;
    if (this.size * 2 > this.slots.length) this.rehash(this.slots.length * 2);
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
    if (slotCount !== this.slots.length) this.slots = new Int32Array(slotCount);
    else this.slots.fill(0);
    const slots = this.slots;
    const mask = slotCount - 1;
    for (let e = 0; e < this.size; e++) {
      const h = this.hashes[e]!;
      let slot = (h ^ (h >>> 15)) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = e + 1;
      this.slotOf[e] = slot;
    }
  }

  clear() {
    if (this.size * 8 < this.slots.length) for (let e = 0; e < this.size; e++) this.slots[this.slotOf[e]!] = 0;
    else this.slots.fill(0);
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
    this.rehash(this.slots.length);
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

  /** Appends this table's keys to a packing in progress (see `pack`); returns the next index. */
  packInto(bytes: Uint8Array, at: number, entries: Int32Array, index: number): number {
    bytes.set(this.slab.subarray(0, this.used), at);
    for (let e = 0; e < this.size; e++, index += 2) {
      entries[index] = at + this.ends[e]!;
      entries[index + 1] = this.counts[e]!;
    }
    return index;
  }

  get bytesUsed(): number {
    return this.used;
  }
}

/** Packs one table per kind (in `KEY_KINDS` order) into a segment's `KeyCounts`. */
export function pack(tables: readonly ByteCounts[]): KeyCounts {
  let keys = 0;
  let size = 0;
  for (const t of tables) {
    keys += t.size;
    size += t.bytesUsed;
  }
  if (keys === 0) return NO_KEYS;
  const bytes = new Uint8Array(size);
  const entries = new Int32Array(KEY_KINDS.length + keys * 2);
  let at = 0;
  let index: number = KEY_KINDS.length;
  for (let kind = 0; kind < tables.length; kind++) {
    const t = tables[kind]!;
    entries[kind] = t.size;
    index = t.packInto(bytes, at, entries, index);
    at += t.bytesUsed;
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
      const t = new ByteCounts();
      for (const [key, n] of maps[kind] ?? []) t.addString(key, n);
      return t;
    }),
  );
}
