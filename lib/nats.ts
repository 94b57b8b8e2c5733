/**
 * The NATS JetStream plumbing of the fleet mode (issue 11), kept small so that the agent and the
 * central monitor share it: connecting (credentials from the environment or a .creds file, TLS,
 * reconnecting forever), the stream, publishing counts with a message ID, the last message on a
 * subject (the agent's checkpoint) and an ordered consumer that survives a server restart.
 *
 * Facts this relies on (nats-server 2.9.10, @nats-io/* 3.x, under Bun; see spec/nats.spec.ts):
 * - `filter_subjects` (plural) needs server 2.10: consumers here take one filter subject.
 * - The library's ordered consumer, when created from a start time, cannot re-create itself after
 *   the server restarts: it sends `deliver_policy: by_start_sequence` with the original
 *   `opt_start_time` still set, which the server rejects (JetStream API error 10094), forever.
 *   Created from a start sequence it re-creates itself fine. So `consumeFrom` turns a start time
 *   into a stream sequence first, and also re-creates the consumer itself (from the last sequence
 *   it saw) if the library's one ever gives up.
 */
import * as fs from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream';

export type { NatsConnection } from '@nats-io/transport-node';
export type { JetStreamClient, JetStreamManager, StreamInfo } from '@nats-io/jetstream';
export { jetstream, jetstreamManager };

/** A failure to reach NATS, as one line meant for the user (no stack trace needed). */
export class NatsError extends Error {
  override name = 'NatsError';
}

export type NatsStatus = 'disconnected' | 'reconnected';

export interface ConnectOptions {
  /** A NATS `.creds` file (user JWT and NKey seed). */
  credsFile?: string;
  /** A PEM file with the CA that signed the server's certificate; implies TLS. */
  caFile?: string;
  /** The client name the server's monitoring shows. */
  name?: string;
  /** Told when the connection is lost and when it is back. */
  onStatus?: (s: NatsStatus) => void;
  /** Where `NATS_TOKEN`, `NATS_USER`, `NATS_PASSWORD` are read (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Milliseconds between reconnect attempts (default 1000; the wait never grows). */
  reconnectWaitMs?: number;
}

const URL_HELP = 'expected nats://HOST[:PORT] or tls://HOST[:PORT]';

/**
 * Checks a server URL (or a comma-separated list of them) and returns the servers and whether TLS
 * was asked for. Credentials in the URL are refused: they would sit on a command line.
 */
export function parseNatsUrl(url: string): { servers: string[]; tls: boolean } {
  const parts = url.split(',').map((s) => s.trim());
  let tls = false;
  for (const part of parts) {
    let u: URL;
    try {
      u = new URL(part);
    } catch {
      throw new NatsError(`bad NATS URL '${url}': ${URL_HELP}`);
    }
    if (u.protocol !== 'nats:' && u.protocol !== 'tls:') throw new NatsError(`bad NATS URL '${url}': ${URL_HELP}`);
    if (u.username || u.password) {
      throw new NatsError(
        `bad NATS URL: credentials do not belong in the URL; set NATS_TOKEN, or NATS_USER and NATS_PASSWORD, or use a .creds file`,
      );
    }
    const port = u.port === '' ? 4222 : Number(u.port);
    if (!u.hostname || (u.pathname !== '' && u.pathname !== '/') || u.search || u.hash || !(port > 0 && port < 65536)) {
      throw new NatsError(`bad NATS URL '${url}': ${URL_HELP}`);
    }
    if (u.protocol === 'tls:') tls = true;
  }
  return { servers: parts, tls };
}

const lowerFirst = (s: string) => (/^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s);

/** The reason a connection failed, in a few words. */
export function describeNatsError(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  const msg = String(e?.message ?? err);
  if (e?.name === 'AuthorizationError' || /authorization violation/i.test(msg)) return 'authorization violation';
  if (e?.name === 'UserAuthenticationExpiredError') return 'user authentication expired';
  if (e?.code === 'ENOTFOUND' || /ENOTFOUND/.test(msg)) return `unknown host ${msg.replace(/.*ENOTFOUND\s*/, '')}`;
  if (/ECONNREFUSED|connection refused/i.test(msg)) return 'connection refused';
  if (/server does not support 'tls'/.test(msg)) return 'the server does not offer TLS';
  if (/tls.*is not available on this server/i.test(msg)) return 'the server does not offer TLS';
  if (/certificate|self.signed|SSL|TLS/i.test(msg) || /CERT|SSL|TLS/.test(e?.code ?? '')) return `TLS: ${lowerFirst(msg)}`;
  if (e?.name === 'TimeoutError' || /timeout/i.test(msg)) return 'timed out';
  return lowerFirst(msg.split('\n')[0]!);
}

