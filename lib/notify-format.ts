/**
 * The body of one notification, for each `--notify-format`: the NDJSON record as it is, an
 * Alertmanager webhook message (version 4), or a Slack incoming-webhook message. Pure: no I/O.
 *
 * A latency rule's value is a duration at a quantile: the json body has them as the record has
 * them (`value` in ms, `quantile`), Alertmanager's annotations say them as text beside the
 * summary (`value: 612.3 ms`, `threshold: 500 ms`, `quantile: p99`), and Slack's line says them
 * already (`p99 = 612.3 ms > 500 ms`).
 */
import type { NotifyEvent } from '../actors/messages';
import { printable } from './printable';
import { quantileName } from './rules';

export type NotifyFormat = 'json' | 'alertmanager' | 'slack';

export const NOTIFY_FORMATS: readonly NotifyFormat[] = ['json', 'alertmanager', 'slack'];

export interface NotifyBody {
  contentType: string;
  text: string;
}

const JSON_TYPE = 'application/json';

export function body(format: NotifyFormat, event: NotifyEvent): NotifyBody {
  switch (format) {
    case 'json':
      return { contentType: JSON_TYPE, text: JSON.stringify(event.record) };
    case 'alertmanager':
      return { contentType: JSON_TYPE, text: JSON.stringify(alertmanager(event)) };
    case 'slack':
      return { contentType: JSON_TYPE, text: JSON.stringify(slack(event)) };
  }
}

/** What Alertmanager sends for an alert not yet resolved (Go's zero time). */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * One alert per message, grouped by all its labels: a receiver that understands Alertmanager
 * (a ticketing tool, a pager bridge) matches the recovery to its alert by the fingerprint.
 */
export function alertmanager(event: NotifyEvent) {
  const status = event.type === 'alert' ? 'firing' : 'resolved';
  const labels = sortedLabels(event.labels);
  const annotations = annotationsOf(event);
  return {
    version: '4',
    groupKey: groupKey(labels),
    truncatedAlerts: 0,
    status,
    receiver: 'http-log-monitor',
    groupLabels: labels,
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: '',
    alerts: [
      {
        status,
        labels,
        annotations,
        startsAt: rfc3339(event.startsAt),
        endsAt: event.type === 'recovered' && event.endsAt !== undefined ? rfc3339(event.endsAt) : ZERO_TIME,
        generatorURL: '',
        fingerprint: fingerprint(labels),
      },
    ],
  };
}

/**
 * The summary line, and for a latency rule what it compared, as text: `value` (`612.3 ms`),
 * `threshold` (`500 ms`) and `quantile` (`p99`), each when the record has it. Annotations are
 * not labels: the fingerprint and the group key stay those of the alert.
 */
function annotationsOf(event: NotifyEvent): Record<string, string> {
  const annotations: Record<string, string> = { summary: event.message };
  const { kind, value, threshold, quantile } = event.record;
  if (kind !== 'latency') return annotations;
  if (typeof value === 'number') annotations.value = milliseconds(value);
  if (typeof threshold === 'number') annotations.threshold = milliseconds(threshold);
  if (typeof quantile === 'number') annotations.quantile = quantileName(quantile);
  return annotations;
}

/** 612.345 → `612.3 ms`, as the alert line rounds it. */
const milliseconds = (ms: number) => `${Math.round(ms * 10) / 10} ms`;

/**
 * Alertmanager's fingerprint of a label set (prometheus/common `LabelSet.Fingerprint`): FNV-1a,
 * 64 bits, over each name and value in name order, each followed by the byte 0xff; 16 hex digits.
 */
export function fingerprint(labels: Record<string, string>): string {
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  let hash = 0xcbf29ce484222325n;
  const add = (byte: number) => {
    hash = ((hash ^ BigInt(byte)) * prime) & mask;
  };
  const encoder = new TextEncoder();
  for (const name of Object.keys(labels).sort(byBytes)) {
    for (const byte of encoder.encode(name)) add(byte);
    add(0xff);
    for (const byte of encoder.encode(labels[name] ?? '')) add(byte);
    add(0xff);
  }
  return hash.toString(16).padStart(16, '0');
}

/** `{}:{alertname="server-errors", host="10.0.0.1"}`: the root route, then the group's labels. */
export function groupKey(labels: Record<string, string>): string {
  const pairs = Object.keys(labels)
    .sort(byBytes)
    .map((name) => `${name}=${JSON.stringify(labels[name])}`);
  return `{}:{${pairs.join(', ')}}`;
}

/**
 * A small Slack message: the line as the notification text, the labels under it. A label's value
 * may come from the log (a rule's group): the text is made printable, as on the terminal.
 * (Alertmanager's and the json body are JSON, which escapes C0 controls itself; their labels
 * and rule fields stay as they are, so that a receiver matches them and the fingerprint holds.)
 */
export function slack(event: NotifyEvent) {
  const marker = event.type === 'alert' ? '[FIRING]' : '[RESOLVED]';
  const labels = Object.keys(event.labels)
    .sort(byBytes)
    .map((name) => `${name}=${event.labels[name]}`)
    .join(' · ');
  return {
    text: `${marker} ${escapeSlack(event.message)}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${marker}* ${escapeSlack(event.message)}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: escapeSlack(labels || '-') }] },
    ],
  };
}

/**
 * Scheme and host of a URL, for messages: a webhook's path and query carry its secret
 * (`https://hooks.slack.com/services/T0/B0/XYZ` → `https://hooks.slack.com`), and so may its
 * user and password. Never throws.
 */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (!u.host) return '(bad URL)';
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(bad URL)';
  }
}

/** RFC 3339 in UTC, as Alertmanager writes it. */
const rfc3339 = (ms: number) => new Date(ms).toISOString();

/** Slack reads `&`, `<` and `>` as markup (`<url|text>`): the three it asks to escape; and no control character. */
const escapeSlack = (text: string) => printable(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Go sorts strings by their bytes; label names are ASCII, so code units give the same order. */
const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortedLabels(labels: Record<string, string>): Record<string, string> {
  const sorted: Record<string, string> = {};
  for (const name of Object.keys(labels).sort(byBytes)) sorted[name] = labels[name] as string;
  return sorted;
}
