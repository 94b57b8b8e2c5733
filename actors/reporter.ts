/**
 * stats and alerts → text: human lines through consola, or NDJSON with `--json`.
 * Report lines go to stdout; notices (diagnostics) go to stderr, in both modes.
 */
import { type ConsolaInstance, createConsola } from 'consola/core';
import { fromCallback } from 'xstate';
import { bytesText, duration, localIso } from '../lib/format';
import { latencyRecord, latencyText, msText } from '../lib/latency-text';
import { jsonText, printable } from '../lib/printable';
import type { AlertEvent, IntervalStats, NotifyEvent, NotifyMessage, Printed, RecoveryEvent, ReporterMessage, RuleAlert } from './messages';

export { bytesText, duration, localIso };

/** Erase to the end of the line (CSI K): the one escape the line reporter needs; loading a
 * library of them costs 5 MB of RSS, so the dashboard's reporter alone loads ansi-escapes. */
const ERASE_END_LINE = '\x1b[K';

export interface ReporterInput {
  json: boolean;
  /** Print only alerts and recoveries. */
  quiet?: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  /** A full-screen view instead of lines (a terminal, following). */
  dashboard?: DashboardOptions;
  /** A progress line on stderr (a replay, stderr a terminal). */
  progress?: ProgressOptions;
  /**
   * Told of each alert, recovery and interval (`at`: its end) before it is printed; printing
   * waits for the promise (the fleet's centre records them in the stream).
   */
  printed?: Printed;
}

export interface DashboardOptions {
  files: string[];
  threshold: number;
  windowSeconds: number;
  startedAt: number;
  now: () => number;
  color: boolean;
  /** Raw writes to the terminal, and its size. */
  write: (text: string) => void;
  size: () => { columns: number; rows: number };
}

export interface ProgressOptions {
  totalBytes: number;
  write: (text: string) => void;
}

const utcIso = (ms: number) => new Date(ms).toISOString();

export function alertMessage(a: AlertEvent): string {
  if (a.rule) return `${ruleName(a.rule)} fired - ${ruleValue(a, 'fired')}, triggered at ${localIso(a.at)}`;
  return `High traffic generated an alert - hits = ${a.hits}, triggered at ${localIso(a.at)}`;
}

export function recoveryMessage(r: RecoveryEvent): string {
  const lasted = ` (alert lasted ${duration((r.at - r.since) / 1000)})`;
  if (r.rule) return `${ruleName(r.rule)} recovered - ${ruleValue(r, 'recovered')}, recovered at ${localIso(r.at)}${lasted}`;
  return `High traffic alert recovered - hits = ${r.hits}, recovered at ${localIso(r.at)}${lasted}`;
}

/** `Rule "api-rate" (host 10.0.0.1)`; the name (the rules file's) and the group (the log's) printable. */
function ruleName(r: RuleAlert): string {
  return `Rule "${printable(r.name)}"${r.group ? ` (${r.group.by} ${printable(r.group.key)})` : ''}`;
}

const round = (x: number, places: number) => String(Math.round(x * 10 ** places) / 10 ** places);
const percent = (x: number) => `${round(x * 100, 2)} %`;

/**
 * What a rule compared, and with what: `rate = 25.3 req/s > 20 over 120 s (3036 hits)`,
 * `ratio = 7.3 % > 5 % over 120 s (146 of 2000 hits)`, `hits = 0 < 1 over 300 s`.
 */
