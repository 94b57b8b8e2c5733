/**
 * A byte scanner for the text log formats of lib/log-format.ts (`TextFormat`: an nginx
 * `log_format`, an Apache `LogFormat`, `vcombined`, `aws-alb`): literals and fields, left to
 * right, read exactly as the reference parser `parseEntry` reads them (lib/log-format-parse.ts),
 * and counted into segments as `ClfScanner` counts CLF: by the keys' bytes, no regex, no string
 * and no object per line.
 *
 * Reading a line (the reference's rules, on bytes): a literal must be there, byte for byte; a
 * field's value ends where the literal after it first occurs (unless escapes are `none`, a
 * backslash takes the byte after it along, so Apache's `\"` does not end a quoted field); the
 * last field runs to the end of the line; a CLF time is exactly 26 bytes and a strftime time is
 * what its pattern matches. Values are the bytes as written, escapes and all: a user or path
 * with nginx's `\x22` in it is counted under those bytes (as the reference's string has them).
 *
 * Two ways to read a line, one answer:
 * - Formats that begin with the common log format's fields (nginx's `combined` and any format
 *   that extends it, Apache's `%h %l %u %t "%r" %>s %b` and its extensions) read that part with
 *   `ClfScanner`'s own byte parse (this class extends it for that, and for its tallies,
 *   segments and packing), then walk the rest of the tokens from where the byte count ends.
 *   The CLF parse accepts some lines the format does not (an ident other than nginx's `-`, a
 *   quote inside the request, a backslash before a separator); for those, and for any line it
 *   does not accept, the general walk decides.
 * - The general walk reads every token of the format (`Step`s compiled once).
 *
 * What is counted, per valid line: hits, perSecond, status and codes, bytes; the keys (sections
 * by the CLF section rule, users, hosts = the client, methods, vhosts); with a duration field,
 * `latency`, `sectionLatency`, `vhostLatency` and `classLatency` sketches (ms) of the timed
 * lines, and `upstream` of the lines with an upstream time (a line with `-` counts, untimed);
 * `vhostLatency` and `classLatency`, which only rules read, are left out with `ruleSketches: false`.
 * A section's or vhost's string is made once per segment, when the segment is packed.
 */
import { decodeKey, fixedKey, fnv1a, KeyTally, MAX_KEY_BYTES, ownKeys, slotOf } from '../lib/byte-keys';
import type { FieldToken, TextFormat, Token, Unit } from '../lib/log-format';
import { bucketOf, Sketch } from '../lib/sketch';
import { addSketch, Durations, KeyDurations } from '../lib/duration-store';
import {
  BLANK,
  ClfScanner,
  daysFromCivil,
  FIXED,
  FIXED_NO_REQUEST,
  INVALID,
  MAX_LINE,
  VALID,
} from './clf-scanner';
import { emptySegment, type Batch, type Segment } from './messages';

const TAB = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const BACKSLASH = 92;
const LBRACKET = 91;
const RBRACKET = 93;

/** Length of `09/May/2018:16:00:39 +0000`. */
const CLF_TIME = 26;
/** More digits than this could lose precision in a double: such numbers are read from a string. */
const MAX_DIGITS = 15;
const MAX_METHOD = 32;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_CODES = Int32Array.from(MONTHS, (m) => (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2));

/** 1 for the bytes a method may hold: A-Z, a-z, '-', '_'. */
const METHOD_CHAR = new Uint8Array(256);
for (let c = 65; c <= 90; c++) METHOD_CHAR[c] = METHOD_CHAR[c + 32] = 1;
METHOD_CHAR[DASH] = METHOD_CHAR[95] = 1;

/** ASCII whitespace as String.prototype.trim drops it (a list's parts are trimmed). */
const isSpace = (c: number) => c === SP || (c >= TAB && c <= CR);
const isDigit = (c: number) => c >= 48 && c <= 57;

/** The client key of a line without one (no client field, or an empty value), as the reference has it. */
const FIXED_NO_CLIENT = FIXED.length;
const TEXT_FIXED = [...FIXED, fixedKey('hosts', '-')];
/** The fixed keys as strings (the fixed sections' durations are kept by them). */
const FIXED_NAMES = FIXED.map((k) => decodeKey(k.bytes, 0, k.bytes.length));
/** Status classes, as `Segment.status` indexes them. */
const CLASSES = 6;

// What a field is read as (`Step.kind`).
const SKIP = 0;
const CLIENT = 1;
const USER = 2;
const REQUEST = 3;
const METHOD = 4;
const URI = 5;
const STATUS = 6;
const BYTES = 7;
const VHOST = 8;
const DURATION = 9;
const UPSTREAM = 10;
const TIME = 11;

// How a time is written (`Step.time`).
const TIME_CLF = 0;
const TIME_ISO = 1;
const TIME_EPOCH = 2;
const TIME_STRFTIME = 3;

/** Milliseconds of a number in a unit, with the reference's arithmetic (so the same double). */
function toMs(n: number, unit: Unit): number {
  return unit === 's' ? n * 1000 : unit === 'ms' ? n : unit === 'us' ? n / 1000 : n / 1e6;
}

// How a field's value ends (`Step.ends`).
/** Where the literal after it first occurs. */
const AT_LITERAL = 0;
/** At the end of the line (the last field). */
const AT_LINE_END = 1;
/** 26 bytes on: a CLF time. */
const AT_CLF_TIME = 2;
/** Where its strftime pattern's match ends. */
const AT_PATTERN = 3;
/** Where an nginx upstream list (`$upstream_response_time`, `$upstream_addr`…) ends, if it starts with one; else at the literal after it. */
const AT_LIST = 4;

/** One field of the format and the literal after it: a compiled token pair. */
class Step {
  readonly ends: number;

  constructor(
    /** Its place among the steps. */
    readonly index: number,
    readonly kind: number,
    /** The literal after the field (the value ends where it first occurs); empty: the line's end. */
    readonly after: Uint8Array,
    readonly unit: Unit,
    /** duration, upstream: an nginx list (`0.010, 0.020 : 0.030`), summed. */
    readonly list: boolean,
    /** An ALB duration part (`durationPart`). */
    readonly part: boolean,
    /** client: `address:port` loses the port. */
    readonly hostPort: boolean,
    readonly time: number,
    /** epoch time: digits of the whole number below the second. */
    readonly drop: number,
    readonly pattern: Piece[],
  ) {
    if (kind === TIME && time === TIME_CLF) this.ends = AT_CLF_TIME;
    else if (kind === TIME && time === TIME_STRFTIME) this.ends = AT_PATTERN;
    else if (list) this.ends = AT_LIST;
    else this.ends = after.length === 0 ? AT_LINE_END : AT_LITERAL;
  }
}

const utf8 = new TextEncoder();
/** b[start..end) as a string: only for the rare values the byte readers leave to the reference's rules. */
const textOf = (b: Uint8Array, start: number, end: number) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8', start, end);

