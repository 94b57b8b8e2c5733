/**
 * Which named format an input is in, from its first lines: each name's share of the (non-blank)
 * lines that the reference parser counts, the best share winning, and none when the best reads
 * fewer than half of them. Ties go to the earlier name of FORMAT_NAMES.
 *
 * `common` and `combined` are one scanner: a line of either reads in both. The name is
 * `combined` when at least half of the lines carry the referer and user agent after the byte
 * count, `common` otherwise.
 *
 * Cheap on purpose: it looks at DETECT_SAMPLE non-blank lines at most (each parsed once per
 * name, JSON names only for lines that start with `{`).
 */
import type { LogFormat } from './log-format';
import { FORMAT_NAMES, namedFormat, type FormatName } from './log-format-names';
import { parseEntry } from './log-format-parse';

/** Lines looked at, at most. */
export const DETECT_SAMPLE = 20;

export interface Detected {
  format: LogFormat;
  name: FormatName;
  /** Lines of the sample the format reads. */
  matched: number;
}

/** After the status and byte count: a quoted referer and a quoted user agent. */
const COMBINED_TAIL = /" \d{3} (?:-|\d+) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"/;

/** The names' formats, compiled once (what detection hands out is a fresh copy). */
let candidates: [FormatName, LogFormat][] | null = null;

export function detectFormat(lines: string[]): Detected | null {
  const sample: string[] = [];
  for (const line of lines) {
    if (sample.length === DETECT_SAMPLE) break;
    if (!/^[ \t]*\r?$/.test(line)) sample.push(line);
  }
  if (sample.length === 0) return null;
  let best: Detected | null = null;
  let combined = 0;
  candidates ??= FORMAT_NAMES.filter((name) => name !== 'combined').map((name) => [name, namedFormat(name)]);
  for (const [name, format] of candidates) {
    const json = format.kind === 'json';
    let matched = 0;
    for (const line of sample) {
      if (json !== line.trimStart().startsWith('{')) continue;
      if (parseEntry(line, format).entry === null) continue;
      matched++;
      if (name === 'common' && COMBINED_TAIL.test(line)) combined++;
    }
    if (best === null || matched > best.matched) best = { format, name, matched };
  }
  if (best === null || best.matched * 2 < sample.length) return null;
  const name = best.name === 'common' && combined * 2 >= sample.length ? 'combined' : best.name;
  return { format: namedFormat(name), name, matched: best.matched };
}
