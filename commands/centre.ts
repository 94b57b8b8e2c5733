/**
 * The fleet's centre (`--nats URL`): the monitor's machines fed by the agents' messages instead
 * of files. This sits beside the command that uses it: it connects, finds the stream, waits for
 * the first message (the fleet's clock starts at its second) and hands the root a `subscribe`.
 */
import { SimulatedClock } from 'xstate';
import type { FleetFeedInput } from '../actors/fleet-feed';
import { type CountsMessage, decode } from '../lib/wire';
import { countsPrefix } from './agent';

export interface CentreOptions {
  nats: string;
  stream: string;
  credsFile?: string;
  caFile?: string;
  agentTimeoutSeconds: number;
  intervalSeconds: number;
}

export interface Centre {
  clock: SimulatedClock;
  fleet: Omit<FleetFeedInput, 'to' | 'endTo'>;
  close: () => Promise<void>;
}

/** Connects and waits for the first message; throws one-line errors (a bad URL, refused, unauthorized). */
export async function openCentre(o: CentreOptions, err: (line: string) => void): Promise<Centre> {
  const nats = await import('../lib/nats');
  let lost = false;
  const nc = await nats.connectNats(o.nats, {
    credsFile: o.credsFile,
    caFile: o.caFile,
    name: 'hlm-centre',
    onStatus: (s) => {
      // Said once a loss: the consumer catches up by itself when the server is back.
      if (s === 'disconnected' && !lost) err(`lost the connection to ${o.nats}; catching up when it is back`);
      if (s === 'reconnected' && lost) err(`connected to ${o.nats} again`);
      lost = s === 'disconnected';
    },
  });
  const prefix = countsPrefix(o.stream);
  await nats.ensureStream(nc, { name: o.stream, subjects: [`${prefix}>`] });
  const js = nats.jetstream(nc);

  // Messages are buffered until the feed subscribes; the first one sets the clock.
  const early: (CountsMessage | Error)[] = [];
  let deliver: ((m: CountsMessage | Error) => void) | null = null;
  let first!: (m: CountsMessage) => void;
  const firstMessage = new Promise<CountsMessage>((resolve) => (first = resolve));
  const stop = nats.consumeFrom(js, o.stream, `${prefix}>`, { startTime: new Date() }, (_subject, data) => {
    let m: CountsMessage | Error;
    try {
      m = decode(data);
      first(m);
    } catch (error) {
      m = error as Error;
    }
    if (deliver) deliver(m);
    else early.push(m);
  });
  err(`waiting for the agents on ${o.nats} (stream ${o.stream})`);
  const m = await firstMessage;
  const seconds = [m.clock, ...m.segments.map((s) => s.second).filter(Number.isFinite)];
  const clock = new SimulatedClock();
  clock.set(Math.min(...seconds) * 1000);
  return {
    clock,
    fleet: {
      subscribe: (to) => {
        for (const e of early.splice(0)) to(e);
        deliver = to;
        return () => {
          deliver = null;
        };
      },
      agentTimeoutMs: o.agentTimeoutSeconds * 1000,
      wallNow: Date.now,
      reportEveryMs: o.intervalSeconds * 1000,
    },
    close: async () => {
      await stop();
      await nc.close().catch(() => {});
    },
  };
}
