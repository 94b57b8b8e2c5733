/**
 * The agent's root (`entry.ts agent`): on a web server, it follows the logs with the monitor's
 * tailer and parser and publishes what they counted to the fleet's stream; the centre does the
 * rest. Nothing here knows NATS: `publish` is given by the command.
 *
 *   tailer → parser → publisher → (NATS)
 *      ▲ marks ────────────┘ backlog.full pauses the tailer
 */
import { enqueueActions, setup } from 'xstate';
import { parser } from '../actors/parser';
import type { LogFormat } from '../lib/log-format';
import { type Backlog, publisher } from '../actors/publisher';
import { reporter } from '../actors/reporter';
import { tailer } from '../actors/tailer';
import type { CountsMessage, FileMark } from '../lib/wire';

export interface AgentInput {
  agent: string;
  /** This process's random id, on every message. */
  instance?: string;
  /** The largest message the server takes, bytes. */
  maxBytes?: number;
  paths: string[];
  /** `--log-format`'s; absent: each file's first lines decide. */
  format?: LogFormat;
  pollMs: number;
  watch: boolean;
  /** Where the last run stopped, from the last message on the agent's subject. */
  resume: FileMark[];
  firstSeq: number;
  /** The clock of the last message before a restart. */
  firstClock?: number;
  publish: (message: CountsMessage) => Promise<void>;
  /** The wall clock, ms. */
  now: () => number;
  /** The longest time between messages, ms. */
  everyMs: number;
  /** How long after its second a line may still be written, ms. */
  graceMs: number;
  /** Messages that may wait for the stream before reading stops. */
  maxQueued: number;
  err: (line: string) => void;
}

/** What an agent did, once it has stopped: messages the stream acknowledged, and those it never got. */
export interface AgentOutput {
  published: number;
  unsent: number;
}

export const agentMachine = setup({
  types: {
    input: {} as AgentInput,
    context: {} as AgentInput & { backlog: Backlog },
    output: {} as AgentOutput,
    events: {} as { type: 'stop' } | { type: 'end' } | { type: 'drained' },
  },
  actors: { tailer, parser, publisher, reporter },
  actions: {
    startActors: enqueueActions(({ enqueue, context: c }) => {
      enqueue.spawnChild('reporter', {
        id: 'reporter',
        systemId: 'reporter',
        input: { json: false, out: c.err, err: c.err },
      });
      enqueue.spawnChild('publisher', {
        id: 'publisher',
        systemId: 'publisher',
        input: {
          agent: c.agent,
          instance: c.instance,
          maxBytes: c.maxBytes,
          firstSeq: c.firstSeq,
          firstClock: c.firstClock,
          publish: c.publish,
          now: c.now,
          everyMs: c.everyMs,
          graceMs: c.graceMs,
          maxQueued: c.maxQueued,
          backlog: c.backlog,
        },
      });
      enqueue.spawnChild('parser', {
        id: 'parser',
        systemId: 'parser',
        input: { to: ['publisher'], endTo: 'agent', timeSource: 'log', now: c.now, format: c.format },
      });
      enqueue.spawnChild('tailer', {
        id: 'tailer',
        systemId: 'tailer',
        input: {
          paths: c.paths,
          mode: 'follow',
          to: 'parser',
          pollMs: c.pollMs,
          watch: c.watch,
          marksTo: 'publisher',
          resume: c.resume,
          paused: () => c.backlog.full,
          // A poll lands just as each second is complete: the message goes out then.
          pollPhaseMs: c.graceMs,
        },
      });
    }),
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({ ...input, backlog: { full: false, waiting: 0, published: 0 } }),
  entry: 'startActors',
  initial: 'running',
  states: {
    running: {
      on: { stop: 'draining', end: 'draining' },
    },
    draining: {
      // The last lines counted go out before the exit; a stream that is away is not waited for long.
      entry: enqueueActions(({ enqueue }) => {
        enqueue.stopChild('tailer');
        enqueue.sendTo('publisher', { type: 'drain' });
      }),
      on: { drained: 'done', stop: 'done' },
      after: { 3000: 'done' },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ published: context.backlog.published, unsent: context.backlog.waiting }),
});
