import { stripVTControlCharacters } from 'node:util';
import type { CommandDef } from 'citty';

/** citty's usage text; its colours only when stdout is a terminal and NO_COLOR is unset. */
export async function usageText(command: CommandDef<any>): Promise<string> {
  // citty prints every alias with one dash; long ones take two here (-filename → --filename).
  const { renderUsage } = await import('citty');
  const text = (await renderUsage(command)).replace(/(^|[\s,])-([a-z][a-z-]+)/g, '$1--$2');
  const color = process.stdout.isTTY && !process.env.NO_COLOR;
  return color ? text : stripVTControlCharacters(text);
}
