/**
 * The `/metrics` endpoint (`--metrics ADDR`): Bun's HTTP server answering Prometheus's scrapes
 * from a Metrics object (lib/metrics.ts).
 *
 * GET (or HEAD) /metrics answers the Prometheus text format 0.0.4, or OpenMetrics 1.0 when the
 * Accept header asks for `application/openmetrics-text` (as Prometheus does, preferring it); any
 * other path is 404, another method on /metrics 405. A scrape only reads the counts (a few
 * milliseconds at most): the pipeline is never waited on. A render that fails answers 500 with
 * one line, and the server goes on.
 */
import type { Metrics } from './metrics';

export const METRICS_PATH = '/metrics';

/**
 * Serves GET /metrics (Accept: application/openmetrics-text → OpenMetrics) on addr; 404 for any
 * other path, 405 for other methods. Resolves once listening; `port` is the bound port (addr
 * port 0 = any free). Rejects when the address cannot be bound.
 */
export async function serveMetrics(metrics: Metrics, addr: { host: string; port: number }): Promise<{ port: number; stop(): void }> {
  const server = Bun.serve({
    hostname: addr.host,
    port: addr.port,
    fetch: (request) => answer(metrics, request),
    error: (error) => plain(500, `error: ${oneLine(error)}`),
  });
  return {
    port: server.port ?? addr.port,
    stop: () => void server.stop(true),
  };
}

async function answer(metrics: Metrics, request: Request): Promise<Response> {
  if (new URL(request.url).pathname !== METRICS_PATH) return plain(404, 'not found: the metrics are at /metrics');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('method not allowed: GET /metrics\n', { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' } });
  }
  try {
    const { body, contentType } = await metrics.render(wantsOpenMetrics(request.headers.get('accept')));
    return new Response(body, { headers: { 'content-type': contentType } });
  } catch (error) {
    return plain(500, `error: metrics could not be rendered: ${oneLine(error)}`);
  }
}

/** Whether an Accept header takes OpenMetrics: a media range `application/openmetrics-text` with q > 0. */
export function wantsOpenMetrics(accept: string | null): boolean {
  if (!accept) return false;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (type !== 'application/openmetrics-text') continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

function plain(status: number, line: string): Response {
  return new Response(`${line}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

function oneLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).replace(/\s+/g, ' ').slice(0, 200);
}
