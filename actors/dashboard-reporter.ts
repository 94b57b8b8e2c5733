/**
 * The reporter for a terminal: a full-screen dashboard instead of lines, chosen at start by the
 * command (`monitorMachine.provide({ actors: { reporter: dashboardReporter } })`), so that its
 * terminal libraries load only when there is a terminal to draw on.
 */
import * as ansi from 'ansi-escapes';
import { fromCallback } from 'xstate';
import { type DashboardSnapshot, type HistoryEntry, renderDashboard } from './dashboard';
import type { AlertEvent, IntervalStats, ReporterMessage } from './messages';
import { localIso } from '../lib/format';
import { alertKey, alertMessage, notifyThrough, printedBefore, type ReporterInput, recoveryMessage, statsText } from './reporter';


/** The alerts and recoveries the dashboard keeps (and prints on the way out), newest. */
export const HISTORY_LIMIT = 1000;

/** An interval worth showing on the way out: it saw lines (the final one, cut short by the quit, often saw none). */
const hadTraffic = (s: IntervalStats) => s.hits > 0 || s.invalid > 0;

/**
 * What the run leaves in the scrollback: every alert and recovery, oldest first, then the last
 * interval that had traffic as the plain output prints it, or one line saying there was none
 * since `startedAt` (the event clock's start).
 */
export function scrollback(history: HistoryEntry[], lastWithTraffic: IntervalStats | null, startedAt: number, forgotten = 0): string[] {
  const lines = [...history].reverse().map((h) => h.message);
  if (forgotten > 0) lines.unshift(`(${forgotten} earlier alerts and recoveries not kept: the dashboard keeps the last ${HISTORY_LIMIT})`);
  lines.push(lastWithTraffic ? statsText(lastWithTraffic) : `no traffic in any interval since ${localIso(startedAt)}`);
  return lines;
}

/** The full-screen reporter: keeps a snapshot, redraws it every evaluation (1 s). */
export const dashboardReporter = fromCallback<ReporterMessage, ReporterInput>(({ input, receive, system }) => {
  const o = input.dashboard!;
  const notify = notifyThrough(system);
  /** The rules' alerts going on, by rule and group. */
  const active = new Map<string, HistoryEntry>();
  let lastWithTraffic: IntervalStats | null = null;
  // "up" is the process's wall-clock age: `o.now` is the event clock, which for the centre starts
  // at the first message of the history it rebuilds from, minutes back.
  const wallNow = Date.now;
  const snapshot: DashboardSnapshot = {
    files: o.files,
    now: o.now(),
    wallStartedAt: performance.timeOrigin,
    wallNow: wallNow(),
    threshold: o.threshold,
    windowSeconds: o.windowSeconds,
    windowHits: 0,
    series: [],
    state: 'normal',
    since: null,
    last: null,
    history: [],
    notice: null,
    paused: false,
    color: o.color,
  };
  const draw = () => {
    snapshot.now = o.now();
    snapshot.wallNow = wallNow();
    const { columns, rows } = o.size();
    const lines = renderDashboard(snapshot, columns, rows);
    o.write(
      ansi.beginSynchronizedOutput +
        ansi.cursorTo(0, 0) +
        lines.join(`${ansi.eraseEndLine}\n`) +
        ansi.eraseEndLine +
        ansi.eraseDown +
        ansi.endSynchronizedOutput,
    );
  };
  o.write(ansi.enterAlternativeScreen + ansi.cursorHide);
  draw();
  /** What a restarted centre printed before. */
  const before = printedBefore();
  /** Transitions dropped from the history (a flapping rule over weeks must not grow it for ever). */
  let forgotten = 0;
  const remember = (entry: HistoryEntry) => {
    snapshot.history.unshift(entry);
    if (snapshot.history.length > HISTORY_LIMIT) {
      snapshot.history.pop();
      forgotten++;
    }
  };
  receive((message) => {
    switch (message.type) {
      case 'window':
        snapshot.windowHits = message.hits;
        snapshot.series = message.series;
        break;
      case 'stats':
        // The centre records each interval shown, as the line reporter's printed ones.
        void input.printed?.('stats', message.stats.end);
        snapshot.last = message.stats;
        if (hadTraffic(message.stats)) lastWithTraffic = message.stats;
        break;
      case 'mute':
        before.mute(message);
        break;
      case 'alert': {
        if (!before.pass(message)) return; // shown before a restart of the centre
        const a = message.alert;
        input.printed?.('alert', a.at, alertKey(a));
        notify(message);
        const entry = { type: 'alert' as const, at: a.at, message: alertMessage(a) };
        remember(entry);
        if (a.rule) {
          active.set(alertKey(a), entry);
          snapshot.active = [...active.values()];
          break;
        }
        snapshot.state = 'alerting';
        snapshot.since = a.at;
        break;
      }
      case 'recovered': {
        const shown = before.pass(message);
        if (!shown) return;
        const r = shown.recovery;
        input.printed?.('recovered', r.at, alertKey(r));
        notify(shown);
        remember({ type: 'recovered', at: r.at, message: recoveryMessage(r) });
        if (r.rule) {
          active.delete(alertKey(r));
          snapshot.active = [...active.values()];
          break;
        }
        snapshot.state = 'normal';
        snapshot.since = null;
        break;
      }
      case 'notice':
        snapshot.notice = `${message.level === 'info' ? '' : `${message.level}: `}${message.message}`;
        break;
      case 'pause':
        snapshot.paused = !snapshot.paused;
        break;
      case 'redraw':
      case 'progress':
        break;
    }
    if (!snapshot.paused || message.type === 'pause' || message.type === 'redraw') draw();
  });
  return () => {
    // Back to the normal screen; what the run said stays in the scrollback.
    o.write(ansi.exitAlternativeScreen + ansi.cursorShow);
    for (const line of scrollback(snapshot.history, lastWithTraffic, o.startedAt, forgotten)) input.out(line);
  };
});
