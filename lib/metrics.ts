/**
 * What Prometheus scrapes: the monitor's counts as counters, its durations as histograms, its
 * alerts' states and the centre's agents as gauges (issue 20; served by lib/metrics-server.ts).
 *
 * Counting is plain number adds into this object's own fields, as segments are delivered: no
 * prom-client metric object is touched on the pipeline's path. A scrape (`render`) builds each
 * family's values from those fields and lets prom-client's Registry write the exposition (its
 * escaping, HELP/TYPE lines, `_total` in OpenMetrics, `# EOF`). Two private registries, one per
 * format, never the global one: a registry's content type is its own state, read again while it
 * renders, so one registry switched between formats could mix two concurrent scrapes.
 *
 * - Requests by status class, `http_log_monitor_requests_total{status_class}`, and by method,
 *   `http_log_monitor_method_requests_total{method}` (GET HEAD POST PUT DELETE PATCH OPTIONS
 *   CONNECT TRACE, anything else "other"). Two counters, not one with both labels: a segment
 *   carries hits by class and hits by method, not by the two together, so a joint count would be
 *   invented. Each sums to every request.
 * - Sections: a section gets its own label while fewer than `sections` have one, first seen first,
 *   and keeps it (a series that vanished would read as a counter reset); the others count under
 *   section="other". Every line has a section key (`(no request)`, `(not a path)` included), so the
 *   sum over sections is the requests.
 * - Durations: a segment's sketch (lib/sketch.ts) is poured into fixed `le` buckets: a sketch
 *   bucket, (γ^(i−1), γ^i] ms, counts in the first `le` at or above its value `bucketValue(i)`, so
 *   a duration within 1 % of a bound may land in the bucket on the other side of it (the sketch's
 *   own accuracy); durations counted as zero go to the first `le`. `_sum` and `_count` are exact.
 *   The histograms appear once a timed line came.
 * - Segments marked `printed` (the centre's: already in an interval an earlier run of the centre
 *   printed, whose totals it restored) are not counted again, as the interval stats skip them.
 *
 * `totals()`/`restore()` carry every counter and histogram across a restart as plain JSON
 * (`v: 1`), so that a counter never goes down.
 */
import { Registry } from 'prom-client';
import { ByteCounts, fnv1a, KEY_KINDS, stableHash } from './byte-keys';
import { bucketValue, type Sketch } from './sketch';
import type { Segment } from './wire';

export interface MetricsOptions {
  /** Sections that get their own label (`--metrics-sections`, default 20); the rest count under section="other". */
  sections: number;
  /**
   * Request-duration histogram bucket bounds in SECONDS, ascending (`--metrics-buckets`, default
   * prom-client's [0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10]); +Inf added.
   */
  buckets: number[];
}

/** prom-client's default buckets, in seconds. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const DEFAULT_SECTIONS = 20;

/** Status classes by a segment's `status` index (0: anything else). */
export const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Methods with their own label; any other is "other". */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'] as const;
export const OTHER = 'other';

const PREFIX = 'http_log_monitor_';
const METHOD_BYTES = METHODS.map((m) => new TextEncoder().encode(m));
const SECTIONS_KIND = KEY_KINDS.indexOf('sections');
const METHODS_KIND = KEY_KINDS.indexOf('methods');

/** A histogram's counts: per `le` (not cumulative; the last is +Inf), sum in seconds and count. */
export interface HistogramTotals {
  /** The bounds they were counted against (seconds): a restore with other bounds re-bins. */
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

/** Every cumulative count, as JSON (a centre's record; a restarted centre goes on from it). */
export interface MetricsTotals {
  v: 1;
  /** Requests by status class: "1xx".."5xx", "other". */
  requests: Record<string, number>;
  /** Requests by method: METHODS and "other". */
  methods: Record<string, number>;
  bytes: number;
  invalid: number;
  late: number;
  /** Sections with a label, in the order they got it, and their requests. */
  sections: [string, number][];
  /** Requests of every other section. */
  otherSections: number;
  /** Present once a timed line came. */
  duration?: HistogramTotals;
  upstream?: HistogramTotals;
}

/** A duration histogram fed from sketches. */
class DurationHistogram {
  /** Per `le` bucket (not cumulative), the last +Inf. */
  counts: Float64Array;
  sum = 0;
  count = 0;
  /** The `le` slot of sketch bucket TABLE_LOW + j; buckets outside are looked up by `slotFor`. */
  private table: Int32Array;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
    this.table = new Int32Array(TABLE_HIGH - TABLE_LOW + 1);
    for (let j = 0; j < this.table.length; j++) this.table[j] = this.slotFor(TABLE_LOW + j);
  }

