import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { MAX_LINE, parseLine, sectionOf } from '../actors/clf-scanner';
import { TextScanner } from '../actors/text-scanner';
import { unpack } from '../lib/byte-keys';
import { compileFormat, parseEntry, type FieldToken, type FormatEntry, type LogFormat, type TextFormat } from '../lib/log-format';
import { stripPort } from '../lib/log-format-parse';
import { epochSecond, isoSecond, strftimeSecond } from '../lib/log-format-time';

const DIR = join(import.meta.dir, 'fixtures', 'formats');
const lines = (file: string) => readFileSync(join(DIR, file), 'utf8').split('\n').filter((l) => l !== '');
const utc = (y: number, mo: number, d: number, h: number, mi: number, s: number) => Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
const entries = (file: string, value: string) => lines(file).map((l) => parseEntry(l, compileFormat(value)));

const NGINX_COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
const MAIN = `${NGINX_COMBINED} $request_time $upstream_response_time $host`;

function entry(partial: Partial<FormatEntry> & Pick<FormatEntry, 'second' | 'status'>): FormatEntry {
  return { client: '-', user: null, method: 'GET', section: '/', bytes: 0, vhost: null, duration: null, upstream: null, ...partial };
}

describe('every name on its sample lines', () => {
  test('aws-alb: the AWS docs examples; duration = the three processing times, -1 none', () => {
    const parsed = entries('aws-alb.log', 'aws-alb');
    expect(parsed.map((p) => p.error)).toEqual(parsed.map(() => undefined));
    const t = utc(2018, 7, 2, 22, 23, 0);
    expect(parsed[0]!.entry).toEqual(entry({ second: t, client: '192.168.131.39', status: 200, bytes: 366, duration: 1, upstream: 1 }));
    expect(parsed[1]!.entry).toMatchObject({ client: '192.168.131.39', vhost: 'www.example.com', status: 200, bytes: 57, upstream: 48 });
    expect(parsed[1]!.entry!.duration).toBeCloseTo(171, 9);
    expect(parsed[3]!.entry).toMatchObject({ client: '10.0.0.140', status: 101, bytes: 587, upstream: 3 });
    expect(parsed[4]!.entry).toMatchObject({ second: utc(2018, 11, 30, 22, 23, 0), status: 502 });
    expect(parsed[5]!.entry).toEqual(
      entry({ second: utc(2024, 3, 5, 10, 15, 42), client: '2001:db8::7', method: 'POST', section: '/v1', status: 460, vhost: 'api.example.com' }),
    );
    expect(parsed[5]!.fields.find((f) => f.token === 'target_processing_time')).toEqual({
      token: 'target_processing_time', field: 'upstream', raw: '-1', value: null,
    });
  });

  test('caddy: Caddy 2.6 lines; client_ip before remote_ip; an empty user_id is none', () => {
    const parsed = entries('caddy.log', 'caddy');
    expect(parsed[0]!.entry).toEqual(
      entry({ second: 1646861401, client: '127.0.0.1', status: 200, bytes: 10900, vhost: 'localhost', duration: 0.929675 }),
    );
    expect(parsed[1]!.entry).toEqual(
      entry({ second: 1709633742, client: '2001:db8::1', user: 'alice', method: 'POST', section: '/v1', status: 201, bytes: 412, vhost: 'api.example.com', duration: 52.311 }),
    );
    expect(parsed[2]!.entry).toMatchObject({ status: 404, section: '/missing', bytes: 0 });
    expect(parsed[3]!.entry).toMatchObject({ client: '203.0.113.9', section: '/static' });
    expect(parsed[3]!.fields.find((f) => f.field === 'client')).toEqual({ token: 'request.client_ip', field: 'client', raw: '203.0.113.9', value: '203.0.113.9' });
  });

  test('caddy: lines Caddy 2.6.2 wrote; a status of 0 (no route answered) is the empty 200 it sent', () => {
    const parsed = entries('caddy.log', 'caddy').slice(4);
    expect(parsed[0]!.entry).toEqual(
      entry({ second: 1796473083, client: '127.0.0.1', section: '/hello', status: 200, bytes: 2, vhost: '127.0.0.1:18431', duration: 0.024507 }),
    );
    expect(parsed[1]!.entry).toMatchObject({ section: '/missing', status: 404 });
    expect(parsed[2]!.entry).toMatchObject({ method: 'POST', section: '/hello', status: 200, bytes: 0 });
    expect(parsed[2]!.fields.find((f) => f.field === 'status')).toEqual({ token: 'status', field: 'status', raw: '0', value: 200 });
    const traefik = parseEntry(JSON.stringify({ StartUTC: '2024-03-05T10:15:42Z', DownstreamStatus: 0 }), compileFormat('traefik'));
    expect(traefik.error).toBe('status: expected 3 digits, got 0');
  });

  test('traefik: Duration and OriginDuration in ns; ClientUsername "-" is none', () => {
    const parsed = entries('traefik.log', 'traefik');
    expect(parsed[0]!.entry).toEqual(
      entry({ second: utc(2024, 3, 5, 10, 15, 42), client: '192.168.1.10', section: '/api', status: 200, bytes: 1250, vhost: 'whoami.example.com', duration: 2.512345, upstream: 2.301234 }),
    );
    expect(parsed[1]!.entry).toMatchObject({ client: '2001:db8::42', user: 'bob', status: 302, upstream: 0 });
    expect(parsed[2]!.entry).toMatchObject({ method: 'POST', status: 502, duration: 30001.234567, upstream: 30000.987654 });
  });

  test('vcombined: the virtual host before the port; Apache\'s \\" inside the request', () => {
    const parsed = entries('vcombined.log', 'vcombined');
    expect(parsed[0]!.entry).toEqual(
      entry({ second: utc(2024, 3, 5, 9, 15, 42), client: '198.51.100.7', section: '/index.html', status: 200, bytes: 3380, vhost: 'www.example.com' }),
    );
    expect(parsed[2]!.entry).toMatchObject({ client: '2001:db8::5', user: 'carol', vhost: 'blog.example.org', method: 'POST' });
    expect(parsed[3]!.entry).toMatchObject({ section: '/search', status: 200, bytes: 1024 });
    expect(parsed[3]!.fields.find((f) => f.field === 'request')!.raw).toBe('GET /search?q=\\"quoted\\" HTTP/1.1');
    // Lines Apache 2.4 wrote: escaped quotes in the request, the referer and the user agent.
    expect(parsed.slice(4).map((p) => [p.entry?.vhost, p.entry?.section, p.entry?.status, p.entry?.bytes])).toEqual([
      ['www.example.com', '/index.html', 200, 203],
      ['www.example.com', '/missing', 404, 397],
      ['www.example.com', '/index.html', 200, 203],
    ]);
  });

  test('common and combined: what parseLine reads, no duration or vhost', () => {
    for (const [file, name] of [['common.log', 'common'], ['combined.log', 'combined']] as const) {
      for (const line of lines(file)) {
        const { entry: got, error } = parseEntry(line, compileFormat(name));
        const want = parseLine(line)!;
        expect(error).toBeUndefined();
        expect(got).toEqual({ second: want.second, client: want.host, user: want.user, method: want.method, section: want.section, status: want.status, bytes: want.bytes, vhost: null, duration: null, upstream: null });
      }
    }
  });

  test('a CLF line shows its fields, and why it does not parse', () => {
    const ok = parseEntry(lines('combined.log')[0]!, compileFormat('combined'));
    expect(ok.fields.map((f) => f.token)).toEqual(['%h', '%l', '%u', '%t', '%r', '%>s', '%b', '%{Referer}i', '%{User-Agent}i']);
    const bad = parseEntry('127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" abc 12', compileFormat('common'));
    expect(bad.entry).toBeNull();
    expect(bad.error).toBe('status: expected 3 digits, got "abc"');
  });
});

