/**
 * lib/nats.ts against a real `nats-server -js` (spec/support/nats-server.ts): the stream, message-ID
 * de-duplication, the last message on a subject, the ordered consumer (from a time, from a
 * sequence, through a server restart), and connecting with a token, user and password, and TLS.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  connectNats,
  consumeFrom,
  ensureStream,
  jetstream,
  jetstreamManager,
  lastMessage,
  NatsError,
  parseNatsUrl,
  publishCounts,
  type NatsConnection,
  type NatsStatus,
} from '../lib/nats.ts';
import { freePort, startNatsServer, stopAllNatsServers, type NatsServer } from './support/nats-server.ts';

afterAll(stopAllNatsServers);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const NO_ENV = {};

/** Resolves once `cond()` holds (polled), or fails with `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

async function connectError(url: string, opts: Parameters<typeof connectNats>[1] = { env: NO_ENV }): Promise<Error> {
  try {
    const nc = await connectNats(url, opts);
    await nc.close();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`connecting to ${url} succeeded`);
}

describe('connectNats without a server', () => {
  test('a bad URL is one line naming it', async () => {
    for (const bad of ['x', 'nats://', 'http://127.0.0.1:4222', 'nats://127.0.0.1:99999', 'nats://h:4222/path']) {
      const e = await connectError(bad);
      expect(e).toBeInstanceOf(NatsError);
      expect(e.message).toStartWith(`bad NATS URL '${bad}'`);
      expect(e.message).not.toContain('\n');
    }
    expect(parseNatsUrl('nats://a:1,tls://b')).toEqual({ servers: ['nats://a:1', 'tls://b'], tls: true });
    expect(parseNatsUrl('nats://[::1]:4222')).toEqual({ servers: ['nats://[::1]:4222'], tls: false });
  });

  test('credentials in the URL are refused: they would be on a command line', async () => {
    const e = await connectError('nats://me:secret@127.0.0.1:4222');
    expect(e.message).toStartWith('bad NATS URL: credentials do not belong in the URL');
    expect(e.message).not.toContain('secret');
  });

  test('a refused connection is one line', async () => {
    const port = await freePort();
    const e = await connectError(`nats://127.0.0.1:${port}`);
    expect(e).toBeInstanceOf(NatsError);
    expect(e.message).toBe(`cannot connect to nats://127.0.0.1:${port}: connection refused`);
  });

  test('credentials that cannot be used are one line each', async () => {
    const url = 'nats://127.0.0.1:1';
    expect((await connectError(url, { env: { NATS_USER: 'u' } })).message).toBe('NATS_USER is set but NATS_PASSWORD is not');
    expect((await connectError(url, { env: { NATS_TOKEN: 't', NATS_USER: 'u', NATS_PASSWORD: 'p' } })).message)
      .toBe('set NATS_TOKEN, or NATS_USER and NATS_PASSWORD, not both');
    expect((await connectError(url, { env: NO_ENV, credsFile: '/nonexistent/x.creds' })).message)
      .toBe('cannot read creds file /nonexistent/x.creds: no such file');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-creds-'));
    try {
      fs.writeFileSync(path.join(dir, 'bad.creds'), 'not a creds file\n');
      expect((await connectError(url, { env: NO_ENV, credsFile: path.join(dir, 'bad.creds') })).message)
        .toBe(`bad creds file ${path.join(dir, 'bad.creds')}: expected a NATS user JWT and NKey seed`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect((await connectError('tls://127.0.0.1:1', { env: NO_ENV, caFile: '/nonexistent/ca.pem' })).message)
      .toBe('cannot read CA file /nonexistent/ca.pem: no such file');
  });
});

describe('JetStream on a plain server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats(server.url, { env: NO_ENV, name: 'spec' });
  });
  afterAll(async () => { await nc?.close(); });

  test('the stream is created when missing, with file storage, the age and the duplicate window', async () => {
    const info = await ensureStream(nc, { name: 'CREATED', subjects: ['created.>'], maxAgeSeconds: 3600, duplicateWindowSeconds: 60 });
    expect(info.config).toMatchObject({
      name: 'CREATED', subjects: ['created.>'], storage: 'file', max_age: 3600e9, duplicate_window: 60e9,
    });
    const defaults = await ensureStream(nc);
    expect(defaults.config).toMatchObject({ name: 'HLM', subjects: ['hlm.counts.>'], storage: 'file', max_age: 86_400e9, duplicate_window: 120e9 });
    // A second call finds it and returns the same.
    expect((await ensureStream(nc)).created).toBe(defaults.created);
  });

  test("an operator's stream is used as it is", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'OPS', subjects: ['ops.>'], storage: 'memory' as never, max_age: 60e9, max_msgs: 1000 });
    const before = (await jsm.streams.info('OPS')).config;
    const warnings: string[] = [];
    const info = await ensureStream(nc, { name: 'OPS', subjects: ['ops.counts.>'], maxAgeSeconds: 86_400, warn: (w) => warnings.push(w) });
    expect(info.config).toEqual(before);
    expect((await jsm.streams.info('OPS')).config).toEqual(before);
    expect(info.config).toMatchObject({ subjects: ['ops.>'], storage: 'memory', max_age: 60e9, max_msgs: 1000 });
    // Used, with what may lose counts said.
    expect(warnings).toEqual([
      "stream OPS keeps less than an hour of one agent's messages (max_msgs 1000, max_age 60 s): what it drops before the centre reads it is never counted",
      "stream OPS is kept in memory: a restart of the server loses the counts not yet read and the agents' checkpoints",
    ]);
  });

  test('a message ID is stored once within the duplicate window', async () => {
    await ensureStream(nc, { name: 'DEDUP', subjects: ['dedup.>'] });
    const js = jetstream(nc);
    const a = await publishCounts(js, 'dedup.web-1', enc('one'), 'web-1:100');
    const b = await publishCounts(js, 'dedup.web-1', enc('one again'), 'web-1:100');
    const c = await publishCounts(js, 'dedup.web-1', enc('two'), 'web-1:101');
    expect(a).toEqual({ seq: 1, duplicate: false });
    expect(b).toEqual({ seq: 1, duplicate: true });
    expect(c).toEqual({ seq: 2, duplicate: false });
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info('DEDUP')).state.messages).toBe(2);
  });

  test('the last message on a subject, or null', async () => {
    await ensureStream(nc, { name: 'LAST', subjects: ['last.>'] });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    expect(await lastMessage(jsm, 'LAST', 'last.web-1')).toBeNull();
    const before = Date.now();
    await publishCounts(js, 'last.web-1', enc('a1'), 'a1');
    await publishCounts(js, 'last.web-2', enc('b1'), 'b1');
    await publishCounts(js, 'last.web-1', enc('a2'), 'a2');
    await publishCounts(js, 'last.web-2', enc('b2'), 'b2');
    const m = await lastMessage(jsm, 'LAST', 'last.web-1');
    expect(m && { subject: m.subject, seq: m.seq, data: dec(m.data) }).toEqual({ subject: 'last.web-1', seq: 3, data: 'a2' });
    expect(m!.time.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(m!.time.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(dec((await lastMessage(jsm, 'LAST', 'last.web-2'))!.data)).toBe('b2');
  });

  test('the ordered consumer from a start time, on one subject, then live', async () => {
    await ensureStream(nc, { name: 'FROMTIME', subjects: ['ft.>'] });
    const js = jetstream(nc);
    for (let i = 0; i < 3; i++) await publishCounts(js, 'ft.a', enc(`early ${i}`), `early-${i}`);
    await Bun.sleep(20);
    const t0 = new Date();
    await Bun.sleep(20);
    for (let i = 0; i < 3; i++) {
      await publishCounts(js, 'ft.a', enc(`a ${i}`), `a-${i}`);
      await publishCounts(js, 'ft.b', enc(`b ${i}`), `b-${i}`);
    }
    const got: string[] = [];
    const stop = consumeFrom(js, 'FROMTIME', 'ft.a', { startTime: t0 }, (subject, data, seq, time, pending) => {
      expect(time.getTime()).toBeGreaterThanOrEqual(t0.getTime());
      got.push(`${subject} ${seq} ${dec(data)} ${pending}`);
    });
    try {
      await until(() => got.length >= 3, '3 messages');
      expect(got).toEqual(['ft.a 4 a 0 2', 'ft.a 6 a 1 1', 'ft.a 8 a 2 0']);
      await publishCounts(js, 'ft.b', enc('b live'), 'b-live');
      await publishCounts(js, 'ft.a', enc('a live'), 'a-live');
      await until(() => got.length >= 4, 'the live message');
      expect(got[3]).toBe('ft.a 11 a live 0');
    } finally {
      await stop();
    }
    // Stopped: nothing more arrives.
    await publishCounts(js, 'ft.a', enc('after stop'), 'after-stop');
    await Bun.sleep(200);
    expect(got).toHaveLength(4);
  });

  test('the ordered consumer from a start time after the last message waits for new ones', async () => {
    await ensureStream(nc, { name: 'FUTURE', subjects: ['fu.>'] });
    const js = jetstream(nc);
    await publishCounts(js, 'fu.a', enc('old'), 'old');
    const got: string[] = [];
    const stop = consumeFrom(js, 'FUTURE', 'fu.a', { startTime: new Date(Date.now() + 1000) }, (_s, data) => got.push(dec(data)));
    try {
      await Bun.sleep(200);
      expect(got).toEqual([]);
      await publishCounts(js, 'fu.a', enc('new'), 'new');
      await until(() => got.length >= 1, 'the new message');
      expect(got).toEqual(['new']);
    } finally {
      await stop();
    }
  });

  test('the ordered consumer from a sequence, and over all subjects', async () => {
    await ensureStream(nc, { name: 'FROMSEQ', subjects: ['fs.>'] });
    const js = jetstream(nc);
    for (let i = 1; i <= 6; i++) await publishCounts(js, i % 2 ? 'fs.a' : 'fs.b', enc(`m${i}`), `m${i}`);
    const onA: number[] = [];
    const all: number[] = [];
    const stops = [
      consumeFrom(js, 'FROMSEQ', 'fs.a', { startSeq: 2 }, (_s, _d, seq) => onA.push(seq)),
      consumeFrom(js, 'FROMSEQ', '', { startSeq: 4 }, (_s, _d, seq) => all.push(seq)),
    ];
    try {
      await until(() => onA.length >= 2 && all.length >= 3, 'the messages');
      await Bun.sleep(100);
      expect(onA).toEqual([3, 5]);
      expect(all).toEqual([4, 5, 6]);
    } finally {
      await Promise.all(stops.map((s) => s()));
    }
  });

  test('an error thrown by onMessage stops the consumer and is reported', async () => {
    await ensureStream(nc, { name: 'THROWS', subjects: ['th.>'] });
    const js = jetstream(nc);
    for (let i = 1; i <= 3; i++) await publishCounts(js, 'th.a', enc(`m${i}`), `m${i}`);
    const seen: number[] = [];
    let reported: unknown = null;
    const stop = consumeFrom(js, 'THROWS', 'th.a', {}, (_s, _d, seq) => {
      seen.push(seq);
      if (seq === 2) throw new Error('bad message 2');
    }, { onError: (e) => { reported = e; } });
    await until(() => reported !== null, 'the report');
    expect(String(reported)).toContain('bad message 2');
    expect(seen).toEqual([1, 2]);
    await stop();
  });
});

describe('a server stopped for 3 s and started again', () => {
  test('the connection comes back, the consumers go on, nothing is lost or delivered twice', async () => {
    const server = await startNatsServer();
    const statuses: NatsStatus[] = [];
    const nc = await connectNats(server.url, { env: NO_ENV, onStatus: (s) => statuses.push(s) });
    try {
      await ensureStream(nc, { name: 'RESTART', subjects: ['rs.>'] });
      const js = jetstream(nc);
      for (let i = 0; i < 3; i++) await publishCounts(js, 'rs.a', enc(`early ${i}`), `early-${i}`);
      await Bun.sleep(20);
      const t0 = new Date();
      await Bun.sleep(20);
      for (let i = 0; i < 3; i++) await publishCounts(js, 'rs.a', enc(`before ${i}`), `before-${i}`);

      // From a start time: the case the library's own ordered consumer cannot re-create.
      const fromTime: number[] = [];
      const fromSeq: number[] = [];
      const stops = [
        consumeFrom(js, 'RESTART', 'rs.a', { startTime: t0 }, (_s, _d, seq) => fromTime.push(seq)),
        consumeFrom(js, 'RESTART', 'rs.a', { startSeq: 1 }, (_s, _d, seq) => fromSeq.push(seq)),
      ];
      try {
        await until(() => fromTime.length >= 3 && fromSeq.length >= 6, 'the messages before the stop');

        await server.stop();
        const stoppedAt = Date.now();
        await until(() => statuses.includes('disconnected'), 'the disconnect notice');
        // A publish while the server is away: acknowledged late or not at all (timeout). The agent
        // retries it with the same message ID, which stores it once either way.
        const during = publishCounts(js, 'rs.a', enc('during'), 'during').catch((e: Error) => e);
        // A consumer asked for while the server is away is made when it is back.
        const lateStart: number[] = [];
        stops.push(consumeFrom(js, 'RESTART', 'rs.a', { startTime: t0 }, (_s, _d, seq) => lateStart.push(seq)));
        await Bun.sleep(3000 - (Date.now() - stoppedAt));
        await server.restart();
        await until(() => statuses.includes('reconnected'), 'the reconnect notice', 5000);
        await during;
        const retried = await publishCounts(js, 'rs.a', enc('during'), 'during');
        expect(retried.seq).toBe(7);
        for (let i = 0; i < 3; i++) await publishCounts(js, 'rs.a', enc(`after ${i}`), `after-${i}`);
        const last = (await lastMessage(await jetstreamManager(nc), 'RESTART', 'rs.a'))!.seq;
        expect(last).toBe(10);
        await until(() => fromTime.at(-1) === last && fromSeq.at(-1) === last && lateStart.at(-1) === last, 'the messages after the restart', 8000);
        await Bun.sleep(200);
        const expected = (from: number) => Array.from({ length: last - from + 1 }, (_, i) => from + i);
        expect(fromSeq).toEqual(expected(1));
        expect(fromTime).toEqual(expected(4));
        expect(lateStart).toEqual(expected(4));
        expect(statuses).toEqual(['disconnected', 'reconnected']);
      } finally {
        await Promise.all(stops.map((s) => s()));
      }
    } finally {
      await nc.close();
      await server.dispose();
    }
  }, 20_000);
});

describe('authentication and TLS', () => {
  test('a token from NATS_TOKEN: the wrong one is one line, the right one works', async () => {
    const server = await startNatsServer({ token: 'right-token' });
    for (const env of [{ NATS_TOKEN: 'wrong-token' }, NO_ENV]) {
      const e = await connectError(server.url, { env });
      expect(e).toBeInstanceOf(NatsError);
      expect(e.message).toBe(`cannot connect to ${server.url}: authorization violation`);
    }
    const nc = await connectNats(server.url, { env: { NATS_TOKEN: 'right-token' } });
    try {
      await ensureStream(nc);
      expect(await publishCounts(jetstream(nc), 'hlm.counts.web-1', enc('x'), 'x')).toEqual({ seq: 1, duplicate: false });
    } finally {
      await nc.close();
    }
  });

  test('NATS_USER and NATS_PASSWORD', async () => {
    const server = await startNatsServer({ user: 'agent', password: 'pw' });
    const e = await connectError(server.url, { env: { NATS_USER: 'agent', NATS_PASSWORD: 'nope' } });
    expect(e.message).toBe(`cannot connect to ${server.url}: authorization violation`);
    const nc = await connectNats(server.url, { env: { NATS_USER: 'agent', NATS_PASSWORD: 'pw' } });
    await nc.flush();
    await nc.close();
  });

  test('TLS with a CA made by openssl works, also after a restart; without the CA it is one line', async () => {
    const server = await startNatsServer({ tls: true });
    expect(server.url).toStartWith('tls://');
    const e = await connectError(server.url);
    expect(e.message).toBe(`cannot connect to ${server.url}: TLS: unable to verify the first certificate`);
    // A plain client meeting a TLS server is not let through either.
    const plain = await connectError(server.url.replace('tls://', 'nats://'));
    expect(plain.message).toStartWith(`cannot connect to ${server.url.replace('tls://', 'nats://')}: TLS: `);

    const statuses: NatsStatus[] = [];
    const nc = await connectNats(server.url, { env: NO_ENV, caFile: server.caFile, onStatus: (s) => statuses.push(s) });
    try {
      expect(nc.info?.tls_required).toBe(true);
      await ensureStream(nc);
      const js = jetstream(nc);
      const got: string[] = [];
      let bulkBytes = 0;
      const stop = consumeFrom(js, 'HLM', 'hlm.counts.>', {}, (subject, d) => {
        if (subject === 'hlm.counts.bulk') bulkBytes += d.length;
        else got.push(dec(d));
      });
      try {
        await publishCounts(js, 'hlm.counts.web-1', enc('over tls'), 'tls-1');
        // Volume over the upgraded socket (Bun's TLS upgrade has had bugs with large writes).
        const sizes = Array.from({ length: 200 }, (_, i) => (i === 100 ? 900_000 : 8000));
        const acks = await Promise.all(sizes.map((n, i) => publishCounts(js, 'hlm.counts.bulk', new Uint8Array(n).fill(i % 256), `bulk-${i}`)));
        expect(acks.filter((a) => a.duplicate)).toEqual([]);
        await until(() => got.length === 1 && bulkBytes === 199 * 8000 + 900_000, 'the messages over TLS');
        await server.restart();
        await until(() => statuses.includes('reconnected'), 'the TLS reconnect', 5000);
        await publishCounts(js, 'hlm.counts.web-1', enc('after restart'), 'tls-2');
        await until(() => got.length === 2, 'the message after the TLS restart', 8000);
        expect(got).toEqual(['over tls', 'after restart']);
      } finally {
        await stop();
      }
    } finally {
      await nc.close();
    }
  });

  test('a server without JetStream is one line', async () => {
    const server = await startNatsServer({ jetstream: false });
    const nc = await connectNats(server.url, { env: NO_ENV });
    try {
      const e = await ensureStream(nc).catch((x: Error) => x);
      expect(e).toBeInstanceOf(NatsError);
      expect((e as Error).message).toBe(`JetStream is not enabled on 127.0.0.1:${server.port} (start nats-server with -js)`);
    } finally {
      await nc.close();
    }
  });
});
