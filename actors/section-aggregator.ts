/**
 * batches → interval stats.
 *
 * An @xstate/store holds the interval in progress; `flush` closes it, emits its stats and
 * starts the next one. The actor around it forwards the stats to the reporter.
 *
 * Request durations (a log format with a duration) are merged from the segments' sketches
 * (lib/sketch.ts) into the interval's: one for every timed line, one for the upstream times, and
 * one a section, so that each reported section's p99 is its own. The sections' sketches are
 * bounded as their table is (`SECTION_SKETCHES`, `keepTopSections`).
 */
import { createStore } from '@xstate/store';
import { fromCallback } from 'xstate';
import { fnv1a, KEY_KINDS, type KeyCounts, stableHashOf } from '../lib/byte-keys';
import { HyperLogLog } from '../lib/hyperloglog';
import { type LatencySummary, Sketch } from '../lib/sketch';
import { SpaceSaving } from '../lib/space-saving';
import { countLate } from './hit-window';
import type { AgentRoll, AgentsMessage, Batch, BatchMessage, FlushMessage, IntervalStats, ReporterMessage } from './messages';

/** Keys kept per table: memory stays bounded when every line brings a new host. */
export const TABLE_CAPACITY = 1000;

/**
 * Sections an interval keeps a duration sketch for, at most. Past it, only the sketches of the
 * TABLE_CAPACITY sections the sections table ranks highest are kept (`keepTopSections`): a
 * section that is reported (the top `limit` of that table) always has one, a flood of sections
 * seen once (a scan of random paths) costs a bounded amount (a small sketch is some 600 bytes),
 * and the prune runs once in 3,000 new sections. A section pruned and then timed again has a
 * sketch of its lines since then only; a section never pruned (every one, in an interval of
 * fewer than 4,000 timed sections) has the sketch of all its timed lines.
 */
export const SECTION_SKETCHES = 4 * TABLE_CAPACITY;

/** Distinct hosts, users and sections of an interval, in fixed memory (lib/hyperloglog.ts). */
export interface Uniques {
  hosts: HyperLogLog;
  users: HyperLogLog;
  sections: HyperLogLog;
}

export const newUniques = (): Uniques => ({ hosts: new HyperLogLog(), users: new HyperLogLog(), sections: new HyperLogLog() });

export interface Interval {
  start: number;
  unique: Uniques;
  hits: number;
  invalid: number;
  late: number;
  sections: SpaceSaving;
  users: SpaceSaving;
  hosts: SpaceSaving;
  methods: SpaceSaving;
  vhosts: SpaceSaving;
  status: number[];
  bytes: number;
  /** Durations of the interval's timed lines (ms); null until a segment brings one. */
  latency: Sketch | null;
  /** Upstream durations alike. */
  upstream: Sketch | null;
  /** Durations by section (the scanner's decoded key, as the sections table names it); bounded by SECTION_SKETCHES. */
  sectionLatency: Map<string, Sketch>;
  /**
   * The sections whose sketch in `sectionLatency` is still a segment's own, kept as it is (a
   * section timed in one segment only: most of a flood of new paths); it is copied before
   * anything is added to it.
   */
  borrowed: Set<string>;
}

/**
 * A new interval. Given the one before (already summarized), it takes over its tables and unique
 * counters, cleared: a busy interval's tables grow to thousands of keys (a host table to 4,000,
 * some 200 KiB with its slab), and making them again every interval was most of a replay's
 * garbage on traffic with many clients.
 */
export function newInterval(start: number, before?: Interval): Interval {
  if (!before) {
    const table = () => new SpaceSaving(TABLE_CAPACITY);
    return {
      start,
      unique: newUniques(),
      sections: table(),
      users: table(),
      hosts: table(),
      methods: table(),
      vhosts: table(),
      hits: 0,
      invalid: 0,
      late: 0,
      status: [0, 0, 0, 0, 0, 0],
      bytes: 0,
      latency: null,
      upstream: null,
      sectionLatency: new Map(),
      borrowed: new Set(),
    };
  }
  for (const u of Object.values(before.unique)) u.clear();
  for (const kind of KEY_KINDS) before[kind].clear();
  // The sketches themselves are made anew: a few an interval (one a section timed twice or more).
  before.sectionLatency.clear();
  before.borrowed.clear();
  return { ...before, start, hits: 0, invalid: 0, late: 0, status: [0, 0, 0, 0, 0, 0], bytes: 0, latency: null, upstream: null };
}

