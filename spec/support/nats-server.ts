/**
 * A real `nats-server -js` for the specs: 127.0.0.1, a free port, a temporary store, optionally a
 * token (`--auth`) or TLS with a certificate signed by a CA that `openssl` makes here. Stopped by
 * its PID (SIGTERM, then SIGKILL); `restart()` brings it back on the same port with the same store.
 *
 *   import { afterAll } from 'bun:test';
 *   import { startNatsServer, stopAllNatsServers } from './support/nats-server.ts';
 *   afterAll(stopAllNatsServers); // stops every server started here, also when a test failed
 *   const server = await startNatsServer({ token: 's3cret' });
 *   ... server.url ... await server.stop(); await server.restart();
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface NatsServerOptions {
  /** `--auth TOKEN`: clients must present this token. */
  token?: string;
  /** `--user`/`--pass`: clients must present these. */
  user?: string;
  password?: string;
  /** TLS with a server certificate for 127.0.0.1 and localhost, signed by a fresh CA (`caFile`). */
  tls?: boolean;
  /** false: no `-js` (a server without JetStream). */
  jetstream?: boolean;
  /** Extra arguments for nats-server. */
  args?: string[];
}

export interface NatsServer {
  /** `nats://127.0.0.1:PORT`, or `tls://127.0.0.1:PORT` with `tls`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across restarts, removed by `dispose()`). */
  readonly storeDir: string;
  /** With `tls`: the PEM file of the CA that signed the server's certificate. */
  readonly caFile?: string;
  /** The running process's PID, or null while stopped. */
  readonly pid: number | null;
  /** Everything the server wrote to stderr (its log) since the last start. */
  log(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Stopping a stopped server is a no-op. */
  stop(graceMs?: number): Promise<void>;
  /** Starts it again on the same port with the same store (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Stops it and removes its temporary directory. */
  dispose(): Promise<void>;
}

const live = new Set<NatsServer>();

/** nats-server on PATH, or where Debian's package puts it (/usr/sbin, not on every user's PATH). */
export const NATS_SERVER_BIN = Bun.which('nats-server') ?? '/usr/sbin/nats-server';

/** Stops and cleans up every server started by `startNatsServer`: call it in `afterAll`. */
export async function stopAllNatsServers(): Promise<void> {
  await Promise.all([...live].map((s) => s.dispose()));
}

// A test runner killed mid-test still takes its servers along.
process.on('exit', () => {
  for (const s of live) if (s.pid !== null) try { process.kill(s.pid, 'SIGKILL'); } catch {}
});

/** A TCP port that was free a moment ago (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });

async function openssl(dir: string, args: string[]): Promise<void> {
  const p = Bun.spawn(['openssl', ...args], { cwd: dir, stdout: 'pipe', stderr: 'pipe' });
  const code = await p.exited;
  if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${await new Response(p.stderr).text()}`);
}

/** A CA and a server certificate (127.0.0.1, localhost) signed by it, as PEM files in `dir`. */
export async function makeTlsFiles(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=hlm test CA',
    '-keyout', 'ca-key.pem', '-out', 'ca.pem']);
  await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
    '-keyout', 'server-key.pem', '-out', 'server.csr']);
  await openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
    '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem']);
  return { caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'server.pem'), keyFile: path.join(dir, 'server-key.pem') };
}

/** Empties a stopped server's JetStream store, as a lost disk would: restarted, it has no stream. */
export function wipeStore(server: NatsServer): void {
  if (server.pid !== null) throw new Error('wipeStore: stop the server first');
  fs.rmSync(server.storeDir, { recursive: true, force: true });
  fs.mkdirSync(server.storeDir);
}

/** Starts `nats-server -js -a 127.0.0.1 -p <free port> -sd <temp dir>` and waits until it accepts connections. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-nats-'));
  const storeDir = path.join(dir, 'store');
  fs.mkdirSync(storeDir);
  const port = await freePort();
  const args = [...(opts.jetstream === false ? [] : ['-js']), '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir];
  if (opts.token !== undefined) args.push('--auth', opts.token);
  if (opts.user !== undefined) args.push('--user', opts.user, '--pass', opts.password ?? '');
  let caFile: string | undefined;
  if (opts.tls) {
    const files = await makeTlsFiles(dir);
    caFile = files.caFile;
    args.push('--tls', '--tlscert', files.certFile, '--tlskey', files.keyFile);
  }
  args.push(...(opts.args ?? []));

  let proc: ReturnType<typeof Bun.spawn<'ignore', 'ignore', 'pipe'>> | null = null;
  let stderr = '';

  const stop = async (graceMs = 3000) => {
    const p = proc;
    if (!p) return;
    proc = null;
    if (p.exitCode === null && p.signalCode === null) {
      process.kill(p.pid, 'SIGTERM');
      const timer = setTimeout(() => { try { process.kill(p.pid, 'SIGKILL'); } catch {} }, graceMs);
      await p.exited;
      clearTimeout(timer);
    }
  };

  const start = async () => {
    stderr = '';
    const p = Bun.spawn([NATS_SERVER_BIN, ...args], { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    proc = p;
    (async () => {
      const dec = new TextDecoder();
      for await (const chunk of p.stderr) if (proc === p) stderr += dec.decode(chunk, { stream: true });
    })().catch(() => {});
    const deadline = Date.now() + 10_000;
    // The port may be open before JetStream is up: wait for both.
    while (!(stderr.includes('Server is ready') && (await canConnect(port)))) {
      if (p.exitCode !== null || p.signalCode !== null) {
        proc = null;
        throw new Error(`nats-server exited (${p.exitCode ?? p.signalCode}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
      if (Date.now() > deadline) {
        await stop(0);
        throw new Error(`nats-server did not accept connections on ${port} within 10 s: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
      await Bun.sleep(20);
    }
  };

  const server: NatsServer = {
    url: `${opts.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`,
    port,
    storeDir,
    caFile,
    get pid() { return proc ? proc.pid : null; },
    log: () => stderr,
    stop,
    restart: async () => { await stop(); await start(); },
    dispose: async () => {
      await stop(1000);
      live.delete(server);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(server);
  try {
    await start();
  } catch (e) {
    await server.dispose();
    throw e;
  }
  return server;
}
