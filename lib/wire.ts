/**
 * The fleet's message format: what an agent publishes and the centre reads, one message per
 * publish (never one per line). JSON with a version field; a segment's keys travel packed, as
 * base64 of the scanner's own byte layout (lib/byte-keys), so a message costs what its distinct
 * keys cost, whatever the number of lines.
 *
 *   { "v": 1, "agent": "web-1", "seq": 42, "clock": 1767225600,
 *     "segments": [{ "second", "perSecond": [[second, hits]...], "hits", "invalid", "status", "codes": [[code, hits]...], "bytes", "keys", "entries" }],
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
 */
import type { KeyCounts } from './byte-keys';
import { KEY_KINDS, NO_KEYS } from './byte-keys';
import type { Sketch } from './sketch';

export const WIRE_VERSION = 1;

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
  v: typeof WIRE_VERSION;
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
}

/** A message's ID for JetStream's de-duplication: with the instance in it, no other publisher can guess the next one. */
export const messageId = (m: Pick<CountsMessage, 'agent' | 'seq' | 'instance'>) => (m.instance ? `${m.agent}:${m.instance}:${m.seq}` : `${m.agent}:${m.seq}`);

/** The seconds a message may name: from 2000-01-01 to 9999-12-31 (a clock outside is a bad message, never the fleet's time). */
export const FIRST_SECOND = 946_684_800;
export const LAST_SECOND = 253_402_300_799;

/** An agent name as a subject token: letters, digits, `-` and `_` (others become `_`). */
export const subjectToken = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '_') || '_';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

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
        entries: [...s.keys.entries],
      })),
      files: m.files.map((f) => ({ path: f.path, id: f.id, offset: f.offset, head: b64(f.head) })),
    }),
  );
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

/** Decodes a message; throws `WireError` saying what is wrong (bad JSON, another version, a bad field). */
export function decode(data: Uint8Array): CountsMessage {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    throw new WireError('not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw new WireError('not an object');
  if (raw.v !== WIRE_VERSION) throw new WireError(`unknown version ${JSON.stringify(raw.v)}`);
  return {
    v: WIRE_VERSION,
    agent: text(raw.agent, 'agent'),
    ...(raw.instance === undefined ? {} : { instance: instanceOf(raw.instance) }),
    seq: count(raw.seq, 'seq'),
    clock: second(raw.clock, 'clock'),
    segments: array(raw.segments, 'segments').map((x, i) => segment(x, `segments[${i}]`)),
    files: array(raw.files, 'files').map((x, i) => {
      const f = x as Record<string, unknown>;
      return { path: text(f?.path, `files[${i}].path`), id: text(f.id, `files[${i}].id`), offset: count(f.offset, `files[${i}].offset`), head: bytesOf(f.head, `files[${i}].head`) };
    }),
  };
}

function segment(x: unknown, what: string): Segment {
  const s = x as Record<string, unknown>;
  if (typeof s !== 'object' || s === null) throw new WireError(`${what} is not an object`);
  const status = array(s.status, `${what}.status`).map((n, i) => count(n, `${what}.status[${i}]`));
  if (status.length !== 6) throw new WireError(`${what}.status has ${status.length} classes, not 6`);
  const bytes = bytesOf(s.keys, `${what}.keys`);
  const entries = Int32Array.from(array(s.entries, `${what}.entries`).map((n, i) => int(n, `${what}.entries[${i}]`)));
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
  };
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