/**
 * The general walk's program: a leading literal, then one `Step` per field. Fields the
 * reference would not read (a method or URI field when the format has a request line) are
 * skipped.
 */
function compile(format: TextFormat): { lead: Uint8Array; steps: Step[] } {
  const tokens = format.tokens;
  const hasRequest = tokens.some((t) => 'field' in t && t.field === 'request');
  let lead = new Uint8Array(0);
  const steps: Step[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if ('literal' in t) {
      if (i === 0) lead = utf8.encode(t.literal);
      continue; // a literal after a field is that field's `after`
    }
    const next = tokens[i + 1] as Token | undefined;
    const after = next && 'literal' in next ? utf8.encode(next.literal) : new Uint8Array(0);
    steps.push(stepOf(steps.length, t, after, hasRequest));
  }
  return { lead, steps };
}

function stepOf(index: number, t: FieldToken, after: Uint8Array, hasRequest: boolean): Step {
  let kind = SKIP;
  switch (t.field) {
    case 'client': kind = CLIENT; break;
    case 'user': kind = USER; break;
    case 'request': kind = REQUEST; break;
    case 'method': kind = hasRequest ? SKIP : METHOD; break;
    case 'uri': kind = hasRequest ? SKIP : URI; break;
    case 'status': kind = STATUS; break;
    case 'bytes': kind = BYTES; break;
    case 'vhost': kind = VHOST; break;
    case 'duration': kind = DURATION; break;
    case 'upstream': kind = UPSTREAM; break;
    case 'time': kind = TIME; break;
  }
  let time = TIME_CLF;
  let drop = 0;
  let pattern: Piece[] = [];
  if (kind === TIME) {
    const tf = t.time ?? { kind: 'clf' };
    if (tf.kind === 'iso8601') time = TIME_ISO;
    else if (tf.kind === 'epoch') {
      time = TIME_EPOCH;
      drop = { s: 0, ms: 3, us: 6, ns: 9 }[tf.unit];
    } else if (tf.kind === 'strftime') {
      time = TIME_STRFTIME;
      pattern = compileStrftime(tf.pattern);
    }
  }
  return new Step(index, kind, after, t.unit ?? 's', t.list === true, t.durationPart === true, t.hostPort === true, time, drop, pattern);
}

// ------------------------------------------------------------------------------------ strftime

// What a piece of a strftime pattern reads (`Piece.kind`) and sets (`Piece.set`).
const P_LITERAL = 0;
const P_DIGITS = 1; // exactly `width` digits
const P_DAY_SPACE = 2; // %e: ` ?\d{1,2}`
const P_MONTH_NAME = 3; // %b: 3 letters
const P_ZONE = 4; // %z: `[+-]\d\d:?\d\d|Z`
const P_EPOCH = 5; // %s: `\d+`

const S_NONE = -1;
const S_DAY = 0;
const S_MONTH = 1;
const S_YEAR = 2;
const S_YEAR2 = 3;
const S_HOUR = 4;
const S_MINUTE = 5;
const S_SECOND = 6;
const S_MON = 7;
const S_ZONE = 8;
const S_EPOCH = 9;

interface Piece {
  kind: number;
  width: number;
  set: number;
  literal: Uint8Array;
}

const DIRECTIVES: Record<string, [kind: number, width: number, set: number]> = {
  d: [P_DIGITS, 2, S_DAY],
  e: [P_DAY_SPACE, 0, S_DAY],
  b: [P_MONTH_NAME, 3, S_MON],
  m: [P_DIGITS, 2, S_MONTH],
  Y: [P_DIGITS, 4, S_YEAR],
  y: [P_DIGITS, 2, S_YEAR2],
  H: [P_DIGITS, 2, S_HOUR],
  M: [P_DIGITS, 2, S_MINUTE],
  S: [P_DIGITS, 2, S_SECOND],
  z: [P_ZONE, 0, S_ZONE],
  s: [P_EPOCH, 0, S_EPOCH],
};
const ALIASES: Record<string, string> = { T: '%H:%M:%S', F: '%Y-%m-%d', D: '%m/%d/%y', R: '%H:%M', h: '%b' };

/** A strftime pattern (one lib/log-format-time.ts compiled when the format was) as pieces. */
function compileStrftime(pattern: string): Piece[] {
  const pieces: Piece[] = [];
  const literal = (text: string) => {
    const last = pieces[pieces.length - 1];
    if (last?.kind === P_LITERAL) last.literal = utf8.encode(new TextDecoder().decode(last.literal) + text);
    else pieces.push({ kind: P_LITERAL, width: 0, set: S_NONE, literal: utf8.encode(text) });
  };
  const expand = (p: string) => {
    for (let i = 0; i < p.length; i++) {
      const c = p[i]!;
      if (c !== '%') {
        literal(c);
        continue;
      }
      const d = p[++i]!;
      if (d === '%') literal('%');
      else if (ALIASES[d]) expand(ALIASES[d]);
      else {
        const [kind, width, set] = DIRECTIVES[d]!;
        pieces.push({ kind, width, set, literal: new Uint8Array(0) });
      }
    }
  };
  expand(pattern);
  return pieces;
}

// ------------------------------------------------------------------------------ durations

/** Slots of the bucket cache: durations repeat (nginx writes whole milliseconds), a log each does not have to. */
const BUCKET_CACHE = 4096;

function bump(counts: Map<number, number>, key: number, n: number): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

// ------------------------------------------------------------------------------------ the scanner

/**
 * The head of a format that `ClfScanner.parse` can read: client, ident (nginx's literal `-` or
 * Apache's `%l`), user, `[` CLF time `] "` request `" ` status ` ` bytes. Returns the index of
 * the token after the byte count and whether the ident is the literal `-`, or null.
 */
function clfHead(format: TextFormat): { next: number; dashIdent: boolean } | null {
  const t = format.tokens;
  const field = (i: number, name: string) => {
    const tok = t[i];
    return tok !== undefined && 'field' in tok && tok.field === name && !tok.hostPort && !tok.durationPart ? tok : null;
  };
  const literal = (i: number, text: string) => {
    const tok = t[i];
    return tok !== undefined && 'literal' in tok && tok.literal === text;
  };
  const skipped = (i: number) => {
    const tok = t[i];
    return tok !== undefined && 'field' in tok && tok.field === null;
  };
  if (!field(0, 'client')) return null;
  let i: number;
  let dashIdent: boolean;
  if (literal(1, ' - ')) {
    i = 2;
    dashIdent = true;
  } else if (literal(1, ' ') && skipped(2) && literal(3, ' ')) {
    i = 4;
    dashIdent = false;
  } else return null;
  const time = field(i + 2, 'time');
  const ok =
    field(i, 'user') &&
    literal(i + 1, ' [') &&
    time?.time?.kind === 'clf' &&
    literal(i + 3, '] "') &&
    field(i + 4, 'request') &&
    literal(i + 5, '" ') &&
    field(i + 6, 'status') &&
    literal(i + 7, ' ') &&
    field(i + 8, 'bytes');
  return ok ? { next: i + 9, dashIdent } : null;
}

