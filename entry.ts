#!/usr/bin/env bun
export {};
/** http-log-monitor: `bun run entry.ts [options]`, or `bun run entry.ts generate [options]`. */
// Sub-commands load lazily: following a log never loads the generator.
const [command, ...rest] = process.argv.slice(2);
const code =
  command === 'generate'
    ? await (await import('./commands/generate')).runGenerate(rest)
    : await (await import('./commands/monitor')).runMonitorCommand(process.argv.slice(2));
process.exit(code);
