/**
 * nginx `log_format` strings (what nginx.conf says after the name, the string literals joined)
 * compiled to a text format, or to a JSON format when the string is a JSON object template.
 *
 * Variables are `$name` or `${name}`. The ones the monitor reads are in UNDERSTOOD; the other
 * variables nginx and its common modules know are skipped (SKIPPED, SKIPPED_LISTS,
 * SKIPPED_PREFIXES), as are
 * those a config defines itself (`map`, `set`, `geo`…; given by the config reader). Any other
 * variable is an error, at its column: a typo would otherwise silently read nothing.
 */
import { FormatError, type FieldToken, type JsonField, type JsonFormat, type LogFormat, type TextFormat } from './log-format';
import { skip, TokenBuilder } from './log-format-tokens';

/** The variables the monitor reads. */
const UNDERSTOOD: Record<string, Omit<FieldToken, 'source'>> = {
  remote_addr: { field: 'client' },
  remote_user: { field: 'user' },
  time_local: { field: 'time', time: { kind: 'clf' } },
  time_iso8601: { field: 'time', time: { kind: 'iso8601' } },
  msec: { field: 'time', time: { kind: 'epoch', unit: 's' } },
  request: { field: 'request' },
  request_method: { field: 'method' },
  request_uri: { field: 'uri' },
  uri: { field: 'uri' },
  document_uri: { field: 'uri' },
  status: { field: 'status' },
  body_bytes_sent: { field: 'bytes' },
  bytes_sent: { field: 'bytes' },
  host: { field: 'vhost' },
  server_name: { field: 'vhost' },
  http_host: { field: 'vhost' },
  request_time: { field: 'duration', unit: 's' },
  upstream_response_time: { field: 'upstream', unit: 's', list: true },
};

/** Variables of nginx's core, log, upstream, SSL, real IP and other common modules: skipped. */
const SKIPPED = new Set(
  (
    'args binary_remote_addr connection connection_requests connection_time content_length content_type document_root ' +
    'hostname https is_args limit_rate nginx_version pid pipe proxy_protocol_addr proxy_protocol_port ' +
    'proxy_protocol_server_addr proxy_protocol_server_port query_string realpath_root remote_port request_body ' +
    'request_body_file request_completion request_filename request_id request_length scheme server_addr server_port ' +
    'server_protocol tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd tcpinfo_rcv_space ' +
    'upstream_cache_status upstream_last_server_name ' +
    'realip_remote_addr realip_remote_port gzip_ratio proxy_add_x_forwarded_for proxy_host proxy_port ' +
    'limit_req_status limit_conn_status invalid_referer secure_link secure_link_expires uid_got uid_set uid_reset ' +
    'date_local date_gmt http2 http3 spdy spdy_request_priority msie modern_browser ancient_browser slice_range ' +
    'fastcgi_path_info fastcgi_script_name memcached_key auth_basic_user geoip_addr mirror'
  ).split(' '),
);
/**
 * The upstream module's variables nginx writes as lists, like `$upstream_response_time`: one
 * value per server tried, `, ` between them and ` : ` across an internal redirect
 * (`10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80`). Skipped, but ended by the list's shape: a retried
 * request's list has spaces in it, where a plain field would end.
 */
const SKIPPED_LISTS = new Set(
  (
    'upstream_addr upstream_bytes_received upstream_bytes_sent upstream_connect_time upstream_header_time ' +
    'upstream_queue_time upstream_response_length upstream_status'
  ).split(' '),
);
const SKIPPED_PREFIXES = [
  'http_',
  'sent_http_',
  'sent_trailer_',
  'cookie_',
  'arg_',
  'upstream_http_',
  'upstream_cookie_',
  'upstream_trailer_',
  'ssl_',
  'geoip_',
  'geoip2_',
  'proxy_protocol_tlv_',
  'jwt_',
  'otel_',
  'opentelemetry_',
];

const VARIABLE = /\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))/g;

/** Whether a `--log-format` value is an nginx string: it holds a `$variable`. */
export function isNginxFormat(value: string): boolean {
  return /\$(?:\{\w+\}|\w)/.test(value);
}