  /** The first `le` at or above sketch bucket `index`'s value (ms → s), or +Inf's slot. */
  private slotFor(index: number): number {
    const seconds = bucketValue(index) / 1000;
    let lo = 0;
    let hi = this.bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bounds[mid]! >= seconds) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  add(sketch: Sketch): void {
    if (sketch.count === 0) return;
    const { zero, offset, counts } = sketch.buckets();
    const mine = this.counts;
    mine[0]! += zero;
    const table = this.table;
    for (let j = 0; j < counts.length; j++) {
      const n = counts[j]!;
      if (n === 0) continue;
      const index = offset + j;
      const t = index - TABLE_LOW;
      mine[t >= 0 && t < table.length ? table[t]! : this.slotFor(index)]! += n;
    }
    this.sum += sketch.sum / 1000;
    this.count += sketch.count;
  }

  totals(): HistogramTotals {
    return { buckets: [...this.bounds], counts: [...this.counts], sum: this.sum, count: this.count };
  }

  /** Takes over saved counts; counted against other bounds, each old bucket goes to the first new `le` at or above its own. */
  restore(saved: HistogramTotals): void {
    this.counts.fill(0);
    for (let i = 0; i < saved.counts.length; i++) {
      const le = i < saved.buckets.length ? saved.buckets[i]! : Infinity;
      let slot = this.bounds.findIndex((b) => b >= le);
      if (slot < 0) slot = this.bounds.length;
      this.counts[slot]! += saved.counts[i]!;
    }
    this.sum = saved.sum;
    this.count = saved.count;
  }

  values(name: string): Value[] {
    const out: Value[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { le: this.bounds[i]! }, value: cumulative });
    }
    out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    out.push({ metricName: `${name}_sum`, labels: {}, value: this.sum });
    out.push({ metricName: `${name}_count`, labels: {}, value: this.count });
    return out;
  }
}

/** The sketch buckets `DurationHistogram` maps by table: from just above MIN_VALUE (1 ns) to past MAX_VALUE (10^9 ms). */
const TABLE_LOW = -700;
const TABLE_HIGH = 1100;

/** A sample as prom-client's Registry reads it. */
interface Value {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

type MetricType = 'counter' | 'gauge' | 'histogram';

/** A family of series: its name (a counter's without `_total`), help, type, and its values when there are any. */
interface Family {
  name: string;
  help: string;
  type: MetricType;
  /** Undefined: not in the exposition (yet). */
  values(): Value[] | undefined;
}

export class Metrics {
  private readonly requests = new Float64Array(STATUS_CLASSES.length);
  /** By METHODS index, then "other". */
  private readonly methods = new Float64Array(METHODS.length + 1);
  private bytes = 0;
  private invalid = 0;
  private late = 0;
  /** Sections with a label, by their bytes; entry order is admission order. */
  private sectionCounts = new ByteCounts();
  private otherSections = 0;
  private duration: DurationHistogram | null = null;
  private upstream: DurationHistogram | null = null;
  private readonly alerts = new Map<string, { rule: string; group: string; firing: boolean }>();
  private windowAverage: number | undefined;
  private agents: { reporting: number; silent: number } | undefined;
  private readonly agentLag = new Map<string, number>();
  private readonly families: Family[];
  private readonly registries = { text: new Registry(), openMetrics: openMetricsRegistry() };
  private readonly registered = new Set<string>();
  /** `showTotals`: what the counters and histograms render from; null: the live counts. */
  private shown: Metrics | null = null;

  constructor(private readonly options: MetricsOptions) {
    if (!(options.sections >= 0) || !Number.isInteger(options.sections)) throw new Error(`metrics: sections must be a whole number ≥ 0, got ${options.sections}`);
    if (!ascending(options.buckets)) throw new Error(`metrics: buckets must be ascending positive seconds, got ${options.buckets.join(',')}`);
    this.families = this.describe();
  }

