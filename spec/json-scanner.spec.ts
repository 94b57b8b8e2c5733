import { describe, test, expect } from 'bun:test';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { JsonScanner } from '../actors/json-scanner';
import { MAX_LINE } from '../actors/clf-scanner';
import type { Segment } from '../actors/messages';
import { decodeKey, eachKey, fnv1a, KEY_KINDS, type KeyKind, MAX_KEY_BYTES, stableHash, unpack } from '../lib/byte-keys';
import { compileFormat, type FormatEntry, type JsonFormat, parseEntry } from '../lib/log-format';
import { Sketch } from '../lib/sketch';

const json = (value: string): JsonFormat => {
  const f = compileFormat(value, { cwd: `${import.meta.dir}/..` });
  if (f.kind !== 'json') throw new Error(`${value} is not a JSON format`);
  return f;
};
const CADDY = json('caddy');
const TRAEFIK = json('traefik');
/** nginx's `escape=json` template of the fixtures' nginx.conf: every value a string. */
const NGINX_JSON = json('@spec/fixtures/formats/nginx.conf:json_combined');
/** An nginx template with numbers unquoted, $msec, $time_local and a request time in a nested object. */
const NGINX_NESTED = json(
  '{"t":$msec,"local":"$time_local","client":{"addr":"$remote_addr","user":"$remote_user"},"method":"$request_method","uri":"$request_uri",' +
    '"status":$status,"bytes":$body_bytes_sent,"timing":{"request":$request_time,"upstream":"$upstream_response_time"},"vhost":"$host"}',
);
/** A hand-made format: the CLF time in JSON, two paths for the client, a request line, durations in µs. */
const HAND_MADE: JsonFormat = {
  kind: 'json',
  name: 'hand-made',
  fields: {
    time: { paths: [['when']], time: { kind: 'clf' } },
    client: { paths: [['c', 'ip'], ['addr']], hostPort: true },
    request: { paths: [['req']] },
    status: { paths: [['s']] },
    bytes: { paths: [['b']] },
    duration: { paths: [['d']], unit: 'us' },
    upstream: { paths: [['u']], unit: 'ms', list: true },
    vhost: { paths: [['v']] },
    user: { paths: [['who']] },
  },
};

const lines = (...ls: string[]) => Buffer.from(ls.map((l) => `${l}\n`).join(''));
const fixture = (name: string) => readFileSync(`${import.meta.dir}/fixtures/formats/${name}`);

// ------------------------------------------------------------------------------ the reference

/** A key as a segment shows it: its UTF-8 kept to MAX_KEY_BYTES bytes, decoded (a long one ends in `…`). */
function keyOf(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return decodeKey(bytes, 0, Math.min(bytes.length, MAX_KEY_BYTES));
}

/** What a segment counts, in plain values, comparable with toEqual. */
interface View {
  second: number;
  hits: number;
  invalid: number;
  perSecond: [number, number][];
  status: number[];
  codes: [number, number][];
  bytes: number;
  keys: Record<KeyKind, [string, number][]>;
  latency: unknown;
  upstream: unknown;
  classLatency: unknown[] | null;
  sectionLatency: [string, unknown][] | null;
  vhostLatency: [string, unknown][] | null;
}

const sorted = <K, V>(m: Map<K, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const sketchView = (s: Sketch | undefined) => (s ? s.toJSON() : null);
const sketchesView = (m: Map<string, Sketch> | undefined) => (m ? sorted(m).map(([k, s]) => [k, sketchView(s)] as [string, unknown]) : null);

/** A packing's hashes are each key's FNV-1a (this process's seed) and stable hash. */
function expectHashes(seg: Segment) {
  const hashes: number[] = [];
  eachKey(seg.keys, (_kind, bytes, start, end) => hashes.push(fnv1a(bytes, start, end), stableHash(bytes, start, end) | 0));
  if (hashes.length > 0) expect([...seg.keys.hashes!]).toEqual(hashes);
}

function viewOf(seg: Segment): View {
  const keys = {} as View['keys'];
  for (const kind of KEY_KINDS) keys[kind] = sorted(unpack(seg.keys, kind));
  return {
    second: seg.second,
    hits: seg.hits,
    invalid: seg.invalid,
    perSecond: sorted(seg.perSecond),
    status: [...seg.status],
    codes: sorted(seg.codes),
    bytes: seg.bytes,
    keys,
    latency: sketchView(seg.latency),
    upstream: sketchView(seg.upstream),
    classLatency: seg.classLatency ? Array.from({ length: 6 }, (_, i) => sketchView(seg.classLatency![i])) : null,
    sectionLatency: sketchesView(seg.sectionLatency),
    vhostLatency: sketchesView(seg.vhostLatency),
  };
}

/** A segment the reference builds line by line, as the scanner's are built. */
class ReferenceSegment {
  hits = 0;
  invalid = 0;
  perSecond = new Map<number, number>();
  status = [0, 0, 0, 0, 0, 0];
  codes = new Map<number, number>();
  bytes = 0;
  keys = Object.fromEntries(KEY_KINDS.map((k) => [k, new Map<string, number>()])) as Record<KeyKind, Map<string, number>>;
  latency: Sketch | undefined;
  upstream: Sketch | undefined;
  classLatency: (Sketch | undefined)[] | undefined;
  sectionLatency: Map<string, Sketch> | undefined;
  vhostLatency: Map<string, Sketch> | undefined;

  constructor(readonly second: number) {}

  count(e: FormatEntry): void {
    const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);
    this.hits++;
    bump(this.perSecond, e.second);
    const cls = Math.floor(e.status / 100);
    this.status[cls]!++;
    bump(this.codes, e.status);
    this.bytes += e.bytes;
    bump(this.keys.hosts, keyOf(e.client));
    if (e.user !== null) bump(this.keys.users, keyOf(e.user));
    bump(this.keys.methods, keyOf(e.method));
    bump(this.keys.sections, keyOf(e.section));
    if (e.vhost !== null) bump(this.keys.vhosts, keyOf(e.vhost));
    // A duration past the doubles (1e400) is no duration to the scanner: a sketch cannot hold it.
    const timed = (ms: number | null): ms is number => ms !== null && Number.isFinite(ms);
    if (timed(e.upstream)) (this.upstream ??= new Sketch()).add(e.upstream);
    if (!timed(e.duration)) return;
    const ms = e.duration;
    (this.latency ??= new Sketch()).add(ms);
    ((this.classLatency ??= [])[cls] ??= new Sketch()).add(ms);
    const add = (m: Map<string, Sketch>, key: string) => {
      if (!m.has(key)) m.set(key, new Sketch());
      m.get(key)!.add(ms);
    };
    add((this.sectionLatency ??= new Map()), keyOf(e.section));
    if (e.vhost !== null) add((this.vhostLatency ??= new Map()), keyOf(e.vhost));
  }

  view(): View {
    const keys = {} as View['keys'];
    for (const kind of KEY_KINDS) keys[kind] = sorted(this.keys[kind]);
    return {
      second: this.second,
      hits: this.hits,
      invalid: this.invalid,
      perSecond: sorted(this.perSecond),
      status: this.status,
      codes: sorted(this.codes),
      bytes: this.bytes,
      keys,
      latency: sketchView(this.latency),
      upstream: sketchView(this.upstream),
      classLatency: this.classLatency ? Array.from({ length: 6 }, (_, i) => sketchView(this.classLatency![i])) : null,
      sectionLatency: sketchesView(this.sectionLatency),
      vhostLatency: sketchesView(this.vhostLatency),
    };
  }
}

