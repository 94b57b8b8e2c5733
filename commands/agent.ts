/**
 * `agent`: on a web server, follow its logs and publish what is counted to the fleet's stream
 * (NATS JetStream); the central monitor (`--nats URL`) alerts on the whole fleet.
 * Arguments → the NATS connection and the agent's checkpoint → the agent's root actor.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import type { ArgsDef, CommandDef } from 'citty';
import { createActor, toPromise } from 'xstate';
import { list, logFormat, metricsAddr, metricsBuckets, numberInRange, PROGRAM, readArgs, UsageError } from '../lib/cli-args';
import type { LogFormat } from '../lib/log-format';
import type { Metrics, MetricsTotals } from '../lib/metrics';
import { runCommand } from '../lib/usage';
import { HEADER_ROOM } from '../lib/message-split';
import { type CountsMessage, decode, encode, type FileMark, messageId, subjectToken } from '../lib/wire';
import { writeLine } from '../lib/write-line';
import { agentMachine } from '../machines/agent';

export const USAGE =
  `usage: ${PROGRAM} agent [-f FILE]... [--nats URL] [--name NAME] [--stream NAME] [--log-format FORMAT] [--poll-ms MS] [--grace-ms MS] [--watch] [--nats-creds FILE] [--nats-ca FILE] [--metrics ADDR [--metrics-sections N] [--metrics-buckets LIST]]`;

const agentArgs = {
  file: { type: 'string', alias: ['f', 'filename'], valueHint: 'PATH', description: 'Log file to follow, repeatable; a quoted glob (default /tmp/access.log)' },
  nats: { type: 'string', default: 'nats://127.0.0.1:4222', valueHint: 'URL', description: 'The NATS server (nats:// or tls://); credentials come from NATS_TOKEN or NATS_USER/NATS_PASSWORD, or --nats-creds' },
  name: { type: 'string', valueHint: 'NAME', description: "This agent's name (default: the host name)" },
  stream: { type: 'string', default: 'HLM', valueHint: 'NAME', description: 'The JetStream stream (created when missing)' },
  'log-format': { type: 'string', valueHint: 'FORMAT', description: "The logs' format, as the monitor's --log-format (a name, an nginx log_format or Apache LogFormat string, or @CONFIG:NAME); default: each file's first lines decide" },
  'nats-creds': { type: 'string', valueHint: 'FILE', description: 'A NATS .creds file' },
  'nats-ca': { type: 'string', valueHint: 'FILE', description: "The CA of the server's TLS certificate" },
  'poll-ms': { type: 'string', default: '1000', valueHint: 'MS', description: "How often followed files are checked, a whole number from 10 to 60000; the polls land --grace-ms after each second (that one makes the second's message), so more than one a second only reads sooner" },
  'grace-ms': { type: 'string', default: '500', valueHint: 'MS', description: "How long after its second a line may still be written, 0 to 60000: a second is published as complete once the files have been read this long after it; a line written later (Apache's %t is when the request came in) counts at the centre as late" },
  metrics: { type: 'string', valueHint: 'ADDR', description: "Serve Prometheus metrics of what this agent has published at http://ADDR/metrics: HOST:PORT, :PORT or PORT (host 127.0.0.1), [IPv6]:PORT" },
  'metrics-sections': { type: 'string', valueHint: 'N', description: 'With --metrics: sections with their own label, the first N seen (the rest count as other), a whole number from 0 to 10000 (default 20)' },
  'metrics-buckets': { type: 'string', valueHint: 'LIST', description: "With --metrics: the request-duration histogram's bounds in seconds, ascending, e.g. 0.01,0.1,1 (default 0.005 to 10, as prom-client's)" },
  watch: { type: 'boolean', default: false, description: 'Also use file-system events as a hint to read sooner (the agent polls only by default: it publishes once a second anyway, and events cost 3-6 % of a core at 1,000 lines/s)' },
  help: { type: 'boolean', alias: 'h', description: 'Show this help' },
} satisfies ArgsDef;

export const agentCommand: CommandDef<any> = {
  meta: { name: 'agent', description: 'Follow this host’s logs and publish their counts to the fleet’s NATS stream' },
  args: agentArgs,
};

export interface AgentOptions {
  paths: string[];
  nats: string;
  name: string;
  stream: string;
  credsFile?: string;
  caFile?: string;
  pollMs: number;
  graceMs: number;
  watch: boolean;
  /** `--log-format`'s; absent: each file's first lines decide. */
  format?: LogFormat;
  /** `--metrics`: where to serve what the agent has published (sections and buckets absent: lib/metrics' defaults). */
  metrics?: { addr: { host: string; port: number }; sections?: number; buckets?: number[] };
}