  addSegments(segments: readonly Segment[]): void {
    for (const s of segments) {
      if (s.printed) continue;
      const status = s.status;
      for (let c = 0; c < 6; c++) this.requests[c]! += status[c]!;
      this.bytes += s.bytes;
      this.invalid += s.invalid;
      this.addKeys(s);
      if (s.latency && s.latency.count > 0) (this.duration ??= new DurationHistogram(this.options.buckets)).add(s.latency);
      if (s.upstream && s.upstream.count > 0) (this.upstream ??= new DurationHistogram(this.options.buckets)).add(s.upstream);
    }
  }

  /** Methods and sections of a segment's keys, read now (they may be borrowed). */
  private addKeys(s: Segment): void {
    const { bytes, entries, hashes } = s.keys;
    let i: number = KEY_KINDS.length;
    let start = 0;
    for (let kind = 0; kind < KEY_KINDS.length; kind++) {
      for (let n = entries[kind]!; n > 0; n--, i += 2) {
        const end = entries[i]!;
        const count = entries[i + 1]!;
        if (kind === METHODS_KIND) this.methods[methodIndex(bytes, start, end)]! += count;
        else if (kind === SECTIONS_KIND) {
          const h = i - KEY_KINDS.length;
          this.addSection(bytes, start, end, hashes ? hashes[h]! : fnv1a(bytes, start, end), hashes ? hashes[h + 1]! : undefined, count);
        }
        start = end;
      }
    }
  }

  private addSection(bytes: Uint8Array, start: number, end: number, hash: number, stable: number | undefined, n: number): void {
    const table = this.sectionCounts;
    const e = table.find(bytes, start, end, hash);
    if (e >= 0) table.counts[e]! += n;
    else if (table.size < this.options.sections) table.insert(bytes, start, end, hash, stable ?? stableHash(bytes, start, end), n, ~e);
    else this.otherSections += n;
  }

  addLate(n: number): void {
    if (n > 0) this.late += n;
  }

  setAlert(rule: string, group: string, firing: boolean): void {
    const key = `${rule}\u0000${group}`;
    const known = this.alerts.get(key);
    if (known) known.firing = firing;
    else this.alerts.set(key, { rule, group, firing });
  }

  /**
   * A group's alert ended: its series goes (as Prometheus's own `ALERTS` drops a series that no
   * longer fires), so a rule grouped by host keeps a series for the groups firing only, not for
   * every group that ever fired.
   */
  clearAlert(rule: string, group: string): void {
    this.alerts.delete(`${rule}\u0000${group}`);
  }

  setWindowAverage(perSecond: number): void {
    this.windowAverage = perSecond;
  }

  setAgents(reporting: number, silent: number): void {
    this.agents = { reporting, silent };
  }

  setAgentLag(agent: string, seconds: number): void {
    this.agentLag.set(agent, seconds);
  }

  /** An agent the centre forgot (silent past --agent-forget): its lag series goes. */
  clearAgentLag(agent: string): void {
    this.agentLag.delete(agent);
  }

  totals(): MetricsTotals {
    const sections: [string, number][] = [];
    for (let e = 0; e < this.sectionCounts.size; e++) sections.push([this.sectionCounts.key(e), this.sectionCounts.counts[e]!]);
    return {
      v: 1,
      requests: Object.fromEntries(STATUS_CLASSES.map((c, i) => [c, this.requests[i]!])),
      methods: Object.fromEntries([...METHODS, OTHER].map((m, i) => [m, this.methods[i]!])),
      bytes: this.bytes,
      invalid: this.invalid,
      late: this.late,
      sections,
      otherSections: this.otherSections,
      ...(this.duration && { duration: this.duration.totals() }),
      ...(this.upstream && { upstream: this.upstream.totals() }),
    };
  }

  /**
   * Sets every counter and histogram from saved totals (anything not a `totals()` of version 1 is
   * an Error, and nothing is changed). Saved sections past this run's `sections` count under "other".
   */
  restore(totals: MetricsTotals): void {
    const t = checkTotals(totals);
    STATUS_CLASSES.forEach((c, i) => (this.requests[i] = t.requests[c] ?? 0));
    [...METHODS, OTHER].forEach((m, i) => (this.methods[i] = t.methods[m] ?? 0));
    this.bytes = t.bytes;
    this.invalid = t.invalid;
    this.late = t.late;
    this.sectionCounts = new ByteCounts();
    this.otherSections = t.otherSections;
    for (const [section, n] of t.sections) {
      const bytes = Buffer.from(section, 'utf8');
      const e = this.sectionCounts.find(bytes, 0, bytes.length, fnv1a(bytes));
      if (e >= 0) this.sectionCounts.counts[e]! += n;
      else if (this.sectionCounts.size < this.options.sections) this.sectionCounts.insert(bytes, 0, bytes.length, fnv1a(bytes), stableHash(bytes), n, ~e);
      else this.otherSections += n;
    }
    this.duration = restored(t.duration, this.options.buckets);
    this.upstream = restored(t.upstream, this.options.buckets);
  }