describe('nginx and Apache strings on their lines', () => {
  test("nginx's combined as a string reads combined lines as the CLF scanner does", () => {
    const format = compileFormat(NGINX_COMBINED);
    for (const line of lines('combined.log')) {
      const want = parseEntry(line, compileFormat('combined')).entry;
      expect(parseEntry(line, format).entry).toEqual(want);
    }
  });

  test("the other $upstream_* lists (a retried request's addresses, statuses, times) end where the list does, parseEntry and TextScanner alike", () => {
    const format = compileFormat(
      `${NGINX_COMBINED} $upstream_addr $upstream_status $upstream_connect_time $upstream_header_time $upstream_response_length ` +
        '$upstream_bytes_received $upstream_bytes_sent $upstream_queue_time $upstream_response_time $request_time $host',
    ) as TextFormat;
    const head = '10.1.2.3 - - [05/Mar/2024:10:15:42 +0000] "GET /api/x HTTP/1.1" 502 12 "-" "curl/8.0"';
    const lists = [
      // tried twice, then an internal redirect to another group
      '10.0.0.1:80, 10.0.0.2:80 : unix:/run/app.sock 502, 504 : 200 0.001, - : 0.002 0.010, - : 0.020 0, 0 : 12 0, 0 : 340 120, 0 : 80 0.000, 0.000 : 0.000 0.030, 3.000 : 0.020',
      // no server could be selected: the group's name; IPv6
      'backend 502 - - - - - - -',
      '[2001:db8::1]:8080 200 0.001 0.002 12 340 80 0.000 0.004',
    ];
    const want = [3050, null, 4];
    lists.forEach((list, i) => {
      const line = `${head} ${list} 0.060 api.example.com`;
      const parsed = parseEntry(line, format);
      expect([parsed.error, parsed.entry?.vhost, parsed.entry?.duration, parsed.entry?.upstream]).toEqual([undefined, 'api.example.com', 60, want[i]]);
      const batch = new TextScanner(format).scan(new TextEncoder().encode(`${line}\n`));
      const seg = batch.segments[0]!;
      expect([seg.hits, seg.invalid, [...unpack(seg.keys, 'vhosts')]]).toEqual([1, 0, [['api.example.com', 1]]]);
    });
  });

  test('main: $request_time, an upstream list summed, "-" upstream none, \\x22 in a quoted field', () => {
    const parsed = entries('nginx-main.log', MAIN);
    expect(parsed.map((p) => p.error)).toEqual(parsed.map(() => undefined));
    expect(parsed[0]!.entry).toEqual(
      entry({ second: utc(2024, 3, 5, 10, 15, 42), client: '203.0.113.5', section: '/index.html', status: 200, bytes: 612, vhost: 'www.example.com', duration: 0 }),
    );
    expect(parsed[2]!.fields.find((f) => f.field === 'upstream')).toEqual({ token: '$upstream_response_time', field: 'upstream', raw: '1.001, 2.003', value: 3004 });
    expect(parsed[3]!.entry!.upstream).toBeCloseTo(60, 9);
    expect(parsed[4]!.entry).toMatchObject({ client: '2001:db8::1', section: '/search', duration: 2 });
    expect(parsed[4]!.fields.find((f) => f.field === 'request')!.raw).toBe('GET /search?q=\\x22nginx\\x22 HTTP/1.1');
  });

  test('Apache with %D, %T, %{ms}T: the units', () => {
    const line = (d: string) => `1.2.3.4 [05/Mar/2024:10:15:42 +0000] "GET / HTTP/1.1" 200 5 ${d}`;
    const read = (directive: string, value: string) => parseEntry(line(value), compileFormat(`%h %t "%r" %>s %b ${directive}`)).entry?.duration;
    expect(read('%D', '1500')).toBe(1.5);
    expect(read('%T', '2')).toBe(2000);
    expect(read('%{ms}T', '37')).toBe(37);
    expect(read('%{us}T', '250')).toBe(0.25);
    expect(read('%{s}T', '1')).toBe(1000);
  });

  test('Apache strftime and epoch times', () => {
    const status = (time: string, directive: string) => parseEntry(`${time} 200`, compileFormat(`${directive} %>s`));
    expect(status('2024-03-05 10:15:42 +0100', '%{%F %T %z}t').entry?.second).toBe(utc(2024, 3, 5, 9, 15, 42));
    expect(status('1709633742', '%{sec}t').entry?.second).toBe(1709633742);
    expect(status('1709633742123', '%{msec}t').entry?.second).toBe(1709633742);
    expect(status('1709633742123456', '%{end:usec}t').entry?.second).toBe(1709633742);
    expect(status('[05/Mar/2024:10:15:42 +0000]', '%t').entry?.second).toBe(utc(2024, 3, 5, 10, 15, 42));
    expect(status('05/03/24 10:15', '%{%d/%m/%y %R %z}t').error).toStartWith('%{%d/%m/%y %R %z}t: time: expected');
  });

  test('%U%q and $uri$is_args$args: the section of the path, without its query', () => {
    const apache = parseEntry('[05/Mar/2024:10:15:42 +0000] 200 "GET /a/b?x=/c HTTP/1.1"', compileFormat('%t %>s "%m %U%q %H"'));
    expect(apache.entry).toMatchObject({ method: 'GET', section: '/a' });
    const nginx = parseEntry('[05/Mar/2024:10:15:42 +0000] 200 PUT /x?y=1', compileFormat('[$time_local] $status $request_method $uri$is_args$args'));
    expect(nginx.entry).toMatchObject({ method: 'PUT', section: '/x' });
  });

  test('separate method and URI: each read on its own', () => {
    const format = compileFormat('[$time_local] $status "$request_method" "$request_uri"');
    const read = (method: string, uri: string) => parseEntry(`[05/Mar/2024:10:15:42 +0000] 200 "${method}" "${uri}"`, format).entry;
    expect(read('GET', '/a/b')).toMatchObject({ method: 'GET', section: '/a' });
    expect(read('-', '/a/b')).toMatchObject({ method: '(none)', section: '/a' });
    expect(read('GET', '-')).toMatchObject({ method: 'GET', section: '(no request)' });
    expect(read('G E T', 'a/b')).toMatchObject({ method: '(none)', section: '(not a path)' });
  });
});

