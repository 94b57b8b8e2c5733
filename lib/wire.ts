/**
 * The fleet's message format: what an agent publishes and the centre reads, one message per
 * publish (never one per line). JSON with a version field; a segment's keys travel packed, as
 * base64 of the scanner's own byte layout (lib/byte-keys), so a message costs what its distinct
 * keys cost, whatever the number of lines; its request durations travel as sketches (below), so
 * the centre merges them into the fleet's quantiles.
 *
 *   { "v": 2, "agent": "web-1", "instance": "k3J9xQ2mZp7vL0aB", "seq": 42, "clock": 1767225600,
 *     "segments": [{ "second", "perSecond": [[second, hits]...], "hits", "invalid", "status", "codes": [[code, hits]...], "bytes", "keys", "entries",
 *                    "latency"?, "upstream"?, "sectionLatency"?: [[section, sketch]...], "vhostLatency"?: [[vhost, sketch]...], "classLatency"?: [sketch | null ×6] }],
 *     "files": [{ "path", "id", "offset", "head" }] }
 *
 * - `seq` numbers an agent's messages from 1; the message ID is `agent:seq`, so a publish
 *   retried after a lost acknowledgement is dropped by the stream's duplicate window.
 * - `clock`: every line stamped at or before this second that the agent will ever read has been
 *   published (the agent read every file to its end after the second's end + its grace for
 *   lines written late): the centre's watermark. An idle agent still publishes, so that the
 *   fleet's clock moves.
 * - `files`: where each followed file has been counted up to when this message was made; the
 *   last message on an agent's subject is its checkpoint, for a restart.
 * - A sketch is one flat list, `[zero, offset, sum, min, max, ...buckets]` (`SketchWire`): the
 *   bucket counts from bucket `offset` on, a run of n empty buckets written as −n, so a sketch of
 *   a few durations costs a few numbers however far apart they lie. Its count is `zero` plus the
 *   buckets; `Sketch.from` checks the rest. A bad sketch is a bad message, as a bad key is.
 *
 * Versions: 2 added the sketches and the fifth kind of key (`vhosts`: `entries` starts with five
 * counts). The centre reads version 1 too, as the agents before it wrote it (four counts, no
 * sketches), so agents can be upgraded one at a time after the centre; a version it does not
 * know (a newer agent's) is a bad message, counted and said as any other.
 */
import type { KeyCounts } from './byte-keys';
import { KEY_KINDS, NO_KEYS } from './byte-keys';
import { Sketch, type SketchData } from './sketch';

export const WIRE_VERSION = 2;
/** The versions a centre reads: 1, from agents of before latency, and this one. */
export type WireVersion = 1 | typeof WIRE_VERSION;

/**
 * The lines of one chunk that share a high-water second: the newest log timestamp seen so far,
 * in whole Unix seconds. A replay steps its clock to `second` before delivering the segment,
 * which is what a live run would have seen: a line is written at or after its own timestamp.
 */
export interface Segment {
  second: number;
  /** Valid lines (hits) by each line's own timestamp second, for the alert window and lateness. */
  perSecond: Map<number, number>;
  hits: number;
  /** Lines that could not be parsed (garbage, impossible dates, over-long lines). */
  invalid: number;
  /**
   * Hits by section, user, host and method, counted by the keys' bytes (lib/byte-keys). The
   * parser's are borrowed, valid while the batch is delivered: a consumer that keeps the segment
   * longer (a merge queue, the publisher's) keeps `ownKeys` of them.
   */
  keys: KeyCounts;
  /** Hits by status class: index 1..5 for 1xx..5xx, 0 for anything else. */
  status: [number, number, number, number, number, number];
  /** Hits by status code (100..599), for rules that match a code. */
  codes: Map<number, number>;
  bytes: number;
  /** Request durations (ms) of the timed lines, when the log format has a duration. */
  latency?: Sketch;
  /** Upstream durations (ms; a request's list of upstream times summed), when the format has them. */
  upstream?: Sketch;
  /**
   * Request durations (ms) by section and by virtual host (for the tables and latency rules that
   * match or group by them), and by status class (index as `status`). Every sketch here is the
   * segment's own: a consumer may keep it, but must not add to it.
   */
  sectionLatency?: Map<string, Sketch>;
  vhostLatency?: Map<string, Sketch>;
  classLatency?: (Sketch | undefined)[];
  /**
   * The centre's, never on the wire: in an interval an earlier run of the centre printed (or
   * before a new centre's start). The alert windows take it; the stats do not count it again.
   */
  printed?: boolean;
}