function ruleValue(a: AlertEvent, how: 'fired' | 'recovered'): string {
  const r = a.rule!;
  const bound = how === 'fired' ? a.threshold : (r.recover ?? a.threshold);
  const over = ` over ${a.window} s`;
  switch (r.kind) {
    case 'rate':
      return `rate = ${round(r.value, 3)} req/s ${how === 'fired' ? '>' : '≤'} ${bound}${over} (${a.hits} hits)`;
    case 'ratio': {
      const counts = ` (${a.hits} of ${r.total ?? 0} hits)`;
      // A ratio alert also ends when too few hits are left to judge by.
      if (how === 'recovered' && r.value > bound) return `ratio = ${percent(r.value)}${over}${counts}, too few hits to judge`;
      return `ratio = ${percent(r.value)} ${how === 'fired' ? '>' : '≤'} ${percent(bound)}${over}${counts}`;
    }
    case 'silence':
      return `hits = ${a.hits} ${how === 'fired' ? '<' : '≥'} ${bound}${over}`;
    case 'latency': {
      const p = `p${round((r.quantile ?? 0.99) * 100, 2)}`;
      // A latency alert also ends when too few timed hits are left to judge by.
      if (how === 'recovered' && a.hits === 0) return `no timed hits${over}`;
      if (how === 'recovered' && r.value > bound) return `${p} = ${round(r.value, 1)} ms${over} (${a.hits} timed hits), too few timed hits to judge`;
      return `${p} = ${round(r.value, 1)} ms ${how === 'fired' ? '>' : '≤'} ${bound} ms${over} (${a.hits} timed hits)`;
    }
  }
}

/**
 * The keys come from the log (or an agent): printable, so that none writes escapes to the
 * terminal. A key with a p99 (a timed section) shows it after its count: `/api 93 (p99 210 ms)`.
 */
const list = (pairs: [string, number][], n: number, p99?: Map<string, number>) =>
  pairs.length === 0
    ? '-'
    : pairs
        .slice(0, n)
        .map(([k, v]) => {
          const q = p99?.get(k);
          return `${printable(k)} ${v}${q === undefined ? '' : ` (p99 ${msText(q)})`}`;
        })
        .join(' · ');
const names = (agents: string[]) => agents.map(printable).join(' · ');

const rate = (s: IntervalStats) => {
  const seconds = (s.end - s.start) / 1000;
  return seconds > 0 ? s.hits / seconds : 0;
};

/** `≈` before a table whose counts are approximate (too many distinct keys to keep them all). */
const row = (s: IntervalStats, table: 'sections' | 'users' | 'hosts' | 'methods' | 'vhosts', n: number, p99?: Map<string, number>) =>
  `  ${table.padEnd(8)}${s.approximate.includes(table) ? ' ≈ ' : '  '}${list(s[table], n, p99)}`;

/** Each timed section's p99, by section. */
export const sectionP99 = (s: IntervalStats) =>
  s.sectionLatency ? new Map(s.sectionLatency.map(([section, l]) => [section, l.p99])) : undefined;

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
  const u = s.unique;
  return [
    head,
    `  unique    ${u.hosts} hosts · ${u.users} users · ${u.sections} sections (estimated)`,
    row(s, 'sections', 5, sectionP99(s)),
    `  status    ${status}`,
    row(s, 'methods', 5),
    row(s, 'users', 3),
    row(s, 'hosts', 3),
    // What a log without virtual hosts or durations never has: no line for it.
    ...(s.vhosts.length > 0 ? [row(s, 'vhosts', 3)] : []),
    ...(s.latency ? [`  latency   ${latencyText(s.latency, s.hits)}`] : []),
    ...(s.upstream ? [`  upstream  ${latencyText(s.upstream, s.hits)}`] : []),
    ...(s.agents ? [`  agents    ${names(s.agents.reporting) || '-'}${s.agents.silent.length > 0 ? ` · silent: ${names(s.agents.silent)}` : ''}`] : []),
  ].join('\n');
}

/**
 * One NDJSON object per line; times ISO-8601 UTC. What a log may lack (virtual hosts, durations)
 * has a key only when the interval had it, so a CLF log's records are what they always were: a
 * timed section gets `"latency"` in its own object, the interval `"latency"` and `"upstream"`.
 */
export function statsJson(s: IntervalStats): string {
  const timed = s.sectionLatency ? new Map(s.sectionLatency) : undefined;
  return jsonText({
    type: 'stats',
    start: utcIso(s.start),
    end: utcIso(s.end),
    hits: s.hits,
    invalid: s.invalid,
    late: s.late,
    rps: Math.round(rate(s) * 1000) / 1000,
    sections: s.sections.map(([section, hits]) => {
      const latency = timed?.get(section);
      return latency ? { section, hits, latency: latencyRecord(latency) } : { section, hits };
    }),
    status: s.status,
    bytes: s.bytes,
    users: s.users.map(([user, hits]) => ({ user, hits })),
    hosts: s.hosts.map(([host, hits]) => ({ host, hits })),
    methods: s.methods.map(([method, hits]) => ({ method, hits })),
    ...(s.vhosts.length > 0 ? { vhosts: s.vhosts.map(([vhost, hits]) => ({ vhost, hits })) } : {}),
    approximate: s.approximate,
    unique: { ...s.unique, estimated: true },
    ...(s.latency ? { latency: latencyRecord(s.latency) } : {}),
    ...(s.upstream ? { upstream: latencyRecord(s.upstream) } : {}),
    ...(s.agents ? { agents: s.agents } : {}),
    final: s.final,
  });
}