export class TextScanner extends ClfScanner {
  private readonly lead: Uint8Array;
  private readonly steps: Step[];
  /** A backslash takes the byte after it along (every escape but `none`). */
  private readonly escapes: boolean;
  /** The format begins with the CLF fields (`clfHead`): the literal after the byte count and the first step after it. */
  private readonly head: boolean;
  private readonly dashIdent: boolean;
  private readonly tailLead: Uint8Array = new Uint8Array(0);
  private readonly tailFrom: number = 0;
  /** The format has a duration (sketches are kept) / ALB's duration parts. */
  private readonly timed: boolean;
  private readonly parted: boolean;
  /** Every field after the CLF head is one `tail` reads. */
  private readonly fastTail: boolean = false;
  /** Keep the sketches only rules read: by status class and by vhost. */
  private readonly ruleSketches: boolean;

  // What a line read (valid lines), besides ClfScanner's fields; no object per line.
  /** -1: no client (the `-` key). */
  private clientStart = -1;
  private clientEnd = 0;
  private clientHash = 0;
  /** -1: no vhost. */
  private vhostStart = -1;
  private vhostEnd = 0;
  private vhostHash = 0;
  /**
   * The line's duration and upstream time (ms; NaN: none) and the sum of its ALB parts, in a
   * Float64Array so that they are doubles whatever they hold: as fields, a duration that was an
   * int now and then (`0.000`) made the optimized count bail out, thousands of times a replay.
   */
  private readonly times = Float64Array.of(NaN, NaN, 0);
  private upstreamSeen = false;
  private partNone = false;

  private readonly vhostKeys = new KeyTally();
  protected override readonly keyTables: readonly KeyTally[] = [this.sectionKeys, this.userKeys, this.hostKeys, this.methodKeys, this.vhostKeys];
  protected override readonly fixedKeys = TEXT_FIXED;
  protected override readonly fixedCounts = new Int32Array(TEXT_FIXED.length);

  // Durations of the segment in progress.
  private readonly latency = new Durations();
  private readonly upstreamLatency = new Durations();
  private readonly classLatency = Array.from({ length: CLASSES }, () => new Durations());
  private readonly sectionLatency = new KeyDurations();
  private readonly vhostLatency = new KeyDurations();
  /** Sections that are no bytes of the line, by their index in FIXED. */
  private readonly fixedSectionLatency = FIXED.map(() => new Durations());
  /** The last durations' buckets, by a hash of the duration. */
  private readonly cachedMs = new Float64Array(BUCKET_CACHE).fill(NaN);
  private readonly cachedBucket = new Int32Array(BUCKET_CACHE);

  /** Per step: whether its last value was long (`find`). */
  private readonly longValue: Uint8Array;
  /** Where the first byte of each value at or after `memoFrom[c]` is: `indexOf` a byte once a stretch (see `nextByte`). */
  private readonly memoFrom = new Int32Array(256);
  private readonly memoAt = new Int32Array(256);

  // A strftime time: what its pieces read, and the last local minute converted.
  private readonly captureStart: Int32Array;
  private readonly captureEnd: Int32Array;
  private localKey = -1;
  private localBase = 0;

  /**
   * `ruleSketches` (default true): keep `classLatency` and `vhostLatency`, which only rules read
   * (a run without latency rules leaves them out: two stores a timed line fewer).
   */
  constructor(format: TextFormat, options: { borrowKeys?: boolean; ruleSketches?: boolean } = {}) {
    super(options);
    this.ruleSketches = options.ruleSketches !== false;
    const { lead, steps } = compile(format);
    this.lead = lead;
    this.steps = steps;
    this.escapes = format.escape !== 'none';
    this.timed = format.tokens.some((t) => 'field' in t && t.field === 'duration');
    this.parted = format.tokens.some((t) => 'field' in t && t.durationPart === true);
    const head = clfHead(format);
    this.head = head !== null;
    this.dashIdent = head?.dashIdent ?? false;
    if (head) {
      const after = format.tokens[head.next] as { literal: string } | undefined;
      this.tailLead = after ? utf8.encode(after.literal) : new Uint8Array(0);
      // The steps are one per field: the bytes field is the head's last.
      this.tailFrom = format.tokens.slice(0, head.next).filter((t) => 'field' in t).length;
      this.fastTail = steps.slice(this.tailFrom).every(
        (s) =>
          (s.kind === SKIP || s.kind === VHOST || s.kind === DURATION || s.kind === UPSTREAM) &&
          !s.part &&
          (s.ends === AT_LITERAL || s.ends === AT_LINE_END || s.ends === AT_LIST) &&
          (s.after.length === 0 || s.after[0] !== BACKSLASH),
      );
    }
    const pieces = Math.max(0, ...steps.map((s) => s.pattern.length));
    this.longValue = new Uint8Array(steps.length);
    this.captureStart = new Int32Array(pieces);
    this.captureEnd = new Int32Array(pieces);
  }

  /**
   * Scans bytes holding complete lines ('\n' separated; the last line may lack its '\n'). Never
   * throws. With `borrowKeys`, the segments' keys are valid until the next call only.
   */
  override scan(bytes: Uint8Array): Batch {
    const segments: Segment[] = [];
    let seg: Segment | null = null;
    this.chunk = bytes;
    this.packs.reuse();
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.memoFrom.fill(-1);
    const n = bytes.length;
    let pos = 0;
    while (pos < n) {
      const start = pos;
      let kind = this.line(bytes, start, n);
      pos = this.next;
      if (kind === VALID && this.lineEnd - start > MAX_LINE) kind = INVALID;
      if (kind === BLANK) continue;
      if (kind === INVALID) {
        if (seg === null) segments.push((seg = emptySegment(this.hw)));
        seg.invalid++;
        continue;
      }
      const second = this.second;
      if (second > this.hw) this.hw = second;
      if (seg === null || seg.second !== this.hw) {
        if (seg !== null) this.flush(seg);
        segments.push((seg = emptySegment(this.hw)));
      }
      seg.hits++;
      if (this.runCount > 0 && this.runSecond === second) this.runCount++;
      else {
        if (this.runCount > 0) bump(seg.perSecond, this.runSecond, this.runCount);
        this.runSecond = second;
        this.runCount = 1;
      }
      const status = this.status;
      const statusClass = Math.floor(status / 100);
      seg.status[statusClass]! += 1;
      if (this.codeCounts[status]!++ === 0) this.codesSeen.push(status);
      seg.bytes += this.bytes;
      this.count(bytes, statusClass);
    }
    if (seg !== null) this.flush(seg);
    for (const t of this.keyTables) t.reset();
    if (!this.options.borrowKeys) for (const s of segments) s.keys = ownKeys(s.keys);
    return { segments };
  }

