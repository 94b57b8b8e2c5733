#!/usr/bin/env bun
/** http-log-monitor: `bun run entry.ts [options]`, or the `generate`, `chart` and `agent` sub-commands. */
import { flushOutput, outputFailed } from './lib/write-line';
// Sub-commands load lazily: following a log never loads the generator.
const [command, ...rest] = process.argv.slice(2);
const code =
  command === 'generate'
    ? await (await import('./commands/generate')).runGenerate(rest)
    : command === 'chart'
    ? await (await import('./commands/chart')).runChart(rest)
    : command === 'agent'
    ? await (await import('./commands/agent')).runAgentCommand(rest)
    : await (await import('./commands/monitor')).runMonitorCommand(process.argv.slice(2));
// What is still queued for stdout and stderr goes out first (the monitor has already flushed
// with its own deadline after a signal, and given up on a stuck output).
await flushOutput(Infinity);
process.exit(code === 0 && outputFailed() ? 1 : code);
