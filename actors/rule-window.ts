/**
 * batches → the windows the rules of `--rules` read (the rule monitor's instances sample them once
 * a second). Like the hit window, filling is plain code outside the statecharts: one pass over a
 * batch's segments, never an event per line.
 *
 * A rule counts a line in the second it arrived: its segment's second, the newest timestamp seen
 * (the traffic rule of -t counts each line in its own second; the two differ only for lines
 * written out of order). Counts are the segments' own: hits, hits by status class and code, and
 * the keys by field, so that a rule matches one field and groups by one field, and the centre of
 * a fleet evaluates rules on what the agents already ship. A latency rule reads the segments'
 * duration sketches instead (all timed lines, by section, by virtual host, by status class),
 * into a `LatencyWindow`: a second's durations a slot, and a running sketch of the window that
 * takes a second in and gives the oldest back, never a merge of W sketches.
 */
import { fromCallback } from 'xstate';
import { decodeKey, eachKey, KEY_KINDS, type KeyKind } from '../lib/byte-keys';
import { type GroupField, LATENCY_CEILING_MS, LATENCY_FLOOR_MS, type MatchField, type Rule } from '../lib/rules';
import { bucketIndex, bucketValue, type Sketch } from '../lib/sketch';
import { decimalFraction, exceeds, type RuleCheck, type RuleSample } from '../machines/alert';
import { lateBefore } from './hit-window';
import type { BatchMessage, RuleAlert, Segment } from './messages';

/** The most a second's slot holds in 4 bytes; a second past it (4.3 billion hits) widens its ring. */
const MAX_SLOT = 0xffff_ffff;

/**
 * A ring of W one-second counts with a running sum: adding, and the sum of the W seconds before
 * an instant, cost O(1) amortized whatever W (a rule's window may be a day).
 *
 * 4 bytes a second (`ruleCost` in lib/rules.ts counts on it): a slot holds only a count, and which
 * second it holds follows from the newest second written (`head`); the slots of the seconds the
 * ring moves past are emptied as it moves. The array starts as zeros, so the memory is touched as
 * seconds get hits.
 */
export class CountWindow {
  private counts: Uint32Array | Float64Array;
  /** The sum of every slot. */
  private total = 0;
  /** The slots hold the seconds (head − slots, head]. */
  private head = -Infinity;
  /** Seconds before this have been taken out of the sum (their slots emptied). */
  private expired = -Infinity;

  /**
   * W + 2 slots: the second being evaluated and the next may hold counts already (a timer that
   * fired late) without taking the slot of a second still in the window.
   */
  private readonly slots: number;

  constructor(readonly size: number) {
    this.slots = size + 2;
    this.counts = new Uint32Array(this.slots);
  }

  /** Counts `n` at `second` (one in the future counts at now); false when it is too old for the window (late). */
  add(second: number, n: number, nowSecond: number): boolean {
    const at = Math.min(second, nowSecond);
    if (at < lateBefore(nowSecond, this.size) || at < this.expired) return false;
    // Only a clock that went back more than 2 s can ask for a second the ring has moved past.
    if (at <= this.head - this.slots) return false;
    if (at > this.head) this.moveTo(at);
    const slot = this.slotOf(at);
    const count = this.counts[slot]! + n;
    if (count > MAX_SLOT && this.counts instanceof Uint32Array) this.counts = Float64Array.from(this.counts);
    this.counts[slot] = count;
    this.total += n;
    return true;
  }

  /** The counts of the W whole seconds before `second`: [second − W, second). */
  sumBefore(second: number): number {
    const from = second - this.size;
    if (this.head === -Infinity) return 0;
    const oldest = this.head - this.slots + 1;
    if (from > this.expired) {
      // Empty the slots of the seconds held before `from` (at most every slot once).
      for (let s = Math.max(this.expired, oldest); s < from && s <= this.head; s++) this.empty(this.slotOf(s));
      this.expired = from;
    }
    // The second being evaluated, or the next, may already have counts (a timer that fired late).
    let newer = 0;
    for (let s = Math.max(second, oldest); s <= Math.min(second + 1, this.head); s++) newer += this.counts[this.slotOf(s)]!;
    return this.total - newer;
  }

