/**
 * The default command: follow (or replay) access logs and report on them.
 * Arguments → validated config → the root actor; nothing else lives here.
 */
import type { ArgsDef, CommandDef } from 'citty';
import { runCommand } from '../lib/usage';
import { type Actor, createActor, SimulatedClock } from 'xstate';
import { openReplay, replayStart } from '../actors/replay-reader';
import { reason, replayInputs } from '../lib/input-paths';
import { list, logFormat, metricsAddr, metricsBuckets, numberInRange, PROGRAM, readArgs, UsageError } from '../lib/cli-args';
import { backlog, flushOutput, onStdoutClosed, write, writeAtExit, writeLine } from '../lib/write-line';
import { type MonitorInput, monitorMachine } from '../machines/monitor';
import type { Centre, CentreOptions, StoppedWaiting } from './centre';
import { statsJson } from '../actors/reporter';
import { newInterval, summarize } from '../actors/section-aggregator';
import type { Delivery, NotifyTarget } from '../actors/notifier';
import type { LogFormat } from '../lib/log-format';
import type { Metrics } from '../lib/metrics';
import { checkLines, loadRules, longestWindow, type Rule, RulesError } from '../lib/rules';
import { NOTIFY_FORMATS, type NotifyFormat, redact } from '../lib/notify-format';

export const USAGE =
  `usage: ${PROGRAM} [-f FILE]... [FILE...] [-s SECONDS] [-t REQ_PER_S] [-a SECONDS] ` +
  '[--replay] [--log-format FORMAT] [--json] [--quiet] [--plain] [--no-color] [--time-source log|arrival] [--inspect [--inspect-port PORT]] ' +
  '[--rules FILE] [--check-rules FILE] [--notify URL]... [--notify-format json|alertmanager|slack] [--notify-exec CMD]... ' +
  '[--metrics ADDR [--metrics-sections N] [--metrics-buckets LIST]]';

/** `--metrics-sections`' default (lib/metrics' DEFAULT_SECTIONS; not imported, so that prom-client loads only with --metrics). */
const METRICS_SECTIONS = 20;