/** A segment of no lines at `second`: the clock's step, or a second's key-only part. */
export function emptySegment(second: number): Segment {
  return {
    second,
    perSecond: new Map(),
    hits: 0,
    invalid: 0,
    keys: NO_KEYS,
    status: [0, 0, 0, 0, 0, 0],
    codes: new Map(),
    bytes: 0,
  };
}

/** Where a followed file has been counted up to: its identity, the offset after the last counted line, and its first bytes. */
export interface FileMark {
  path: string;
  id: string;
  offset: number;
  head: Uint8Array;
}

export interface CountsMessage {
  /** The version it is written in: `encode` writes that version's shape; `decode` says which it read. */
  v: WireVersion;
  agent: string;
  /**
   * The agent process that published it: random, made at each start (absent from agents of
   * before it was added). Two processes publishing under one name show two instances.
   */
  instance?: string;
  seq: number;
  clock: number;
  segments: Segment[];
  files: FileMark[];
  /**
   * An agent with `--metrics`: its counters' totals so far (lib/metrics' `totals()`, checked by
   * `restore`, opaque here), so that a restarted agent goes on from its last message. Centres do
   * not read it; one of before it was added ignores it as any field it does not know.
   */
  metrics?: unknown;
}

/** A message's ID for JetStream's de-duplication: with the instance in it, no other publisher can guess the next one. */
export const messageId = (m: Pick<CountsMessage, 'agent' | 'seq' | 'instance'>) => (m.instance ? `${m.agent}:${m.instance}:${m.seq}` : `${m.agent}:${m.seq}`);

/** The seconds a message may name: from 2000-01-01 to 9999-12-31 (a clock outside is a bad message, never the fleet's time). */
export const FIRST_SECOND = 946_684_800;
export const LAST_SECOND = 253_402_300_799;

/** An agent name as a subject token: letters, digits, `-` and `_` (others become `_`). */
export const subjectToken = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '_') || '_';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** A sketch on the wire: `[zero, offset, sum, min, max, ...buckets]`, a run of n empty buckets as −n. */
export type SketchWire = number[];

/** The most buckets a sketch on the wire may spell out (Sketch.from refuses more). */
const MAX_BUCKETS = 10_000;

export function sketchToWire(sketch: Sketch): SketchWire {
  const d = sketch.toJSON();
  const out = [d.zero, d.offset, d.sum, d.min, d.max];
  let empty = 0;
  for (const n of d.counts) {
    if (n === 0) {
      empty++;
      continue;
    }
    if (empty > 0) out.push(-empty);
    empty = 0;
    out.push(n);
  }
  return out;
}

export function encode(m: CountsMessage): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      v: m.v,
      agent: m.agent,
      ...(m.instance ? { instance: m.instance } : {}),
      seq: m.seq,
      clock: m.clock,
      segments: m.segments.map((s) => ({
        second: s.second,
        perSecond: [...s.perSecond],
        hits: s.hits,
        invalid: s.invalid,
        status: s.status,
        codes: [...s.codes],
        bytes: s.bytes,
        keys: b64(s.keys.bytes),
        ...(m.v === 1 ? { entries: entriesV1(s) } : { entries: [...s.keys.entries], ...sketchesOf(s) }),
      })),
      files: m.files.map((f) => ({ path: f.path, id: f.id, offset: f.offset, head: b64(f.head) })),
      ...(m.metrics === undefined ? {} : { metrics: m.metrics }),
    }),
  );
}

/** A segment's sketches as version 2 writes them; absent ones are left out. */
function sketchesOf(s: Segment) {
  const named = (map: Map<string, Sketch>) => [...map].map(([name, sketch]) => [name, sketchToWire(sketch)]);
  return {
    ...(s.latency ? { latency: sketchToWire(s.latency) } : {}),
    ...(s.upstream ? { upstream: sketchToWire(s.upstream) } : {}),
    ...(s.sectionLatency?.size ? { sectionLatency: named(s.sectionLatency) } : {}),
    ...(s.vhostLatency?.size ? { vhostLatency: named(s.vhostLatency) } : {}),
    ...(s.classLatency?.some(Boolean) ? { classLatency: Array.from(s.classLatency, (c) => (c ? sketchToWire(c) : null)) } : {}),
  };
}