  /** The ring moves on to `second`: the slots it takes over held seconds now out of every window. */
  private moveTo(second: number) {
    if (this.head === -Infinity) {
      // A new ring: all zeros, left untouched.
    } else if (second - this.head >= this.slots) {
      this.counts.fill(0);
      this.total = 0;
    } else {
      for (let s = this.head + 1; s <= second; s++) this.empty(this.slotOf(s));
    }
    this.head = second;
  }

  private empty(slot: number) {
    this.total -= this.counts[slot]!;
    this.counts[slot] = 0;
  }

  private slotOf(second: number): number {
    return ((second % this.slots) + this.slots) % this.slots;
  }
}

const FLOOR_BUCKET = bucketIndex(LATENCY_FLOOR_MS);
const CEILING_BUCKET = bucketIndex(LATENCY_CEILING_MS);
const EMPTY_COUNTS = new Uint32Array(0);

/**
 * The durations of one second: a count a bucket of the sketch (1 %), over the buckets it saw, its
 * durations clamped to 1 µs .. 1 h (below: the first bucket, above: the last; zeros stay zeros).
 */
class SecondDurations {
  zero = 0;
  count = 0;
  /** Bucket index of counts[0]. */
  offset = 0;
  counts: Uint32Array | Float64Array = EMPTY_COUNTS;

  add(sketch: Sketch) {
    const { zero, offset, counts: from } = sketch.buckets();
    this.zero += zero;
    this.count += sketch.count;
    const n = from.length;
    if (n === 0) return;
    this.cover(clampBucket(offset), clampBucket(offset + n - 1));
    for (let j = 0; j < n; j++) {
      const c = from[j]!;
      if (c === 0) continue;
      const slot = clampBucket(offset + j) - this.offset;
      const total = this.counts[slot]! + c;
      // A bucket past 4,294,967,295 durations in one second: that second's counts widen.
      if (total > MAX_SLOT && this.counts instanceof Uint32Array) this.counts = Float64Array.from(this.counts);
      this.counts[slot] = total;
    }
  }

  /** The counts cover buckets lo..hi, exactly: a second is written a few times, and takes what it saw. */
  private cover(lo: number, hi: number) {
    const length = this.counts.length;
    if (length > 0 && lo >= this.offset && hi < this.offset + length) return;
    const from = length === 0 ? lo : Math.min(lo, this.offset);
    const to = length === 0 ? hi : Math.max(hi, this.offset + length - 1);
    const counts = this.counts instanceof Float64Array ? new Float64Array(to - from + 1) : new Uint32Array(to - from + 1);
    if (length > 0) counts.set(this.counts, this.offset - from);
    this.counts = counts;
    this.offset = from;
  }
}

const clampBucket = (index: number) => (index < FLOOR_BUCKET ? FLOOR_BUCKET : index > CEILING_BUCKET ? CEILING_BUCKET : index);

/**
 * The running sketch of a latency window: a count for every bucket from 1 µs to 1 h, to which a
 * second is added when it enters the window and from which it is subtracted when it leaves. Its
 * quantiles are DDSketch's: the value of the bucket holding the value at the rank, within 1 %.
 */
export class WindowDurations {
  private readonly counts = new Float64Array(CEILING_BUCKET - FLOOR_BUCKET + 1);
  private zero = 0;
  /** No bucket above this one holds a duration (where a quantile starts counting down from). */
  private top = -1;
  /** Timed hits in the window. */
  count = 0;

  /** Adds (+1) or subtracts (−1) a second's durations. */
  take(second: SecondDurations, sign: 1 | -1) {
    this.zero += sign * second.zero;
    this.count += sign * second.count;
    const { counts } = second;
    const base = second.offset - FLOOR_BUCKET;
    if (sign > 0) this.top = Math.max(this.top, base + counts.length - 1);
    else if (this.count === 0) this.top = -1;
    for (let j = 0; j < counts.length; j++) {
      const c = counts[j]!;
      if (c !== 0) this.counts[base + j]! += sign * c;
    }
  }