/** What an alert and a recovery both say: when, and the window at that instant (a rule: which, and its value). */
function windowFields(a: AlertEvent) {
  const r = a.rule;
  if (!r) return { at: utcIso(a.at), hits: a.hits, average: a.hits / a.window, threshold: a.threshold, window: a.window };
  return {
    rule: r.name,
    group: r.group ?? null,
    kind: r.kind,
    at: utcIso(a.at),
    value: r.value,
    threshold: a.threshold,
    ...(r.recover === undefined ? {} : { recover: r.recover }),
    hits: a.hits,
    ...(r.total === undefined ? {} : { total: r.total }),
    ...(r.quantile === undefined ? {} : { quantile: r.quantile }),
    window: a.window,
  };
}

export function alertRecord(a: AlertEvent): Record<string, unknown> {
  return { type: 'alert', ...windowFields(a), message: alertMessage(a) };
}

export function recoveryRecord(r: RecoveryEvent): Record<string, unknown> {
  return {
    type: 'recovered',
    ...windowFields(r),
    since: utcIso(r.since),
    duration: (r.at - r.since) / 1000,
    message: recoveryMessage(r),
  };
}

export const alertJson = (a: AlertEvent) => jsonText(alertRecord(a));
export const recoveryJson = (r: RecoveryEvent) => jsonText(recoveryRecord(r));