const monitorArgs = {
  file: { type: 'string', alias: ['f', 'filename'], valueHint: 'PATH', description: "Log file to follow, repeatable; a quoted glob ('/var/log/nginx/*.log'); - (standard input), a FIFO or a pipe is read as a stream (default /tmp/access.log)" },
  interval: { type: 'string', alias: ['s', 'stats'], default: '10', valueHint: 'SECONDS', description: 'Stats interval, 1 to 86400 (fractions allowed, e.g. 2.5)' },
  threshold: { type: 'string', alias: 't', default: '10', valueHint: 'REQ_PER_S', description: 'Alert when the window average exceeds this, 0.001 to 1000000000' },
  window: { type: 'string', alias: ['a', 'alarm'], default: '120', valueHint: 'SECONDS', description: 'Alert window, a whole number from 1 to 86400' },
  replay: { type: 'boolean', description: 'Read the inputs (files, quoted globs, gzip files, - or a pipe) from start to end with their own timestamps as the clock, then exit' },
  json: { type: 'boolean', description: 'One JSON object per line (NDJSON) on stdout' },
  quiet: { type: 'boolean', description: 'Print only alerts and recoveries' },
  plain: { type: 'boolean', description: 'Lines of text even on a terminal (no full-screen dashboard)' },
  color: { type: 'boolean', default: true, description: 'Colours on a terminal (--no-color, or NO_COLOR, for none)' },
  inspect: { type: 'boolean', description: 'Serve a live page of the alert statechart on 127.0.0.1 (URL on stderr)' },
  'inspect-port': { type: 'string', default: '0', valueHint: 'PORT', description: 'Port of the --inspect page, 0 to 65535 (0: any free port)' },
  'log-format': { type: 'string', valueHint: 'FORMAT', description: "The logs' format: common, combined, vcombined, caddy, traefik, aws-alb, an nginx log_format string, an Apache LogFormat string, or @CONFIG:NAME (a log_format or LogFormat in a server's config); default: each input's first lines decide" },
  'time-source': { type: 'string', default: 'log', valueHint: 'log|arrival', description: "Bucket lines by their timestamps (log) or by when they are read (arrival)" },
  'poll-ms': { type: 'string', default: '250', valueHint: 'MS', description: 'How often followed files are checked, a whole number from 10 to 60000' },
  watch: { type: 'boolean', default: true, description: 'Use file-system events as a hint to read sooner (--no-watch: poll only)' },
  nats: { type: 'string', valueHint: 'URL', description: 'Be the fleet\'s centre: read the agents\' counts from this NATS server instead of files' },
  stream: { type: 'string', default: 'HLM', valueHint: 'NAME', description: 'With --nats: the JetStream stream' },
  'agent-timeout': { type: 'string', default: '5', valueHint: 'SECONDS', description: 'With --nats: an agent silent this long stops holding the clock back, 1 to 3600' },
  'max-lag': { type: 'string', default: '60', valueHint: 'SECONDS', description: 'With --nats: an agent whose clock is this far behind stops holding the clock back (its lines are late), 5 to 86400' },
  'nats-creds': { type: 'string', valueHint: 'FILE', description: 'With --nats: a NATS .creds file (or NATS_TOKEN, NATS_USER/NATS_PASSWORD)' },
  'nats-ca': { type: 'string', valueHint: 'FILE', description: "With --nats: the CA of the server's TLS certificate" },
  name: { type: 'string', valueHint: 'NAME', description: 'With --nats: this centre\'s name, for its records in the stream, when several centres read one stream (default: none)' },
  since: { type: 'string', valueHint: 'TIME', description: "With --nats --replay: replay the stream's history from this time (ISO-8601 or Unix seconds)" },
  until: { type: 'string', valueHint: 'TIME', description: 'With --nats --replay: up to this time (default: the end of the stream)' },
  rules: { type: 'string', valueHint: 'FILE', description: 'Alert rules beyond -t/-a (YAML, or TOML for a .toml file): rates, ratios and silences of matching hits, with for, recover and by' },
  'check-rules': { type: 'string', valueHint: 'FILE', description: 'Check a rules file, print its rules and exit 0; exit 2 naming the line and field of the first error' },
  notify: { type: 'string', valueHint: 'URL', description: 'POST every alert and recovery to this http(s) URL, repeatable' },
  'notify-format': { type: 'string', default: 'json', valueHint: 'json|alertmanager|slack', description: "The body of --notify's POSTs: the NDJSON record, an Alertmanager webhook (version 4), or a Slack incoming webhook" },
  'notify-exec': { type: 'string', valueHint: 'CMD', description: 'Run this command (sh -c) for every alert and recovery, the NDJSON record on its standard input, repeatable' },
  metrics: { type: 'string', valueHint: 'ADDR', description: 'Serve Prometheus metrics at http://ADDR/metrics: HOST:PORT, :PORT or PORT (host 127.0.0.1), [IPv6]:PORT' },
  'metrics-sections': { type: 'string', default: String(METRICS_SECTIONS), valueHint: 'N', description: 'With --metrics: sections with their own label, the first N seen (the rest count as other), a whole number from 0 to 10000' },
  'metrics-buckets': { type: 'string', valueHint: 'LIST', description: 'With --metrics: the request-duration histogram\'s bounds in seconds, ascending, e.g. 0.01,0.1,1 (default 0.005 to 10, as prom-client\'s)' },
  help: { type: 'boolean', alias: 'h', description: 'Show this help' },
} satisfies ArgsDef;

/** A citty command definition; citty itself is loaded only to render --help. */
export const monitorCommand: import('../lib/usage').HelpDef = {
  meta: { name: 'http-log-monitor', description: 'follow HTTP access logs and report their traffic' },
  args: monitorArgs,
  more: [
    `${PROGRAM} --nats URL [-s SECONDS] [-t REQ_PER_S] [-a SECONDS] [--json] [--quiet] [--plain] [--stream NAME] ` +
      '[--agent-timeout SECONDS] [--max-lag SECONDS] [--name NAME] [--nats-creds FILE] [--nats-ca FILE] [--replay --since TIME [--until TIME]] [--rules FILE] [--notify URL]... [--metrics ADDR]',
    `${PROGRAM} agent|format|generate|chart [--help]`,
  ],
  // Loaded only to list them in --help.
  subCommands: {
    agent: async () => (await import('./agent')).agentCommand,
    format: async () => (await import('./format')).formatCommand,
    generate: async () => (await import('./generate')).generateCommand,
    chart: async () => (await import('./chart')).chartCommand,
  },
};