  /**
   * The value at quantile q (0 < q < 1), ms: the value of rank ⌊q (count − 1)⌋ (0-based, from the
   * fastest), within 1 %, as `Sketch.quantile` ranks; 0 when it is a zero; NaN when empty. Counted
   * from the slow end, where the quantiles a rule compares (p90, p99) are.
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const above = this.count - Math.floor(q * (this.count - 1));
    let seen = 0;
    for (let j = this.top; j >= 0; j--) {
      seen += this.counts[j]!;
      if (seen >= above) return bucketValue(j + FLOOR_BUCKET);
    }
    return 0;
  }
}

/**
 * A latency rule's window (one group's): W + 2 one-second slots of durations, as `CountWindow`
 * keeps counts, and the running sketch of the seconds [from, to): an evaluation moves it on,
 * adding the seconds that came in and subtracting those that left, so it costs what those
 * seconds hold, whatever W. A second of no timed hit holds nothing.
 *
 * The invariant: `window` holds exactly the slots of the seconds in [from, to) that the ring still
 * holds. Seconds before `from` have left every window still to come: their slots are dropped, and
 * a duration for them is late (refused).
 */
export class LatencyWindow {
  private readonly ring: (SecondDurations | undefined)[];
  private readonly slots: number;
  /** The slots hold the seconds (head − slots, head]. */
  private head = -Infinity;
  private from = -Infinity;
  private to = -Infinity;
  /** The durations of [from, to): read it through `at`. */
  private readonly window = new WindowDurations();

  constructor(readonly size: number) {
    this.slots = size + 2;
    this.ring = new Array(this.slots).fill(undefined);
  }

  /** Adds a second's durations (a future second counts at now); false when it is too old for the window (late). */
  add(second: number, durations: Sketch, nowSecond: number): boolean {
    const at = Math.min(second, nowSecond);
    if (at < lateBefore(nowSecond, this.size) || at < this.from || at <= this.head - this.slots) return false;
    if (durations.count === 0) return true;
    if (at > this.head) this.moveTo(at);
    const slot = this.slotOf(at);
    const into = (this.ring[slot] ??= new SecondDurations());
    if (at < this.to) {
      // A second in the window already (a timer that fired late): the window takes these too.
      this.window.take(into, -1);
      into.add(durations);
      this.window.take(into, 1);
    } else into.add(durations);
    return true;
  }

  /**
   * The durations of the W whole seconds before `second`: [second − W, second) (the window's own:
   * read it, do not keep it). Seconds that leave are dropped for good, so a clock gone back finds
   * the window no older than it was.
   */
  at(second: number): WindowDurations {
    const from = Math.max(second - this.size, this.from);
    const to = Math.max(second, from);
    // Out: the seconds that left, and any past `to` (a clock gone back). In: those that came.
    this.take(this.from, Math.min(this.to, from), -1);
    this.take(Math.max(to, this.from), this.to, -1);
    this.take(Math.max(from, this.to), to, 1);
    const oldest = this.head - this.slots + 1;
    if (this.head !== -Infinity) for (let s = Math.max(this.from, oldest); s < from && s <= this.head; s++) this.ring[this.slotOf(s)] = undefined;
    this.from = from;
    this.to = to;
    return this.window;
  }

  /** Every timed hit it holds: the window's, and those of the seconds after it (for choosing the quietest group). */
  held(): number {
    let n = this.window.count;
    if (this.head !== -Infinity) for (let s = Math.max(this.to, this.head - this.slots + 1); s <= this.head; s++) n += this.ring[this.slotOf(s)]?.count ?? 0;
    return n;
  }

  /** Adds (+1) or subtracts (−1) the held slots of the seconds [a, b) to the running sketch. */
  private take(a: number, b: number, sign: 1 | -1) {
    if (this.head === -Infinity) return;
    const last = Math.min(b - 1, this.head);
    for (let s = Math.max(a, this.head - this.slots + 1); s <= last; s++) {
      const durations = this.ring[this.slotOf(s)];
      if (durations) this.window.take(durations, sign);
    }
  }

