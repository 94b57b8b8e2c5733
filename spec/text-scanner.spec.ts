import { describe, test, expect } from 'bun:test';
import fc from 'fast-check';
import { TextScanner } from '../actors/text-scanner';
import { ClfScanner, MAX_LINE } from '../actors/clf-scanner';
import { type Batch, type Segment } from '../actors/messages';
import { eachKey, fnv1a, KEY_KINDS, type KeyCounts, stableHash, unpack } from '../lib/byte-keys';
import { compileFormat, parseEntry, type FieldToken, type FormatEntry, type TextFormat } from '../lib/log-format';
import { Sketch } from '../lib/sketch';

const encoder = new TextEncoder();
const enc = (text: string) => encoder.encode(text);

const text = (value: string): TextFormat => {
  const f = compileFormat(value);
  if (f.kind !== 'text') throw new Error(`${value} is not a text format`);
  return f;
};

/** The issue's custom nginx format: combined and the request time, upstream times and virtual host. */
const NGINX_TIMED = text(
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host',
);
const NGINX_COMBINED = text('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"');
const APACHE_TIMED = text('%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %v');
const APACHE_COMMON = text('%h %l %u %t "%r" %>s %b');
const VCOMBINED = text('vcombined');
const ALB = text('aws-alb');
const ISO_FIELDS = text('$time_iso8601 $remote_addr $request_method $request_uri $status $body_bytes_sent $request_time $upstream_response_time');
const MSEC = text('$msec|$remote_addr|"$request"|$status|$bytes_sent|$request_time|$http_host');
const STRFTIME_ZONED = text('%{%Y-%m-%d %H:%M:%S %z}t %a "%m %U%q" %>s %B %{ms}T');
const STRFTIME_LOCAL = text('[%{%d/%b/%Y %T}t] %h %u "%r" %s %b %T');
const NGINX_JSON_ESCAPED: TextFormat = { ...NGINX_TIMED, name: 'escape=json', escape: 'json' };
const NGINX_UNESCAPED: TextFormat = { ...NGINX_TIMED, name: 'escape=none', escape: 'none' };

/** Every format under test, by a name for the test titles. */
const FORMATS: [string, TextFormat][] = [
  ['nginx timed', NGINX_TIMED],
  ['nginx combined', NGINX_COMBINED],
  ['apache %D %v', APACHE_TIMED],
  ['apache common', APACHE_COMMON],
  ['vcombined', VCOMBINED],
  ['aws-alb', ALB],
  ['iso8601, method and uri', ISO_FIELDS],
  ['$msec', MSEC],
  ['strftime with a zone', STRFTIME_ZONED],
  ['strftime, local time', STRFTIME_LOCAL],
  ['nginx escape=json', NGINX_JSON_ESCAPED],
  ['nginx escape=none', NGINX_UNESCAPED],
];

const TS = '09/May/2018:16:00:39 +0000';
const T0 = Date.UTC(2018, 4, 9, 16, 0, 39) / 1000;
const at = (ss: number) => `09/May/2018:16:00:${String(ss).padStart(2, '0')} +0000`;
const second = (ss: number) => Date.UTC(2018, 4, 9, 16, 0, ss) / 1000;

function nginx(
  o: { host?: string; user?: string; ts?: string; request?: string; status?: string; bytes?: string; referer?: string; agent?: string; time?: string; upstream?: string; vhost?: string } = {},
): string {
  const { host = '10.0.0.1', user = '-', ts = TS, request = 'GET /api/users HTTP/1.1', status = '200', bytes = '123' } = o;
  const { referer = '-', agent = 'curl/8.5.0', time = '0.012', upstream = '0.010', vhost = 'www.example.com' } = o;
  return `${host} - ${user} [${ts}] "${request}" ${status} ${bytes} "${referer}" "${agent}" ${time} ${upstream} ${vhost}`;
}

interface Totals {
  hits: number;
  invalid: number;
  perSecond: Map<number, number>;
  sections: Map<string, number>;
  users: Map<string, number>;
  hosts: Map<string, number>;
  methods: Map<string, number>;
  vhosts: Map<string, number>;
  status: number[];
  codes: Map<number, number>;
  bytes: number;
  latency: Sketch;
  upstream: Sketch;
  sectionLatency: Map<string, Sketch>;
  vhostLatency: Map<string, Sketch>;
  classLatency: Sketch[];
}

/** A packing's hashes are each key's FNV-1a (this process's seed) and stable hash. */
function expectHashes(keys: KeyCounts) {
  const hashes: number[] = [];
  eachKey(keys, (_kind, bytes, start, end) => hashes.push(fnv1a(bytes, start, end), stableHash(bytes, start, end) | 0));
  if (hashes.length > 0) expect([...keys.hashes!]).toEqual(hashes);
}

function totals(batch: Batch): Totals {
  const out: Totals = {
    hits: 0,
    invalid: 0,
    perSecond: new Map(),
    sections: new Map(),
    users: new Map(),
    hosts: new Map(),
    methods: new Map(),
    vhosts: new Map(),
    status: [0, 0, 0, 0, 0, 0],
    codes: new Map(),
    bytes: 0,
    latency: new Sketch(),
    upstream: new Sketch(),
    sectionLatency: new Map(),
    vhostLatency: new Map(),
    classLatency: Array.from({ length: 6 }, () => new Sketch()),
  };
  const merge = <K>(into: Map<K, number>, from: Map<K, number>) => {
    for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
  };
  const mergeSketches = (into: Map<string, Sketch>, from: Map<string, Sketch> | undefined) => {
    for (const [k, v] of from ?? []) {
      if (!into.has(k)) into.set(k, new Sketch());
      into.get(k)!.merge(v);
    }
  };
  for (const seg of batch.segments) {
    out.hits += seg.hits;
    out.invalid += seg.invalid;
    merge(out.perSecond, seg.perSecond);
    for (const kind of KEY_KINDS) merge(out[kind], unpack(seg.keys, kind));
    expectHashes(seg.keys);
    seg.status.forEach((n, i) => (out.status[i]! += n));
    merge(out.codes, seg.codes);
    out.bytes += seg.bytes;
    if (seg.latency) out.latency.merge(seg.latency);
    if (seg.upstream) out.upstream.merge(seg.upstream);
    mergeSketches(out.sectionLatency, seg.sectionLatency);
    mergeSketches(out.vhostLatency, seg.vhostLatency);
    seg.classLatency?.forEach((s, i) => s && out.classLatency[i]!.merge(s));
  }
  return out;
}

const isBlank = (line: string) => /^[ \t]*$/.test(line.endsWith('\r') ? line.slice(0, -1) : line);
const entries = <K>(m: Map<K, number>) => [...m.entries()];
/** A sketch of one value, as [count, sum] (−0 read as 0), or null when empty. */
const oneValue = (s: Sketch | undefined) => (s && s.count > 0 ? [s.count, s.sum + 0] : null);
const sketchValues = (m: Map<string, Sketch>) => [...m].map(([k, s]) => [k, oneValue(s)]);