  /** Counts the keys and durations of the valid line just read. */
  private count(b: Uint8Array, statusClass: number): void {
    const cs = this.clientStart;
    if (cs >= 0) this.addKey(this.hostKeys, b, cs, this.clientEnd, this.clientHash);
    else this.fixedCounts[FIXED_NO_CLIENT]!++;
    const us = this.userStart;
    if (us >= 0 && (this.userEnd - us !== 1 || b[us] !== DASH)) this.addKey(this.userKeys, b, us, this.userEnd, this.userHash);
    this.countMethod();
    const fixed = this.sectionConst;
    // A key is kept to MAX_KEY_BYTES bytes, its duration with it.
    let sectionEnd = this.sectionEnd;
    let sectionHash = this.sectionHash;
    if (fixed < 0) {
      if (sectionEnd - this.sectionStart >= MAX_KEY_BYTES) {
        sectionEnd = this.sectionStart + MAX_KEY_BYTES;
        sectionHash = fnv1a(b, this.sectionStart, sectionEnd);
      }
      this.sectionKeys.add(this.view, this.sectionStart, sectionEnd, sectionHash);
    } else this.fixedCounts[fixed]!++;
    const vs = this.vhostStart;
    let vhostEnd = this.vhostEnd;
    let vhostHash = this.vhostHash;
    if (vs >= 0) {
      if (vhostEnd - vs >= MAX_KEY_BYTES) {
        vhostEnd = vs + MAX_KEY_BYTES;
        vhostHash = fnv1a(b, vs, vhostEnd);
      }
      this.vhostKeys.add(this.view, vs, vhostEnd, vhostHash);
    }
    const up = this.times[UPSTREAM_AT]!;
    // Sketch.add takes no infinite duration (a number of 309 digits)
    if (up === up && up !== Infinity) this.upstreamLatency.add(up, this.bucketOf(up));
    const ms = this.times[DURATION_AT]!;
    if (!this.timed || ms !== ms || ms === Infinity) return;
    const bucket = this.bucketOf(ms);
    this.latency.add(ms, bucket);
    if (fixed < 0) this.sectionLatency.get(b, this.sectionStart, sectionEnd, sectionHash).add(ms, bucket);
    else this.fixedSectionLatency[fixed]!.add(ms, bucket);
    if (!this.ruleSketches) return;
    this.classLatency[statusClass]!.add(ms, bucket);
    if (vs >= 0) this.vhostLatency.get(b, vs, vhostEnd, vhostHash).add(ms, bucket);
  }

  /** `bucketOf(ms)`, from the cache when the same duration came lately. */
  private bucketOf(ms: number): number {
    const h = Math.imul((ms * 1021) | 0, 0x9e3779b1);
    const slot = (h ^ (h >>> 15)) & (BUCKET_CACHE - 1);
    if (this.cachedMs[slot] === ms) return this.cachedBucket[slot]!;
    const bucket = bucketOf(ms);
    this.cachedMs[slot] = ms;
    this.cachedBucket[slot] = bucket;
    return bucket;
  }

  /** A method field may end anywhere: ClfScanner's word compare needs the space after it. */
  protected override countMethod(): void {
    const m = this.methodStart;
    if (m >= 0 && (this.methodEnd >= this.chunk.length || this.chunk[this.methodEnd] !== SP)) {
      this.methodKeys.add(this.view, m, this.methodEnd, this.methodHash);
      return;
    }
    super.countMethod();
  }

  /** Moves the segment's counts and durations into it. */
  protected override flush(seg: Segment): void {
    super.flush(seg);
    if (this.latency.count > 0) {
      seg.latency = this.latency.take();
      if (this.ruleSketches) seg.classLatency = this.classLatency.map((d) => (d.count > 0 ? d.take() : undefined));
      const sections = new Map<string, Sketch>();
      this.fixedSectionLatency.forEach((d, i) => d.count > 0 && addSketch(sections, FIXED_NAMES[i]!, d.take()));
      this.sectionLatency.drain(sections);
      seg.sectionLatency = sections;
      if (!this.vhostLatency.empty) {
        const vhosts = new Map<string, Sketch>();
        this.vhostLatency.drain(vhosts);
        seg.vhostLatency = vhosts;
      }
    }
    if (this.upstreamLatency.count > 0) seg.upstream = this.upstreamLatency.take();
  }

  /**
   * Reads the line at b[s..] (up to its '\n' or e): BLANK, INVALID or VALID, with `next` (after
   * its '\n') and, for a valid line, `lineEnd` and the fields.
   */
  private line(b: Uint8Array, s: number, e: number): number {
    if (this.head && this.parse(b, s, e) === VALID && this.headAgrees(b, s)) return VALID;
    let nl = b.indexOf(LF, s);
    if (nl < 0) nl = e;
    this.next = nl < e ? nl + 1 : e;
    const end = nl > s && b[nl - 1] === CR ? nl - 1 : nl;
    this.lineEnd = end;
    let j = s;
    while (j < end && (b[j] === SP || b[j] === TAB)) j++;
    if (j === end) return end - s > MAX_LINE ? INVALID : BLANK;
    this.clientStart = -1;
    this.userStart = -1;
    this.methodStart = -1;
    this.sectionConst = FIXED_NO_REQUEST;
    this.bytes = 0;
    return this.walk(b, s, end, this.lead, 0) ? VALID : INVALID;
  }

  /**
   * After ClfScanner read the head: whether the general walk would read it alike (the checks
   * below), and then the rest of the line.
   */
  private headAgrees(b: Uint8Array, s: number): boolean {
    const hostEnd = this.hostEnd;
    const userStart = this.userStart;
    if (this.dashIdent ? userStart !== hostEnd + 3 || b[hostEnd + 1] !== DASH : false) return false;
    const requestEnd = this.requestEnd;
    if (requestEnd < 0) return false; // a quote inside the request, or not the plain shape
    // A backslash before a separator would take it along.
    if (
      this.escapes &&
      (b[hostEnd - 1] === BACKSLASH || b[userStart - 2] === BACKSLASH || b[this.userEnd - 1] === BACKSLASH || b[requestEnd - 1] === BACKSLASH)
    ) {
      return false;
    }
    this.clientStart = s;
    this.clientEnd = hostEnd;
    this.clientHash = this.hostHash;
    // The chunk's last line, without its '\n': ClfScanner, which reads nothing after the byte
    // count, leaves a '\r' at its end in the line; the reference drops it.
    if (this.next === this.lineEnd && this.lineEnd > this.bytesEnd && b[this.lineEnd - 1] === CR) this.lineEnd--;
    if (this.steps.length === this.tailFrom) return this.bytesEnd === this.lineEnd;
    if (this.fastTail && this.tail(b, this.bytesEnd, this.lineEnd)) return true;
    return this.walk(b, this.bytesEnd, this.lineEnd, this.tailLead, this.tailFrom);
  }

