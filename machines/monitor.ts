/**
 * The root: it spawns the actors, wires them by systemId, closes a stats interval every
 * `intervalSeconds` on the system's clock, and finishes (final partial interval included) when
 * the input ends or it is told to stop.
 *
 *   tailer → parser → [replay-clock →] section-aggregator, alert-monitor → reporter
 *   fleet-feed ────────→ replay-clock →  (the fleet's centre: agents' messages instead of files)
 *
 * With `metrics` (`--metrics`), the batches also go to the metrics actor, which counts them into
 * the Metrics object the /metrics endpoint renders; without it, nothing of it exists.
 */
import { enqueueActions, setup, type SimulatedClock } from 'xstate';
import { alertMonitor } from '../actors/alert-monitor';
import { fleetFeed, type FleetFeedInput } from '../actors/fleet-feed';
import { hitWindow, SecondWindow } from '../actors/hit-window';
import { metricsFeed } from '../actors/metrics';
import type { FlushMessage, Printed } from '../actors/messages';
import { parser, type TimeSource } from '../actors/parser';
import type { LogFormat } from '../lib/log-format';
import type { Metrics } from '../lib/metrics';
import { replayClock } from '../actors/replay-clock';
import type { ReplaySource } from '../actors/replay-reader';
import { type DashboardOptions, type ProgressOptions, reporter } from '../actors/reporter';
import { type Delivery, notifier } from '../actors/notifier';
import { ruleMonitor } from '../actors/rule-monitor';
import { RuleWindow, ruleWindows } from '../actors/rule-window';
import { sectionAggregator } from '../actors/section-aggregator';
import { tailer } from '../actors/tailer';
import { longestWindow, needsRuleSketches, type Rule } from '../lib/rules';

export interface MonitorInput {
  paths: string[];
  mode: 'follow' | 'replay';
  json: boolean;
  quiet: boolean;
  threshold: number;
  windowSeconds: number;
  intervalSeconds: number;
  timeSource: TimeSource;
  /** `--log-format`'s; absent: each input's first lines decide. */
  format?: LogFormat;
  /** The system's clock reading, ms: `Date.now` live, the simulated clock in a replay. */
  now: () => number;
  /** The simulated clock a replay steps. */
  clock?: SimulatedClock;
  out: (line: string) => void;
  err: (line: string) => void;
  pollMs: number;
  watch: boolean;
  /** A replay's inputs, opened by the command (default: the paths, as plain files). */
  sources?: ReplaySource[];
  /** A replay waits for this before each chunk while its output is behind (back-pressure). */
  outputBehind?: () => Promise<void> | null;
  /** The fleet's centre: the agents' messages instead of files (mode 'replay': the clock is theirs). */
  fleet?: Omit<FleetFeedInput, 'to' | 'endTo'>;
  /**
   * The intervals of the fleet's centre (ms): their boundaries fall on `anchor` + k × interval (a
   * restarted centre keeps its first run's), and none begins before `from` (what was printed
   * before a restart, or a new centre's start). Default: both at the start.
   */
  intervals?: { anchor: number; from: number };
  /** Told of each alert, recovery and interval printed (the centre records them, to print none twice after a restart). */
  printed?: Printed;
  /** How many sections, users, hosts and methods an interval reports. */
  limit: number;
  /** Rules beyond the high-traffic one (`--rules`). */
  rules?: Rule[];
  /** Where alerts and recoveries are delivered (`--notify`, `--notify-exec`). */
  deliveries?: Delivery[];
  /** Benchmarks: told the running total of hits each time a batch has reached the consumers. */
  probe?: (hits: number) => void;
  /** Something draws the alert window (the dashboard, the inspector page): the alert monitor sends its samples. */
  samples?: boolean;
  /** A terminal to draw the dashboard on (following, stdout a terminal, not --plain). */
  screen?: Pick<DashboardOptions, 'write' | 'size' | 'color'>;
  /** A progress line during a replay (stderr a terminal). */
  progress?: ProgressOptions;
  /** What `--metrics` serves: the batches' counts and the alerts' states go into it (the centre's may be restored from its record). */
  metrics?: Metrics;
}

export interface MonitorContext extends MonitorInput {
  startedAt: number;
  /** Intervals close at origin + k × interval, so they do not drift with timer latency. */
  origin: number;
}

export type MonitorEvent = { type: 'end' } | { type: 'stop' };

/** The interval boundary nearest to now: where a timer that fired a little late meant to be. */
export function boundary(context: MonitorContext): number {
  const ms = context.intervalSeconds * 1000;
  return context.origin + Math.round((context.now() - context.origin) / ms) * ms;
}

/** Where the first interval begins: `from`, or the boundary before the start when the clock starts past it. */
export function firstIntervalStart(context: MonitorContext): number {
  const ms = context.intervalSeconds * 1000;
  const from = context.intervals?.from ?? context.startedAt;
  return Math.max(from, context.origin + Math.floor((context.startedAt - context.origin) / ms) * ms);
}

