/**
 * The fleet with a NATS .creds file (`--nats-creds FILE`), as real processes against a real
 * nats-server in operator (JWT) mode: an operator, a system account, an app account with JetStream
 * and a user of it are made here with @nats-io/jwt (no `nsc`), and the server trusts the operator
 * and knows both accounts from its config (`resolver: MEMORY`, `resolver_preload`). The user's
 * creds carry an agent's counts to a centre; no creds, creds the server cannot trace to its
 * operator, and a creds path that is not there each end the process with exit 1 and one line.
 * Every process started is killed in afterAll, also when a test failed; none may print a stack trace.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  type KeyPair,
  type OperatorLimits,
} from '@nats-io/jwt';
import { expectNoStack, type Failure, failing, type Spawned, spawnInto, stopAll, transcript } from './support/fleet-process';
import { exitWithin, parseStats, sum } from './support/monitor-process';
import { type NatsServer, startNatsServer, stopAllNatsServers } from './support/nats-server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-fleet-creds-'));

const started: Spawned[] = [];

afterAll(async () => {
  await stopAll(started);
  await stopAllNatsServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

const spawn = (args: string[]) => spawnInto(started, args);

const agent = (file: string, name: string, url: string, extra: string[] = []) =>
  spawn(['agent', '-f', file, '--nats', url, '--name', name, '--poll-ms', '100', ...extra]);
const centre = (url: string, extra: string[]) => spawn(['--nats', url, '--json', '-s', '1', '-t', '1000', ...extra]);

// --- identities -------------------------------------------------------------------------------

/** Unlimited connections, subscriptions and JetStream: an account the fleet can use as it is. */
const UNLIMITED: OperatorLimits = {
  subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1,
  mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
};

interface Trust {
  operatorJwt: string;
  system: { key: string; jwt: string };
  app: { key: string; jwt: string };
}

/** An operator with a system account and an app account (JetStream on), each account signed by the operator. */
async function makeOperator(name: string): Promise<Trust & { appKey: KeyPair }> {
  const operator = createOperator();
  const system = createAccount();
  const app = createAccount();
  return {
    operatorJwt: await encodeOperator(name, operator, { system_account: system.getPublicKey() }),
    system: { key: system.getPublicKey(), jwt: await encodeAccount('SYS', system, {}, { signer: operator }) },
    app: { key: app.getPublicKey(), jwt: await encodeAccount('APP', app, { limits: UNLIMITED }, { signer: operator }) },
    appKey: app,
  };
}

/** A user of `account`, as a .creds file (mode 0600) in the temp dir. */
async function writeCreds(file: string, account: KeyPair, user = 'fleet'): Promise<string> {
  const kp = createUser();
  const jwt = await encodeUser(user, kp, account);
  const p = path.join(dir, file);
  fs.writeFileSync(p, fmtCreds(jwt, kp), { mode: 0o600 });
  return p;
}

/** nats-server's config for operator mode; the listen address and the store come from startNatsServer's flags. */
const operatorConfig = (t: Trust) =>
  [
    `operator: ${t.operatorJwt}`,
    `system_account: ${t.system.key}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${t.system.key}: ${t.system.jwt}`,
    `  ${t.app.key}: ${t.app.jwt}`,
    '}',
    '',
  ].join('\n');

interface Operated {
  server: NatsServer;
  /** A user of the app account the server knows. */
  creds: string;
  /** A user of an app account of another operator: unknown to the server. */
  strangerCreds: string;
}

/** The operator-mode server and its creds, made once for the file. */
let operated: Promise<Operated> | null = null;
const operatorServer = () =>
  (operated ??= (async () => {
    const trusted = await makeOperator('hlm-test');
    const other = await makeOperator('someone-else');
    const conf = path.join(dir, 'operator.conf');
    fs.writeFileSync(conf, operatorConfig(trusted));
    const server = await startNatsServer({ args: ['-c', conf] });
    // Not a server that lets anyone in: it says which operator it trusts.
    expect(server.log()).toContain('Operator: "hlm-test"');
    return {
      server,
      creds: await writeCreds('fleet.creds', trusted.appKey),
      strangerCreds: await writeCreds('stranger.creds', other.appKey, 'stranger'),
    };
  })());

// --- lines and output -------------------------------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');
/** A CLF line stamped `at`, in UTC. */
const clfLine = (at: Date) =>
  `127.0.0.1 - - [${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000] "GET /creds HTTP/1.1" 200 1`;

/** Appends `perSecond` lines a second, stamped now, for `ms`; the lines in the file then. */
async function appendFor(file: string, ms: number, perSecond: number): Promise<number> {
  const timer = setInterval(() => fs.appendFileSync(file, `${clfLine(new Date())}\n`), 1000 / perSecond);
  try {
    await Bun.sleep(ms);
  } finally {
    clearInterval(timer);
  }
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
}