  /**
   * The fields after the CLF head, when they are all skipped fields, a vhost, durations and
   * upstream times ending at a literal, a list or the line's end (`fastTail`): what `walk`
   * reads, with its steps' dispatch unrolled and each value's end found by one pass of bytes
   * (`seek`). True when the line reads to its end and every field is well formed; false leaves
   * the line to `walk` (which then reads it as it always has).
   */
  private tail(b: Uint8Array, p: number, end: number): boolean {
    const lead = this.tailLead;
    const leadLength = lead.length;
    if (p + leadLength > end) return false;
    for (let k = 0; k < leadLength; k++) if (b[p + k] !== lead[k]) return false;
    p += leadLength;
    let vhostStart = -1;
    let vhostEnd = 0;
    let duration = NaN;
    let upstream = NaN;
    let upstreamSeen = false;
    const steps = this.steps;
    for (let i = this.tailFrom; i < steps.length; i++) {
      const step = steps[i]!;
      const after = step.after;
      const len = after.length;
      let q = step.ends === AT_LIST ? listEnd(b, p, end) : step.ends === AT_LINE_END ? end : -1;
      if (q >= 0) {
        if (q + len > end) return false;
        for (let k = 0; k < len; k++) if (b[q + k] !== after[k]) return false;
      } else if (len === 0) q = end; // no list, and last
      else {
        q = this.seek(b, p, end, after);
        if (q < 0) return false;
      }
      const kind = step.kind;
      if (kind === VHOST) {
        if (q === p || (q - p === 1 && b[p] === DASH)) vhostStart = -1;
        else {
          vhostStart = p;
          vhostEnd = q;
        }
      } else if (kind !== SKIP) {
        const ms = step.list ? this.list(b, p, q, step.unit) : this.duration1(b, p, q, step.unit);
        if (ms === ERROR) return false;
        if (kind === DURATION) duration = ms;
        else if (!upstreamSeen) {
          upstreamSeen = true;
          upstream = ms;
        }
      }
      p = q + len;
    }
    if (p !== end) return false;
    this.vhostStart = vhostStart;
    if (vhostStart >= 0) {
      this.vhostEnd = vhostEnd;
      this.vhostHash = fnv1a(b, vhostStart, vhostEnd);
    }
    const times = this.times;
    times[DURATION_AT] = duration;
    times[UPSTREAM_AT] = upstream;
    return true;
  }

  /**
   * The first occurrence of byte c in b[p..end), or -1. A short field is read byte by byte; a
   * long one (`long`: the step's last value was) with the native search, which costs as much as
   * some twenty bytes read here before it reads any.
   */
  private nextByte(b: Uint8Array, p: number, end: number, c: number, long: boolean): number {
    if (!long) {
      const near = p + 24 < end ? p + 24 : end;
      for (; p < near; p++) if (b[p] === c) return p;
    }
    if (p >= end) return -1;
    // Memoized: a line without c must not make every later line search to the chunk's end.
    let at: number;
    const from = this.memoFrom[c]!;
    if (from >= 0 && from <= p && p <= this.memoAt[c]!) at = this.memoAt[c]!;
    else {
      at = b.indexOf(c, p);
      if (at < 0) at = b.length;
      this.memoFrom[c] = p;
      this.memoAt[c] = at;
    }
    return at < end ? at : -1;
  }

  /**
   * Where `lit` first occurs in b[p..end) (a backslash taking the byte after it along), or -1.
   * `step`: whose value this is (the length of its last value chooses the search).
   */
  private find(b: Uint8Array, p: number, end: number, lit: Uint8Array, step: number): number {
    const q = this.findFrom(b, p, end, lit, this.longValue[step] === 1);
    if (q >= 0) this.longValue[step] = q - p > 24 ? 1 : 0;
    return q;
  }

  /**
   * Where `lit` (its first byte no backslash) first occurs in b[p..end), a backslash taking the
   * byte after it along (with escapes), or -1: `findFrom`'s answer, by one pass of bytes.
   */
  private seek(b: Uint8Array, p: number, end: number, lit: Uint8Array): number {
    const c0 = lit[0]!;
    const len = lit.length;
    const last = end - len;
    // Four bytes at a time up to the first word that holds c0 or a backslash (`hasByte`).
    const view = this.view;
    const c0s = Math.imul(c0, 0x01010101);
    const stop = (this.escapes ? BACKSLASHES : c0s) | 0;
    let from = p;
    while (from + 4 <= end) {
      const w = view.getInt32(from, true);
      if (hasByte(w ^ c0s) || hasByte(w ^ stop)) break;
      from += 4;
    }
    if (this.escapes) {
      for (let q = from; q <= last; q++) {
        const c = b[q]!;
        if (c === c0) {
          let k = 1;
          while (k < len && b[q + k] === lit[k]) k++;
          if (k === len) return q;
        } else if (c === BACKSLASH) q++;
      }
    } else {
      for (let q = from; q <= last; q++) {
        if (b[q] === c0) {
          let k = 1;
          while (k < len && b[q + k] === lit[k]) k++;
          if (k === len) return q;
        }
      }
    }
    return -1;
  }

  private findFrom(b: Uint8Array, p: number, end: number, lit: Uint8Array, long: boolean): number {
    const len = lit.length;
    const c0 = lit[0]!;
    const last = end - len;
    let q = p;
    for (;;) {
      q = this.nextByte(b, q, end, c0, long);
      if (q < 0 || q > last) return -1;
      if (this.escapes && q > p && b[q - 1] === BACKSLASH) {
        let r = q - 1;
        while (r > p && b[r - 1] === BACKSLASH) r--;
        if (((q - r) & 1) === 1) {
          q++;
          continue;
        }
      }
      let k = 1;
      while (k < len && b[q + k] === lit[k]) k++;
      if (k === len) return q;
      q++;
    }
  }

