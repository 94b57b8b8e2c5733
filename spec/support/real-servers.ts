/**
 * Debian's real nginx, apache2 and caddy for the specs, each on 127.0.0.1 and a free port under a
 * temporary prefix, proxying to a small upstream in the test process, writing the access logs the
 * monitor reads (issue 19, "Real servers in the tests"). Stopped by PID: `stop()` or, for what a
 * failed test left running, `stopAllRealServers()` in afterAll.
 *
 *   const upstream = startUpstream();
 *   const nginx = await startNginx(upstream.port);
 *   const sent = await sendRequests(nginx.port, planRequests(300, 7));
 *   await nginx.stop();          // the logs are complete once the server has exited
 *   ... nginx.logs.timed, nginx.config ...
 *
 * Every server has the same site on two virtual hosts, alpha.test and beta.test (chosen by the
 * Host header): `/api/…?ms=&status=&size=` proxied to the upstream, which answers after `ms` with
 * `status` and `size` bytes of body; `/static/page.html` a file (a different size on each vhost),
 * any other `/static/…` a 404; `/direct/moved` a 302 and `/direct/gone` a 410 from the server itself.
 *
 * Why not a probe request to see that a server is up: it would be a line in the log that the test
 * did not send. A TCP connection that sends nothing is logged by none of the three.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './nats-server';
import { mulberry32 } from '../../lib/generator';

export const NGINX_BIN = Bun.which('nginx') ?? '/usr/sbin/nginx';
export const APACHE_BIN = Bun.which('apache2') ?? '/usr/sbin/apache2';
export const CADDY_BIN = Bun.which('caddy') ?? '/usr/bin/caddy';
const APACHE_MODULES = '/usr/lib/apache2/modules';

export const VHOSTS = ['alpha.test', 'beta.test'] as const;
export type Vhost = (typeof VHOSTS)[number];
/** The size of `/static/page.html` on each vhost, so the bytes tell the vhosts apart too. */
export const PAGE_BYTES: Record<Vhost, number> = { 'alpha.test': 1234, 'beta.test': 567 };

const IS_ROOT = process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------
// The upstream

export interface Upstream {
  port: number;
  /** Requests it has answered. */
  readonly answered: number;
  stop(): void;
}

/** `/…?ms=120&status=503&size=40`: answers after 120 ms with 503 and 40 bytes of body. */
export function startUpstream(): Upstream {
  let answered = 0;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const q = new URL(req.url).searchParams;
      const ms = Number(q.get('ms') ?? 0);
      const status = Number(q.get('status') ?? 200);
      const size = Number(q.get('size') ?? 0);
      await req.arrayBuffer();
      if (ms > 0) await Bun.sleep(ms);
      answered++;
      const noBody = status === 204 || status === 304 || req.method === 'HEAD';
      return new Response(noBody ? null : 'u'.repeat(size), { status, headers: { 'content-type': 'text/plain' } });
    },
  });
  return {
    port: server.port!,
    get answered() { return answered; },
    stop: () => void server.stop(true),
  };
}

// ---------------------------------------------------------------------------------------------
// The servers

export interface RealServer {
  kind: 'nginx' | 'apache' | 'caddy';
  port: number;
  /** The temporary prefix: configuration, document roots, logs. */
  dir: string;
  /** The configuration file the server was started with (for `--log-format @FILE:NAME`). */
  config: string;
  /** The access logs, by the name of their format. */
  logs: Record<string, string>;
  readonly pid: number | null;
  /** What the server said on stderr and in its error log. */
  errors(): string;
  /** SIGTERM (then SIGKILL after 5 s) and wait for the exit; the logs are complete then. */
  stop(): Promise<void>;
}

const live = new Set<RealServer>();

/** Stops every server started here (also those a failed test left running) and removes their prefixes. */
export async function stopAllRealServers(keep = false): Promise<void> {
  await Promise.all([...live].map(async (s) => {
    await s.stop();
    live.delete(s);
    if (!keep) fs.rmSync(s.dir, { recursive: true, force: true });
  }));
}

