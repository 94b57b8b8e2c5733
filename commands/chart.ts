/**
 * `chart`: draw a statechart from its XState definition, as Mermaid, Graphviz DOT or SVG
 * (rendered in-process by the WebAssembly build of Graphviz, @viz-js/viz: no network, no `dot`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ArgsDef, CommandDef } from 'citty';
import type { AnyStateMachine } from 'xstate';
import { PROGRAM, UsageError, VERSION, VersionRequest, readArgs } from '../lib/cli-args';
import { graphOf, toDot, toMermaid } from '../lib/statechart-graph';
import { errorUsage, helpText } from '../lib/usage';
import { writeLine } from '../lib/write-line';

export const USAGE = `usage: ${PROGRAM} chart [--machine alert|root] [--format mermaid|dot|svg] [-o FILE]`;

export const FORMATS = ['mermaid', 'dot', 'svg'] as const;
export const MACHINES = ['alert', 'root'] as const;
export type ChartFormat = (typeof FORMATS)[number];
export type ChartMachine = (typeof MACHINES)[number];

const chartArgs = {
  machine: { type: 'enum', options: [...MACHINES], default: 'alert', description: 'The alert statechart, or the root monitor machine' },
  format: { type: 'enum', options: [...FORMATS], default: 'mermaid', description: 'Mermaid stateDiagram-v2, Graphviz DOT, or SVG rendered by Graphviz' },
  output: { type: 'string', alias: 'o', valueHint: 'FILE', description: 'Write to FILE instead of standard output' },
  help: { type: 'boolean', alias: 'h', description: 'Show this help' },
} satisfies ArgsDef;

/** A citty command definition; citty itself is loaded only to render --help. */
export const chartCommand: CommandDef<any> = {
  meta: { name: 'chart', description: 'Draw a statechart (Mermaid, DOT or SVG) from the machine definition' },
  args: chartArgs,
};

export interface ChartOptions {
  machine: ChartMachine;
  format: ChartFormat;
  /** Undefined (or `-`) means standard output. */
  output?: string;
}

/** Reads and validates the raw arguments; `null` means --help. Throws `UsageError`. */
export function parseChartArgs(rawArgs: string[]): ChartOptions | null {
  const args = readArgs(rawArgs, chartArgs);
  if (args.help) return null;
  if (args._.length) throw new UsageError(`unexpected argument '${args._[0]}'`);
  const format = String(args.format);
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be mermaid, dot or svg, got '${format}'`);
  }
  const machine = String(args.machine);
  if (!(MACHINES as readonly string[]).includes(machine)) {
    throw new UsageError(`--machine must be alert or root, got '${machine}'`);
  }
  let output: string | undefined;
  if (args.output !== undefined) {
    output = String(args.output);
    if (!output) throw new UsageError('-o/--output must not be empty');
    if (output === '-') output = undefined;
  }
  return { machine: machine as ChartMachine, format: format as ChartFormat, output };
}

/** The machine definition itself (loaded on demand: the root pulls in every actor module). */
export async function loadMachine(name: ChartMachine): Promise<AnyStateMachine> {
  if (name === 'root') return (await import('../machines/monitor')).monitorMachine;
  return (await import('../machines/alert')).alertMachine;
}

/** The chart's text in the chosen format; SVG goes through Graphviz (WebAssembly). */
export async function renderChart(machine: AnyStateMachine, format: ChartFormat): Promise<string> {
  const graph = graphOf(machine);
  if (format === 'mermaid') return toMermaid(graph);
  const dot = toDot(graph);
  if (format === 'dot') return dot;
  const { instance } = await import('@viz-js/viz');
  const svg = (await instance()).renderString(dot, { format: 'svg' });
  return svg.endsWith('\n') ? svg : `${svg}\n`;
}

/** Writes `text` to `file`, creating its directory as `generate` does. */
function writeOutput(file: string, text: string) {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why =
      e?.code === 'EACCES' ? 'permission denied'
      : e?.code === 'EISDIR' ? 'it is a directory'
      : e?.code === 'ENOTDIR' || e?.code === 'EEXIST' ? 'a parent is not a directory'
      : (e?.message ?? String(error));
    throw new Error(`cannot write ${file}: ${why}`);
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (text) => writeLine(1, text),
  err: (text) => writeLine(2, text),
};

/** The `chart` command: 0 on success, 2 on a usage error, 1 on any other failure. */
export async function runChart(rawArgs: string[], io: Io = processIo): Promise<number> {
  try {
    const opts = parseChartArgs(rawArgs);
    if (!opts) {
      io.out(await helpText(chartCommand, USAGE));
      return 0;
    }
    const text = await renderChart(await loadMachine(opts.machine), opts.format);
    if (opts.output === undefined) io.out(text.replace(/\n$/, ''));
    else writeOutput(opts.output, text);
    return 0;
  } catch (error) {
    if (error instanceof VersionRequest) {
      io.out(VERSION);
      return 0;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.err(`error: ${message.split('\n')[0]}`);
    if (error instanceof UsageError) {
      io.err(errorUsage(USAGE));
      return 2;
    }
    return 1;
  }
}