/** Asserts that scanning `line` alone gives what parseEntry says (counts, keys and durations). Returns whether it was a hit. */
function expectAgreement(scanner: TextScanner, format: TextFormat, line: string, newline: boolean): boolean {
  const expected = parseEntry(line, format).entry;
  const batch = scanner.scan(enc(newline ? `${line}\n` : line));
  const t = totals(batch);
  if (isBlank(line)) {
    expect([line, batch.segments.length]).toEqual([line, 0]);
    return false;
  }
  if (expected === null) {
    expect([line, t.hits, t.invalid]).toEqual([line, 0, 1]);
    return false;
  }
  const statusClass = Math.floor(expected.status / 100);
  const d = expected.duration;
  const timed = format.tokens.some((tok) => 'field' in tok && tok.field === 'duration');
  expect({
    line,
    hits: t.hits,
    invalid: t.invalid,
    perSecond: entries(t.perSecond),
    hosts: entries(t.hosts),
    users: entries(t.users),
    methods: entries(t.methods),
    sections: entries(t.sections),
    vhosts: entries(t.vhosts),
    status: t.status,
    codes: entries(t.codes),
    bytes: t.bytes,
    latency: oneValue(t.latency),
    upstream: oneValue(t.upstream),
    sectionLatency: sketchValues(t.sectionLatency),
    vhostLatency: sketchValues(t.vhostLatency),
    classLatency: t.classLatency.map(oneValue),
  }).toEqual({
    line,
    hits: 1,
    invalid: 0,
    perSecond: [[expected.second, 1]],
    hosts: [[expected.client, 1]],
    users: expected.user === null ? [] : [[expected.user, 1]],
    methods: [[expected.method, 1]],
    sections: [[expected.section, 1]],
    vhosts: expected.vhost === null ? [] : [[expected.vhost, 1]],
    status: [0, 1, 2, 3, 4, 5].map((i) => (i === statusClass ? 1 : 0)),
    codes: [[expected.status, 1]],
    bytes: expected.bytes,
    latency: timed && d !== null ? [1, d + 0] : null,
    upstream: expected.upstream === null ? null : [1, expected.upstream + 0],
    sectionLatency: timed && d !== null ? [[expected.section, [1, d + 0]]] : [],
    vhostLatency: timed && d !== null && expected.vhost !== null ? [[expected.vhost, [1, d + 0]]] : [],
    classLatency: [0, 1, 2, 3, 4, 5].map((i) => (timed && d !== null && i === statusClass ? [1, d + 0] : null)),
  });
  return true;
}

/** The one hit of a one-line text in `format`, as parseEntry would say it. */
function single(format: TextFormat, line: string): FormatEntry {
  const scanner = new TextScanner(format);
  expect(expectAgreement(scanner, format, line, false)).toBe(true);
  return parseEntry(line, format).entry!;
}

const isInvalid = (format: TextFormat, line: string) => {
  const t = totals(new TextScanner(format).scan(enc(line)));
  expect(parseEntry(line, format).entry).toBeNull();
  return t.invalid === 1 && t.hits === 0;
};

describe('reading lines', () => {
  test('the custom nginx format: every field, the durations in ms', () => {
    expect(single(NGINX_TIMED, nginx({ user: 'bob', time: '0.250', upstream: '0.240' }))).toEqual({
      second: T0,
      client: '10.0.0.1',
      user: 'bob',
      method: 'GET',
      section: '/api',
      status: 200,
      bytes: 123,
      vhost: 'www.example.com',
      duration: 250,
      upstream: 240,
    });
  });

  test('Apache with %D (µs) and %v', () => {
    const line = `::1 - alice [${TS}] "POST /pages/create HTTP/1.1" 201 - "https://ref/" "Mozilla/5.0 (X11)" 1234567 intranet`;
    expect(single(APACHE_TIMED, line)).toMatchObject({ client: '::1', user: 'alice', method: 'POST', section: '/pages', bytes: 0, vhost: 'intranet', duration: 1234.567 });
  });

  test('vcombined: the virtual host and port in front', () => {
    const line = `www.example.com:443 203.0.113.7 - - [${TS}] "GET /report HTTP/2.0" 304 0 "-" "curl/8"`;
    expect(single(VCOMBINED, line)).toMatchObject({ vhost: 'www.example.com', client: '203.0.113.7', section: '/report', status: 304, duration: null });
  });

  test('aws-alb: client:port, the three processing times summed, the target time as upstream, the domain as vhost', () => {
    const alb = (times: string, client = '192.168.131.39:2817', domain = 'api.example.com') =>
      `https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 ${client} 10.0.0.1:80 ${times} 200 200 34 366 ` +
      `"GET https://api.example.com:443/v1/items?id=1 HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 ` +
      `arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "${domain}" "arn:aws:acm:cert" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"`;
    expect(single(ALB, alb('0.000 0.001 0.000'))).toMatchObject({ second: Date.UTC(2018, 6, 2, 22, 23, 0) / 1000, client: '192.168.131.39', section: '/v1', vhost: 'api.example.com', duration: 1, upstream: 1, bytes: 366 });
    expect(single(ALB, alb('-1 -1 -1'))).toMatchObject({ duration: null, upstream: null });
    expect(single(ALB, alb('0.001 -1 0.002'))).toMatchObject({ duration: null, upstream: null });
    expect(single(ALB, alb('0.001 0.002 0.003', '[2001:db8::1]:443', '-'))).toMatchObject({ client: '2001:db8::1', vhost: null });
  });

  test('ISO 8601 time, a method field and a URI field read on their own', () => {
    const line = '2026-01-01T00:00:01+01:00 10.1.2.3 DELETE /api/users/7?x=/y 204 0 0.003 -';
    expect(single(ISO_FIELDS, line)).toMatchObject({ second: Date.UTC(2025, 11, 31, 23, 0, 1) / 1000, method: 'DELETE', section: '/api', duration: 3, upstream: null });
    expect(single(ISO_FIELDS, '2026-01-01T00:00:01.5Z 10.1.2.3 get1 - 200 0 - -')).toMatchObject({ method: '(none)', section: '(no request)', duration: null });
  });

  test('$msec: seconds since the epoch with a fraction', () => {
    expect(single(MSEC, '1767225600.123|10.0.0.9|"GET / HTTP/1.1"|200|512|0.000|-')).toMatchObject({ second: 1767225600, section: '/', duration: 0, vhost: null });
  });

  test('strftime times, with a zone and in local time', () => {
    expect(single(STRFTIME_ZONED, '2018-05-09 18:00:39 +0200 10.0.0.1 "GET /a/b?c" 200 5 17')).toMatchObject({ second: T0, method: 'GET', section: '/a', duration: 17 });
    const local = new Date(2018, 4, 9, 16, 0, 39).getTime() / 1000;
    expect(single(STRFTIME_LOCAL, '[09/May/2018 16:00:39] 10.0.0.1 - "GET /x HTTP/1.1" 200 5 2')).toMatchObject({ second: local, duration: 2000 });
    expect(isInvalid(STRFTIME_LOCAL, '[31/Apr/2018 16:00:39] 10.0.0.1 - "GET /x HTTP/1.1" 200 5 2')).toBe(true);
  });

  test('a format without a client counts the client `-`; an empty client is `-` too', () => {
    expect(single(ISO_FIELDS, '2026-01-01T00:00:01Z  GET / 200 0 - -').client).toBe('-');
    expect(single(STRFTIME_ZONED, '2018-05-09 18:00:39 +0200  "GET /" 200 5 17').client).toBe('-');
  });

  test('a line with more or fewer fields than the format is invalid', () => {
    // the last field runs to the end of the line
    expect(single(NGINX_TIMED, `${nginx()} extra`).vhost).toBe('www.example.com extra');
    expect(isInvalid(NGINX_TIMED, nginx().replace(' 0.012 0.010 www.example.com', ''))).toBe(true);
    expect(isInvalid(APACHE_COMMON, `10.0.0.1 - - [${TS}] "GET / HTTP/1.1" 200 5 "-" "curl"`)).toBe(true);
    expect(isInvalid(APACHE_COMMON, `10.0.0.1 - - [${TS}] "GET / HTTP/1.1" 200 5 `)).toBe(true);
  });
});