  /**
   * Walks `steps` from `from` over b[p..end) (one line, without its '\n'), `lead` first; sets
   * the fields. True when the line reads to its end and every field is well formed.
   */
  private walk(b: Uint8Array, p: number, end: number, lead: Uint8Array, from: number): boolean {
    this.vhostStart = -1;
    const times = this.times;
    times[DURATION_AT] = NaN;
    times[UPSTREAM_AT] = NaN;
    times[PART_SUM_AT] = 0;
    this.upstreamSeen = false;
    this.partNone = false;
    const leadLength = lead.length;
    if (leadLength > 0) {
      if (p + leadLength > end) return false;
      for (let k = 0; k < leadLength; k++) if (b[p + k] !== lead[k]) return false;
      p += leadLength;
    }
    const steps = this.steps;
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      const after = step.after;
      let q = -1;
      switch (step.ends) {
        case AT_LINE_END:
          q = end;
          break;
        case AT_CLF_TIME:
          q = p + CLF_TIME;
          if (q > end) return false;
          break;
        case AT_PATTERN:
          q = this.strftimeEnd(b, p, end, step.pattern, 0);
          if (q < 0) return false;
          break;
        case AT_LIST:
          q = listEnd(b, p, end);
          if (q < 0 && after.length === 0) q = end; // no list, and last
          break;
      }
      if (q < 0) {
        // AT_LITERAL (or a list that is none): the literal after it ends it, and is there
        q = this.find(b, p, end, after, step.index);
        if (q < 0) return false;
        if (step.kind !== SKIP && !this.read(step, b, p, q)) return false;
        p = q + after.length;
        continue;
      }
      if (step.kind !== SKIP && !this.read(step, b, p, q)) return false;
      // A value of its own length: the literal after it must follow.
      const len = after.length;
      if (q + len > end) return false;
      for (let k = 0; k < len; k++) if (b[q + k] !== after[k]) return false;
      p = q + len;
    }
    if (p !== end) return false;
    if (this.parted) times[DURATION_AT] = this.partNone ? NaN : times[PART_SUM_AT]!;
    return true;
  }

  /** Reads one field's value b[p..q) into the line's fields; false when it is malformed. */
  private read(step: Step, b: Uint8Array, p: number, q: number): boolean {
    switch (step.kind) {
      case SKIP:
        return true;
      case CLIENT:
        if (step.hostPort) this.hostPort(b, p, q);
        else this.setClient(b, p, q);
        return true;
      case USER:
        if (q === p || (q - p === 1 && b[p] === DASH)) this.userStart = -1;
        else {
          this.userStart = p;
          this.userEnd = q;
          this.userHash = fnv1a(b, p, q);
        }
        return true;
      case VHOST:
        if (q === p || (q - p === 1 && b[p] === DASH)) this.vhostStart = -1;
        else {
          this.vhostStart = p;
          this.vhostEnd = q;
          this.vhostHash = fnv1a(b, p, q);
        }
        return true;
      case REQUEST:
        this.request(b, p, q);
        return true;
      case METHOD: {
        let m = p;
        while (m < q && METHOD_CHAR[b[m]!] === 1) m++;
        if (m === q && q - p >= 1 && q - p <= MAX_METHOD && !(q - p === 1 && b[p] === DASH)) {
          this.methodStart = p;
          this.methodEnd = q;
          this.methodHash = fnv1a(b, p, q);
        } else this.methodStart = -1;
        return true;
      }
      case URI:
        if (q === p || (q - p === 1 && b[p] === DASH)) this.sectionConst = FIXED_NO_REQUEST;
        else this.section(b, p, q);
        return true;
      case STATUS: {
        if (q - p !== 3 || !isDigit(b[p]!) || !isDigit(b[p + 1]!) || !isDigit(b[p + 2]!)) return false;
        const status = (b[p]! - 48) * 100 + (b[p + 1]! - 48) * 10 + (b[p + 2]! - 48);
        if (status < 100 || status > 599) return false;
        this.status = status;
        return true;
      }
      case BYTES: {
        if (q - p === 1 && b[p] === DASH) {
          this.bytes = 0;
          return true;
        }
        if (q === p || q - p > MAX_DIGITS) return false;
        let count = 0;
        for (let i = p; i < q; i++) {
          const c = b[i]!;
          if (!isDigit(c)) return false;
          count = count * 10 + (c - 48);
        }
        this.bytes = count;
        return true;
      }
      case DURATION:
      case UPSTREAM: {
        const ms = step.list ? this.list(b, p, q, step.unit) : this.duration1(b, p, q, step.unit);
        if (ms === ERROR) return false;
        const times = this.times;
        if (step.part) {
          if (ms !== ms) this.partNone = true;
          else times[PART_SUM_AT]! += ms;
          if (step.kind === DURATION) return true;
        }
        if (step.kind === DURATION) times[DURATION_AT] = ms;
        else if (!this.upstreamSeen) {
          this.upstreamSeen = true;
          times[UPSTREAM_AT] = ms;
        }
        return true;
      }
      case TIME: {
        const second = this.time(step, b, p, q);
        if (second !== second) return false;
        this.second = second;
        return true;
      }
    }
    return true;
  }

  private setClient(b: Uint8Array, p: number, q: number): void {
    if (q === p) this.clientStart = -1;
    else {
      this.clientStart = p;
      this.clientEnd = q;
      this.clientHash = fnv1a(b, p, q);
    }
  }

  /** `stripPort`: `v4:port` → v4, `[v6]:port` and `[v6]` → v6; anything else whole. */
  private hostPort(b: Uint8Array, p: number, q: number): void {
    if (q > p && b[p] === LBRACKET) {
      let close = p + 1;
      while (close < q && b[close] !== RBRACKET) close++;
      if (close < q && (close === q - 1 || (b[close + 1] === COLON && allDigits(b, close + 2, q)))) {
        this.setClient(b, p + 1, close);
        return;
      }
      this.setClient(b, p, q);
      return;
    }
    let colon = -1;
    let colons = 0;
    for (let i = p; i < q; i++) {
      if (b[i] === COLON) {
        if (colons++ === 0) colon = i;
      }
    }
    if (colons === 1 && colon > p && allDigits(b, colon + 1, q)) this.setClient(b, p, colon);
    else this.setClient(b, p, q);
  }

  /** A duration: `-` or empty is none (NaN), a negative number too; ERROR for anything but a number. */
  private duration1(b: Uint8Array, p: number, q: number, unit: Unit): number {
    if (q === p || (q - p === 1 && b[p] === DASH)) return NaN;
    const n = decimal(b, p, q);
    if (n !== n) return ERROR;
    return n < 0 ? NaN : toMs(n, unit);
  }

  /** nginx's list of upstream times, `, ` and ` : ` between them: the sum of its numbers (`-` parts are none). */
  private list(b: Uint8Array, p: number, q: number, unit: Unit): number {
    if (q === p || (q - p === 1 && b[p] === DASH)) return NaN;
    // One item (the common case: no retry): what the loop below makes of it, in one pass.
    let one = p;
    for (let c = 0; one < q && (c = b[one]!) !== 44 && c !== COLON && c <= 127; ) one++;
    if (one === q) {
      let s = p;
      let t = q;
      while (s < t && isSpace(b[s]!)) s++;
      while (t > s && isSpace(b[t - 1]!)) t--;
      if (t - s === 1 && b[s] === DASH) return NaN;
      const n = decimal(b, s, t);
      if (n !== n) return ERROR;
      return n < 0 ? NaN : 0 + toMs(n, unit); // 0 + : a sum, as the loop's (−0 is 0)
    }
    for (let i = p; i < q; i++) if (b[i]! > 127) return listOfString(textOf(b, p, q), unit);
    let total = 0;
    let any = false;
    let i = p;
    for (;;) {
      let j = i;
      while (j < q && b[j] !== 44 && b[j] !== COLON) j++; // ',' ':'
      let s = i;
      let t = j;
      while (s < t && isSpace(b[s]!)) s++;
      while (t > s && isSpace(b[t - 1]!)) t--;
      if (!(t - s === 1 && b[s] === DASH)) {
        const n = decimal(b, s, t);
        if (n !== n) return ERROR;
        if (!(n < 0)) {
          total += toMs(n, unit);
          any = true;
        }
      }
      if (j === q) break;
      i = j + 1;
    }
    return any ? total : NaN;
  }

  /** The second of a time value b[p..q), NaN when it is none. */
  private time(step: Step, b: Uint8Array, p: number, q: number): number {
    switch (step.time) {
      case TIME_CLF:
        return this.timestamp(b, p);
      case TIME_ISO:
        return isoSecond(b, p, q);
      case TIME_EPOCH:
        return epochSecond(b, p, q, step.drop);
      default:
        return this.strftimeSecond(b, step.pattern);
    }
  }

  /**
   * Matches `pieces` from piece k at b[i..end), as the reference's regex does (greedy, and back
   * again when what follows does not match); the captures land in captureStart/End. The end
   * of the match, or -1.
   */
  private strftimeEnd(b: Uint8Array, i: number, end: number, pieces: Piece[], k: number): number {
    if (k === pieces.length) return i;
    const piece = pieces[k]!;
    switch (piece.kind) {
      case P_LITERAL: {
        const lit = piece.literal;
        if (i + lit.length > end) return -1;
        for (let x = 0; x < lit.length; x++) if (b[i + x] !== lit[x]) return -1;
        return this.strftimeEnd(b, i + lit.length, end, pieces, k + 1);
      }
      case P_DIGITS: {
        const w = piece.width;
        if (i + w > end) return -1;
        for (let x = 0; x < w; x++) if (!isDigit(b[i + x]!)) return -1;
        return this.capture(b, i, i + w, end, pieces, k);
      }
      case P_MONTH_NAME: {
        if (i + 3 > end) return -1;
        for (let x = 0; x < 3; x++) {
          const c = b[i + x]! | 32;
          if (c < 97 || c > 122) return -1;
        }
        return this.capture(b, i, i + 3, end, pieces, k);
      }
      case P_DAY_SPACE: {
        for (let space = i < end && b[i] === SP ? 1 : 0; space >= 0; space--) {
          const d = i + space;
          for (let w = 2; w >= 1; w--) {
            if (d + w > end || !isDigit(b[d]!) || (w === 2 && !isDigit(b[d + 1]!))) continue;
            const r = this.capture(b, d, d + w, end, pieces, k);
            if (r >= 0) return r;
          }
        }
        return -1;
      }
      case P_ZONE: {
        const c = b[i];
        if (i < end && (c === 43 || c === DASH) && i + 3 <= end && isDigit(b[i + 1]!) && isDigit(b[i + 2]!)) {
          if (i + 6 <= end && b[i + 3] === COLON && isDigit(b[i + 4]!) && isDigit(b[i + 5]!)) {
            const r = this.capture(b, i, i + 6, end, pieces, k);
            if (r >= 0) return r;
          }
          if (i + 5 <= end && isDigit(b[i + 3]!) && isDigit(b[i + 4]!)) {
            const r = this.capture(b, i, i + 5, end, pieces, k);
            if (r >= 0) return r;
          }
        }
        if (i < end && c === 90) return this.capture(b, i, i + 1, end, pieces, k); // 'Z'
        return -1;
      }
      default: {
        // P_EPOCH: \d+, the longest first
        let j = i;
        while (j < end && isDigit(b[j]!)) j++;
        for (; j > i; j--) {
          const r = this.capture(b, i, j, end, pieces, k);
          if (r >= 0) return r;
        }
        return -1;
      }
    }
  }

  private capture(b: Uint8Array, start: number, end: number, lineEnd: number, pieces: Piece[], k: number): number {
    const r = this.strftimeEnd(b, end, lineEnd, pieces, k + 1);
    if (r >= 0) {
      this.captureStart[k] = start;
      this.captureEnd[k] = end;
    }
    return r;
  }

  /** The second of the strftime time just matched (its captures), NaN when it is no instant. */
  private strftimeSecond(b: Uint8Array, pieces: Piece[]): number {
    let year = 1970;
    let month = 1;
    let day = 1;
    let hour = 0;
    let minute = 0;
    let second = 0;
    let offset = NaN;
    let epoch = NaN;
    for (let k = 0; k < pieces.length; k++) {
      const set = pieces[k]!.set;
      if (set === S_NONE) continue;
      const s = this.captureStart[k]!;
      const e = this.captureEnd[k]!;
      switch (set) {
        case S_EPOCH:
          epoch = e - s > MAX_DIGITS ? Number(textOf(b, s, e)) : digits(b, s, e);
          break;
        case S_MON: {
          const code = (b[s]! << 16) | (b[s + 1]! << 8) | b[s + 2]!;
          const m = MONTH_CODES.indexOf(code);
          if (m < 0) return NaN;
          month = m + 1;
          break;
        }
        case S_YEAR2: {
          const y = digits(b, s, e);
          year = y < 69 ? 2000 + y : 1900 + y;
          break;
        }
        case S_ZONE: {
          if (b[s] === 90) offset = 0;
          else {
            const hours = digits(b, s + 1, s + 3);
            const minutes = digits(b, e - 2, e);
            if (hours > 14 || minutes > 59) return NaN;
            offset = (hours * 3600 + minutes * 60) * (b[s] === 43 ? 1 : -1);
          }
          break;
        }
        case S_DAY:
          day = digits(b, s, e);
          break;
        case S_MONTH:
          month = digits(b, s, e);
          break;
        case S_YEAR:
          year = digits(b, s, e);
          break;
        case S_HOUR:
          hour = digits(b, s, e);
          break;
        case S_MINUTE:
          minute = digits(b, s, e);
          break;
        case S_SECOND:
          second = digits(b, s, e);
          break;
      }
    }
    if (epoch === epoch) return epoch;
    if (offset === offset) return civilSecond(year, month, day, hour, minute, second, offset);
    if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return NaN;
    // No zone: the local time of this process, as the reference has it (Date's rules and all);
    // a minute's seconds follow each other, so Date is asked once a minute.
    const key = (((year * 13 + month) * 32 + day) * 24 + hour) * 60 + minute;
    if (key !== this.localKey) {
      const local = new Date(year, month - 1, day, hour, minute, 0).getTime();
      this.localKey = key;
      this.localBase = Number.isNaN(local) ? NaN : Math.floor(local / 1000);
    }
    return this.localBase + second;
  }
}