  /** The ring moves on to `second`: the slots it takes over held seconds now out of every window. */
  private moveTo(second: number) {
    // The seconds (head − slots, second − slots] give their slots up; those in the window leave it.
    const last = Math.min(second - this.slots, this.head);
    if (this.head !== -Infinity) {
      for (let s = this.head - this.slots + 1; s <= last; s++) {
        const slot = this.slotOf(s);
        const durations = this.ring[slot];
        if (durations && s >= this.from && s < this.to) this.window.take(durations, -1);
        this.ring[slot] = undefined;
      }
    }
    this.head = second;
  }

  private slotOf(second: number): number {
    return ((second % this.slots) + this.slots) % this.slots;
  }
}

const KIND_OF: Record<GroupField | Exclude<MatchField, 'status'>, number> = {
  section: KEY_KINDS.indexOf('sections' satisfies KeyKind),
  user: KEY_KINDS.indexOf('users' satisfies KeyKind),
  host: KEY_KINDS.indexOf('hosts' satisfies KeyKind),
  method: KEY_KINDS.indexOf('methods' satisfies KeyKind),
  vhost: KEY_KINDS.indexOf('vhosts' satisfies KeyKind),
};

const encoder = new TextEncoder();

/** How many hits of a segment a rule's `match` takes (all of them without one). */
function matcher(rule: Rule): (seg: Segment) => number {
  const match = rule.match;
  if (!match) return (seg) => seg.hits;
  if (match.field === 'status') {
    // Any of the values matches: a value listed twice (or a code within a listed class) counts once.
    const values = [...new Set(match.values.map((v) => v.toLowerCase()))];
    const classes = values.filter((v) => v.endsWith('xx')).map((v) => Number(v[0]));
    const codes = values.filter((v) => !v.endsWith('xx')).map(Number);
    return (seg) => {
      let n = 0;
      for (const c of classes) n += seg.status[c]!;
      for (const code of codes) if (!classes.includes(Math.floor(code / 100))) n += seg.codes.get(code) ?? 0;
      return n;
    };
  }
  const kind = KIND_OF[match.field];
  const wanted = [...new Set(match.values)].map((v) => encoder.encode(v));
  return (seg) => {
    let n = 0;
    eachKey(seg.keys, (k, bytes, start, end, count) => {
      if (k !== kind) return;
      for (const w of wanted) {
        if (w.length !== end - start) continue;
        let i = 0;
        while (i < w.length && w[i] === bytes[start + i]) i++;
        if (i === w.length) n += count;
      }
    });
    return n;
  };
}

/** The durations of a segment a latency rule without `by` takes: all timed lines, or its match's. */
function timedOf(rule: Rule): (seg: Segment) => (Sketch | undefined)[] {
  const match = rule.match;
  if (!match) return (seg) => [seg.latency];
  // Any of the values matches: a value listed twice counts once (the loader lets only classes through for status).
  const values = [...new Set(match.values.map((v) => (match.field === 'status' ? v.toLowerCase() : v)))];
  switch (match.field) {
    case 'status': {
      const classes = values.map((v) => Number(v[0]));
      return (seg) => classes.map((c) => seg.classLatency?.[c]);
    }
    case 'vhost':
      return (seg) => values.map((v) => seg.vhostLatency?.get(v));
    default:
      return (seg) => values.map((v) => seg.sectionLatency?.get(v));
  }
}

/** A group's window: hits for a rate rule, durations for a latency rule. */
type GroupWindow = CountWindow | LatencyWindow;

/** What a group holds, for choosing the quietest: its hits up to now (timed hits, for latency). */
const heldHits = (window: GroupWindow, nowSecond: number) => (window instanceof CountWindow ? window.sumBefore(nowSecond + 1) : window.held());

/**
 * One rule's window: the matching hits (and all hits, for a ratio) or the matching durations (a
 * latency rule), or those of each group.
 */
export class RuleWindow {
  private readonly matched: CountWindow | null;
  private readonly all: CountWindow | null;
  private readonly durations: LatencyWindow | null;
  private readonly take: (seg: Segment) => number;
  private readonly timed: (seg: Segment) => (Sketch | undefined)[];
  /** A grouped rule's groups (at most `rule.groups`), with what holds them (an instance). */
  readonly groups = new Map<string, GroupWindow>();
  private readonly held = new Set<string>();
  private readonly startSecond: number;