/** `--metrics` and its companions: where to serve, and how the Metrics are shaped. */
export interface MetricsEndpoint {
  addr: { host: string; port: number };
  sections: number;
  /** Seconds; absent: lib/metrics' defaults. */
  buckets?: number[];
}

export type MonitorOptions = Omit<MonitorInput, 'now' | 'clock' | 'out' | 'err' | 'screen' | 'progress' | 'metrics'> & {
  /** The fleet's centre: read from NATS instead of files. */
  centre?: Omit<CentreOptions, 'intervalSeconds' | 'windowSeconds' | 'settings'> & {
    /** Which of -s, -a and -t were given (a replay of the stream defaults the others to the live centre's). */
    given: { interval: boolean; window: boolean; threshold: boolean };
  };
  plain: boolean;
  color: boolean;
  inspect: boolean;
  inspectPort: number;
  /** --check-rules: the rules of the file, to print; nothing runs. */
  checkRules?: Rule[];
  notifyTargets: NotifyTarget[];
  /** `--metrics`: serve /metrics (absent: no Metrics, no port). */
  metrics?: MetricsEndpoint;
};

/** Reads and validates the raw arguments; `null` means --help. Throws `UsageError`. */
export function parseMonitorArgs(rawArgs: string[]): MonitorOptions | null {
  const args = readArgs(rawArgs, monitorArgs, ['file', 'notify', 'notify-exec']);
  if (args.help) return null;
  // The same arguments without the defaults tell which flags were given.
  const bare = readArgs(rawArgs, Object.fromEntries(Object.entries(monitorArgs).map(([k, a]) => [k, { ...a, default: undefined }])) as ArgsDef, ['file', 'notify', 'notify-exec']);
  const given = (name: 'interval' | 'window' | 'threshold') => bare[name] !== undefined;
  const rulesOf = (file: unknown) => {
    try {
      return loadRules(String(file));
    } catch (error) {
      // The file is named, with the line and the field: the usage would only hide it.
      if (error instanceof RulesError) throw new UsageError(error.message, false);
      throw error;
    }
  };
  const paths = [...list(args.file), ...args._];
  const timeSource = String(args['time-source']);
  if (timeSource !== 'log' && timeSource !== 'arrival') {
    throw new UsageError(`--time-source must be log or arrival, got '${timeSource}'`);
  }
  const replay = Boolean(args.replay);
  const nats = args.nats === undefined ? undefined : String(args.nats);
  if (nats && paths.length > 0) throw new UsageError('--nats reads the agents\' counts, not files: no -f with it');
  if (nats && args['log-format'] !== undefined) throw new UsageError('--log-format goes to the agents, which read the logs (agent --log-format), not to the centre');
  if ((args.since !== undefined || args.until !== undefined) && !(nats && replay)) throw new UsageError('--since and --until go with --nats --replay');
  if (args.name !== undefined && !nats) throw new UsageError('--name goes with --nats (the centre) or with agent');
  if (nats && replay && args.since === undefined) throw new UsageError('--nats --replay needs --since TIME');
  const time = (flag: 'since' | 'until') => (args[flag] === undefined ? undefined : new Date(parseTime(String(args[flag]), `--${flag}`) * 1000));
  const centre = nats
    ? {
        nats,
        stream: String(args.stream),
        credsFile: args['nats-creds'] === undefined ? undefined : String(args['nats-creds']),
        caFile: args['nats-ca'] === undefined ? undefined : String(args['nats-ca']),
        agentTimeoutSeconds: numberInRange(args['agent-timeout'], '--agent-timeout', { min: 1, max: 3600 }),
        maxLagSeconds: numberInRange(args['max-lag'], '--max-lag', { min: 5, max: 86_400, integer: true }),
        name: args.name === undefined ? undefined : centreName(String(args.name)),
        replay: replay ? { since: time('since')!, until: time('until') } : undefined,
        given: { interval: given('interval'), window: given('window'), threshold: given('threshold') },
      }
    : undefined;
  const format = String(args['notify-format']);
  if (!(NOTIFY_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--notify-format must be one of ${NOTIFY_FORMATS.join(', ')}, got '${format}'`);
  const urls = list(args.notify).map((url) => {
    // A webhook's URL carries its secret: an error names its scheme and host only.
    if (!/^https?:\/\/[^/?#\s]+/i.test(url) || !URL.canParse(url)) throw new UsageError(`--notify must be an http:// or https:// URL, got '${redact(url)}'`);
    return { url, format: format as NotifyFormat };
  });
  const metrics = metricsEndpoint(args, bare);
  const commands = list(args['notify-exec']).map((command) => {
    if (command.trim() === '') throw new UsageError('--notify-exec needs a command');
    return { command };
  });
  return {
    checkRules: args['check-rules'] === undefined ? undefined : rulesOf(args['check-rules']),
    rules: args.rules === undefined ? undefined : rulesOf(args.rules),
    notifyTargets: [...urls, ...commands],
    metrics,
    centre,
    paths: paths.length > 0 ? paths : ['/tmp/access.log'],
    mode: replay && !nats ? 'replay' : 'follow',
    json: Boolean(args.json),
    quiet: Boolean(args.quiet),
    // The ranges are the flag table's: setTimeout holds 2^31 - 1 ms (24.8 days) at most, and a
    // window is kept second by second.
    intervalSeconds: numberInRange(args.interval, '-s/--interval', { min: 1, max: 86_400 }),
    threshold: numberInRange(args.threshold, '-t/--threshold', { min: 0.001, max: 1_000_000_000 }),
    windowSeconds: numberInRange(args.window, '-a/--window', { min: 1, max: 86_400, integer: true }),
    timeSource,
    format: args['log-format'] === undefined ? undefined : logFormat(String(args['log-format'])),
    pollMs: numberInRange(args['poll-ms'], '--poll-ms', { min: 10, max: 60_000, integer: true }),
    watch: Boolean(args.watch),
    limit: 10,
    plain: Boolean(args.plain),
    color: Boolean(args.color) && !process.env.NO_COLOR,
    inspect: Boolean(args.inspect),
    inspectPort: port(args['inspect-port']),
  };
}

