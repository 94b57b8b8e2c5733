/**
 * The alert monitor of the rules from `--rules`: one instance of the alert statechart
 * (machines/alert.ts) per rule, and per group of a grouped rule, wired to the reporter.
 *
 * A rule without `by` gets its instance at the start. A grouped rule gets one when a group goes
 * over (spawned sampling at that very second, so it fires then): once a second this machine
 * looks at the groups its window follows, and stops the instance of a group that is back to
 * normal with nothing left in its window. So a flood of hosts makes at most `groups` windows and
 * only as many statecharts as groups that went over.
 */
import { type ActorRefFrom, enqueueActions, sendTo, setup } from 'xstate';
import { alertEvent, alertMachine } from '../machines/alert';
import type { ReporterMessage } from './messages';
import type { RuleWindow } from './rule-window';

/** An instance that messages the reporter; rules draw no traffic chart, so no window samples. */
const ruleAlert = alertMachine.provide({
  actions: {
    reportSample: () => {},
    announceAlert: sendTo(
      ({ system }) => system.get('reporter'),
      ({ context }): ReporterMessage => ({ type: 'alert', alert: alertEvent(context) }),
    ),
    announceRecovery: sendTo(
      ({ system }) => system.get('reporter'),
      ({ context }): ReporterMessage => ({ type: 'recovered', recovery: { ...alertEvent(context), since: context.since } }),
    ),
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
    /** Groups that went over get an instance; quiet ones lose theirs and are forgotten. */
    watchGroups: enqueueActions(({ enqueue, context, self }) => {
      const at = Math.floor(context.now() / 1000) * 1000;
      const second = at / 1000;
      const children = self.getSnapshot().children as Record<string, ActorRefFrom<typeof ruleAlert> | undefined>;
      context.windows.forEach((w, i) => {
        if (!w.rule.by) return;
        for (const [group, window] of w.groups) {
          const id = instanceId(i, group);
          const child = children[id];
          if (child) {
            if (child.getSnapshot().value === 'normal' && window.sumBefore(second) === 0) {
              enqueue.stopChild(id);
              w.hold(group, false);
            }
            continue;
          }
          const check = w.check(group);
          if (!check.sample(second).over) continue;
          w.hold(group, true);
          enqueue.spawnChild('ruleAlert', {
            id,
            input: { threshold: w.rule.threshold, windowSeconds: w.rule.windowSeconds, forSeconds: w.rule.forSeconds, check, now: context.now, startAt: at },
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
