/**
 * The protocol of the system on one page: every message an actor sends to another.
 *
 * Per-line work never crosses an actor boundary: the parser sends one `batch` per chunk of
 * bytes, already counted, and everything downstream works on those counts.
 */

import type { LatencySummary } from '../lib/sketch';
import type { FileMark, Segment } from '../lib/wire';
export { emptySegment } from '../lib/wire';

/** The lines of one chunk that share a high-water second: defined with the wire format, which carries it as it is. */
export type { Segment };

export interface Batch {
  segments: Segment[];
}

/** tailer → parser: complete lines only (a partial last line is held back by the tailer). */
export type ChunkMessage = { type: 'chunk'; bytes: Uint8Array; source: string };
/**
 * tailer → parser → (replay clock) → root: the input is over (replay, or standard input closed).
 * With a `source`, only that file of a replay is over (the parser merges files by second).
 */
export type EndMessage = { type: 'end'; source?: string };
/** parser → replay clock / aggregator / alert monitor. */
export type BatchMessage = { type: 'batch'; batch: Batch };
/**
 * tailer → publisher (an agent), after each poll: where the files are counted up to, as of the
 * chunks sent (the checkpoint); when the poll started (wall ms), and whether it read every file
 * to its end, leaving nothing for a later poll.
 */
export type MarksMessage = { type: 'marks'; files: FileMark[]; at: number; complete: boolean };
/** root → publisher (an agent stopping): publish what is gathered, then call `drained`. */
export type DrainMessage = { type: 'drain' };
/** fleet-feed → aggregator, when an agent starts reporting or goes silent: the stats say so. */
export type AgentsMessage = { type: 'agents'; roll: AgentRoll };
/** root → aggregator: close the interval at `at` (ms) and report it; `final` for the last one. */
export type FlushMessage = { type: 'flush'; at: number; final?: boolean };

export interface IntervalStats {
  start: number;
  end: number;
  hits: number;
  invalid: number;
  late: number;
  sections: [string, number][];
  users: [string, number][];
  hosts: [string, number][];
  methods: [string, number][];
  /** Virtual hosts (`$host`, `%v`, Caddy's `request.host`), when the log format has them. */
  vhosts: [string, number][];
  status: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number; other: number };
  bytes: number;
  /** Request durations of the interval's timed lines (ms), when the format has a duration and a line had one. */
  latency?: LatencySummary;
  /** Upstream durations alike (`$upstream_response_time`, Caddy/Traefik's upstream times). */
  upstream?: LatencySummary;
  /** Request durations of each section in `sections` that had timed lines, in the table's order. */
  sectionLatency?: [string, LatencySummary][];
  /** Tables whose counts became approximate (bounded heavy-hitters): 'hosts', … */
  approximate: string[];
  /** Distinct hosts, users and sections seen, estimated (HyperLogLog: exact up to 3,072, within 2 % beyond). */
  unique: { hosts: number; users: number; sections: number };
  /** The fleet's centre: the agents reporting at the interval's end, and those gone silent. */
  agents?: AgentRoll;
  final: boolean;
}

export interface AgentRoll {
  reporting: string[];
  silent: string[];
}

export interface AlertEvent {
  /** Evaluation instant, ms. */
  at: number;
  /** The hits the rule counts over the window (the matching ones for a rule). */
  hits: number;
  threshold: number;
  window: number;
  /** An alert of a rule from `--rules`; absent for the high-traffic rule of -t and -a. */
  rule?: RuleAlert;
}

/** What a rule's alert adds: which rule, which group, and the value compared. */
export interface RuleAlert {
  name: string;
  kind: 'rate' | 'ratio' | 'silence' | 'latency';
  /** A grouped rule's group: the field and its value. */
  group?: { by: 'section' | 'host' | 'user' | 'vhost'; key: string };
  /** rate: req/s over the window; ratio: matching / all (0..1); silence: hits; latency: the quantile's duration, ms. */
  value: number;
  /** latency: the quantile compared (0.99 for p99). */
  quantile?: number;
  /** ratio: all hits over the window. */
  total?: number;
  /** The threshold that ends it (a recovery's, or the firing one without hysteresis). */
  recover?: number;
}

/**
 * reporter → notifier: an alert or a recovery, as printed (never one muted or printed before a
 * restart of the centre).
 */
export interface NotifyEvent {
  type: 'alert' | 'recovered';
  /** The NDJSON record, as `--json` prints it. */
  record: Record<string, unknown>;
  /** The text line, as printed without --json. */
  message: string;
  /** Alertmanager-style labels: `alertname` (the rule's name, `HighTraffic` for -t) and a grouped rule's field (`host`: its value). */
  labels: Record<string, string>;
  /** When the alert started, ms. */
  startsAt: number;
  /** A recovery's instant, ms. */
  endsAt?: number;
}
export type NotifyMessage = { type: 'notify'; event: NotifyEvent };
export interface RecoveryEvent extends AlertEvent {
  /** When the alert started, ms. */
  since: number;
}

/**
 * reporter → the fleet's centre: an alert, a recovery or an interval (`at`: its end) about to be
 * printed; printing waits for the promise (the record of it stored in the stream).
 */
export type Printed = (type: 'alert' | 'recovered' | 'stats', at: number, alert?: string) => Promise<void> | void;

/** aggregator / alert monitor / parser / the terminal edge → reporter. */
export type ReporterMessage =
  | { type: 'stats'; stats: IntervalStats }
  | { type: 'alert'; alert: AlertEvent }
  | { type: 'recovered'; recovery: RecoveryEvent }
  | { type: 'notice'; level: 'info' | 'warn' | 'error'; message: string }
  /** Every evaluation (1 s): the window's hits and its per-second series, oldest first. */
  | { type: 'window'; at: number; hits: number; series: number[] }
  /** Replay progress: bytes and lines read since the last report. */
  | { type: 'progress'; bytes: number; lines: number }
  /**
   * The fleet's centre rebuilding its state from the stream: no window samples until `on: false`
   * (the stats are not muted: the aggregator begins where the last run's printing ended), and no
   * alert or recovery at or before `printedUntil` (ms), the last one printed before a restart.
   */
  | { type: 'mute'; on: boolean; printedUntil?: number; active?: [string, number][] }
  /** Keys and terminal events, from the edge: pause/resume the redraw, redraw after a resize. */
  | { type: 'pause' }
  | { type: 'redraw' };

