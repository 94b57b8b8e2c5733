/**
 * The bodies of notifications, one per `--notify-format`, for an alert and its recovery: the
 * NDJSON record as it is, Alertmanager's webhook message, a Slack message; and URLs cut to
 * scheme and host for messages.
 */
import { describe, expect, test } from 'bun:test';
import type { NotifyEvent } from '../actors/messages';
import { body, fingerprint, groupKey, redact, ZERO_TIME } from '../lib/notify-format';

const START = Date.UTC(2026, 0, 1, 10, 0, 0);
const END = START + 259_000;

const highTraffic: NotifyEvent = {
  type: 'alert',
  record: { type: 'alert', at: '2026-01-01T10:00:00.000Z', hits: 1300, average: 10.83, threshold: 10, window: 120, message: 'High traffic generated an alert - hits = 1300' },
  message: 'High traffic generated an alert - hits = 1300, triggered at 2026-01-01T11:00:00+01:00',
  labels: { alertname: 'HighTraffic' },
  startsAt: START,
};

const highTrafficOver: NotifyEvent = {
  type: 'recovered',
  record: { type: 'recovered', at: '2026-01-01T10:04:19.000Z', hits: 900, since: '2026-01-01T10:00:00.000Z', duration: 259 },
  message: 'High traffic alert recovered - hits = 900, recovered at 2026-01-01T11:04:19+01:00 (alert lasted 4m 19s)',
  labels: { alertname: 'HighTraffic' },
  startsAt: START,
  endsAt: END,
};

// Labels in another order than sorted, as a rule's alert may build them.
const serverErrors: NotifyEvent = {
  type: 'alert',
  record: { type: 'alert', rule: 'server-errors', host: '10.0.0.1', value: 0.2 },
  message: 'server-errors: 5xx ratio 20% > 5% for host 10.0.0.1 <& co>',
  labels: { rule: 'server-errors', alertname: 'server-errors', host: '10.0.0.1' },
  startsAt: START,
};

const serverErrorsOver: NotifyEvent = { ...serverErrors, type: 'recovered', message: 'server-errors recovered for host 10.0.0.1', endsAt: END };

const parse = (format: 'json' | 'alertmanager' | 'slack', event: NotifyEvent) => {
  const b = body(format, event);
  expect(b.contentType).toBe('application/json');
  return JSON.parse(b.text);
};

describe('json', () => {
  test('the body is the NDJSON record as it is', () => {
    expect(parse('json', highTraffic)).toEqual(highTraffic.record);
    expect(parse('json', highTrafficOver)).toEqual(highTrafficOver.record);
    expect(body('json', serverErrors).text).toBe(JSON.stringify(serverErrors.record));
  }, 10_000);
});

describe('alertmanager', () => {
  test('a high-traffic alert is a firing version 4 message with one alert, not ended', () => {
    const fp = fingerprint({ alertname: 'HighTraffic' });
    expect(parse('alertmanager', highTraffic)).toEqual({
      version: '4',
      groupKey: '{}:{alertname="HighTraffic"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'http-log-monitor',
      groupLabels: { alertname: 'HighTraffic' },
      commonLabels: { alertname: 'HighTraffic' },
      commonAnnotations: { summary: highTraffic.message },
      externalURL: '',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'HighTraffic' },
          annotations: { summary: highTraffic.message },
          startsAt: '2026-01-01T10:00:00.000Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: fp,
        },
      ],
    });
  }, 10_000);

  test('its recovery is resolved, ends when it recovered, and has the same fingerprint and group key', () => {
    const firing = parse('alertmanager', highTraffic);
    const resolved = parse('alertmanager', highTrafficOver);
    expect(resolved.status).toBe('resolved');
    expect(resolved.alerts[0].status).toBe('resolved');
    expect(resolved.alerts[0].startsAt).toBe('2026-01-01T10:00:00.000Z');
    expect(resolved.alerts[0].endsAt).toBe('2026-01-01T10:04:19.000Z');
    expect(resolved.alerts[0].annotations).toEqual({ summary: highTrafficOver.message });
    expect(resolved.alerts[0].fingerprint).toBe(firing.alerts[0].fingerprint);
    expect(resolved.groupKey).toBe(firing.groupKey);
  }, 10_000);

  test("a rule's alert carries its labels sorted, and a fingerprint of its own", () => {
    const firing = parse('alertmanager', serverErrors);
    const resolved = parse('alertmanager', serverErrorsOver);
    const labels = { alertname: 'server-errors', host: '10.0.0.1', rule: 'server-errors' };
    expect(Object.keys(firing.alerts[0].labels)).toEqual(['alertname', 'host', 'rule']);
    expect(firing.alerts[0].labels).toEqual(labels);
    expect(firing.groupLabels).toEqual(labels);
    expect(firing.commonLabels).toEqual(labels);
    expect(firing.groupKey).toBe('{}:{alertname="server-errors", host="10.0.0.1", rule="server-errors"}');
    expect(firing.alerts[0].endsAt).toBe(ZERO_TIME);
    expect(firing.alerts[0].fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(resolved.alerts[0].fingerprint).toBe(firing.alerts[0].fingerprint);
    expect(firing.alerts[0].fingerprint).not.toBe(parse('alertmanager', highTraffic).alerts[0].fingerprint);
  }, 10_000);

  test("the fingerprint is Alertmanager's: FNV-1a over the sorted labels, whatever their order", () => {
    expect(fingerprint({})).toBe('cbf29ce484222325');
    expect(fingerprint({ foo: 'bar' })).toBe('3fff2c2d7595e046');
    expect(fingerprint({ foo: 'bar', baz: 'qux' })).toBe(fingerprint({ baz: 'qux', foo: 'bar' }));
    expect(fingerprint({ host: '10.0.0.1' })).not.toBe(fingerprint({ host: '10.0.0.2' }));
    // The separator keeps a name and a value apart: not the same as one longer name.
    expect(fingerprint({ ab: 'c' })).not.toBe(fingerprint({ a: 'bc' }));
  }, 10_000);

  test('the group key quotes values', () => {
    expect(groupKey({ path: '/a "b"' })).toBe('{}:{path="/a \\"b\\""}');
  }, 10_000);
});