  /**
   * From now on the counters and histograms are rendered from these totals, not from the live
   * counts (the gauges stay live). A centre shows what its last stored record holds: a restarted
   * centre restores exactly that, so no scrape before a crash saw more than one after it.
   */
  showTotals(totals: MetricsTotals): void {
    (this.shown ??= new Metrics(this.options)).restore(totals);
  }

  async render(openMetrics: boolean): Promise<{ body: string; contentType: string }> {
    this.registerPresent();
    const registry = openMetrics ? this.registries.openMetrics : this.registries.text;
    return { body: await registry.metrics(), contentType: registry.contentType };
  }

  /**
   * Registers, in both registries, the families that have values now, in their fixed order (a
   * family appears once it has values: the histograms once a timed line came, the centre's
   * gauges once set). Registries are emptied and filled again only when one has appeared.
   */
  private registerPresent(): void {
    const present = this.families.filter((f) => this.registered.has(f.name) || f.values() !== undefined);
    if (present.length === this.registered.size) return;
    for (const [openMetrics, registry] of [[false, this.registries.text], [true, this.registries.openMetrics]] as const) {
      registry.clear();
      for (const f of present) registry.registerMetric(asMetric(f, openMetrics) as never);
    }
    for (const f of present) this.registered.add(f.name);
  }

  private describe(): Family[] {
    const counter = (name: string, help: string, values: () => Value[] | undefined): Family => ({ name: PREFIX + name, help, type: 'counter', values });
    const gauge = (name: string, help: string, values: () => Value[] | undefined): Family => ({ name: PREFIX + name, help, type: 'gauge', values });
    const histogram = (name: string, help: string, of: () => DurationHistogram | null): Family => ({
      name: PREFIX + name,
      help,
      type: 'histogram',
      values: () => of()?.values(PREFIX + name),
    });
    // Counters and histograms: the live counts, or the totals shown (`showTotals`).
    const c = (): Metrics => this.shown ?? this;
    return [
      counter('requests', 'Requests (valid log lines) by status class.', () =>
        STATUS_CLASSES.map((cls, i) => ({ labels: { status_class: cls }, value: c().requests[i]! })),
      ),
      counter('method_requests', 'Requests by method (methods outside the common nine count as "other").', () =>
        [...METHODS, OTHER].map((m, i) => ({ labels: { method: m }, value: c().methods[i]! })),
      ),
      counter('section_requests', 'Requests by section (the first path segment); sections past the first N seen count as "other".', () => c().sectionValues()),
      counter('response_bytes', 'Response bytes sent, as the log says.', () => [{ labels: {}, value: c().bytes }]),
      counter('invalid_lines', 'Log lines that could not be read.', () => [{ labels: {}, value: c().invalid }]),
      counter('late_lines', 'Log lines that came too late for their interval.', () => [{ labels: {}, value: c().late }]),
      histogram('request_duration_seconds', 'Request durations, as the log says (timed lines only).', () => c().duration),
      histogram('upstream_duration_seconds', "Upstream durations (a request's upstream times summed), as the log says.", () => c().upstream),
      gauge('alert_firing', 'Whether an alert rule (or group of it) is firing: 1, or not: 0.', () =>
        this.alerts.size === 0 ? undefined : [...this.alerts.values()].map((a) => ({ labels: { rule: a.rule, group: a.group }, value: a.firing ? 1 : 0 })),
      ),
      gauge('window_requests_per_second', "The alert window's average requests per second.", () =>
        this.windowAverage === undefined ? undefined : [{ labels: {}, value: this.windowAverage }],
      ),
      gauge('agents', 'Agents reporting and silent.', () =>
        this.agents && [
          { labels: { state: 'reporting' }, value: this.agents.reporting },
          { labels: { state: 'silent' }, value: this.agents.silent },
        ],
      ),
      gauge('agent_clock_lag_seconds', "How far each agent's clock is behind the fleet's, in seconds.", () =>
        this.agentLag.size === 0 ? undefined : [...this.agentLag].map(([agent, lag]) => ({ labels: { agent }, value: lag })),
      ),
    ];
  }

