#!/usr/bin/env bun
export {};
/** http-log-monitor: `bun run entry.ts [options]`, `bun run entry.ts generate [options]` or `bun run entry.ts chart [options]`. */
// Sub-commands load lazily: following a log never loads the generator.
const [command, ...rest] = process.argv.slice(2);
const code =
  command === 'generate'
    ? await (await import('./commands/generate')).runGenerate(rest)
    : command === 'chart'
    ? await (await import('./commands/chart')).runChart(rest)
    : await (await import('./commands/monitor')).runMonitorCommand(process.argv.slice(2));
process.exit(code);