// A test runner killed mid-test still takes its servers along.
process.on('exit', () => {
  for (const s of live) if (s.pid !== null) try { process.kill(s.pid, 'SIGKILL'); } catch {}
});

/** The prefix with the two document roots, readable by the unprivileged workers a root master starts. */
function makePrefix(kind: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hlm-${kind}-`));
  fs.chmodSync(dir, 0o755);
  for (const sub of ['logs', 'run', 'tmp']) fs.mkdirSync(path.join(dir, sub), { mode: 0o755 });
  for (const vhost of VHOSTS) {
    const root = path.join(dir, 'www', vhost, 'static');
    fs.mkdirSync(root, { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(dir, 'www'), 0o755);
    fs.chmodSync(path.join(dir, 'www', vhost), 0o755);
    fs.writeFileSync(path.join(root, 'page.html'), 'p'.repeat(PAGE_BYTES[vhost]), { mode: 0o644 });
  }
  return dir;
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });

interface Launch {
  kind: RealServer['kind'];
  dir: string;
  port: number;
  config: string;
  logs: Record<string, string>;
  argv: string[];
  env?: Record<string, string>;
  errorLog?: string;
}

/** Spawns the server in the foreground and waits until its port accepts connections. */
async function launch(l: Launch): Promise<RealServer> {
  const proc = Bun.spawn(l.argv, {
    cwd: l.dir,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, ...l.env },
  });
  let output = '';
  const dec = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => { for await (const c of stream) output += dec.decode(c, { stream: true }); };
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]).catch(() => {});
  let stopped = false;
  const errors = () => {
    let log = '';
    try { if (l.errorLog) log = fs.readFileSync(l.errorLog, 'utf8'); } catch {}
    return `${output}${log}`;
  };
  const server: RealServer = {
    kind: l.kind,
    port: l.port,
    dir: l.dir,
    config: l.config,
    logs: l.logs,
    get pid() { return stopped || proc.exitCode !== null || proc.signalCode !== null ? null : proc.pid; },
    errors,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        try { process.kill(proc.pid, 'SIGTERM'); } catch {}
        const timer = setTimeout(() => { try { process.kill(proc.pid, 'SIGKILL'); } catch {} }, 5000);
        await proc.exited;
        clearTimeout(timer);
      }
      await drained;
    },
  };
  live.add(server);
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(l.port))) {
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
      await server.stop();
      throw new Error(`${l.kind} did not accept connections on ${l.port} (exit ${proc.exitCode ?? proc.signalCode}): ${errors().trim().split('\n').slice(-5).join(' | ')}`);
    }
    await Bun.sleep(20);
  }
  return server;
}

/**
 * The nginx formats of the specs: `timed` (combined + request, upstream time and host, as the
 * issue names it) and `json` (`escape=json`, written over several lines as configs often are).
 */
export const NGINX_TIMED =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host';
const NGINX_JSON_LINES = [
  `'{"time":"$time_iso8601","remote_addr":"$remote_addr","user":"$remote_user",'`,
  `'"method":"$request_method","uri":"$request_uri","status":$status,'`,
  `'"bytes":$body_bytes_sent,"request_time":$request_time,'`,
  `'"upstream_response_time":"$upstream_response_time","host":"$host"}'`,
];
/** The JSON format as one string (what `--log-format` takes on the command line). */
export const NGINX_JSON = NGINX_JSON_LINES.map((l) => l.slice(1, -1)).join('');

/** nginx 1.22 with `-p PREFIX -c CONF -g 'daemon off;'`; logs `timed` and `json`. */
export async function startNginx(upstreamPort: number): Promise<RealServer> {
  const dir = makePrefix('nginx');
  const port = await freePort();
  const logs = { timed: path.join(dir, 'logs/timed.log'), json: path.join(dir, 'logs/json.log') };
  const site = (vhost: Vhost) => `
    server {
      listen 127.0.0.1:${port};
      server_name ${vhost};
      root ${dir}/www/${vhost};
      location /api/ { proxy_pass http://127.0.0.1:${upstreamPort}; }
      location = /direct/moved { return 302 /static/page.html; }
      location = /direct/gone { return 410; }
    }`;
  const config = path.join(dir, 'nginx.conf');
  fs.writeFileSync(config, `# hlm spec: nginx on 127.0.0.1:${port}
${IS_ROOT ? 'user nobody nogroup;' : ''}
worker_processes 1;
error_log ${dir}/logs/error.log warn;
pid ${dir}/run/nginx.pid;
events { worker_connections 512; }
http {
  default_type text/html;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  log_format timed '${NGINX_TIMED}';
  log_format json escape=json
    ${NGINX_JSON_LINES.join('\n    ')};
  access_log ${logs.timed} timed;
  access_log ${logs.json} json;
${site('alpha.test')}
${site('beta.test')}
}
`);
  return launch({
    kind: 'nginx', dir, port, config, logs, errorLog: path.join(dir, 'logs/error.log'),
    argv: [NGINX_BIN, '-p', `${dir}/`, '-c', config, '-g', 'daemon off;'],
  });
}

/** The Apache formats: `vtimed` (%v first, %D µs) and `combinedms` (combined + %{ms}T and %v). */
export const APACHE_VTIMED = '%v %h %l %u %t \\"%r\\" %>s %b %D';
export const APACHE_COMBINED_MS = '%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %{ms}T %v';
/** The same, as a user types them on the command line (the config file escapes the quotes). */
export const unescapeApache = (f: string) => f.replaceAll('\\"', '"');

/** Debian's apache2 2.4 with `-f CONF -DFOREGROUND`: its own ServerRoot, modules loaded here; logs `vtimed` and `combinedms`. */
export async function startApache(upstreamPort: number): Promise<RealServer> {
  const dir = makePrefix('apache');
  const port = await freePort();
  const logs = { vtimed: path.join(dir, 'logs/vtimed.log'), combinedms: path.join(dir, 'logs/combinedms.log') };
  // Debian builds unixd and log_config in; another build may not: each is loaded unless present.
  const modules = ['mpm_event', 'authz_core', 'unixd', 'log_config', 'proxy', 'proxy_http', 'alias'];
  const site = (vhost: Vhost) => `
<VirtualHost 127.0.0.1:${port}>
  ServerName ${vhost}
  DocumentRoot ${dir}/www/${vhost}
  ProxyPass /api/ http://127.0.0.1:${upstreamPort}/api/
  Redirect 302 /direct/moved /static/page.html
  Redirect gone /direct/gone
</VirtualHost>`;
  const config = path.join(dir, 'apache2.conf');
  fs.writeFileSync(config, `# hlm spec: apache2 on 127.0.0.1:${port}
ServerRoot ${dir}
ServerName localhost
DefaultRuntimeDir ${dir}/run
PidFile ${dir}/run/apache2.pid
ErrorLog ${dir}/logs/error.log
LogLevel warn
${modules.map((m) => `<IfModule !${m}_module>\n  LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so\n</IfModule>`).join('\n')}
${IS_ROOT ? 'User nobody\nGroup nogroup' : ''}
Listen 127.0.0.1:${port}
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
<Directory />
  Require all denied
</Directory>
<Directory ${dir}/www>
  Require all granted
</Directory>
LogFormat "${APACHE_VTIMED}" vtimed
LogFormat "${APACHE_COMBINED_MS}" combinedms
CustomLog ${logs.vtimed} vtimed
CustomLog ${logs.combinedms} combinedms
${site('alpha.test')}
${site('beta.test')}
`);
  return launch({
    kind: 'apache', dir, port, config, logs, errorLog: path.join(dir, 'logs/error.log'),
    argv: [APACHE_BIN, '-d', dir, '-f', config, '-DFOREGROUND'],
  });
}

/** Caddy 2.6 with `caddy run --adapter caddyfile`: no admin endpoint, HOME and XDG under the prefix; its default JSON access log. */
export async function startCaddy(upstreamPort: number): Promise<RealServer> {
  const dir = makePrefix('caddy');
  const port = await freePort();
  const logs = { caddy: path.join(dir, 'logs/access.log') };
  const config = path.join(dir, 'Caddyfile');
  fs.writeFileSync(config, `# hlm spec: caddy on 127.0.0.1:${port}
{
  admin off
  auto_https off
  http_port ${port}
  storage file_system ${dir}/data
}
http://alpha.test, http://beta.test {
  bind 127.0.0.1
  log {
    output file ${logs.caddy}
    format json
  }
  handle /api/* {
    reverse_proxy 127.0.0.1:${upstreamPort}
  }
  handle /direct/moved {
    redir * /static/page.html 302
  }
  handle /direct/gone {
    respond 410
  }
  handle {
    root * ${dir}/www/{host}
    file_server
  }
}
`);
  const env = { HOME: dir, XDG_DATA_HOME: `${dir}/data`, XDG_CONFIG_HOME: `${dir}/config` };
  return launch({
    kind: 'caddy', dir, port, config, logs, env,
    argv: [CADDY_BIN, 'run', '--config', config, '--adapter', 'caddyfile'],
  });
}

// ---------------------------------------------------------------------------------------------
// The requests

export interface PlannedRequest {
  vhost: Vhost;
  method: string;
  /** Path and query as sent. */
  target: string;
  /** The status the site must answer. */
  status: number;
  /** The proxied requests' upstream delay (ms); 0 for the server's own answers. */
  delayMs: number;
  /** A request body's length (POST, PUT). */
  body: number;
}

export interface SentRequest extends PlannedRequest {
  /** What came back: the status and the body's length. */
  gotStatus: number;
  gotBytes: number;
}

/** A small deterministic PRNG (the generator's mulberry32), so that a failing plan can be run again. */
export const prng = mulberry32;

const UPSTREAM_STATUSES = [200, 200, 200, 200, 201, 204, 301, 404, 429, 500, 503];
const API_SECTIONS = ['users', 'orders', 'search'];

/**
 * `n` requests over both vhosts: about 60 % proxied (GET, POST, PUT, DELETE; upstream delays
 * 0–300 ms; 2xx–5xx), 30 % static (GET, HEAD; 200 or 404), 10 % the server's own 302 and 410.
 */
export function planRequests(n: number, seed: number): PlannedRequest[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const plan: PlannedRequest[] = [];
  for (let i = 0; i < n; i++) {
    const vhost: Vhost = rnd() < 0.6 ? 'alpha.test' : 'beta.test';
    const r = rnd();
    if (r < 0.6) {
      const method = pick(['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE']);
      const status = pick(UPSTREAM_STATUSES);
      const delayMs = Math.floor(rnd() * 301);
      const size = status === 204 ? 0 : Math.floor(rnd() * 3000);
      const target = `/api/${pick(API_SECTIONS)}/${i}?ms=${delayMs}&status=${status}&size=${size}`;
      plan.push({ vhost, method, target, status, delayMs, body: method === 'POST' || method === 'PUT' ? Math.floor(rnd() * 500) + 1 : 0 });
    } else if (r < 0.9) {
      const missing = rnd() < 0.3;
      plan.push({
        vhost, method: rnd() < 0.8 ? 'GET' : 'HEAD', target: missing ? `/static/missing-${i}.html` : '/static/page.html',
        status: missing ? 404 : 200, delayMs: 0, body: 0,
      });
    } else {
      const gone = rnd() < 0.5;
      plan.push({ vhost, method: 'GET', target: gone ? '/direct/gone' : '/direct/moved', status: gone ? 410 : 302, delayMs: 0, body: 0 });
    }
  }
  return plan;
}

/** Sends the plan to 127.0.0.1:port, `concurrency` at a time, each with its vhost as Host; redirects are not followed. */
export async function sendRequests(port: number, plan: readonly PlannedRequest[], concurrency = 24): Promise<SentRequest[]> {
  const sent: SentRequest[] = new Array(plan.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const p = plan[i]!;
      const res = await fetch(`http://127.0.0.1:${port}${p.target}`, {
        method: p.method,
        headers: { host: p.vhost, 'user-agent': 'hlm-spec/1.0', referer: `http://${p.vhost}/from/${i % 3}` },
        body: p.body > 0 ? 'b'.repeat(p.body) : undefined,
        redirect: 'manual',
        keepalive: true,
      });
      const body = new Uint8Array(await res.arrayBuffer());
      sent[i] = { ...p, gotStatus: res.status, gotBytes: body.length };
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sent;
}

/** The status class as the monitor's NDJSON names it. */
export const statusClass = (s: number) => (s >= 100 && s < 600 ? `${Math.floor(s / 100)}xx` : 'other');

/** Counts of `key(x)` over `xs`. */
export function countBy<T>(xs: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) {
    const k = key(x);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** The value at rank ⌊q (n − 1)⌋ of the sorted values: what the sketch answers within 1 % of. */
export function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// The logs, read the plain way (split and JSON.parse): what the monitor's counts are checked against

/** One access-log line as the test reads it. */
export interface LoggedRequest {
  vhost: string;
  method: string;
  path: string;
  status: number;
  /** Body bytes (`-` is 0). */
  bytes: number;
  /** The request's duration in ms, when the line has one. */
  durationMs?: number;
  /** nginx's upstream time in ms (its list summed), when the request was proxied. */
  upstreamMs?: number;
}

const num = (s: string) => (s === '-' || s === '' ? 0 : Number(s));
/** `"GET /a?b HTTP/1.1"` → method and path. */
const requestLine = (r: string) => {
  const [method = '', target = ''] = r.split(' ');
  return { method, path: target.split('?')[0]! };
};
/** nginx's `$upstream_response_time`: `0.012, 0.020 : 0.003` summed (s → ms); `-` or empty: none. */
const upstreamList = (s: string) => {
  const parts = s.split(/[,:]/).map((p) => p.trim()).filter((p) => p !== '' && p !== '-');
  return parts.length === 0 ? undefined : parts.reduce((n, p) => n + Number(p) * 1000, 0);
};

export type LogKind = 'nginx-timed' | 'nginx-json' | 'apache-vtimed' | 'apache-combinedms' | 'caddy';

/** The lines of one of the specs' logs. */
export function readLog(kind: LogKind, text: string): LoggedRequest[] {
  return text.split('\n').filter((l) => l !== '').map((line): LoggedRequest => {
    switch (kind) {
      case 'nginx-timed': {
        // addr - user [time] "request" status bytes "referer" "agent" request_time upstream_time host
        const q = line.split('"');
        const [status, bytes] = q[2]!.trim().split(' ');
        const [rt, urt, host] = q[6]!.trim().split(' ');
        return { vhost: host!, ...requestLine(q[1]!), status: num(status!), bytes: num(bytes!), durationMs: Number(rt) * 1000, upstreamMs: upstreamList(urt!) };
      }
      case 'nginx-json': {
        const o = JSON.parse(line);
        return {
          vhost: o.host, method: o.method, path: String(o.uri).split('?')[0]!, status: o.status, bytes: o.bytes,
          durationMs: o.request_time * 1000, upstreamMs: upstreamList(o.upstream_response_time),
        };
      }
      case 'apache-vtimed': {
        // vhost addr l user [time] "request" status bytes µs
        const q = line.split('"');
        const [status, bytes, us] = q[2]!.trim().split(' ');
        return { vhost: q[0]!.split(' ')[0]!, ...requestLine(q[1]!), status: num(status!), bytes: num(bytes!), durationMs: Number(us) / 1000 };
      }
      case 'apache-combinedms': {
        // addr l user [time] "request" status bytes "referer" "agent" ms vhost
        const q = line.split('"');
        const [status, bytes] = q[2]!.trim().split(' ');
        const [ms, vhost] = q[6]!.trim().split(' ');
        return { vhost: vhost!, ...requestLine(q[1]!), status: num(status!), bytes: num(bytes!), durationMs: Number(ms) };
      }
      case 'caddy': {
        const o = JSON.parse(line);
        return {
          vhost: o.request.host, method: o.request.method, path: String(o.request.uri).split('?')[0]!,
          status: o.status, bytes: o.size, durationMs: o.duration * 1000,
        };
      }
    }
  });
}