/** Adds a batch to the interval in place (intervals are private to the store). */
export function addBatch(interval: Interval, batch: Batch, late: number): Interval {
  for (const s of batch.segments) {
    if (s.printed) continue;
    interval.hits += s.hits;
    interval.invalid += s.invalid;
    interval.bytes += s.bytes;
    for (let i = 0; i < 6; i++) interval.status[i]! += s.status[i]!;
    addKeys(interval, s.keys);
    // A segment's sketches are its own (a merge queue may still hold it): merged into ours, never added to.
    if (s.latency) interval.latency = (interval.latency ?? new Sketch()).merge(s.latency);
    if (s.upstream) interval.upstream = (interval.upstream ?? new Sketch()).merge(s.upstream);
    if (s.sectionLatency) addSectionLatency(interval, s.sectionLatency);
  }
  interval.late += late;
  return interval;
}

/**
 * Merges a segment's sketches by section into the interval's. A section new to the interval keeps
 * the segment's sketch as it is (no copy: a flood of paths seen once allocates nothing here); a
 * second segment's sketch for it is merged into a copy of the first.
 */
function addSectionLatency(interval: Interval, bySection: Map<string, Sketch>) {
  const { sectionLatency: mine, borrowed } = interval;
  for (const [section, sketch] of bySection) {
    const into = mine.get(section);
    if (!into) {
      mine.set(section, sketch);
      borrowed.add(section);
    } else if (borrowed.delete(section)) {
      mine.set(section, new Sketch().merge(into).merge(sketch));
    } else {
      into.merge(sketch);
    }
  }
  // The segment's sections are in the table already (addKeys came first), so a new busy one stays.
  if (mine.size > SECTION_SKETCHES) keepTopSections(interval);
}

/** Drops the section sketches of every section outside the table's top TABLE_CAPACITY. */
export function keepTopSections(interval: Interval) {
  const keep = new Set(interval.sections.top(TABLE_CAPACITY).map(([section]) => section));
  for (const section of interval.sectionLatency.keys()) {
    if (keep.has(section)) continue;
    interval.sectionLatency.delete(section);
    interval.borrowed.delete(section);
  }
}

/**
 * Adds a segment's sections, users, hosts and methods to their tables, by their bytes and the
 * hashes the scanner packed with them (a decoded segment's keys are hashed here); and the
 * sections, users and hosts to the unique counts, unless the key was in its table already (it
 * was counted when it came in): a busy key costs the unique count nothing.
 */
function addKeys(interval: Interval, keys: KeyCounts) {
  const { bytes, entries, hashes } = keys;
  // A decoded segment's keys are hashed here, over one view of its bytes.
  const view = hashes ? null : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const unique = [interval.unique.sections, interval.unique.users, interval.unique.hosts];
  let i: number = KEY_KINDS.length;
  let start = 0;
  for (let kind = 0; kind < KEY_KINDS.length; kind++) {
    const table = interval[KEY_KINDS[kind]!];
    const distinct = unique[kind];
    for (let n = entries[kind]!; n > 0; n--, i += 2) {
      const end = entries[i]!;
      const h = i - KEY_KINDS.length;
      const stable = hashes ? hashes[h + 1]! : stableHashOf(view!, start, end);
      if (table.add(bytes, start, end, hashes ? hashes[h]! : fnv1a(bytes, start, end), stable, entries[i + 1]!)) distinct?.add(stable);
      start = end;
    }
  }
}

