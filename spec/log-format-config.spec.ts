import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFormat, FormatError, parseEntry, type LogFormat, type TextFormat } from '../lib/log-format';

const DIR = join(import.meta.dir, 'fixtures', 'formats');
const NGINX = join(DIR, 'nginx.conf');
const APACHE = join(DIR, 'apache2.conf');
const lines = (file: string) => readFileSync(join(DIR, file), 'utf8').split('\n').filter((l) => l !== '');

const scratch = mkdtempSync(join(tmpdir(), 'log-format-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

function errorOf(value: string, cwd?: string): string {
  try {
    compileFormat(value, { cwd });
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return (e as Error).message;
  }
  throw new Error(`${value} compiled`);
}

/** A format without its name, to compare two ways of writing it. */
function body(format: LogFormat): unknown {
  const { name: _, ...rest } = format as LogFormat & { name: string };
  return rest;
}

describe('@FILE:NAME from an nginx config', () => {
  test('a log_format over three lines, with a comment between its strings, is the joined string', () => {
    const fromFile = compileFormat(`@${NGINX}:main`);
    const joined = compileFormat(
      '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host',
    );
    expect(body(fromFile)).toEqual(body(joined));
    expect((fromFile as { name: string }).name).toBe('main');
  });

  test('its lines read as the log nginx writes with it', () => {
    const format = compileFormat(`@${NGINX}:main`);
    const entries = lines('nginx-main.log').map((l) => parseEntry(l, format).entry);
    expect(entries.map((e) => [e?.vhost, e?.duration, e?.upstream])).toEqual([
      ['www.example.com', 0, null],
      ['api.example.com', 45, 44],
      ['api.example.com', 3012, 3004],
      ['api.example.com', 130, 60],
      ['www.example.com', 2, 2],
      // Lines nginx 1.22.1 wrote with it: no upstream, \x22 and \xC3\xA9 escapes, a proxied request.
      ['127.0.0.1', 0, null],
      ['127.0.0.1', 0, null],
      ['api.example.com', 0, 0],
    ]);
    const real = lines('nginx-main.log').slice(5).map((l) => parseEntry(l, format).entry);
    expect(real[1]).toMatchObject({ user: 'bob', section: '/search', status: 200, bytes: 3 });
    expect(real[2]).toMatchObject({ section: '/up', status: 201 });
  });

  test('lines nginx 1.22.1 wrote with the escape=json template: empty values, \" and UTF-8 decoded', () => {
    const format = compileFormat(`@${NGINX}:json_combined`);
    const real = lines('nginx-json.log').slice(3).map((l) => parseEntry(l, format));
    expect(real.map((p) => p.error)).toEqual([undefined, undefined, undefined]);
    expect(real[0]!.entry).toMatchObject({ user: null, upstream: null, duration: 0, vhost: '127.0.0.1' });
    expect(real[1]!.entry).toMatchObject({ user: 'bob', section: '/search' });
    expect(real[2]!.entry).toMatchObject({ vhost: 'api.example.com', status: 201, upstream: 0 });
  });

  test('escape=json and a template that is a JSON object: a JSON format', () => {
    const format = compileFormat(`@${NGINX}:json_combined`);
    expect(format).toEqual({
      kind: 'json',
      name: 'json_combined',
      fields: {
        time: { paths: [['time']], time: { kind: 'iso8601' } },
        client: { paths: [['remote_addr']] },
        user: { paths: [['remote_user']] },
        request: { paths: [['request']] },
        status: { paths: [['status']] },
        bytes: { paths: [['body_bytes_sent']] },
        duration: { paths: [['request_time']], unit: 's' },
        upstream: { paths: [['upstream_response_time']], unit: 's', list: true },
        vhost: { paths: [['host']] },
      },
    });
    const entries = lines('nginx-json.log').map((l) => parseEntry(l, format).entry);
    expect(entries[0]).toEqual({
      second: Date.UTC(2024, 2, 5, 10, 15, 42) / 1000,
      client: '203.0.113.5',
      user: null,
      method: 'GET',
      section: '/index.html',
      status: 200,
      bytes: 612,
      vhost: 'www.example.com',
      duration: 0,
      upstream: null,
    });
    expect(entries[2]!.section).toBe('/search');
    expect(entries[2]!.upstream).toBeCloseTo(60, 9);
  });

  test('escape=json on a template that is not an object: a text format with JSON escapes', () => {
    const conf = write('escape.conf', `log_format j escape=json '$remote_addr [$time_local] "$request" $status';`);
    const format = compileFormat(`@${conf}:j`);
    expect(format.kind === 'text' && format.escape).toBe('json');
    const entry = parseEntry('::1 [05/Mar/2024:10:15:42 +0000] "GET /a\\"b HTTP/1.1" 200', format).entry;
    expect(entry?.section).toBe('/a\\"b');
  });

  test('double-quoted strings with \\" in them, and a variable the config defines with map', () => {
    const format = compileFormat(`@${NGINX}:upstream_time`);
    const line = '10.0.0.1 [05/Mar/2024:10:15:42 +0000] "GET / HTTP/1.1" 200 512 rt=0.004 uct="0.001" uht="0.003" urt="0.003" log=1';
    const parsed = parseEntry(line, format);
    expect(parsed.error).toBeUndefined();
    expect(parsed.entry?.duration).toBe(4);
    expect(parsed.entry?.upstream).toBe(3);
    expect(parsed.fields.at(-1)).toEqual({ token: '$loggable', field: null, raw: '1' });
  });

  test("an unknown variable is reported at the file's line and column", () => {
    const message = errorOf(`@${NGINX}:typo`);
    expect(message).toBe(`--log-format: unknown nginx variable $request_tim at ${NGINX}:38:85`);
    const line = readFileSync(NGINX, 'utf8').split('\n')[37]!;
    expect(line.slice(84, 84 + '$request_tim'.length)).toBe('$request_tim');
  });

  test('a name the file does not have: the names it has, and that includes are not followed', () => {
    expect(errorOf(`@${NGINX}:mian`)).toBe(
      `--log-format: no format named "mian" in ${NGINX} (it has: main, json_combined, upstream_time, typo; includes are not followed)`,
    );
  });

  test("combined is nginx's predefined format when the config does not define it", () => {
    expect(compileFormat(`@${NGINX}:combined`)).toEqual({ kind: 'clf', name: 'combined' });
  });

  test('escape= other than default, json or none is an error at its place', () => {
    const conf = write('bad-escape.conf', "http {\n  log_format x escape=html '[$time_local] $status';\n}\n");
    expect(errorOf(`@${conf}:x`)).toBe(`--log-format: escape=html is not default, json or none at ${conf}:2:16`);
  });

  test('a relative FILE is taken from cwd', () => {
    const conf = write('relative.conf', "log_format short '[$time_local] $status';\n");
    const format = compileFormat('@relative.conf:short', { cwd: scratch });
    expect(format.kind === 'text' && format.name).toBe('short');
    expect(errorOf('@relative.conf:short', DIR)).toBe('--log-format: cannot read relative.conf: no such file');
    expect(conf).toContain(scratch);
  });
});

describe('@FILE:NAME from an Apache config', () => {
  test("Debian's vhost_combined is vcombined; combined and common as Apache writes them", () => {
    expect(body(compileFormat(`@${APACHE}:vhost_combined`))).toEqual(body(compileFormat('vcombined')));
    const combined = compileFormat(`@${APACHE}:combined`);
    expect(combined.kind).toBe('text');
    expect(body(combined)).toEqual(body(compileFormat('%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"')));
  });

  test("%{%d/%b/%Y:%H:%M:%S}t in a config's LogFormat keeps its strftime pattern as written (%d is no printf number)", () => {
    const format = compileFormat(`@${APACHE}:timed`) as TextFormat;
    const times = format.tokens.filter((t) => 'field' in t && t.field === 'time');
    expect(times).toEqual([{ field: 'time', source: '%{%d/%b/%Y:%H:%M:%S}t', time: { kind: 'strftime', pattern: '%d/%b/%Y:%H:%M:%S' } }]);
  });

  test('a LogFormat continued over two lines with a backslash, its lines as Apache writes them', () => {
    const format = compileFormat(`@${APACHE}:timed`);
    const [first, second] = lines('apache-timed.log').map((l) => parseEntry(l, format));
    // %{%d/%b/%Y:%H:%M:%S}t has no zone: local time, as Apache writes it.
    expect(first!.entry).toEqual({
      second: new Date(2024, 2, 5, 10, 15, 42).getTime() / 1000,
      client: '198.51.100.7',
      user: null,
      method: 'GET',
      section: '/index.html',
      status: 200,
      bytes: 3380,
      vhost: 'www.example.com',
      duration: 1.234,
      upstream: null,
    });
    expect(second!.entry).toMatchObject({ user: 'jane', status: 500, bytes: 0, duration: 2500, section: '/cgi-bin' });
  });

  test('lines Apache 2.4 wrote with it: \\" in the request and referer, %D, %{Host}i', () => {
    const format = compileFormat(`@${APACHE}:timed`);
    const real = lines('apache-timed.log').slice(2).map((l) => parseEntry(l, format));
    expect(real.map((p) => p.error)).toEqual([undefined, undefined, undefined]);
    expect(real.map((p) => [p.entry!.method, p.entry!.section, p.entry!.status, p.entry!.duration, p.entry!.vhost])).toEqual([
      ['GET', '/index.html', 200, 0.473, '127.0.0.1:18434'],
      ['GET', '/missing', 404, 0.352, '127.0.0.1:18434'],
      ['POST', '/index.html', 200, 0.225, 'blog.example.org'],
    ]);
  });

  test('a LogFormat without time or status is said so', () => {
    expect(errorOf(`@${APACHE}:referer`)).toBe('--log-format: the format has no time (%t or %{…}t)');
  });

  test('an unknown directive is reported at the line and column of the file', () => {
    const conf = write('bad.conf', 'ServerRoot "/etc/apache2"\nLogFormat "%h %t \\"%r\\" %>s %J" broken\n');
    expect(errorOf(`@${conf}:broken`)).toBe(`--log-format: unknown Apache directive %J at ${conf}:2:29`);
  });

  test('the last LogFormat of a name wins, as in Apache; a LogFormat without a name is none', () => {
    const conf = write('twice.conf', 'LogFormat "%h %t %>s" x\nLogFormat "%h %t %>s %D" x\nLogFormat "%h %t %s"\n');
    const format = compileFormat(`@${conf}:x`);
    expect(format.kind === 'text' && format.tokens.at(-1)).toEqual({ field: 'duration', unit: 'us', source: '%D' });
    expect(errorOf(`@${conf}:y`)).toBe(`--log-format: no format named "y" in ${conf} (it has: x; includes are not followed)`);
  });
});

describe('@FILE:NAME errors', () => {
  test('a file that cannot be read', () => {
    expect(errorOf('@/nonexistent/nginx.conf:main')).toBe('--log-format: cannot read /nonexistent/nginx.conf: no such file');
    expect(errorOf(`@${scratch}:main`)).toBe(`--log-format: cannot read ${scratch}: it is a directory`);
    if (process.getuid?.() !== 0) {
      const locked = write('locked.conf', "log_format x '[$time_local] $status';");
      chmodSync(locked, 0);
      expect(errorOf(`@${locked}:x`)).toBe(`--log-format: cannot read ${locked}: permission denied`);
    }
  });

  test('a file with no format at all', () => {
    const conf = write('empty.conf', 'worker_processes 1;\n# log_format main "$status";\n');
    expect(errorOf(`@${conf}:main`)).toBe(
      `--log-format: ${conf} has no log_format (nginx) or LogFormat (Apache) directive; includes are not followed`,
    );
  });

  test('@FILE without a name', () => {
    expect(errorOf(`@${NGINX}`)).toBe(
      `--log-format: "@${NGINX}": give @FILE:NAME, the config file and the format's name in it (@/etc/nginx/nginx.conf:main)`,
    );
    expect(errorOf('@x.conf:')).toContain('give @FILE:NAME');
  });
});