describe('escapes', () => {
  test('nginx writes a quote as \\x22: it is no end of a field, and keys keep the bytes as written', () => {
    const hit = single(NGINX_TIMED, nginx({ user: 'a\\x22b', request: 'GET /q\\x22x/y HTTP/1.1', agent: 'say \\x22hi\\x22' }));
    expect([hit.user, hit.section]).toEqual(['a\\x22b', '/q\\x22x']);
  });

  test('a quoted field ends where the literal after it first occurs, a raw quote or not', () => {
    expect(isInvalid(NGINX_TIMED, nginx({ agent: 'a" b' }))).toBe(true);
    expect(single(NGINX_TIMED, nginx({ agent: 'say "hi"' })).duration).toBe(12);
    expect(single(NGINX_TIMED, nginx({ request: 'GET /a"b HTTP/1.1' })).section).toBe('/a"b');
    expect(isInvalid(NGINX_TIMED, nginx({ request: 'GET /a" 200 1 HTTP/1.1' }))).toBe(true);
  });

  test('Apache writes \\" in a quoted field: it does not end the field', () => {
    const line = `10.0.0.1 - - [${TS}] "GET /a\\" 200 1 b HTTP/1.1" 200 5 "-" "say \\"hi\\" 200 1" 10 vhost`;
    expect(single(APACHE_TIMED, line)).toMatchObject({ method: '(none)', section: '(no request)', bytes: 5, vhost: 'vhost', duration: 0.01 });
  });

  test('a backslash before a separator takes it along (the CLF part then reads as the format says, not as CLF)', () => {
    expect(isInvalid(NGINX_TIMED, nginx({ host: 'h\\' }))).toBe(true);
    expect(single(NGINX_TIMED, nginx({ user: 'u\\ x' })).user).toBe('u\\ x');
    // ClfScanner would count this line; the format's reading does not
    expect(totals(new ClfScanner().scan(enc(nginx({ request: 'GET /x\\' })))).hits).toBe(1);
    expect(isInvalid(NGINX_TIMED, nginx({ request: 'GET /x\\' }))).toBe(true);
    expect(single(NGINX_TIMED, nginx({ request: 'GET /x\\\\' })).section).toBe('/x\\\\');
    // without escapes the backslash is a byte like the others
    expect(single(NGINX_UNESCAPED, nginx({ request: 'GET /x\\', status: '500' })).section).toBe('/x\\');
  });

  test('nginx\'s combined ident is the literal `-`; Apache\'s %l is any field', () => {
    expect(isInvalid(NGINX_TIMED, nginx().replace(' - - ', ' x - '))).toBe(true);
    expect(single(APACHE_COMMON, `10.0.0.1 ident james [${TS}] "GET / HTTP/1.1" 200 5`).user).toBe('james');
  });
});

describe('durations', () => {
  test('nginx upstream lists are summed: `, ` between retries, ` : ` between redirects; `-` parts are none', () => {
    expect(single(NGINX_TIMED, nginx({ upstream: '0.010, 0.020 : 0.030' })).upstream).toBeCloseTo(60, 9);
    expect(single(NGINX_TIMED, nginx({ upstream: '-, 0.020' })).upstream).toBe(20);
    expect(single(NGINX_TIMED, nginx({ upstream: '- : -' })).upstream).toBeNull();
    expect(single(NGINX_TIMED, nginx({ upstream: '-' })).upstream).toBeNull();
  });

  test('`-` is no duration: the line counts, untimed', () => {
    const hit = single(NGINX_TIMED, nginx({ time: '-', upstream: '-' }));
    expect([hit.duration, hit.upstream]).toEqual([null, null]);
  });

  test('a duration that is no number makes the line invalid', () => {
    for (const time of ['abc', '1.2.3', '0x10', '.', '1e3', '+1']) expect([time, isInvalid(NGINX_TIMED, nginx({ time }))]).toEqual([time, true]);
    expect(isInvalid(NGINX_TIMED, nginx({ upstream: '0.010,' }))).toBe(true);
  });

  test('the value in ms is the very double the reference computes (digits over a power of ten, then the unit)', () => {
    for (const time of ['0.007', '0.1', '1.005', '123456.789', '0.000', '5.', '.25', '-0', '-1', '000000000000000.5', '1234567890123456.5']) {
      single(NGINX_TIMED, nginx({ time }));
    }
    for (const us of ['7', '1', '999999', '1234567890123', '12345678901234567890']) single(APACHE_TIMED, `h - - [${TS}] "GET / HTTP/1.1" 200 5 "-" "-" ${us} v`);
  });

  test('seconds to the millisecond (`0.013`, nginx\'s shape) are the reference\'s doubles, in the duration and the upstream list', () => {
    const seconds = fc.tuple(fc.integer({ min: 0, max: 999_999 }), fc.integer({ min: 0, max: 999 })).map(([s, ms]) => `${s}.${String(ms).padStart(3, '0')}`);
    fc.assert(
      fc.property(seconds, seconds, (time, upstream) => {
        single(NGINX_TIMED, nginx({ time, upstream }));
      }),
      { numRuns: 500 },
    );
    // near the shape: read by the general rule, invalid or not as the reference says
    for (const value of ['0.0a3', '0.-13', '1.0001', '12345678.123', '1234567.123', '-1.000', 'a.123', '1:2.123', '.123', '1.12', ' 1.123']) {
      expectAgreement(new TextScanner(NGINX_TIMED), NGINX_TIMED, nginx({ time: value }), true);
      expectAgreement(new TextScanner(NGINX_TIMED), NGINX_TIMED, nginx({ upstream: value }), true);
    }
  });
});

describe('clients', () => {
  test('`address:port` (aws-alb) loses the port; a bare IPv6 address, a zone or anything else stays whole', () => {
    const alb = (client: string) =>
      `http 2018-07-02T22:23:00Z app/lb/1 ${client} 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://h/x HTTP/1.1" "c" - - arn "Root=1" "-" more`;
    for (const [client, expected] of [
      ['10.1.2.3:80', '10.1.2.3'],
      ['10.1.2.3:', '10.1.2.3'],
      ['[2001:db8::1]:443', '2001:db8::1'],
      ['[2001:db8::1]', '2001:db8::1'],
      ['[fe80::1%eth0]:80', 'fe80::1%eth0'],
      ['2001:db8::1', '2001:db8::1'],
      ['fe80::1%eth0', 'fe80::1%eth0'],
      ['host:port', 'host:port'],
      ['[]:80', '-'],
      ['[2001:db8::1]x', '[2001:db8::1]x'],
      [':80', ':80'],
    ]) {
      expect([client, single(ALB, alb(client!)).client]).toEqual([client, expected]);
    }
  });

  test('nginx\'s $remote_addr is the address as written, a zone included', () => {
    expect(single(NGINX_TIMED, nginx({ host: 'fe80::1%eth0' })).client).toBe('fe80::1%eth0');
  });
});