export function summarize(interval: Interval, end: number, limit: number, final = false): IntervalStats {
  const [other, c1, c2, c3, c4, c5] = interval.status as [number, number, number, number, number, number];
  const sections = interval.sections.top(limit);
  const latency = interval.latency?.summary();
  const upstream = interval.upstream?.summary();
  const sectionLatency: [string, LatencySummary][] = [];
  for (const [section] of sections) {
    const summary = interval.sectionLatency.get(section)?.summary();
    if (summary) sectionLatency.push([section, summary]);
  }
  return {
    start: interval.start,
    end,
    hits: interval.hits,
    invalid: interval.invalid,
    late: interval.late,
    sections,
    users: interval.users.top(limit),
    hosts: interval.hosts.top(limit),
    methods: interval.methods.top(limit),
    vhosts: interval.vhosts.top(limit),
    approximate: KEY_KINDS.filter((t) => interval[t].approximate),
    // An estimate can come out a little above the lines counted (10,055 hosts in 10,000 lines):
    // there cannot be more distinct keys than lines.
    unique: {
      hosts: Math.min(interval.unique.hosts.estimate(), interval.hits),
      users: Math.min(interval.unique.users.estimate(), interval.hits),
      sections: Math.min(interval.unique.sections.estimate(), interval.hits),
    },
    status: { '1xx': c1, '2xx': c2, '3xx': c3, '4xx': c4, '5xx': c5, other },
    bytes: interval.bytes,
    // Only when something was timed: a log without durations reports what it always did.
    ...(latency ? { latency } : {}),
    ...(upstream ? { upstream } : {}),
    ...(sectionLatency.length > 0 ? { sectionLatency } : {}),
    final,
  };
}

type StoreEvent = { type: 'batch'; batch: Batch; late: number } | { type: 'flush'; at: number; final: boolean };
type StoreEmitted = { type: 'stats'; stats: IntervalStats };

export function createIntervalStore(start: number, limit: number) {
  return createStore<{ interval: Interval }, StoreEvent, StoreEmitted>({
    context: { interval: newInterval(start) },
    on: {
      batch: (context, event) => ({
        interval: addBatch(context.interval, event.batch, event.late),
      }),
      flush: (context, event, enq) => {
        const { interval } = context;
        // A boundary at or before the interval's start (the centre stepping through the history
        // before its first interval) closes nothing: what came in stays for the first interval.
        if (event.at <= interval.start && !event.final) return context;
        enq.emit.stats({ stats: summarize(interval, Math.max(event.at, interval.start), limit, event.final) });
        return { interval: newInterval(event.at, interval) };
      },
    },
  });
}

export interface AggregatorInput {
  /** When the first interval begins, ms. */
  start: number;
  now: () => number;
  windowSeconds: number;
  /** How many sections, users, hosts and methods each interval reports. */
  limit: number;
  /** Following by log time: say once if most lines arrive too old for the window. */
  warnLate: boolean;
  /**
   * The fleet's centre: a segment that arrives after the clock has passed its second (an agent
   * that was silent, or behind) is late, as well as lines older than the window.
   */
  lateAfterEvaluation?: boolean;
}

/** Most of a busy interval was too old for the alert window: the writer's clock looks off. */
export function mostlyLate(stats: IntervalStats): boolean {
  return stats.hits >= 20 && stats.late * 2 > stats.hits;
}

export const sectionAggregator = fromCallback<BatchMessage | FlushMessage | AgentsMessage, AggregatorInput>(
  ({ input, receive, system }) => {
    const store = createIntervalStore(input.start, input.limit);
    let warned = false;
    let agents: AgentRoll | undefined;
    const subscription = store.on('stats', ({ stats }) => {
      const reporter = system.get('reporter');
      if (agents) stats.agents = { reporting: [...agents.reporting], silent: [...agents.silent] };
      reporter?.send({ type: 'stats', stats } satisfies ReporterMessage);
      if (input.warnLate && !warned && mostlyLate(stats)) {
        warned = true;
        reporter?.send({
          type: 'notice',
          level: 'warn',
          message:
            `${stats.late} of ${stats.hits} lines arrived older than the ${input.windowSeconds} s alert window, ` +
            `so they do not count for the alert: the log's timestamps look far from this machine's clock. ` +
            `Use --time-source arrival to count lines when they are read.`,
        } satisfies ReporterMessage);
      }
    });
    receive((message) => {
      if (message.type === 'agents') agents = message.roll;
      else if (message.type === 'batch') {
        const late = countLate(message.batch, input.now(), input.windowSeconds, input.lateAfterEvaluation);
        store.send({ type: 'batch', batch: message.batch, late });
      } else {
        store.send({ type: 'flush', at: message.at, final: message.final ?? false });
      }
    });
    return () => subscription.unsubscribe();
  },
);
