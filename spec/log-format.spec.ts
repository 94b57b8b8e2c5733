import { describe, expect, test } from 'bun:test';
import { compileFormat, FORMAT_NAMES, FormatError, type FieldToken, type LogFormat, type TextFormat, type Token } from '../lib/log-format';

/** The fields of a text format, as `source → field` (literals left out). */
function fields(format: LogFormat): string[] {
  if (format.kind !== 'text') throw new Error(`expected a text format, got ${format.kind}`);
  return format.tokens.filter((t): t is FieldToken => !('literal' in t)).map((t) => `${t.source} → ${t.field ?? '-'}`);
}

function literals(format: LogFormat): string[] {
  return (format as TextFormat).tokens.filter((t): t is { literal: string } => 'literal' in t).map((t) => t.literal);
}

/** The message of the FormatError that compiling `value` throws. */
function errorOf(value: string): string {
  try {
    compileFormat(value);
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return (e as Error).message;
  }
  throw new Error(`${value} compiled`);
}

const NGINX_COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

describe('names', () => {
  test('every name compiles, and common and combined are the built-in CLF scanner', () => {
    expect(FORMAT_NAMES).toEqual(['common', 'combined', 'vcombined', 'caddy', 'traefik', 'aws-alb']);
    expect(compileFormat('common')).toEqual({ kind: 'clf', name: 'common' });
    expect(compileFormat('combined')).toEqual({ kind: 'clf', name: 'combined' });
    expect(compileFormat('vcombined').kind).toBe('text');
    expect(compileFormat('caddy').kind).toBe('json');
    expect(compileFormat('traefik').kind).toBe('json');
    expect(compileFormat('aws-alb').kind).toBe('text');
  });

  test('vcombined is the Apache string it names', () => {
    const named = compileFormat('vcombined') as TextFormat;
    const written = compileFormat('%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"') as TextFormat;
    expect(named.tokens).toEqual(written.tokens);
    expect(named.name).toBe('vcombined');
    expect(fields(named)).toEqual([
      '%v → vhost', '%p → -', '%h → client', '%l → -', '%u → user', '%t → time', '%r → request', '%>s → status', '%O → bytes',
      '%{Referer}i → -', '%{User-Agent}i → -',
    ]);
  });

  test('aws-alb: the three processing times are the duration, the target\'s also the upstream', () => {
    const alb = compileFormat('aws-alb') as TextFormat;
    const parts = alb.tokens.filter((t): t is FieldToken => !('literal' in t) && t.durationPart === true);
    expect(parts.map((t) => `${t.source} → ${t.field}`)).toEqual([
      'request_processing_time → duration',
      'target_processing_time → upstream',
      'response_processing_time → duration',
    ]);
    expect(alb.escape).toBe('none');
  });

  test('caddy and traefik read the paths their docs describe', () => {
    const caddy = compileFormat('caddy');
    const traefik = compileFormat('traefik');
    if (caddy.kind !== 'json' || traefik.kind !== 'json') throw new Error('not JSON');
    expect(caddy.fields.client!.paths).toEqual([['request', 'client_ip'], ['request', 'remote_ip'], ['request', 'remote_addr']]);
    expect(caddy.fields.duration).toEqual({ paths: [['duration']], unit: 's', goDuration: true });
    expect(caddy.fields.upstream).toBeUndefined();
    expect(traefik.fields.duration).toEqual({ paths: [['Duration']], unit: 'ns' });
    expect(traefik.fields.upstream).toEqual({ paths: [['OriginDuration']], unit: 'ns' });
    expect(traefik.fields.time).toEqual({ paths: [['StartUTC']], time: { kind: 'iso8601' } });
  });

  test('a compiled name is a copy: changing it changes no later one', () => {
    const a = compileFormat('caddy');
    if (a.kind === 'json') a.fields.status = undefined;
    const b = compileFormat('caddy');
    expect(b.kind === 'json' && b.fields.status !== undefined).toBe(true);
  });
});