describe('latency', () => {
  test('a segment holds its timed lines\' durations: in all, by section, by vhost and by status class; untimed lines only count', () => {
    const lines = [
      nginx({ time: '0.010', request: 'GET /api/a HTTP/1.1', vhost: 'a.example' }),
      nginx({ time: '0.020', request: 'GET /api/b HTTP/1.1', vhost: 'b.example' }),
      nginx({ time: '0.030', request: 'GET /pages/c HTTP/1.1', vhost: 'a.example', status: '503' }),
      nginx({ time: '-', request: 'GET /api/d HTTP/1.1', vhost: 'a.example' }),
      nginx({ time: '0.040', request: '-', vhost: '-', status: '400' }),
    ];
    const batch = new TextScanner(NGINX_TIMED).scan(enc(lines.join('\n')));
    expect(batch.segments.length).toBe(1);
    const seg = batch.segments[0]!;
    expect(seg.hits).toBe(5);
    const values = (s: Sketch | undefined) => (s ? [s.count, s.min, s.max] : null);
    expect(values(seg.latency)).toEqual([4, 10, 40]);
    expect(new Map([...seg.sectionLatency!].map(([k, s]) => [k, values(s)]))).toEqual(
      new Map([
        ['/api', [2, 10, 20]],
        ['/pages', [1, 30, 30]],
        ['(no request)', [1, 40, 40]],
      ]),
    );
    expect(new Map([...seg.vhostLatency!].map(([k, s]) => [k, values(s)]))).toEqual(
      new Map([
        ['a.example', [2, 10, 30]],
        ['b.example', [1, 20, 20]],
      ]),
    );
    expect(seg.classLatency!.map(values)).toEqual([null, null, [2, 10, 20], null, [1, 40, 40], [1, 30, 30]]);
    expect(values(seg.upstream)).toEqual([5, 10, 10]);
  });

  test('each distinct section and vhost is one entry of a segment, however many lines', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => nginx({ time: String(i / 1000), request: `GET /s${i % 3}/x HTTP/1.1`, vhost: `v${i % 2}` }));
    const seg = new TextScanner(NGINX_TIMED).scan(enc(lines.join('\n'))).segments[0]!;
    expect([...seg.sectionLatency!.keys()].sort()).toEqual(['/s0', '/s1', '/s2']);
    expect([...seg.vhostLatency!.values()].map((s) => s.count)).toEqual([500, 500]);
    expect(seg.latency!.count).toBe(1000);
  });

  test('a section written as bytes and the same section written as no bytes (`/` of an absolute URL) are one key', () => {
    const lines = [nginx({ request: 'GET / HTTP/1.1' }), nginx({ request: 'GET http://h HTTP/1.1' })];
    const seg = new TextScanner(NGINX_TIMED).scan(enc(lines.join('\n'))).segments[0]!;
    expect([...seg.sectionLatency!].map(([k, s]) => [k, s.count])).toEqual([['/', 2]]);
  });

  test('a format without a duration keeps no sketches; one with an upstream only keeps that', () => {
    const seg = new TextScanner(NGINX_COMBINED).scan(enc(nginx().replace(/ 0\.012 .*$/, ''))).segments[0]!;
    expect(seg.hits).toBe(1);
    expect([seg.latency, seg.upstream, seg.sectionLatency, seg.vhostLatency, seg.classLatency]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    const upstreamOnly = text('$remote_addr [$time_local] "$request" $status $upstream_response_time');
    const s2 = new TextScanner(upstreamOnly).scan(enc(`10.0.0.1 [${TS}] "GET / HTTP/1.1" 200 0.5`)).segments[0]!;
    expect([s2.hits, s2.upstream?.count, s2.latency]).toEqual([1, 1, undefined]);
  });

  test('a segment of no timed line carries no sketch', () => {
    const seg = new TextScanner(NGINX_TIMED).scan(enc(nginx({ time: '-', upstream: '-' }))).segments[0]!;
    expect([seg.hits, seg.latency, seg.upstream, seg.sectionLatency]).toEqual([1, undefined, undefined, undefined]);
  });

  test('durations far apart, tiny, huge and infinite make the sketch that adding them one by one makes', () => {
    const values = ['0.00000001', '0.000000000001', '1e100', '0.5', String(1.5e250), '1', '1e400', '999999.999', '1000000.001'].map((v) =>
      v.includes('e') ? (v === '1e400' ? '1'.padEnd(401, '0') : BigInt(Number(v)).toString()) : v,
    );
    const lines = values.map((time) => nginx({ time }));
    const seg = new TextScanner(NGINX_TIMED).scan(enc(lines.join('\n'))).segments[0]!;
    const expected = new Sketch();
    for (const line of lines) expected.add(parseEntry(line, NGINX_TIMED).entry!.duration!);
    expect(seg.latency!.toJSON()).toEqual(expected.toJSON());
    expect(seg.sectionLatency!.get('/api')!.toJSON()).toEqual(expected.toJSON());
    expect([expected.count, seg.hits]).toEqual([8, 9]); // the infinite one is timed by nothing
  });

  test('a duration lands in the bucket Sketch.add puts it in, at the edges too (zero, the last bucket, no infinity)', () => {
    const { MIN_VALUE, MAX_VALUE } = require('../lib/sketch') as typeof import('../lib/sketch');
    const ms = text('%t "%r" %>s %{ms}T');
    const around = (v: number) => [v * (1 - 1e-9), v, v * (1 + 1e-9)];
    const values = [0, ...around(MIN_VALUE), ...around(1), ...around(MAX_VALUE), 1e12, 1e300, 0.013, 7.000000000000001, 123.456];
    const decimal = (v: number) => (v < 1e21 ? v.toFixed(40).replace(/\.?0+$/, '') : BigInt(v).toString());
    const lines = [...values.map((v) => `[${TS}] "GET /x HTTP/1.1" 200 ${decimal(v)}`), `[${TS}] "GET /x HTTP/1.1" 200 ${'9'.repeat(400)}`];
    expect(lines.every((l) => parseEntry(l, ms).entry !== null)).toBe(true);
    const seg = new TextScanner(ms).scan(enc(lines.join('\n'))).segments[0]!;
    const expected = new Sketch();
    for (const line of lines) expected.add(parseEntry(line, ms).entry!.duration!);
    expect(seg.latency!.toJSON()).toEqual(expected.toJSON());
    // both sides of MIN_VALUE and of MAX_VALUE were there, and the infinite one is timed by nothing
    expect([seg.hits, seg.latency!.count, expected.toJSON().zero]).toEqual([lines.length, lines.length - 1, 3]);
  });

  test('each segment\'s sketches are its own: a later scan does not add to them', () => {
    const scanner = new TextScanner(NGINX_TIMED, { borrowKeys: true });
    const first = scanner.scan(enc(nginx({ ts: at(1) }))).segments[0]!;
    scanner.scan(enc([nginx({ ts: at(1) }), nginx({ ts: at(2) })].join('\n')));
    expect([first.latency!.count, first.sectionLatency!.get('/api')!.count, first.vhostLatency!.get('www.example.com')!.count]).toEqual([1, 1, 1]);
  });
});