  /** Labelled sections then "other"; keys whose bytes decode to the same text (invalid UTF-8) are one series. */
  private sectionValues(): Value[] {
    const table = this.sectionCounts;
    const bySection = new Map<string, number>();
    for (let e = 0; e < table.size; e++) {
      const key = table.key(e);
      bySection.set(key, (bySection.get(key) ?? 0) + table.counts[e]!);
    }
    // A section literally named "other" shares the series: the label stays unique.
    bySection.set(OTHER, (bySection.get(OTHER) ?? 0) + this.otherSections);
    return [...bySection].map(([section, value]) => ({ labels: { section }, value }));
  }
}

function openMetricsRegistry(): Registry {
  const registry = new Registry();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  return registry;
}

/** A family as the object prom-client's Registry registers: name, help, type and `get()`. */
function asMetric(f: Family, openMetrics: boolean) {
  // The text format names a counter's samples and family with `_total`; the Registry adds it in OpenMetrics.
  const name = f.type === 'counter' && !openMetrics ? `${f.name}_total` : f.name;
  return {
    name,
    help: f.help,
    type: f.type,
    get: () => ({ name, help: f.help, type: f.type, values: f.values() ?? [], aggregator: 'sum' }),
    reset: () => {},
  };
}

/** The METHODS index of the method at bytes[start..end), or "other"'s. */
function methodIndex(bytes: Uint8Array, start: number, end: number): number {
  const len = end - start;
  outer: for (let m = 0; m < METHOD_BYTES.length; m++) {
    const name = METHOD_BYTES[m]!;
    if (name.length !== len) continue;
    for (let i = 0; i < len; i++) if (bytes[start + i] !== name[i]) continue outer;
    return m;
  }
  return METHODS.length;
}

function ascending(bounds: readonly number[]): boolean {
  if (!Array.isArray(bounds) || bounds.length === 0) return false;
  for (let i = 0; i < bounds.length; i++) {
    const b = bounds[i];
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0 || (i > 0 && b <= bounds[i - 1]!)) return false;
  }
  return true;
}

function restored(saved: HistogramTotals | undefined, bounds: number[]): DurationHistogram | null {
  if (!saved) return null;
  const h = new DurationHistogram(bounds);
  h.restore(saved);
  return h;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
const isRecord = (o: unknown): o is Record<string, unknown> => typeof o === 'object' && o !== null && !Array.isArray(o);

/** `totals` if it is what `totals()` writes (version 1); an Error naming what is wrong otherwise. */
function checkTotals(totals: unknown): MetricsTotals {
  const bad = (what: string) => new Error(`metrics totals: ${what}`);
  if (!isRecord(totals)) throw bad('not an object');
  if (totals.v !== 1) throw bad(`version ${JSON.stringify(totals.v)} is not 1`);
  const counts = (field: string, names: readonly string[]) => {
    const o = totals[field];
    if (!isRecord(o)) throw bad(`${field} is not an object`);
    for (const [k, n] of Object.entries(o)) if (!names.includes(k) || !isCount(n)) throw bad(`${field}.${k} is not a count`);
  };
  counts('requests', STATUS_CLASSES);
  counts('methods', [...METHODS, OTHER]);
  for (const field of ['bytes', 'invalid', 'late', 'otherSections']) if (!isCount(totals[field])) throw bad(`${field} is not a count`);
  const sections = totals.sections;
  if (!Array.isArray(sections)) throw bad('sections is not a list');
  for (const s of sections) {
    if (!Array.isArray(s) || s.length !== 2 || typeof s[0] !== 'string' || !isCount(s[1])) throw bad('a section is not [name, count]');
  }
  for (const field of ['duration', 'upstream']) {
    const h = totals[field];
    if (h === undefined) continue;
    if (!isRecord(h) || !ascending(h.buckets as number[]) || !isCount(h.sum) || !isCount(h.count)) throw bad(`${field} is not a histogram`);
    const c = h.counts;
    if (!Array.isArray(c) || c.length !== (h.buckets as number[]).length + 1 || !c.every(isCount)) throw bad(`${field}.counts do not fit its buckets`);
  }
  return totals as unknown as MetricsTotals;
}