function readFileOrThrow(file: string, what: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String((e as Error).message);
    throw new NatsError(`cannot read ${what} ${file}: ${why}`);
  }
}

/**
 * Connects to NATS. Credentials come from the environment (`NATS_TOKEN`, or `NATS_USER` and
 * `NATS_PASSWORD`) or from a `.creds` file, never from the command line; `tls://` URLs (or a CA
 * file) ask for TLS. Once connected it reconnects forever, `reconnectWaitMs` (1 s) apart, so a
 * server that comes back is picked up within about a second; `onStatus` hears about it. The first
 * connection failing throws a `NatsError` with one line: `cannot connect to URL: REASON`.
 * A connection that the library gives up on later (authorization failing on a reconnect) ends
 * `nc.closed()` with that error.
 */
export async function connectNats(url: string, opts: ConnectOptions = {}): Promise<NatsConnection> {
  const { servers, tls } = parseNatsUrl(url);
  const env = opts.env ?? process.env;
  const copts: NodeConnectionOptions = {
    servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectWaitMs ?? 1000,
    reconnectJitter: 100,
    reconnectJitterTLS: 250,
    // A peer that vanished without closing the socket is noticed within about a minute.
    pingInterval: 20_000,
    maxPingOut: 3,
    timeout: 10_000,
  };
  const token = env.NATS_TOKEN;
  const user = env.NATS_USER;
  const password = env.NATS_PASSWORD;
  if (token && (user || password)) throw new NatsError('set NATS_TOKEN, or NATS_USER and NATS_PASSWORD, not both');
  if (user && password === undefined) throw new NatsError('NATS_USER is set but NATS_PASSWORD is not');
  if (!user && password !== undefined && password !== '') throw new NatsError('NATS_PASSWORD is set but NATS_USER is not');
  if (opts.credsFile && (token || user)) throw new NatsError('use a .creds file or NATS_TOKEN/NATS_USER, not both');
  if (token) copts.token = token;
  if (user) {
    copts.user = user;
    copts.pass = password;
  }
  if (opts.credsFile) {
    const creds = readFileOrThrow(opts.credsFile, 'creds file');
    const text = new TextDecoder().decode(creds);
    if (!/BEGIN NATS USER JWT/.test(text) || !/BEGIN USER NKEY SEED/.test(text)) {
      throw new NatsError(`bad creds file ${opts.credsFile}: expected a NATS user JWT and NKey seed`);
    }
    copts.authenticator = credsAuthenticator(creds);
  }
  if (opts.caFile) {
    readFileOrThrow(opts.caFile, 'CA file');
    copts.tls = { caFile: opts.caFile };
  } else if (tls) {
    copts.tls = {};
  }

  let nc: NatsConnection;
  try {
    nc = await connect(copts);
  } catch (e) {
    throw new NatsError(`cannot connect to ${url}: ${describeNatsError(e)}`);
  }
  if (opts.onStatus) {
    const onStatus = opts.onStatus;
    (async () => {
      let down = false;
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' && !down) {
          down = true;
          onStatus('disconnected');
        } else if (s.type === 'reconnect' && down) {
          down = false;
          onStatus('reconnected');
        }
      }
    })().catch(() => {});
  }
  return nc;
}

async function manager(nc: NatsConnection): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (e) {
    const msg = String((e as Error)?.message ?? e);
    if (/jetstream.*not enabled|no responders|503/i.test(msg) || (e as Error)?.name === 'JetStreamNotEnabled') {
      throw new NatsError(`JetStream is not enabled on ${nc.getServer()} (start nats-server with -js)`);
    }
    throw new NatsError(`JetStream: ${describeNatsError(e)}`);
  }
}

export interface StreamSpec {
  name?: string;
  subjects?: string[];
  maxAgeSeconds?: number;
  duplicateWindowSeconds?: number;
  /**
   * A subject the caller publishes to: an existing stream must take it (checked by
   * `checkStream`), or ensureStream throws. Default: the first of `subjects`.
   */
  subject?: string;
  /** Told, one line each, what in an existing stream's configuration may lose the fleet's counts. */
  warn?: (line: string) => void;
}