/**
 * The segments of a chunk as `parseEntry` reads its lines ('\n' separated, each decoded as
 * UTF-8): one per run of lines that share a high-water second, invalid lines in the run they
 * come in; blank lines skipped.
 */
function referenceSegments(bytes: Uint8Array, format: JsonFormat, highWater = -Infinity): View[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: ReferenceSegment[] = [];
  let seg: ReferenceSegment | null = null;
  let hw = highWater;
  for (let pos = 0; pos < text.length; ) {
    let nl = text.indexOf(10, pos);
    if (nl < 0) nl = text.length;
    const parsed = parseEntry(text.toString('utf8', pos, nl), format);
    pos = nl + 1;
    if (parsed.entry === null) {
      if (parsed.error === 'blank line') continue;
      if (seg === null) out.push((seg = new ReferenceSegment(hw)));
      seg.invalid++;
      continue;
    }
    if (parsed.entry.second > hw) hw = parsed.entry.second;
    if (seg === null || seg.second !== hw) out.push((seg = new ReferenceSegment(hw)));
    seg.count(parsed.entry);
  }
  return out.map((s) => s.view());
}

/** The scanner counts `bytes` exactly as the reference does, segment by segment (its hashes right too). */
function expectAgrees(bytes: Uint8Array, format: JsonFormat, scanner = new JsonScanner(format)): Segment[] {
  const before = scanner.highWater;
  const segments = scanner.scan(bytes).segments;
  for (const s of segments) expectHashes(s);
  expect(segments.map(viewOf)).toEqual(referenceSegments(bytes, format, before));
  return segments;
}

/** Sums over a chunk's segments. */
function totals(segments: Segment[]) {
  const out = { hits: 0, invalid: 0, keys: {} as Record<KeyKind, Map<string, number>>, latency: new Sketch() };
  for (const kind of KEY_KINDS) out.keys[kind] = new Map();
  for (const s of segments) {
    out.hits += s.hits;
    out.invalid += s.invalid;
    for (const kind of KEY_KINDS) for (const [k, n] of unpack(s.keys, kind)) out.keys[kind].set(k, (out.keys[kind].get(k) ?? 0) + n);
    if (s.latency) out.latency.merge(s.latency);
  }
  return { ...out, latency: out.latency.toJSON() };
}

// ------------------------------------------------------------------------------- lines by hand

/** A Caddy access log line as Caddy 2.6 writes it; `o` replaces values (raw JSON) or drops them (undefined). */
function caddy(o: Record<string, string | undefined> = {}): string {
  const v = (k: string, d: string) => (k in o ? o[k] : d);
  const request: string[] = [];
  for (const [k, d] of [
    ['remote_ip', '"127.0.0.1"'],
    ['remote_port', '"41342"'],
    ['client_ip', undefined],
    ['proto', '"HTTP/1.1"'],
    ['method', '"GET"'],
    ['host', '"localhost"'],
    ['uri', '"/a/b?x=1"'],
  ] as const) {
    const value = v(k, d as string);
    if (value !== undefined) request.push(`"${k}":${value}`);
  }
  request.push('"headers":{"User-Agent":["curl/7.82.0"],"Accept":["*/*"]}');
  const top: string[] = ['"level":"info"'];
  for (const [k, d] of [
    ['ts', '1646861401.5241024'],
    ['logger', '"http.log.access.log0"'],
    ['msg', '"handled request"'],
    ['request', `{${request.join(',')}}`],
    ['user_id', '""'],
    ['duration', '0.000929675'],
    ['size', '10900'],
    ['status', '200'],
  ] as const) {
    const value = v(k, d);
    if (value !== undefined) top.push(`"${k}":${value}`);
  }
  top.push('"resp_headers":{"Server":["Caddy"],"Content-Type":["text/html"]}');
  return `{${top.join(',')}}`;
}

const T0 = 1646861401;

// ----------------------------------------------------------------------------------- the tests

