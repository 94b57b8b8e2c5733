import { describe, test, expect } from 'bun:test';
import fc from 'fast-check';
import { ClfScanner, MAX_LINE, parseLine, sectionOf, type Entry } from '../actors/clf-scanner';
import { type Batch, type Segment } from '../actors/messages';
import { eachKey, fnv1a, KEY_KINDS, type KeyCounts, stableHash, unpack } from '../lib/byte-keys';

const encoder = new TextEncoder();
const enc = (text: string) => encoder.encode(text);

/** 09/May/2018:16:00:39 +0000 */
const T0 = Date.UTC(2018, 4, 9, 16, 0, 39) / 1000;
const TS = '09/May/2018:16:00:39 +0000';

function clf(
  opts: { host?: string; user?: string; ts?: string; request?: string; status?: string; bytes?: string; tail?: string } = {},
): string {
  const { host = '127.0.0.1', user = 'james', ts = TS, request = 'GET /report HTTP/1.0', status = '200', bytes = '123', tail = '' } =
    opts;
  return `${host} - ${user} [${ts}] "${request}" ${status} ${bytes}${tail}`;
}

/** `ss` seconds after 16:00:00 on 09/May/2018, UTC. */
const at = (ss: number) => `09/May/2018:16:00:${String(ss).padStart(2, '0')} +0000`;
const second = (ss: number) => Date.UTC(2018, 4, 9, 16, 0, ss) / 1000;

function scanText(text: string, scanner = new ClfScanner()): Batch {
  return scanner.scan(enc(text));
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
}

/** A packing's hashes are each key's FNV-1a (this process's seed) and stable hash, as made apart from the scan. */
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
  };
  const merge = <K>(into: Map<K, number>, from: Map<K, number>) => {
    for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
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
  }
  return out;
}

/** The one hit of a one-line text, as an Entry-like record (fails the test if it is not one hit). */
function single(text: string): Omit<Entry, 'status'> & { statusClass: number } {
  const t = totals(scanText(text));
  expect({ hits: t.hits, invalid: t.invalid }).toEqual({ hits: 1, invalid: 0 });
  const only = <K>(m: Map<K, number>): K => {
    expect([...m.values()]).toEqual([1]);
    return [...m.keys()][0]!;
  };
  return {
    host: only(t.hosts),
    user: t.users.size === 0 ? null : only(t.users),
    second: only(t.perSecond),
    method: only(t.methods),
    section: only(t.sections),
    statusClass: t.status.indexOf(1),
    bytes: t.bytes,
  };
}

const sectionOfLine = (request: string) => single(clf({ request })).section;
const isInvalid = (text: string) => {
  const t = totals(scanText(text));
  return t.invalid === 1 && t.hits === 0;
};

describe('line formats', () => {
  test('a CLF line yields every field', () => {
    expect(single(clf())).toEqual({
      host: '127.0.0.1',
      user: 'james',
      second: T0,
      method: 'GET',
      section: '/report',
      statusClass: 2,
      bytes: 123,
    });
  });

  test('a combined line ignores referer and user agent, even when they hold quotes and digits', () => {
    const line = clf({ request: 'POST /api/user HTTP/1.1', status: '503', bytes: '7', tail: ' "http://ref/" 200 9" "Mozilla/5.0 \\"x\\""' });
    const hit = single(line);
    expect(hit.method).toBe('POST');
    expect(hit.section).toBe('/api');
    expect(hit.statusClass).toBe(5);
    expect(hit.bytes).toBe(7);
  });

  test('a `-` byte count counts as 0 bytes and the line is still a hit', () => {
    expect(single(clf({ bytes: '-' })).bytes).toBe(0);
    expect(single(clf({ bytes: '-', tail: ' "-" "curl"' })).bytes).toBe(0);
  });

  test('a `-` user is no user, but a user that only starts with `-` is one', () => {
    expect(single(clf({ user: '-' })).user).toBeNull();
    expect(single(clf({ user: '-bob' })).user).toBe('-bob');
    expect(single(clf({ user: '--' })).user).toBe('--');
  });

  test('many distinct keys are each counted under their own string (the key cache never mixes them up)', () => {
    const hosts = Array.from({ length: 10000 }, (_, i) => `h${String(i).padStart(4, '0')}`);
    const sections = hosts.map((h) => `/${h}`);
    const text = hosts.map((host, i) => clf({ host, request: `GET ${sections[i]}/x HTTP/1.1` })).join('\n');
    const scanner = new ClfScanner();
    for (let round = 0; round < 2; round++) {
      const t = totals(scanner.scan(enc(text)));
      expect(t.hosts).toEqual(new Map(hosts.map((h) => [h, 1])));
      expect(t.sections).toEqual(new Map(sections.map((s) => [s, 1])));
    }
  });

  test('an IPv6 host is a normal token', () => {
    expect(single(clf({ host: '2001:db8::1' })).host).toBe('2001:db8::1');
  });

  test('a request without protocol (HTTP/0.9 style) is valid', () => {
    const hit = single(clf({ request: 'GET /x/y' }));
    expect([hit.method, hit.section]).toEqual(['GET', '/x']);
  });

  test('a request with extra tokens does not have the request shape', () => {
    const hit = single(clf({ request: 'GET /a b HTTP/1.1' }));
    expect([hit.method, hit.section]).toEqual(['(none)', '(no request)']);
  });

  test('the `"-"` request and TLS bytes on an HTTP port are hits under (no request)', () => {
    for (const request of ['-', '', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 'GET', 'GET  /double-space', `${'A'.repeat(33)} /x`]) {
      const hit = single(clf({ request, status: '400', bytes: '0' }));
      expect([hit.method, hit.section, hit.statusClass]).toEqual(['(none)', '(no request)', 4]);
    }
  });

  test('a 32-letter method is a method', () => {
    expect(single(clf({ request: `${'M'.repeat(32)} /x` })).method).toBe('M'.repeat(32));
  });

  test('an escaped quote inside the request is tolerated', () => {
    const hit = single(clf({ request: 'GET /search?q=\\"hi\\" HTTP/1.1' }));
    expect([hit.method, hit.section, hit.statusClass, hit.bytes]).toEqual(['GET', '/search', 2, 123]);
    // a quote followed by a space but not by a status does not close the request either
    expect(single(clf({ request: 'GET /a\\" x HTTP/1.1' })).method).toBe('(none)');
    // nor does a quote followed by four digits: the status field is exactly three
    const fourDigits = single(clf({ request: 'GET /a\\" 2000 x', bytes: '77' }));
    expect([fourDigits.method, fourDigits.bytes]).toEqual(['(none)', 77]);
  });

  test('UTF-8 keys are decoded, invalid UTF-8 becomes U+FFFD without throwing', () => {
    expect(single(clf({ user: 'josé', request: 'GET /café/x HTTP/1.1' })).user).toBe('josé');
    expect(single(clf({ request: 'GET /café/x HTTP/1.1' })).section).toBe('/café');
    const bytes = Uint8Array.from([0x68, 0xff, 0xc3, ...enc(clf().slice('127.0.0.1'.length))]);
    const t = totals(new ClfScanner().scan(bytes));
    expect(t.hits).toBe(1);
    expect([...t.hosts.keys()]).toEqual(['h\ufffd\ufffd']);
  });
});

