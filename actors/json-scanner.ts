/**
 * A byte scanner for logs of one JSON object a line: Caddy's access log, Traefik's JSON access
 * log, nginx `escape=json` templates (a `JsonFormat` of lib/log-format says where each field is):
 *
 *   {"ts":1646861401.5241024,"request":{"remote_ip":"127.0.0.1","method":"GET","uri":"/a/b?x=1","headers":{…}},"status":200,…}
 *
 * `JsonScanner.scan` walks each line once, with index arithmetic on the bytes: no JSON.parse, no
 * string or object per line. One loop over a line's tokens keeps a stack of open brackets; keys
 * of the objects on the format's paths are looked up in a trie of those paths (by length and
 * first byte, then their bytes), and where a path ends its value is noted (kind, start, end).
 * Every other value (headers, TLS, anything nested) is skipped, but checked as JSON.parse checks
 * it, so a line is valid exactly when the reference parser (`parseEntry`, lib/log-format-parse)
 * counts it: truncated JSON, a line that is not an object, bytes after it are invalid lines,
 * never a throw. A key given twice counts its last value, as JSON.parse keeps it (a repeated
 * `request` object replaces every value noted under the first), and a JSON null is no value.
 *
 * The fields are then read by parseEntry's rules, on the bytes: time (epoch numbers and digit
 * strings, ISO 8601, CLF), status (Caddy's 0 is its `zero`), bytes, durations (numbers, numeric
 * strings, nginx's upstream lists, Go durations) in ms, client (`-` when none; `hostPort` drops
 * a port), user and vhost (`-`, empty or none: null), method, uri's section or a request line.
 * The rare shapes a byte reading would have to imitate JavaScript for (a number where a string
 * is read, which becomes `String(n)`; a strftime time; a list with non-ASCII bytes; an epoch of
 * more than 15 digits) take the reference parser itself on that one line.
 *
 * A line is counted exactly as actors/clf-scanner.ts counts one: segments by high-water second,
 * perSecond run-length, status and codes, bytes, keys packed by their bytes (sections, users,
 * hosts = the client, methods, vhosts), and its durations into the segment's sketches (latency,
 * upstream, by section, and, unless `ruleSketches` is false, by status class and by vhost), each
 * key's string made once a segment.
 *
 * Strings with escapes (`\"`, `\u00e9`, `\/`) count by their decoded bytes. A tally reads its
 * keys from the one buffer `pack` is given, so the first value of a chunk that must be decoded
 * moves the chunk into a buffer of its own with room after it (one copy, only for chunks that
 * have one; the buffer is kept for the next), and decoded values are written after the chunk's
 * bytes: offsets below the chunk's length still name the same bytes.
 */
import { decodeKey, fixedKey, FNV_PRIME, FNV_SEED, fnv1a, KeyTally, MAX_KEY_BYTES, ownKeys, pack, PackBuffer, slotOf } from '../lib/byte-keys';
import { parseEntry, type FieldName, type FormatEntry, type JsonFormat, type TimeFormat, type Unit } from '../lib/log-format';
import { bucketOf, Sketch } from '../lib/sketch';
import { addSketch, Durations, KeyDurations } from '../lib/duration-store';
import {
  BLANK,
  daysFromCivil,
  FIXED,
  FIXED_NO_METHOD,
  FIXED_NO_REQUEST,
  FIXED_NOT_A_PATH,
  FIXED_ROOT,
  GET,
  HEAD_METHOD,
  INVALID,
  MAX_LINE,
  NO_METHOD,
  NO_REQUEST,
  NOT_A_PATH,
  POST,
  PUT,
  VALID,
} from './clf-scanner';
import { emptySegment, type Batch, type Segment } from './messages';

const TAB = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const QUOTE = 34;
const HASH = 35;
const PLUS = 43;
const COMMA = 44;
const DASH = 45;
const DOT = 46;
const SLASH = 47;
const COLON = 58;
const QMARK = 63;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;

/** 1 for the bytes that end a run of plain string bytes: '"', '\\' and the controls (JSON forbids them raw). */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 32; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = STRING_STOP[BACKSLASH] = 1;

/** JSON's whitespace but '\n', which ends the line. */
const SPACE = new Uint8Array(256);
SPACE[SP] = SPACE[TAB] = SPACE[CR] = 1;

/** What a backslash may be followed by in a JSON string (`u` apart), and the byte it stands for. */
const ESCAPED = new Int16Array(256).fill(-1);
for (const [c, v] of [['"', 34], ['\\', 92], ['/', 47], ['b', 8], ['f', 12], ['n', 10], ['r', 13], ['t', 9]] as const) {
  ESCAPED[c.charCodeAt(0)] = v;
}
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

/** 1 for the bytes a method may hold: A-Z, a-z, '-', '_'. */
const METHOD_CHAR = new Uint8Array(256);
for (let c = 65; c <= 90; c++) METHOD_CHAR[c] = METHOD_CHAR[c + 32] = 1;
METHOD_CHAR[DASH] = METHOD_CHAR[95] = 1;
const MAX_METHOD = 32;

/** What JavaScript's `trim` removes that is ASCII: '\t' '\n' '\v' '\f' '\r' and space. */
const isTrimmed = (c: number) => c === SP || (c >= TAB && c <= CR);
const isDigit = (c: number) => c >= 48 && c <= 57;

// What a path's value was, as noted while walking the line. A value of a kind from V_TRUE on is
// neither a string nor a number: the reference refuses the line.
const V_STRING = 1;
/** A string with a backslash in it: decoded before it is read. */
const V_ESCAPED = 2;
const V_NUMBER = 3;
/** JSON null: no value (the next path is tried). */
const V_NULL = 4;
const V_TRUE = 5;
const V_FALSE = 6;
const V_OBJECT = 7;
const V_ARRAY = 8;

/** `resolve`'s answer for a line the byte reading leaves to the reference parser. */
const RARE = 3;

/** The fields in the order the scanner keeps their paths' slots. */
const FIELDS: readonly FieldName[] = ['time', 'client', 'user', 'request', 'method', 'uri', 'status', 'bytes', 'vhost', 'duration', 'upstream'];
const [F_TIME, F_CLIENT, F_USER, F_REQUEST, F_METHOD, F_URI, F_STATUS, F_BYTES, F_VHOST, F_DURATION, F_UPSTREAM] = [...FIELDS.keys()] as [
  number, number, number, number, number, number, number, number, number, number, number,
];

/** ms of a duration in `unit`, computed as the reference computes it. */
function toMs(n: number, unit: Unit): number {
  return unit === 's' ? n * 1000 : unit === 'ms' ? n : unit === 'us' ? n / 1000 : n / 1e6;
}
/** Digits of the unit beyond the second (an epoch's second drops them). */
const UNIT_DIGITS: Record<Unit, number> = { s: 0, ms: 3, us: 6, ns: 9 };
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
/** Go's duration units (`1.5ms`, `2m3.5s`) in ms, by the bytes that name them. */
const GO_UNITS: [bytes: number[], ms: number][] = [
  [[110, 115], 1e-6], // ns
  [[117, 115], 1e-3], // us
  [[0xc2, 0xb5, 115], 1e-3], // µs (U+00B5)
  [[0xce, 0xbc, 115], 1e-3], // μs (U+03BC)
  [[109, 115], 1], // ms
  [[115], 1000], // s
  [[109], 60_000], // m
  [[104], 3_600_000], // h
];

/** The client when a line has none, a key that is no bytes of the line (after CLF's fixed keys). */
const FIXED_NO_CLIENT = FIXED.length;
const JSON_FIXED = [...FIXED, fixedKey('hosts', '-')];
const FIXED_NAMES = JSON_FIXED.map((k) => decodeKey(k.bytes, 0, k.bytes.length));
/** The common methods' bytes as little-endian words (a three-letter one's fourth byte 0). */
const word = (m: string) => Buffer.from(m.padEnd(4, '\0')).readInt32LE(0);
const GET_WORD = word('GET');
const PUT_WORD = word('PUT');
const POST_WORD = word('POST');
const HEAD_WORD = word('HEAD');