const hits = (s: Spawned) => sum(parseStats(s.out.lines), 'hits');

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const said = (label: string, r: Failure) => `[${label}] exit ${r.code} in ${r.ms} ms: ${r.err.join(' | ')}`;

/** Exit 1, one line on stderr that matches `line`, nothing on stdout. */
function expectOneLineExit1(r: Failure, line: RegExp) {
  expect(r.code, r.err.join('\n')).toBe(1);
  expect(r.err, r.err.join('\n')).toHaveLength(1);
  expect(r.err[0]!).toMatch(line);
  expect(r.out).toEqual([]);
}

describe('the fleet with a .creds file (nats-server in operator mode)', () => {
  test(
    "an agent and a centre with the app user's creds: the centre counts exactly the lines written",
    async () => {
      const { server, creds } = await operatorServer();
      expect(fs.statSync(creds).mode & 0o777).toBe(0o600);
      const file = path.join(dir, 'creds-1.log');
      fs.writeFileSync(file, '');
      const c = centre(server.url, ['--nats-creds', creds]);
      await c.err.waitForLine('the centre waiting', 10_000, (l) => l.startsWith('waiting for the agents'));
      const a = agent(file, 'creds-1', server.url, ['--nats-creds', creds]);
      await c.err.waitForLine('creds-1 reporting', 15_000, (l) => l.endsWith('agent creds-1 is reporting'));

      const written = await appendFor(file, 3_000, 5);
      await c.out.until(10_000, () => hits(c) >= written);
      a.proc.kill('SIGTERM');
      expect(await exitWithin(a.proc, 8_000), transcript(a)).toBe(0);
      c.proc.kill('SIGTERM');
      expect(await exitWithin(c.proc, 8_000), transcript(c)).toBe(0);
      await Promise.all([c.out.done, c.err.done, a.err.done]);

      const stats = parseStats(c.out.lines);
      console.log(`[creds] written ${written}, counted ${hits(c)} in ${stats.length} stats records`);
      expect(written).toBeGreaterThan(10);
      expect({ counted: hits(c), invalid: sum(stats, 'invalid') }, `${transcript(c, a)}\nstats:\n${c.out.lines.join('\n')}`).toEqual({
        counted: written,
        invalid: 0,
      });
      expectNoStack(c, a);
    },
    60_000,
  );

  test(
    'no creds (and none in the environment): the agent and the centre exit 1 with one line, an authorization violation',
    async () => {
      const { server } = await operatorServer();
      const file = path.join(dir, 'no-creds.log');
      fs.writeFileSync(file, '');
      const [a, c] = await Promise.all([failing(agent(file, 'no-creds', server.url), 15_000), failing(centre(server.url, []), 15_000)]);
      console.log(`${said('no creds, agent', a)}\n${said('no creds, centre', c)}`);
      for (const r of [a, c]) expectOneLineExit1(r, new RegExp(`^error: cannot connect to ${literal(server.url)}: authorization violation$`));
      expectNoStack(...started.slice(-2));
    },
    60_000,
  );

  test(
    "creds of a user whose account another operator signed: the agent and the centre exit 1 with one line, an authorization violation",
    async () => {
      const { server, strangerCreds } = await operatorServer();
      const file = path.join(dir, 'stranger.log');
      fs.writeFileSync(file, '');
      const flags = ['--nats-creds', strangerCreds];
      const [a, c] = await Promise.all([
        failing(agent(file, 'stranger', server.url, flags), 15_000),
        failing(centre(server.url, flags), 15_000),
      ]);
      console.log(`${said('stranger, agent', a)}\n${said('stranger, centre', c)}`);
      for (const r of [a, c]) expectOneLineExit1(r, new RegExp(`^error: cannot connect to ${literal(server.url)}: authorization violation$`));
      // Refused because the server cannot find the user's account, not for some other reason.
      expect(server.log()).toContain('Account fetch failed: account missing');
      expectNoStack(...started.slice(-2));
    },
    60_000,
  );

  test(
    'a creds path that is not there: the agent and the centre exit 1 with one line naming the file',
    async () => {
      const { server } = await operatorServer();
      const file = path.join(dir, 'missing.log');
      fs.writeFileSync(file, '');
      const missing = path.join(dir, 'no-such.creds');
      const flags = ['--nats-creds', missing];
      const [a, c] = await Promise.all([
        failing(agent(file, 'missing', server.url, flags), 15_000),
        failing(centre(server.url, flags), 15_000),
      ]);
      console.log(`${said('missing creds, agent', a)}\n${said('missing creds, centre', c)}`);
      for (const r of [a, c]) expectOneLineExit1(r, new RegExp(`^error: cannot read creds file ${literal(missing)}: no such file$`));
      expectNoStack(...started.slice(-2));
    },
    60_000,
  );
});