/**
 * Version 1's entries: four counts (no `vhosts`). Only the specs write version 1 (as the agents
 * before version 2 did); what it cannot say is refused rather than dropped.
 */
function entriesV1(s: Segment): number[] {
  const { entries } = s.keys;
  if (entries[4] !== 0 || s.latency || s.upstream || s.sectionLatency || s.vhostLatency || s.classLatency) {
    throw new WireError('a version 1 message cannot carry vhosts or durations');
  }
  return [...entries.subarray(0, 4), ...entries.subarray(KEY_KINDS.length)];
}

export class WireError extends Error {}

const int = (x: unknown, what: string): number => {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new WireError(`${what} is not a whole number`);
  return x;
};
const count = (x: unknown, what: string) => {
  const n = int(x, what);
  if (n < 0) throw new WireError(`${what} is negative`);
  return n;
};
const array = (x: unknown, what: string): unknown[] => {
  if (!Array.isArray(x)) throw new WireError(`${what} is not a list`);
  return x;
};
const text = (x: unknown, what: string): string => {
  if (typeof x !== 'string') throw new WireError(`${what} is not a string`);
  return x;
};
const second = (x: unknown, what: string) => {
  const n = int(x, what);
  if (n < FIRST_SECOND || n > LAST_SECOND) throw new WireError(`${what} ${n} is not a time from 2000 to 9999`);
  return n;
};
const instanceOf = (x: unknown) => {
  const id = text(x, 'instance');
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(id)) throw new WireError('instance is not an instance id');
  return id;
};
const bytesOf = (x: unknown, what: string) => new Uint8Array(Buffer.from(text(x, what), 'base64'));

/**
 * Decodes a message of version 1 or 2; throws `WireError` saying what is wrong (bad JSON, a
 * version it does not know, a bad field).
 */