export const DEFAULT_STREAM = 'HLM';
export const DEFAULT_SUBJECTS = ['hlm.counts.>'];

const nanos = (seconds: number) => Math.round(seconds * 1e9);

/**
 * The stream, created (file storage, limits retention, `maxAgeSeconds` old at most, a duplicate
 * window for message IDs) when it is missing. An existing stream is used as it is, since an
 * operator may have made it, once `checkStream` has looked at its configuration: what cannot
 * carry the fleet throws a `NatsError` (one line), what may lose counts goes to `warn`. Returns
 * its info.
 */
export async function ensureStream(nc: NatsConnection, spec: StreamSpec = {}): Promise<StreamInfo> {
  const { name = DEFAULT_STREAM, subjects = DEFAULT_SUBJECTS, maxAgeSeconds = 86_400, duplicateWindowSeconds = 120 } = spec;
  const jsm = await manager(nc);
  const existing = await streamInfo(jsm, name);
  if (existing) {
    const { errors, warnings } = checkStream(existing, spec.subject ?? subjects[0]!, nc.info?.max_payload);
    if (errors.length > 0) throw new NatsError(errors[0]!);
    for (const w of warnings) spec.warn?.(w);
    return existing;
  }
  try {
    return await jsm.streams.add({
      name,
      subjects,
      storage: StorageType.File,
      max_age: nanos(maxAgeSeconds),
      duplicate_window: nanos(Math.min(duplicateWindowSeconds, maxAgeSeconds)),
      num_replicas: 1,
    });
  } catch (e) {
    // Another agent may have made it a moment ago.
    const again = await streamInfo(jsm, name).catch(() => null);
    if (again) return again;
    throw new NatsError(`cannot create stream ${name}: ${describeNatsError(e)}`);
  }
}

/** The smallest message size a stream may limit the fleet to: an agent's idle message, with room. */
export const MIN_MSG_SIZE = 4096;
/** Less than an hour of one agent's messages (one a second) is too little to catch up from. */
const HOUR_OF_MESSAGES = 3600;

/** Whether `filter` (with `*` and `>` wildcards) takes `subject`. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

/**
 * What in a stream's configuration cannot carry the fleet (`errors`: the agent or the centre
 * would not work) or may lose its counts (`warnings`), a line each, naming the setting and what
 * to do. `maxPayload`: the server's largest message.
 */
export function checkStream(info: StreamInfo, subject: string, maxPayload?: number): { errors: string[]; warnings: string[] } {
  const c = info.config;
  const name = `stream ${c.name}`;
  const errors: string[] = [];
  const warnings: string[] = [];
  const subjects = c.subjects ?? [];
  if (!subjects.some((f) => subjectMatches(f, subject))) {
    errors.push(`${name} takes ${subjects.join(', ') || 'no subjects'}, not ${subject}: add ${subject.replace(/\.[^.]+$/, '.>')} to its subjects, or give --stream a stream of its own`);
  }
  if (c.retention === 'workqueue' || c.retention === 'interest') {
    errors.push(`${name} has ${c.retention} retention: it deletes messages before the centre reads them and loses the agents' checkpoints; it needs limits retention (nats stream edit cannot change it: make it again)`);
  }
  const limits = [
    c.max_msgs > 0 && `max_msgs ${c.max_msgs}`,
    c.max_bytes > 0 && `max_bytes ${c.max_bytes}`,
    (c.max_msgs_per_subject ?? 0) > 0 && `max_msgs_per_subject ${c.max_msgs_per_subject}`,
  ].filter(Boolean);
  if (c.discard === 'new' && limits.length > 0) {
    errors.push(`${name} refuses new messages once full (discard new, ${limits.join(', ')}): the fleet would stop counting; set discard old, or no such limit`);
  }
  if (c.max_msg_size > 0 && c.max_msg_size < MIN_MSG_SIZE) {
    errors.push(`${name} takes messages of ${c.max_msg_size} bytes at most (max_msg_size): too small for an agent's message; set it to -1 (the server's max_payload)`);
  } else if (c.max_msg_size > 0 && maxPayload !== undefined && c.max_msg_size < maxPayload) {
    warnings.push(`${name} takes messages of ${c.max_msg_size} bytes at most (max_msg_size), less than the server's ${maxPayload}: a busy second's counts go in several messages; set it to -1 to use the server's`);
  }
  if (errors.length > 0) return { errors, warnings };
  const short = [
    c.max_msgs > 0 && c.max_msgs < HOUR_OF_MESSAGES && `max_msgs ${c.max_msgs}`,
    c.max_bytes > 0 && c.max_bytes < 64 * 1024 * 1024 && `max_bytes ${c.max_bytes}`,
    (c.max_msgs_per_subject ?? 0) > 0 && c.max_msgs_per_subject < HOUR_OF_MESSAGES && `max_msgs_per_subject ${c.max_msgs_per_subject}`,
    c.max_age > 0 && c.max_age < nanos(3600) && `max_age ${Math.round(c.max_age / 1e9)} s`,
  ].filter(Boolean);
  if (short.length > 0) {
    warnings.push(`${name} keeps less than an hour of one agent's messages (${short.join(', ')}): what it drops before the centre reads it is never counted`);
  }
  if (c.storage === StorageType.Memory) warnings.push(`${name} is kept in memory: a restart of the server loses the counts not yet read and the agents' checkpoints`);
  if (!(c.duplicate_window > 0)) warnings.push(`${name} has no duplicate window: a publish retried after a lost acknowledgement is counted twice`);
  return { errors, warnings };
}