describe('segments', () => {
  test('lines with seconds 10,10,11,9,12 give segments 10, 11, 12 with the 9 in segment 11, each with its durations', () => {
    const scanner = new TextScanner(NGINX_TIMED);
    const batch = scanner.scan(enc([10, 10, 11, 9, 12].map((s) => nginx({ ts: at(s), time: String(s) })).join('\n') + '\n'));
    expect(batch.segments.map((s) => s.second)).toEqual([second(10), second(11), second(12)]);
    expect(batch.segments.map((s) => s.hits)).toEqual([2, 2, 1]);
    expect(batch.segments[1]!.perSecond).toEqual(new Map([[second(11), 1], [second(9), 1]]));
    expect(batch.segments.map((s) => [s.latency!.min, s.latency!.max])).toEqual([[10_000, 10_000], [9000, 11_000], [12_000, 12_000]]);
    expect(scanner.highWater).toBe(second(12));
  });

  test('invalid lines count in the current segment; before any valid line a segment at -Infinity holds them', () => {
    const scanner = new TextScanner(VCOMBINED);
    expect(scanner.highWater).toBe(-Infinity);
    const line = (ss: number) => `v:80 10.0.0.1 - - [${at(ss)}] "GET / HTTP/1.1" 200 1 "-" "-"`;
    const batch = scanner.scan(enc(['junk', line(5), 'junk', 'junk', line(6)].join('\n')));
    expect(batch.segments.map((s: Segment) => [s.second, s.hits, s.invalid])).toEqual([
      [-Infinity, 0, 1],
      [second(5), 1, 2],
      [second(6), 1, 0],
    ]);
  });

  test('the high-water second carries over to the next scan; an invalid line never moves it', () => {
    const scanner = new TextScanner(NGINX_TIMED);
    scanner.scan(enc(nginx({ ts: at(30), status: '700' })));
    expect(scanner.highWater).toBe(-Infinity);
    scanner.scan(enc(nginx({ ts: at(20) })));
    const batch = scanner.scan(enc(['junk', nginx({ ts: at(19) }), nginx({ ts: at(21) })].join('\n')));
    expect(batch.segments.map((s) => [s.second, s.hits, s.invalid])).toEqual([
      [second(20), 1, 1],
      [second(21), 1, 0],
    ]);
  });

  test('a last line without its newline drops a trailing \\r, as a line with one does', () => {
    for (const [format, line] of [
      [NGINX_TIMED, `${nginx({ vhost: 'v' })}\r`],
      [APACHE_COMMON, `10.0.0.1 - - [${TS}] "GET / HTTP/1.1" 200 5 \r`],
      [MSEC, '1767225600.123|10.0.0.9|"GET / HTTP/1.1"|200|512|0.000|v\r'],
    ] as const) {
      for (const newline of [true, false]) expectAgreement(new TextScanner(format), format, line, newline);
    }
    expect(single(NGINX_TIMED, `${nginx({ vhost: 'v' })}\r`).vhost).toBe('v');
  });

  test('CRLF line ends, blank lines and a last line without its newline', () => {
    const t = totals(new TextScanner(NGINX_TIMED).scan(enc(`${nginx({ bytes: '5' })}\r\n\n  \t\n\r\n${nginx({ bytes: '7', vhost: 'last' })}`)));
    expect([t.hits, t.invalid, t.bytes, entries(t.vhosts)]).toEqual([2, 0, 12, [['www.example.com', 1], ['last', 1]]]);
  });

  test('a line over MAX_LINE bytes is invalid and its neighbours are intact', () => {
    const long = nginx({ agent: 'x'.repeat(MAX_LINE) });
    const exact = nginx({ vhost: 'v' }).padEnd(MAX_LINE, 'y');
    const t = totals(new TextScanner(NGINX_TIMED).scan(enc([nginx({ user: 'before' }), long, exact, `${exact}y`, nginx({ user: 'after' })].join('\n'))));
    expect([t.hits, t.invalid]).toEqual([3, 2]);
    expect(t.users).toEqual(new Map([['before', 1], ['after', 1]]));
  });
});

// ---------------------------------------------------------------- the scanner against parseEntry

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** A civil time, now and then an impossible one. */
const civil = fc.record({
  y: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1995, max: 2030 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9999 }) }),
  mo: fc.oneof({ weight: 19, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 13) }),
  d: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 28 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 32 }) }),
  h: fc.integer({ min: 0, max: 24 }),
  mi: fc.integer({ min: 0, max: 60 }),
  s: fc.integer({ min: 0, max: 60 }),
  zone: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -720, max: 840 }) }, { weight: 1, arbitrary: fc.integer({ min: -1500, max: 1500 }) }),
  fraction: fc.option(fc.stringMatching(/^[0-9]{1,9}$/)),
});
type Civil = typeof civil extends fc.Arbitrary<infer T> ? T : never;
const zoneText = (minutes: number, colon: boolean) =>
  `${minutes < 0 ? '-' : '+'}${two(Math.floor(Math.abs(minutes) / 60))}${colon ? ':' : ''}${two(Math.abs(minutes) % 60)}`;
const clfTime = (c: Civil) => `${two(c.d)}/${MONTHS[(c.mo + 11) % 12]}/${String(c.y).padStart(4, '0')}:${two(c.h)}:${two(c.mi)}:${two(c.s)} ${zoneText(c.zone, false)}`;
const isoTime = (c: Civil, z: number) =>
  `${String(c.y).padStart(4, '0')}-${two(c.mo)}-${two(c.d)}T${two(c.h)}:${two(c.mi)}:${two(c.s)}${c.fraction ? `.${c.fraction}` : ''}` +
  ['Z', zoneText(c.zone, true), zoneText(c.zone, false), zoneText(c.zone, false).slice(0, 3)][z % 4];

/** `pattern` written for `c`, as strftime would (the directives lib/log-format-time.ts reads). */
function strftime(pattern: string, c: Civil, z: number): string {
  const expand: Record<string, string> = { T: '%H:%M:%S', F: '%Y-%m-%d', D: '%m/%d/%y', R: '%H:%M', h: '%b' };
  return pattern.replace(/%([a-zA-Z%])/g, (_, d: string) => {
    if (expand[d]) return strftime(expand[d], c, z);
    switch (d) {
      case 'd': return two(c.d);
      case 'e': return String(c.d).padStart(2, ' ');
      case 'b': return MONTHS[(c.mo + 11) % 12]!;
      case 'm': return two(c.mo);
      case 'Y': return String(c.y).padStart(4, '0');
      case 'y': return two(c.y % 100);
      case 'H': return two(c.h);
      case 'M': return two(c.mi);
      case 'S': return two(c.s);
      case 'z': return z % 3 === 0 ? 'Z' : zoneText(c.zone, z % 3 === 1);
      case 's': return String(Date.UTC(c.y, c.mo - 1, c.d, c.h, c.mi, c.s) / 1000);
      default: return '%';
    }
  });
}

/** A field's well-formed values, and its broken ones. */
interface Values {
  good: fc.Arbitrary<string>;
  bad: fc.Arbitrary<string>;
}
const often = (good: fc.Arbitrary<string>, bad: fc.Arbitrary<string>): Values => ({ good, bad });
/** Mostly good, now and then bad. */
const mixed = (v: Values) => fc.oneof({ weight: 5, arbitrary: v.good }, { weight: 1, arbitrary: v.bad });
const of = (...xs: string[]) => fc.constantFrom(...xs);
const seconds = (digits: number) =>
  fc.tuple(fc.nat(20_000), fc.nat(3)).map(([n, pick]) => [(n / 1000).toFixed(digits), String(n), (n / 10).toFixed(1), `.${n % 10}`][pick]!);

