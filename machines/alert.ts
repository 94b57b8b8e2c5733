/**
 * The high-traffic alert statechart: `normal` ⇄ `alerting`.
 *
 * Every whole second (the `evaluateEvery` delay, driven by whatever clock the actor system was
 * given) it samples the hits of the W most recent whole seconds and compares them with
 * threshold × W. The machine is pure: the hit window and `now` are handed in as input (the
 * window is filled outside it, by actors/hit-window.ts, so no event per batch runs through the
 * interpreter), and alerts leave through the `announceAlert` / `announceRecovery` actions
 * (emitted events here; the alert monitor actor provides versions that message the reporter).
 */
import { assign, emit, setup } from 'xstate';
import type { AlertEvent, RecoveryEvent } from '../actors/messages';

/** Per-second hit counts, read once per evaluation. */
export interface HitWindow {
  /** Hits in the W whole seconds before `second`: [second - W, second). */
  hitsBefore(second: number): number;
  /** Hits of each of those seconds, oldest first. */
  series(second: number): number[];
}

export interface AlertInput {
  /** Requests per second, any positive number. */
  threshold: number;
  /** W, in seconds. */
  windowSeconds: number;
  hitWindow: HitWindow;
  now: () => number;
}

export interface AlertContext extends AlertInput {
  /** Hits in the window at the last evaluation. */
  hits: number;
  /** The last evaluation instant, ms (a whole second). */
  at: number;
  /** When the current alert began, ms. */
  since: number;
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

function decimalFraction(x: number): [bigint, bigint] {
  const [mantissa, exp = '0'] = String(x).toLowerCase().split('e');
  const [int, frac = ''] = mantissa!.split('.');
  let num = BigInt(int + frac);
  let den = 10n ** BigInt(frac.length);
  const e = Number(exp);
  if (e >= 0) num *= 10n ** BigInt(e);
  else den *= 10n ** BigInt(-e);
  return [num, den];
}

export const alertMachine = setup({
  types: {
    input: {} as AlertInput,
    context: {} as AlertContext,
    emitted: {} as AlertEmitted,
  },
  delays: {
    /** Until the next whole second of the clock, so evaluations land on second boundaries. */
    evaluateEvery: ({ context }) => 1000 - (context.now() % 1000),
  },
  guards: {
    overThreshold: ({ context }) => exceeds(context.hits, context.threshold, context.windowSeconds),
    atOrBelowThreshold: ({ context }) =>
      !exceeds(context.hits, context.threshold, context.windowSeconds),
  },
  actions: {
    sampleWindow: assign(({ context }) => {
      const second = Math.floor(context.now() / 1000);
      return { at: second * 1000, hits: context.hitWindow.hitsBefore(second) };
    }),
    /** Tells whoever watches (a dashboard) what the window holds; no effect on the state. */
    reportSample: emit(({ context }) => ({
      type: 'sample' as const,
      at: context.at,
      hits: context.hits,
      series: context.hitWindow.series(context.at / 1000),
    })),
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
  context: ({ input }) => ({ ...input, hits: 0, at: 0, since: 0 }),
  initial: 'normal',
  states: {
    normal: {
      after: {
        evaluateEvery: { target: 'normal', reenter: true, actions: ['sampleWindow', 'reportSample'] },
      },
      always: {
        guard: 'overThreshold',
        target: 'alerting',
        actions: ['markAlertStart', 'announceAlert'],
      },
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
  return {
    at: context.at,
    hits: context.hits,
    threshold: context.threshold,
    window: context.windowSeconds,
  };
}