describe('slack', () => {
  test('an alert: a marked text line, the message as mrkdwn, the labels as context', () => {
    expect(parse('slack', highTraffic)).toEqual({
      text: `[FIRING] ${highTraffic.message}`,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `*[FIRING]* ${highTraffic.message}` } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'alertname=HighTraffic' }] },
      ],
    });
  }, 10_000);

  test('a recovery is marked resolved', () => {
    const slack = parse('slack', highTrafficOver);
    expect(slack.text).toBe(`[RESOLVED] ${highTrafficOver.message}`);
    expect(slack.blocks[0].text.text).toStartWith('*[RESOLVED]* High traffic alert recovered');
  }, 10_000);

  test("a rule's labels in order, and Slack's markup characters escaped", () => {
    const slack = parse('slack', serverErrors);
    expect(slack.text).toBe('[FIRING] server-errors: 5xx ratio 20% &gt; 5% for host 10.0.0.1 &lt;&amp; co&gt;');
    expect(slack.blocks[1].elements[0].text).toBe('alertname=server-errors · host=10.0.0.1 · rule=server-errors');
    expect(parse('slack', serverErrorsOver).text).toBe('[RESOLVED] server-errors recovered for host 10.0.0.1');
  }, 10_000);
});

describe('redact', () => {
  test('keeps the scheme and host only', () => {
    expect(redact('https://hooks.slack.com/services/T0/B0/XYZ')).toBe('https://hooks.slack.com');
    expect(redact('http://127.0.0.1:9093/api/v2/alerts?token=s3cret')).toBe('http://127.0.0.1:9093');
    expect(redact('https://user:password@alerts.example.com/hook#x')).toBe('https://alerts.example.com');
    expect(redact('HTTPS://Hooks.Example.COM/a')).toBe('https://hooks.example.com');
  }, 10_000);

  test('a bad URL never throws', () => {
    expect(redact('not a url')).toBe('(bad URL)');
    expect(redact('')).toBe('(bad URL)');
    expect(redact('http://')).toBe('(bad URL)');
    expect(redact('mailto:ops@example.com')).toBe('(bad URL)');
  }, 10_000);
});

