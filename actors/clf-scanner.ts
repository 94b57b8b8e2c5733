/**
 * A hand-written byte scanner for the Common Log Format and the combined format:
 *
 *   127.0.0.1 - james [09/May/2018:16:00:39 +0000] "GET /report HTTP/1.0" 200 123 "referer" "ua"
 *
 * `ClfScanner.scan` walks a chunk of complete lines with index arithmetic on the bytes: no regex,
 * no backtracking, no per-line object or string. The keys it counts (host, user, method, section)
 * are counted by their bytes (lib/byte-keys), hashed while they are scanned, and a segment
 * carries them packed: no string is made here at all. `parseLine` is a deliberately plain,
 * regex-based parser of one line that the tests hold the scanner to; `sectionOf` is the section
 * rule on a string.
 *
 * Grammar, as both parsers read it (fields are separated by exactly one space):
 *
 *   line     = host SP ident SP authuser SP "[" timestamp "]" SP DQUOTE request DQUOTE SP status SP bytes [ (SP / TAB) anything ]
 *   host, ident, authuser = 1*(any byte but SP)
 *   timestamp = dd "/" Mon "/" yyyy ":" HH ":" MM ":" SS SP ("+" / "-") zzzz        (exactly 26 bytes)
 *   request  = anything; it ends at the first DQUOTE followed by SP, 3 digits and SP
 *   status   = 3 digits, 100..599
 *   bytes    = "-" / 1*15 digits
 *
 * A request of the shape `METHOD SP target [SP protocol]` gives a method and a section; any other
 * request (`-`, empty, TLS bytes sent to an HTTP port) is still a hit, under `(none)` and
 * `(no request)`.
 */
import { FNV_PRIME, FNV_SEED, fixedKey, fnv1a, KeyTally, MAX_KEY_BYTES, ownKeys, pack, PackBuffer, type FixedKey } from '../lib/byte-keys';
import { emptySegment, type Batch, type Segment } from './messages';

/** Lines longer than this many bytes (without '\n' and a trailing '\r') are invalid. */
export const MAX_LINE = 65536;

/** One parsed line, as `parseLine` gives it. */
export interface Entry {
  host: string;
  /** null for `-`. */
  user: string | null;
  /** Unix seconds (UTC) of the line's own timestamp. */
  second: number;
  method: string;
  section: string;
  status: number;
  bytes: number;
}

export const NO_METHOD = '(none)';
export const NO_REQUEST = '(no request)';
export const NOT_A_PATH = '(not a path)';

const TAB = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const QUOTE = 34;
const HASH = 35;
const PLUS = 43;
const DASH = 45;
const SLASH = 47;
const COLON = 58;
const QMARK = 63;
const LBRACKET = 91;
const RBRACKET = 93;

/** Length of `09/May/2018:16:00:39 +0000`. */
const TS_LEN = 26;
/** Bytes of a byte count: more digits than this could lose precision in a double. */
const MAX_BYTES_DIGITS = 15;
const MAX_METHOD = 32;
/** `HTTP` and `/1.1` (or `/1.0`, with bit 24 set) as little-endian 32-bit words. */
const HTTP_WORD = 0x50545448;
const VERSION_WORD = 0x312e312f;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_CODES = Int32Array.from(
  MONTHS,
  (m) => (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2),
);
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** 1 for the bytes a method may hold: A-Z, a-z, '-', '_'. */
const METHOD_CHAR = new Uint8Array(256);
for (let c = 65; c <= 90; c++) METHOD_CHAR[c] = METHOD_CHAR[c + 32] = 1;
METHOD_CHAR[DASH] = METHOD_CHAR[95] = 1;

