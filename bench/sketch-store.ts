/**
 * Micro-benchmark of lib/duration-store.ts: what the latency sketches cost a scanner, without the
 * scanner. Segments of 2,000 timed lines (one second of bench/text-scanner's traffic): each line's
 * duration (log-normal around 31 ms, σ 0.8, one in a hundred 3 to 55× slower, one in ten exactly
 * zero as nginx's `0.000`) goes to the five stores a text scanner feeds (latency, status class,
 * section, vhost, upstream), then each segment's sketches are taken (`take`, `drain`) and merged
 * into an interval's, as the section aggregator does. Prints the best and median ns a line of
 * RUNS runs, and the CPU time.
 *
 *   ./node_modules/.bin/bun bench/sketch-store.ts [SEGMENTS] [RUNS]      (default 500, 7)
 */
import { addSketch, Durations, KeyDurations } from '../lib/duration-store';
import { bucketOf, Sketch } from '../lib/sketch';
import { fnv1a } from '../lib/byte-keys';

const SEGMENTS = Number(process.argv[2] ?? 500);
const RUNS = Number(process.argv[3] ?? 7);
const PER_SEGMENT = 2000;
const SECTIONS = 20;
const VHOSTS = 6;

/** A deterministic stream of the inputs: duration, upstream (NaN: none), class, section, vhost. */
function inputs(lines: number) {
  let seed = 42;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const ms = new Float64Array(lines);
  const up = new Float64Array(lines);
  const cls = new Int32Array(lines);
  const section = new Int32Array(lines);
  const vhost = new Int32Array(lines);
  for (let i = 0; i < lines; i++) {
    const s = Math.floor(random() * SECTIONS);
    let d = 31 * (1 + s / 10) * Math.exp(0.8 * gauss());
    if (random() < 0.01) d *= 3 + random() * 52;
    // Whole milliseconds, as nginx writes them ($request_time 0.031): 0 one line in ten.
    ms[i] = random() < 0.1 ? 0 : Math.round(d);
    up[i] = s < 4 ? NaN : Math.max(0, ms[i]! - 1);
    cls[i] = random() < 0.9 ? 2 : random() < 0.5 ? 3 : 4;
    section[i] = s;
    vhost[i] = Math.floor(random() * VHOSTS);
  }
  return { ms, up, cls, section, vhost };
}

const keys = new TextEncoder().encode(
  [...Array.from({ length: SECTIONS }, (_, i) => `/section${i}`), ...Array.from({ length: VHOSTS }, (_, i) => `vhost${i}.example.com`)].join(''),
);
const keyStart = new Int32Array(SECTIONS + VHOSTS + 1);
for (let i = 0, p = 0; i < SECTIONS + VHOSTS; i++) {
  p += i < SECTIONS ? `/section${i}`.length : `vhost${i - SECTIONS}.example.com`.length;
  keyStart[i + 1] = p;
}
const keyHash = Int32Array.from({ length: SECTIONS + VHOSTS }, (_, i) => fnv1a(keys, keyStart[i]!, keyStart[i + 1]!));

const data = inputs(SEGMENTS * PER_SEGMENT);

function run(): number {
  const latency = new Durations();
  const upstream = new Durations();
  const classes = Array.from({ length: 6 }, () => new Durations());
  const sections = new KeyDurations();
  const vhosts = new KeyDurations();
  const interval = { latency: new Sketch(), sections: new Map<string, Sketch>() };
  let sketches = 0;
  for (let seg = 0; seg < SEGMENTS; seg++) {
    for (let i = seg * PER_SEGMENT, end = i + PER_SEGMENT; i < end; i++) {
      const up = data.up[i]!;
      if (up === up) upstream.add(up, bucketOf(up));
      const ms = data.ms[i]!;
      const bucket = bucketOf(ms);
      latency.add(ms, bucket);
      const s = data.section[i]!;
      sections.get(keys, keyStart[s]!, keyStart[s + 1]!, keyHash[s]!).add(ms, bucket);
      classes[data.cls[i]!]!.add(ms, bucket);
      const v = SECTIONS + data.vhost[i]!;
      vhosts.get(keys, keyStart[v]!, keyStart[v + 1]!, keyHash[v]!).add(ms, bucket);
    }
    interval.latency.merge(latency.take());
    for (const d of classes) if (!d.empty) (d.take(), sketches++);
    const bySection = new Map<string, Sketch>();
    sections.drain(bySection);
    for (const [k, sk] of bySection) addSketch(interval.sections, k, sk);
    const byVhost = new Map<string, Sketch>();
    vhosts.drain(byVhost);
    if (!upstream.empty) upstream.take();
    sketches += 2 + bySection.size + byVhost.size;
  }
  return sketches;
}

const ns: number[] = [];
const cpu0 = process.cpuUsage();
let sketches = 0;
for (let r = 0; r < RUNS; r++) {
  const started = performance.now();
  sketches = run();
  ns.push(((performance.now() - started) * 1e6) / (SEGMENTS * PER_SEGMENT));
}
const cpu = process.cpuUsage(cpu0);
ns.sort((a, b) => a - b);
console.log(
  `${SEGMENTS} segments of ${PER_SEGMENT} lines, ${sketches / SEGMENTS} sketches a segment; best ${ns[0]!.toFixed(1)} ns/line, median ${ns[RUNS >> 1]!.toFixed(1)}, CPU ${(((cpu.user + cpu.system) * 1e3) / (RUNS * SEGMENTS * PER_SEGMENT)).toFixed(1)} ns/line`,
);