  constructor(
    readonly rule: Rule,
    /** When the monitor started, ms: a silence rule waits for a whole window first. */
    startedAt: number,
  ) {
    const latency = rule.kind === 'latency';
    // A grouped rule's windows are its groups'.
    this.matched = latency || rule.by ? null : new CountWindow(rule.windowSeconds);
    this.all = rule.kind === 'ratio' ? new CountWindow(rule.windowSeconds) : null;
    this.durations = latency && !rule.by ? new LatencyWindow(rule.windowSeconds) : null;
    this.take = matcher(rule);
    this.timed = latency ? timedOf(rule) : () => [];
    this.startSecond = Math.floor(startedAt / 1000);
  }

  record(segments: Segment[], nowSecond: number) {
    const by = this.rule.by;
    const latency = this.rule.kind === 'latency';
    for (const seg of segments) {
      if (latency) {
        this.recordDurations(seg, nowSecond);
        continue;
      }
      // A segment with keys and no hits is one of an agent's split second's key-only parts: its keys count.
      if (seg.hits === 0 && seg.keys.bytes.length === 0) continue;
      if (by) this.recordGroups(seg, KIND_OF[by], nowSecond);
      else {
        const n = this.take(seg);
        if (n > 0) this.matched!.add(seg.second, n, nowSecond);
        this.all?.add(seg.second, seg.hits, nowSecond);
      }
    }
  }

  /** A latency rule's: the segment's matching durations, or each group's (by section or vhost). */
  private recordDurations(seg: Segment, nowSecond: number) {
    const by = this.rule.by;
    if (!by) {
      for (const sketch of this.timed(seg)) if (sketch && sketch.count > 0) this.durations!.add(seg.second, sketch, nowSecond);
      return;
    }
    const timed = by === 'vhost' ? seg.vhostLatency : seg.sectionLatency;
    if (!timed) return;
    const admit = this.admitter(nowSecond);
    for (const [key, sketch] of timed) {
      if (sketch.count === 0) continue;
      const window = admit(key, sketch.count);
      if (window instanceof LatencyWindow) window.add(seg.second, sketch, nowSecond);
    }
  }

  private recordGroups(seg: Segment, kind: number, nowSecond: number) {
    const admit = this.admitter(nowSecond);
    eachKey(seg.keys, (k, bytes, start, end, count) => {
      if (k !== kind) return;
      const window = admit(decodeKey(bytes, start, end), count);
      if (window instanceof CountWindow) window.add(seg.second, count, nowSecond);
    });
  }

  /**
   * The busiest groups, for one segment's keys: a new key comes in while there is room, or in place
   * of the quietest group not held by an alert when it has more hits in this segment than that
   * group has in its window. Returns the key's window, or nothing when it is turned away.
   */
  private admitter(nowSecond: number) {
    let floor = -1;
    let quietest = '';
    return (key: string, count: number): GroupWindow | undefined => {
      let window = this.groups.get(key);
      if (!window) {
        if (this.groups.size >= this.rule.groups) {
          if (floor < 0) [floor, quietest] = this.quietest(nowSecond);
          if (quietest === '' || count <= floor) return undefined;
          this.groups.delete(quietest);
          floor = -1;
        }
        window = this.rule.kind === 'latency' ? new LatencyWindow(this.rule.windowSeconds) : new CountWindow(this.rule.windowSeconds);
        this.groups.set(key, window);
      }
      // The quietest group gets hits: it may be the quietest no more.
      if (key === quietest) floor = -1;
      return window;
    };
  }

  private quietest(nowSecond: number): [number, string] {
    let floor = Infinity;
    let quietest = '';
    for (const [key, window] of this.groups) {
      if (this.held.has(key)) continue;
      const n = heldHits(window, nowSecond);
      if (n < floor) [floor, quietest] = [n, key];
    }
    return [floor, quietest];
  }

