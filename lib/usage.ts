import { stripVTControlCharacters } from 'node:util';
import type { ArgsDef, CommandDef } from 'citty';

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
