/**
 * The benchmark's input files, made once in `$BENCH_DIR` (default /tmp/hlm-bench) and reused:
 * each is written under a temporary name and renamed when complete, so one that exists is whole.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fail, run } from './measure';

export interface Input {
  name: string;
  path: string;
  lines: number;
}

const START = '2026-01-01T00:00:00Z';
const SEED = '42';

export async function prepareInputs(dir: string, bun: string, root: string): Promise<Input[]> {
  mkdirSync(dir, { recursive: true });
  const generated = async (name: string, rate: number, seconds: number): Promise<Input> => {
    const path = join(dir, `clf-${rate}x${seconds}-seed${SEED}.log`);
    if (!existsSync(path)) {
      const tmp = `${path}.partial`;
      rmSync(tmp, { force: true }); // generate appends
      const profile = `${rate}x${seconds}`;
      console.error(`bench: generating ${path} (${profile})`);
      await run([bun, 'entry.ts', 'generate', '-f', tmp, '--profile', profile, '--backfill', '--start', START, '--seed', SEED, '--format', 'clf'], { cwd: root });
      renameSync(tmp, path);
    }
    return { name, path, lines: rate * seconds };
  };
  const small = await generated('1M', 2000, 500);
  const big = await generated('10M', 2000, 5000);
  const highCardinality = (name: string, lines: number): Input => {
    const path = join(dir, `high-cardinality-${name}.log`);
    if (!existsSync(path)) {
      console.error(`bench: writing ${path}`);
      writeHighCardinality(`${path}.partial`, lines, 2000);
      renameSync(`${path}.partial`, path);
    }
    return { name: `high-card ${name}`, path, lines };
  };
  return [small, big, highCardinality('1M', 1_000_000), highCardinality('5M', 5_000_000)];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** `01/Jan/2026:00:00:00 +0000` for Unix seconds, UTC. */
export function clfTime(second: number): string {
  const d = new Date(second * 1000);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** `lines` CLF lines, `perSecond` to a second, each with a section, user and host never seen before. */
function writeHighCardinality(path: string, lines: number, perSecond: number) {
  const fd = openSync(path, 'w');
  try {
    const start = Date.parse(START) / 1000;
    const CHUNK = 20_000;
    let time = clfTime(start);
    for (let from = 0; from < lines; from += CHUNK) {
      const parts: string[] = [];
      for (let i = from; i < Math.min(lines, from + CHUNK); i++) {
        if (i % perSecond === 0) time = clfTime(start + i / perSecond);
        const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        parts.push(`${host} - user${i} [${time}] "GET /sec${i}/x HTTP/1.1" 200 42\n`);
      }
      writeSync(fd, Buffer.from(parts.join('')));
    }
  } catch (error) {
    fail(`cannot write ${path}: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
