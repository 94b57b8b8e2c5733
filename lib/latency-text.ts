/**
 * Request durations for people and for NDJSON: one rule for every surface (the text lines, the
 * dashboard, the inspector page), so that a p99 reads the same wherever it is shown.
 *
 * Durations are milliseconds inside the program (lib/sketch.ts); a person reads `0.4 ms`,
 * `48 ms` or `1.2 s`, and a reader of NDJSON gets milliseconds rounded to 3 decimals (1 µs:
 * finer than any log's clock, and far finer than the sketch's 1 %).
 */
import type { LatencySummary } from './sketch';

/**
 * `0 ms`, `<0.1 ms`, `0.4 ms` and `9.5 ms` (one decimal below 10 ms), `48 ms` (whole ms below
 * 1 s), `1.2 s` (one decimal below 100 s), `125 s`. The unit is chosen after rounding, so 9.96 ms
 * is `10 ms` and 999.7 ms is `1.0 s`, never `10.0 ms` or `1000 ms`.
 */
export function msText(ms: number): string {
  if (!(ms > 0)) return '0 ms';
  const tenths = Math.round(ms * 10) / 10;
  if (tenths === 0) return '<0.1 ms';
  if (tenths < 10) return `${tenths.toFixed(1)} ms`;
  const whole = Math.round(ms);
  if (whole < 1000) return `${whole} ms`;
  const seconds = Math.round(ms / 100) / 10;
  if (seconds < 100) return `${seconds.toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/**
 * `p50 12 ms · p90 48 ms · p99 210 ms · max 1.2 s`; when not every hit of the interval was
 * timed (`hits` given, and more than the timed count), ` · 180 of 250 timed` after it.
 */
export function latencyText(l: LatencySummary, hits?: number): string {
  const quantiles = `p50 ${msText(l.p50)} · p90 ${msText(l.p90)} · p99 ${msText(l.p99)} · max ${msText(l.max)}`;
  return hits !== undefined && hits > l.count ? `${quantiles} · ${l.count} of ${hits} timed` : quantiles;
}

const ms3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** The NDJSON form: `{"count":…,"p50":…,"p90":…,"p99":…,"max":…}`, milliseconds rounded to 3 decimals. */
export function latencyRecord(l: LatencySummary): LatencySummary {
  return { count: l.count, p50: ms3(l.p50), p90: ms3(l.p90), p99: ms3(l.p99), max: ms3(l.max) };
}