/** Whether a publish failed because no stream takes its subject (a server back with an empty store). */
export function isNoStream(e: unknown): boolean {
  // @nats-io/jetstream 3.x: no responders on the subject is JetStreamNotEnabled ("jetstream is not
  // enabled"), its cause a RequestError "no responders"; a server with JetStream and no stream
  // for the subject answers the same.
  const err = e as { name?: string; message?: string; cause?: { message?: string } };
  const text = `${err?.name} ${err?.message ?? e} ${err?.cause?.message ?? ''}`;
  return /JetStreamNotEnabled|NoResponders|no responders|stream not found|\b503\b/i.test(text);
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (e) {
    if ((e as Error)?.name === 'StreamNotFoundError' || /stream not found/i.test(String((e as Error)?.message))) return null;
    throw new NatsError(`cannot look up stream ${name}: ${describeNatsError(e)}`);
  }
}

/**
 * Publishes one message with a message ID: a retry with the same ID within the stream's duplicate
 * window is stored once and acknowledged with `duplicate: true`. Throws when no acknowledgement
 * came (server away: retry with the same ID).
 */
export async function publishCounts(
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array,
  msgID: string,
): Promise<{ seq: number; duplicate: boolean }> {
  const ack = await js.publish(subject, payload, { msgID });
  return { seq: ack.seq, duplicate: ack.duplicate };
}

export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  time: Date;
}

/** The last message stored on `subject` in `stream`, or null when there is none. */
export async function lastMessage(jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMessage | null> {
  const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  return m ? { subject: m.subject, seq: m.seq, data: m.data, time: m.time } : null;
}

/** The first message stored on `subject` in `stream` at or after sequence `fromSeq`, or null. */
export async function nextMessage(jsm: JetStreamManager, stream: string, subject: string, fromSeq: number): Promise<StoredMessage | null> {
  // The server takes next_by_subj with a sequence (2.9); the library types only seq or last_by_subj.
  const m = await jsm.streams.getMessage(stream, { seq: fromSeq, next_by_subj: subject } as unknown as { seq: number });
  return m ? { subject: m.subject, seq: m.seq, data: m.data, time: m.time } : null;
}

export interface ConsumeStart {
  /** The first message stored at or after this time (ignored when `startSeq` is given). */
  startTime?: Date;
  /** The first message at or after this stream sequence. Neither: from the start of the stream. */
  startSeq?: number;
}

/** `pending`: how many messages the consumer had still to deliver after this one (0: caught up). */
export type OnMessage = (subject: string, data: Uint8Array, seq: number, time: Date, pending: number) => void;

export interface ConsumeOptions {
  /** Told of an error thrown by `onMessage`, which stops the consumer (default: rethrown, uncaught). */
  onError?: (err: unknown) => void;
  /** Makes the stream again when it is gone (a server back with an empty store). */
  recreate?: () => Promise<void>;
  /**
   * Told when the stream was made anew under the consumer (its last sequence is below the last
   * one delivered): its messages are delivered from its first one, their sequences counted anew.
   */
  onReset?: () => void;
  /** How often (ms) the stream is looked at for that, while the consumer runs (default 2000). */
  checkEveryMs?: number;
}

/**
 * The stream sequence of the first message stored at or after `time` (last sequence + 1 when
 * there is none): an ephemeral consumer from that time is asked where it would start, and deleted.
 */
export async function sequenceAtTime(jsm: JetStreamManager, stream: string, time: Date): Promise<number> {
  const ci = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: time.toISOString(),
    mem_storage: true,
    inactive_threshold: nanos(10),
  });
  jsm.consumers.delete(stream, ci.name).catch(() => {});
  return ci.delivered.stream_seq + 1;
}