/**
 * A list item at b[i..end) (a number, `-`, an address such as `10.0.0.1:80`, `[::1]:80` or
 * `unix:/tmp/sock`, a server group's name: letters, digits and `._:/[]%-`, as the reference's
 * UPSTREAM_LIST): where it ends, or -1.
 */
function listItemEnd(b: Uint8Array, i: number, end: number): number {
  const start = i;
  while (i < end && LIST_ITEM[b[i]!] === 1) i++;
  return i === start ? -1 : i;
}

/** The bytes of a list item (`listItemEnd`). */
const LIST_ITEM = new Uint8Array(256);
for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._:/[]%-') LIST_ITEM[c.charCodeAt(0)] = 1;

/**
 * Where an nginx upstream list (times, addresses, statuses…) at b[p..end) ends: items (`listItemEnd`) separated by
 * `, ` or ` : `, as many as there are; -1 when it does not start with one.
 */
function listEnd(b: Uint8Array, p: number, end: number): number {
  let q = listItemEnd(b, p, end);
  if (q < 0) return -1;
  for (;;) {
    let next = -1;
    if (q + 2 < end && b[q] === 44 && b[q + 1] === SP) next = listItemEnd(b, q + 2, end);
    else if (q + 3 < end && b[q] === SP && b[q + 1] === COLON && b[q + 2] === SP) next = listItemEnd(b, q + 3, end);
    if (next < 0) return q;
    q = next;
  }
}

