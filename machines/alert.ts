/**
 * The alert statechart: `normal` → (`pending` →) `alerting` → `normal`.
 *
 * Every whole second (the `evaluateEvery` delay, driven by whatever clock the actor system was
 * given) it samples its window and compares. The high-traffic rule of -t and -a samples the
 * hits of the W most recent whole seconds against threshold × W; a rule from `--rules` brings
 * its own `check` (rate, ratio or silence over its window, with its recovery threshold). A rule
 * with `for` waits in `pending` until its condition has held that long; without one, `pending`
 * is never entered. The machine is pure: the windows and `now` are handed in as input (they are
 * filled outside it, so no event per batch runs through the interpreter), and alerts leave
 * through the `announceAlert` / `announceRecovery` actions (emitted events here; the alert
 * monitors provide versions that message the reporter).
 */
import { assign, emit, setup } from 'xstate';
import type { AlertEvent, RecoveryEvent, RuleAlert } from '../actors/messages';

/** Per-second hit counts, read once per evaluation. */
export interface HitWindow {
  /** Hits in the W whole seconds before `second`: [second - W, second). */
  hitsBefore(second: number): number;
  /** Hits of each of those seconds, oldest first. */
  series(second: number): number[];
}

/** What a rule's window says at an evaluation. */
export interface RuleSample {
  /** The hits the rule counts over its window. */
  hits: number;
  /** What is compared: req/s (rate), a fraction (ratio) or hits (silence). */
  value: number;
  /** ratio: all hits over the window. */
  total?: number;
  /** The firing condition holds. */
  over: boolean;
  /** The recovery condition holds (with hysteresis, not just "not over"). */
  clear: boolean;
}

/** A rule from `--rules` (one group of it, for a grouped rule): how to sample its window. */
export interface RuleCheck {
  rule: Pick<RuleAlert, 'name' | 'kind' | 'group' | 'quantile'>;
  /** The recovery threshold, when the rule has one. */
  recover?: number;
  sample(second: number): RuleSample;
}

export interface AlertInput {
  /** Requests per second, any positive number (a rule: its threshold, in its own unit). */
  threshold: number;
  /** W, in seconds. */
  windowSeconds: number;
  /** The high-traffic rule's window. */
  hitWindow?: HitWindow;
  /** A rule's window, in place of the hit window. */
  check?: RuleCheck;
  /** How long the condition must hold before it fires, s (0: at once, never `pending`). */
  forSeconds?: number;
  /** Sample at this instant (ms, a whole second) at once: an instance spawned when its group went over. */
  startAt?: number;
  /**
   * Sampled by its parent with `sample` events instead of its own timer (a group of a grouped
   * rule: the rule monitor samples every group once a second anyway, and tells an instance only
   * when the sample moves it).
   */
  driven?: boolean;
  /** Window samples are wanted (a dashboard or the inspector draws them). */
  samples?: boolean;
  now: () => number;
}

/** A sample taken by the parent at `at` (ms, a whole second), for a `driven` instance. */
export type SampleEvent = { type: 'sample'; at: number; sample: RuleSample };

/** A driven instance's own timer: never in practice (2^31 − 1 ms, 24.8 days), and harmless if it fires. */
const DRIVEN_DELAY = 2 ** 31 - 1;

export interface AlertContext extends AlertInput {
  /** Hits in the window at the last evaluation. */
  hits: number;
  /** The compared value at the last evaluation (a rule's). */
  value: number;
  total?: number;
  over: boolean;
  clear: boolean;
  /** The last evaluation instant, ms (a whole second). */
  at: number;
  /** When the current alert began, ms. */
  since: number;
  /** When the condition began to hold, ms (in `pending`). */
  pendingSince: number;
}

export type AlertEmitted =
  | { type: 'alert'; alert: AlertEvent }
  | { type: 'recovered'; recovery: RecoveryEvent }
  | { type: 'sample'; at: number; hits: number; series: number[] };

/**
 * hits > threshold × W, exactly: the threshold is taken as the decimal the user wrote
 * (2.5, 0.57), so no binary rounding can move the boundary.
 */
export function exceeds(hits: number, threshold: number, windowSeconds: number): boolean {
  const [num, den] = decimalFraction(threshold);
  return BigInt(hits) * den > num * BigInt(windowSeconds);
}

const fractions = new Map<number, [bigint, bigint]>();

/** A decimal as the user wrote it, as an exact fraction: 0.57 → [57n, 100n] (made once a value). */
export function decimalFraction(x: number): [bigint, bigint] {
  let f = fractions.get(x);
  if (!f) {
    f = parseDecimal(x);
    // A handful of thresholds in a run; the bound keeps a caller with many from growing it.
    if (fractions.size < 1024) fractions.set(x, f);
  }
  return f;
}

