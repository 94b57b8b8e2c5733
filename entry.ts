#!/usr/bin/env bun
/** http-log-monitor: `bun run entry.ts [options]`, or `bun run entry.ts generate [options]`. */
import { runGenerate } from './commands/generate';
import { runMonitorCommand } from './commands/monitor';

const [command, ...rest] = process.argv.slice(2);
const code = command === 'generate' ? await runGenerate(rest) : await runMonitorCommand(process.argv.slice(2));
process.exit(code);