// Where `TextScanner.times` keeps the line's duration, upstream time and sum of duration parts.
const DURATION_AT = 0;
const UPSTREAM_AT = 1;
const PART_SUM_AT = 2;

/** Four backslashes, a word of them (`seek`). */
const BACKSLASHES = 0x5c5c5c5c;

/** Whether one of the four bytes of x is zero. */
const hasByte = (x: number) => ((x - 0x01010101) & ~x & 0x80808080) !== 0;

/** What `duration1` and `list` say of a value that is no number. */
const ERROR = -1;

function allDigits(b: Uint8Array, p: number, q: number): boolean {
  for (let i = p; i < q; i++) if (!isDigit(b[i]!)) return false;
  return true;
}

/** The number of ASCII digits b[p..q) (the caller checked they are digits, at most 15). */
function digits(b: Uint8Array, p: number, q: number): number {
  let n = 0;
  for (let i = p; i < q; i++) n = n * 10 + (b[i]! - 48);
  return n;
}

/**
 * b[p..q) as `Number` reads `-?(\d+(\.\d*)?|\.\d+)`, the same double (digits over a power of
 * ten, both exact, divide with one rounding); NaN for anything else.
 */
function decimal(b: Uint8Array, p: number, q: number): number {
  let i = p;
  const negative = i < q && b[i] === DASH;
  if (negative) i++;
  let mantissa = 0;
  let whole = 0;
  let c = 0;
  while (i < q && isDigit((c = b[i]!))) {
    mantissa = mantissa * 10 + (c - 48);
    whole++;
    i++;
  }
  let fraction = -1;
  if (i < q && b[i] === DOT) {
    fraction = 0;
    i++;
    while (i < q && isDigit((c = b[i]!))) {
      mantissa = mantissa * 10 + (c - 48);
      fraction++;
      i++;
    }
  }
  if (i !== q || (whole === 0 && fraction < 1)) return NaN;
  let n: number;
  if (whole + Math.max(fraction, 0) > MAX_DIGITS) n = Number(textOf(b, negative ? p + 1 : p, q));
  else n = fraction > 0 ? mantissa / POW10[fraction]! : mantissa;
  return negative ? -n : n;
}

/** The reference's list rule on a string (a value with bytes over 127, whose spaces may be Unicode's). */
function listOfString(text: string, unit: Unit): number {
  let total = 0;
  let any = false;
  for (const part of text.split(/[,:]/)) {
    const p = part.trim();
    if (p === '-') continue;
    if (!/^-?(?:\d+(?:\.\d*)?|\.\d+)$/.test(p)) return ERROR;
    const n = Number(p);
    if (n < 0) continue;
    total += toMs(n, unit);
    any = true;
  }
  return any ? total : NaN;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function civilSecond(year: number, month: number, day: number, hour: number, minute: number, second: number, offset: number): number {
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return NaN;
  return daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
}

/** `2000-10-10T13:55:36-07:00`: a fraction (`.` or `,`), `Z`, `±hh`, `±hhmm` or `±hh:mm`; NaN for anything else. */
function isoSecond(b: Uint8Array, p: number, q: number): number {
  if (q - p < 20) return NaN;
  const two = (i: number) => (isDigit(b[i]!) && isDigit(b[i + 1]!) ? (b[i]! - 48) * 10 + (b[i + 1]! - 48) : -1);
  const yearHi = two(p);
  const yearLo = two(p + 2);
  const month = two(p + 5);
  const day = two(p + 8);
  const hour = two(p + 11);
  const minute = two(p + 14);
  const second = two(p + 17);
  if (yearHi < 0 || yearLo < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return NaN;
  if (b[p + 4] !== DASH || b[p + 7] !== DASH || b[p + 10] !== 84 || b[p + 13] !== COLON || b[p + 16] !== COLON) return NaN;
  let i = p + 19;
  if (b[i] === DOT || b[i] === 44) {
    const digitsStart = ++i;
    while (i < q && isDigit(b[i]!)) i++;
    if (i === digitsStart) return NaN;
  }
  if (i >= q) return NaN;
  let offset = 0;
  const sign = b[i];
  if (sign === 90 && i + 1 === q) offset = 0; // 'Z'
  else if (sign === 43 || sign === DASH) {
    const hours = i + 3 <= q ? two(i + 1) : -1;
    if (hours < 0) return NaN;
    let minutes = 0;
    if (i + 3 === q) minutes = 0;
    else if (i + 5 === q) minutes = two(i + 3);
    else if (i + 6 === q && b[i + 3] === COLON) minutes = two(i + 4);
    else return NaN;
    if (minutes < 0 || hours > 14 || minutes > 59) return NaN;
    offset = (hours * 3600 + minutes * 60) * (sign === 43 ? 1 : -1);
  } else return NaN;
  return civilSecond(yearHi * 100 + yearLo, month, day, hour, minute, second, offset);
}

/** A number since the epoch (`\d+(\.\d+)?`) with `drop` digits below the second: its whole seconds; NaN for anything else. */
function epochSecond(b: Uint8Array, p: number, q: number, drop: number): number {
  let i = p;
  while (i < q && isDigit(b[i]!)) i++;
  const whole = i;
  if (whole === p) return NaN;
  if (i < q) {
    if (b[i] !== DOT) return NaN;
    i++;
    const fraction = i;
    while (i < q && isDigit(b[i]!)) i++;
    if (i === fraction || i !== q) return NaN;
  }
  const kept = whole - p - drop;
  if (kept <= 0) return 0;
  return kept > MAX_DIGITS ? Number(textOf(b, p, p + kept)) : digits(b, p, p + kept);
}
