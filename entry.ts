#!/usr/bin/env bun
/** http-log-monitor: `npm start -- [options]`, or the `agent`, `format`, `generate` and `chart` sub-commands. */
import { existsSync } from 'node:fs';
import { unknownCommand } from './lib/cli-args';
import { flushOutput, outputFailed, writeLine } from './lib/write-line';
// Sub-commands load lazily: following a log never loads the generator.
const [command, ...rest] = process.argv.slice(2);
// A misspelt sub-command is not a file to wait for (`-f WORD` is).
const unknown = unknownCommand(command, existsSync);
const code =
  command === 'generate'
    ? await (await import('./commands/generate')).runGenerate(rest)
    : command === 'chart'
    ? await (await import('./commands/chart')).runChart(rest)
    : command === 'agent'
    ? await (await import('./commands/agent')).runAgentCommand(rest)
    : command === 'format'
    ? await (await import('./commands/format')).runFormatCommand(rest)
    : unknown
    ? usageError(unknown, (await import('./commands/monitor')).USAGE)
    : await (await import('./commands/monitor')).runMonitorCommand(process.argv.slice(2));
// What is still queued for stdout and stderr goes out first (the monitor has already flushed
// with its own deadline after a signal, and given up on a stuck output).
await flushOutput(Infinity);
process.exit(code === 0 && outputFailed() ? 1 : code);

function usageError(message: string, usage: string): number {
  writeLine(2, `error: ${message}`);
  writeLine(2, usage);
  return 2;
}
