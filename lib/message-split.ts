/**
 * A message too big for the server (its max_payload, 1 MB by default: about 45,000 distinct
 * clients in one second) → several messages below it, so that the agent is never wedged retrying
 * a publish the server will always refuse. Pure: the publisher gives it the message and the
 * previous one's clock and files.
 *
 * - Segments are packed into parts in order. A message's clock says every line up to it has been
 *   published and its files are the checkpoint, so only the last part carries the new clock and
 *   files; the earlier parts carry the previous message's (a crash between parts reads their
 *   lines again rather than losing the rest).
 * - A segment too big alone is split into segments of the same second: the first carries the
 *   counts (hits, per second, statuses, codes, bytes, invalid) and as much as fits of the rest,
 *   the others only keys and sketches (no hits). What is split: its keys, and its sketches by
 *   field and map entry (the latency, the upstream, each status class, each section, each
 *   vhost); a single sketch too big for a part goes as pieces by bucket ranges, the first with
 *   its zeros and sum, each with its min and max, which merge back to the very sketch. The
 *   centre adds keys up and merges a second's sketches wherever they come from, so no hit, key
 *   or duration is lost.
 */
import { eachKey, KEY_KINDS, type KeyCounts, NO_KEYS } from './byte-keys';
import { Sketch } from './sketch';
import { type CountsMessage, emptySegment, encode, type FileMark, type Segment, sketchToWire, WIRE_VERSION } from './wire';

/** Room left for what is not the message (the message-ID header), bytes. */
export const HEADER_ROOM = 512;

export interface Previous {
  clock: number;
  files: FileMark[];
}

const sizeOf = (m: CountsMessage) => encode(m).length;

/**
 * `m` as one or more messages of at most `maxBytes` encoded, numbered from `m.seq`. A part is
 * never empty of segments, except a message with none.
 */
export function splitMessage(m: CountsMessage, maxBytes: number, previous: Previous): CountsMessage[] {
  if (sizeOf(m) <= maxBytes) return [m];
  const earlier = { ...m, clock: previous.clock, files: previous.files };
  const base = Math.max(sizeOf({ ...m, segments: [] }), sizeOf({ ...earlier, segments: [] }));
  // The segments' room in a part: what the server takes, less the rest of the message.
  let room = Math.max(1024, maxBytes - base - 16);
  for (let attempt = 0; attempt < 8; attempt++, room = Math.floor(room * 0.8)) {
    const pieces = m.segments.flatMap((s) => fitSegment(s, room));
    const groups: Segment[][] = [];
    let size = Infinity;
    for (const p of pieces) {
      const n = segmentSize(p) + 1;
      if (size + n > room) {
        groups.push([]);
        size = 0;
      }
      groups.at(-1)!.push(p);
      size += n;
    }
    const parts = groups.map((segments, i) => ({
      ...(i === groups.length - 1 ? m : earlier),
      seq: m.seq + i,
      segments,
    }));
    if (parts.every((p) => sizeOf(p) <= maxBytes)) return parts;
  }
  // Estimates that never fit (a server that takes almost nothing): as it is; the publish says why.
  return [m];
}

/** A segment's share of a message, bytes (its JSON, without the comma between segments). */
function segmentSize(s: Segment): number {
  const probe: CountsMessage = { v: WIRE_VERSION, agent: '', seq: 0, clock: 0, segments: [s], files: [] };
  return sizeOf(probe) - sizeOf({ ...probe, segments: [] });
}

/** What a segment holds besides its counts, one piece at a time: a key, or a sketch of one of its fields. */
type Item =
  | { kind: number; bytes: Uint8Array; count: number }
  | { field: 'latency' | 'upstream'; sketch: Sketch }
  | { field: 'classLatency'; index: number; sketch: Sketch }
  | { field: 'sectionLatency' | 'vhostLatency'; name: string; sketch: Sketch };

/** A field's name and the brackets around it, in a part: generously. */
const FIELD_COST = 24;

/** The segment, or its keys and sketches split over several segments of the same second, each within `room`. */
export function fitSegment(s: Segment, room: number): Segment[] {
  if (segmentSize(s) <= room) return [s];
  const counts = countsOf(s);
  const countsSize = segmentSize(counts);
  const items = itemsOf(s, Math.max(64, room - countsSize - FIELD_COST));
  const out: Segment[] = [];
  let part: Item[] = [];
  let size = countsSize;
  const close = () => {
    out.push({ ...(out.length === 0 ? counts : emptySegment(s.second)), ...assemble(part) });
    part = [];
    size = segmentSize(emptySegment(s.second));
  };
  for (const item of items) {
    const cost = costOf(item);
    if (part.length > 0 && size + cost > room) close();
    part.push(item);
    size += cost;
  }
  if (part.length > 0 || out.length === 0) close();
  return out;
}

