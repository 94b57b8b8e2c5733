/**
 * batches and alert states → the Metrics object (lib/metrics.ts) that `--metrics` serves.
 *
 * One more consumer of the parser's (or the replay clock's) batches, beside the aggregator and the
 * hit window: it counts each batch's segments while the batch is delivered (their keys are
 * borrowed) and its late lines as the aggregator counts them, so the counters' sums are what the
 * intervals print. Counting is a few adds a segment; rendering happens only when Prometheus
 * scrapes, in the server's own turn of the event loop, so the pipeline never waits on a scrape.
 *
 * Alert states:
 * - the high-traffic alert (rule "high_traffic", group ""): read from the `alert` actor's
 *   snapshot at each of its evaluations (once a second), as is the window's average it compares
 *   (hits / W). Nothing is asked of the alert machine.
 * - the rules' alerts (`--rules`): from the `alert` and `recovered` messages the rule monitor
 *   sends to `metrics` (the ones it sends to the reporter); a rule without `by` shows 0 from the
 *   start, a group of a grouped rule while it fires.
 * (At the centre, the fleet feed sets the agents reporting and silent, and their clock lags, itself.)
 */
import { type AnyActorRef, fromCallback, type Subscription } from 'xstate';
import type { Metrics } from '../lib/metrics';
import type { Rule } from '../lib/rules';
import type { AlertEvent, BatchMessage, ReporterMessage } from './messages';
import { countLate } from './hit-window';

/** The high-traffic alert of -t and -a, as the `rule` label names it. */
export const HIGH_TRAFFIC_RULE = 'high_traffic';

export type MetricsMessage = BatchMessage | Extract<ReporterMessage, { type: 'alert' | 'recovered' }>;

export interface MetricsFeedInput {
  metrics: Metrics;
  now: () => number;
  /** -a: the hit window, for late lines and the window's average. */
  windowSeconds: number;
  /** The fleet's centre: a segment handed on after the clock passed its second is late (as the aggregator counts). */
  lateAfterEvaluation: boolean;
  /** `--rules`: each rule without `by` shows as not firing from the start. */
  rules?: Rule[];
}

/** The `rule` and `group` labels of an alert or recovery. */
export function alertLabels(alert: AlertEvent): [rule: string, group: string] {
  return alert.rule ? [alert.rule.name, alert.rule.group?.key ?? ''] : [HIGH_TRAFFIC_RULE, ''];
}

/** What the metrics read of the `alert` actor's snapshot. */
interface AlertSnapshot {
  value: unknown;
  context: { hits: number; windowSeconds: number };
}

export const metricsFeed = fromCallback<MetricsMessage, MetricsFeedInput>(({ input, receive, system }) => {
  const { metrics } = input;
  metrics.setAlert(HIGH_TRAFFIC_RULE, '', false);
  for (const rule of input.rules ?? []) if (!rule.by) metrics.setAlert(rule.name, '', false);
  const readAlert = (snapshot: AlertSnapshot) => {
    metrics.setAlert(HIGH_TRAFFIC_RULE, '', snapshot.value === 'alerting');
    metrics.setWindowAverage(snapshot.context.hits / snapshot.context.windowSeconds);
  };
  const alert = system.get('alert') as AnyActorRef | undefined;
  let subscription: Subscription | undefined;
  if (alert) {
    readAlert(alert.getSnapshot() as AlertSnapshot);
    subscription = alert.subscribe((snapshot) => readAlert(snapshot as AlertSnapshot));
  }
  receive((message) => {
    switch (message.type) {
      case 'batch':
        metrics.addSegments(message.batch.segments);
        metrics.addLate(countLate(message.batch, input.now(), input.windowSeconds, input.lateAfterEvaluation));
        break;
      case 'alert':
        // The high-traffic alert's state is its snapshot's (above); a rule's is its messages'.
        if (message.alert.rule) metrics.setAlert(...alertLabels(message.alert), true);
        break;
      case 'recovered':
        if (message.recovery.rule) {
          // A rule without `by` shows 0 once recovered; a group's series goes (only the groups firing show).
          const [rule, group] = alertLabels(message.recovery);
          if (group === '') metrics.setAlert(rule, group, false);
          else metrics.clearAlert(rule, group);
        }
        break;
    }
  });
  return () => subscription?.unsubscribe();
});