describe('methods', () => {
  test('the common methods (counted apart) and their look-alikes are counted exactly, across segments', () => {
    const methods = ['GET', 'POST', 'PUT', 'HEAD', 'GETS', 'POSTS', 'PUTS', 'HEADS', 'HEA', 'GE', 'G', 'DELETE', 'get', 'Post', 'OPTIONS'];
    const lines: string[] = [];
    const expected = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const method = methods[(i * 7) % methods.length]!;
      lines.push(clf({ request: `${method} /x HTTP/1.1`, ts: at(i % 3) }));
      expected.set(method, (expected.get(method) ?? 0) + 1);
    }
    lines.push(clf({ request: '-' }));
    expected.set('(none)', 1);
    const batch = scanText(lines.join('\n') + '\n');
    expect(batch.segments.length).toBeGreaterThan(1);
    expect(totals(batch).methods).toEqual(expected);
  });
});

describe('sections', () => {
  test('sectionOf follows the rules on paths, queries, fragments and absolute URLs', () => {
    const cases: [string, string][] = [
      ['/pages/create', '/pages'],
      ['/report', '/report'],
      ['/', '/'],
      ['/a/b/c', '/a'],
      ['/pages?x=1/2', '/pages'],
      ['/pages#frag/x', '/pages'],
      ['/?q=1', '/'],
      ['?q=1', '(not a path)'],
      ['*', '(not a path)'],
      ['index.html', '(not a path)'],
      ['example.com:443', '(not a path)'],
      ['ftp://host/a/b', '(not a path)'],
      ['http://my.site.com/pages/create', '/pages'],
      ['https://my.site.com/pages/create?x=1', '/pages'],
      ['HTTPS://My.Site.com/Pages/create', '/Pages'],
      ['http://my.site.com', '/'],
      ['https://my.site.com', '/'],
      ['http://my.site.com?next=/a/b', '/'],
      ['http://my.site.com/', '/'],
      ['//double/slash', '/'],
    ];
    for (const [target, section] of cases) {
      expect([target, sectionOf(target)]).toEqual([target, section]);
      // the scanner computes the same section on the bytes
      expect([target, sectionOfLine(`GET ${target} HTTP/1.1`)]).toEqual([target, section]);
    }
  });

  test('OPTIONS * is (not a path)', () => {
    const hit = single(clf({ request: 'OPTIONS * HTTP/1.1' }));
    expect([hit.method, hit.section]).toEqual(['OPTIONS', '(not a path)']);
  });

  test('query strings do not leak into the section', () => {
    expect(sectionOfLine('GET /pages?x=1/2 HTTP/1.1')).toBe('/pages');
    expect(sectionOfLine('GET /a/b?c HTTP/1.1')).toBe('/a');
    expect(sectionOfLine('GET /?a=/b HTTP/1.1')).toBe('/');
  });

  test('absolute URLs, http and https, with and without path', () => {
    expect(sectionOfLine('GET http://my.site.com/pages/create HTTP/1.1')).toBe('/pages');
    expect(sectionOfLine('GET https://my.site.com/x HTTP/1.1')).toBe('/x');
    expect(sectionOfLine('GET http://my.site.com HTTP/1.1')).toBe('/');
    expect(sectionOfLine('GET https://my.site.com HTTP/1.1')).toBe('/');
    expect(sectionOfLine('CONNECT my.site.com:443 HTTP/1.1')).toBe('(not a path)');
  });
});

