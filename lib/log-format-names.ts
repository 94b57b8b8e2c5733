/**
 * The formats known by name: what `--log-format NAME` means and what detection chooses among.
 *
 * - `common`, `combined`: the built-in CLF scanner.
 * - `vcombined`: Apache's `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`
 *   (Debian's and the Apache docs' combined with the virtual host in front).
 * - `caddy`: Caddy 2's JSON access log. `ts` is seconds since the epoch (a float), the client is
 *   `request.client_ip` (2.7+), else `request.remote_ip` (2.5+), else `request.remote_addr`
 *   (older, `ip:port`); `duration` is a number of seconds (2.6's default), or a Go duration
 *   string (`"1.5ms"`, newer Caddy's `duration_format string`). A `status` of 0 (no handler
 *   wrote one: Caddy 2.6 logs it for a request no route answered) is the empty 200 the client
 *   got. Caddy has no upstream time.
 * - `traefik`: Traefik's JSON access log; `Duration` and `OriginDuration` (the upstream's) are
 *   nanoseconds; the client is `ClientHost`, else `ClientAddr` without its port.
 * - `aws-alb`: an AWS Application Load Balancer's access log entry (space separated, quoted
 *   request); the duration is the sum of `request_processing_time`, `target_processing_time`
 *   and `response_processing_time` (none when one is -1), the upstream is the target's time,
 *   the virtual host is `domain_name` (the TLS SNI, `-` on plain HTTP). The fields after
 *   `domain_name` (AWS adds some now and then) are skipped, whatever their number.
 */
import type { FieldToken, JsonFormat, LogFormat, TextFormat, Token } from './log-format';
import { compileApache } from './log-format-apache';

export const FORMAT_NAMES = ['common', 'combined', 'vcombined', 'caddy', 'traefik', 'aws-alb'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

export const VCOMBINED = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"';

const CADDY: JsonFormat = {
  kind: 'json',
  name: 'caddy',
  fields: {
    time: { paths: [['ts']], time: { kind: 'epoch', unit: 's' } },
    client: { paths: [['request', 'client_ip'], ['request', 'remote_ip'], ['request', 'remote_addr']], hostPort: true },
    user: { paths: [['user_id']] },
    method: { paths: [['request', 'method']] },
    uri: { paths: [['request', 'uri']] },
    vhost: { paths: [['request', 'host']] },
    status: { paths: [['status']], zero: 200 },
    bytes: { paths: [['size']] },
    duration: { paths: [['duration']], unit: 's', goDuration: true },
  },
};

const TRAEFIK: JsonFormat = {
  kind: 'json',
  name: 'traefik',
  fields: {
    time: { paths: [['StartUTC']], time: { kind: 'iso8601' } },
    client: { paths: [['ClientHost'], ['ClientAddr']], hostPort: true },
    user: { paths: [['ClientUsername']] },
    method: { paths: [['RequestMethod']] },
    uri: { paths: [['RequestPath']] },
    vhost: { paths: [['RequestHost']] },
    status: { paths: [['DownstreamStatus']] },
    bytes: { paths: [['DownstreamContentSize']] },
    duration: { paths: [['Duration']], unit: 'ns' },
    upstream: { paths: [['OriginDuration']], unit: 'ns' },
  },
};

/** ALB's fields up to `domain_name`, in order: `"…"` quoted, `field` what it is read as. */
const ALB_FIELDS: [name: string, token: Omit<FieldToken, 'source'>, quoted?: boolean][] = [
  ['type', { field: null }],
  ['time', { field: 'time', time: { kind: 'iso8601' } }],
  ['elb', { field: null }],
  ['client:port', { field: 'client', hostPort: true }],
  ['target:port', { field: null }],
  ['request_processing_time', { field: 'duration', unit: 's', durationPart: true }],
  ['target_processing_time', { field: 'upstream', unit: 's', durationPart: true }],
  ['response_processing_time', { field: 'duration', unit: 's', durationPart: true }],
  ['elb_status_code', { field: 'status' }],
  ['target_status_code', { field: null }],
  ['received_bytes', { field: null }],
  ['sent_bytes', { field: 'bytes' }],
  ['request', { field: 'request' }, true],
  ['user_agent', { field: null }, true],
  ['ssl_cipher', { field: null }],
  ['ssl_protocol', { field: null }],
  ['target_group_arn', { field: null }],
  ['trace_id', { field: null }, true],
  ['domain_name', { field: 'vhost' }, true],
];

function awsAlb(): TextFormat {
  const tokens: Token[] = [];
  let literal = '';
  ALB_FIELDS.forEach(([name, token, quoted], i) => {
    literal += (i > 0 ? ' ' : '') + (quoted ? '"' : '');
    tokens.push({ literal });
    tokens.push({ ...token, source: name } as FieldToken);
    literal = quoted ? '"' : '';
  });
  tokens.push({ literal: `${literal} ` }, { field: null, source: '(the fields after domain_name)' });
  if ((tokens[0] as { literal: string }).literal === '') tokens.shift();
  return { kind: 'text', name: 'aws-alb', tokens, escape: 'none' };
}

/** The format a name stands for. */
export function namedFormat(name: FormatName): LogFormat {
  switch (name) {
    case 'common':
    case 'combined':
      return { kind: 'clf', name };
    case 'vcombined':
      return compileApache(VCOMBINED, { pasted: false, where: () => '', name: 'vcombined' });
    case 'caddy':
      return structuredClone(CADDY);
    case 'traefik':
      return structuredClone(TRAEFIK);
    case 'aws-alb':
      return awsAlb();
  }
}