export function parseAgentArgs(rawArgs: string[]): AgentOptions | null {
  const args = readArgs(rawArgs, agentArgs, ['file']);
  if (args.help) return null;
  const paths = [...list(args.file), ...args._];
  if (paths.includes('-')) throw new UsageError('an agent follows files, not standard input (-)');
  const name = String(args.name ?? subjectToken(os.hostname().split('.')[0]!));
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(name)) throw new UsageError(`--name must be 1 to 64 letters, digits, - or _ (not first), got '${name}'`);
  return {
    paths: paths.length > 0 ? paths : ['/tmp/access.log'],
    nats: String(args.nats),
    name,
    stream: String(args.stream),
    credsFile: args['nats-creds'] === undefined ? undefined : String(args['nats-creds']),
    caFile: args['nats-ca'] === undefined ? undefined : String(args['nats-ca']),
    pollMs: numberInRange(args['poll-ms'], '--poll-ms', { min: 10, max: 60_000, integer: true }),
    graceMs: numberInRange(args['grace-ms'], '--grace-ms', { min: 0, max: 60_000, integer: true }),
    watch: Boolean(args.watch),
    format: args['log-format'] === undefined ? undefined : logFormat(String(args['log-format'])),
    metrics: metricsOptions(args),
  };
}

/** `--metrics ADDR [--metrics-sections N] [--metrics-buckets LIST]`; the two others only with it. */
function metricsOptions(args: Record<string, unknown>): AgentOptions['metrics'] {
  if (args.metrics === undefined) {
    for (const flag of ['metrics-sections', 'metrics-buckets']) if (args[flag] !== undefined) throw new UsageError(`--${flag} goes with --metrics ADDR`);
    return undefined;
  }
  return {
    addr: metricsAddr(String(args.metrics)),
    sections: args['metrics-sections'] === undefined ? undefined : numberInRange(args['metrics-sections'], '--metrics-sections', { min: 0, max: 10_000, integer: true }),
    buckets: args['metrics-buckets'] === undefined ? undefined : metricsBuckets(String(args['metrics-buckets'])),
  };
}

/**
 * The agent's /metrics, served: a Metrics of what it publishes, each message counted as it is
 * first sent (prom-client is loaded only with --metrics). A restart goes on from the totals its
 * last message carries (its `metrics` field).
 */
async function serveAgentMetrics(o: NonNullable<AgentOptions['metrics']>): Promise<{ metrics: Metrics; url: string; stop: () => void }> {
  const { Metrics, DEFAULT_BUCKETS, DEFAULT_SECTIONS } = await import('../lib/metrics');
  const { serveMetrics, METRICS_PATH } = await import('../lib/metrics-server');
  const metrics = new Metrics({ sections: o.sections ?? DEFAULT_SECTIONS, buckets: o.buckets ?? DEFAULT_BUCKETS });
  const host = o.addr.host.includes(':') ? `[${o.addr.host}]` : o.addr.host;
  try {
    const served = await serveMetrics(metrics, o.addr);
    return { metrics, url: `http://${host}:${served.port}${METRICS_PATH}`, stop: served.stop };
  } catch (error) {
    throw new Error(`cannot serve the metrics on ${host}:${o.addr.port}: ${error instanceof Error ? error.message : error}`);
  }
}

/** The subject prefix of a stream's counts: `hlm.counts.` for the default stream. */
export const countsPrefix = (stream: string) => (stream === 'HLM' ? 'hlm.counts.' : `hlm.${subjectToken(stream)}.counts.`);

/** How long the agent watches its subject at start when its last message is recent, ms. */
export const WATCH_MS = 3000;
/** A last message stored less than this long ago may be another agent's, live under this name. */
const RECENT_MS = 5000;
/** Another instance on the subject is said at most this often while running, ms. */
const OTHER_EVERY_MS = 10_000;
/** How often a running agent looks at its subject's last message for another instance, ms. */
const OTHER_LOOK_MS = 2000;

/** A random id for this process (16 characters of [A-Za-z0-9_-]): on each message, so that two agents under one name stay apart. */
export const newInstance = () => randomBytes(12).toString('base64url');

/** Runs an agent until SIGINT, SIGTERM or SIGHUP; the exit code. */
export async function runAgent(o: AgentOptions): Promise<number> {
  const err = (line: string) => writeLine(2, line);
  // Served before anything is connected: an address that cannot be bound ends the run at once.
  let served: Awaited<ReturnType<typeof serveAgentMetrics>> | undefined;
  if (o.metrics) {
    try {
      served = await serveAgentMetrics(o.metrics);
    } catch (error) {
      err(`error: ${error instanceof Error ? error.message : error}`);
      return 1;
    }
    err(`metrics: ${served.url}`);
  }
  try {
    return await runAgentOn(o, err, served?.metrics);
  } finally {
    served?.stop();
  }
}

