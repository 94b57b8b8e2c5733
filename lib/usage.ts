import { stripVTControlCharacters } from 'node:util';
import type { ArgsDef, CommandDef } from 'citty';
import { UsageError } from './cli-args';
import { reason } from './input-paths';
import { writeLine } from './write-line';

/** citty's usage text; its colours only when stdout is a terminal and NO_COLOR is unset. */
export async function usageText(command: CommandDef<any>): Promise<string> {
  const { renderUsage } = await import('citty');
  const text = await renderUsage({ ...command, args: withLongAliases(command.args as ArgsDef) });
  const color = process.stdout.isTTY && !process.env.NO_COLOR;
  return color ? text : stripVTControlCharacters(text);
}

/**
 * citty prints every alias after one dash; a long alias gets a second one here (`filename` is
 * shown as `--filename`), before citty lays out its columns.
 */
function withLongAliases(args: ArgsDef): ArgsDef {
  const out: ArgsDef = {};
  for (const [name, arg] of Object.entries(args)) {
    const alias = 'alias' in arg && arg.alias ? [arg.alias].flat() : [];
    out[name] = alias.length ? ({ ...arg, alias: alias.map((a) => (a.length > 1 ? `-${a}` : a)) } as typeof arg) : arg;
  }
  return out;
}

/**
 * A command's edge: parse (null means --help), run, and turn what went wrong into one line on
 * stderr, with the usage after a usage error (exit 2) and none after any other (exit 1).
 */
export async function runCommand<O>(
  command: CommandDef<any>,
  usage: string,
  parse: () => O | null,
  run: (options: O) => Promise<number>,
): Promise<number> {
  try {
    const options = parse();
    if (!options) {
      writeLine(1, await usageText(command));
      return 0;
    }
    return await run(options);
  } catch (error) {
    writeLine(2, `error: ${error instanceof UsageError ? error.message : reason(error)}`);
    if (!(error instanceof UsageError)) return 1;
    if (error.showUsage) writeLine(2, usage);
    return 2;
  }
}