describe('timestamps', () => {
  test('+0000, -0700 and +0530 of the same instant land in the same second', () => {
    const instant = Date.UTC(2018, 4, 9, 10, 0, 0) / 1000;
    for (const ts of ['09/May/2018:10:00:00 +0000', '09/May/2018:03:00:00 -0700', '09/May/2018:15:30:00 +0530']) {
      expect([ts, single(clf({ ts })).second]).toEqual([ts, instant]);
    }
    // across a day boundary
    expect(single(clf({ ts: '08/May/2018:23:00:00 -1100' })).second).toBe(instant);
    expect(single(clf({ ts: '01/Jan/1970:00:00:00 +0000' })).second).toBe(0);
  });

  test('impossible dates are rejected, never rolled over', () => {
    for (const ts of [
      '32/Foo/2000:25:61:61 +0000',
      '29/Feb/2001:00:00:00 +0000',
      '29/Feb/1900:00:00:00 +0000',
      '31/Apr/2018:00:00:00 +0000',
      '00/May/2018:00:00:00 +0000',
      '09/may/2018:00:00:00 +0000',
      '09/May/2018:24:00:00 +0000',
      '09/May/2018:23:60:00 +0000',
      '09/May/2018:23:59:60 +0000',
      '09/May/2018:23:59:59 +1500',
      '09/May/2018:23:59:59 +0060',
      '09/May/2018:23:59:59 0000',
      '09/May/2018:23:59:59 *0000',
      '9/May/2018:23:59:59 +0000',
      '09/May/2018:23:59:59 +000',
      '09/May/2018 23:59:59 +0000',
      '09/May/2018:23:59:59  +0000',
      '09/May/18:23:59:59 +0000',
    ]) {
      expect([ts, isInvalid(clf({ ts }))]).toEqual([ts, true]);
      expect(parseLine(clf({ ts }))).toBeNull();
    }
  });

  test('any non-digit where the timestamp has a digit makes the line invalid', () => {
    const digitAt = [...TS].flatMap((c, i) => (/\d/.test(c) ? [i] : []));
    expect(digitAt.length).toBe(16);
    for (const i of digitAt) {
      for (const bad of ['/', ':', 'a', ' ']) {
        const ts = TS.slice(0, i) + bad + TS.slice(i + 1);
        expect([ts, isInvalid(clf({ ts }))]).toEqual([ts, true]);
      }
    }
  });

  test('29/Feb is accepted in leap years (2000, 2004) only', () => {
    expect(single(clf({ ts: '29/Feb/2000:00:00:00 +0000' })).second).toBe(Date.UTC(2000, 1, 29) / 1000);
    expect(single(clf({ ts: '29/Feb/2004:12:00:00 +0000' })).second).toBe(Date.UTC(2004, 1, 29, 12) / 1000);
    expect(isInvalid(clf({ ts: '29/Feb/2001:00:00:00 +0000' }))).toBe(true);
  });

  test('the repeated-timestamp fast path does not leak into a different timestamp or an invalid line', () => {
    const scanner = new ClfScanner();
    const lines = [clf({ ts: at(1) }), clf({ ts: at(1) }), clf({ ts: at(2) }), clf({ ts: at(1) }), clf({ ts: at(1), status: '20x' })];
    const t = totals(scanner.scan(enc(lines.join('\n'))));
    expect(t.perSecond).toEqual(new Map([[second(1), 3], [second(2), 1]]));
    expect(t.invalid).toBe(1);
    // the cache survives across scan calls
    expect(totals(scanner.scan(enc(clf({ ts: at(1) })))).perSecond).toEqual(new Map([[second(1), 1]]));
  });

  test('a property: any dd/Mon/yyyy:HH:MM:SS +zzzz agrees with the Date-based reference', () => {
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec', 'Foo', 'jan'];
    const two = (n: number) => String(n).padStart(2, '0');
    const scanner = new ClfScanner();
    fc.assert(
      fc.property(
        fc.record({
          d: fc.integer({ min: 0, max: 32 }),
          mon: fc.constantFrom(...months),
          y: fc.integer({ min: 0, max: 9999 }),
          h: fc.integer({ min: 0, max: 25 }),
          mi: fc.integer({ min: 0, max: 61 }),
          s: fc.integer({ min: 0, max: 61 }),
          sign: fc.constantFrom('+', '-'),
          zh: fc.integer({ min: 0, max: 15 }),
          zm: fc.integer({ min: 0, max: 61 }),
        }),
        ({ d, mon, y, h, mi, s, sign, zh, zm }) => {
          const ts = `${two(d)}/${mon}/${String(y).padStart(4, '0')}:${two(h)}:${two(mi)}:${two(s)} ${sign}${two(zh)}${two(zm)}`;
          const line = clf({ ts });
          const expected = parseLine(line);
          const t = totals(scanner.scan(enc(line)));
          if (expected === null) return t.invalid === 1 && t.hits === 0;
          return t.hits === 1 && t.perSecond.get(expected.second) === 1;
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('line handling', () => {
  test('CRLF line ends are stripped', () => {
    const t = totals(scanText(`${clf({ bytes: '5' })}\r\n${clf({ bytes: '-' })}\r\n`));
    expect([t.hits, t.invalid, t.bytes]).toEqual([2, 0, 5]);
  });

  test('empty and whitespace-only lines are neither hits nor invalid', () => {
    expect(scanText('\n\n   \n\t \t\n\r\n \r\n').segments).toEqual([]);
    expect(scanText('').segments).toEqual([]);
    const t = totals(scanText(`\n${clf()}\n  \n${clf()}\n\n`));
    expect([t.hits, t.invalid]).toEqual([2, 0]);
  });

  test('garbage lines are invalid, one count each', () => {
    const garbage = [
      'garbage',
      '{"host":"127.0.0.1","status":200}',
      '\0\0\0',
      ' 127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200 1',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200 ',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0"200 1',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0 200 1',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000] GET / HTTP/1.0" 200 1',
      '127.0.0.1 - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200 1',
      '127.0.0.1  - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200 1',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000]',
      '127.0.0.1 - - [09/May/2018:16:00:39 +0000',
      '127.0.0.1',
      clf({ bytes: '12a' }),
      clf({ bytes: '1234567890123456' }),
      clf({ bytes: '--' }),
    ];
    const t = totals(scanText(garbage.join('\n')));
    expect([t.hits, t.invalid]).toEqual([0, garbage.length]);
    for (const line of garbage) expect(parseLine(line)).toBeNull();
  });

  test('bad status codes make the line invalid', () => {
    for (const status of ['20x', '99', '600', '099', '2000', '-', '']) {
      expect([status, isInvalid(clf({ status }))]).toEqual([status, true]);
    }
    for (const status of ['100', '599']) expect(single(clf({ status })).statusClass).toBe(Number(status[0]));
  });

  test('a line over MAX_LINE bytes is invalid and its neighbours are intact', () => {
    const long = clf({ tail: ` "${'x'.repeat(MAX_LINE)}"` });
    const exact = clf({ tail: ' ' }).padEnd(MAX_LINE, 'y');
    expect(enc(exact).length).toBe(MAX_LINE);
    const t = totals(scanText([clf({ user: 'before' }), long, exact, `${exact}y`, clf({ user: 'after' })].join('\n')));
    expect([t.hits, t.invalid]).toEqual([3, 2]);
    expect(t.users).toEqual(new Map([['before', 1], ['james', 1], ['after', 1]]));
  });

  test('the last line without its newline is still a complete line', () => {
    const t = totals(scanText(`${clf({ user: 'a' })}\n${clf({ user: 'b' })}`));
    expect(t.users).toEqual(new Map([['a', 1], ['b', 1]]));
    expect(totals(scanText('garbage')).invalid).toBe(1);
  });
});

describe('segments', () => {
  test('lines with seconds 10,10,11,9,12 give segments 10, 11, 12 with the 9 in segment 11', () => {
    const scanner = new ClfScanner();
    const batch = scanner.scan(enc([10, 10, 11, 9, 12].map((s) => clf({ ts: at(s) })).join('\n') + '\n'));
    expect(batch.segments.map((s) => s.second)).toEqual([second(10), second(11), second(12)]);
    expect(batch.segments.map((s) => s.hits)).toEqual([2, 2, 1]);
    expect(batch.segments[1]!.perSecond).toEqual(new Map([[second(11), 1], [second(9), 1]]));
    expect(scanner.highWater).toBe(second(12));
  });

  test('invalid lines count in the current segment; before any valid line a segment at -Infinity holds them', () => {
    const scanner = new ClfScanner();
    expect(scanner.highWater).toBe(-Infinity);
    const batch = scanner.scan(enc(['junk', clf({ ts: at(5) }), 'junk', 'junk', clf({ ts: at(6) })].join('\n')));
    const shape = (s: Segment) => [s.second, s.hits, s.invalid];
    expect(batch.segments.map(shape)).toEqual([
      [-Infinity, 0, 1],
      [second(5), 1, 2],
      [second(6), 1, 0],
    ]);
  });

  test("status classes are each segment's own: none leaks into the next segment or the next scan call", () => {
    const scanner = new ClfScanner();
    const statuses = [200, 404, 503, 301, 100, 200, 599, 418];
    const chunks = [0, 1].map((call) => {
      const lines: string[] = [];
      for (let i = 0; i < 40; i++) lines.push(clf({ status: String(statuses[(i * 3 + call) % statuses.length]), ts: at(call * 10 + Math.floor(i / 8)) }));
      lines.splice(17, 0, 'junk');
      return lines;
    });
    for (const lines of chunks) {
      const batch = scanner.scan(enc(lines.join('\n') + '\n'));
      expect(batch.segments.length).toBe(5);
      for (const seg of batch.segments) {
        const expected = [0, 0, 0, 0, 0, 0];
        for (const line of lines) {
          const entry = parseLine(line);
          if (entry && entry.second === seg.second) expected[Math.floor(entry.status / 100)]! += 1;
        }
        expect([...seg.status]).toEqual(expected);
        expect(seg.status.reduce((a, b) => a + b, 0)).toBe(seg.hits);
      }
    }
  });

  test('the high-water second carries over to the next scan call', () => {
    const scanner = new ClfScanner();
    scanner.scan(enc(clf({ ts: at(20) })));
    const batch = scanner.scan(enc(['junk', clf({ ts: at(19) }), clf({ ts: at(20) }), clf({ ts: at(21) })].join('\n')));
    expect(batch.segments.map((s) => [s.second, s.hits, s.invalid])).toEqual([
      [second(20), 2, 1],
      [second(21), 1, 0],
    ]);
    expect(batch.segments[0]!.perSecond).toEqual(new Map([[second(19), 1], [second(20), 1]]));
  });

  test('an invalid line never moves the high-water second', () => {
    const scanner = new ClfScanner();
    scanner.scan(enc(clf({ ts: at(30), status: '700' })));
    expect(scanner.highWater).toBe(-Infinity);
  });
});

// ---------------------------------------------------------------- the scanner against parseLine

/** mulberry32: a small seeded PRNG so the corpus is the same on every run. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildCorpus(): string[] {
  const base = [
    clf(),
    clf({ user: '-', bytes: '-' }),
    clf({ host: '2001:db8::1', request: 'POST /api/v1/users HTTP/1.1', status: '201', bytes: '0' }),
    clf({ request: 'GET /x' }),
    clf({ request: 'OPTIONS * HTTP/1.1', status: '204' }),
    clf({ request: 'GET /pages?x=1/2 HTTP/1.1' }),
    clf({ request: 'GET http://my.site.com/pages/create HTTP/1.1', status: '301' }),
    clf({ request: 'GET https://my.site.com HTTP/1.1' }),
    clf({ request: 'GET HTTPS://x.org?n=/a/b HTTP/1.1' }),
    clf({ request: 'CONNECT x.org:443 HTTP/1.1' }),
    clf({ ts: '09/May/2018:03:00:00 -0700' }),
    clf({ ts: '09/May/2018:15:30:00 +0530' }),
    clf({ ts: '29/Feb/2000:23:59:59 +1400' }),
    clf({ ts: '29/Feb/2001:00:00:00 +0000' }),
    clf({ ts: '32/Foo/2000:25:61:61 +0000' }),
    clf({ ts: '31/Dec/1969:23:59:59 +0000' }),
    clf({ ts: '01/Jan/0000:00:00:00 -1459' }),
    clf({ status: '20x' }),
    clf({ status: '99' }),
    clf({ status: '600' }),
    clf({ status: '100' }),
    clf({ status: '599', bytes: '999999999999999' }),
    clf({ request: 'GET /q?a=\\"b\\" HTTP/1.1' }),
    clf({ request: '-', status: '400', bytes: '0' }),
    clf({ request: '', status: '400' }),
    clf({ request: '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', status: '400' }),
    clf({ tail: ' "http://ref/x" "Mozilla/5.0 (X11; Linux x86_64)"' }),
    clf({ tail: ' "-" "-"' }),
    clf({ tail: '\textra' }),
    clf({ user: 'josé', request: 'GET /café/menu HTTP/1.1' }),
    clf({ host: 'example.com', request: 'get /lower HTTP/1.1' }),
    clf({ request: 'M-SEARCH * HTTP/1.1' }),
    clf({ request: 'GET //x HTTP/1.1' }),
    clf({ request: 'GET /a#b/c HTTP/1.1' }),
    clf({ request: 'GET index.html HTTP/1.0' }),
    clf({ request: 'GET /a/b HTTP/1.1 extra' }),
    clf({ request: 'GET /x" 200 1 HTTP/1.1' }),
    clf({ request: 'GET /x\\" 2001 x' }),
    clf() + '\r',
    '',
    '   ',
    '\t',
    '\r',
    'garbage',
    '{"msg":"json line","status":200}',
    '\0\x01\x02\x03',
    '127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200',
    '127.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET / HTTP/1.0" 200 1 2 3',
  ];
  const alphabet = [' ', '"', '[', ']', '-', '/', ':', '+', '0', '2', '5', '9', 'a', 'Z', '\\', '\t', '\r', '?', '#', 'é', '\x00'];
  const rand = prng(0xc1f);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const mutate = (line: string): string => {
    const i = Math.floor(rand() * (line.length + 1));
    switch (Math.floor(rand() * 5)) {
      case 0:
        return line.slice(0, i) + line.slice(i + 1); // delete
      case 1:
        return line.slice(0, i) + pick(alphabet) + line.slice(i); // insert
      case 2:
        return line.slice(0, i) + pick(alphabet) + line.slice(i + 1); // replace
      case 3:
        return line.slice(0, i); // cut short
      default: // a digit changed: mostly in timestamp, status and bytes
        return line.replace(/\d/g, (d) => (rand() < 0.08 ? String(Math.floor(rand() * 10)) : d));
    }
  };
  const corpus = [...base];
  const valid = base.filter((l) => parseLine(l) !== null);
  while (corpus.length < 240) {
    let line = pick(valid);
    const rounds = 1 + Math.floor(rand() * 3);
    for (let r = 0; r < rounds; r++) line = mutate(line);
    corpus.push(line);
  }
  return corpus;
}

const isBlank = (line: string) => /^[ \t]*$/.test(line.endsWith('\r') ? line.slice(0, -1) : line);

/** Asserts that scanning `line` alone with `scanner` gives what parseLine says. */
function expectAgreement(scanner: ClfScanner, line: string, newline: boolean) {
  const expected = parseLine(line);
  const batch = scanner.scan(enc(newline ? `${line}\n` : line));
  const t = totals(batch);
  if (isBlank(line)) {
    expect([line, batch.segments.length]).toEqual([line, 0]);
    return expected === null;
  }
  if (expected === null) {
    expect([line, t.hits, t.invalid]).toEqual([line, 0, 1]);
    return false;
  }
  const keys = <K>(m: Map<K, number>) => [...m.entries()];
  const statusClass = Math.floor(expected.status / 100);
  expect([line, t.hits, t.invalid, keys(t.perSecond), keys(t.hosts), keys(t.users), keys(t.methods), keys(t.sections), t.status, keys(t.codes), t.bytes]).toEqual([
    line,
    1,
    0,
    [[expected.second, 1]],
    [[expected.host, 1]],
    expected.user === null ? [] : [[expected.user, 1]],
    [[expected.method, 1]],
    [[expected.section, 1]],
    [0, 1, 2, 3, 4, 5].map((i) => (i === statusClass ? 1 : 0)),
    [[expected.status, 1]],
    expected.bytes,
  ]);
  return true;
}

describe('the fast scanner against parseLine', () => {
  const corpus = buildCorpus();

  test('the corpus is varied: valid, invalid and blank lines', () => {
    const valid = corpus.filter((l) => parseLine(l) !== null).length;
    const blank = corpus.filter(isBlank).length;
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    expect(valid).toBeGreaterThan(60);
    expect(corpus.length - valid - blank).toBeGreaterThan(60);
  });

  test('agrees line by line on the corpus', () => {
    const scanner = new ClfScanner(); // one scanner: the timestamp and key caches carry over
    corpus.forEach((line, i) => expectAgreement(scanner, line, i % 2 === 0));
  });

  test('agrees on the whole corpus scanned at once', () => {
    const t = totals(new ClfScanner().scan(enc(corpus.join('\n'))));
    const entries = corpus.map(parseLine).filter((e): e is Entry => e !== null);
    expect(t.hits).toBe(entries.length);
    expect(t.invalid).toBe(corpus.filter((l) => !isBlank(l) && parseLine(l) === null).length);
    expect(t.bytes).toBe(entries.reduce((sum, e) => sum + e.bytes, 0));
    const count = <K>(key: (e: Entry) => K | null) => {
      const m = new Map<K, number>();
      for (const e of entries) {
        const k = key(e);
        if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
      }
      return m;
    };
    expect(t.sections).toEqual(count((e) => e.section));
    expect(t.hosts).toEqual(count((e) => e.host));
    expect(t.users).toEqual(count((e) => e.user));
    expect(t.methods).toEqual(count((e) => e.method));
    expect(t.perSecond).toEqual(count((e) => e.second));
    expect(t.codes).toEqual(count((e) => e.status));
  });

  test('a property: lines assembled from valid and broken fields agree with parseLine', () => {
    const field = (...xs: string[]) => fc.constantFrom(...xs);
    const structured = fc
      .record({
        host: field('127.0.0.1', '::1', 'h', '', 'a b', '\t', 'é'),
        ident: field('-', '', 'x'),
        user: field('-', 'james', 'jo sé', 'josé', '"', ''),
        ts: field(TS, at(1), at(2), '09/May/2018:03:00:00 -0700', '29/Feb/2001:00:00:00 +0000', '29/Feb/2000:00:00:00 +0000', '', TS + ' '),
        method: field('GET', 'POST', 'get', 'M_X-Y', '', '1', '-', 'GÉT'),
        target: field('/', '/a/b', '/a?b/c', 'http://h', 'https://h/x/y', 'HTTP://H?x=/y', '*', '', 'a\\"b', '" 200 ', '?'),
        proto: field('', ' HTTP/1.1', ' ', ' HTTP/1.1 x'),
        status: field('200', '404', '599', '600', '099', '20x', '2000', '1'),
        bytes: field('0', '123', '-', '', '1a', '999999999999999', '1234567890123456', '- '),
        tail: field('', ' "ref" "ua"', '\t', '\r', ' "x" 200 1', 'x'),
      })
      .map(
        (f) =>
          `${f.host} ${f.ident} ${f.user} [${f.ts}] "${f.method}${f.method || f.target ? ' ' : ''}${f.target}${f.proto}" ${f.status} ${f.bytes}${f.tail}`,
      );
    const pieces = fc.array(
      field(' ', '"', '[', ']', '-', '/', '\t', '\r', '200', '09/May/2018:16:00:39 +0000', 'GET', '/a/b', '\\"', 'é', '1', '" 200 1', '" 2001 '),
      { maxLength: 30 },
    );
    const scanner = new ClfScanner();
    fc.assert(
      fc.property(fc.oneof(structured, pieces.map((p) => p.join('')), fc.string({ maxLength: 60 })), fc.boolean(), (line, newline) => {
        if (line.includes('\n') || /[\ud800-\udfff]/.test(line)) return;
        expectAgreement(scanner, line, newline);
      }),
      { numRuns: 500 },
    );
  });

  test('a property: public-site traffic (a new client from a /8 on every line, query strings with slashes, combined lines with escaped quotes) agrees line by line and in bulk', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const segment = fc.stringMatching(/^[a-z0-9_.~-]{1,12}$/);
    const line = fc
      .record({
        host: fc.tuple(octet, octet, octet).map(([a, b, c]) => `10.${a}.${b}.${c}`),
        user: fc.constantFrom('-', '-', '-', 'alice', 'bob', 'svc-ci'),
        second: fc.integer({ min: 0, max: 59 }),
        method: fc.constantFrom('GET', 'GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'),
        path: fc.array(segment, { minLength: 0, maxLength: 4 }).map((p) => `/${p.join('/')}`),
        query: fc.option(fc.tuple(fc.nat(999), fc.array(segment, { maxLength: 3 })).map(([q, x]) => `?q=${q}&x=/${x.join('/')}`)),
        fragment: fc.option(fc.constantFrom('#top', '#a/b')),
        proto: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/2'),
        status: fc.constantFrom(200, 200, 201, 204, 301, 304, 400, 404, 499, 500, 503),
        bytes: fc.oneof(fc.nat(10_000_000).map(String), fc.constant('-')),
        combined: fc.option(
          fc.tuple(
            fc.constantFrom('-', 'https://example.com/a?b=/c', 'https://q.example/"x"'),
            fc.constantFrom('Mozilla/5.0 (X11; Linux x86_64) 200 123', 'curl/8.5.0', 'say \\"hi\\" 404 1', ''),
          ),
        ),
      })
      .map((f) => {
        const target = `${f.path}${f.query ?? ''}${f.fragment ?? ''}`;
        const tail = f.combined ? ` "${f.combined[0].replaceAll('"', '\\"')}" "${f.combined[1]}"` : '';
        return `${f.host} - ${f.user} [${at(f.second)}] "${f.method} ${target} ${f.proto}" ${f.status} ${f.bytes}${tail}`;
      });
    const scanner = new ClfScanner();
    fc.assert(
      fc.property(line, fc.boolean(), (l, newline) => {
        expect(expectAgreement(scanner, l, newline)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    // In bulk, as a replay reads them: the sums agree with the reference parser's.
    const lines = fc.sample(line, { numRuns: 3000, seed: 13 });
    const t = totals(new ClfScanner().scan(enc(lines.join('\n'))));
    const entries = lines.map(parseLine);
    expect(entries.every((e) => e !== null)).toBe(true);
    expect(t.hits).toBe(3000);
    const count = <K,>(key: (e: Entry) => K | null) => {
      const m = new Map<K, number>();
      for (const e of entries as Entry[]) {
        const k = key(e);
        if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
      }
      return m;
    };
    expect(t.hosts).toEqual(count((e) => e.host));
    expect(t.sections).toEqual(count((e) => e.section));
    expect(t.users).toEqual(count((e) => e.user));
    expect(t.codes).toEqual(count((e) => e.status));
    expect(t.bytes).toBe((entries as Entry[]).reduce((n, e) => n + e.bytes, 0));
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
    if (lines[lines.length - 1]!.length === 0) lines.pop(); // after a final '\n' (or no bytes) there is no line
    return lines.filter((line) => {
      if (line[line.length - 1] === 13) line = line.slice(0, -1);
      return line.length > MAX_LINE || !line.every((b) => b === 32 || b === 9);
    }).length;
  }

  test('a property: random bytes never make scan throw, and hits + invalid = non-blank lines', () => {
    const interesting = fc.constantFrom(10, 13, 32, 9, 34, 91, 93, 45, 47, 58, 43, 48, 49, 50, 53, 57, 0, 0xff, 0xc3, 92, 77, 97, 121);
    const valid = [clf(), clf({ ts: at(3), tail: ' "-" "ua"' }), clf({ request: '-' })].join('\n') + '\n';
    const mutatedValid = fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
      .map((edits) => {
        const bytes = enc(valid + valid);
        for (const [at, b] of edits) bytes[at % bytes.length] = b;
        return bytes;
      });
    const scanner = new ClfScanner();
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(interesting, { maxLength: 300 }).map((a) => Uint8Array.from(a)), mutatedValid),
        (bytes) => {
          const before = scanner.highWater;
          const batch = scanner.scan(bytes);
          const t = totals(batch);
          expect(t.hits + t.invalid).toBe(nonBlankLines(bytes));
          // segment seconds strictly increase and end at the high-water second
          const seconds = batch.segments.map((s) => s.second);
          for (let i = 1; i < seconds.length; i++) expect(seconds[i]!).toBeGreaterThan(seconds[i - 1]!);
          if (t.hits > 0) expect(seconds[seconds.length - 1]).toBe(scanner.highWater);
          expect(scanner.highWater).toBeGreaterThanOrEqual(before);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('with borrowKeys (the parser\'s), each batch counts what an owning scanner counts; the next scan reuses the buffer', () => {
    const text = buildCorpus().join('\n');
    const owning = new ClfScanner();
    const borrowing = new ClfScanner({ borrowKeys: true });
    const pieces = text.match(/(?:[^\n]*\n){1,40}/g)!;
    let previous: Batch | null = null;
    let reused = false;
    for (const piece of pieces) {
      const owned = owning.scan(enc(piece));
      const borrowed = borrowing.scan(enc(piece));
      expect(totals(borrowed)).toEqual(totals(owned));
      const keys = borrowed.segments.find((s) => s.keys.bytes.length > 0)?.keys;
      if (keys && previous) reused ||= previous.segments.some((s) => s.keys.bytes.buffer === keys.bytes.buffer);
      if (keys) previous = borrowed;
    }
    expect(reused).toBe(true);
    // An owning scanner's batches keep their keys after later scans.
    const kept = owning.scan(enc(pieces[0]!));
    const before = totals(kept);
    for (const piece of pieces.slice(1)) owning.scan(enc(piece));
    expect(totals(kept)).toEqual(before);
  });

  test('a subarray view of a larger buffer is scanned within its bounds only', () => {
    const whole = enc(`${clf({ user: 'outside' })}\n${clf({ user: 'inside' })}\n${clf({ user: 'outside' })}`);
    const start = clf({ user: 'outside' }).length + 1;
    const view = whole.subarray(start, start + clf({ user: 'inside' }).length);
    expect(totals(new ClfScanner().scan(view)).users).toEqual(new Map([['inside', 1]]));
  });
});

describe('the fast scanner against parseLine, on fixtures and generated traffic', () => {
  /** Every .log fixture of the spec folder, scanned whole, agrees with the reference line by line. */
  const fixtures = [...new Bun.Glob('fixtures/**/*.log').scanSync({ cwd: import.meta.dir, absolute: true })];

  test('there are fixtures to check', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  for (const file of fixtures) {
    test(`agrees on ${file.slice(file.indexOf('fixtures/'))}`, () => {
      const text = require('node:fs').readFileSync(file, 'latin1') as string;
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      const scanner = new ClfScanner();
      for (const line of lines) expectAgreement(scanner, line, true);
    });
  }

  test('agrees on generated traffic: both formats, several seeds and offsets', () => {
    const { makeLine, mulberry32 } = require('../lib/generator') as typeof import('../lib/generator');
    const scanner = new ClfScanner();
    for (const [seed, format, offsetMinutes] of [
      [1, 'clf', 0],
      [2, 'combined', 0],
      [3, 'clf', 330],
      [4, 'combined', -420],
    ] as const) {
      const rng = mulberry32(seed);
      for (let i = 0; i < 500; i++) {
        const line = makeLine(rng, 1_767_225_600 + i, { format, offsetMinutes }).replace(/\n$/, '');
        expect(expectAgreement(scanner, line, true)).toBe(true);
      }
    }
  });
});

describe('a line never runs into the next one', () => {
  test('every prefix of a valid line, followed by a valid line, is one bad line and one hit', () => {
    for (const line of [
      '127.0.0.1 - james [09/May/2018:16:00:39 +0000] "GET /report HTTP/1.0" 200 123',
      '::1 - - [09/May/2018:16:00:39 -0700] "POST /api/x?y=1 HTTP/1.1" 503 - "http://ref/" "curl/8"',
      '10.0.0.1 - - [09/May/2018:16:00:39 +0000] "GET /x" 200 5\r',
    ]) {
      const next = '10.9.9.9 - bob [09/May/2018:16:00:40 +0000] "GET /next/x HTTP/1.1" 404 7';
      for (let cut = 0; cut < line.length; cut++) {
        const prefix = line.slice(0, cut);
        const t = totals(new ClfScanner().scan(enc(`${prefix}\n${next}\n`)));
        const prefixValid = parseLine(prefix) !== null;
        const prefixBlank = isBlank(prefix);
        expect([cut, t.hits, t.invalid]).toEqual([cut, prefixValid ? 2 : 1, prefixValid || prefixBlank ? 0 : 1]);
        expect(t.hosts.get('10.9.9.9')).toBe(1);
        expect(t.users.get('bob')).toBe(1);
      }
    }
  });
});