function parseDecimal(x: number): [bigint, bigint] {
  const [mantissa, exp = '0'] = String(x).toLowerCase().split('e');
  const [int, frac = ''] = mantissa!.split('.');
  let num = BigInt(int + frac);
  let den = 10n ** BigInt(frac.length);
  const e = Number(exp);
  if (e >= 0) num *= 10n ** BigInt(e);
  else den *= 10n ** BigInt(-e);
  return [num, den];
}

/** The window at the evaluation of `second`: the rule's own check, or hits against threshold × W. */
function sampleAt(input: AlertInput, second: number): Pick<AlertContext, 'hits' | 'value' | 'total' | 'over' | 'clear'> {
  if (input.check) return input.check.sample(second);
  const hits = input.hitWindow!.hitsBefore(second);
  const over = exceeds(hits, input.threshold, input.windowSeconds);
  return { hits, value: hits / input.windowSeconds, over, clear: !over };
}

export const alertMachine = setup({
  types: {
    input: {} as AlertInput,
    context: {} as AlertContext,
    events: {} as SampleEvent,
    emitted: {} as AlertEmitted,
  },
  delays: {
    /** Until the next whole second of the clock, so evaluations land on second boundaries. */
    evaluateEvery: ({ context }) => (context.driven ? DRIVEN_DELAY : 1000 - (context.now() % 1000)),
  },
  guards: {
    overThreshold: ({ context }) => context.over,
    overForAWhile: ({ context }) => context.over && (context.forSeconds ?? 0) > 0,
    heldLongEnough: ({ context }) => context.over && context.at - context.pendingSince >= (context.forSeconds ?? 0) * 1000,
    notOver: ({ context }) => !context.over,
    atOrBelowThreshold: ({ context }) => context.clear,
  },
  actions: {
    sampleWindow: assign(({ context }) => {
      const second = Math.floor(context.now() / 1000);
      return { at: second * 1000, ...sampleAt(context, second) };
    }),
    /** Tells whoever watches (a dashboard) what the window holds; no effect on the state. */
    reportSample: emit(({ context }) => ({
      type: 'sample' as const,
      at: context.at,
      hits: context.hits,
      series: context.hitWindow?.series(context.at / 1000) ?? [],
    })),
    /** A driven instance's sample, taken by its parent. */
    takeSample: assign(({ event }) => ({ at: event.at, ...event.sample })),
    markPendingStart: assign({ pendingSince: ({ context }) => context.at }),
    markAlertStart: assign({ since: ({ context }) => context.at }),
    announceAlert: emit(({ context }) => ({
      type: 'alert' as const,
      alert: alertEvent(context),
    })),
    announceRecovery: emit(({ context }) => ({
      type: 'recovered' as const,
      recovery: { ...alertEvent(context), since: context.since },
    })),
  },
}).createMachine({
  id: 'alert',
  context: ({ input }) => {
    const start = { hits: 0, value: 0, over: false, clear: true, at: 0, since: 0, pendingSince: 0 };
    if (input.startAt === undefined) return { ...input, ...start };
    return { ...input, ...start, at: input.startAt, ...sampleAt(input, input.startAt / 1000) };
  },
  initial: 'normal',
  // After it, the state's `always` transitions run as after a sample of its own.
  on: { sample: { actions: 'takeSample' } },
  states: {
    normal: {
      after: {
        evaluateEvery: { target: 'normal', reenter: true, actions: ['sampleWindow', 'reportSample'] },
      },
      always: [
        { guard: 'overForAWhile', target: 'pending', actions: 'markPendingStart' },
        { guard: 'overThreshold', target: 'alerting', actions: ['markAlertStart', 'announceAlert'] },
      ],
    },
    pending: {
      after: {
        evaluateEvery: { target: 'pending', reenter: true, actions: ['sampleWindow', 'reportSample'] },
      },
      always: [
        { guard: 'notOver', target: 'normal' },
        { guard: 'heldLongEnough', target: 'alerting', actions: ['markAlertStart', 'announceAlert'] },
      ],
    },
    alerting: {
      after: {
        evaluateEvery: { target: 'alerting', reenter: true, actions: ['sampleWindow', 'reportSample'] },
      },
      always: {
        guard: 'atOrBelowThreshold',
        target: 'normal',
        actions: 'announceRecovery',
      },
    },
  },
});

export function alertEvent(context: AlertContext): AlertEvent {
  const event: AlertEvent = {
    at: context.at,
    hits: context.hits,
    threshold: context.threshold,
    window: context.windowSeconds,
  };
  const check = context.check;
  if (!check) return event;
  const rule: RuleAlert = { ...check.rule, value: context.value };
  if (context.total !== undefined) rule.total = context.total;
  if (check.recover !== undefined) rule.recover = check.recover;
  return { ...event, rule };
}
