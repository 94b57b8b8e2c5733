/**
 * batches → the windows the rules of `--rules` read (the rule monitor's instances sample them once
 * a second). Like the hit window, filling is plain code outside the statecharts: one pass over a
 * batch's segments, never an event per line.
 *
 * A rule counts a line in the second it arrived: its segment's second, the newest timestamp seen
 * (the traffic rule of -t counts each line in its own second; the two differ only for lines
 * written out of order). Counts are the segments' own: hits, hits by status class and code, and
 * the keys by field, so that a rule matches one field and groups by one field, and the centre of
 * a fleet evaluates rules on what the agents already ship.
 */
import { fromCallback } from 'xstate';
import { decodeKey, eachKey, KEY_KINDS, type KeyKind } from '../lib/byte-keys';
import type { GroupField, MatchField, Rule } from '../lib/rules';
import { decimalFraction, exceeds, type RuleCheck, type RuleSample } from '../machines/alert';
import { lateBefore } from './hit-window';
import type { BatchMessage, Segment } from './messages';

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

const KIND_OF: Record<GroupField | Exclude<MatchField, 'status'>, number> = {
  section: KEY_KINDS.indexOf('sections' satisfies KeyKind),
  user: KEY_KINDS.indexOf('users' satisfies KeyKind),
  host: KEY_KINDS.indexOf('hosts' satisfies KeyKind),
  method: KEY_KINDS.indexOf('methods' satisfies KeyKind),
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

/** One rule's counts: the matching hits (and all hits, for a ratio), or the hits of each group. */
export class RuleWindow {
  private readonly matched: CountWindow;
  private readonly all: CountWindow | null;
  private readonly take: (seg: Segment) => number;
  /** A grouped rule's groups (at most `rule.groups`), with what holds them (an instance). */
  readonly groups = new Map<string, CountWindow>();
  private readonly held = new Set<string>();
  private readonly startSecond: number;

  constructor(
    readonly rule: Rule,
    /** When the monitor started, ms: a silence rule waits for a whole window first. */
    startedAt: number,
  ) {
    this.matched = new CountWindow(rule.windowSeconds);
    this.all = rule.kind === 'ratio' ? new CountWindow(rule.windowSeconds) : null;
    this.take = matcher(rule);
    this.startSecond = Math.floor(startedAt / 1000);
  }

  record(segments: Segment[], nowSecond: number) {
    const by = this.rule.by;
    for (const seg of segments) {
      // A segment with keys and no hits is one of an agent's split second's key-only parts: its keys count.
      if (seg.hits === 0 && seg.keys.bytes.length === 0) continue;
      if (by) this.recordGroups(seg, KIND_OF[by], nowSecond);
      else {
        const n = this.take(seg);
        if (n > 0) this.matched.add(seg.second, n, nowSecond);
        this.all?.add(seg.second, seg.hits, nowSecond);
      }
    }
  }

  /**
   * The busiest groups: a new key comes in while there is room, or in place of the quietest group
   * not held by an alert when it has more hits in this segment than that group has in its window.
   */
  private recordGroups(seg: Segment, kind: number, nowSecond: number) {
    let floor = -1;
    let quietest = '';
    eachKey(seg.keys, (k, bytes, start, end, count) => {
      if (k !== kind) return;
      const key = decodeKey(bytes, start, end);
      let window = this.groups.get(key);
      if (!window) {
        if (this.groups.size >= this.rule.groups) {
          if (floor < 0) [floor, quietest] = this.quietest(nowSecond);
          if (quietest === '' || count <= floor) return;
          this.groups.delete(quietest);
          floor = -1;
        }
        window = new CountWindow(this.rule.windowSeconds);
        this.groups.set(key, window);
      }
      window.add(seg.second, count, nowSecond);
      // The quietest group just got hits: it may be the quietest no more.
      if (key === quietest) floor = -1;
    });
  }

  private quietest(nowSecond: number): [number, string] {
    let floor = Infinity;
    let quietest = '';
    for (const [key, window] of this.groups) {
      if (this.held.has(key)) continue;
      const n = window.sumBefore(nowSecond + 1);
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
    for (const [key, window] of this.groups) if (!this.held.has(key) && window.sumBefore(second) === 0) this.groups.delete(key);
  }

  /** How an instance of the alert statechart samples this rule (one group of it). */
  check(group?: string): RuleCheck {
    const { rule } = this;
    const by = rule.by;
    return {
      rule: { name: rule.name, kind: rule.kind, ...(by && group !== undefined ? { group: { by, key: group } } : {}) },
      recover: rule.recover,
      sample: (second) => this.sample(second, group),
    };
  }

  /** The rule's window (one group's, for a grouped rule) at the evaluation of `second`. */
  sample(second: number, group?: string): RuleSample {
    const window = group === undefined ? this.matched : this.groups.get(group);
    const { rule } = this;
    const W = rule.windowSeconds;
    const hits = window?.sumBefore(second) ?? 0;
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