describe('JsonScanner: the servers’ own lines', () => {
  test('Caddy 2.6 (client_ip before remote_ip, a status of 0 is the empty 200, an empty Authorization list)', () => {
    const segments = expectAgrees(fixture('caddy.log'), CADDY);
    const t = totals(segments);
    expect([t.hits, t.invalid]).toEqual([7, 0]);
    expect(t.keys.hosts.get('203.0.113.9')).toBe(1); // client_ip, not remote_ip 10.0.0.5
    expect(t.keys.hosts.has('10.0.0.5')).toBe(false);
    expect(t.keys.vhosts.get('127.0.0.1:18431')).toBe(3);
    expect(t.latency.count).toBe(7);
    expect(t.latency.max).toBe(52.311); // 0.052311 s
  });

  test('Traefik (durations in ns, StartUTC with nanoseconds and an offset, ClientUsername -)', () => {
    const t = totals(expectAgrees(fixture('traefik.log'), TRAEFIK));
    expect([t.hits, t.invalid]).toEqual([3, 0]);
    expect([...t.keys.users]).toEqual([['bob', 1]]);
    expect(t.latency.max).toBeCloseTo(30001.234567, 6);
  });

  test('nginx escape=json (every value a string, \\" in the request, upstream lists, an empty upstream time)', () => {
    const t = totals(expectAgrees(fixture('nginx-json.log'), NGINX_JSON));
    expect([t.hits, t.invalid]).toEqual([6, 0]);
    expect(t.keys.sections.get('/search')).toBe(2);
  });

  test('the fixtures in one chunk, a line at a time, and 7 bytes at a time (whole lines only) count alike', () => {
    const all = fixture('caddy.log');
    const whole = totals(new JsonScanner(CADDY).scan(all).segments);
    const byLine = new JsonScanner(CADDY);
    const parts: Segment[] = [];
    for (const line of all.toString('utf8').split(/(?<=\n)/)) parts.push(...byLine.scan(Buffer.from(line)).segments);
    expect(totals(parts)).toEqual(whole);
  });
});