/** The values of a field token; `quoted`: between two quotes (a skipped field's good values may hold spaces there). */
function valueOf(token: FieldToken, quoted: boolean): Values {
  switch (token.field) {
    case 'time': {
      const time = token.time ?? { kind: 'clf' };
      const bad = of('', '-', 'now', '09/May/2018:16:00:39', '2018-05-09');
      if (time.kind === 'clf') return often(civil.map(clfTime), of('29/Feb/2001:00:00:00 +0000', '09/may/2018:16:00:39 +0000', '09/May/2018:16:00:39 0000', ...TS.split(':')));
      if (time.kind === 'iso8601') return often(fc.tuple(civil, fc.nat()).map(([c, z]) => isoTime(c, z)), bad);
      if (time.kind === 'epoch') {
        const digits = { s: 10, ms: 13, us: 16, ns: 19 }[time.unit];
        return often(fc.tuple(fc.stringMatching(new RegExp(`^1[0-9]{${digits - 1}}$`)), fc.option(fc.stringMatching(/^[0-9]{1,6}$/))).map(([w, f]) => (f ? `${w}.${f}` : w)), of('', '1.', '.5', '-1', '1e9', '123'));
      }
      const pattern = time.pattern;
      return often(fc.tuple(civil, fc.nat()).map(([c, z]) => strftime(pattern, c, z)), bad);
    }
    case 'client':
      return often(of('10.0.0.1', '203.0.113.7', '::1', '2001:db8::1', 'fe80::1%eth0', '[2001:db8::1]:443', '10.1.2.3:8080', 'h'), of('', '-', 'a b', 'h\\', 'é', '[::1', '1:2:x'));
    case 'user':
      return often(of('-', '-', 'bob', 'alice', 'josé'), of('', 'a\\x22b', 'jo sé', '\\', 'x"y', '- ['));
    case 'request': {
      const method = often(of('GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS'), of('get', 'M-X_Y', '', '1', 'É', 'M'.repeat(33)));
      const target = often(of('/', '/api/users/1', '/a/b?c=/d', '/pages#x/y', 'http://h/x/y', 'HTTPS://H', '*'), of('', '-', 'a\\x22b', '/x"y', '/x\\', '//'));
      const proto = often(of(' HTTP/1.1', ' HTTP/1.0', ''), of(' ', ' x y', ' HTTP/1.1"'));
      const request = ([m, t, p]: string[]) => `${m} ${t}${p}`;
      return often(
        fc.tuple(method.good, target.good, proto.good).map(request),
        fc.oneof(fc.tuple(mixed(method), mixed(target), mixed(proto)).map(request), of('-', '', '\x16\x03\x01', 'GET')),
      );
    }
    case 'method':
      return often(of('GET', 'POST', 'PATCH', 'M-SEARCH'), of('', '-', 'get', 'G3T', 'M'.repeat(33), 'GET X'));
    case 'uri':
      return often(of('/', '/a/b', '/a?b/c', 'http://h/x/y', '/api/users/7?x=1'), of('', '-', '*', 'a b', 'x'));
    case 'status':
      return often(of('200', '200', '301', '404', '500', '503', '100', '599'), of('600', '099', '20x', '2000', '', '-', '1'));
    case 'bytes':
      return often(fc.oneof(fc.nat(1_000_000).map(String), of('-', '0')), of('', '1a', '999999999999999', '1234567890123456', '--', '-1'));
    case 'duration':
    case 'upstream': {
      const unit = token.unit ?? 's';
      const one = unit === 's' ? seconds(3) : unit === 'ms' ? fc.oneof(fc.nat(20_000).map(String), seconds(3)) : fc.nat(10_000_000).map(String);
      const bad = of('', 'abc', '1.2.3', '1e3', '-1', '-0', '+1', '0x1', ' 1');
      if (!token.list) return often(fc.oneof({ weight: 6, arbitrary: one }, { weight: 1, arbitrary: of('-') }), bad);
      const items = fc.array(fc.oneof({ weight: 4, arbitrary: one }, { weight: 1, arbitrary: of('-') }), { minLength: 1, maxLength: 4 });
      return often(
        fc.tuple(items, fc.array(of(', ', ' : '), { minLength: 3, maxLength: 3 })).map(([xs, seps]) => xs.reduce((acc, x, i) => `${acc}${seps[i - 1]}${x}`)),
        fc.oneof(bad, of('0.010,', '0.010, ', ', 0.1', '0.1 ,0.2', '0.1:0.2', '1 : -')),
      );
    }
    case 'vhost':
      return often(of('www.example.com', 'api.example.com', 'localhost', '-'), of('', 'a b', 'é.example', 'x\\'));
    default: {
      const good = ['-', 'curl/8.5.0', 'https://www.example.com/x?y=1', '80', 'TLSv1.2'];
      if (quoted) good.push('Mozilla/5.0 (X11; Linux x86_64) 200 123', 'say \\x22hi\\x22');
      return often(of(...good), of('', 'say \\x22hi\\x22', 'say \\"hi\\"', 'a" b', 'x\\', 'a "b" c', '" 200 ', '\t', 'a b'));
    }
  }
}

/** Lines rendered through the format's tokens from random values: well formed ones, and ones with a broken value now and then. */
function renderedLines(format: TextFormat): fc.Arbitrary<string> {
  const t = format.tokens;
  const quoted = (i: number) => {
    const [before, after] = [t[i - 1], t[i + 1]];
    return before !== undefined && 'literal' in before && before.literal.endsWith('"') && after !== undefined && 'literal' in after && after.literal.startsWith('"');
  };
  const line = (value: (v: Values) => fc.Arbitrary<string>) =>
    fc.tuple(...t.map((tok, i) => ('literal' in tok ? fc.constant(tok.literal) : value(valueOf(tok, quoted(i)))))).map((parts) => parts.join(''));
  return fc.oneof(
    line((v) => v.good),
    line(mixed),
  );
}

/** mulberry32: a small seeded PRNG so that a corpus is the same on every run. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [' ', '"', '[', ']', '-', '/', ':', ',', '.', '+', '0', '2', '5', '9', 'a', 'Z', '\\', '\t', '\r', '?', '#', 'é', '%', '|'];

/** Lines broken from `line`: a byte deleted, inserted or replaced, the line cut short, a digit changed. */
function mutate(line: string, rand: () => number): string {
  const i = Math.floor(rand() * (line.length + 1));
  const pick = () => ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
  switch (Math.floor(rand() * 5)) {
    case 0:
      return line.slice(0, i) + line.slice(i + 1);
    case 1:
      return line.slice(0, i) + pick() + line.slice(i);
    case 2:
      return line.slice(0, i) + pick() + line.slice(i + 1);
    case 3:
      return line.slice(0, i);
    default:
      return line.replace(/\d/g, (d) => (rand() < 0.08 ? String(Math.floor(rand() * 10)) : d));
  }
}

/** A corpus for a format: rendered lines (the same on every run) and broken ones. */
function corpusOf(format: TextFormat, seed: number): string[] {
  const rendered = fc.sample(renderedLines(format), { numRuns: 400, seed });
  const rand = prng(seed);
  const broken = Array.from({ length: 200 }, () => {
    let line = rendered[Math.floor(rand() * rendered.length)]!;
    for (let r = 1 + Math.floor(rand() * 3); r > 0; r--) line = mutate(line, rand);
    return line;
  });
  return [...rendered, ...broken, '', '  ', '\t', '\r', 'garbage'];
}