async function runAgentOn(o: AgentOptions, err: (line: string) => void, metrics: Metrics | undefined): Promise<number> {
  const nats = await import('../lib/nats');
  const instance = newInstance();
  const nc = await nats.connectNats(o.nats, {
    credsFile: o.credsFile,
    caFile: o.caFile,
    name: `hlm-agent-${o.name}`,
    onStatus: (s) => err(s === 'disconnected' ? `lost the connection to ${o.nats}; counting on, publishing when it is back` : `connected to ${o.nats} again`),
  });
  try {
    const prefix = countsPrefix(o.stream);
    const subject = `${prefix}${o.name}`;
    const streamSpec = { name: o.stream, subjects: [`${prefix}>`], subject, warn: (line: string) => err(`warning: ${line}`) };
    const info = await nats.ensureStream(nc, streamSpec);
    const js = nats.jetstream(nc);
    // The stream is the checkpoint store: its last message from this agent says where to go on.
    const jsm = await nats.jetstreamManager(nc);
    const last = await nats.lastMessage(jsm, o.stream, subject);
    let resume: FileMark[] = [];
    let firstSeq = 1;
    let firstClock: number | undefined;
    err(`agent ${o.name}: connected to ${o.nats}, publishing to ${subject} (stream ${o.stream})`);
    const following = `following ${o.paths.join(', ')}`;
    let checkpoint: CountsMessage | undefined;
    let unreadable = '';
    if (last) {
      try {
        checkpoint = decode(last.data);
      } catch (e) {
        unreadable = e instanceof Error ? e.message : String(e);
      }
    }
    // Another agent may be publishing under this name (a cloned host): a recent last message is
    // watched for a while; a live agent publishes every second, a killed one is silent. The
    // subject is read in the stream, not subscribed to: a subscriber there would take the
    // publishes that no stream takes (a server back with an empty store), and no 503 would say so.
    const otherSince = async (afterSeq: number) => {
      const m = await nats.nextMessage(jsm, o.stream, subject, afterSeq + 1);
      const other = m ? instanceIn(m.data) : null;
      return other === null || other === instance ? undefined : { other, seq: m!.seq };
    };
    if (last && Date.now() - last.time.getTime() < RECENT_MS) {
      err(`the last message on ${subject} is ${((Date.now() - last.time.getTime()) / 1000).toFixed(1)} s old: watching ${subject} for ${WATCH_MS / 1000} s in case another agent publishes under --name ${o.name}`);
      for (const end = Date.now() + WATCH_MS; Date.now() < end; ) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const found = await otherSince(last.seq);
        if (found) {
          throw new nats.NatsError(
            `another agent (instance ${found.other}) is publishing to ${subject}: give each agent its own --name (this one is not starting)`,
          );
        }
      }
    }
    if (checkpoint && metrics) seedTotals(metrics, checkpoint.metrics, err);
    // The counters show what the stored messages carry (`showTotals`): never more than a restart goes on from.
    metrics?.showTotals(metrics.totals());
    if (checkpoint) {
      resume = checkpoint.files;
      firstSeq = checkpoint.seq + 1;
      firstClock = checkpoint.clock;
    }
    // Said once the signals are handled: a SIGTERM after this line stops the agent as usual.
    const startLine = checkpoint
      ? `going on from message ${checkpoint.seq} of ${subject} (${plural(checkpoint.files.length, 'file')}); ${following}`
      : last
        ? `the checkpoint (message ${last.seq} of stream ${o.stream}) could not be read (${unreadable}): starting fresh, from the end of each file; ${following}`
        : `starting fresh (no message on ${subject} yet), from the end of each file; ${following}`;
    // While it runs, a message of another instance would sit between two of its own: the first
    // message on the subject after the one before its last is looked at, a request every 2 s.
    let acked: number[] = [];
    let checked = 0;
    let saidOther = -Infinity;
    let looking = false;
    const watchOthers = setInterval(() => {
      const [before, latest] = acked;
      if (looking || latest === undefined || before === checked) return;
      looking = true;
      checked = before!;
      nats
        .nextMessage(jsm, o.stream, subject, before! + 1)
        .then((m) => {
          if (!m || m.seq >= latest || Date.now() - saidOther < OTHER_EVERY_MS) return;
          const other = instanceIn(m.data) ?? '(unreadable)';
          saidOther = Date.now();
          err(`warning: another agent (instance ${other}) is publishing to ${subject} too: give each agent its own --name (the centre counts both)`);
        })
        .catch(() => {})
        .finally(() => (looking = false));
    }, OTHER_LOOK_MS);
    // The server's largest message (less room for the headers), and the stream's if smaller.
    const streamMax = info.config.max_msg_size > 0 ? info.config.max_msg_size : Infinity;
    const largest = Math.min(nc.info?.max_payload ?? 1024 * 1024, streamMax);
    // With --metrics, room is kept in each message for the totals it carries.
    const maxBytes = largest - HEADER_ROOM - (metrics ? Math.min(TOTALS_ROOM, Math.floor(largest / 4)) : 0);
    /** The last message counted into the metrics: a publish retried is not counted again. */
    let counted = firstSeq - 1;
    let saidNoRoom = false;
    /** A message's bytes, and the totals it carries (shown once the stream has stored it). */
    const bodyOf = (m: CountsMessage): { body: Uint8Array; totals?: MetricsTotals } => {
      const body = encode(m);
      if (!metrics) return { body };
      if (m.seq > counted) {
        metrics.addSegments(m.segments);
        counted = m.seq;
      }
      const totals = metrics.totals();
      const carried = encode({ ...m, metrics: totals });
      if (carried.length <= largest - HEADER_ROOM) return { body: carried, totals };
      if (!saidNoRoom) err(`warning: a message has no room for the metrics' totals (${carried.length - body.length} bytes); an agent restarted on it starts its counters from 0`);
      saidNoRoom = true;
      return { body };
    };
    let saidRecreated = false;
    const actor = createActor(agentMachine, {
      systemId: 'agent',
      input: {
        agent: o.name,
        instance,
        maxBytes,
        paths: o.paths,
        format: o.format,
        pollMs: o.pollMs,
        watch: o.watch,
        resume,
        firstSeq,
        firstClock,
        publish: async (m) => {
          const { body, totals } = bodyOf(m);
          try {
            const ack = await nats.publishCounts(js, subject, body, messageId(m));
            acked = [...acked.slice(-1), ack.seq];
          } catch (e) {
            // A server back with an empty store (its data lost): the stream is made again.
            if (!nats.isNoStream(e)) throw e;
            await nats.ensureStream(nc, streamSpec);
            if (!saidRecreated) err(`stream ${o.stream} was gone from ${o.nats} (its store lost?): created it again; publishing on`);
            saidRecreated = true;
            acked = [];
            await nats.publishCounts(js, subject, body, messageId(m));
          }
          // Stored: what a restarted agent goes on from, so what the counters show.
          if (totals) metrics?.showTotals(totals);
        },
        now: Date.now,
        // A message when the clock moves on (once a second), at least every 1.5 s while it cannot.
        everyMs: 1500,
        graceMs: o.graceMs,
        maxQueued: 600,
        err,
      },
    });
    let stoppedBy: string | undefined;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        stoppedBy ??= signal;
        actor.send({ type: 'stop' });
      });
    }
    err(startLine);
    actor.start();
    const { published, unsent } = await toPromise(actor);
    clearInterval(watchOthers);
    // The stream's last message is the checkpoint: what did not reach it is read again next time.
    const left = unsent === 0 ? 'none left unsent' : `${unsent} left unsent (the next start reads their lines again)`;
    err(`stopped${stoppedBy ? ` on ${stoppedBy}` : ''}: ${plural(published, 'message')} published to ${subject}, ${left}`);
    return 0;
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Room kept in a message for the metrics' totals, bytes (a quarter of the largest message at most). */
const TOTALS_ROOM = 16 * 1024;

/** Restores the totals a checkpoint carries; without them (an agent before --metrics) the counters start from 0, said once. */
function seedTotals(metrics: Metrics, totals: unknown, err: (line: string) => void) {
  if (totals === undefined) {
    err('metrics: the last message carries no totals (published without --metrics): the counters start from 0');
    return;
  }
  try {
    metrics.restore(totals as MetricsTotals);
  } catch (error) {
    err(`warning: the metrics' totals in the last message could not be restored (${error instanceof Error ? error.message : error}): the counters start from 0`);
  }
}

/** The instance that published a message (`(no instance id)` for an agent of before them), or null when it does not decode. */
function instanceIn(data: Uint8Array): string | null {
  try {
    return decode(data).instance ?? '(no instance id)';
  } catch {
    return null;
  }
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export async function runAgentCommand(rawArgs: string[]): Promise<number> {
  return runCommand(agentCommand, USAGE, () => parseAgentArgs(rawArgs), runAgent);
}