/** `--metrics ADDR [--metrics-sections N] [--metrics-buckets LIST]`; the two others only with it. */
function metricsEndpoint(args: Record<string, unknown>, bare: Record<string, unknown>): MetricsEndpoint | undefined {
  if (args.metrics === undefined) {
    for (const flag of ['metrics-sections', 'metrics-buckets']) if (bare[flag] !== undefined) throw new UsageError(`--${flag} goes with --metrics ADDR`);
    return undefined;
  }
  return {
    addr: metricsAddr(String(args.metrics)),
    sections: numberInRange(args['metrics-sections'], '--metrics-sections', { min: 0, max: 10_000, integer: true }),
    buckets: args['metrics-buckets'] === undefined ? undefined : metricsBuckets(String(args['metrics-buckets'])),
  };
}

/** A centre's name, as an agent's: it is a token of the subject its records go to. */
function centreName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(name)) throw new UsageError(`--name must be 1 to 64 letters, digits, - or _ (not first), got '${name}'`);
  return name;
}

/** A time given as ISO-8601 or Unix seconds, in Unix seconds. */
function parseTime(text: string, flag: string): number {
  const t = text.trim();
  const seconds = /^\d+(\.\d+)?$/.test(t) ? Number(t) : /^\d{4}-\d\d-\d\dT/.test(t) ? Date.parse(t) / 1000 : NaN;
  if (!Number.isFinite(seconds)) throw new UsageError(`${flag} must be ISO-8601 (2026-01-01T00:00:00Z) or Unix seconds, got '${text}'`);
  return Math.floor(seconds);
}