describe('the fast scanner against parseEntry', () => {
  FORMATS.forEach(([name, format], n) => {
    const corpus = corpusOf(format, 1000 + n);
    const valid = corpus.filter((l) => parseEntry(l, format).entry !== null);

    test(`${name}: the corpus is varied (valid lines, invalid ones, timed ones)`, () => {
      expect(valid.length).toBeGreaterThan(corpus.length * 0.2);
      expect(corpus.length - valid.length).toBeGreaterThan(corpus.length * 0.2);
      if (format.tokens.some((t) => 'field' in t && t.field === 'duration')) {
        expect(valid.filter((l) => parseEntry(l, format).entry!.duration !== null).length).toBeGreaterThan(valid.length * 0.3);
      }
    });

    test(`${name}: agrees line by line`, () => {
      const scanner = new TextScanner(format); // one scanner: the timestamp cache and the memo carry over
      corpus.forEach((line, i) => expectAgreement(scanner, format, line, i % 2 === 0));
    });

    test(`${name}: agrees on the whole corpus scanned at once`, () => {
      const t = totals(new TextScanner(format).scan(enc(corpus.join('\n'))));
      const found = corpus.map((l) => parseEntry(l, format).entry).filter((e): e is FormatEntry => e !== null);
      const count = <K>(key: (e: FormatEntry) => K | null) => {
        const m = new Map<K, number>();
        for (const e of found) {
          const k = key(e);
          if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
        }
        return m;
      };
      expect(t.hits).toBe(found.length);
      expect(t.invalid).toBe(corpus.filter((l) => !isBlank(l) && parseEntry(l, format).entry === null).length);
      // (fifteen-digit byte counts take the sums past 2^53: segment by segment, they round otherwise)
      const bytes = found.reduce((sum, e) => sum + e.bytes, 0);
      expect(Math.abs(t.bytes - bytes)).toBeLessThanOrEqual(bytes * 1e-12);
      for (const [kind, key] of [
        ['sections', (e: FormatEntry) => e.section],
        ['hosts', (e: FormatEntry) => e.client],
        ['users', (e: FormatEntry) => e.user],
        ['methods', (e: FormatEntry) => e.method],
        ['vhosts', (e: FormatEntry) => e.vhost],
      ] as const) {
        expect([kind, t[kind]]).toEqual([kind, count(key)]);
      }
      expect(t.perSecond).toEqual(count((e) => e.second));
      expect(t.codes).toEqual(count((e) => e.status));
      // durations: the same values in the same sketches (sums may add up in another order)
      const timed = format.tokens.some((tok) => 'field' in tok && tok.field === 'duration');
      const sketchOf = (values: number[]) => values.reduce((s, v) => (s.add(v), s), new Sketch());
      const same = (a: Sketch, b: Sketch) => {
        const [x, y] = [a.toJSON(), b.toJSON()];
        // −0 (a duration written `-0`) and 0 are one value
        expect({ ...x, sum: 0, min: x.min + 0, max: x.max + 0 }).toEqual({ ...y, sum: 0, min: y.min + 0, max: y.max + 0 });
        expect(x.sum).toBeCloseTo(y.sum, 6);
      };
      const durations = timed ? found.filter((e) => e.duration !== null) : [];
      same(t.latency, sketchOf(durations.map((e) => e.duration!)));
      same(t.upstream, sketchOf(found.filter((e) => e.upstream !== null).map((e) => e.upstream!)));
      const grouped = (key: (e: FormatEntry) => string | null) => {
        const m = new Map<string, number[]>();
        for (const e of durations) {
          const k = key(e);
          if (k !== null) m.set(k, [...(m.get(k) ?? []), e.duration!]);
        }
        return m;
      };
      for (const [by, got] of [
        [grouped((e) => e.section), t.sectionLatency],
        [grouped((e) => e.vhost), t.vhostLatency],
      ] as const) {
        expect([...got.keys()].sort()).toEqual([...by.keys()].sort());
        for (const [k, values] of by) same(got.get(k)!, sketchOf(values));
      }
      t.classLatency.forEach((s, i) => same(s, sketchOf(durations.filter((e) => Math.floor(e.status / 100) === i).map((e) => e.duration!))));
    });

    test(`${name}: a property: rendered and broken lines agree`, () => {
      const scanner = new TextScanner(format);
      const rendered = renderedLines(format);
      const broken = fc.tuple(rendered, fc.integer({ min: 1, max: 2 ** 31 })).map(([line, seed]) => mutate(line, prng(seed)));
      fc.assert(
        fc.property(fc.oneof(rendered, broken), fc.boolean(), (line, newline) => {
          if (line.includes('\n') || /[\ud800-\udfff]/.test(line)) return;
          expectAgreement(scanner, format, line, newline);
        }),
        { numRuns: 300 },
      );
    });
  });
});

describe('robustness', () => {
  /** Non-blank lines by a plain split, the way the scanner is meant to count them. */
  function nonBlankLines(bytes: Uint8Array): number {
    const lines: number[][] = [[]];
    for (const b of bytes) {
      if (b === 10) lines.push([]);
      else lines[lines.length - 1]!.push(b);
    }
    if (lines[lines.length - 1]!.length === 0) lines.pop();
    return lines.filter((line) => {
      if (line[line.length - 1] === 13) line = line.slice(0, -1);
      return line.length > MAX_LINE || !line.every((b) => b === 32 || b === 9);
    }).length;
  }

  for (const [name, format] of FORMATS) {
    test(`${name}: random bytes never make scan throw, and hits + invalid = non-blank lines`, () => {
      const valid = fc.sample(renderedLines(format), { numRuns: 3, seed: 5 }).join('\n') + '\n';
      const interesting = fc.constantFrom(10, 13, 32, 9, 34, 91, 93, 45, 47, 58, 44, 46, 43, 48, 49, 50, 53, 57, 0, 0xff, 0xc3, 92, 77, 97, 90, 84);
      const mutatedValid = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }).map((edits) => {
        const bytes = enc(valid + valid);
        for (const [i, b] of edits) bytes[i % bytes.length] = b;
        return bytes;
      });
      const scanner = new TextScanner(format);
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(interesting, { maxLength: 300 }).map((a) => Uint8Array.from(a)), mutatedValid), (bytes) => {
          const before = scanner.highWater;
          const batch = scanner.scan(bytes);
          const t = totals(batch);
          expect(t.hits + t.invalid).toBe(nonBlankLines(bytes));
          const seconds = batch.segments.map((s) => s.second);
          for (let i = 1; i < seconds.length; i++) expect(seconds[i]!).toBeGreaterThan(seconds[i - 1]!);
          if (t.hits > 0) expect(seconds[seconds.length - 1]).toBe(scanner.highWater);
          expect(scanner.highWater).toBeGreaterThanOrEqual(before);
        }),
        { numRuns: 150 },
      );
    });
  }

  test('with borrowKeys (the parser\'s), each batch counts what an owning scanner counts; the next scan reuses the buffer', () => {
    const lines = corpusOf(NGINX_TIMED, 77);
    const owning = new TextScanner(NGINX_TIMED);
    const borrowing = new TextScanner(NGINX_TIMED, { borrowKeys: true });
    let previous: Batch | null = null;
    let reused = false;
    for (let i = 0; i < lines.length; i += 40) {
      const piece = enc(lines.slice(i, i + 40).join('\n'));
      const owned = owning.scan(piece);
      const borrowed = borrowing.scan(piece);
      expect(totals(borrowed)).toEqual(totals(owned));
      const keys = borrowed.segments.find((s) => s.keys.bytes.length > 0)?.keys;
      if (keys && previous) reused ||= previous.segments.some((s) => s.keys.bytes.buffer === keys.bytes.buffer);
      if (keys) previous = borrowed;
    }
    expect(reused).toBe(true);
    const kept = owning.scan(enc(lines.slice(0, 40).join('\n')));
    const before = totals(kept);
    for (let i = 40; i < lines.length; i += 40) owning.scan(enc(lines.slice(i, i + 40).join('\n')));
    expect(totals(kept)).toEqual(before);
  });

  test('a subarray view of a larger buffer is scanned within its bounds only', () => {
    const inside = nginx({ user: 'inside', vhost: 'in' });
    const whole = enc(`${nginx({ user: 'outside' })}\n${inside}\n${nginx({ user: 'outside' })}`);
    const start = nginx({ user: 'outside' }).length + 1;
    const t = totals(new TextScanner(NGINX_TIMED).scan(whole.subarray(start, start + inside.length)));
    expect([entries(t.users), entries(t.vhosts)]).toEqual([[['inside', 1]], [['in', 1]]]);
  });

  test('every prefix of a valid line, followed by a valid line, is one bad line and one hit (a line never runs into the next)', () => {
    const next = nginx({ host: '10.9.9.9', user: 'bob', ts: at(40), vhost: 'next' });
    for (const [format, line] of [
      [NGINX_TIMED, nginx({ upstream: '0.010, 0.020 : 0.030', agent: 'a \\x22b\\x22' })],
      [APACHE_TIMED, `::1 - - [${TS}] "GET /a\\"b HTTP/1.1" 503 - "-" "c \\"d\\"" 1234 vhost`],
      [ALB, `http 2018-07-02T22:23:00.5Z app/lb/1 [::1]:80 - 0.000 0.001 0.000 200 200 34 366 "GET http://h/x HTTP/1.1" "c" - - arn "R" "d" x`],
      [STRFTIME_ZONED, '2018-05-09 18:00:39 +02:00 10.0.0.1 "GET /a/b?c" 200 5 17'],
    ] as const) {
      const scanner = new TextScanner(format);
      const second = format === NGINX_TIMED ? next : line;
      for (let cut = 0; cut < line.length; cut++) {
        const prefix = line.slice(0, cut);
        const t = totals(scanner.scan(enc(`${prefix}\n${second}\n`)));
        const prefixValid = parseEntry(prefix, format).entry !== null;
        expect([cut, t.hits, t.invalid]).toEqual([cut, prefixValid ? 2 : 1, prefixValid || isBlank(prefix) ? 0 : 1]);
      }
    }
  });

  test('lines without the byte a field ends at do not make the search quadratic', () => {
    // No line has the `|` that ends its first field: a search from each line to the chunk's end
    // would read 100,000 × 2 MB (seconds, even at memchr's speed); one search a stretch reads 4 MB.
    const chunk = enc(`${'1767225600.123 10.0.0.9 "GET / HTTP/1.1"\n'.repeat(100_000)}1767225600.123|10.0.0.9|"GET / HTTP/1.1"|200|512|0.000|-\n`);
    const started = performance.now();
    const t = totals(new TextScanner(MSEC).scan(chunk));
    expect([t.hits, t.invalid]).toEqual([1, 100_000]);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('a TextScanner of the common format counts what ClfScanner counts on CLF lines', () => {
    const { makeLine, mulberry32 } = require('../lib/generator') as typeof import('../lib/generator');
    const rng = mulberry32(9);
    const lines = Array.from({ length: 2000 }, (_, i) => makeLine(rng, 1_767_225_600 + (i >> 4), { format: 'clf', offsetMinutes: 0 })).join('');
    const clf = totals(new ClfScanner().scan(enc(lines)));
    const textual = totals(new TextScanner(APACHE_COMMON).scan(enc(lines)));
    for (const key of ['hits', 'invalid', 'perSecond', 'sections', 'users', 'hosts', 'methods', 'status', 'codes', 'bytes'] as const) {
      expect([key, textual[key]]).toEqual([key, clf[key]]);
    }
    expect(clf.hits).toBe(2000);
  });
});