describe('nginx log_format strings', () => {
  test("nginx's predefined combined: its fields and literals", () => {
    const f = compileFormat(NGINX_COMBINED);
    expect(fields(f)).toEqual([
      '$remote_addr → client', '$remote_user → user', '$time_local → time', '$request → request', '$status → status',
      '$body_bytes_sent → bytes', '$http_referer → -', '$http_user_agent → -',
    ]);
    expect(literals(f)).toEqual([' - ', ' [', '] "', '" ', ' ', ' "', '" "', '"']);
    expect((f as TextFormat).escape).toBe('default');
    expect((f as TextFormat).name).toBe(NGINX_COMBINED);
  });

  test('a custom main with $request_time $upstream_response_time $host', () => {
    const f = compileFormat(`${NGINX_COMBINED} $request_time $upstream_response_time $host`) as TextFormat;
    const tail = f.tokens.slice(-5);
    expect(tail).toEqual([
      { field: 'duration', unit: 's', source: '$request_time' },
      { literal: ' ' },
      { field: 'upstream', unit: 's', list: true, source: '$upstream_response_time' },
      { literal: ' ' },
      { field: 'vhost', source: '$host' },
    ]);
  });

  test('every variable the monitor reads, and the time kinds', () => {
    const f = compileFormat(
      '$remote_addr $remote_user $msec $request_method $request_uri $status $bytes_sent $server_name $request_time $upstream_response_time',
    );
    expect(fields(f)).toEqual([
      '$remote_addr → client', '$remote_user → user', '$msec → time', '$request_method → method', '$request_uri → uri',
      '$status → status', '$bytes_sent → bytes', '$server_name → vhost', '$request_time → duration', '$upstream_response_time → upstream',
    ]);
    const iso = compileFormat('$time_iso8601 $status') as TextFormat;
    expect((iso.tokens[0] as FieldToken).time).toEqual({ kind: 'iso8601' });
    const msec = compileFormat('$msec $status') as TextFormat;
    expect((msec.tokens[0] as FieldToken).time).toEqual({ kind: 'epoch', unit: 's' });
  });

  test('skipped variables: prefixes, upstream times other than the response time, ${var} braces', () => {
    const f = compileFormat(
      '${remote_addr} [$time_local] $status $http_x_forwarded_for $sent_http_content_type $cookie_session $arg_q $upstream_http_server ' +
        '$upstream_connect_time $upstream_header_time $ssl_protocol $request_id $scheme',
    );
    expect(fields(f)).toEqual([
      '${remote_addr} → client', '$time_local → time', '$status → status', '$http_x_forwarded_for → -', '$sent_http_content_type → -',
      '$cookie_session → -', '$arg_q → -', '$upstream_http_server → -', '$upstream_connect_time → -', '$upstream_header_time → -',
      '$ssl_protocol → -', '$request_id → -', '$scheme → -',
    ]);
  });

  test('a second variable for a field already read is skipped: the first wins', () => {
    const f = compileFormat('$host $server_name [$time_local] $status $http_host');
    expect(fields(f)).toEqual(['$host → vhost', '$server_name → -', '$time_local → time', '$status → status', '$http_host → -']);
  });

  test('fields with no text between them: one token when at most one is read ($uri$is_args$args)', () => {
    const f = compileFormat('[$time_local] $status "$request_method $uri$is_args$args"') as TextFormat;
    expect(fields(f)).toEqual(['$time_local → time', '$status → status', '$request_method → method', '$uri$is_args$args → uri']);
    const skipped = compileFormat('[$time_local] $status $scheme$is_args');
    expect(fields(skipped)).toEqual(['$time_local → time', '$status → status', '$scheme$is_args → -']);
  });

  test('a JSON object template is a JSON format: each key whose value is one variable, nested keys too', () => {
    const f = compileFormat(
      '{"t":"$time_iso8601","client":{"ip":"$remote_addr","port":"$remote_port"},"req":"$request","s":$status,"b":$body_bytes_sent,' +
        '"rt":$request_time,"urt":"$upstream_response_time","vh":"$host","note":"$remote_user at $msec"}',
    );
    expect(f).toEqual({
      kind: 'json',
      name: expect.any(String) as unknown as string,
      fields: {
        time: { paths: [['t']], time: { kind: 'iso8601' } },
        client: { paths: [['client', 'ip']] },
        request: { paths: [['req']] },
        status: { paths: [['s']] },
        bytes: { paths: [['b']] },
        duration: { paths: [['rt']], unit: 's' },
        upstream: { paths: [['urt']], unit: 's', list: true },
        vhost: { paths: [['vh']] },
      },
    });
  });

  test('a template that is not a JSON object stays a text format', () => {
    expect(compileFormat('{$time_iso8601} $status').kind).toBe('text');
    expect(compileFormat('[$time_local] $status {"a":1').kind).toBe('text');
  });
});