const MONTH_CODES = Int32Array.from(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'], (m) => (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2));
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const NO_BYTES = new Uint8Array(0);
/** A duration that is no value (`-`, none, negative): the line is a hit, untimed. */
const NO_DURATION = -1;
/** A duration that is not one (`abc`): the line is invalid. */
const BAD_DURATION = -2;
/** Indices of `times`. */
const DURATION = 0;
const UPSTREAM = 1;

// ------------------------------------------------------------------------------- the path trie

/**
 * The children of a trie node are found by a table indexed by a key's length and first byte,
 * five bits of each (`dispatchOf`): 1,024 entries, small enough to stay in the cache.
 */
const DISPATCH_SIZE = 1 << 10;
const NO_CHILDREN = new Int32Array(DISPATCH_SIZE);
/** The dispatch entry of a key of `len` bytes whose first byte is `first` (an empty key's is its closing quote). */
const dispatchOf = (len: number, first: number) => ((len & 31) << 5) | (first & 31);

/** A step of the format's paths: the object key that leads to it, the slot its value is noted in (-1: none), what lies under it. */
interface PathNode {
  key: Uint8Array;
  slot: number;
  children: PathNode[];
  /** Its slot and every slot under it: a key given again forgets them all. */
  under: number[];
  /**
   * The children by `dispatchOf` their key: the index + 1 of the first such child, `sameStart`
   * of it the next one's (a key that lands there is compared whole).
   */
  dispatch: Int32Array;
  sameStart: Int32Array;
  /** The children's keys back to back, each at keyAt of its index. */
  keyBytes: Uint8Array;
  keyAt: Int32Array;
}

function pathNode(key: Uint8Array): PathNode {
  return { key, slot: -1, children: [], under: [], dispatch: NO_CHILDREN, sameStart: new Int32Array(0), keyBytes: NO_BYTES, keyAt: new Int32Array(0) };
}

/** Builds a node's lookup tables of its children, and theirs, down the trie. */
function index(node: PathNode): void {
  const children = node.children;
  if (children.length > 0) node.dispatch = new Int32Array(DISPATCH_SIZE);
  node.sameStart = new Int32Array(children.length);
  node.keyAt = new Int32Array(children.length);
  node.keyBytes = new Uint8Array(children.reduce((n, c) => n + c.key.length, 0));
  let at = 0;
  children.forEach((child, k) => {
    const key = child.key;
    node.keyAt[k] = at;
    node.keyBytes.set(key, at);
    at += key.length;
    // An empty key's "first byte" is its closing quote, as the walk finds it.
    const d = dispatchOf(key.length, key.length > 0 ? key[0]! : QUOTE);
    node.sameStart[k] = node.dispatch[d]!;
    node.dispatch[d] = k + 1;
    index(child);
  });
}

// --------------------------------------------------------------------------------- durations

function bump(counts: Map<number, number>, key: number, n: number): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

// ------------------------------------------------------------------------------------ the scanner

export class JsonScanner {
  private hw = -Infinity;
  private readonly format: JsonFormat;
  private readonly root: PathNode;
  /** Slots of each field (index in FIELDS), in the order of its paths: the first with a value wins. */
  private readonly fieldSlots: Int32Array[];
  /** The fields the format has (indices in FIELDS): the reference reads each, and any may refuse the line. */
  private readonly present: Int32Array;
  private readonly time: TimeFormat;
  private readonly durationUnit: Unit;
  private readonly durationGo: boolean;
  private readonly upstreamUnit: Unit;
  private readonly upstreamList: boolean;
  private readonly upstreamGo: boolean;
  private readonly clientHostPort: boolean;
  /** The status a 0 stands for (Caddy's), or -1. */
  private readonly zeroStatus: number;
  private readonly hasRequest: boolean;
  private readonly timed: boolean;

  // Per slot, what the line being walked holds there (valid while slotLine is lineNo).
  private readonly slotLine: Float64Array;
  private readonly slotKind: Uint8Array;
  private readonly slotStart: Int32Array;
  private readonly slotEnd: Int32Array;
  private lineNo = 0;
  /** Per field, the slot `resolve` took its value from, or -1. */
  private readonly chosen: Int32Array;
  /** The trie's node of each object open on the line being walked (all on the paths). */
  private readonly nodes: PathNode[] = [];

  /** Where the valid line just walked ends (before any '\r'), and where the next one starts. */
  private lineEnd = 0;
  private next = 0;

  // What the line read (valid lines); no object per line.
  private second = 0;
  private status = 0;
  private bytes = 0;
  /** The line's duration and upstream time in ms, or NO_DURATION: doubles in a Float64Array (see Durations' stats). */
  private readonly times = Float64Array.of(NO_DURATION, NO_DURATION);
  /** -1: none (the `-` key). */
  private clientStart = -1;
  private clientEnd = 0;
  /** -1: none. */
  private userStart = -1;
  private userEnd = 0;
  private vhostStart = -1;
  private vhostEnd = 0;
  private methodStart = -1;
  private methodEnd = 0;
  /** A fixed section (its index in FIXED), or -1 for the bytes sectionStart..sectionEnd. */
  private sectionFixed = FIXED_NO_REQUEST;
  private sectionStart = 0;
  private sectionEnd = 0;
  private sectionHash = 0;

  /** The chunk being scanned, or the copy of it that decoded values are written after. */
  private buf: Uint8Array = NO_BYTES;
  private view: DataView = new DataView(new ArrayBuffer(0));
  private chunkLength = 0;
  /** Where the next decoded value goes in `buf` (past the chunk once `buf` is a copy). */
  private arenaAt = 0;
  /** The copy kept for the next chunk that needs one. */
  private spare: Uint8Array = NO_BYTES;
  /** A decoded object key (escaped keys only). */
  private keyScratch = new Uint8Array(64);
  // A field's value in `buf`, as `value` leaves it.
  private valueStart = 0;
  private valueEnd = 0;

  // The cached date of an ISO 8601 time: most lines repeat the previous line's date.
  private readonly isoDate = new Int32Array(3);
  private isoDays = NaN;

  // The current segment's keys, in KEY_KINDS order, packed into it when it ends.
  private readonly sectionKeys = new KeyTally();
  private readonly userKeys = new KeyTally();
  private readonly hostKeys = new KeyTally();
  private readonly methodKeys = new KeyTally();
  private readonly vhostKeys = new KeyTally();
  private readonly keyTables = [this.sectionKeys, this.userKeys, this.hostKeys, this.methodKeys, this.vhostKeys];
  private readonly codeCounts = new Int32Array(600);
  /**
   * Lines of the segment in progress by status class, written into its `status` when it ends:
   * a segment's status array starts as a copy-on-write literal, and its first write a line made
   * the optimized scan loop bail out once a segment.
   */
  private readonly classCounts = new Int32Array(6);
  private readonly codesSeen: number[] = [];
  private readonly fixedCounts = new Int32Array(JSON_FIXED.length);
  private readonly packs = new PackBuffer();
  private runSecond = 0;
  private runCount = 0;

  // Durations of the segment in progress.
  private readonly latency = new Durations();
  private readonly upstreamLatency = new Durations();
  private readonly classLatency = Array.from({ length: 6 }, () => new Durations());
  private readonly sectionLatency = new KeyDurations();
  private readonly vhostLatency = new KeyDurations();
  /** Sections that are no bytes of the line, by their index in JSON_FIXED. */
  private readonly fixedSectionLatency = JSON_FIXED.map(() => new Durations());

  /** Whether durations go by status class and vhost too (`ruleSketches`). */
  private readonly ruleSketches: boolean;

  /**
   * `borrowKeys`: pack every chunk's segments' keys into one reused buffer, valid until the next
   * `scan` (as ClfScanner's option). `ruleSketches` (default true): keep the segments'
   * `classLatency` and `vhostLatency`, which only latency rules read; false leaves them undefined
   * (a run without such rules saves their stores).
   */
  constructor(
    format: JsonFormat,
    private readonly options: { borrowKeys?: boolean; ruleSketches?: boolean } = {},
  ) {
    this.ruleSketches = options.ruleSketches !== false;
    this.format = format;
    this.root = pathNode(NO_BYTES);
    const slotIds = new Map<string, number>();
    const utf8 = new TextEncoder();
    this.fieldSlots = FIELDS.map((name) =>
      Int32Array.from(
        (format.fields[name]?.paths ?? []).filter((p) => p.length > 0),
        (path) => {
          const id = JSON.stringify(path);
          let slot = slotIds.get(id);
          if (slot === undefined) {
            slotIds.set(id, (slot = slotIds.size));
            let node = this.root;
            for (const step of path) {
              const key = utf8.encode(step);
              let child = node.children.find((c) => Buffer.from(c.key).equals(key));
              if (!child) node.children.push((child = pathNode(key)));
              child.under.push(slot);
              node = child;
            }
            node.slot = slot;
          }
          return slot;
        },
      ),
    );
    index(this.root);
    const slots = slotIds.size;
    this.slotLine = new Float64Array(slots);
    this.slotKind = new Uint8Array(slots);
    this.slotStart = new Int32Array(slots);
    this.slotEnd = new Int32Array(slots);
    this.chosen = new Int32Array(FIELDS.length).fill(-1);
    this.present = Int32Array.from(FIELDS.keys()).filter((f) => this.fieldSlots[f]!.length > 0);
    const { fields } = format;
    this.time = fields.time?.time ?? { kind: 'clf' };
    this.durationUnit = fields.duration?.unit ?? 's';
    this.durationGo = fields.duration?.goDuration === true;
    this.upstreamUnit = fields.upstream?.unit ?? 's';
    this.upstreamList = fields.upstream?.list === true;
    this.upstreamGo = fields.upstream?.goDuration === true;
    this.clientHostPort = fields.client?.hostPort === true;
    this.zeroStatus = fields.status?.zero ?? -1;
    this.hasRequest = this.fieldSlots[F_REQUEST]!.length > 0;
    this.timed = this.fieldSlots[F_DURATION]!.length > 0;
  }

  /** High-water second: the newest valid time seen so far (Unix seconds), -Infinity before any. */
  get highWater(): number {
    return this.hw;
  }

  /**
   * Scans bytes holding complete lines ('\n' separated; the last line may lack its '\n'). Never
   * throws. With `borrowKeys`, the segments' keys are valid until the next call only.
   */
  scan(bytes: Uint8Array): Batch {
    const segments: Segment[] = [];
    let seg: Segment | null = null;
    // The walk's loops run to a '\n' without a bound check: a chunk whose last line has none
    // is walked in a copy with one after it (the copy is the spare buffer, kept for the next).
    if (bytes.length > 0 && bytes[bytes.length - 1] !== LF) bytes = this.withNewline(bytes);
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.chunkLength = this.arenaAt = bytes.length;
    this.packs.reuse();
    const n = bytes.length;
    let pos = 0;
    while (pos < n) {
      const start = pos;
      let kind = this.walkLine(bytes, start, n);
      if (kind === VALID) {
        pos = this.next;
        if (this.lineEnd - start > MAX_LINE) kind = INVALID;
        else {
          kind = this.resolve();
          if (kind === RARE) kind = this.reference(start);
        }
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
      this.classCounts[statusClass]!++;
      if (this.codeCounts[status]!++ === 0) this.codesSeen.push(status);
      seg.bytes += this.bytes;
      this.count(statusClass);
    }
    if (seg !== null) this.flush(seg);
    for (const t of this.keyTables) t.reset();
    if (!this.options.borrowKeys) for (const s of segments) s.keys = ownKeys(s.keys);
    this.buf = NO_BYTES;
    return { segments };
  }

  /** Counts the keys and durations of the valid line just read. */
  private count(statusClass: number): void {
    const b = this.buf;
    const cs = this.clientStart;
    if (cs >= 0) this.addKey(this.hostKeys, cs, this.clientEnd, fnv1a(b, cs, Math.min(this.clientEnd, cs + MAX_KEY_BYTES)));
    else this.fixedCounts[FIXED_NO_CLIENT]!++;
    const us = this.userStart;
    if (us >= 0) this.addKey(this.userKeys, us, this.userEnd, fnv1a(b, us, Math.min(this.userEnd, us + MAX_KEY_BYTES)));
    this.countMethod();
    const fixed = this.sectionFixed;
    let sectionEnd = this.sectionEnd;
    let sectionHash = this.sectionHash;
    if (fixed < 0) {
      if (sectionEnd - this.sectionStart > MAX_KEY_BYTES) {
        sectionEnd = this.sectionStart + MAX_KEY_BYTES;
        sectionHash = fnv1a(b, this.sectionStart, sectionEnd);
      }
      this.sectionKeys.add(this.view, this.sectionStart, sectionEnd, sectionHash);
    } else this.fixedCounts[fixed]!++;
    const vs = this.vhostStart;
    let vhostEnd = this.vhostEnd;
    let vhostHash = 0;
    if (vs >= 0) {
      if (vhostEnd - vs > MAX_KEY_BYTES) vhostEnd = vs + MAX_KEY_BYTES;
      vhostHash = fnv1a(b, vs, vhostEnd);
      this.vhostKeys.add(this.view, vs, vhostEnd, vhostHash);
    }
    const up = this.times[UPSTREAM]!;
    if (up !== NO_DURATION) this.upstreamLatency.add(up, bucketOf(up));
    const ms = this.times[DURATION]!;
    if (!this.timed || ms === NO_DURATION) return;
    const bucket = bucketOf(ms);
    this.latency.add(ms, bucket);
    if (fixed < 0) this.sectionLatency.get(b, this.sectionStart, sectionEnd, sectionHash).add(ms, bucket);
    else this.fixedSectionLatency[fixed]!.add(ms, bucket);
    if (!this.ruleSketches) return;
    this.classLatency[statusClass]!.add(ms, bucket);
    if (vs >= 0) this.vhostLatency.get(b, vs, vhostEnd, vhostHash).add(ms, bucket);
  }

  /** Counts a key of `buf` (its FNV-1a `hash` of at most MAX_KEY_BYTES bytes); a longer one is kept to that many bytes. */
  private addKey(tally: KeyTally, start: number, end: number, hash: number): void {
    if (end - start > MAX_KEY_BYTES) end = start + MAX_KEY_BYTES;
    tally.add(this.view, start, end, hash);
  }

  /** Counts the line's method: a common one in its counter, any other in the method tally. */
  private countMethod(): void {
    const m = this.methodStart;
    const fixed = this.fixedCounts;
    if (m < 0) {
      fixed[FIXED_NO_METHOD]!++;
      return;
    }
    const len = this.methodEnd - m;
    const b = this.buf;
    if (len === 3 || len === 4) {
      const w = b[m]! | (b[m + 1]! << 8) | (b[m + 2]! << 16) | (len === 4 ? b[m + 3]! << 24 : 0);
      const common = len === 3 ? (w === GET_WORD ? GET : w === PUT_WORD ? PUT : -1) : w === POST_WORD ? POST : w === HEAD_WORD ? HEAD_METHOD : -1;
      if (common >= 0) {
        fixed[common]!++;
        return;
      }
    }
    this.methodKeys.add(this.view, m, this.methodEnd, fnv1a(b, m, this.methodEnd));
  }

  /** Moves the counts and durations held back while scanning into `seg`. */
  private flush(seg: Segment): void {
    if (this.runCount > 0) bump(seg.perSecond, this.runSecond, this.runCount);
    this.runCount = 0;
    for (const code of this.codesSeen) {
      seg.codes.set(code, this.codeCounts[code]!);
      this.codeCounts[code] = 0;
    }
    this.codesSeen.length = 0;
    const classes = this.classCounts;
    for (let k = 0; k < 6; k++) {
      if (classes[k] === 0) continue;
      seg.status[k]! += classes[k]!;
      classes[k] = 0;
    }
    seg.keys = pack(this.packs, this.buf, this.keyTables, JSON_FIXED, this.fixedCounts);
    // Every segment gets the five fields, in this order (undefined when nothing was timed), so
    // that all have one shape: segments with and without them made the optimized code bail out.
    let latency: Sketch | undefined;
    let classLatency: (Sketch | undefined)[] | undefined;
    let sectionLatency: Map<string, Sketch> | undefined;
    let vhostLatency: Map<string, Sketch> | undefined;
    if (!this.latency.empty) {
      latency = this.latency.take();
      if (this.ruleSketches) classLatency = this.classLatency.map((d) => (d.empty ? undefined : d.take()));
      sectionLatency = new Map<string, Sketch>();
      for (let i = 0; i < this.fixedSectionLatency.length; i++) {
        const d = this.fixedSectionLatency[i]!;
        if (!d.empty) addSketch(sectionLatency, FIXED_NAMES[i]!, d.take());
      }
      this.sectionLatency.drain(sectionLatency);
      if (!this.vhostLatency.empty) this.vhostLatency.drain((vhostLatency = new Map<string, Sketch>()));
    }
    seg.latency = latency;
    seg.upstream = this.upstreamLatency.empty ? undefined : this.upstreamLatency.take();
    seg.classLatency = classLatency;
    seg.sectionLatency = sectionLatency;
    seg.vhostLatency = vhostLatency;
  }

  // ------------------------------------------------------------------------------- the walk

  /**
   * Walks the line that starts at b[s] (it ends at the next '\n'; the chunk ends in one): BLANK,
   * INVALID, or VALID with the paths' values noted and `lineEnd` and `next` set.
   *
   * One loop over the members of the objects on the format's paths, no call a member: their keys
   * are looked up in the trie (nodes[level] is each open object's node); any other object or
   * array is skipped whole by `skipNested`, which checks it. Every loop stops at a newline (not
   * JSON whitespace, not allowed raw in a string), so a line never runs into the next.
   */
  private walkLine(b: Uint8Array, s: number, e: number): number {
    this.lineNo++;
    let i = s;
    let c = i < e ? b[i]! : LF;
    if (c !== LBRACE) {
      // Blank as the reference has it: spaces and tabs, and one '\r' at the end.
      while (i < e && ((c = b[i]!) === SP || c === TAB)) i++;
      if (i === e || c === LF || (c === CR && (i + 1 === e || b[i + 1] === LF))) return i - s > MAX_LINE ? INVALID : BLANK;
      while (i < e && SPACE[(c = b[i]!)] === 1) i++;
      if (i >= e || c !== LBRACE) return INVALID;
    }
    const nodes = this.nodes;
    nodes[0] = this.root;
    /** The objects open, each on the paths. */
    let depth = 1;
    /** Right after an opening brace: the object may close at once. */
    let first = true;
    i++;
    for (;;) {
      // A member, `"key": value`, or the close of an empty object.
      c = b[i]!;
      if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
      if (first && c === RBRACE) {
        i++;
        if (--depth === 0) return this.lineAfter(b, s, i, e);
      } else {
        if (c !== QUOTE) return INVALID;
        const keyStart = i + 1;
        let j = keyStart;
        while (STRING_STOP[b[j]!] === 0) j++;
        let escaped = false;
        if (b[j] === BACKSLASH) {
          escaped = true;
          j = skipStringRest(b, j, e) - 1; // at the closing quote
          if (j < 0) return INVALID;
        } else if (b[j] !== QUOTE) return INVALID;
        // Most keys are on no path: the (length, first byte) table says so without a call.
        const at = nodes[depth - 1]!;
        const len = j - keyStart;
        const node = escaped || at.dispatch[((len & 31) << 5) | (b[keyStart]! & 31)] !== 0 ? this.matchKey(at, b, keyStart, j, escaped) : null;
        i = j + 1;
        c = b[i]!;
        if (c !== COLON) {
          while (SPACE[(c = b[i]!)] === 1) i++;
          if (c !== COLON) return INVALID;
        }
        c = b[++i]!;
        if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
        if (node !== null) {
          // A key given again: what its first value held is forgotten (JSON.parse keeps the last).
          const under = node.under;
          for (let k = 0; k < under.length; k++) this.slotLine[under[k]!] = 0;
        }
        // The value, at b[i] = c.
        const start = i;
        if (c === QUOTE) {
          j = i + 1;
          while (STRING_STOP[b[j]!] === 0) j++;
          let kind = V_STRING;
          if (b[j] === QUOTE) i = j + 1;
          else {
            if (b[j] !== BACKSLASH) return INVALID;
            i = skipStringRest(b, j, e);
            if (i < 0) return INVALID;
            kind = V_ESCAPED;
          }
          if (node !== null && node.slot >= 0) this.note(node.slot, kind, start + 1, i - 1);
        } else if (c === LBRACE || c === LBRACKET) {
          if (node !== null) {
            if (node.slot >= 0) this.note(node.slot, c === LBRACE ? V_OBJECT : V_ARRAY, start, start);
            if (c === LBRACE && node.children.length > 0) {
              nodes[depth++] = node;
              first = true;
              i++;
              continue;
            }
          }
          i = skipNested(b, i, e);
          if (i < 0) return INVALID;
        } else {
          i = skipScalar(b, i, e);
          if (i < 0) return INVALID;
          if (node !== null && node.slot >= 0) {
            this.note(node.slot, c === 116 ? V_TRUE : c === 102 ? V_FALSE : c === 110 ? V_NULL : V_NUMBER, start, i);
          }
        }
      }
      // After a value: ',' and a member, or the close of this object (and maybe of those around it).
      for (;;) {
        c = b[i]!;
        if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
        i++;
        if (c === COMMA) break;
        if (c !== RBRACE) return INVALID;
        if (--depth === 0) return this.lineAfter(b, s, i, e);
      }
      first = false;
    }
  }

  /** The top object closed before b[i]: only whitespace may follow it on the line. */
  private lineAfter(b: Uint8Array, s: number, i: number, e: number): number {
    let c = 0;
    while (i < e && SPACE[(c = b[i]!)] === 1) i++;
    if (i < e && c !== LF) return INVALID;
    this.next = i < e ? i + 1 : e;
    this.lineEnd = i > s && b[i - 1] === CR ? i - 1 : i;
    return VALID;
  }

  /** Notes a path's value: its kind, where it starts and ends (a string's content, without quotes). */
  private note(slot: number, kind: number, start: number, end: number): void {
    this.slotLine[slot] = this.lineNo;
    this.slotKind[slot] = kind;
    this.slotStart[slot] = start;
    this.slotEnd[slot] = end;
  }

  /**
   * The child of `node` whose key is the string b[start..end) (raw, `escaped` if it has a
   * backslash), or null. Most keys are no child: the walk asks the dispatch table before calling.
   */
  private matchKey(node: PathNode, b: Uint8Array, start: number, end: number, escaped: boolean): PathNode | null {
    if (escaped) {
      if (this.keyScratch.length < end - start) this.keyScratch = new Uint8Array(end - start);
      end = decodeString(b, start, end, this.keyScratch, 0);
      b = this.keyScratch;
      start = 0;
    }
    const len = end - start;
    const keys = node.keyBytes;
    for (let d = node.dispatch[dispatchOf(len, len > 0 ? b[start]! : QUOTE)]!; d !== 0; d = node.sameStart[d - 1]!) {
      const child = node.children[d - 1]!;
      if (child.key.length !== len) continue;
      let x = node.keyAt[d - 1]!;
      let y = start;
      while (y < end && keys[x] === b[y]) {
        x++;
        y++;
      }
      if (y >= end) return child;
    }
    return null;
  }

  // ------------------------------------------------------------------------ the line's fields

  /**
   * Reads the fields of the line just walked, by the reference's rules: VALID (the fields set),
   * INVALID, or RARE (a shape left to the reference parser).
   */
  private resolve(): number {
    // Each field's value: the first of its paths that holds one (null is none). A value that is
    // neither a string nor a number refuses the line, whatever the field.
    const present = this.present;
    for (let k = 0; k < present.length; k++) {
      const f = present[k]!;
      const slots = this.fieldSlots[f]!;
      let chosen = -1;
      for (let p = 0; p < slots.length; p++) {
        const slot = slots[p]!;
        if (this.slotLine[slot] === this.lineNo && this.slotKind[slot] !== V_NULL) {
          chosen = slot;
          break;
        }
      }
      if (chosen >= 0 && this.slotKind[chosen]! >= V_TRUE) return INVALID;
      this.chosen[f] = chosen;
    }
    const second = this.readTime();
    if (second === RARE_TIME) return RARE;
    if (second !== second) return INVALID;
    const status = this.readStatus();
    if (status < 0) return INVALID;
    const bytes = this.readBytes();
    if (bytes < 0) return INVALID;
    this.second = second;
    this.status = status;
    this.bytes = bytes;
    const duration = this.readDuration(F_DURATION, this.durationUnit, false, this.durationGo);
    const upstream = this.readDuration(F_UPSTREAM, this.upstreamUnit, this.upstreamList, this.upstreamGo);
    if (duration === BAD_DURATION || upstream === BAD_DURATION) return INVALID;
    if (duration === RARE_DURATION || upstream === RARE_DURATION) return RARE;
    this.times[DURATION] = duration;
    this.times[UPSTREAM] = upstream;
    // The texts: a number where one is read becomes String(n) in the reference.
    if (this.kindOf(F_CLIENT) === V_NUMBER || this.kindOf(F_USER) === V_NUMBER || this.kindOf(F_VHOST) === V_NUMBER) return RARE;
    this.readClient();
    this.userStart = this.named(F_USER) ? this.valueStart : -1;
    this.userEnd = this.valueEnd;
    this.vhostStart = this.named(F_VHOST) ? this.valueStart : -1;
    this.vhostEnd = this.valueEnd;
    this.readRequest();
    return VALID;
  }

  /** The kind of value `field` holds (0: none). */
  private kindOf(field: number): number {
    const slot = this.chosen[field]!;
    return slot < 0 ? 0 : this.slotKind[slot]!;
  }

  /**
   * The value at `field` into `valueStart`/`valueEnd` of `buf`: a string's content (decoded after
   * the chunk when it has escapes), a number as written. Returns its kind (V_STRING for a decoded
   * string), or 0 when it has none.
   */
  private value(field: number): number {
    const slot = this.chosen[field]!;
    if (slot < 0) return 0;
    const kind = this.slotKind[slot]!;
    const s = this.slotStart[slot]!;
    const e = this.slotEnd[slot]!;
    if (kind !== V_ESCAPED) {
      this.valueStart = s;
      this.valueEnd = e;
      return kind;
    }
    // Decoded, a string is never longer than as written.
    this.room(e - s);
    this.valueStart = this.arenaAt;
    this.valueEnd = this.arenaAt = decodeString(this.buf, s, e, this.buf, this.arenaAt);
    return V_STRING;
  }

  /** The chunk with a '\n' after it, in the spare buffer (with room after it for decoded values). */
  private withNewline(bytes: Uint8Array): Uint8Array {
    const n = bytes.length;
    if (this.spare.length < n + 1 + 4096) this.spare = new Uint8Array(Math.max(n + 1 + 4096, this.spare.length * 2));
    this.spare.set(bytes);
    this.spare[n] = LF;
    return this.spare.subarray(0, n + 1);
  }

  /** Makes `buf` a copy of the chunk with at least n bytes free after `arenaAt`. */
  private room(n: number): void {
    if (this.buf.length > this.chunkLength && this.arenaAt + n <= this.buf.length) return;
    const size = Math.max(this.arenaAt + n, this.chunkLength + 4096);
    let copy = this.spare;
    if (copy.length < size || copy === this.buf) copy = new Uint8Array(Math.max(size, copy.length * 2));
    copy.set(this.buf.subarray(0, this.arenaAt));
    this.spare = this.buf = copy;
    this.view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  }

  /** Writes a string's UTF-8 after the chunk; its bytes in `valueStart`/`valueEnd`. */
  private writeText(text: string): void {
    this.room(text.length * 3);
    this.valueStart = this.arenaAt;
    this.valueEnd = this.arenaAt += Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).write(text, this.arenaAt, 'utf8');
  }

  /** Unix seconds of the line's time; NaN when it is none or not one, RARE_TIME for a shape left to the reference. */
  private readTime(): number {
    const kind = this.value(F_TIME);
    const b = this.buf;
    const s = this.valueStart;
    const e = this.valueEnd;
    const time = this.time;
    if (kind === 0 || (kind === V_STRING && s === e)) return NaN;
    switch (time.kind) {
      case 'epoch':
        return kind === V_NUMBER ? epochOfNumber(b, s, e, time.unit) : epochOfText(b, s, e, time.unit);
      case 'iso8601':
        return kind === V_STRING ? this.isoSecond(b, s, e) : NaN;
      case 'clf':
        return kind === V_STRING ? clfSecond(b, s, e) : NaN;
      default:
        return kind === V_STRING ? RARE_TIME : NaN;
    }
  }

  /**
   * `YYYY-MM-DDTHH:MM:SS[.,fraction](Z|±HH|±HHMM|±HH:MM)` in Unix seconds, or NaN; the zone's
   * hours at most 14. The date of the last line is cached.
   */
  private isoSecond(b: Uint8Array, s: number, e: number): number {
    if (e - s < 20 || b[s + 4] !== DASH || b[s + 7] !== DASH || b[s + 10] !== 84 || b[s + 13] !== COLON || b[s + 16] !== COLON) return NaN;
    const v = this.view;
    const w = this.isoDate;
    let days: number;
    if (this.isoDays === this.isoDays && v.getInt32(s, true) === w[0] && v.getInt32(s + 4, true) === w[1] && v.getUint16(s + 8, true) === w[2]) {
      days = this.isoDays;
    } else {
      const year = digits(b, s, 4);
      const month = digits(b, s + 5, 2);
      const day = digits(b, s + 8, 2);
      if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return NaN;
      days = daysFromCivil(year, month, day);
      w[0] = v.getInt32(s, true);
      w[1] = v.getInt32(s + 4, true);
      w[2] = v.getUint16(s + 8, true);
      this.isoDays = days;
    }
    const hour = digits(b, s + 11, 2);
    const minute = digits(b, s + 14, 2);
    const sec = digits(b, s + 17, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59) return NaN;
    let i = s + 19;
    if (b[i] === DOT || b[i] === COMMA) {
      const from = ++i;
      while (i < e && isDigit(b[i]!)) i++;
      if (i === from) return NaN;
    }
    const offset = zoneOffset(b, i, e);
    return offset !== offset ? NaN : days * 86400 + hour * 3600 + minute * 60 + sec - offset;
  }

  /** The status (100..599), or -1 (none, or not one). */
  private readStatus(): number {
    const kind = this.value(F_STATUS);
    const b = this.buf;
    const s = this.valueStart;
    const e = this.valueEnd;
    let status = -1;
    if (kind === V_NUMBER) {
      const n = jsonNumber(b, s, e);
      status = n === 0 && this.zeroStatus >= 0 ? this.zeroStatus : Number.isInteger(n) ? n : -1;
    } else if (kind === V_STRING) {
      if (e - s === 1 && b[s] === 48 && this.zeroStatus >= 0) status = this.zeroStatus;
      else if (e - s === 3 && isDigit(b[s]!) && isDigit(b[s + 1]!) && isDigit(b[s + 2]!)) status = (b[s]! - 48) * 100 + (b[s + 1]! - 48) * 10 + (b[s + 2]! - 48);
    }
    return status >= 100 && status <= 599 ? status : -1;
  }

  /** The byte count: none or `-` is 0; -1 for one that is not (a fraction, a sign, 16 digits). */
  private readBytes(): number {
    const kind = this.value(F_BYTES);
    const b = this.buf;
    const s = this.valueStart;
    const e = this.valueEnd;
    if (kind === 0) return 0;
    if (kind === V_NUMBER) {
      const n = jsonNumber(b, s, e);
      // The reference takes String(n) of 1 to 15 digits.
      return Number.isInteger(n) && n >= 0 && n < 1e15 ? n + 0 : -1;
    }
    if (e - s === 1 && b[s] === DASH) return 0;
    if (e === s || e - s > 15) return -1;
    let n = 0;
    for (let i = s; i < e; i++) {
      const d = b[i]! - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  }

  /**
   * A duration in ms: NO_DURATION for none (`-`, empty, negative, or too big for a double),
   * BAD_DURATION for one that is not (the line is invalid), RARE_DURATION for a shape left to
   * the reference.
   */
  private readDuration(field: number, unit: Unit, list: boolean, go: boolean): number {
    const kind = this.value(field);
    if (kind === 0) return NO_DURATION;
    const b = this.buf;
    const s = this.valueStart;
    const e = this.valueEnd;
    let ms: number;
    if (kind === V_NUMBER) {
      const n = jsonNumber(b, s, e);
      ms = n < 0 ? NO_DURATION : toMs(n, unit);
    } else if (s === e || (e - s === 1 && b[s] === DASH)) return NO_DURATION;
    else if (list) ms = listMs(b, s, e, unit);
    else {
      const n = decimal(b, s, e);
      if (n === n) ms = n < 0 ? NO_DURATION : toMs(n, unit);
      else ms = go ? goMs(b, s, e) : BAD_DURATION;
    }
    // Past the doubles (1e400): no duration a sketch could hold.
    return ms === Infinity ? NO_DURATION : ms;
  }

  /** The client's bytes (`hostPort`: without a port), or -1 in clientStart for none (the `-` key). */
  private readClient(): void {
    const kind = this.value(F_CLIENT);
    let s = this.valueStart;
    let e = this.valueEnd;
    if (kind !== V_STRING || s === e) {
      this.clientStart = -1;
      return;
    }
    if (this.clientHostPort) {
      const b = this.buf;
      if (b[s] === LBRACKET) {
        let close = s + 1;
        while (close < e && b[close] !== RBRACKET) close++;
        if (close < e && (close === e - 1 || (b[close + 1] === COLON && allDigits(b, close + 2, e)))) {
          s += 1;
          e = close;
        }
      } else {
        let colon = s;
        while (colon < e && b[colon] !== COLON) colon++;
        if (colon > s && colon < e) {
          let other = colon + 1;
          while (other < e && b[other] !== COLON) other++;
          if (other === e && allDigits(b, colon + 1, e)) e = colon;
        }
      }
      if (s === e) {
        this.clientStart = -1;
        return;
      }
    }
    this.clientStart = s;
    this.clientEnd = e;
  }

  /** Whether `field` holds a name (a string but empty or `-`), then in valueStart/valueEnd. */
  private named(field: number): boolean {
    return this.value(field) === V_STRING && this.isName();
  }

  /** Whether the value `value` left is not empty and not `-`. */
  private isName(): boolean {
    const len = this.valueEnd - this.valueStart;
    return len > 1 || (len === 1 && this.buf[this.valueStart] !== DASH);
  }

  /** The method and section: from a request line when the format has one, else the method and uri fields. */
  private readRequest(): void {
    this.methodStart = -1;
    this.sectionFixed = FIXED_NO_REQUEST;
    if (this.hasRequest) {
      if (this.value(F_REQUEST) === V_STRING) this.requestLine(this.valueStart, this.valueEnd);
      return;
    }
    if (this.named(F_METHOD)) {
      const b = this.buf;
      const s = this.valueStart;
      const e = this.valueEnd;
      let m = s;
      while (m < e && METHOD_CHAR[b[m]!] === 1) m++;
      if (m === e && e - s <= MAX_METHOD) {
        this.methodStart = s;
        this.methodEnd = e;
      }
    }
    const slot = this.chosen[F_URI]!;
    if (slot >= 0 && this.slotKind[slot] === V_ESCAPED) {
      this.escapedUri(this.slotStart[slot]!, this.slotEnd[slot]!);
      return;
    }
    const uri = this.value(F_URI);
    if (uri === V_NUMBER) this.sectionFixed = FIXED_NOT_A_PATH;
    else if (uri === V_STRING && this.isName()) this.section(this.buf, this.valueStart, this.valueEnd);
  }

  /**
   * The section of a URI written with escapes (Traefik writes `&` as `\u0026`), buf[s..e) as
   * written: decoded aside, and only a section that has an escape in it is written after the
   * chunk (which may cost the chunk's copy); one before the first escape is the chunk's bytes.
   */
  private escapedUri(s: number, e: number): void {
    if (this.keyScratch.length < e - s) this.keyScratch = new Uint8Array(e - s);
    const decoded = this.keyScratch;
    const n = decodeString(this.buf, s, e, decoded, 0);
    if (n === 0 || (n === 1 && decoded[0] === DASH)) return; // no request
    this.section(decoded, 0, n);
    if (this.sectionFixed >= 0) return;
    let backslash = s;
    while (this.buf[backslash] !== BACKSLASH) backslash++;
    const start = this.sectionStart;
    const end = this.sectionEnd;
    if (end <= backslash - s) {
      // Before the first escape, the decoded bytes are the bytes as written.
      this.sectionStart = s + start;
      this.sectionEnd = s + end;
      return;
    }
    this.room(end - start);
    this.buf.set(decoded.subarray(start, end), this.arenaAt);
    this.sectionStart = this.arenaAt;
    this.sectionEnd = this.arenaAt += end - start;
  }

  /** `METHOD SP target [SP protocol]` in buf[start..end), or no request (as the CLF scanner reads one). */
  private requestLine(start: number, end: number): void {
    const b = this.buf;
    let m = start;
    while (m < end && METHOD_CHAR[b[m]!] === 1) m++;
    if (m === start || m - start > MAX_METHOD || m >= end || b[m] !== SP) return;
    const targetStart = m + 1;
    let t = targetStart;
    while (t < end && b[t] !== SP) t++;
    if (t === targetStart) return;
    if (t < end) {
      let p = t + 1;
      while (p < end && b[p] !== SP) p++;
      if (p !== end || p === t + 1) return;
    }
    this.methodStart = start;
    this.methodEnd = m;
    this.section(this.buf, targetStart, t);
  }

  /** `sectionOf` on b[start..end): the section's bytes (in b) and hash, or a fixed section. */
  private section(b: Uint8Array, start: number, end: number): void {
    let p = start;
    let c = 0;
    // http:// or https://, any case: drop the scheme and the authority.
    if (end - start >= 7 && (b[start]! | 32) === 104 && (b[start + 1]! | 32) === 116 && (b[start + 2]! | 32) === 116 && (b[start + 3]! | 32) === 112) {
      let q = start + 4;
      if ((b[q]! | 32) === 115) q++;
      if (q + 3 <= end && b[q] === COLON && b[q + 1] === SLASH && b[q + 2] === SLASH) {
        p = q + 3;
        while (p < end && (c = b[p]!) !== SLASH && c !== QMARK && c !== HASH) p++;
        if (p === end || c !== SLASH) {
          this.sectionFixed = FIXED_ROOT;
          return;
        }
      }
    }
    if (p === end || b[p] !== SLASH) {
      this.sectionFixed = FIXED_NOT_A_PATH;
      return;
    }
    let q = p + 1;
    let h = Math.imul(FNV_SEED ^ SLASH, FNV_PRIME);
    while (q < end && (c = b[q]!) !== SLASH && c !== QMARK && c !== HASH) {
      h = Math.imul(h ^ c, FNV_PRIME);
      q++;
    }
    this.sectionFixed = -1;
    this.sectionStart = p;
    this.sectionEnd = q;
    this.sectionHash = h | 0;
  }

  /**
   * A line whose shape the byte reading leaves to the reference: parsed by `parseEntry`, its
   * entry's fields written after the chunk as the byte reading would have found them.
   */
  private reference(start: number): number {
    const b = this.buf;
    const line = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8', start, this.lineEnd);
    let entry: FormatEntry | null;
    try {
      entry = parseEntry(line, this.format).entry;
    } catch {
      entry = null;
    }
    if (entry === null) return INVALID;
    this.second = entry.second;
    this.status = entry.status;
    this.bytes = entry.bytes;
    this.times[DURATION] = entry.duration !== null && entry.duration >= 0 && entry.duration < Infinity ? entry.duration : NO_DURATION;
    this.times[UPSTREAM] = entry.upstream !== null && entry.upstream >= 0 && entry.upstream < Infinity ? entry.upstream : NO_DURATION;
    if (entry.client === '-') this.clientStart = -1;
    else {
      this.writeText(entry.client);
      this.clientStart = this.valueStart;
      this.clientEnd = this.valueEnd;
    }
    this.userStart = this.vhostStart = this.methodStart = -1;
    if (entry.user !== null) {
      this.writeText(entry.user);
      this.userStart = this.valueStart;
      this.userEnd = this.valueEnd;
    }
    if (entry.vhost !== null) {
      this.writeText(entry.vhost);
      this.vhostStart = this.valueStart;
      this.vhostEnd = this.valueEnd;
    }
    if (entry.method !== NO_METHOD) {
      this.writeText(entry.method);
      this.methodStart = this.valueStart;
      this.methodEnd = this.valueEnd;
    }
    const fixed = [NO_REQUEST, NOT_A_PATH, '/'].indexOf(entry.section);
    if (fixed >= 0) this.sectionFixed = [FIXED_NO_REQUEST, FIXED_NOT_A_PATH, FIXED_ROOT][fixed]!;
    else {
      this.writeText(entry.section);
      this.sectionFixed = -1;
      this.sectionStart = this.valueStart;
      this.sectionEnd = this.valueEnd;
      this.sectionHash = fnv1a(this.buf, this.valueStart, this.valueEnd);
    }
    return VALID;
  }
}

/** `readTime`'s answer for a time the reference reads (strftime, an epoch of many digits). */
const RARE_TIME = -0.5;
/** `readDuration`'s answer for a duration the reference reads (a list with non-ASCII bytes). */
const RARE_DURATION = -3;

// ------------------------------------------------------------------------------ JSON on bytes

/**
 * The rest of a string from the backslash at b[j]: escapes checked. Returns the index after
 * its closing quote, or -1.
 */
function skipStringRest(b: Uint8Array, j: number, e: number): number {
  for (;;) {
    while (j < e && STRING_STOP[b[j]!] === 0) j++;
    if (j >= e) return -1;
    const c = b[j]!;
    if (c === QUOTE) return j + 1;
    if (c !== BACKSLASH || j + 1 >= e) return -1;
    const x = b[j + 1]!;
    if (x === 117) {
      if (j + 5 >= e || (HEX[b[j + 2]!]! | HEX[b[j + 3]!]! | HEX[b[j + 4]!]! | HEX[b[j + 5]!]!) < 0) return -1;
      j += 6;
    } else if (ESCAPED[x]! >= 0) j += 2;
    else return -1;
  }
}

/** The open brackets of the value `skipNested` is in (grown as it needs, kept). */
let nestedStack = new Uint8Array(64);

/**
 * Skips the object or array at b[i], checked as JSON.parse checks it (keys, values, commas,
 * colons, escapes, no raw control byte in a string); returns the index after it, or -1. Its
 * brackets are kept on a stack of bytes, so depth costs no recursion. The line must end in a
 * '\n' before e (the walk's chunk does), which stops every loop: no bound check a byte.
 */
export function skipNested(b: Uint8Array, i: number, e: number): number {
  let stack = nestedStack;
  let depth = 0;
  let c = b[i]!;
  for (;;) {
    // c = b[i] opens a container.
    if (depth === stack.length) {
      const bigger = new Uint8Array(stack.length * 2);
      bigger.set(stack);
      stack = nestedStack = bigger;
    }
    stack[depth++] = c;
    let inObject = c === LBRACE;
    c = b[++i]!;
    if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
    /** An empty container closed: what follows is that of a value. */
    let closed = false;
    if (c === (inObject ? RBRACE : RBRACKET)) {
      i++;
      if (--depth === 0) return i;
      inObject = stack[depth - 1] === LBRACE;
      closed = true;
    }
    // Members from c = b[i], until one is a container (opened at the top of the loop).
    member: for (;;) {
      if (closed) closed = false;
      else {
        if (inObject) {
          if (c !== QUOTE) return -1;
          let j = i + 1;
          while (STRING_STOP[b[j]!] === 0) j++;
          if (b[j] !== QUOTE) {
            if (b[j] !== BACKSLASH) return -1;
            j = skipStringRest(b, j, e) - 1;
            if (j < 0) return -1;
          }
          i = j + 1;
          c = b[i]!;
          if (c !== COLON) {
            while (SPACE[(c = b[i]!)] === 1) i++;
            if (c !== COLON) return -1;
          }
          c = b[++i]!;
          if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
        }
        if (c === QUOTE) {
          let j = i + 1;
          while (STRING_STOP[b[j]!] === 0) j++;
          if (b[j] === QUOTE) i = j + 1;
          else {
            if (b[j] !== BACKSLASH) return -1;
            i = skipStringRest(b, j, e);
            if (i < 0) return -1;
          }
        } else if (c === LBRACE || c === LBRACKET) break member;
        else {
          i = skipScalar(b, i, e);
          if (i < 0) return -1;
        }
      }
      // After a value: ',' and the next member, or closes.
      for (;;) {
        c = b[i]!;
        if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
        i++;
        if (c === COMMA) {
          c = b[i]!;
          if (c <= SP && SPACE[c] === 1) while (SPACE[(c = b[++i]!)] === 1);
          continue member;
        }
        if (c !== (inObject ? RBRACE : RBRACKET)) return -1;
        if (--depth === 0) return i;
        inObject = stack[depth - 1] === LBRACE;
      }
    }
  }
}

/** Skips a number or a literal at b[i], checked as JSON; returns the index after it, or -1. */
function skipScalar(b: Uint8Array, i: number, e: number): number {
  const c = b[i]!;
  if (c === 116) return i + 4 <= e && b[i + 1] === 114 && b[i + 2] === 117 && b[i + 3] === 101 ? i + 4 : -1; // true
  if (c === 102) return i + 5 <= e && b[i + 1] === 97 && b[i + 2] === 108 && b[i + 3] === 115 && b[i + 4] === 101 ? i + 5 : -1; // false
  if (c === 110) return i + 4 <= e && b[i + 1] === 117 && b[i + 2] === 108 && b[i + 3] === 108 ? i + 4 : -1; // null
  return skipNumber(b, i, e);
}

/** `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` at b[i]; the index after it, or -1. */
function skipNumber(b: Uint8Array, i: number, e: number): number {
  if (i < e && b[i] === DASH) i++;
  if (i >= e) return -1;
  let c = b[i]!;
  if (c === 48) i++;
  else if (c >= 49 && c <= 57) {
    i++;
    while (i < e && (c = b[i]!) >= 48 && c <= 57) i++;
  } else return -1;
  if (i < e && b[i] === DOT) {
    const from = ++i;
    while (i < e && (c = b[i]!) >= 48 && c <= 57) i++;
    if (i === from) return -1;
  }
  if (i < e && (b[i]! | 32) === 101) {
    i++;
    if (i < e && (b[i] === PLUS || b[i] === DASH)) i++;
    const from = i;
    while (i < e && (c = b[i]!) >= 48 && c <= 57) i++;
    if (i === from) return -1;
  }
  return i;
}

/**
 * The value of the number b[s..e) (a JSON number, or the reference's `-?(\d+(\.\d*)?|\.\d+)`),
 * exactly as JavaScript reads it: up to 15 digits times a power of ten up to 22 is one correctly
 * rounded operation on exact doubles (Clinger's fast path); anything else goes through Number.
 */
function jsonNumber(b: Uint8Array, s: number, e: number): number {
  let i = s;
  const negative = b[i] === DASH;
  if (negative) i++;
  let mantissa = 0;
  let digitCount = 0;
  let scale = 0;
  let c = 0;
  while (i < e && (c = b[i]!) >= 48 && c <= 57) {
    mantissa = mantissa * 10 + (c - 48);
    digitCount++;
    i++;
  }
  if (i < e && c === DOT) {
    i++;
    while (i < e && (c = b[i]!) >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48);
      digitCount++;
      scale--;
      i++;
    }
  }
  if (i < e) return slowNumber(b, s, e); // an exponent
  if (digitCount > 15 || scale < -22) return slowNumber(b, s, e);
  const value = scale < 0 ? mantissa / POW10[-scale]! : mantissa;
  return negative ? -value : value;
}

function slowNumber(b: Uint8Array, s: number, e: number): number {
  return Number(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1', s, e));
}

/** The reference's NUMBER, `-?(\d+(\.\d*)?|\.\d+)`, read; NaN when b[s..e) is not one. */
function decimal(b: Uint8Array, s: number, e: number): number {
  let i = s;
  if (i < e && b[i] === DASH) i++;
  const whole = i;
  while (i < e && isDigit(b[i]!)) i++;
  let digits = i - whole;
  if (i < e && b[i] === DOT) {
    const from = ++i;
    while (i < e && isDigit(b[i]!)) i++;
    digits += i - from;
  }
  return i === e && digits > 0 ? jsonNumber(b, s, e) : NaN;
}

/** An epoch as a JSON number: the second is floor(value / 10^(unit's digits)); NaN when negative or not finite. */
function epochOfNumber(b: Uint8Array, s: number, e: number, unit: Unit): number {
  // Seconds with a plain fraction (Caddy's `ts`) are their whole digits, unless the fraction is
  // so close to 1 that the double rounds up: below 2^33 s its step is under 1e-6, so only a
  // fraction that starts with six nines can; that one takes the exact path.
  if (unit === 's' && b[s] !== DASH) {
    let i = s;
    let whole = 0;
    let c = 0;
    while (i < e && (c = b[i]!) >= 48 && c <= 57) {
      whole = whole * 10 + (c - 48);
      i++;
    }
    if (whole < 2 ** 33) {
      if (i === e) return whole;
      if (c === DOT) {
        let j = i + 1;
        while (j < e && isDigit(b[j]!)) j++;
        if (j === e && !(e - i > 6 && b[i + 1] === 57 && b[i + 2] === 57 && b[i + 3] === 57 && b[i + 4] === 57 && b[i + 5] === 57 && b[i + 6] === 57)) {
          return whole;
        }
      }
    }
  }
  const value = jsonNumber(b, s, e);
  if (!Number.isFinite(value) || value < 0) return NaN;
  return Math.floor(value / 10 ** UNIT_DIGITS[unit]);
}

/** An epoch as text, `\d+(\.\d+)?`: the whole digits without the unit's (exact); NaN when not one. */
function epochOfText(b: Uint8Array, s: number, e: number, unit: Unit): number {
  let i = s;
  while (i < e && isDigit(b[i]!)) i++;
  const wholeEnd = i;
  if (wholeEnd === s) return NaN;
  if (i < e) {
    if (b[i] !== DOT) return NaN;
    const from = ++i;
    while (i < e && isDigit(b[i]!)) i++;
    if (i === from || i !== e) return NaN;
  }
  const end = wholeEnd - UNIT_DIGITS[unit];
  if (end <= s) return 0;
  if (end - s > 15) return RARE_TIME;
  let n = 0;
  for (let k = s; k < end; k++) n = n * 10 + (b[k]! - 48);
  return n;
}

/** `dd/Mon/yyyy:HH:MM:SS ±hhmm`, exactly 26 bytes, in Unix seconds; NaN when not a real instant. */
function clfSecond(b: Uint8Array, s: number, e: number): number {
  if (e - s !== 26 || b[s + 2] !== SLASH || b[s + 6] !== SLASH || b[s + 11] !== COLON || b[s + 14] !== COLON || b[s + 17] !== COLON || b[s + 20] !== SP) {
    return NaN;
  }
  const sign = b[s + 21];
  if (sign !== PLUS && sign !== DASH) return NaN;
  const code = (b[s + 3]! << 16) | (b[s + 4]! << 8) | b[s + 5]!;
  let month = 0;
  while (month < 12 && MONTH_CODES[month] !== code) month++;
  const day = digits(b, s, 2);
  const year = digits(b, s + 7, 4);
  const hour = digits(b, s + 12, 2);
  const minute = digits(b, s + 15, 2);
  const sec = digits(b, s + 18, 2);
  const zoneH = digits(b, s + 22, 2);
  const zoneM = digits(b, s + 24, 2);
  if (month === 12 || year < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59) return NaN;
  if (zoneH < 0 || zoneH > 14 || zoneM < 0 || zoneM > 59 || day < 1 || day > daysIn(year, month + 1)) return NaN;
  const offset = (zoneH * 3600 + zoneM * 60) * (sign === PLUS ? 1 : -1);
  return daysFromCivil(year, month + 1, day) * 86400 + hour * 3600 + minute * 60 + sec - offset;
}

/** ISO 8601's zone at b[i..e) (all of it): `Z`, `±hh`, `±hhmm` or `±hh:mm`, hours ≤ 14; seconds east, or NaN. */
function zoneOffset(b: Uint8Array, i: number, e: number): number {
  const len = e - i;
  if (len === 1 && b[i] === 90) return 0;
  const sign = b[i];
  if ((sign !== PLUS && sign !== DASH) || (len !== 3 && len !== 5 && len !== 6)) return NaN;
  const hours = digits(b, i + 1, 2);
  const minutes = len === 3 ? 0 : len === 5 ? digits(b, i + 3, 2) : b[i + 3] === COLON ? digits(b, i + 4, 2) : -1;
  if (hours < 0 || hours > 14 || minutes < 0 || minutes > 59) return NaN;
  return (hours * 3600 + minutes * 60) * (sign === PLUS ? 1 : -1);
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return DAYS_IN_MONTH[month - 1]!;
}

/** n ASCII digits at b[i] as a number, or -1. */
function digits(b: Uint8Array, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = b[i + k]! - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    v = v * 10 + d;
  }
  return v;
}

function allDigits(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (!isDigit(b[i]!)) return false;
  return true;
}

/**
 * nginx's list of upstream times (`0.010, 0.020 : 0.030`) as the reference reads it: split at
 * ',' and ':', each part trimmed; `-` and negative parts count nothing; the sum of the others'
 * ms (NO_DURATION when none), BAD_DURATION when a part is no number. Non-ASCII bytes (which
 * `trim` might remove) are left to the reference.
 */
function listMs(b: Uint8Array, s: number, e: number, unit: Unit): number {
  let total = 0;
  let any = false;
  let i = s;
  for (;;) {
    let p = i;
    while (p < e && b[p] !== COMMA && b[p] !== COLON) {
      if (b[p]! > 127) return RARE_DURATION;
      p++;
    }
    let a = i;
    let z = p;
    while (a < z && isTrimmed(b[a]!)) a++;
    while (z > a && isTrimmed(b[z - 1]!)) z--;
    if (!(z - a === 1 && b[a] === DASH)) {
      const n = decimal(b, a, z);
      if (n !== n) return BAD_DURATION;
      if (!(n < 0)) {
        total += toMs(n, unit);
        any = true;
      }
    }
    if (p >= e) break;
    i = p + 1;
  }
  return any ? total : NO_DURATION;
}

/**
 * A Go duration (`1.5ms`, `2m3.5s`, or `0`) in ms: numbers with units, summed as the reference
 * sums them; BAD_DURATION when the text is not one.
 */
function goMs(b: Uint8Array, s: number, e: number): number {
  if (e - s === 1 && b[s] === 48) return 0;
  let total = 0;
  let i = s;
  if (i === e) return BAD_DURATION;
  while (i < e) {
    const from = i;
    while (i < e && isDigit(b[i]!)) i++;
    let digits = i - from;
    if (i < e && b[i] === DOT) {
      const f = ++i;
      while (i < e && isDigit(b[i]!)) i++;
      digits += i - f;
    }
    if (digits === 0) return BAD_DURATION;
    const n = jsonNumber(b, from, i);
    let unit = -1;
    let len = 0;
    // The longest unit written here (`ms` before `m`, `ns` before `s`…).
    for (let u = 0; u < GO_UNITS.length; u++) {
      const name = GO_UNITS[u]![0];
      if (name.length <= len || i + name.length > e) continue;
      let k = 0;
      while (k < name.length && b[i + k] === name[k]) k++;
      if (k === name.length) {
        unit = u;
        len = name.length;
      }
    }
    if (unit < 0) return BAD_DURATION;
    total += n * GO_UNITS[unit]![1];
    i += len;
  }
  return total;
}

/**
 * Decodes the JSON string content b[s..e) (escapes checked already) into out[at..] as UTF-8;
 * returns where it ends. A lone surrogate becomes U+FFFD, as a UTF-8 encoder writes it. `out`
 * may be `b` itself with `at` past e (the room after the chunk): it is never longer than b[s..e).
 */
function decodeString(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  let i = s;
  while (i < e) {
    const c = b[i]!;
    if (c !== BACKSLASH) {
      out[at++] = c;
      i++;
      continue;
    }
    const x = b[i + 1]!;
    if (x !== 117) {
      out[at++] = ESCAPED[x]!;
      i += 2;
      continue;
    }
    let cp = hex4(b, i + 2);
    i += 6;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 5 < e && b[i] === BACKSLASH && b[i + 1] === 117) {
      const low = hex4(b, i + 2);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i += 6;
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) out[at++] = cp;
    else if (cp < 0x800) {
      out[at++] = 0xc0 | (cp >> 6);
      out[at++] = 0x80 | (cp & 63);
    } else if (cp < 0x10000) {
      out[at++] = 0xe0 | (cp >> 12);
      out[at++] = 0x80 | ((cp >> 6) & 63);
      out[at++] = 0x80 | (cp & 63);
    } else {
      out[at++] = 0xf0 | (cp >> 18);
      out[at++] = 0x80 | ((cp >> 12) & 63);
      out[at++] = 0x80 | ((cp >> 6) & 63);
      out[at++] = 0x80 | (cp & 63);
    }
  }
  return at;
}

function hex4(b: Uint8Array, i: number): number {
  return (HEX[b[i]!]! << 12) | (HEX[b[i + 1]!]! << 8) | (HEX[b[i + 2]!]! << 4) | HEX[b[i + 3]!]!;
}