export interface NginxOptions {
  /** Where an index of the string is, for errors: ` at column 41`. */
  where: (index: number) => string;
  /** `escape=` of the directive (default: `default`). */
  escape: 'default' | 'json' | 'none';
  /** The format's name (the string, or the config's NAME). */
  name: string;
  /** Variables the config defines (`map`, `set`, `geo`…): skipped. */
  defined?: ReadonlySet<string>;
}

interface Variable {
  name: string;
  /** As written: `$foo`, `${foo}`. */
  written: string;
  index: number;
  token: FieldToken;
}

/** The field token of a variable, or a FormatError for one nginx (as configured) does not have. */
function variableToken(name: string, written: string, index: number, options: NginxOptions): FieldToken {
  if (name === '') throw new FormatError(`--log-format: "$" without a variable name${options.where(index)}`);
  const known = UNDERSTOOD[name];
  if (known) return { ...known, source: written };
  if (SKIPPED_LISTS.has(name)) return { field: null, source: written, list: true };
  if (SKIPPED.has(name) || SKIPPED_PREFIXES.some((p) => name.startsWith(p)) || options.defined?.has(name) || /^\d+$/.test(name)) {
    return skip(written);
  }
  throw new FormatError(`--log-format: unknown nginx variable ${written}${options.where(index)}`);
}

function variables(text: string, options: NginxOptions): Variable[] {
  const found: Variable[] = [];
  for (const m of text.matchAll(VARIABLE)) {
    const name = m[1] ?? m[2] ?? '';
    found.push({ name, written: m[0], index: m.index, token: variableToken(name, m[0], m.index, options) });
  }
  return found;
}

const TIME_HINT = '$time_local, $time_iso8601 or $msec';
const STATUS_HINT = '$status';

/** Compiles an nginx `log_format` string; throws FormatError. */
export function compileNginx(text: string, options: NginxOptions): LogFormat {
  const vars = variables(text, options);
  const json = jsonTemplate(text, vars, options);
  if (json) return json;
  const builder = new TokenBuilder();
  let at = 0;
  for (const v of vars) {
    builder.literal(text.slice(at, v.index));
    builder.field(v.token, v.index);
    at = v.index + v.written.length;
  }
  builder.literal(text.slice(at));
  const tokens = builder.finish(options.where, { time: TIME_HINT, status: STATUS_HINT });
  const format: TextFormat = { kind: 'text', name: options.name, tokens, escape: options.escape };
  return format;
}

const MARK = /^\uE000(\d+)\uE001$/;

/**
 * A template that is a JSON object once its variables are values: each key whose value is
 * exactly one variable (`"status":$status`, `"rt":"$request_time"`) gives that field its path.
 * Null when the text is not such an object.
 */
function jsonTemplate(text: string, vars: Variable[], options: NginxOptions): JsonFormat | null {
  if (!text.trimStart().startsWith('{')) return null;
  // Each variable becomes a marker: inside a JSON string as it is, outside it as a string.
  let out = '';
  let at = 0;
  let inString = false;
  const flip = (upTo: number) => {
    for (let i = at; i < upTo; i++) {
      const c = text[i];
      if (c === '\\' && inString) i++;
      else if (c === '"') inString = !inString;
    }
  };
  vars.forEach((v, n) => {
    flip(v.index);
    const mark = `\uE000${n}\uE001`;
    out += text.slice(at, v.index) + (inString ? mark : `"${mark}"`);
    at = v.index + v.written.length;
  });
  out += text.slice(at);
  let object: unknown;
  try {
    object = JSON.parse(out);
  } catch {
    return null;
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return null;

  const fields: JsonFormat['fields'] = {};
  const placed: { v: Variable; path: string[] }[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (typeof value === 'string') {
      const m = MARK.exec(value);
      if (m) placed.push({ v: vars[Number(m[1])]!, path });
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key]);
    }
  };
  walk(object, []);
  for (const { v, path } of placed) {
    const { field, time, unit, list } = v.token;
    if (field === null || fields[field]) continue;
    const entry: JsonField = { paths: [path] };
    if (time) entry.time = time;
    if (unit) entry.unit = unit;
    if (list) entry.list = list;
    fields[field] = entry;
  }
  if (!fields.time) throw new FormatError(`--log-format: the JSON template has no key whose value is the time (${TIME_HINT})`);
  if (!fields.status) throw new FormatError(`--log-format: the JSON template has no key whose value is the status (${STATUS_HINT})`);
  return { kind: 'json', name: options.name, fields };
}
