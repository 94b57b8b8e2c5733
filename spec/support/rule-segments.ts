/** What the rule specs build their inputs from: a rule written as YAML, and segments as the parser would send them. */
import { emptySegment, type Segment } from '../../actors/messages';
import { packMaps } from '../../lib/byte-keys';
import { parseRules, type Rule } from '../../lib/rules';

export const START = 1_700_000_000; // a whole second, Unix time

/** One rule, written as a YAML flow mapping: `{ name: e, ratio: 5%, match: { status: 5xx } }`. */
export function rule(yaml: string): Rule {
  return parseRules(`rules:\n  - ${yaml}\n`, 'r.yaml')[0]!;
}

export interface Lines {
  hits: number;
  /** Hits by status class, 1..5 for 1xx..5xx. */
  status?: Partial<Record<1 | 2 | 3 | 4 | 5, number>>;
  codes?: Record<number, number>;
  sections?: Record<string, number>;
  users?: Record<string, number>;
  hosts?: Record<string, number>;
  methods?: Record<string, number>;
}

/** A segment of `second`, as the parser would send it. */
export function segmentAt(second: number, lines: Lines): Segment {
  const seg = emptySegment(second);
  seg.hits = lines.hits;
  seg.perSecond.set(second, lines.hits);
  for (const [c, n] of Object.entries(lines.status ?? {})) seg.status[Number(c)] = n;
  for (const [code, n] of Object.entries(lines.codes ?? {})) seg.codes.set(Number(code), n);
  const map = (counts?: Record<string, number>) => new Map(Object.entries(counts ?? {}));
  seg.keys = packMaps({ sections: map(lines.sections), users: map(lines.users), hosts: map(lines.hosts), methods: map(lines.methods) });
  return seg;
}
