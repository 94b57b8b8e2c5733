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
 * - A segment too big alone is split by its keys into segments of the same second: the first
 *   carries the counts (hits, per second, statuses, codes, bytes, invalid) and as many keys as
 *   fit, the others only keys (no hits). The centre adds keys up wherever they come from, so no
 *   hit and no key is lost.
 */
import { eachKey, KEY_KINDS, type KeyCounts, NO_KEYS } from './byte-keys';
import { type CountsMessage, emptySegment, encode, type FileMark, type Segment } from './wire';

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
  const probe: CountsMessage = { v: 1, agent: '', seq: 0, clock: 0, segments: [s], files: [] };
  return sizeOf(probe) - sizeOf({ ...probe, segments: [] });
}

/** The segment, or its keys split over several segments of the same second, each within `room`. */
export function fitSegment(s: Segment, room: number): Segment[] {
  if (segmentSize(s) <= room) return [s];
  const counts = segmentSize({ ...s, keys: NO_KEYS });
  const out: Segment[] = [];
  let keys: Key[] = [];
  let size = counts;
  const close = () => {
    const packed = packKeys(keys);
    out.push(out.length === 0 ? { ...s, keys: packed } : { ...keyOnly(s.second), keys: packed });
    keys = [];
    size = segmentSize(keyOnly(s.second));
  };
  eachKey(s.keys, (kind, bytes, start, end, count) => {
    // Its base64 bytes and its entry (where it ends, its count), generously.
    const cost = Math.ceil(((end - start) * 4) / 3) + 4 + 12 + String(count).length + 2;
    if (keys.length > 0 && size + cost > room) close();
    keys.push({ kind, bytes: bytes.subarray(start, end), count });
    size += cost;
  });
  if (keys.length > 0 || out.length === 0) close();
  return out;
}

interface Key {
  kind: number;
  bytes: Uint8Array;
  count: number;
}

const keyOnly = emptySegment;

/** Keys in kind order → a packing (lib/byte-keys' layout). */
function packKeys(keys: Key[]): KeyCounts {
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