function port(value: unknown): number {
  const text = String(value);
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new UsageError(`--inspect-port must be a port number (0-65535), got '${text}'`);
  return n;
}

/**
 * A replay's inputs, opened (patterns expanded, gzip inflated, pipes read as streams), and its
 * clock: simulated, standing at the first line's second.
 */
async function openReplayFor(paths: string[], format: LogFormat | undefined) {
  const sources = await openReplay(replayInputs(paths));
  const clock = new SimulatedClock();
  clock.set(((await replayStart(sources, format)) ?? Math.floor(Date.now() / 1000)) * 1000);
  return { sources, clock };
}

/** What stops a run as Ctrl-C does: SIGHUP too (a closed terminal or ssh session), so that it ends with its final record. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** How long after a stop the process may take to exit, flushing its output, whatever the outputs are doing. */
const EXIT_MS = 500;

/** Runs the monitor until its input ends (replay, stdin) or a signal stops it; the exit code. */
export async function runMonitor(options: MonitorOptions): Promise<number> {
  const out = (line: string) => writeLine(1, line);
  const err = (line: string) => writeLine(2, line);
  if (options.checkRules) {
    for (const line of checkLines(options.checkRules)) out(line);
    return 0;
  }
  let replay: Awaited<ReturnType<typeof openReplayFor>> | undefined;
  let centre: Centre | undefined;
  // Made before the centre opens, which may restore its counters (served once the run is ready).
  const metrics = options.metrics ? await newMetrics(options.metrics) : undefined;
  try {
    if (options.mode === 'replay') replay = await openReplayFor(options.paths, options.format);
    if (options.centre) {
      const { openCentre } = await import('./centre');
      // A signal while the centre waits for its first message ends the run as any other stop does.
      const waiting = new AbortController();
      const abort = () => waiting.abort();
      for (const signal of STOP_SIGNALS) process.on(signal, abort);
      const opened = openCentre(
        { ...options.centre, settings: { interval: options.intervalSeconds, window: options.windowSeconds, threshold: options.threshold }, intervalSeconds: options.intervalSeconds, windowSeconds: longestWindow(options.windowSeconds, options.rules) },
        err,
        waiting.signal,
        metrics,
      );
      void opened.finally(() => {
        for (const signal of STOP_SIGNALS) process.off(signal, abort);
      }).catch(() => {});
      centre = await opened;
      // A restarted centre rebuilds the longest window from the stream: -a's, or a rule's with its `for`.
      // A replay of the stream takes the live centre's -s, -a and -t, recorded in it, unless given.
      const recorded = options.centre.replay && centre.recorded;
      if (recorded) {
        const { given } = options.centre;
        options = {
          ...options,
          intervalSeconds: given.interval ? options.intervalSeconds : recorded.interval,
          windowSeconds: given.window ? options.windowSeconds : recorded.window,
          threshold: given.threshold ? options.threshold : recorded.threshold,
        };
        err(`the live centre's settings, recorded in the stream: -s ${recorded.interval} -a ${recorded.window} -t ${recorded.threshold}` +
          (given.interval || given.window || given.threshold ? ' (the ones given here stand)' : ''));
      }
    }
  } catch (error) {
    if (error instanceof Error && error.name === 'StoppedWaiting') {
      // Nothing came: the final record, with no line in it; the text output leaves it out.
      const since = (error as StoppedWaiting).since;
      if (options.json && !options.quiet) out(statsJson({ ...summarize(newInterval(since), Math.max(since, Date.now()), 0, true), agents: { reporting: [], silent: [] } }));
      await flushOutput(EXIT_MS);
      return 0;
    }
    err(`error: ${reason(error)}`);
    return 1;
  }
  const clock = replay?.clock ?? centre?.clock;
  const now = clock ? () => clock.now() : Date.now;
  const dashboard = !options.json && !options.plain && options.mode === 'follow' && process.stdout.isTTY === true;
  const screen = dashboard ? await terminalScreen(options.color) : undefined;
  const progress =
    options.mode === 'replay' && process.stderr.isTTY === true
      ? { totalBytes: replay!.sources.some((s) => s.size === 0) ? 0 : replay!.sources.reduce((n, s) => n + s.size, 0), write: (t: string) => write(2, t) }
      : undefined;
  // Served before anything else is opened: an address that cannot be bound ends the run at once.
  let endpoint: Awaited<ReturnType<typeof serveMetricsAt>> | undefined;
  try {
    endpoint = metrics && (await serveMetricsAt(metrics, options.metrics!));
  } catch (error) {
    err(`error: ${reason(error)}`);
    await centre?.close();
    return 1;
  }
  if (endpoint) err(`metrics: ${endpoint.url}`);
  const deliveries = await openDeliveries(options.notifyTargets, err);
  const inspector = options.inspect ? await openInspector(options) : undefined;
  if (inspector) err(`inspector: ${inspector.url}`);
  // On a terminal, the dashboard reporter stands in for the line reporter.
  const machine = screen
    ? monitorMachine.provide({ actors: { reporter: (await import('../actors/dashboard-reporter')).dashboardReporter } })
    : monitorMachine;
  const actor = createActor(machine, {
    ...(clock ? { clock } : {}),
    ...(inspector ? { inspect: inspector.observe } : {}),
    systemId: 'monitor',
    input: {
      ...options,
      ...(replay ? { paths: replay.sources.map((s) => s.name), sources: replay.sources } : {}),
      ...(centre ? { mode: 'replay' as const, paths: [options.centre!.nats], fleet: centre.fleet, printed: centre.printed, intervals: centre.intervals } : {}), now, clock, out, err, probe: latencyProbe(), screen, progress, outputBehind: () => backlog(1), deliveries, samples: Boolean(screen || inspector), metrics },
  });
  const done = new Promise<number>((resolve) => {
    actor.subscribe({
      complete: () => resolve(0),
      error: (error) => {
        err(`error: ${reason(error)}`);
        resolve(1);
      },
    });
  });
  let keys: (() => void) | undefined;
  let finished = false;
  void done.then(() => (finished = true));
  /** When a signal (or stdout's reader leaving) stopped the run: the exit is due EXIT_MS later. */
  let stoppedAt: number | undefined;
  let stopped!: () => void;
  const stopping = new Promise<void>((resolve) => (stopped = resolve));
  // The terminal leaves raw mode before the final lines are printed, so that they print as lines.
  const stop = () => {
    try {
      keys?.();
    } catch {
      // a terminal that has hung up (SIGHUP) cannot leave raw mode; it is gone anyway
    }
    keys = undefined;
    stoppedAt ??= Date.now();
    stopped();
    if (!finished) actor.send({ type: 'stop' });
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  const stdoutWatch = onStdoutClosed(stop);
  actor.start();
  if (screen) keys = listenToKeys(actor, stop);
  const code = await done;
  try {
    keys?.();
  } catch {
    // as in stop
  }
  // Everything printed goes out before the exit; after a stop, whatever the outputs are doing
  // (a pipe nobody reads), for no longer than EXIT_MS after it.
  // Notifications still waiting get one last attempt, for NOTIFY_EXIT_MS at most.
  await Promise.all(deliveries.map((d) => d.close(NOTIFY_EXIT_MS)));
  await Promise.race([
    flushOutput(Infinity),
    stopping.then(() => flushOutput(Math.max(0, stoppedAt! + EXIT_MS - Date.now()))),
  ]);
  if (inspector) {
    if (options.mode === 'replay' && stoppedAt === undefined) {
      // The replay is over in a moment; the page stays up to be looked at, until a signal
      // (the handlers above, still in place) or stdout's reader leaving.
      err(`replay finished; the inspector stays at ${inspector.url} until Ctrl-C`);
      await stopping;
    }
    inspector.stop();
  }
  endpoint?.stop();
  stdoutWatch();
  for (const signal of STOP_SIGNALS) process.off(signal, stop);
  await centre?.close();
  return code;
}

/** How long the last attempt of the notifications still waiting may take at exit, ms. */
const NOTIFY_EXIT_MS = 3000;

/** One delivery per --notify URL and --notify-exec command; loaded only when there is one. */
async function openDeliveries(targets: NotifyTarget[], err: (line: string) => void): Promise<Delivery[]> {
  if (targets.length === 0) return [];
  const { Delivery } = await import('../actors/notifier');
  return targets.map((t) => new Delivery(t, { report: (line) => err(`warn: ${line}`) }));
}

/** The Metrics `--metrics` serves; prom-client is loaded only then. */
async function newMetrics(endpoint: MetricsEndpoint) {
  const { Metrics, DEFAULT_BUCKETS } = await import('../lib/metrics');
  return new Metrics({ sections: endpoint.sections, buckets: endpoint.buckets ?? DEFAULT_BUCKETS });
}

/** The /metrics endpoint on `--metrics`' address, and its URL; an address that cannot be bound is an Error saying which. */
async function serveMetricsAt(metrics: Metrics, endpoint: MetricsEndpoint) {
  const { serveMetrics, METRICS_PATH } = await import('../lib/metrics-server');
  const { host, port } = endpoint.addr;
  const shown = host.includes(':') ? `[${host}]` : host;
  try {
    const served = await serveMetrics(metrics, endpoint.addr);
    return { url: `http://${shown}:${served.port}${METRICS_PATH}`, stop: served.stop };
  } catch (error) {
    throw new Error(`cannot serve the metrics on ${shown}:${port}: ${reason(error)}`);
  }
}

async function openInspector(options: MonitorOptions) {
  const [{ startInspector }, { renderChart }, { alertMachine }] = await Promise.all([
    import('../lib/inspector'),
    import('./chart'),
    import('../machines/alert'),
  ]);
  try {
    return startInspector({
      port: options.inspectPort,
      files: options.centre ? [options.centre.nats] : options.paths,
      threshold: options.threshold,
      windowSeconds: options.windowSeconds,
      svg: await renderChart(alertMachine, 'svg'),
    });
  } catch (error) {
    throw new Error(`cannot serve the inspector on 127.0.0.1:${options.inspectPort}: ${reason(error)}`);
  }
}

/** The terminal the dashboard draws on; whatever happens, the screen is given back on exit. */
async function terminalScreen(color: boolean) {
  const ansi = await import('ansi-escapes');
  let active = false; // on the alternate screen
  process.on('exit', () => {
    // Synchronous (the event loop is over), best effort, never throwing.
    if (active) writeAtExit(1, ansi.exitAlternativeScreen + ansi.cursorShow);
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    } catch {
      // a terminal that has hung up
    }
  });
  return {
    color,
    write: (text: string) => {
      if (text.includes(ansi.enterAlternativeScreen)) active = true;
      if (text.includes(ansi.exitAlternativeScreen)) active = false;
      write(1, text);
    },
    size: () => ({ columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 }),
  };
}