  /** An instance follows the group: it is not replaced by a busier one while held. */
  hold(group: string, on: boolean) {
    if (on) this.held.add(group);
    else this.held.delete(group);
  }

  /** Groups with nothing in the window at `second` and no instance: forgotten. */
  forgetQuiet(second: number) {
    for (const [key, window] of this.groups) {
      if (this.held.has(key)) continue;
      const quiet = window instanceof CountWindow ? window.sumBefore(second) === 0 : window.at(second).count === 0 && window.held() === 0;
      if (quiet) this.groups.delete(key);
    }
  }

  /** How an instance of the alert statechart samples this rule (one group of it). */
  check(group?: string): RuleCheck {
    const { rule } = this;
    const by = rule.by;
    // A latency rule's alerts say which quantile they compared (the reporter prints p99).
    const alert: Pick<RuleAlert, 'name' | 'kind' | 'group' | 'quantile'> = {
      name: rule.name,
      kind: rule.kind,
      ...(by && group !== undefined ? { group: { by, key: group } } : {}),
      ...(rule.quantile !== undefined ? { quantile: rule.quantile } : {}),
    };
    return { rule: alert, recover: rule.recover, sample: (second) => this.sample(second, group) };
  }

  /** The rule's window (one group's, for a grouped rule) at the evaluation of `second`. */
  sample(second: number, group?: string): RuleSample {
    const window = group === undefined ? (this.matched ?? this.durations) : this.groups.get(group);
    const { rule } = this;
    if (rule.kind === 'latency') return this.sampleDurations(window instanceof LatencyWindow ? window.at(second) : undefined);
    const W = rule.windowSeconds;
    const hits = window instanceof CountWindow ? window.sumBefore(second) : 0;
    switch (rule.kind) {
      case 'rate': {
        const over = exceeds(hits, rule.threshold, W);
        const clear = rule.recover === undefined ? !over : !exceeds(hits, rule.recover, W);
        return { hits, value: hits / W, over, clear };
      }
      case 'ratio': {
        const total = this.all!.sumBefore(second);
        const enough = total >= rule.minHits && total > 0;
        const above = (fraction: number) => {
          const [num, den] = decimalFraction(fraction);
          return BigInt(hits) * den > num * BigInt(total);
        };
        const over = enough && above(rule.threshold);
        // Too few hits to judge: not firing, and an alert ends.
        const clear = !enough || (rule.recover === undefined ? !over : !above(rule.recover));
        return { hits, value: total > 0 ? hits / total : 0, total, over, clear };
      }
      case 'silence': {
        // Not before a whole window has been watched: an empty window at the start is no silence.
        const watched = second - this.startSecond >= W;
        const over = watched && hits < rule.threshold;
        const clear = rule.recover === undefined ? !over : hits >= rule.recover;
        return { hits, value: hits, over, clear };
      }
    }
  }

  /**
   * A latency rule: the quantile of the window's timed hits (within the sketch's 1 %) against the
   * latency, with at least min_hits timed hits; with fewer, not firing, and an alert ends (as a
   * ratio's does). The value of an empty window is 0.
   */
  private sampleDurations(window: WindowDurations | undefined): RuleSample {
    const { rule } = this;
    const hits = window?.count ?? 0;
    const value = hits > 0 ? window!.quantile(rule.quantile!) : 0;
    const enough = hits >= rule.minHits && hits > 0;
    const over = enough && value > rule.threshold;
    const clear = !enough || value <= (rule.recover ?? rule.threshold);
    return { hits, value, over, clear };
  }
}

export interface RuleWindowsInput {
  windows: RuleWindow[];
  now: () => number;
}

/** Records each batch into every rule's window. */
export const ruleWindows = fromCallback<BatchMessage, RuleWindowsInput>(({ input, receive }) => {
  receive((message) => {
    const nowSecond = Math.floor(input.now() / 1000);
    for (const w of input.windows) w.record(message.batch.segments, nowSecond);
  });
});