describe('the rules of a line', () => {
  const format = compileFormat(MAIN);
  const line = (fields: { status?: string; bytes?: string; rt?: string; urt?: string; host?: string; user?: string; ts?: string; request?: string } = {}) => {
    const { status = '200', bytes = '12', rt = '0.010', urt = '0.008', host = 'example.com', user = '-', ts = '05/Mar/2024:10:15:42 +0000', request = 'GET /x HTTP/1.1' } = fields;
    return `10.0.0.1 - ${user} [${ts}] "${request}" ${status} ${bytes} "-" "curl/8" ${rt} ${urt} ${host}`;
  };

  test('the status: 3 digits, 100..599', () => {
    expect(parseEntry(line({ status: 'abc' }), format).error).toBe('status: expected 3 digits, got "abc"');
    expect(parseEntry(line({ status: '600' }), format).error).toBe('status: 600 is not 100..599');
    expect(parseEntry(line({ status: '099' }), format).error).toBe('status: 99 is not 100..599');
    expect(parseEntry(line({ status: '2000' }), format).error).toBe('status: expected 3 digits, got "2000"');
    expect(parseEntry(line({ status: '599' }), format).entry?.status).toBe(599);
  });

  test('the time', () => {
    expect(parseEntry(line({ ts: '31/Feb/2024:10:15:42 +0000' }), format).error).toBe('time: no such instant: "31/Feb/2024:10:15:42 +0000"');
    expect(parseEntry(line({ ts: '05/Mar/2024:10:15:42 +0000 ' }), format).error).toStartWith('expected "] \\"" at column');
    expect(parseEntry(line({ ts: '05/Mxr/2024:10:15:42 +0000' }), format).error).toBe(
      'time: expected dd/Mon/yyyy:HH:MM:SS +zzzz, got "05/Mxr/2024:10:15:42 +0000"',
    );
  });

  test('bytes: "-" is 0, anything but digits invalid', () => {
    expect(parseEntry(line({ bytes: '-' }), format).entry?.bytes).toBe(0);
    expect(parseEntry(line({ bytes: '12k' }), format).error).toBe('bytes: expected a number or -, got "12k"');
  });

  test('durations: "-" and empty are none, not invalid; anything else not a number is invalid', () => {
    expect(parseEntry(line({ rt: '-', urt: '-' }), format).entry).toMatchObject({ duration: null, upstream: null });
    expect(parseEntry(line({ urt: '-, -' }), format).entry?.upstream).toBeNull();
    expect(parseEntry(line({ urt: '-, 0.005' }), format).entry?.upstream).toBe(5);
    expect(parseEntry(line({ rt: 'fast' }), format).error).toBe('duration: expected a number, got "fast"');
    const empty = compileFormat('[$time_local] $status "$request_time"');
    expect(parseEntry('[05/Mar/2024:10:15:42 +0000] 200 ""', empty).entry?.duration).toBeNull();
  });

  test('the user and the virtual host: "-" is none', () => {
    expect(parseEntry(line({ user: 'ann', host: '-' }), format).entry).toMatchObject({ user: 'ann', vhost: null });
  });

  test('a request that is no request line: (none) and (no request), as the CLF scanner has it', () => {
    expect(parseEntry(line({ request: '-' }), format).entry).toMatchObject({ method: '(none)', section: '(no request)' });
    expect(parseEntry(line({ request: 'GET http://h.example/a/b?c HTTP/1.1' }), format).entry).toMatchObject({ method: 'GET', section: '/a' });
  });

  test('text after the format, or a literal missing, is invalid and says where', () => {
    const closed = compileFormat('[$time_local] $status "$request"');
    const ok = '[05/Mar/2024:10:15:42 +0000] 200 "GET / HTTP/1.1"';
    expect(parseEntry(`${ok} extra`, closed).error).toBe(`unexpected text after the format at column ${ok.length + 1}: " extra"`);
    expect(parseEntry(line().replace(' "-" "curl/8"', ''), format).error).toStartWith('$body_bytes_sent: no " \\"" after column');
    // The last field runs to the end of the line.
    expect(parseEntry(`${line()} extra`, format).entry?.vhost).toBe('example.com extra');
  });

  test('a trailing \\r is dropped; a blank line and an over-long one are not counted', () => {
    expect(parseEntry(`${line()}\r`, format).entry).toEqual(parseEntry(line(), format).entry);
    expect(parseEntry('  \t', format)).toEqual({ fields: [], entry: null, error: 'blank line' });
    const long = line({ request: `GET /${'a'.repeat(MAX_LINE)} HTTP/1.1` });
    expect(parseEntry(long, format)).toEqual({ fields: [], entry: null, error: `the line is longer than ${MAX_LINE} bytes` });
    expect(parseEntry(long, compileFormat('combined')).entry).toBeNull();
  });

  test('a hand-made format the compilers would refuse still never throws', () => {
    const adjacent: TextFormat = {
      kind: 'text',
      name: 'hand-made',
      escape: 'default',
      tokens: [{ field: 'time', source: '$msec', time: { kind: 'epoch', unit: 's' } }, { field: 'status', source: '$status' }],
    };
    expect(parseEntry('1709633742 200', adjacent).error).toBe('$msec: the format has no text after it to end it');
    const badPattern: TextFormat = { ...adjacent, tokens: [{ field: 'time', source: '%{%Q}t', time: { kind: 'strftime', pattern: '%Q' } }, { literal: ' ' }, { field: 'status', source: '%s' }] };
    expect(parseEntry('x 200', badPattern).error).toBe('%{%Q}t: time: "%Q" is no pattern the monitor reads at column 1');
  });

  test('a client that is address:port (hostPort) loses the port; zones and bare IPv6 stay', () => {
    expect(stripPort('192.0.2.1:8080')).toBe('192.0.2.1');
    expect(stripPort('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(stripPort('[fe80::1%eth0]:443')).toBe('fe80::1%eth0');
    expect(stripPort('[2001:db8::1]')).toBe('2001:db8::1');
    expect(stripPort('2001:db8::1')).toBe('2001:db8::1');
    expect(stripPort('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(stripPort('192.0.2.1')).toBe('192.0.2.1');
    expect(stripPort('host.example:x')).toBe('host.example:x');
    // Without hostPort the value is the client as written (nginx's $remote_addr has no port).
    const plain = parseEntry('fe80::1%eth0 [05/Mar/2024:10:15:42 +0000] 200', compileFormat('$remote_addr [$time_local] $status'));
    expect(plain.entry?.client).toBe('fe80::1%eth0');
  });
});

describe('JSON lines', () => {
  const caddy = compileFormat('caddy');
  const base = { ts: 1709633742.5, request: { remote_ip: '10.0.0.1', method: 'GET', host: 'h', uri: '/a/b' }, status: 200, size: 5, duration: 0.25 };
  const read = (object: unknown) => parseEntry(JSON.stringify(object), caddy);

  test('truncated JSON, and JSON that is not an object, are invalid', () => {
    const line = JSON.stringify(base);
    expect(parseEntry(line.slice(0, 40), caddy).error).toStartWith('not JSON: ');
    expect(parseEntry('[1,2]', caddy).error).toBe('not a JSON object');
    expect(parseEntry('"x"', caddy).error).toBe('not a JSON object');
  });

  test('a missing or null duration is none; a missing status or time invalid', () => {
    const { duration: _, ...untimed } = base;
    expect(read(untimed).entry?.duration).toBeNull();
    expect(read({ ...base, duration: null }).entry?.duration).toBeNull();
    const { status: __, ...noStatus } = base;
    expect(read(noStatus).error).toBe('status: missing');
    const { ts: ___, ...noTime } = base;
    expect(read(noTime).error).toBe('time: missing');
    expect(read({ ...base, status: { code: 200 } }).error).toBe('status: expected a string or a number, got {"code":200}');
  });

  test("Caddy's duration: seconds as a number, or a Go duration string", () => {
    expect(read(base).entry?.duration).toBe(250);
    expect(read({ ...base, duration: '1.5ms' }).entry?.duration).toBe(1.5);
    expect(read({ ...base, duration: '2m3.5s' }).entry?.duration).toBe(123_500);
    expect(read({ ...base, duration: '850µs' }).entry?.duration).toBeCloseTo(0.85, 9);
    expect(read({ ...base, duration: 'soon' }).error).toBe('duration: expected a number or a Go duration, got "soon"');
  });

  test('strings are decoded; a status or byte count may be a string', () => {
    const parsed = read({ ...base, status: '404', size: '7', request: { ...base.request, uri: '/caf\u00e9/\u0022x' } });
    expect(parsed.entry).toMatchObject({ status: 404, bytes: 7, section: '/café' });
  });

  test('remote_addr with a port (Caddy before 2.5)', () => {
    expect(read({ ...base, request: { remote_addr: '[::1]:5000', method: 'GET', uri: '/' } }).entry?.client).toBe('::1');
  });
});

describe('times', () => {
  test('ISO 8601: a fraction, Z, ±hh:mm, ±hhmm', () => {
    const t = utc(2024, 3, 5, 10, 15, 42);
    expect(isoSecond('2024-03-05T10:15:42Z')).toEqual({ second: t });
    expect(isoSecond('2024-03-05T10:15:42.999999999Z')).toEqual({ second: t });
    expect(isoSecond('2024-03-05T11:15:42+01:00')).toEqual({ second: t });
    expect(isoSecond('2024-03-05T05:45:42-0430')).toEqual({ second: t });
    expect(isoSecond('2024-03-05T10:15:42')).toMatchObject({ error: expect.stringContaining('expected ISO 8601') });
    expect(isoSecond('2024-02-30T10:15:42Z')).toMatchObject({ error: expect.stringContaining('no such instant') });
  });

  test('epoch: s, ms, µs, ns, exactly (no float rounding)', () => {
    expect(epochSecond('1709633742.999', 's')).toEqual({ second: 1709633742 });
    expect(epochSecond('1709633742999', 'ms')).toEqual({ second: 1709633742 });
    expect(epochSecond('1709633742999999', 'us')).toEqual({ second: 1709633742 });
    expect(epochSecond('1709633742999999999', 'ns')).toEqual({ second: 1709633742 });
    expect(epochSecond(1709633742.5, 's')).toEqual({ second: 1709633742 });
    expect(epochSecond('-5', 's')).toMatchObject({ error: expect.any(String) });
    expect(epochSecond('1e9', 's')).toMatchObject({ error: expect.any(String) });
  });

  test('strftime: %d %b %Y %H %M %S %z %y %m %e %T %F %s, and the length it takes', () => {
    expect(strftimeSecond('05/Mar/2024:10:15:42 +0000] rest', '%d/%b/%Y:%H:%M:%S %z')).toEqual({ second: utc(2024, 3, 5, 10, 15, 42), length: 26 });
    expect(strftimeSecond('24-03-05 10:15:42 -01:00', '%y-%m-%d %T %z')).toEqual({ second: utc(2024, 3, 5, 11, 15, 42), length: 24 });
    expect(strftimeSecond(' 5 Mar 2024 10:15:42Z', '%e %b %Y %T%z')).toEqual({ second: utc(2024, 3, 5, 10, 15, 42), length: 21 });
    expect(strftimeSecond('1709633742', '%s')).toEqual({ second: 1709633742, length: 10 });
    expect(strftimeSecond('2024-03-05T10:15:42', '%FT%T')).toEqual({ second: new Date(2024, 2, 5, 10, 15, 42).getTime() / 1000, length: 19 });
    expect(strftimeSecond('99-01-01 00:00:00 +0000', '%y-%m-%d %T %z')).toMatchObject({ second: utc(1999, 1, 1, 0, 0, 0) });
  });
});

// ---- round trips: random entries written in a format, read back ----

interface Sample {
  second: number;
  client: string;
  user: string | null;
  method: string;
  path: string;
  status: number;
  bytes: number;
  vhost: string | null;
  /** µs, so every unit writes it exactly. */
  durationUs: number | null;
  upstreamUs: (number | null)[];
  separators: (', ' | ' : ')[];
}

const octet = fc.integer({ min: 0, max: 255 });
const client = fc.oneof(
  fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 2, maxLength: 8 }).map((h) => `${h.map((x) => x.toString(16)).join(':')}::1`),
);
const word = fc.stringMatching(/^[a-z][a-z0-9._-]{0,11}$/);

function sample(escapedQuote: string): fc.Arbitrary<Sample> {
  const segment = fc.oneof(word, word.map((w) => `${w}${escapedQuote}${w}`));
  return fc
    .record({
      second: fc.integer({ min: 0, max: 4102444799 }),
      client,
      user: fc.option(word, { nil: null }),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND'),
      path: fc.tuple(fc.array(segment, { maxLength: 3 }), fc.option(word, { nil: null })).map(([s, q]) => `/${s.join('/')}${q === null ? '' : `?q=${q}`}`),
      status: fc.integer({ min: 100, max: 599 }),
      bytes: fc.integer({ min: 0, max: 1e12 }),
      vhost: fc.option(word, { nil: null }),
      durationUs: fc.option(fc.integer({ min: 0, max: 600e6 }), { nil: null }),
      upstreamUs: fc.array(fc.option(fc.integer({ min: 0, max: 60e6 }), { nil: null }), { minLength: 1, maxLength: 4 }),
      separators: fc.array(fc.constantFrom(', ' as const, ' : ' as const), { minLength: 3, maxLength: 3 }),
    });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function clfTime(second: number): string {
  const d = new Date(second * 1000);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function durationText(us: number | null, unit: string): string {
  if (us === null) return '-';
  if (unit === 's') return (us / 1e6).toFixed(6);
  if (unit === 'ms') return (us / 1e3).toFixed(3);
  if (unit === 'us') return String(us);
  return String(us * 1000);
}

/** The text a server would write for one field token. */
function render(t: FieldToken, s: Sample): string {
  switch (t.field) {
    case 'time':
      if (t.time!.kind === 'clf') return clfTime(s.second);
      if (t.time!.kind === 'iso8601') return new Date(s.second * 1000).toISOString().replace('.000Z', '+00:00');
      if (t.time!.kind === 'epoch') return `${s.second}.${pad(s.second % 1000, 3)}`;
      throw new Error('strftime not rendered here');
    case 'client':
      return s.client;
    case 'user':
      return s.user ?? '-';
    case 'request':
      return `${s.method} ${s.path} HTTP/1.1`;
    case 'method':
      return s.method;
    case 'uri':
      return s.path;
    case 'status':
      return String(s.status);
    case 'bytes':
      return String(s.bytes);
    case 'vhost':
      return s.vhost ?? '-';
    case 'duration':
      return durationText(s.durationUs, t.unit!);
    case 'upstream':
      if (!t.list) return durationText(s.upstreamUs[0]!, t.unit!);
      return s.upstreamUs.map((u, i) => (i === 0 ? '' : s.separators[i - 1]!) + durationText(u, t.unit!)).join('');
    case null:
      return /agent/i.test(t.source) ? 'Mozilla/5.0 (X11; Linux x86_64)' : '-';
  }
}

function write(format: TextFormat, s: Sample): string {
  return format.tokens.map((t) => ('literal' in t ? t.literal : render(t, s))).join('');
}

function expected(format: TextFormat, s: Sample): FormatEntry {
  const has = (f: string) => format.tokens.some((t) => 'field' in t && t.field === f);
  const upstream = has('upstream') ? s.upstreamUs.filter((u) => u !== null) : [];
  return {
    second: s.second,
    client: has('client') ? s.client : '-',
    user: has('user') ? s.user : null,
    method: s.method,
    section: sectionOf(s.path),
    status: s.status,
    bytes: has('bytes') ? s.bytes : 0,
    vhost: has('vhost') ? s.vhost : null,
    duration: has('duration') && s.durationUs !== null ? s.durationUs / 1000 : null,
    upstream: upstream.length === 0 ? null : upstream.reduce((a, b) => a + b, 0) / 1000,
  };
}

function roughly(got: FormatEntry | null, want: FormatEntry): void {
  expect(got).not.toBeNull();
  const { duration, upstream, ...rest } = got!;
  const { duration: d, upstream: u, ...wantRest } = want;
  expect(rest).toEqual(wantRest);
  for (const [g, w] of [[duration, d], [upstream, u]] as const) {
    if (w === null) expect(g).toBeNull();
    else expect(Math.abs(g! - w)).toBeLessThanOrEqual(Math.max(1e-9, w * 1e-12));
  }
}

describe('round trips: entries written in a format are read back', () => {
  const FORMATS: [string, string][] = [
    ['nginx main (\\x22 escapes)', MAIN],
    ['nginx $msec, method and URI apart', '$msec $remote_addr "$request_method $uri$is_args$args" $status $bytes_sent $request_time $host'],
    ['nginx $time_iso8601', '$time_iso8601 $remote_addr $remote_user "$request" $status $body_bytes_sent $request_time $upstream_response_time'],
    ['Apache with %D and %v (\\" escapes)', '%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %v'],
    ['Apache %{ms}T', '%v %h %t "%r" %>s %O %{ms}T'],
  ];
  test.each(FORMATS)('%s', (_name, value) => {
    const format = compileFormat(value) as TextFormat;
    const quote = format.escape === 'apache' ? '\\"' : '\\x22';
    fc.assert(
      fc.property(sample(quote), (s) => {
        const line = write(format, s);
        const parsed = parseEntry(line, format);
        expect(parsed.error).toBeUndefined();
        roughly(parsed.entry, expected(format, s));
      }),
      { numRuns: 300 },
    );
  });

  test('caddy: JSON objects with any strings', () => {
    const caddy = compileFormat('caddy');
    const text = fc.string({ unit: 'grapheme', maxLength: 12 });
    fc.assert(
      fc.property(sample('"'), text, (s, junk) => {
        const object = {
          level: 'info',
          ts: s.second + 0.25,
          request: { remote_ip: s.client, method: s.method, host: s.vhost ?? '', uri: s.path, headers: { 'User-Agent': [junk] } },
          user_id: s.user ?? '',
          duration: s.durationUs === null ? undefined : s.durationUs / 1e6,
          size: s.bytes,
          status: s.status,
        };
        const parsed = parseEntry(JSON.stringify(object), caddy);
        roughly(parsed.entry, { ...expected({ kind: 'text', name: '', escape: 'none', tokens: [] }, s), client: s.client, user: s.user, bytes: s.bytes, vhost: s.vhost, duration: s.durationUs === null ? null : s.durationUs / 1000, upstream: null });
      }),
      { numRuns: 300 },
    );
  });

  test('any line: parseEntry never throws, and a CLF format agrees with parseLine', () => {
    const formats: LogFormat[] = [compileFormat('combined'), compileFormat(MAIN), compileFormat('caddy'), compileFormat('aws-alb'), compileFormat('vcombined')];
    const piece = fc.constantFrom('"', ' ', '[', ']', '\\', '-', '0.1', ', ', ' : ', '200', '{', '}', 'GET /a HTTP/1.1', '05/Mar/2024:10:15:42 +0000', '\r', '\t', 'é');
    const line = fc.array(fc.oneof(piece, fc.string({ maxLength: 4 })), { maxLength: 30 }).map((p) => p.join(''));
    fc.assert(
      fc.property(line, (l) => {
        for (const f of formats) {
          const parsed = parseEntry(l, f);
          expect(parsed.entry === null).toBe(parsed.error !== undefined);
        }
        const clf = parseEntry(l, formats[0]!).entry;
        expect(clf === null).toBe(parseLine(l) === null);
      }),
      { numRuns: 500 },
    );
  });
});