describe('Apache LogFormat strings', () => {
  test('the common format pasted from a config: \\" is a quote, %t brings its brackets', () => {
    const f = compileFormat('%h %l %u %t \\"%r\\" %>s %b') as TextFormat;
    expect(fields(f)).toEqual(['%h → client', '%l → -', '%u → user', '%t → time', '%r → request', '%>s → status', '%b → bytes']);
    expect(literals(f)).toEqual([' ', ' ', ' [', '] "', '" ', ' ']);
    expect(f.escape).toBe('apache');
    expect((f.tokens[6] as FieldToken).time).toEqual({ kind: 'clf' });
  });

  test('durations: %D µs, %T s, %{ms}T, %{us}T, %{s}T', () => {
    const units = (['%D', '%T', '%{ms}T', '%{us}T', '%{s}T'] as const).map((d) => {
      const f = compileFormat(`%t %s ${d}`) as TextFormat;
      const t = f.tokens.at(-1) as FieldToken;
      return `${t.source} ${t.field} ${t.unit}`;
    });
    expect(units).toEqual(['%D duration us', '%T duration s', '%{ms}T duration ms', '%{us}T duration us', '%{s}T duration s']);
  });

  test('times: strftime patterns, sec/msec/usec, begin: and end:, msec_frac and a zone alone skipped', () => {
    const time = (d: string) => ((compileFormat(`${d} %>s`) as TextFormat).tokens.find((t) => 'field' in t) as FieldToken);
    expect(time('%{%d/%b/%Y:%H:%M:%S %z}t').time).toEqual({ kind: 'strftime', pattern: '%d/%b/%Y:%H:%M:%S %z' });
    expect(time('%{begin:%F %T}t').time).toEqual({ kind: 'strftime', pattern: '%F %T' });
    expect(time('%{end:sec}t').time).toEqual({ kind: 'epoch', unit: 's' });
    expect(time('%{msec}t').time).toEqual({ kind: 'epoch', unit: 'ms' });
    expect(time('%{usec}t').time).toEqual({ kind: 'epoch', unit: 'us' });
    const docs = compileFormat('[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] %>s');
    expect(fields(docs)).toEqual(['%{%d/%b/%Y %T}t → time', '%{msec_frac}t → -', '%{%z}t → -', '%>s → status']);
  });

  test('every directive the monitor reads, and the ones it skips', () => {
    const f = compileFormat('%a %{c}a %A %l %u %t %m %U %q %H %s %B %O %I %S %T %V %v %p %{remote}p %P %f %R %X %k %L %{Host}i %{X}o %{X}e %{X}n %{X}C %{X}^ti %%');
    expect(fields(f)).toEqual([
      '%a → client', '%{c}a → -', '%A → -', '%l → -', '%u → user', '%t → time', '%m → method', '%U → uri', '%q → -', '%H → -',
      '%s → status', '%B → bytes', '%O → -', '%I → -', '%S → -', '%T → duration', '%V → vhost', '%v → -', '%p → -', '%{remote}p → -',
      '%P → -', '%f → -', '%R → -', '%X → -', '%k → -', '%L → -', '%{Host}i → -', '%{X}o → -', '%{X}e → -', '%{X}n → -',
      '%{X}C → -', '%{X}^ti → -',
    ]);
    expect(literals(f).at(-1)).toBe(' %');
  });

  test("mod_ssl's %{…}x and %{…}c: Debian's ssl_request_log", () => {
    const f = compileFormat('%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x \\"%r\\" %b %>s %{errcode}c');
    expect(fields(f)).toEqual(['%t → time', '%h → client', '%{SSL_PROTOCOL}x → -', '%{SSL_CIPHER}x → -', '%r → request', '%b → bytes', '%>s → status', '%{errcode}c → -']);
  });

  test('modifiers are accepted: status conditions, ! and < >', () => {
    const f = compileFormat('%h %t %>s %400,501{User-agent}i %!200,304{Referer}i %<s %{Host}i');
    expect(fields(f)).toEqual(['%h → client', '%t → time', '%>s → status', '%400,501{User-agent}i → -', '%!200,304{Referer}i → -', '%<s → -', '%{Host}i → vhost']);
  });

  test('%U%q is one token, the path and its query', () => {
    const f = compileFormat('%t %>s "%m %U%q %H"');
    expect(fields(f)).toEqual(['%t → time', '%>s → status', '%m → method', '%U%q → uri', '%H → -']);
  });

  test('\\n and \\t are mod_log_config\'s newline and tab', () => {
    expect(literals(compileFormat('%t\\t%>s'))).toEqual(['[', ']\t']);
  });
});

