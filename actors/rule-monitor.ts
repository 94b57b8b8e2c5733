/**
 * The alert monitor of the rules from `--rules`: one instance of the alert statechart
 * (machines/alert.ts) per rule, and per group of a grouped rule, wired to the reporter.
 *
 * A rule without `by` gets its instance at the start, which samples its window on its own
 * timer. A grouped rule's instances are driven: once a second this machine samples every group
 * its window follows (running sums: O(1) a group for counts; for a latency rule, what the second
 * that enters and the one that leaves hold, and the quantile read from the slow end), spawns an
 * instance for a group that goes over
 * (sampling at that very second, so it fires then), sends an instance the sample only when it
 * moves it (`pending`: every second; `alerting`: once it is clear), and stops an instance back in
 * `normal`. So a flood of hosts makes at most `groups` windows, statecharts only for the groups
 * going through an alert, and interpreter work only at their transitions.
 */
import { type ActorRefFrom, type AnyActorRef, enqueueActions, setup } from 'xstate';
import { alertEvent, alertMachine } from '../machines/alert';
import type { ReporterMessage } from './messages';
import type { RuleWindow } from './rule-window';

/** Who hears of a rule's alerts and recoveries: the reporter, and the metrics when served. */
const listeners = (system: { get(id: string): AnyActorRef | undefined }) =>
  ['reporter', 'metrics'].flatMap((id) => system.get(id) ?? []);

/** An instance that messages the reporter; rules draw no traffic chart, so no window samples. */
const ruleAlert = alertMachine.provide({
  actions: {
    reportSample: () => {},
    // The reporter prints it; the metrics (`--metrics`), when there are, show the rule firing.
    announceAlert: enqueueActions(({ enqueue, context, system }) => {
      for (const to of listeners(system)) enqueue.sendTo(to, { type: 'alert', alert: alertEvent(context) } satisfies ReporterMessage);
    }),
    announceRecovery: enqueueActions(({ enqueue, context, system }) => {
      const message: ReporterMessage = { type: 'recovered', recovery: { ...alertEvent(context), since: context.since } };
      for (const to of listeners(system)) enqueue.sendTo(to, message);
    }),
  },
});

export interface RuleMonitorInput {
  windows: RuleWindow[];
  now: () => number;
}

const instanceId = (rule: number, group?: string) => (group === undefined ? `rule-${rule}` : `rule-${rule}-${group}`);

export const ruleMonitor = setup({
  types: {
    input: {} as RuleMonitorInput,
    context: {} as RuleMonitorInput,
  },
  actors: { ruleAlert },
  delays: {
    evaluateEvery: ({ context }) => 1000 - (context.now() % 1000),
  },
  actions: {
    spawnRules: enqueueActions(({ enqueue, context }) => {
      context.windows.forEach((w, i) => {
        if (w.rule.by) return;
        enqueue.spawnChild('ruleAlert', {
          id: instanceId(i),
          input: { threshold: w.rule.threshold, windowSeconds: w.rule.windowSeconds, forSeconds: w.rule.forSeconds, check: w.check(), now: context.now },
        });
      });
    }),
    /**
     * Every group is sampled (O(1) each: running sums): one that goes over gets an instance; an
     * instance is sent the sample only when it moves it (pending: every second; alerting: once
     * clear); an instance back to normal is stopped, and quiet groups are forgotten.
     */
    watchGroups: enqueueActions(({ enqueue, context, self }) => {
      const at = Math.floor(context.now() / 1000) * 1000;
      const second = at / 1000;
      const children = self.getSnapshot().children as Record<string, ActorRefFrom<typeof ruleAlert> | undefined>;
      context.windows.forEach((w, i) => {
        if (!w.rule.by) return;
        for (const group of w.groups.keys()) {
          const id = instanceId(i, group);
          const child = children[id];
          const state = child?.getSnapshot().value;
          if (state === 'normal') {
            enqueue.stopChild(id);
            w.hold(group, false);
          }
          const sample = w.sample(second, group);
          if (child && state !== 'normal') {
            if (state === 'pending' || sample.clear) enqueue.sendTo(child, { type: 'sample', at, sample });
            continue;
          }
          if (!sample.over) continue;
          w.hold(group, true);
          enqueue.spawnChild('ruleAlert', {
            id,
            input: { threshold: w.rule.threshold, windowSeconds: w.rule.windowSeconds, forSeconds: w.rule.forSeconds, check: w.check(group), now: context.now, startAt: at, driven: true },
          });
        }
        w.forgetQuiet(second);
      });
    }),
  },
}).createMachine({
  id: 'rules',
  context: ({ input }) => input,
  entry: 'spawnRules',
  initial: 'watching',
  states: {
    watching: {
      after: {
        evaluateEvery: { target: 'watching', reenter: true, actions: 'watchGroups' },
      },
    },
  },
});