/** 1 for the bytes that end a path's section in a request: '/', '?', '#', SP, '"', '\n'. */
const SECTION_STOP = new Uint8Array(256);
for (const c of [SLASH, QMARK, HASH, SP, QUOTE, LF]) SECTION_STOP[c] = 1;
/** 1 for the bytes that end a request's target or protocol: SP, '"', '\n'. */
const TOKEN_STOP = new Uint8Array(256);
for (const c of [SP, QUOTE, LF]) TOKEN_STOP[c] = 1;

/** What `parse` says of a line. */
export const BLANK = 0;
export const INVALID = 1;
export const VALID = 2;

/** Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12), integers only. */
export function daysFromCivil(y: number, m: number, d: number): number {
  if (m <= 2) y -= 1;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400; // 0..399
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1; // 0..365
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy; // 0..146096
  return era * 146097 + doe - 719468;
}

/** Two ASCII digits at b[i], b[i+1] as a number, or -1. The caller has checked the bounds. */
function twoDigits(b: Uint8Array, i: number): number {
  const hi = b[i]! - 48;
  const lo = b[i + 1]! - 48;
  return hi >= 0 && hi <= 9 && lo >= 0 && lo <= 9 ? hi * 10 + lo : -1;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Keys counted in plain counters, not in a tally, and packed with the segment's keys: the
 * commonest methods (a tally call a line costs as much as the host's; each is known by its first
 * four bytes, read as one word: a three-letter method's fourth byte is the space that ends it),
 * and the keys that are not bytes of the line.
 */
const COMMON = ['GET', 'POST', 'PUT', 'HEAD'];
export const FIXED = [
  ...COMMON.map((m) => fixedKey('methods', m)),
  fixedKey('methods', NO_METHOD),
  fixedKey('sections', NO_REQUEST),
  fixedKey('sections', NOT_A_PATH),
  fixedKey('sections', '/'),
];
export const [GET, POST, PUT, HEAD_METHOD, FIXED_NO_METHOD, FIXED_NO_REQUEST, FIXED_NOT_A_PATH, FIXED_ROOT] = [...FIXED.keys()] as [
  number, number, number, number, number, number, number, number,
];
const firstWord = (method: string) => Buffer.from(method.padEnd(4, ' ')).readInt32LE(0);
const [GET_WORD, POST_WORD, PUT_WORD, HEAD_WORD] = COMMON.map(firstWord) as [number, number, number, number];
const [GET_HASH, POST_HASH, PUT_HASH, HEAD_HASH] = COMMON.map((m) => fnv1a(Buffer.from(m), 0, m.length)) as [number, number, number, number];

function bump<K>(counts: Map<K, number>, key: K, n = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

export class ClfScanner {
  protected hw = -Infinity;

  /**
   * `borrowKeys`: pack every chunk's segments' keys into one reused buffer, so that they are
   * valid only until the next `scan` (the parser's scanners: the consumers read a batch while it
   * is delivered, and those that keep a segment longer keep `ownKeys` of it). Without it, each
   * segment's keys are its own.
   */
  constructor(protected readonly options: { borrowKeys?: boolean } = {}) {}

  // The last valid timestamp's bytes and second: most lines repeat the previous line's second.
  /** The cached timestamp as six 32-bit words and a 16-bit tail: 7 loads instead of 26. */
  private readonly tsWords = new Int32Array(7);
  protected view: DataView = new DataView(new ArrayBuffer(0));
  private tsCached = false;
  private tsSecond = 0;

  // What `parse` found on the current line (valid lines only); no object per line.
  protected second = 0;
  protected status = 0;
  protected bytes = 0;
  /** Where the valid line just parsed ends (before any '\r'), and where the next one starts. */
  protected lineEnd = 0;
  protected next = 0;
  protected hostEnd = 0;
  protected userStart = 0;
  protected userEnd = 0;
  // FNV-1a hashes of the keys, made while scanning them.
  protected hostHash = 0;
  protected userHash = 0;
  protected methodHash = 0;
  protected sectionHash = 0;
  /** -1: no method (the request did not have the shape). */
  protected methodStart = -1;
  protected methodEnd = 0;
  protected sectionStart = 0;
  protected sectionEnd = 0;
  /** A fixed section (`(no request)`, `(not a path)`, `/`: its index in FIXED), or -1 for the bytes above. */
  protected sectionConst = -1;
  /** Where the byte count ends: the combined fields (or a TextScanner's others) follow from here. */
  protected bytesEnd = 0;
  /** Where a request of the plain shape (`plainRequest`: no quote inside) ends; -1 for any other. */
  protected requestEnd = -1;

  // The current segment's keys, in KEY_KINDS order, packed into it when it ends.
  protected readonly sectionKeys = new KeyTally();
  protected readonly userKeys = new KeyTally();
  protected readonly hostKeys = new KeyTally();
  protected readonly methodKeys = new KeyTally();
  protected readonly keyTables: readonly KeyTally[] = [this.sectionKeys, this.userKeys, this.hostKeys, this.methodKeys];
  /** Lines of the segment in progress by status code, and the codes counted (in first-seen order). */
  protected readonly codeCounts = new Int32Array(600);
  protected readonly codesSeen: number[] = [];
  /**
   * Lines of the segment in progress by status class, added to its `status` in `flush`: the
   * first write into a new segment's array literal changes the array's kind, which cost the scan
   * loop a deoptimisation a segment when it wrote there a line.
   */
  private readonly classCounts = new Int32Array(6);
  /** Lines of the segment in progress by FIXED key. */
  protected readonly fixedCounts = new Int32Array(FIXED.length);
  /** The keys `fixedCounts` counts (a subclass may add some after these). */
  protected readonly fixedKeys: readonly FixedKey[] = FIXED;
  /** The chunk being scanned: the tallies' keys are bytes of it. */
  protected chunk: Uint8Array = new Uint8Array(0);
  /** Where segments' keys are packed: a segment's are valid until the next `scan` (see PackBuffer). */
  protected readonly packs = new PackBuffer();
  // perSecond of the current segment, run-length: consecutive lines mostly share their second.
  protected runSecond = 0;
  protected runCount = 0;

  /** High-water second: the newest valid timestamp seen so far (Unix seconds), -Infinity before any. */
  get highWater(): number {
    return this.hw;
  }

  /**
   * Scans bytes holding complete lines ('\n' separated; the last line may lack its '\n' and is
   * then still a complete line). Never throws. With `borrowKeys`, the segments' keys are valid
   * until the next call only.
   */
  scan(bytes: Uint8Array): Batch {
    const segments: Segment[] = [];
    let seg: Segment | null = null;
    this.chunk = bytes;
    this.packs.reuse();
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = bytes.length;
    let pos = 0;
    while (pos < n) {
      const start = pos;
      // A valid line tells where it ends (its byte count is followed by the newline, or by the
      // combined format's fields); only other lines need a search for their newline.
      let kind = this.parse(bytes, start, n);
      if (kind === VALID) {
        pos = this.next;
        if (this.lineEnd - start > MAX_LINE) kind = INVALID;
      } else {
        const nl = bytes.indexOf(LF, start);
        pos = nl < 0 ? n : nl + 1;
      }
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
      this.classCounts[statusClass >= 1 && statusClass <= 5 ? statusClass : 0]!++;
      if (this.codeCounts[status]!++ === 0) this.codesSeen.push(status);
      seg.bytes += this.bytes;
      this.addKey(this.hostKeys, bytes, start, this.hostEnd, this.hostHash);
      const userStart = this.userStart;
      if (this.userEnd - userStart !== 1 || bytes[userStart] !== DASH) {
        this.addKey(this.userKeys, bytes, userStart, this.userEnd, this.userHash);
      }
      this.countMethod();
      const fixed = this.sectionConst;
      if (fixed < 0) this.addKey(this.sectionKeys, bytes, this.sectionStart, this.sectionEnd, this.sectionHash);
      else this.fixedCounts[fixed]!++;
    }
    if (seg !== null) this.flush(seg);
    for (const t of this.keyTables) t.reset();
    if (!this.options.borrowKeys) for (const s of segments) s.keys = ownKeys(s.keys);
    return { segments };
  }

  /** Counts a key of the line; one of MAX_KEY_BYTES or more is kept to that many bytes. */
  protected addKey(tally: KeyTally, bytes: Uint8Array, start: number, end: number, hash: number): void {
    if (end - start >= MAX_KEY_BYTES) {
      end = start + MAX_KEY_BYTES;
      hash = fnv1a(bytes, start, end);
    }
    tally.add(this.view, start, end, hash);
  }

  /** Counts the line's method: a common one in its counter, any other in the method tally. */
  protected countMethod(): void {
    const m = this.methodStart;
    const fixed = this.fixedCounts;
    if (m < 0) {
      fixed[FIXED_NO_METHOD]!++;
      return;
    }
    // A method is followed by a space and a target: its first four bytes are always there.
    const w = this.view.getInt32(m, true);
    const len = this.methodEnd - m;
    if (w === GET_WORD) fixed[GET]!++;
    else if (w === POST_WORD && len === 4) fixed[POST]!++;
    else if (w === PUT_WORD) fixed[PUT]!++;
    else if (w === HEAD_WORD && len === 4) fixed[HEAD_METHOD]!++;
    else this.methodKeys.add(this.view, m, this.methodEnd, this.methodHash);
  }

  /** Moves the counts held back while scanning into `seg`. */
  protected flush(seg: Segment): void {
    if (this.runCount > 0) bump(seg.perSecond, this.runSecond, this.runCount);
    this.runCount = 0;
    for (const code of this.codesSeen) {
      seg.codes.set(code, this.codeCounts[code]!);
      this.codeCounts[code] = 0;
    }
    this.codesSeen.length = 0;
    const classes = this.classCounts;
    for (let c = 0; c < 6; c++) {
      if (classes[c] !== 0) {
        seg.status[c]! += classes[c]!;
        classes[c] = 0;
      }
    }
    seg.keys = pack(this.packs, this.chunk, this.keyTables, this.fixedKeys, this.fixedCounts);
  }

  /**
   * Parses the line that starts at b[s] (and ends at the next '\n', or at e) into the fields
   * above; returns BLANK, INVALID or VALID. For a VALID line it also sets `lineEnd` (before any
   * '\r') and `next` (after the '\n'). Every loop stops at a newline, so a line never runs into
   * the next one.
   */
  protected parse(b: Uint8Array, s: number, e: number): number {
    let c = s < e ? b[s]! : LF;
    if (c === LF || c === SP || c === TAB || c === CR) {
      let j = s;
      while (j < e && ((c = b[j]!) === SP || c === TAB)) j++;
      if (j === e || c === LF || (c === CR && (j + 1 === e || b[j + 1] === LF))) {
        return j - s > MAX_LINE ? INVALID : BLANK; // over-long is invalid, even when blank
      }
      // Not blank: the host loop decides (a space first is an empty host; a tab or a lone '\r'
      // are bytes of the host token, as the reference parser has it).
      c = b[s]!;
    }

    // host SP ident SP authuser SP
    let i = s;
    let h = FNV_SEED;
    while (i < e && (c = b[i]!) !== SP && c !== LF) {
      h = Math.imul(h ^ c, FNV_PRIME);
      i++;
    }
    if (i === s || i >= e || c !== SP) return INVALID;
    this.hostEnd = i;
    this.hostHash = h;
    const identStart = ++i;
    while (i < e && (c = b[i]!) !== SP && c !== LF) i++;
    if (i === identStart || i >= e || c !== SP) return INVALID;
    const userStart = ++i;
    h = FNV_SEED;
    while (i < e && (c = b[i]!) !== SP && c !== LF) {
      h = Math.imul(h ^ c, FNV_PRIME);
      i++;
    }
    if (i === userStart || i >= e || c !== SP) return INVALID;
    this.userStart = userStart;
    this.userEnd = i;
    this.userHash = h;

    // "[" timestamp "]" SP DQUOTE
    i++;
    if (i + TS_LEN + 4 > e) return INVALID;
    if (b[i] !== LBRACKET || b[i + TS_LEN + 1] !== RBRACKET || b[i + TS_LEN + 2] !== SP || b[i + TS_LEN + 3] !== QUOTE) {
      return INVALID;
    }
    const second = this.timestamp(b, i + 1);
    if (second !== second) return INVALID; // NaN

    // request DQUOTE SP status SP: the first quote followed by SP, 3 digits and SP closes it.
    const reqStart = i + TS_LEN + 4;
    // Most requests are `METHOD target PROTO"`: read them in one pass. Anything else (escaped
    // quotes, extra tokens, junk) takes the general path: find the closing quote, then the shape.
    let k = this.plainRequest(b, reqStart, e);
    const plain = k >= 0;
    if (!plain) {
      k = reqStart;
      for (;;) {
        while (k < e && (c = b[k]!) !== QUOTE && c !== LF) k++; // cheaper than a native indexOf here
        if (k + 6 >= e || c === LF) return INVALID; // no closing quote with room for status and bytes
        if (b[k + 1] === SP && isDigit(b[k + 2]!) && isDigit(b[k + 3]!) && isDigit(b[k + 4]!) && b[k + 5] === SP) break;
        k++;
      }
    }
    const reqEnd = k;
    const status = (b[k + 2]! - 48) * 100 + (b[k + 3]! - 48) * 10 + (b[k + 4]! - 48);
    if (status < 100 || status > 599) return INVALID;

    // bytes, then end of line or SP/TAB and anything
    let j = k + 6;
    let count = 0;
    if (b[j] === DASH) {
      j++;
    } else {
      const digits = j;
      while (j < e && isDigit((c = b[j]!))) {
        count = count * 10 + (c - 48);
        j++;
      }
      if (j === digits || j - digits > MAX_BYTES_DIGITS) return INVALID;
    }
    // The end of the line: right here for CLF, after the combined format's fields otherwise.
    if (j >= e) {
      this.lineEnd = this.next = e;
    } else if ((c = b[j]!) === LF) {
      this.lineEnd = j;
      this.next = j + 1;
    } else if (c === CR && (j + 1 === e || b[j + 1] === LF)) {
      this.lineEnd = j;
      this.next = j + 2;
    } else if (c === SP || c === TAB) {
      const nl = b.indexOf(LF, j);
      this.next = nl < 0 ? e : nl + 1;
      this.lineEnd = nl < 0 ? e : nl > j && b[nl - 1] === CR ? nl - 1 : nl;
    } else {
      return INVALID;
    }

    this.second = second;
    this.status = status;
    this.bytes = count;
    this.bytesEnd = j;
    this.requestEnd = plain ? reqEnd : -1;
    if (!plain) this.request(b, reqStart, reqEnd);
    return VALID;
  }

  /**
   * `METHOD SP target [SP protocol]` closed by the first quote, which is followed by SP, three
   * digits and SP: sets the method and section and returns the quote's index; -1 for anything
   * else (nothing set), which the general path then reads.
   */
  private plainRequest(b: Uint8Array, start: number, e: number): number {
    const m = this.commonMethod(b, start, e);
    if (m < 0) return -1;
    let c = 0;
    const targetStart = m + 1;
    let t = targetStart;
    // A path's section is hashed in the same pass (`section` reads anything else afterwards).
    let sectionEnd = -1;
    let h = 0;
    if (t < e && b[t] === SLASH) {
      h = Math.imul(FNV_SEED ^ SLASH, FNV_PRIME);
      t++;
      while (t < e && SECTION_STOP[(c = b[t]!)] === 0) {
        h = Math.imul(h ^ c, FNV_PRIME);
        t++;
      }
      sectionEnd = t;
    }
    while (t < e && TOKEN_STOP[(c = b[t]!)] === 0) t++;
    if (t === targetStart || t >= e || c === LF) return -1;
    let q = t;
    if (c === SP) {
      q = t + 1;
      // Nearly always `HTTP/1.1` or `HTTP/1.0`: two word compares instead of a byte loop.
      if (q + 8 < e && this.view.getInt32(q, true) === HTTP_WORD && (this.view.getInt32(q + 4, true) | 0x01000000) === VERSION_WORD) {
        q += 8;
      }
      while (q < e && TOKEN_STOP[(c = b[q]!)] === 0) q++;
      if (q === t + 1 || q >= e || c !== QUOTE) return -1;
    }
    if (q + 6 >= e || b[q + 1] !== SP || !isDigit(b[q + 2]!) || !isDigit(b[q + 3]!) || !isDigit(b[q + 4]!) || b[q + 5] !== SP) {
      return -1;
    }
    this.methodStart = start;
    this.methodEnd = m;
    if (sectionEnd < 0) this.section(b, targetStart, t);
    else {
      this.sectionConst = -1;
      this.sectionStart = targetStart;
      this.sectionEnd = sectionEnd;
      this.sectionHash = h;
    }
    return q;
  }

  /**
   * `scanMethod`, with the commonest methods known by their first four bytes read as one word
   * (as `countMethod` knows them) and their hashes made once: no byte loop for them.
   */
  private commonMethod(b: Uint8Array, start: number, e: number): number {
    if (start + 5 <= e) {
      const w = this.view.getInt32(start, true);
      if (w === GET_WORD) {
        this.methodHash = GET_HASH;
        return start + 3;
      }
      if (w === PUT_WORD) {
        this.methodHash = PUT_HASH;
        return start + 3;
      }
      if (b[start + 4] === SP) {
        if (w === POST_WORD) {
          this.methodHash = POST_HASH;
          return start + 4;
        }
        if (w === HEAD_WORD) {
          this.methodHash = HEAD_HASH;
          return start + 4;
        }
      }
    }
    return this.scanMethod(b, start, e);
  }

  /**
   * A method at b[start..]: 1 to MAX_METHOD method bytes followed by SP. Returns where it ends
   * (its hash left in `methodHash`), or -1.
   */
  private scanMethod(b: Uint8Array, start: number, e: number): number {
    let m = start;
    let h = FNV_SEED;
    let c = 0;
    while (m < e && METHOD_CHAR[(c = b[m]!)] === 1) {
      h = Math.imul(h ^ c, FNV_PRIME);
      m++;
    }
    const len = m - start;
    if (len < 1 || len > MAX_METHOD || m >= e || c !== SP) return -1;
    this.methodHash = h;
    return m;
  }

  /** METHOD SP target [SP protocol], or no request. */
  protected request(b: Uint8Array, start: number, end: number): void {
    const m = this.scanMethod(b, start, end);
    if (m >= 0) {
      const targetStart = m + 1;
      let t = targetStart;
      while (t < end && b[t] !== SP) t++;
      let shaped = false;
      if (t > targetStart) {
        if (t === end) shaped = true;
        else {
          let p = t + 1;
          while (p < end && b[p] !== SP) p++;
          shaped = p === end && p > t + 1;
        }
      }
      if (shaped) {
        this.methodStart = start;
        this.methodEnd = m;
        this.section(b, targetStart, t);
        return;
      }
    }
    this.methodStart = -1;
    this.sectionConst = FIXED_NO_REQUEST;
  }

  /** `sectionOf` on the bytes b[start..end). */
  protected section(b: Uint8Array, start: number, end: number): void {
    let p = start;
    let c = 0;
    // http:// or https://, any case: drop the scheme and the authority.
    if (
      end - start >= 7 &&
      (b[start]! | 32) === 104 &&
      (b[start + 1]! | 32) === 116 &&
      (b[start + 2]! | 32) === 116 &&
      (b[start + 3]! | 32) === 112
    ) {
      let q = start + 4;
      if ((b[q]! | 32) === 115) q++;
      if (q + 3 <= end && b[q] === COLON && b[q + 1] === SLASH && b[q + 2] === SLASH) {
        p = q + 3;
        while (p < end && (c = b[p]!) !== SLASH && c !== QMARK && c !== HASH) p++;
        if (p === end || c !== SLASH) {
          this.sectionConst = FIXED_ROOT;
          return;
        }
      }
    }
    if (p === end || b[p] !== SLASH) {
      this.sectionConst = FIXED_NOT_A_PATH;
      return;
    }
    let q = p + 1;
    let h = Math.imul(FNV_SEED ^ SLASH, FNV_PRIME);
    while (q < end && (c = b[q]!) !== SLASH && c !== QMARK && c !== HASH) {
      h = Math.imul(h ^ c, FNV_PRIME);
      q++;
    }
    this.sectionHash = h;
    this.sectionConst = -1;
    this.sectionStart = p;
    this.sectionEnd = q;
  }

  /** Unix seconds of the 26 timestamp bytes at b[t..], or NaN if they are not a real instant. */
  protected timestamp(b: Uint8Array, t: number): number {
    const v = this.view;
    const w = this.tsWords;
    if (
      this.tsCached &&
      v.getInt32(t + 16, true) === w[4] && // ":SS +" first: the part that changes
      v.getInt32(t + 12, true) === w[3] &&
      v.getInt32(t + 20, true) === w[5] &&
      v.getUint16(t + 24, true) === w[6] &&
      v.getInt32(t + 8, true) === w[2] &&
      v.getInt32(t + 4, true) === w[1] &&
      v.getInt32(t, true) === w[0]
    ) {
      return this.tsSecond;
    }
    // dd/Mon/yyyy:HH:MM:SS +zzzz
    // 0 2 4 6 8 10  14  18 21  25   (offsets)
    if (b[t + 2] !== SLASH || b[t + 6] !== SLASH || b[t + 11] !== COLON || b[t + 14] !== COLON || b[t + 17] !== COLON) {
      return NaN;
    }
    if (b[t + 20] !== SP) return NaN;
    const sign = b[t + 21];
    if (sign !== PLUS && sign !== DASH) return NaN;
    const code = (b[t + 3]! << 16) | (b[t + 4]! << 8) | b[t + 5]!;
    let month = 0;
    while (month < 12 && MONTH_CODES[month] !== code) month++;
    if (month === 12) return NaN;
    const day = twoDigits(b, t);
    const yearHi = twoDigits(b, t + 7);
    const yearLo = twoDigits(b, t + 9);
    const hour = twoDigits(b, t + 12);
    const minute = twoDigits(b, t + 15);
    const sec = twoDigits(b, t + 18);
    const zoneH = twoDigits(b, t + 22);
    const zoneM = twoDigits(b, t + 24);
    if (yearHi < 0 || yearLo < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59) {
      return NaN;
    }
    if (zoneH < 0 || zoneH > 14 || zoneM < 0 || zoneM > 59) return NaN;
    const year = yearHi * 100 + yearLo;
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const days = month === 1 && leap ? 29 : DAYS_IN_MONTH[month]!;
    if (day < 1 || day > days) return NaN;
    const offset = (zoneH * 3600 + zoneM * 60) * (sign === PLUS ? 1 : -1);
    const second = daysFromCivil(year, month + 1, day) * 86400 + hour * 3600 + minute * 60 + sec - offset;
    for (let j = 0; j < 6; j++) w[j] = v.getInt32(t + 4 * j, true);
    w[6] = v.getUint16(t + 24, true);
    this.tsCached = true;
    this.tsSecond = second;
    return second;
  }
}

/**
 * Section of a request target: drop an `http://` or `https://` scheme (any case) with its
 * authority, then the query string and fragment; a path is cut before its second '/'
 * (`/pages/create` → `/pages`, `/` → `/`); anything that is not a path is `(not a path)`.
 *
 * The authority ends at the first '/', '?' or '#' (as in a URL), and an absolute URL without a
 * path is `/`: `http://h?next=/a/b` → `/`, not `/a`.
 */
export function sectionOf(target: string): string {
  let path = target;
  const absolute = /^https?:\/\/[^/?#]*/i.exec(path);
  if (absolute) {
    path = path.slice(absolute[0].length);
    if (!path.startsWith('/')) return '/';
  }
  path = path.split(/[?#]/, 1)[0]!;
  if (!path.startsWith('/')) return NOT_A_PATH;
  const second = path.indexOf('/', 1);
  return second < 0 ? path : path.slice(0, second);
}

const MONTH_INDEX = new Map(MONTHS.map((m, i) => [m, i]));
const HEAD = /^([^ ]+) ([^ ]+) ([^ ]+) \[([^]{26})\] "/;
const TIMESTAMP = /^(\d\d)\/([A-Za-z]{3})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/;
const CLOSE = /" (\d{3}) /;
const BYTES = /^(-|\d{1,15})(?:[ \t][^]*)?$/;
const REQUEST = /^([A-Za-z_-]{1,32}) ([^ ]+)(?: ([^ ]+))?$/;

/** Unix seconds of a `dd/Mon/yyyy:HH:MM:SS +zzzz` timestamp, through Date, or null. */
function referenceSecond(text: string): number | null {
  const t = TIMESTAMP.exec(text);
  if (!t) return null;
  const [, dd, mon, yyyy, hh, mi, ss, sign, zh, zm] = t as unknown as string[];
  const month = MONTH_INDEX.get(mon!);
  const [day, year, hour, minute, second, zoneH, zoneM] = [dd, yyyy, hh, mi, ss, zh, zm].map(Number) as number[];
  if (month === undefined || hour! > 23 || minute! > 59 || second! > 59 || zoneH! > 14 || zoneM! > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(year!, month, day!);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month || date.getUTCDate() !== day) return null;
  date.setUTCHours(hour!, minute!, second!, 0);
  const offset = (zoneH! * 60 + zoneM!) * 60 * (sign === '+' ? 1 : -1);
  return date.getTime() / 1000 - offset;
}

/**
 * A plain reference parser of ONE line (no '\n'; a trailing '\r' is dropped), for tests to hold
 * the scanner to. Null for an invalid line, and for a blank one (which the scanner ignores).
 */
export function parseLine(line: string): Entry | null {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (Buffer.byteLength(line, 'utf8') > MAX_LINE) return null;
  if (/^[ \t]*$/.test(line)) return null;
  const head = HEAD.exec(line);
  if (!head) return null;
  const [, host, , user, timestamp] = head as unknown as string[];
  const second = referenceSecond(timestamp!);
  if (second === null) return null;
  const rest = line.slice(head[0].length);
  const close = CLOSE.exec(rest);
  if (!close) return null;
  const status = Number(close[1]);
  if (status < 100 || status > 599) return null;
  const bytes = BYTES.exec(rest.slice(close.index + 6));
  if (!bytes) return null;
  const request = REQUEST.exec(rest.slice(0, close.index));
  return {
    host: host!,
    user: user === '-' ? null : user!,
    second,
    method: request ? request[1]! : NO_METHOD,
    section: request ? sectionOf(request[2]!) : NO_REQUEST,
    status,
    bytes: bytes[1] === '-' ? 0 : Number(bytes[1]),
  };
}