describe('errors: one line, with the column in VALUE', () => {
  test('an unknown nginx variable', () => {
    const value = '$remote_addr - $remote_user $time_local $foo $status';
    expect(value.indexOf('$foo') + 1).toBe(41);
    expect(errorOf(value)).toBe('--log-format: unknown nginx variable $foo at column 41');
    expect(errorOf('[$time_local] ${request_tim} $status')).toBe('--log-format: unknown nginx variable ${request_tim} at column 15');
    expect(errorOf('[$time_local] $status $')).toBe('--log-format: "$" without a variable name at column 23');
  });

  test('an unknown Apache directive', () => {
    expect(errorOf('%h %l %Z %t %>s')).toBe('--log-format: unknown Apache directive %Z at column 7');
    expect(errorOf('%h %t %>s %{X}Z')).toBe('--log-format: unknown Apache directive %{X}Z at column 11');
    // Columns count the characters of VALUE as given, escapes included.
    expect(errorOf('%h \\"%r\\" %Q %t %>s')).toBe('--log-format: unknown Apache directive %Q at column 11');
    expect(errorOf('%t %>s %')).toBe('--log-format: unfinished Apache directive % at column 8');
    expect(errorOf('%t %>s %{Referer')).toBe('--log-format: "{" without its "}" at column 9');
    expect(errorOf('%t %>s %i')).toBe('--log-format: %i needs a name in braces (%{Name}i) at column 8');
    expect(errorOf('%t %>s %{min}T')).toBe('--log-format: %{min}T: the unit is ms, us or s at column 8');
  });

  test('a strftime directive the monitor cannot read', () => {
    expect(errorOf('%h %{%a, %d %b %Y %T}t %>s')).toBe(
      '--log-format: unsupported time directive %a in %{%a, %d %b %Y %T}t at column 4 (these are read: %d %e %b %h %m %Y %y %H %M %S %T %R %F %D %z %s %%)',
    );
    expect(errorOf('%{%d/%b/%Y %Z}t %>s')).toContain('unsupported time directive %Z in %{%d/%b/%Y %Z}t at column 1');
  });

  test('two fields the monitor reads with nothing between them', () => {
    expect(errorOf('[$time_local] $status $host$request_uri')).toBe(
      '--log-format: $host and $request_uri have no text between them at column 28 (a field ends where the text after it starts)',
    );
    expect(errorOf('%t %>s%b')).toBe('--log-format: %>s and %b have no text between them at column 7 (a field ends where the text after it starts)');
  });

  test('a format without a time or a status', () => {
    expect(errorOf('$remote_addr $status')).toBe('--log-format: the format has no time ($time_local, $time_iso8601 or $msec)');
    expect(errorOf('$remote_addr [$time_local]')).toBe('--log-format: the format has no status ($status)');
    expect(errorOf('%h %>s')).toBe('--log-format: the format has no time (%t or %{…}t)');
    expect(errorOf('%h %t')).toBe('--log-format: the format has no status (%>s or %s)');
    expect(errorOf('{"t":"$time_iso8601","a":"$remote_addr"}')).toBe(
      '--log-format: the JSON template has no key whose value is the status ($status)',
    );
  });

  test('a value that is no format says what a format is', () => {
    expect(errorOf('nginx')).toBe(
      '--log-format: "nginx" is no format: give a name (common, combined, vcombined, caddy, traefik, aws-alb), an nginx log_format ($variables), an Apache LogFormat (% directives) or @FILE:NAME',
    );
  });

  test('every error is a single line', () => {
    for (const value of ['$foo\n$bar', '%Z\n', 'x\ny', '%t %>s %{a\nb}Z']) expect(errorOf(value)).not.toContain('\n');
    expect(errorOf('%t %>s %{a\nb}Z')).toBe('--log-format: unknown Apache directive %{a\\x0ab}Z at column 8');
  });
});

describe('token lists follow the rules the scanners rely on', () => {
  const VALUES = [
    NGINX_COMBINED,
    `${NGINX_COMBINED} $request_time $upstream_response_time $host`,
    '%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %v',
    '%t %>s "%m %U%q %H" %{ms}T',
    'vcombined',
    'aws-alb',
  ];
  test.each(VALUES)('%s: literals and fields alternate, literals are never empty, one time and one status', (value) => {
    const f = compileFormat(value) as TextFormat;
    const tokens: Token[] = f.tokens;
    tokens.forEach((t, i) => {
      if ('literal' in t) {
        expect(t.literal.length).toBeGreaterThan(0);
        if (i > 0) expect('literal' in tokens[i - 1]!).toBe(false);
      } else if (i > 0) expect('literal' in tokens[i - 1]!).toBe(true);
    });
    const read = tokens.filter((t): t is FieldToken => 'field' in t && t.field !== null && !t.durationPart).map((t) => t.field);
    expect(new Set(read).size).toBe(read.length);
    expect(read).toContain('time');
    expect(read).toContain('status');
  });
});
