/**
 * `--inspect`: a page on 127.0.0.1 that shows the alert statechart with its current state, the
 * window's average against the threshold, req/s over the window, the last interval's top
 * sections (with each timed section's p99), virtual hosts, latency and upstream latency, and the
 * alert history, updated live with Server-Sent Events.
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
import { latencyText, msText } from './latency-text';
import { printable } from './printable';

/** The page's files: beside the sources, or embedded in the executable (`npm run build`, `--asset ./inspector`). */
const ASSETS = path.join(import.meta.dir, Bun.isStandaloneExecutable ? '.' : '..', 'inspector');

/** The alert history the page gets: the last transitions, newest first (a long run has thousands). */
export const HISTORY_LIMIT = 100;

/**
 * An `/events` client that does not read (a stopped tab, a stalled connection) holds what it was
 * not sent in the monitor's memory: once more than this is waiting, beyond what the kernel's socket
 * buffers took, the server drops it (a page reconnects by itself, and gets the model whole).
 */
export const BACKLOG_LIMIT = 1 << 20;

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
  /**
   * The last interval that had traffic (an empty one, like a replay's final second, leaves it as
   * it was): its top sections, a timed section with its p99 as the terminal prints it (`210 ms`).
   */
  sections: InspectorSection[];
  /** Its virtual hosts (none when the log format has no virtual host). */
  vhosts: [string, number][];
  last: InspectorLast | null;
  /** The last `historyLimit` alerts and recoveries, newest first. */
  history: { type: 'alert' | 'recovered'; at: number; message: string }[];
  historyLimit: number;
  /** The rules' alerts going on (`--rules`), oldest first: their alert lines. */
  active: { key: string; at: number; message: string }[];
}

export type InspectorSection = [section: string, hits: number, p99?: string];

export type InspectorLast = Pick<IntervalStats, 'start' | 'end' | 'hits' | 'invalid' | 'late'> & {
  from: string;
  to: string;
  /** The latency and upstream lines as the terminal prints them (`p50 12 ms · … · max 1.2 s`), when the interval had timed lines. */
  latency?: string;
  upstream?: string;
};

export type InspectorUpdate =
  | { type: 'state'; state: string }
  | { type: 'window'; at: number; hits: number; series: number[] }
  | { type: 'stats'; sections: InspectorSection[]; vhosts: [string, number][]; last: InspectorLast }
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
      // Sections and virtual hosts come from the log: shown printable, as the terminal shows them.
      const p99 = new Map(s.sectionLatency?.map(([section, l]) => [section, msText(l.p99)]));
      model.sections = s.sections.map(([section, hits]): InspectorSection => {
        const q = p99.get(section);
        return q === undefined ? [printable(section), hits] : [printable(section), hits, q];
      });
      model.vhosts = s.vhosts.map(([vhost, hits]) => [printable(vhost), hits]);
      // ISO-8601 in the monitor's zone, as its other outputs print them (the page formats neither times nor durations).
      const [from, to] = [localIso(s.start), localIso(s.end)];
      model.last = {
        start: s.start,
        end: s.end,
        from,
        to,
        hits: s.hits,
        invalid: s.invalid,
        late: s.late,
        ...(s.latency ? { latency: latencyText(s.latency, s.hits) } : {}),
        ...(s.upstream ? { upstream: latencyText(s.upstream, s.hits) } : {}),
      };
      return { type: 'stats', sections: model.sections, vhosts: model.vhosts, last: model.last };
    }
    case 'alert':
    case 'recovered': {
      const entry =
        message.type === 'alert'
          ? { type: 'alert' as const, at: message.alert.at, message: alertMessage(message.alert) }
          : { type: 'recovered' as const, at: message.recovery.at, message: recoveryMessage(message.recovery) };
      model.history.unshift(entry);
      if (model.history.length > model.historyLimit) model.history.length = model.historyLimit;
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
  /** What the `/events` clients hold: how many are connected, how many were dropped, the bytes waiting for them. */
  clients: () => { connected: number; dropped: number; backlog: number };
  stop: () => void;
}

/**
 * The `Host` header a request must carry: the server's own address under a loopback name. A web
 * page can point a name of its own at 127.0.0.1 (DNS rebinding) and read from that origin; its
 * requests still name its host, so they are refused (403), on every path.
 */
export function isLoopbackHost(host: string | null, port: number): boolean {
  if (host === null) return false;
  const h = host.toLowerCase();
  return h === `127.0.0.1:${port}` || h === `localhost:${port}` || h === `[::1]:${port}`;
}

export function startInspector(o: InspectorOptions): Inspector {
  const model: InspectorModel = {
    files: o.files.map(printable),
    threshold: o.threshold,
    windowSeconds: o.windowSeconds,
    state: 'normal',
    windowHits: 0,
    series: [],
    at: 0,
    sections: [],
    vhosts: [],
    last: null,
    history: [],
    historyLimit: HISTORY_LIMIT,
    active: [],
  };
  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  let dropped = 0;
  const encoder = new TextEncoder();
  const drop = (to: ReadableStreamDefaultController<Uint8Array>) => {
    clients.delete(to);
    try {
      // Erroring the stream empties its queue and closes the connection; with no reason, Bun
      // prints nothing (an Error would be printed on stderr, under the report).
      to.error();
    } catch {
      // already gone
    }
  };
  const send = (to: ReadableStreamDefaultController<Uint8Array>, data: unknown) => {
    try {
      to.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
    } catch {
      clients.delete(to);
      return;
    }
    // The queue counts bytes (the stream's strategy): below zero, more than BACKLOG_LIMIT waits.
    if ((to.desiredSize ?? 0) < 0) {
      dropped++;
      drop(to);
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
    fetch(request, listening) {
      if (!isLoopbackHost(request.headers.get('host'), listening.port ?? o.port)) {
        return new Response(`forbidden: this page answers at http://127.0.0.1:${listening.port}/ only\n`, { status: 403, headers: headers('text/plain') });
      }
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
          const stream = new ReadableStream<Uint8Array>(
            {
              start(controller) {
                self = controller;
                clients.add(controller);
                send(controller, { type: 'model', model });
              },
              cancel() {
                clients.delete(self);
              },
            },
            { highWaterMark: BACKLOG_LIMIT, size: (chunk) => chunk?.byteLength ?? 0 },
          );
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
    clients: () => ({
      connected: clients.size,
      dropped,
      backlog: [...clients].reduce((n, c) => n + BACKLOG_LIMIT - (c.desiredSize ?? BACKLOG_LIMIT), 0),
    }),
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