/**
 * Delivers the messages of `stream` on `filterSubject` ('' for all) in order, from a time or a
 * sequence, and then the new ones as they come, until the returned function is called. Each
 * message is delivered once: after a reconnect or a server restart the consumer is re-created from
 * the last sequence delivered (see the header of this file for why the start time becomes a sequence).
 */
export function consumeFrom(
  js: JetStreamClient,
  stream: string,
  filterSubject: string,
  start: ConsumeStart,
  onMessage: OnMessage,
  opts: ConsumeOptions = {},
): () => Promise<void> {
  let stopped = false;
  let lastSeq = 0;
  let firstSeq: number | null = start.startSeq !== undefined ? Math.max(1, start.startSeq) : start.startTime ? null : 1;
  let current: ConsumerMessages | null = null;
  let wake: (() => void) | null = null;
  let userError: { err: unknown } | null = null;

  const deliver = (m: JsMsg) => {
    if (stopped || m.seq <= lastSeq) return;
    lastSeq = m.seq;
    try {
      onMessage(m.subject, m.data, m.seq, m.time, m.info.pending);
    } catch (err) {
      userError = { err };
      stopped = true;
      throw err; // stops the library's consumer
    }
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => { wake = null; resolve(); }, ms);
      wake = () => { clearTimeout(t); wake = null; resolve(); };
    });

  // A stream lost and made again (its store wiped) starts its sequences anew: a consumer going
  // on from the last sequence it saw would wait for that number again and skip what comes first.
  let checking = false;
  const check = setInterval(async () => {
    if (checking || stopped || lastSeq === 0) return;
    checking = true;
    try {
      const info = await streamInfo(await js.jetstreamManager(false), stream);
      if (!info) await opts.recreate?.();
      else if (info.state.last_seq >= lastSeq) return;
      lastSeq = 0;
      firstSeq = 1;
      opts.onReset?.();
      await (current as ConsumerMessages | null)?.close().catch(() => {});
    } catch {
      // the server is away: the loop below waits for it
    } finally {
      checking = false;
    }
  }, opts.checkEveryMs ?? 2000);

  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        if (firstSeq === null) firstSeq = await sequenceAtTime(await js.jetstreamManager(false), stream, start.startTime!);
        const c = await js.consumers.get(stream, {
          ...(filterSubject ? { filter_subjects: filterSubject } : {}),
          opt_start_seq: lastSeq > 0 ? lastSeq + 1 : firstSeq,
        });
        const msgs = await c.consume({ callback: deliver });
        current = msgs;
        failures = 0;
        if (stopped) await msgs.close();
        await msgs.closed();
      } catch (e) {
        // The connection is closed for good: nothing to wait for.
        if (/ClosedConnectionError|DrainingConnectionError/.test((e as Error)?.name ?? '')) break;
        // Otherwise the server is away or the consumer could not be made: try again below.
      } finally {
        current = null;
      }
      if (stopped) break;
      await pause(Math.min(2000, 250 * 2 ** failures++));
    }
  })();

  loop.then(() => {
    if (!userError) return;
    const { err } = userError;
    if (opts.onError) opts.onError(err);
    else queueMicrotask(() => { throw err; });
  });

  // Resolves once the current consumer is closed; a re-creation still under way (server away)
  // is closed as soon as it is made, and nothing is delivered after the call either way.
  return async () => {
    stopped = true;
    clearInterval(check);
    wake?.();
    await (current as ConsumerMessages | null)?.close().catch(() => {});
  };
}
