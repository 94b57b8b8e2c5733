/**
 * `--inspect`: a page on 127.0.0.1 that shows the alert statechart with its current state, the
 * window's average against the threshold, req/s over the window, the last interval's top
 * sections and the alert history, updated live with Server-Sent Events.
 *
 * It listens to the actor system's inspection events (`createActor(root, { inspect })`): the alert
 * machine's snapshots and the messages the reporter receives. Nothing polls; every asset is the
 * project's own (the page in `inspector/`, the statechart drawn by Graphviz compiled to WebAssembly),
 * served under a Content-Security-Policy that allows nothing from elsewhere.
 */
import * as path from 'node:path';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { IntervalStats, ReporterMessage } from '../actors/messages';
import { alertMessage, recoveryMessage } from '../actors/reporter';
import { localIso } from './format';

/** The page's files: beside the sources, or embedded in the executable (`npm run build`, `--asset ./inspector`). */
const ASSETS = path.join(import.meta.dir, Bun.isStandaloneExecutable ? '.' : '..', 'inspector');

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** What the page shows; sent whole to a page that connects, then kept up to date by updates. */
export interface InspectorModel {
  files: string[];
  threshold: number;
  windowSeconds: number;
  state: string;
  windowHits: number;
  series: number[];
  at: number;
  /** The last interval that had traffic (an empty one, like a replay's final second, leaves it as it was). */
  sections: [string, number][];
  last: (Pick<IntervalStats, 'start' | 'end' | 'hits' | 'invalid' | 'late'> & { from: string; to: string }) | null;
  history: { type: 'alert' | 'recovered'; at: number; message: string }[];
  /** The rules' alerts going on (`--rules`), oldest first: their alert lines. */
  active: { key: string; at: number; message: string }[];
}

export type InspectorUpdate =
  | { type: 'state'; state: string }
  | { type: 'window'; at: number; hits: number; series: number[] }
  | { type: 'stats'; sections: [string, number][]; last: InspectorModel['last'] }
  | { type: 'history'; entry: InspectorModel['history'][number]; active: InspectorModel['active'] };

/** The id the root gave the actor an inspection event is about (`alert`, `reporter`, …). */
const idOf = (ev: InspectionEvent) => (ev.actorRef as AnyActorRef).id;

/** Turns inspection events into updates of the model; pure, so it is tested without a server. */
export function reduce(model: InspectorModel, ev: InspectionEvent): InspectorUpdate | null {
  if (ev.type === '@xstate.snapshot' && idOf(ev) === 'alert') {
    const value = String((ev.snapshot as { value?: unknown }).value);
    if (value === model.state) return null;
    model.state = value;
    return { type: 'state', state: value };
  }
  if (ev.type !== '@xstate.event' || idOf(ev) !== 'reporter') return null;
  const message = ev.event as ReporterMessage;
  switch (message.type) {
    case 'window':
      model.windowHits = message.hits;
      model.series = message.series;
      model.at = message.at;
      return { type: 'window', at: message.at, hits: message.hits, series: message.series };
    case 'stats': {
      const s = message.stats;
      if (s.hits === 0 && s.invalid === 0) return null;
      model.sections = s.sections;
      // ISO-8601 in the monitor's zone, as its other outputs print them (the page does not format times).
      const [from, to] = [localIso(s.start), localIso(s.end)];
      model.last = { start: s.start, end: s.end, from, to, hits: s.hits, invalid: s.invalid, late: s.late };
      return { type: 'stats', sections: model.sections, last: model.last };
    }
    case 'alert':
    case 'recovered': {
      const entry =
        message.type === 'alert'
          ? { type: 'alert' as const, at: message.alert.at, message: alertMessage(message.alert) }
          : { type: 'recovered' as const, at: message.recovery.at, message: recoveryMessage(message.recovery) };
      model.history.unshift(entry);
      const event = message.type === 'alert' ? message.alert : message.recovery;
      if (event.rule) {
        const key = `${event.rule.name}\u0000${event.rule.group?.key ?? ''}`;
        model.active = model.active.filter((a) => a.key !== key);
        if (message.type === 'alert') model.active.push({ key, at: entry.at, message: entry.message });
      }
      return { type: 'history', entry, active: model.active };
    }
    default:
      return null;
  }
}

export interface InspectorOptions {
  port: number;
  files: string[];
  threshold: number;
  windowSeconds: number;
  /** The alert statechart as SVG (drawn from the machine definition). */
  svg: string;
}

export interface Inspector {
  url: string;
  observe: (ev: InspectionEvent) => void;
  stop: () => void;
}

export function startInspector(o: InspectorOptions): Inspector {
  const model: InspectorModel = {
    files: o.files,
    threshold: o.threshold,
    windowSeconds: o.windowSeconds,
    state: 'normal',
    windowHits: 0,
    series: [],
    at: 0,
    sections: [],
    last: null,
    history: [],
    active: [],
  };
  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const encoder = new TextEncoder();
  const send = (to: ReadableStreamDefaultController<Uint8Array>, data: unknown) => {
    try {
      to.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
    } catch {
      clients.delete(to);
    }
  };
  const headers = (type: string) => ({
    'content-type': type,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
  const file = (name: string, type: string) => new Response(Bun.file(path.join(ASSETS, name)), { headers: headers(type) });

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: o.port,
    idleTimeout: 0,
    fetch(request) {
      const url = new URL(request.url);
      switch (url.pathname) {
        case '/':
          return file('index.html', 'text/html; charset=utf-8');
        case '/app.js':
          return file('app.js', 'text/javascript; charset=utf-8');
        case '/app.css':
          return file('app.css', 'text/css; charset=utf-8');
        case '/statechart.svg':
          return new Response(o.svg, { headers: headers('image/svg+xml') });
        case '/events': {
          let self: ReadableStreamDefaultController<Uint8Array>;
          const stream = new ReadableStream<Uint8Array>({
            start(controller) {
              self = controller;
              clients.add(controller);
              send(controller, { type: 'model', model });
            },
            cancel() {
              clients.delete(self);
            },
          });
          return new Response(stream, { headers: { ...headers('text/event-stream'), connection: 'keep-alive' } });
        }
        default:
          return new Response('not found', { status: 404, headers: headers('text/plain') });
      }
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}/`,
    observe(ev) {
      const update = reduce(model, ev);
      if (update) for (const c of clients) send(c, update);
    },
    stop() {
      for (const c of clients) {
        try {
          c.close();
        } catch {
          // already gone
        }
      }
      server.stop(true);
    },
  };
}
