/**
 * The full-screen view, as a pure function from a snapshot to lines of text that fit a given
 * width and height. The reporter keeps the snapshot and writes the lines; nothing here touches
 * the terminal, so it is tested with plain strings.
 */
import cliTruncate from 'cli-truncate';
import { createColors } from 'picocolors';
import stringWidth from 'string-width';
import type { IntervalStats } from './messages';
import { bytesText, duration, localIso } from '../lib/format';
import { latencyText, msText } from '../lib/latency-text';
import { printable } from '../lib/printable';

export interface HistoryEntry {
  type: 'alert' | 'recovered';
  at: number;
  message: string;
}

export interface DashboardSnapshot {
  files: string[];
  /** The event clock: a replay's or the centre's simulated one (where its data stands), or the wall clock when following. */
  now: number;
  /** Wall-clock ms when the process started, and now: "up" is the time between them, whatever the event clock says. */
  wallStartedAt: number;
  wallNow: number;
  threshold: number;
  windowSeconds: number;
  /** Hits in the window at the last evaluation. */
  windowHits: number;
  /** Hits of each second of the window, oldest first. */
  series: number[];
  state: 'normal' | 'alerting';
  /** When the current alert began, ms. */
  since: number | null;
  last: IntervalStats | null;
  /** Every alert and recovery of the run, newest first. */
  history: HistoryEntry[];
  /** The rules' alerts going on (`--rules`): their lines, oldest first. */
  active?: HistoryEntry[];
  /** The last diagnostic (a file it waits for, a read error), shown above the keys. */
  notice: string | null;
  paused: boolean;
  color: boolean;
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * A sparkline of `values` in at most `width` cells (adjacent values summed when it must shrink),
 * scaled to the largest cell or to `reference` per value (the threshold), whichever is larger, so
 * that a quiet log draws low bars rather than a wall.
 */
export function sparkline(values: number[], width: number, reference = 0): string {
  if (width <= 0 || values.length === 0) return '';
  const per = Math.ceil(values.length / width);
  const cells: number[] = [];
  for (let i = 0; i < values.length; i += per) cells.push(values.slice(i, i + per).reduce((a, b) => a + b, 0));
  const max = Math.max(...cells, reference * per);
  return cells.map((v) => (max === 0 || v === 0 ? ' ' : BARS[Math.min(7, Math.floor((v / max) * 7.999))])).join('');
}

/** `[██████░░░░]` filled to `ratio` (capped at 1) in `width` cells. */
export function bar(ratio: number, width: number): string {
  const inner = Math.max(0, width - 2);
  const full = Math.round(Math.min(1, Math.max(0, ratio)) * inner);
  return `[${'█'.repeat(full)}${'░'.repeat(inner - full)}]`;
}

const clock = (ms: number) => localIso(ms).slice(11, 19);
// What comes from outside (keys, file names, alert lines, notices) is made printable before it is
// coloured: cli-truncate keeps escape sequences whole, so a raw ESC in a key would reach the screen.
// A timed section shows its p99 after its count, as the text output does.
const pairs = (list: [string, number][], n: number, p99?: Map<string, number>) =>
  list.length === 0
    ? '-'
    : list
        .slice(0, n)
        .map(([k, v]) => {
          const q = p99?.get(k);
          return `${printable(k)} ${v}${q === undefined ? '' : ` (p99 ${msText(q)})`}`;
        })
        .join(' · ');

/** The lines of the dashboard: exactly `height` of them (or fewer when there is less to say), none wider than `width`. */
export function renderDashboard(s: DashboardSnapshot, width: number, height: number): string[] {
  const c = createColors(s.color);
  const rule = (title: string) => c.dim(`─ ${title} ${'─'.repeat(Math.max(0, width - stringWidth(title) - 3))}`);
  const average = s.windowHits / s.windowSeconds;
  const lines: string[] = [];

  const title = `${c.bold('http-log-monitor')} · ${printable(s.files.join(', '))} · up ${duration((s.wallNow - s.wallStartedAt) / 1000)}`;
  const right = `${clock(s.now)}${s.paused ? c.yellow(' (paused)') : ''}`;
  const gap = Math.max(1, width - stringWidth(title) - stringWidth(right));
  lines.push(`${title}${' '.repeat(gap)}${right}`);

  const state =
    s.state === 'alerting'
      ? c.bold(c.red(`● HIGH TRAFFIC ALERT since ${clock(s.since ?? s.now)} (${duration((s.now - (s.since ?? s.now)) / 1000)})`))
      : c.green('● normal');
  lines.push(`State    ${state}`);
  const now = s.series.at(-1) ?? 0;
  lines.push(
    `Rate     ${now} req/s last second · window average ${average.toFixed(2)} req/s · threshold ${s.threshold} req/s`,
  );
  const ratio = average / s.threshold;
  const colorBar = ratio > 1 ? c.red : ratio > 0.8 ? c.yellow : c.green;
  lines.push(
    `Average  ${colorBar(bar(ratio, Math.min(42, Math.max(12, width - 40))))} ${(ratio * 100).toFixed(0)}% of threshold ` +
      `(${s.windowHits} hits in ${s.windowSeconds} s)`,
  );
  const sparkWidth = Math.max(1, Math.min(s.series.length, width - 9));
  lines.push(`Req/s    ${c.cyan(sparkline(s.series, sparkWidth, s.threshold))}`);

  const l = s.last;
  if (l) {
    const seconds = (l.end - l.start) / 1000;
    lines.push(rule(`last interval ${clock(l.start)} → ${clock(l.end)}`));
    lines.push(
      `Hits     ${l.hits} · ${(seconds > 0 ? l.hits / seconds : 0).toFixed(1)} req/s · ${bytesText(l.bytes)} · ` +
        `invalid ${l.invalid} · late ${l.late}`,
    );
    lines.push(`Unique   ${l.unique.hosts} hosts · ${l.unique.users} users · ${l.unique.sections} sections (estimated)`);
    const st = l.status;
    lines.push(
      `Status   2xx ${st['2xx']} · 3xx ${st['3xx']} · ${c.yellow(`4xx ${st['4xx']}`)} · ${c.red(`5xx ${st['5xx']}`)}`,
    );
    // Only a log with durations has these lines: a CLF screen is what it always was.
    if (l.latency) lines.push(`Latency  ${latencyText(l.latency, l.hits)}`);
    if (l.upstream) lines.push(`Upstream ${latencyText(l.upstream, l.hits)}`);
    const approx = (t: string) => (l.approximate.includes(t) ? '≈ ' : '');
    const p99 = l.sectionLatency ? new Map(l.sectionLatency.map(([k, q]) => [k, q.p99])) : undefined;
    lines.push(`Sections ${approx('sections')}${pairs(l.sections, 8, p99)}`);
    lines.push(`Methods  ${approx('methods')}${pairs(l.methods, 6)}`);
    lines.push(`Users    ${approx('users')}${pairs(l.users, 6)}`);
    lines.push(`Hosts    ${approx('hosts')}${pairs(l.hosts, 6)}`);
    if (l.vhosts.length > 0) lines.push(`Vhosts   ${approx('vhosts')}${pairs(l.vhosts, 6)}`);
  } else {
    lines.push(rule('last interval'));
    lines.push(c.dim('waiting for the first interval to close…'));
  }

  const active = s.active ?? [];
  if (active.length > 0) {
    lines.push(rule(`rule alerts going on (${active.length})`));
    const shown = Math.max(1, Math.min(active.length, height - lines.length - 5));
    for (const a of active.slice(0, shown)) lines.push(c.red(`● ${printable(a.message)}`));
    if (shown < active.length) lines.push(c.dim(`… and ${active.length - shown} more`));
  }

  const footer = c.dim('q quit · p pause');
  const notice = s.notice ? [c.yellow(printable(s.notice))] : [];
  const room = Math.max(0, height - lines.length - 2 - notice.length);
  lines.push(rule(`alert history (${s.history.length})`));
  if (s.history.length === 0) {
    if (room > 0) lines.push(c.dim('no alerts yet'));
  } else {
    for (const h of s.history.slice(0, room)) {
      lines.push(h.type === 'alert' ? c.red(printable(h.message)) : c.green(printable(h.message)));
    }
  }
  lines.push(...notice, footer);
  return lines.slice(0, Math.max(1, height)).map((line) => cliTruncate(line, Math.max(1, width)));
}