export function decode(data: Uint8Array): CountsMessage {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    throw new WireError('not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw new WireError('not an object');
  const v = raw.v;
  if (v !== 1 && v !== WIRE_VERSION) throw new WireError(`unknown version ${JSON.stringify(v)}`);
  return {
    v,
    agent: text(raw.agent, 'agent'),
    ...(raw.instance === undefined ? {} : { instance: instanceOf(raw.instance) }),
    seq: count(raw.seq, 'seq'),
    clock: second(raw.clock, 'clock'),
    segments: array(raw.segments, 'segments').map((x, i) => segment(x, `segments[${i}]`, v)),
    files: array(raw.files, 'files').map((x, i) => {
      const f = x as Record<string, unknown>;
      return { path: text(f?.path, `files[${i}].path`), id: text(f.id, `files[${i}].id`), offset: count(f.offset, `files[${i}].offset`), head: bytesOf(f.head, `files[${i}].head`) };
    }),
    ...(raw.metrics === undefined ? {} : { metrics: raw.metrics }),
  };
}

function segment(x: unknown, what: string, v: WireVersion): Segment {
  const s = x as Record<string, unknown>;
  if (typeof s !== 'object' || s === null) throw new WireError(`${what} is not an object`);
  const status = array(s.status, `${what}.status`).map((n, i) => count(n, `${what}.status[${i}]`));
  if (status.length !== 6) throw new WireError(`${what}.status has ${status.length} classes, not 6`);
  const bytes = bytesOf(s.keys, `${what}.keys`);
  const listed = array(s.entries, `${what}.entries`);
  // Version 1 counted four kinds of keys: none of the fifth (vhosts), after the fourth count.
  if (v === 1 && listed.length >= 4) listed.splice(4, 0, 0);
  const entries = Int32Array.from(listed.map((n, i) => int(n, `${what}.entries[${i}]`)));
  checkKeys(bytes, entries, what);
  return {
    second: second(s.second, `${what}.second`),
    perSecond: new Map(
      array(s.perSecond, `${what}.perSecond`).map((p, i) => {
        const pair = array(p, `${what}.perSecond[${i}]`);
        return [second(pair[0], `${what}.perSecond[${i}][0]`), count(pair[1], `${what}.perSecond[${i}][1]`)] as [number, number];
      }),
    ),
    hits: count(s.hits, `${what}.hits`),
    invalid: count(s.invalid, `${what}.invalid`),
    status: status as Segment['status'],
    // Absent from agents of before status codes were counted: none.
    codes: new Map(
      (s.codes === undefined ? [] : array(s.codes, `${what}.codes`)).map((p, i) => {
        const pair = array(p, `${what}.codes[${i}]`);
        return [count(pair[0], `${what}.codes[${i}][0]`), count(pair[1], `${what}.codes[${i}][1]`)] as [number, number];
      }),
    ),
    bytes: count(s.bytes, `${what}.bytes`),
    keys: { bytes, entries },
    ...(v === 1 ? {} : sketchesIn(s, what)),
  };
}

/** A version 2 segment's sketches, each checked (absent ones stay absent). */
function sketchesIn(s: Record<string, unknown>, what: string): Partial<Segment> {
  const out: Partial<Segment> = {};
  if (s.latency !== undefined) out.latency = sketchIn(s.latency, `${what}.latency`);
  if (s.upstream !== undefined) out.upstream = sketchIn(s.upstream, `${what}.upstream`);
  if (s.sectionLatency !== undefined) out.sectionLatency = namedSketches(s.sectionLatency, `${what}.sectionLatency`);
  if (s.vhostLatency !== undefined) out.vhostLatency = namedSketches(s.vhostLatency, `${what}.vhostLatency`);
  if (s.classLatency !== undefined) {
    const list = array(s.classLatency, `${what}.classLatency`);
    if (list.length > 6) throw new WireError(`${what}.classLatency has ${list.length} classes, not 6`);
    out.classLatency = list.map((c, i) => (c === null ? undefined : sketchIn(c, `${what}.classLatency[${i}]`)));
  }
  return out;
}

/** `[[name, sketch]...]` → a map; a name twice adds up (as keys do), never one replacing the other. */
function namedSketches(x: unknown, what: string): Map<string, Sketch> {
  const map = new Map<string, Sketch>();
  array(x, what).forEach((p, i) => {
    const pair = array(p, `${what}[${i}]`);
    const name = text(pair[0], `${what}[${i}][0]`);
    const sketch = sketchIn(pair[1], `${what}[${i}][1]`);
    const known = map.get(name);
    map.set(name, known ? known.merge(sketch) : sketch);
  });
  return map;
}

/** A `SketchWire` → a sketch, checked here (the numbers, the runs) and by Sketch.from. */
export function sketchIn(x: unknown, what: string): Sketch {
  const list = array(x, what);
  if (list.length < 5) throw new WireError(`${what} is not a sketch`);
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'number' || !Number.isFinite(list[i])) throw new WireError(`${what}[${i}] is not a number`);
  }
  const [zero, offset, sum, min, max] = list as number[];
  const counts: number[] = [];
  let total = count(zero, `${what}[0]`);
  int(offset, `${what}[1]`);
  for (let i = 5; i < list.length; i++) {
    const n = int(list[i], `${what}[${i}]`);
    if (n === 0) throw new WireError(`${what}[${i}] is an empty run`);
    if (counts.length + Math.max(1, -n) > MAX_BUCKETS) throw new WireError(`${what} has more than ${MAX_BUCKETS} buckets`);
    if (n < 0) for (let k = 0; k < -n; k++) counts.push(0);
    else {
      counts.push(n);
      total += n;
    }
  }
  const data: SketchData = { zero: zero!, offset: offset!, counts, count: total, sum: sum!, min: min!, max: max! };
  try {
    return Sketch.from(data);
  } catch (error) {
    throw new WireError(`${what} is not a sketch (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** The packed keys must describe their bytes exactly: a bad one would read past them. */
function checkKeys(bytes: Uint8Array, entries: Int32Array, what: string) {
  const kinds = KEY_KINDS.length;
  if (entries.length < kinds) throw new WireError(`${what}.entries is too short`);
  let keys = 0;
  for (let k = 0; k < kinds; k++) keys += count(entries[k], `${what}.entries[${k}]`);
  if (entries.length !== kinds + 2 * keys) throw new WireError(`${what}.entries does not match its key counts`);
  let end = 0;
  for (let i = kinds; i < entries.length; i += 2) {
    if (entries[i]! < end || entries[i]! > bytes.length) throw new WireError(`${what}.entries points outside its keys`);
    end = entries[i]!;
    count(entries[i + 1], `${what}.entries[${i + 1}]`);
  }
  if (end !== bytes.length) throw new WireError(`${what}.keys has bytes no entry covers`);
}