describe('JsonScanner: JSON as JSON.parse reads it', () => {
  test('a line that is no JSON object is invalid, never a throw', () => {
    const bad = ['[]', '"x"', '1', 'null', 'true', '{', '}', '{"ts":1', '{"ts":1,}', '{,}', '{"a" 1}', '{"a":}', '{"a":1 "b":2}', "{'a':1}", '{"a":tru}', '{"a":01}'];
    bad.push('{"a":1.}', '{"a":-}', '{"a":.5}', '{"a":1e}', '{"a":"\\x"}', '{"a":"\\u12G4"}', '{"a":"\t"}', '{"a":[1,]}', '{"a":{"b":1,}}', '{"a":[}', '{"a":{]}');
    bad.push(`${caddy()} x`, `${caddy()}${caddy()}`, `\uFEFF${caddy()}`, `${caddy()}\u0000`);
    const segments = expectAgrees(lines(...bad), CADDY);
    expect(totals(segments).invalid).toBe(bad.length);
  });

  test('every prefix of a line (truncated JSON) is invalid, as JSON.parse has it; the whole line counts', () => {
    const line = caddy({ client_ip: '"10.0.0.9"', uri: '"/caf\\u00e9/\\"x\\"?q=1"', user_id: '"al\\u0069ce"' });
    const prefixes = Array.from({ length: line.length }, (_, n) => line.slice(0, n));
    const t = totals(expectAgrees(lines(...prefixes, line), CADDY));
    expect(t.hits).toBe(1);
    expect(t.invalid).toBe(prefixes.filter((p) => p.trim() !== '').length);
  });

  test('whitespace between tokens, a CRLF ending, blank lines (spaces, tabs, one \\r) and a lone \\r\\r', () => {
    const spaced = ` \t{ "ts" :\t${T0} , "status":200,\r"request" : { "method" : "GET" , "uri":"/x" } }  \t`;
    const batch = lines(spaced, `${caddy()}\r`, '', '   ', '\t \r', '\r\r', ' \r ');
    const t = totals(expectAgrees(batch, CADDY));
    expect([t.hits, t.invalid]).toEqual([2, 2]);
  });

  test('a key given twice counts its last value; a repeated object replaces what the first one held', () => {
    const twice = `{"status":500,"ts":${T0},"status":201,"request":{"method":"GET","uri":"/a","host":"h1"},"request":{"uri":"/b"}}`;
    const segments = expectAgrees(lines(twice), CADDY);
    const t = totals(segments);
    expect([...t.keys.methods]).toEqual([['(none)', 1]]);
    expect([...t.keys.sections]).toEqual([['/b', 1]]);
    expect(t.keys.vhosts.size).toBe(0);
    expect([...segments[0]!.codes]).toEqual([[201, 1]]);
  });

  test('keys that share a path key’s length and first bits are not it (Status, a 38-byte key), nor is one a byte longer', () => {
    const near = [`{"ts":${T0},"Status":500,"status":200,"sizes":5,"siz":6}`, `{"ts":${T0},"status":201,"${'s'.repeat(38)}":500,"\u0073tatus":202}`];
    const segments = expectAgrees(lines(...near), CADDY);
    expect(segments.flatMap((s) => [...s.codes])).toEqual([
      [200, 1],
      [202, 1],
    ]);
  });

  test('a JSON null is no value: the next path is read (client_ip null, remote_ip counts)', () => {
    const t = totals(expectAgrees(lines(caddy({ client_ip: 'null', remote_ip: '"10.1.1.1"' }), caddy({ client_ip: 'null', remote_ip: 'null' })), CADDY));
    expect([...t.keys.hosts]).toEqual([
      ['10.1.1.1', 1],
      ['-', 1],
    ]);
  });

  test('a field holding a boolean, an object or an array makes the line invalid; the same where no field is, or a path through an array, does not', () => {
    const bad = [caddy({ user_id: 'true' }), caddy({ size: '[]' }), caddy({ method: '{"a":1}' }), caddy({ duration: 'false' })];
    const fine = [caddy({ logger: 'true' }), caddy({ msg: '{"deep":[[[{"x":null}]]]}' }), caddy({ request: '{"uri":"/x","tls":{"resumed":false}}' }), caddy({ request: '[{"method":"GET"}]' })];
    const t = totals(expectAgrees(lines(...bad, ...fine), CADDY));
    expect([t.hits, t.invalid]).toEqual([fine.length, bad.length]);
  });

  test('escapes count by their decoded bytes: keys, URIs, users, a surrogate pair, a lone surrogate', () => {
    const escaped = [
      `{"t\\u0073":${T0},"st\\u0061tus":200,"request":{"ur\\u0069":"\\/caf\\u00e9\\/x","method":"G\\u0045T"}}`,
      caddy({ user_id: '"a\\"b\\\\c"', uri: '"/\\ud83d\\ude00/y"' }),
      caddy({ user_id: '"\\ud800x"', uri: '"/\\u0000/z"', host: '"\\u0068ost"' }),
    ];
    const t = totals(expectAgrees(lines(...escaped), CADDY));
    expect(t.hits).toBe(3);
    expect(t.keys.sections.get('/café')).toBe(1);
    expect(t.keys.sections.get('/😀')).toBe(1);
    expect(t.keys.users.get('a"b\\c')).toBe(1);
    expect(t.keys.users.get('\uFFFDx')).toBe(1);
    expect(t.keys.methods.get('GET')).toBe(3);
    expect(t.keys.vhosts.get('host')).toBe(1);
  });

  test('a URI escaped after its section (Traefik writes & as \\u0026) counts the section as written; one escaped inside it, decoded', () => {
    const path = (p: string) => `{"StartUTC":"2024-03-05T10:15:42Z","DownstreamStatus":200,"Duration":1000,"RequestPath":"${p}","RequestHost":"h"}`;
    const batch = [path('/api/x?a=1\\u0026b=2'), path('/api?a\\u0026b'), path('/caf\\u00e9/x'), path('\\/a\\/b'), path('/a\\u002fb'), path('http:\\/\\/h\\u003fx'), path('\\u002d')];
    const t = totals(expectAgrees(lines(...batch), TRAEFIK));
    expect([...t.keys.sections].sort()).toEqual([
      ['(no request)', 1],
      ['/', 1],
      ['/a', 2],
      ['/api', 2],
      ['/café', 1],
    ]);
  });

  test('an escaped value after plain ones in a chunk (the chunk moves to a buffer with room) keeps every earlier key right', () => {
    const plain = Array.from({ length: 50 }, (_, i) => caddy({ remote_ip: `"10.0.0.${i}"`, uri: `"/p${i}/x"`, ts: String(T0 + (i >> 3)) }));
    const escaped = caddy({ remote_ip: '"10.9.9.\\u0039"', uri: '"/\\u00e9t\\u00e9"', ts: String(T0 + 7) });
    const more = Array.from({ length: 50 }, (_, i) => caddy({ remote_ip: `"10.0.1.${i}"`, uri: `"/q${i}"`, ts: String(T0 + 7 + (i >> 3)) }));
    const scanner = new JsonScanner(CADDY, { borrowKeys: true });
    expectAgrees(lines(...plain, escaped, ...more), CADDY, scanner);
    // The next chunk starts in the chunk itself again.
    expectAgrees(lines(...more, escaped, ...plain), CADDY, scanner);
  });

  test('skipped objects and arrays (headers, tls): nested, empty, spaced, strings with braces, quotes and escapes; each broken one is invalid', () => {
    const skipped = (headers: string) => caddy({ request: `{"remote_ip":"10.1.1.1","method":"GET","headers":${headers},"uri":"/k/1","host":"h"}` });
    const good = [
      '{}',
      '[]',
      '{ }',
      '[ ]',
      '{"a":{},"b":[],"c":[{}],"d":[[]],"e":{"f":{"g":[1,{"h":null}]}}}',
      '{"a":["}","]","{","[",",",":"],"b\\"":"\\"}\\"","c":"\\\\","d":"\\u007d\\/\\b\\f\\n\\r\\t"}',
      ' { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] , "b" : { } } ',
      '{"ts":1,"status":500,"request":{"uri":"/not/this"},"duration":"x"}',
      '{"a":1,"a":[2],"a":{"a":3}}',
      '[{"a":[{"b":[{"c":"]}"}]}]}]',
      '"a string"',
      '123',
    ];
    const bad = [
      '{',
      '[',
      '{"a":1',
      '{"a":[1,2}',
      '{"a":{"b":1]}',
      '[1,]',
      '{"a":1,}',
      '{,}',
      '[,1]',
      '{"a"}',
      '{"a" 1}',
      '{"a":1 "b":2}',
      '{1:2}',
      '{"a":"\\q"}',
      '{"a":"\\u00g0"}',
      '{"a":"x\ty"}',
      '["\\"]',
      '[tru]',
      '[01]',
      '[1.]',
      '{"a":[}',
      '[]]',
      '{}}',
    ];
    const batch = lines(...good.map(skipped), ...bad.map(skipped));
    const t = totals(expectAgrees(batch, CADDY));
    expect([t.hits, t.invalid]).toEqual([good.length, bad.length]);
    expect([...t.keys.sections]).toEqual([['/k', good.length]]);
  });

  test('every prefix of a line with escapes and nesting in its skipped values is invalid (a line cut inside them)', () => {
    const line = caddy({ request: '{"headers":{"A":["x\\\"}"],"B":[[],{}],"C":{"D":[1,{"E":"]"}]}},"uri":"/a","method":"PUT"}' });
    const prefixes = Array.from({ length: line.length }, (_, n) => line.slice(0, n));
    const t = totals(expectAgrees(lines(...prefixes, line), CADDY));
    expect([t.hits, t.invalid]).toEqual([1, prefixes.length - 1]);
  });

  test('a chunk whose last line has no newline: cut anywhere, even inside a skipped value, counts as the reference counts it', () => {
    const line = caddy({ request: '{"headers":{"A":["x"]},"uri":"/z"}' });
    for (const cut of [line.length, line.length - 1, line.indexOf('"A"') + 2, line.indexOf('["x"]') + 2, 3]) {
      const bytes = Buffer.from(`${caddy()}\n${line.slice(0, cut)}`);
      const scanner = new JsonScanner(CADDY);
      expectAgrees(bytes, CADDY, scanner);
      // The next chunk is its own: what the copy held does not leak into it.
      expectAgrees(lines(caddy({ uri: '"/next"' })), CADDY, scanner);
    }
    const t = totals(new JsonScanner(CADDY).scan(Buffer.from(`${line}\n${line}`)).segments);
    expect([t.hits, t.invalid]).toEqual([2, 0]);
  });

  test('nesting 20,000 and 30,000 deep in a skipped value is checked, not recursed into', () => {
    const deep = `{"ts":${T0},"status":200,"x":${'[{"a":'.repeat(2_000)}1${'}]'.repeat(2_000)},"y":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const unbalanced = `{"ts":${T0},"status":200,"x":${'['.repeat(30_000)}${']'.repeat(29_999)}}`;
    const t = totals(expectAgrees(lines(deep, unbalanced), CADDY));
    expect([t.hits, t.invalid]).toEqual([1, 1]);
  });

  test(`a line over ${MAX_LINE} bytes is invalid, one of exactly ${MAX_LINE} counts`, () => {
    const head = `{"ts":${T0},"status":200,"pad":"`;
    const exact = `${head}${'x'.repeat(MAX_LINE - head.length - 2)}"}`;
    expect(Buffer.byteLength(exact)).toBe(MAX_LINE);
    const t = totals(expectAgrees(lines(exact, exact.replace('"pad":"', '"pad":"y'), `${exact}\r`), CADDY));
    expect([t.hits, t.invalid]).toEqual([2, 1]);
  });

  test('keys of MAX_KEY_BYTES bytes and more are kept to that many, their durations with them', () => {
    const long = (c: string) => `"/${c.repeat(400)}"`;
    const t = totals(expectAgrees(lines(caddy({ uri: long('a') }), caddy({ uri: long('a').replace(/a"$/, 'b"') }), caddy({ host: `"${'h'.repeat(300)}"` })), CADDY));
    expect([...t.keys.sections.values()]).toEqual([2, 1]);
  });
});

describe('JsonScanner: the fields, by parseEntry’s rules', () => {
  test('numbers with exponents and fractions where integers are read: as their value, or invalid when it is no whole number', () => {
    const forms = ['2e2', '2.00e2', '200.0', '20E1', '2.005e2', '-200', '0', '-0', '1e400', '599', '600', '99'];
    const batch = forms.flatMap((f) => [caddy({ status: f }), caddy({ size: f }), caddy({ ts: f }), caddy({ duration: f })]);
    expectAgrees(lines(...batch), CADDY);
  });

  test('epoch times: a fraction so close to 1 that the double rounds up; ms, µs and ns epochs; epochs as text', () => {
    const near = ['1646861401.9999999', '1646861401.99999999999', '1646861401.9999994', '1646861401.999999', '16468614019999.9999'];
    expectAgrees(lines(...near.map((ts) => caddy({ ts }))), CADDY);
    for (const unit of ['ms', 'us', 'ns'] as const) {
      const f: JsonFormat = { ...HAND_MADE, fields: { ...HAND_MADE.fields, time: { paths: [['when']], time: { kind: 'epoch', unit } } } };
      const whens = ['1646861401524', '"1646861401524"', '"1646861401524.5"', '"12"', '"12345678901234567890123"', '1.5e12', '"1e12"', '"-5"', '-5', '""'];
      expectAgrees(lines(...whens.map((w) => `{"when":${w},"s":200}`)), f);
    }
  });

  test('ISO 8601 times: fractions, Z, ±hh, ±hhmm, ±hh:mm, impossible dates and zones', () => {
    const isos = ['2024-01-01T00:00:00.123456789Z', '2024-01-01T00:00:00,5Z', '2024-03-05T11:15:42.9+01:00', '2024-03-05T11:15:42-0530', '2024-03-05T11:15:42+05'];
    isos.push('2024-02-29T23:59:59Z', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T00:00:00+15:00', '2024-01-01 00:00:00Z');
    isos.push('2024-01-01T00:00:00z', '2024-01-01t00:00:00Z', '2024-01-01T00:00:00', '2024-01-01T00:00:00.Z', '2024-01-01T00:00:00+05:', '2024-01-01T00:00:00+5:00');
    const t = totals(expectAgrees(lines(...isos.map((iso) => `{"StartUTC":"${iso}","DownstreamStatus":200,"Duration":1000}`)), TRAEFIK));
    expect(t.hits).toBe(6);
  });

  test('the CLF time, hostPort clients, a request line, µs durations and an upstream list in ms', () => {
    const when = '"09/May/2018:16:00:39 +0000"';
    const batch = [
      `{"when":${when},"s":200,"c":{"ip":"[2001:db8::1]:443"},"req":"GET /a/b HTTP/1.1","d":1500,"u":"1.5, 2 : -","v":"h","who":"-"}`,
      `{"when":${when},"s":"404","addr":"10.0.0.1:8080","req":"BREW /pot","d":"2.5","u":"-","who":"bob"}`,
      `{"when":${when},"s":200,"addr":"::1","req":"GET /a b c","d":"-","u":"3,","v":"-"}`,
      `{"when":${when},"s":200,"addr":"[::1]x","req":"","d":"","u":" 4 :5\\t,-1"}`,
      `{"when":${when},"s":200,"addr":"10.0.0.1:80:90","req":5,"u":"\\u00a04"}`,
      `{"when":${when},"s":200,"addr":":80","c":{"ip":""},"d":-3,"u":"1e3"}`,
      `{"when":"09/may/2018:16:00:39 +0000","s":200}`,
      `{"when":"31/Apr/2018:16:00:39 +0000","s":200}`,
      `{"when":${when},"s":200,"who":7,"v":1.5e3}`,
      `{"when":${when},"s":200,"addr":12}`,
    ];
    expectAgrees(lines(...batch), HAND_MADE);
  });

  test('Go durations (Caddy’s duration_format string) and durations that are no number', () => {
    const durations = ['"1.5ms"', '"2m3.5s"', '"1h"', '"0"', '"0s"', '"3µs"', '"3μs"', '"4us"', '"5ns"', '".5s"', '"1.s"', '"1msx"', '"ms"', '"1 ms"', '"abc"', '"-1ms"', '"-2"', '"-"', '""'];
    expectAgrees(lines(...durations.map((d) => caddy({ duration: d }))), CADDY);
  });

  test('methods: [A-Za-z_-]{1,32} but not "-", else (none); URIs: absolute, not a path, none', () => {
    const methods = ['"GET"', '"get"', '"PROPFIND"', '"-"', '""', '"GE T"', '"G3T"', `"${'A'.repeat(32)}"`, `"${'A'.repeat(33)}"`, '"GÉT"', '5', '"POST"', '"HEAD"', '"PUT"', '"PUTS"'];
    const uris = ['"http://h/a/b"', '"HTTPS://h?x=/a"', '"http://h"', '"*"', '"-"', '""', '"/a#b/c"', '"?x"', '7', '"/"'];
    const t = totals(expectAgrees(lines(...methods.map((method) => caddy({ method })), ...uris.map((uri) => caddy({ uri }))), CADDY));
    expect(t.keys.methods.get('(none)')).toBe(7);
    expect(t.keys.sections.get('(not a path)')).toBe(3);
  });

  test('nginx templates: numbers unquoted, $msec, a nested request time, an upstream list of strings', () => {
    const line = (o: Record<string, string>) =>
      `{"t":${o.t ?? '1709633742.123'},"local":"05/Mar/2024:10:15:42 +0000","client":{"addr":"${o.addr ?? '10.0.0.1'}","user":"${o.user ?? ''}"},"method":"GET",` +
      `"uri":"${o.uri ?? '/x?y'}","status":${o.status ?? '200'},"bytes":${o.bytes ?? '512'},"timing":{"request":${o.rt ?? '0.012'},"upstream":"${o.up ?? '0.010, 0.002'}"},"vhost":"${o.vhost ?? 'h'}"}`;
    const batch = [line({}), line({ rt: '0.000', up: '-' }), line({ up: '' }), line({ t: '1709633742' }), line({ user: 'bob', vhost: '' }), line({ rt: '-' })];
    expectAgrees(lines(...batch), NGINX_NESTED);
  });
});

describe('JsonScanner: counted as the CLF scanner counts', () => {
  test('segments by high-water second: a late line counts in the newest second’s segment, invalid lines where they come', () => {
    const at = (s: number) => caddy({ ts: String(T0 + s) });
    const segments = expectAgrees(lines('junk', at(0), at(1), at(0), 'junk', at(3), at(2)), CADDY);
    expect(segments.map((s) => [s.second, s.hits, s.invalid])).toEqual([
      [-Infinity, 0, 1],
      [T0, 1, 0],
      [T0 + 1, 2, 1],
      [T0 + 3, 2, 0],
    ]);
    expect([...segments[2]!.perSecond]).toEqual([
      [T0 + 1, 1],
      [T0, 1],
    ]);
  });

  test('the high water carries over from chunk to chunk', () => {
    const scanner = new JsonScanner(CADDY);
    expectAgrees(lines(caddy({ ts: String(T0 + 5) })), CADDY, scanner);
    expect(scanner.highWater).toBe(T0 + 5);
    const segments = expectAgrees(lines('junk', caddy({ ts: String(T0) })), CADDY, scanner);
    expect(segments.map((s) => s.second)).toEqual([T0 + 5]);
  });

  test('durations go to the segment’s latency, and by status class, section and vhost; upstream apart; none without a timed line', () => {
    const timed = [caddy({ duration: '0.25', uri: '"/a/x"', host: '"v1"' }), caddy({ duration: '1.5', status: '503', uri: '"/b"' }), caddy({ duration: '"-"', host: '"v2"' })];
    const [seg] = expectAgrees(lines(...timed), CADDY);
    expect(seg!.latency!.count).toBe(2);
    expect(seg!.classLatency![5]!.max).toBe(1500);
    expect([...seg!.sectionLatency!.keys()].sort()).toEqual(['/a', '/b']);
    expect([...seg!.vhostLatency!.keys()].sort()).toEqual(['localhost', 'v1']);
    expect(seg!.upstream).toBeUndefined();
    const [untimed] = expectAgrees(lines(caddy({ duration: undefined })), CADDY);
    expect([untimed!.latency, untimed!.sectionLatency, untimed!.classLatency]).toEqual([undefined, undefined, undefined]);
  });

  test('ruleSketches: false keeps no classLatency or vhostLatency, and counts everything else alike', () => {
    const batch = lines(
      ...Array.from({ length: 200 }, (_, i) =>
        caddy({ ts: String(T0 + (i >> 6)), duration: i % 9 === 0 ? '"-"' : `0.00${i % 7}${i}`, status: i % 5 === 0 ? '503' : '200', host: `"v${i % 3}"`, uri: `"/s${i % 4}/x"` }),
      ),
      'junk',
    );
    const kept = new JsonScanner(CADDY).scan(batch).segments;
    const lean = new JsonScanner(CADDY, { ruleSketches: false }).scan(batch).segments;
    expect(kept.every((s) => s.classLatency !== undefined && s.vhostLatency !== undefined)).toBe(true);
    expect(lean.every((s) => s.classLatency === undefined && s.vhostLatency === undefined)).toBe(true);
    const withoutRules = (s: Segment) => ({ ...viewOf(s), classLatency: null, vhostLatency: null });
    expect(lean.map(withoutRules)).toEqual(kept.map(withoutRules));
    expect(lean.map((s) => s.sectionLatency!.size)).toEqual(kept.map((s) => s.sectionLatency!.size));
    // A scanner that kept them counts as the reference does (ruleSketches' default).
    expectAgrees(batch, CADDY, new JsonScanner(CADDY, { ruleSketches: true }));
  });

  test('a scanner that borrows its keys counts what one that owns them does', () => {
    const batch = lines(...Array.from({ length: 300 }, (_, i) => caddy({ remote_ip: `"10.0.${i % 7}.${i}"`, ts: String(T0 + (i >> 5)), uri: `"/s${i % 13}"` })));
    const owned = new JsonScanner(CADDY).scan(batch).segments.map(viewOf);
    const borrowed = new JsonScanner(CADDY, { borrowKeys: true }).scan(batch).segments.map(viewOf);
    expect(borrowed).toEqual(owned);
  });
});

// ------------------------------------------------------------------------------ property tests

/** A deterministic stream of choices for the renderer, from a seed fast-check draws. */
function chooser(seed: number) {
  let s = seed | 0;
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { chance: (p: number) => next() < p, pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}
type Chooser = ReturnType<typeof chooser>;

/** A JSON value to render: raw text (a number, a literal), a string, an object (its members in order, keys may repeat) or an array. */
type J = { raw: string } | { str: string } | { obj: [string, J][] } | { arr: J[] };

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex4 = (n: number) => `\\u${n.toString(16).padStart(4, '0')}`;

/** A string as JSON, some characters escaped at random (\u, short escapes, \/), the ones JSON requires always. */
function renderString(text: string, c: Chooser): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const must = ch === '"' || ch === '\\' || code < 0x20;
    if (!must && !c.chance(0.08)) {
      out += ch;
      continue;
    }
    if (SHORT_ESCAPES[ch] && c.chance(0.6)) out += SHORT_ESCAPES[ch];
    else if (code > 0xffff) out += hex4(0xd800 + ((code - 0x10000) >> 10)) + hex4(0xdc00 + ((code - 0x10000) & 0x3ff));
    else out += c.chance(0.5) ? hex4(code) : hex4(code).toUpperCase().replace('\\U', '\\u');
  }
  return `${out}"`;
}

const space = (c: Chooser) => (c.chance(0.1) ? c.pick([' ', '\t', '  ', '\r', ' \t ']) : '');

function render(j: J, c: Chooser): string {
  if ('raw' in j) return j.raw;
  if ('str' in j) return renderString(j.str, c);
  if ('arr' in j) return `[${j.arr.map((v) => space(c) + render(v, c) + space(c)).join(',')}]`;
  return `{${j.obj.map(([k, v]) => `${space(c)}${renderString(k, c)}${space(c)}:${space(c)}${render(v, c)}${space(c)}`).join(',')}}`;
}

/** JSON numbers as text, of every shape the grammar allows. */
const numberText = fc
  .tuple(fc.boolean(), fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 10n ** 20n }).map(String)), fc.option(fc.stringMatching(/^[0-9]{1,12}$/)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 30 }))))
  .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac !== null ? `.${frac}` : ''}${exp ? `${exp[0]}${exp[1]}${exp[2]}` : ''}`);

/** Any JSON value (what Caddy's headers, TLS or an unknown key might hold). */
const anyJson: fc.Arbitrary<J> = fc.letrec<{ v: J }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText.map((raw) => ({ raw })),
    fc.constantFrom('true', 'false', 'null').map((raw) => ({ raw })),
    fc.string({ unit: 'binary', maxLength: 8 }).map((str) => ({ str })),
    fc.array(tie('v'), { maxLength: 3 }).map((arr) => ({ arr })),
    fc.array(fc.tuple(fc.string({ maxLength: 4 }), tie('v')), { maxLength: 3 }).map((obj) => ({ obj })),
  ),
})).v;

const str = (texts: fc.Arbitrary<string>): fc.Arbitrary<J> => texts.map((s) => ({ str: s }));
const raw = (texts: fc.Arbitrary<string>): fc.Arbitrary<J> => texts.map((r) => ({ raw: r }));
/** Mostly a realistic value, sometimes an odd one (another kind, null, any JSON). */
const field = (usual: fc.Arbitrary<J>) =>
  fc.oneof({ weight: 12, arbitrary: usual }, { weight: 1, arbitrary: fc.constant<J>({ raw: 'null' }) }, { weight: 1, arbitrary: anyJson });

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const client = fc.oneof(ipv4, fc.constantFrom('2001:db8::1', '::1', '[::1]:80', '10.0.0.1:5000', '', '-', 'a host'), fc.string({ maxLength: 6 }));
const methodText = fc.oneof(fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PROPFIND', '-', '', 'GE T', 'g_e-t', 'GÉT'), fc.string({ maxLength: 4 }));
const uriText = fc.oneof(
  fc.constantFrom('/', '/a/b?x=1', '/café/x', 'http://h/a/b', 'HTTPS://h?x=/a', 'http://h', '*', '', '-', '/a"b/c', '/a\\b/c', '/\u0000/x', '/😀/y', '/a#b', '/a?b/c'),
  fc.webPath(),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);
const nameText = fc.oneof(fc.constantFrom('', '-', 'alice', 'a"b', 'é', 'x y'), fc.string({ maxLength: 6 }));
const seconds = fc.oneof(
  fc.double({ min: 1.6e9, max: 1.8e9, noNaN: true }).map(String),
  fc.integer({ min: T0, max: T0 + 20 }).map(String),
  fc.integer({ min: T0, max: T0 + 20 }).map((s) => `${s}.${'9'.repeat(7)}`),
  numberText,
);
const statusText = fc.oneof(
  { weight: 8, arbitrary: raw(fc.constantFrom('200', '201', '204', '301', '304', '404', '500', '503', '0', '2e2', '200.0', '99', '600')) },
  { weight: 1, arbitrary: str(fc.constantFrom('200', '0', '20', '2000', ' 200')) },
);
const sizeText = fc.oneof(raw(fc.constantFrom('0', '10900', '2e3', '1.5', '-1', '999999999999999', '1000000000000000')), raw(fc.nat().map(String)), str(fc.constantFrom('5', '-', '')));
const secondsText = fc.oneof(
  { weight: 6, arbitrary: raw(fc.double({ min: 0, max: 60, noNaN: true }).map((d) => String(Math.round(d * 1e9) / 1e9))) },
  { weight: 1, arbitrary: raw(numberText) },
  { weight: 1, arbitrary: str(fc.constantFrom('1.5ms', '2m3.5s', '0', '-', '', 'abc', '0.25', '.5')) },
);

/** Members of an object: each key's value, then maybe extra keys, an earlier duplicate, shuffled. */
function members(fields: [string, fc.Arbitrary<J | undefined>][]): fc.Arbitrary<[string, J][]> {
  return fc
    .tuple(
      fc.tuple(...fields.map(([k, v]) => v.map((value) => [k, value] as const))),
      fc.array(fc.tuple(fc.constantFrom('headers', 'tls', 'extra', 'level', 'x'), anyJson), { maxLength: 2 }),
      fc.option(fc.tuple(fc.constantFrom(...fields.map(([k]) => k)), anyJson), { freq: 8 }),
      fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
    )
    .map(([given, extra, duplicate, order]) => {
      const list: [string, J][] = [...given.filter((m): m is readonly [string, J] => m[1] !== undefined), ...extra].map(([k, v]) => [k, v]);
      for (let i = list.length - 1; i > 0; i--) {
        const k = order[i % order.length]! % (i + 1);
        [list[i], list[k]] = [list[k]!, list[i]!];
      }
      if (duplicate) list.unshift(duplicate);
      return list;
    });
}
const maybe = (a: fc.Arbitrary<J>) => fc.option(a, { freq: 10, nil: undefined });

const caddyObject: fc.Arbitrary<J> = members([
  ['ts', field(raw(seconds))],
  [
    'request',
    field(
      members([
        ['remote_ip', maybe(field(str(client)))],
        ['client_ip', fc.option(field(str(client)), { freq: 3, nil: undefined })],
        ['method', maybe(field(str(methodText)))],
        ['host', maybe(field(str(nameText)))],
        ['uri', maybe(field(str(uriText)))],
      ]).map((obj) => ({ obj })),
    ),
  ],
  ['user_id', maybe(field(str(nameText)))],
  ['duration', maybe(field(secondsText))],
  ['size', maybe(field(sizeText))],
  ['status', field(statusText)],
]).map((obj) => ({ obj }));

const traefikObject: fc.Arbitrary<J> = members([
  ['StartUTC', field(str(fc.oneof(fc.date({ min: new Date(0), max: new Date(2 ** 42), noInvalidDate: true }).map((d) => d.toISOString()), fc.constantFrom('2024-03-05T11:15:42.9+01:00', '2024-03-05T11:15:42-0530', '2024-01-01T00:00:00'))))],
  ['ClientHost', maybe(field(str(client)))],
  ['ClientAddr', maybe(field(str(client)))],
  ['ClientUsername', maybe(field(str(nameText)))],
  ['RequestMethod', maybe(field(str(methodText)))],
  ['RequestPath', maybe(field(str(uriText)))],
  ['RequestHost', maybe(field(str(nameText)))],
  ['DownstreamStatus', field(statusText)],
  ['DownstreamContentSize', maybe(field(sizeText))],
  ['Duration', maybe(field(raw(fc.oneof(fc.nat().map(String), numberText))))],
  ['OriginDuration', maybe(field(raw(fc.oneof(fc.nat().map(String), numberText))))],
]).map((obj) => ({ obj }));

const nginxObject: fc.Arbitrary<J> = members([
  ['time', field(str(fc.constantFrom('2024-03-05T10:15:42+00:00', '2024-03-05T10:15:43+01:00', '2024-03-05T10:15:4')))],
  ['remote_addr', field(str(client))],
  ['remote_user', field(str(nameText))],
  ['request', field(str(fc.oneof(fc.tuple(methodText, uriText, fc.constantFrom(' HTTP/1.1', '', ' x y')).map(([m, u, p]) => `${m} ${u}${p}`), fc.string({ maxLength: 6 }))))],
  ['status', field(str(fc.constantFrom('200', '404', '0', '99', 'abc')))],
  ['body_bytes_sent', field(str(fc.constantFrom('0', '612', '-', '1.5')))],
  ['request_time', field(str(fc.constantFrom('0.000', '0.052', '1', '-', '', '.5', '5.', '-1', 'x', '1e3')))],
  ['upstream_response_time', field(str(fc.constantFrom('0.010, 0.020 : 0.030', '-', '', '0.5', '-, 0.1', '0.1,', ' 0.2 ', 'a', '0.1 : -1', '-1')))],
  ['host', field(str(nameText))],
]).map((obj) => ({ obj }));

/** Damage done to a line: cut, a byte in, a byte out, a byte changed. */
const damage = fc.oneof(
  fc.constant(null),
  fc.tuple(fc.constant('cut'), fc.double({ min: 0, max: 1, noNaN: true })),
  fc.tuple(fc.constantFrom('insert', 'replace'), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...'{}[]":,\\ \t\r0-.eEa\u00e9'.split(''), '\u0000')),
  fc.tuple(fc.constant('delete'), fc.double({ min: 0, max: 1, noNaN: true })),
);

function damaged(line: string, d: [string, number, string?] | null): string {
  if (d === null) return line;
  const at = Math.floor(d[1] * line.length);
  if (d[0] === 'cut') return line.slice(0, at);
  if (d[0] === 'insert') return line.slice(0, at) + d[2] + line.slice(at);
  if (d[0] === 'replace') return line.slice(0, at) + d[2] + line.slice(at + 1);
  return line.slice(0, at) + line.slice(at + 1);
}

function agreesOnRendered(object: fc.Arbitrary<J>, format: JsonFormat, runs: number) {
  fc.assert(
    fc.property(fc.array(fc.tuple(object, fc.integer(), damage), { minLength: 1, maxLength: 8 }), (drawn) => {
      const text = drawn.map(([j, seed, d]) => damaged(render(j, chooser(seed)), d as [string, number, string?] | null)).join('\n');
      try {
        expectAgrees(Buffer.from(text), format);
      } catch (e) {
        // fast-check shows what it drew; the lines themselves say more.
        throw new Error(`the lines ${JSON.stringify(text)}:\n${String(e).slice(0, 4000)}`);
      }
    }),
    { numRuns: runs },
  );
}

describe('JsonScanner: agrees with parseEntry on random lines (random key order, extra nested values, escapes, exponents, duplicate keys, damage)', () => {
  test('Caddy', () => agreesOnRendered(caddyObject, CADDY, 600));
  test('Traefik', () => agreesOnRendered(traefikObject, TRAEFIK, 300));
  test('nginx escape=json', () => agreesOnRendered(nginxObject, NGINX_JSON, 300));

  test('any bytes at all: never a throw, and what counts is what parseEntry counts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer(), (noise, seed) => {
        const c = chooser(seed);
        // Noise alone, and noise spliced into a real line.
        const line = Buffer.from(render({ obj: [['ts', { raw: String(T0) }], ['status', { raw: '200' }]] }, c));
        const at = Math.floor(c.chance(0.5) ? 0 : line.length / 2);
        expectAgrees(Buffer.concat([noise, Buffer.from('\n'), line.subarray(0, at), noise, line.subarray(at)]), CADDY);
      }),
      { numRuns: 400 },
    );
  });
});