export const monitorMachine = setup({
  types: {
    input: {} as MonitorInput,
    context: {} as MonitorContext,
    events: {} as MonitorEvent,
  },
  actors: { tailer, parser, sectionAggregator, hitWindow, alertMonitor, reporter, replayClock, fleetFeed, ruleWindows, ruleMonitor, notifier, metricsFeed },
  delays: {
    /** Until the next interval boundary. */
    statsEvery: ({ context }) => {
      const ms = context.intervalSeconds * 1000;
      return ms - (((context.now() - context.origin) % ms) + ms) % ms || ms;
    },
  },
  actions: {
    startActors: enqueueActions(({ enqueue, context: c }) => {
      const replay = c.mode === 'replay';
      const consumers = ['aggregator', 'hit-window'];
      const window = new SecondWindow(c.windowSeconds);
      enqueue.spawnChild('reporter', {
        id: 'reporter',
        systemId: 'reporter',
        input: {
          json: c.json,
          quiet: c.quiet,
          out: c.out,
          err: c.err,
          progress: c.progress,
          printed: c.printed,
          dashboard: c.screen && {
            ...c.screen,
            files: c.paths,
            threshold: c.threshold,
            windowSeconds: c.windowSeconds,
            startedAt: c.startedAt,
            now: c.now,
          },
        },
      });
      enqueue.spawnChild('sectionAggregator', {
        id: 'aggregator',
        systemId: 'aggregator',
        input: {
          start: firstIntervalStart(c),
          now: c.now,
          windowSeconds: c.windowSeconds,
          limit: c.limit,
          warnLate: !replay && c.timeSource === 'log',
          lateAfterEvaluation: Boolean(c.fleet),
        },
      });
      enqueue.spawnChild('hitWindow', {
        id: 'hit-window',
        systemId: 'hit-window',
        input: { window, now: c.now },
      });
      enqueue.spawnChild('alertMonitor', {
        id: 'alert',
        systemId: 'alert',
        input: { threshold: c.threshold, windowSeconds: c.windowSeconds, hitWindow: window, now: c.now, samples: c.samples },
      });
      if (c.deliveries?.length) {
        enqueue.spawnChild('notifier', { id: 'notifier', systemId: 'notifier', input: { deliveries: c.deliveries } });
      }
      if (c.rules?.length) {
        const windows = c.rules.map((r) => new RuleWindow(r, c.startedAt));
        enqueue.spawnChild('ruleWindows', { id: 'rule-windows', systemId: 'rule-windows', input: { windows, now: c.now } });
        enqueue.spawnChild('ruleMonitor', { id: 'rules', systemId: 'rules', input: { windows, now: c.now } });
        consumers.push('rule-windows');
      }
      if (c.metrics) {
        // After the alert actor, whose snapshots it reads.
        enqueue.spawnChild('metricsFeed', {
          id: 'metrics',
          systemId: 'metrics',
          input: { metrics: c.metrics, now: c.now, windowSeconds: c.windowSeconds, lateAfterEvaluation: Boolean(c.fleet), rules: c.rules },
        });
        consumers.push('metrics');
      }
      if (replay) {
        enqueue.spawnChild('replayClock', {
          id: 'replay-clock',
          systemId: 'replay-clock',
          input: {
            clock: c.clock!,
            to: consumers,
            endTo: 'monitor',
            // A silence is stepped through until every window (a rule's, with its `for`) has seen it.
            idleJump: longestWindow(c.windowSeconds, c.rules) + 2 * c.intervalSeconds + 1,
          },
        });
      }
      if (c.fleet) {
        enqueue.spawnChild('fleetFeed', {
          id: 'feed',
          systemId: 'feed',
          input: { ...c.fleet, to: ['replay-clock'], endTo: 'replay-clock' },
        });
        return;
      }
      enqueue.spawnChild('parser', {
        id: 'parser',
        systemId: 'parser',
        input: {
          to: replay ? ['replay-clock'] : consumers,
          endTo: replay ? 'replay-clock' : 'monitor',
          timeSource: c.timeSource,
          now: c.now,
          probe: c.probe,
          progress: Boolean(c.progress),
          sources: replay ? c.paths : undefined,
          format: c.format,
          ruleSketches: needsRuleSketches(c.rules),
        },
      });
      enqueue.spawnChild('tailer', {
        id: 'tailer',
        systemId: 'tailer',
        input: { paths: c.paths, mode: c.mode, to: 'parser', pollMs: c.pollMs, watch: c.watch, sources: c.sources, outputBehind: c.outputBehind, format: c.format },
      });
    }),
    /** Closes the interval in progress; runs synchronously so a final flush lands before exit. */
    flushStats: ({ context, system }, params: { final: boolean }) => {
      const at = params.final ? context.now() : boundary(context);
      const message: FlushMessage = { type: 'flush', at, final: params.final };
      system.get('aggregator')?.send(message);
    },
  },
}).createMachine({
  id: 'monitor',
  context: ({ input }) => ({ ...input, startedAt: input.now(), origin: input.intervals?.anchor ?? input.now() }),
  entry: 'startActors',
  initial: 'running',
  states: {
    running: {
      after: {
        statsEvery: {
          target: 'running',
          reenter: true,
          actions: { type: 'flushStats', params: { final: false } },
        },
      },
      on: {
        end: 'done',
        stop: 'done',
      },
    },
    done: {
      type: 'final',
      entry: { type: 'flushStats', params: { final: true } },
    },
  },
});
