/**
 * The alert statechart, wired to the reporter (systemId `reporter`): it evaluates the hit window
 * (actors/hit-window.ts) once a second and messages alerts, recoveries and, when something draws
 * them (`samples`), window samples.
 */
import { sendTo } from 'xstate';
import { alertEvent, alertMachine } from '../machines/alert';
import type { ReporterMessage } from './messages';

export const alertMonitor = alertMachine.provide({
  actions: {
    // Only a dashboard or the inspector page draws the window: without one, no series is made.
    reportSample: ({ context, system }) => {
      if (!context.samples) return;
      system.get('reporter')?.send({
        type: 'window',
        at: context.at,
        hits: context.hits,
        series: context.hitWindow!.series(context.at / 1000),
      } satisfies ReporterMessage);
    },
    announceAlert: sendTo(
      ({ system }) => system.get('reporter'),
      ({ context }): ReporterMessage => ({ type: 'alert', alert: alertEvent(context) }),
    ),
    announceRecovery: sendTo(
      ({ system }) => system.get('reporter'),
      ({ context }): ReporterMessage => ({
        type: 'recovered',
        recovery: { ...alertEvent(context), since: context.since },
      }),
    ),
  },
});