/** q or Ctrl-C quits, p pauses the redraw, a resize redraws. Returns what undoes it. */
function listenToKeys(actor: Actor<typeof monitorMachine>, stop: () => void): () => void {
  const reporter = () => actor.system.get('reporter');
  const redraw = () => reporter()?.send({ type: 'redraw' });
  process.stdout.on('resize', redraw);
  if (!process.stdin.isTTY) return () => process.stdout.off('resize', redraw);
  process.stdin.setRawMode(true);
  process.stdin.resume();
  const onKey = (data: Buffer) => {
    const key = data.toString();
    if (key === 'q' || key === 'Q' || key === '\u0003') stop();
    else if (key === 'p' || key === 'P') reporter()?.send({ type: 'pause' });
  };
  process.stdin.on('data', onKey);
  return () => {
    process.stdin.off('data', onKey);
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stdout.off('resize', redraw);
  };
}

/**
 * HLM_PROBE=1: after each batch reaches the alert window, print `probe <hits so far> <epoch ms>`
 * on stderr, so that a benchmark can tell how long an appended line took to be counted.
 */
function latencyProbe(): ((hits: number) => void) | undefined {
  if (!process.env.HLM_PROBE) return undefined;
  return (hits) => writeLine(2, `probe ${hits} ${Date.now()}`);
}

export async function runMonitorCommand(rawArgs: string[]): Promise<number> {
  return runCommand(monitorCommand, USAGE, () => parseMonitorArgs(rawArgs), runMonitor);
}