describe('a group from the log with control characters', () => {
  const ESC = '\x1b';
  const rule = { name: 'one-client', kind: 'rate' as const, group: { by: 'user' as const, key: `${ESC}]0;pwned\x07<b>` }, value: 4 };
  const event = async () => {
    const { notifyEvent } = await import('../actors/reporter');
    return notifyEvent({ type: 'alert', alert: { at: START, hits: 80, threshold: 3, window: 20, rule } });
  };

  test('Slack shows it escaped, in the line and in the labels, its markup characters escaped too', async () => {
    const b = body('slack', await event());
    const slack = JSON.parse(b.text);
    const shown = [slack.text, slack.blocks[0].text.text, slack.blocks[1].elements[0].text].join('\n');
    expect(shown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(slack.text).toStartWith('[FIRING] Rule "one-client" (user \\x1b]0;pwned\\x07&lt;b&gt;) fired');
    expect(slack.blocks[1].elements[0].text).toBe('alertname=one-client · user=\\x1b]0;pwned\\x07&lt;b&gt;');
    // A raw DEL, C1 or bidi control in a message (JSON would leave them) is escaped as well.
    const other = JSON.parse(body('slack', { ...highTraffic, message: 'a\x7fb\u009bc\u202ed' }).text);
    expect(other.text).toBe('[FIRING] a\\x7fb\\x9bc\\u202ed');
  }, 10_000);

  test('Alertmanager and json keep the label as it is (JSON escapes it), so the fingerprint matches the group', async () => {
    const e = await event();
    const am = body('alertmanager', e);
    expect(am.text).not.toContain(ESC);
    const parsed = JSON.parse(am.text);
    expect(parsed.alerts[0].labels.user).toBe(rule.group.key);
    expect(parsed.alerts[0].fingerprint).toBe(fingerprint({ alertname: 'one-client', user: rule.group.key }));
    // Its summary is the printed line: escaped.
    expect(parsed.commonAnnotations.summary).toContain('(user \\x1b]0;pwned\\x07<b>)');
    const json = body('json', e);
    expect(json.text).not.toContain(ESC);
    expect(JSON.parse(json.text).group.key).toBe(rule.group.key);
  }, 10_000);
});

describe('a latency rule', () => {
  const alert = {
    at: START,
    hits: 3036,
    threshold: 500,
    window: 120,
    rule: { name: 'slow-site', kind: 'latency' as const, group: { by: 'vhost' as const, key: 'shop.example' }, value: 612.345, quantile: 0.99 },
  };
  const event = async () => {
    const { notifyEvent } = await import('../actors/reporter');
    return notifyEvent({ type: 'alert', alert });
  };
  /** The record as the reporter makes it: it names the alert's quantile. */
  const withQuantile = async (): Promise<NotifyEvent> => {
    const e = await event();
    expect(e.record.quantile).toBe(0.99);
    return e;
  };
  /** A record without a quantile (an agent's or a centre's of before latency rules had one). */
  const withoutQuantile = async (): Promise<NotifyEvent> => {
    const { quantile: _, ...record } = (await event()).record;
    return { ...(await event()), record };
  };

  test('json: the record as it is, the value in ms', async () => {
    const e = await event();
    const json = JSON.parse(body('json', e).text);
    expect(json).toEqual(e.record);
    expect(json).toMatchObject({ rule: 'slow-site', kind: 'latency', value: 612.345, threshold: 500, hits: 3036, window: 120, group: { by: 'vhost', key: 'shop.example' } });
  }, 10_000);

  test('alertmanager: the vhost a label, the value, threshold and quantile annotations beside the summary', async () => {
    const e = await withQuantile();
    const am = JSON.parse(body('alertmanager', e).text);
    const annotations = { summary: e.message, value: '612.3 ms', threshold: '500 ms', quantile: 'p99' };
    expect(am.alerts[0].annotations).toEqual(annotations);
    expect(am.commonAnnotations).toEqual(annotations);
    expect(am.alerts[0].labels).toEqual({ alertname: 'slow-site', vhost: 'shop.example' });
    // Annotations are not labels: the alert is the same alert whatever its value.
    expect(am.alerts[0].fingerprint).toBe(fingerprint({ alertname: 'slow-site', vhost: 'shop.example' }));
    // Without a quantile in the record, none is made up.
    const bare = JSON.parse(body('alertmanager', await withoutQuantile()).text);
    expect(bare.alerts[0].annotations).toEqual({ summary: e.message, value: '612.3 ms', threshold: '500 ms' });
  }, 10_000);

  test('slack: the line says the quantile and the value in ms', async () => {
    const slack = JSON.parse(body('slack', await event()).text);
    expect(slack.text).toStartWith('[FIRING] Rule "slow-site" (vhost shop.example) fired - p99 = 612.3 ms &gt; 500 ms over 120 s (3036 timed hits)');
    expect(slack.blocks[1].elements[0].text).toBe('alertname=slow-site · vhost=shop.example');
  }, 10_000);

  test('other rules get only the summary, as before', () => {
    expect(JSON.parse(body('alertmanager', serverErrors).text).alerts[0].annotations).toEqual({ summary: serverErrors.message });
  }, 10_000);
});