/** The segment without its keys and sketches. */
function countsOf(s: Segment): Segment {
  const { latency: _l, upstream: _u, sectionLatency: _s, vhostLatency: _v, classLatency: _c, ...counts } = s;
  return { ...counts, keys: NO_KEYS };
}

/** The segment's keys, then its sketches, a single sketch over `budget` bytes in pieces. */
function itemsOf(s: Segment, budget: number): Item[] {
  const items: Item[] = [];
  eachKey(s.keys, (kind, bytes, start, end, count) => items.push({ kind, bytes: bytes.subarray(start, end), count }));
  const pieces = (sketch: Sketch, name = '') => sketchPieces(sketch, budget - JSON.stringify(name).length);
  for (const field of ['latency', 'upstream'] as const) {
    const sketch = s[field];
    if (sketch) for (const p of pieces(sketch)) items.push({ field, sketch: p });
  }
  s.classLatency?.forEach((sketch, index) => {
    if (sketch) for (const p of pieces(sketch)) items.push({ field: 'classLatency', index, sketch: p });
  });
  for (const field of ['sectionLatency', 'vhostLatency'] as const) {
    for (const [name, sketch] of s[field] ?? []) for (const p of pieces(sketch, name)) items.push({ field, name, sketch: p });
  }
  return items;
}

const wireLength = (sketch: Sketch) => JSON.stringify(sketchToWire(sketch)).length;

function costOf(item: Item): number {
  // A key: its base64 bytes and its entry (where it ends, its count), generously.
  if ('kind' in item) return Math.ceil((item.bytes.length * 4) / 3) + 4 + 12 + String(item.count).length + 2;
  return wireLength(item.sketch) + FIELD_COST + ('name' in item ? JSON.stringify(item.name).length : 0);
}

/**
 * A sketch as pieces of at most `budget` bytes on the wire, by ranges of its buckets: the first
 * with the zeros and the sum, each with the min and max, so that merged they are the sketch.
 * Fresh sketches: the one given is never changed.
 */
export function sketchPieces(sketch: Sketch, budget: number): Sketch[] {
  if (wireLength(sketch) <= budget) return [sketch];
  const d = sketch.toJSON();
  for (let n = 2; ; n *= 2) {
    const size = Math.max(1, Math.ceil(d.counts.length / n));
    const pieces: Sketch[] = [];
    for (let at = 0; at < d.counts.length; at += size) {
      const counts = d.counts.slice(at, at + size);
      const first = at === 0;
      const zero = first ? d.zero : 0;
      const count = counts.reduce((a, b) => a + b, zero);
      if (count === 0) continue;
      pieces.push(Sketch.from({ zero, offset: d.offset + at, counts, count, sum: first ? d.sum : 0, min: d.min, max: d.max }));
    }
    if (size === 1 || pieces.every((p) => wireLength(p) <= budget)) return pieces;
  }
}

/** A part's items → the fields of its segment: keys packed, sketches by field (pieces of one merged). */
function assemble(items: Item[]): Partial<Segment> {
  const keys: Extract<Item, { kind: number }>[] = [];
  const out: Partial<Segment> = {};
  const add = (known: Sketch | undefined, sketch: Sketch) => (known ? new Sketch().merge(known).merge(sketch) : sketch);
  for (const item of items) {
    if ('kind' in item) keys.push(item);
    else if (item.field === 'classLatency') {
      out.classLatency ??= [];
      out.classLatency[item.index] = add(out.classLatency[item.index], item.sketch);
    } else if ('name' in item) {
      const map = (out[item.field] ??= new Map());
      map.set(item.name, add(map.get(item.name), item.sketch));
    } else out[item.field] = add(out[item.field], item.sketch);
  }
  if (out.classLatency) out.classLatency = Array.from(out.classLatency);
  return { ...out, keys: packKeys(keys) };
}

/** Keys in kind order → a packing (lib/byte-keys' layout). */
function packKeys(keys: { kind: number; bytes: Uint8Array; count: number }[]): KeyCounts {
  if (keys.length === 0) return NO_KEYS;
  const entries = new Int32Array(KEY_KINDS.length + 2 * keys.length);
  let total = 0;
  for (const k of keys) total += k.bytes.length;
  const bytes = new Uint8Array(total);
  let at = 0;
  let i = KEY_KINDS.length;
  for (const k of keys) {
    entries[k.kind]!++;
    bytes.set(k.bytes, at);
    at += k.bytes.length;
    entries[i++] = at;
    entries[i++] = k.count;
  }
  return { bytes, entries };
}