/** An alert or a recovery for the notifier: its record, its line, and Alertmanager-style labels. */
export function notifyEvent(message: Extract<ReporterMessage, { type: 'alert' | 'recovered' }>): NotifyEvent {
  const a = message.type === 'alert' ? message.alert : message.recovery;
  const labels: Record<string, string> = { alertname: a.rule?.name ?? 'HighTraffic' };
  if (a.rule?.group) labels[a.rule.group.by] = a.rule.group.key;
  if (message.type === 'alert') {
    return { type: 'alert', record: alertRecord(a), message: alertMessage(a), labels, startsAt: a.at };
  }
  const r = message.recovery;
  return { type: 'recovered', record: recoveryRecord(r), message: recoveryMessage(r), labels, startsAt: r.since, endsAt: r.at };
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

/**
 * Hands an alert or a recovery to the notifier (systemId `notifier`, when there is one). Both
 * reporters call it as they print: what is printed is what is notified, never a transition muted
 * or printed before a restart.
 */
export function notifyThrough(system: { get: (id: string) => { send: (m: NotifyMessage) => void } | undefined }) {
  return (message: Extract<ReporterMessage, { type: 'alert' | 'recovered' }>) =>
    system.get('notifier')?.send({ type: 'notify', event: notifyEvent(message) });
}

/** Which alert a transition belongs to: the rule (none for -t) and the group. */
export const alertKey = (a: AlertEvent) => `${a.rule?.name ?? ''}\u0000${a.rule?.group?.key ?? ''}`;

type Transition = { type: 'alert'; alert: AlertEvent } | { type: 'recovered'; recovery: RecoveryEvent };

/**
 * What a restarted centre printed before (both reporters use it): no alert or recovery at or
 * before `until`, and an alert still going on when it stopped (key → when it started) is not
 * announced again however long ago it began; its recovery, when it comes, says when it began.
 */
export function printedBefore() {
  let until = -Infinity;
  const going = new Map<string, number>();
  return {
    mute(message: { printedUntil?: number; active?: [string, number][] }) {
      until = Math.max(until, message.printedUntil ?? -Infinity);
      for (const [key, since] of message.active ?? []) going.set(key, since);
    },
    /** The transition to print, or null: printed before the restart. */
    pass<T extends Transition>(message: T): T | null {
      const event = message.type === 'alert' ? message.alert : message.recovery;
      if (event.at <= until) return null;
      const key = alertKey(event);
      const since = going.get(key);
      if (since === undefined) return message;
      if (message.type === 'alert') return null; // the same alert, still going on
      going.delete(key);
      return { ...message, recovery: { ...message.recovery, since } };
    },
  };
}

export const reporter = fromCallback<ReporterMessage, ReporterInput>(({ input, receive, system }) => {
  const output = createOutput(input);
  const notify = notifyThrough(system);
  const progress = input.progress ? progressLine(input.progress) : null;
  let muted = false;
  const before = printedBefore();
  /** Output waiting for an alert's record to be stored (the centre), in order; null when none waits. */
  let waiting: Promise<void> | null = null;
  const emit = (print: () => void, before?: Promise<void> | void) => {
    if (!before && !waiting) return print();
    const next = (waiting ?? Promise.resolve()).then(() => before).then(print, print);
    waiting = next;
    void next.then(() => {
      if (waiting === next) waiting = null;
    });
  };
  const handle = (message: ReporterMessage) => {
    // A report line must not land behind the progress line when both go to one terminal.
    if (message.type !== 'progress') progress?.clear();
    switch (message.type) {
      case 'progress':
        progress?.add(message.bytes, message.lines);
        break;
      case 'stats':
        if (input.quiet || (!input.json && isEmptyEnd(message.stats))) break;
        output.log(input.json ? statsJson(message.stats) : statsText(message.stats));
        break;
      case 'alert':
        output.log(input.json ? alertJson(message.alert) : alertMessage(message.alert));
        notify(message);
        break;
      case 'recovered':
        output.log(input.json ? recoveryJson(message.recovery) : recoveryMessage(message.recovery));
        notify(message);
        break;
      case 'notice':
        output[message.level](printable(message.message));
        break;
    }
  };
  receive((message) => {
    if (message.type === 'mute') {
      muted = message.on;
      before.mute(message);
      return;
    }
    // The stats are not muted: the centre's aggregator begins where the last run's printing ended.
    if (muted && (message.type === 'window' || message.type === 'progress')) return;
    if (message.type === 'stats') {
      emit(() => handle(message), input.printed?.('stats', message.stats.end));
      return;
    }
    if (message.type === 'alert' || message.type === 'recovered') {
      const shown = before.pass(message);
      if (!shown) return; // printed before a restart of the centre
      const event = shown.type === 'alert' ? shown.alert : shown.recovery;
      // The centre records a transition in the stream before printing it, so a crash in between
      // cannot make its restart print it a second time.
      emit(() => handle(shown), input.printed?.(shown.type, event.at, alertKey(event)));
      return;
    }
    emit(() => handle(message));
  });
  return () => progress?.clear();
});

/** `12.3 MB of 80.0 MB (15%) · 3.1 M lines/s · 2s left`, redrawn in place at most 5 times a second. */
function progressLine(o: ProgressOptions) {
  const started = Date.now();
  let bytes = 0;
  let lines = 0;
  let shown = 0;
  let visible = false;
  return {
    add(b: number, l: number) {
      bytes += b;
      lines += l;
      const now = Date.now();
      if (now - shown < 200) return;
      shown = now;
      const seconds = Math.max(0.001, (now - started) / 1000);
      const left = ((o.totalBytes - bytes) / (bytes / seconds)) | 0;
      const rate = `${(lines / seconds / 1e6).toFixed(2)} M lines/s`;
      // A pipe or a compressed input has no size to measure against: bytes and rate only.
      o.write(
        o.totalBytes > 0
          ? `\r${bytesText(bytes)} of ${bytesText(o.totalBytes)} (${((100 * bytes) / o.totalBytes).toFixed(0)}%) · ` +
              `${rate} · ${duration(Math.max(0, left))} left${ERASE_END_LINE}`
          : `\r${bytesText(bytes)} read · ${rate}${ERASE_END_LINE}`,
      );
      visible = true;
    },
    clear() {
      if (visible) o.write(`\r${ERASE_END_LINE}`);
      visible = false;
      shown = 0; // redraw with the next chunk
    },
  };
}
