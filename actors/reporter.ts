/**
 * stats and alerts → text: human lines through consola, or NDJSON with `--json`.
 * Report lines go to stdout; notices (diagnostics) go to stderr, in both modes.
 */
import { type ConsolaInstance, createConsola } from 'consola/core';
import { fromCallback } from 'xstate';
import type { AlertEvent, IntervalStats, RecoveryEvent, ReporterMessage } from './messages';

export interface ReporterInput {
  json: boolean;
  /** Print only alerts and recoveries. */
  quiet?: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** `2026-01-01T10:00:00+01:00`: local time with its offset, for people. */
export function localIso(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`
  );
}

const utcIso = (ms: number) => new Date(ms).toISOString();

/** `4m 19s`, `1h 02m 00s`, `45s`. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s % 60)}s`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

export function alertMessage(a: AlertEvent): string {
  return `High traffic generated an alert - hits = ${a.hits}, triggered at ${localIso(a.at)}`;
}

export function recoveryMessage(r: RecoveryEvent): string {
  return (
    `High traffic alert recovered - hits = ${r.hits}, recovered at ${localIso(r.at)}` +
    ` (alert lasted ${duration((r.at - r.since) / 1000)})`
  );
}

export function bytesText(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

const list = (pairs: [string, number][], n: number) =>
  pairs.length === 0 ? '-' : pairs.slice(0, n).map(([k, v]) => `${k} ${v}`).join(' · ');

const rate = (s: IntervalStats) => {
  const seconds = (s.end - s.start) / 1000;
  return seconds > 0 ? s.hits / seconds : 0;
};

/** `≈` before a table whose counts are approximate (too many distinct keys to keep them all). */
const row = (s: IntervalStats, table: 'sections' | 'users' | 'hosts' | 'methods', n: number) =>
  `  ${table.padEnd(8)}${s.approximate.includes(table) ? ' ≈ ' : '  '}${list(s[table], n)}`;

/** The human block for one interval. */
export function statsText(s: IntervalStats): string {
  const st = s.status;
  const head =
    `${localIso(s.start)} → ${localIso(s.end).slice(11)}${s.final ? ' (partial)' : ''}  ` +
    `${s.hits} hits, ${rate(s).toFixed(1)} req/s, ${bytesText(s.bytes)}, ` +
    `${s.invalid} invalid${s.late > 0 ? `, ${s.late} late` : ''}`;
  const status =
    `2xx ${st['2xx']} · 3xx ${st['3xx']} · 4xx ${st['4xx']} · 5xx ${st['5xx']}` +
    (st['1xx'] + st.other > 0 ? ` · other ${st['1xx'] + st.other}` : '');
  return [
    head,
    row(s, 'sections', 5),
    `  status    ${status}`,
    row(s, 'methods', 5),
    row(s, 'users', 3),
    row(s, 'hosts', 3),
  ].join('\n');
}

/** One NDJSON object per line; times ISO-8601 UTC. */
export function statsJson(s: IntervalStats): string {
  return JSON.stringify({
    type: 'stats',
    start: utcIso(s.start),
    end: utcIso(s.end),
    hits: s.hits,
    invalid: s.invalid,
    late: s.late,
    rps: Math.round(rate(s) * 1000) / 1000,
    sections: s.sections.map(([section, hits]) => ({ section, hits })),
    status: s.status,
    bytes: s.bytes,
    users: s.users.map(([user, hits]) => ({ user, hits })),
    hosts: s.hosts.map(([host, hits]) => ({ host, hits })),
    methods: s.methods.map(([method, hits]) => ({ method, hits })),
    approximate: s.approximate,
    final: s.final,
  });
}

export function alertJson(a: AlertEvent): string {
  return JSON.stringify({
    type: 'alert',
    at: utcIso(a.at),
    hits: a.hits,
    average: a.hits / a.window,
    threshold: a.threshold,
    window: a.window,
    message: alertMessage(a),
  });
}

export function recoveryJson(r: RecoveryEvent): string {
  return JSON.stringify({
    type: 'recovered',
    at: utcIso(r.at),
    hits: r.hits,
    average: r.hits / r.window,
    threshold: r.threshold,
    window: r.window,
    since: utcIso(r.since),
    duration: (r.at - r.since) / 1000,
    message: recoveryMessage(r),
  });
}

/**
 * The final interval of a run that ended on an interval boundary: NDJSON still gets it (the
 * one `final` record marks a clean end), a person has nothing to read in it.
 */
export function isEmptyEnd(s: IntervalStats): boolean {
  return s.final && s.start === s.end && s.hits === 0 && s.invalid === 0;
}

/** consola with a reporter that writes lines as they are: report lines out, notices err. */
export function createOutput(input: Pick<ReporterInput, 'out' | 'err'>): ConsolaInstance {
  return createConsola({
    throttle: 0,
    level: 3,
    reporters: [
      {
        log: (entry) => {
          const text = entry.args.map(String).join(' ');
          if (entry.type === 'log') input.out(text);
          else input.err(`${entry.type === 'info' ? '' : `${entry.type}: `}${text}`);
        },
      },
    ],
  });
}

export const reporter = fromCallback<ReporterMessage, ReporterInput>(({ input, receive }) => {
  const output = createOutput(input);
  receive((message) => {
    switch (message.type) {
      case 'stats':
        if (input.quiet || (!input.json && isEmptyEnd(message.stats))) break;
        output.log(input.json ? statsJson(message.stats) : statsText(message.stats));
        break;
      case 'alert':
        output.log(input.json ? alertJson(message.alert) : alertMessage(message.alert));
        break;
      case 'recovered':
        output.log(input.json ? recoveryJson(message.recovery) : recoveryMessage(message.recovery));
        break;
      case 'notice':
        output[message.level](message.message);
        break;
    }
  });
});