describe('the fast scanner against parseEntry, on lines real servers wrote', () => {
  const dir = `${import.meta.dir}/fixtures/formats`;
  for (const [file, value] of [
    ['nginx-main.log', `@${dir}/nginx.conf:main`],
    ['apache-timed.log', `@${dir}/apache2.conf:timed`],
    ['vcombined.log', 'vcombined'],
    ['aws-alb.log', 'aws-alb'],
    ['combined.log', `@${dir}/apache2.conf:combined`],
    ['common.log', `@${dir}/apache2.conf:common`],
    ['combined.log', NGINX_COMBINED.name],
  ] as const) {
    test(`${file} read as ${value.replace(dir, '…')}: every line counts, as parseEntry says`, () => {
      const format = text(value);
      const lines = require('node:fs').readFileSync(`${dir}/${file}`, 'utf8').split('\n').filter((l: string) => l !== '') as string[];
      const scanner = new TextScanner(format);
      expect(lines.map((line) => expectAgreement(scanner, format, line, true))).toEqual(lines.map(() => true));
    });
  }
});

describe('ruleSketches', () => {
  /** A segment without the two sketches only rules read. */
  const withoutRuleSketches = ({ classLatency: _c, vhostLatency: _v, ...rest }: Segment) => rest;

  FORMATS.forEach(([name, format], n) => {
    test(`${name}: ruleSketches false keeps no sketch by status class or vhost, and all else as the default does`, () => {
      const corpus = corpusOf(format, 3000 + n);
      const bytes = enc(corpus.join('\n'));
      const full = new TextScanner(format).scan(bytes).segments;
      const lean = new TextScanner(format, { ruleSketches: false }).scan(bytes).segments;
      const timed = format.tokens.some((t) => 'field' in t && t.field === 'duration');
      const vhosts = format.tokens.some((t) => 'field' in t && t.field === 'vhost');
      // the default keeps them (so that the comparison below could fail)
      expect(full.some((s) => s.classLatency !== undefined)).toBe(timed);
      if (timed && vhosts) expect(full.some((s) => (s.vhostLatency?.size ?? 0) > 0)).toBe(true);
      expect(lean.filter((s) => s.classLatency !== undefined || s.vhostLatency !== undefined)).toEqual([]);
      expect(lean.map(withoutRuleSketches)).toEqual(full.map(withoutRuleSketches));
    });
  });
});

describe('the fields after the CLF ones (read four bytes at a time, a backslash taking the next byte along)', () => {
  const TAIL_FORMATS: [string, TextFormat][] = [
    ['nginx timed', NGINX_TIMED],
    ['nginx escape=json', NGINX_JSON_ESCAPED],
    ['nginx escape=none', NGINX_UNESCAPED],
  ];
  /** Agreement with parseEntry, the line alone, with and without its newline, and with CRLF. */
  const agrees = (format: TextFormat, line: string) => {
    const scanner = new TextScanner(format);
    expectAgreement(scanner, format, line, true);
    expectAgreement(scanner, format, line, false);
    expectAgreement(scanner, format, `${line}\r`, true);
  };

  for (const [name, format] of TAIL_FORMATS) {
    test(`${name}: a quote or a backslash at every place in a word, in the referer and the agent`, () => {
      for (let n = 0; n < 12; n++) {
        const pad = 'x'.repeat(n);
        for (const value of [pad, `${pad}"`, `${pad}" `, `${pad}\\"`, `${pad}\\\\"`, `${pad}\\\\\\" x`, `${pad}\\`, `${pad}\\\\`, `${pad}"y`, `\\${pad}`]) {
          agrees(format, nginx({ agent: value }));
          agrees(format, nginx({ referer: value }));
          agrees(format, nginx({ referer: value, agent: value }));
        }
      }
    });

    test(`${name}: durations and upstream lists of every shape`, () => {
      const times = ['0.013', '-', '', '0.000', '12.345', '-0', '1.', '.5', 'x', '0.1 0.2', ' 0.1', '0.003, 0.060', '0.1 : 0.2', '-, 0.2', '0.1,0.2', '0.1, x'];
      for (const time of times) for (const upstream of times) agrees(format, nginx({ time, upstream }));
      for (const upstream of ['10.0.0.1:80', 'unix:/tmp/s', '0.1 : unix:/a', '0.003, 0.060 : 0.001']) agrees(format, nginx({ upstream }));
    });

    test(`${name}: the vhost, last: empty, \`-\`, with spaces, long; a line cut short or with more after it`, () => {
      for (const vhost of ['', '-', 'a', 'www.example.com', 'a b', 'x'.repeat(200), 'é.example']) agrees(format, nginx({ vhost }));
      const line = nginx();
      for (let cut = 1; cut < 40; cut++) agrees(format, line.slice(0, line.length - cut));
      for (const more of [' ', ' x', '"', '\\']) agrees(format, line + more);
    });

    test(`${name}: long agents, and a line over MAX_LINE bytes is invalid`, () => {
      for (const n of [100, 1000, 10_000]) agrees(format, nginx({ agent: 'a\\"b c'.repeat(n) }));
      const long = nginx({ agent: 'x'.repeat(MAX_LINE) });
      const t = totals(new TextScanner(format).scan(enc(`${long}\n${nginx()}\n`)));
      expect([t.hits, t.invalid]).toEqual([1, 1]);
    });
  }
});
