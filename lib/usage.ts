/**
 * `--help` and the edge of a command. Help is laid out here from the same `ArgsDef` that
 * lib/cli-args.ts reads (citty gives the types; its renderUsage padded lines to 200 columns).
 */
import type { ArgDef, ArgsDef, CommandDef } from 'citty';
import { UsageError, VERSION, VersionRequest } from './cli-args';
import { reason } from './input-paths';
import { writeLine } from './write-line';

/** The width help is laid out for: a terminal's default, whatever the terminal. */
const WIDTH = 80;
/** Where an option's description starts; a longer label has its description on the next line. */
const DESCRIPTION_AT = 26;

/**
 * A command as `--help` shows it: citty's definition, with the ways of running it after its usage
 * line (`more`) and the sub-commands it lists (`subCommands`).
 */
export type HelpDef = CommandDef<any> & { more?: string[] };

/**
 * The help of a command, in 80 columns: what it does, its usage lines, its sub-commands and its
 * options (each with its default, and `--version` when the command does not use the flag).
 */
export async function helpText(command: HelpDef, usage: string): Promise<string> {
  const meta = await resolve(command.meta);
  const title = meta?.name === 'http-log-monitor' ? VERSION : `${VERSION} ${meta?.name}`;
  const out = [...wrap(`${title}: ${meta?.description ?? ''}`.split(' '), 0, 2), ''];
  out.push(...usageLines(usage.replace(/^usage: /, ''), 'usage: '));
  for (const line of command.more ?? []) out.push(...usageLines(line, '       '));
  const subCommands = Object.entries((await resolve(command.subCommands)) ?? {});
  if (subCommands.length > 0) {
    out.push('', 'commands:');
    for (const [name, sub] of subCommands) out.push(...entry(name, (await resolve((await resolve(sub)).meta))?.description ?? ''));
  }
  out.push('', 'options:');
  const args = { ...(command.args as ArgsDef) };
  if (!args.version) {
    args.version = { type: 'boolean', alias: ['V', 'v'], description: `Print the version (${VERSION}) and exit` };
  }
  for (const [name, arg] of Object.entries(args)) out.push(...entry(label(name, arg), described(arg)));
  return out.join('\n');
}

/** `-f, --file, --filename PATH`; a flag on by default also shows its `--no-` form. */
function label(name: string, arg: ArgDef): string {
  const aliases = 'alias' in arg && arg.alias ? [arg.alias].flat() : [];
  const flags = [...aliases.filter((a) => a.length === 1).map((a) => `-${a}`), `--${name}`, ...aliases.filter((a) => a.length > 1).map((a) => `--${a}`)];
  if (arg.type === 'boolean' && arg.default === true) flags.push(`--no-${name}`);
  const value = arg.type === 'enum' ? (arg.valueHint ?? arg.options?.join('|')) : arg.type === 'string' ? (arg.valueHint ?? 'VALUE') : undefined;
  return flags.join(', ') + (value ? ` ${value}` : '');
}

function described(arg: ArgDef): string {
  const text = arg.description ?? '';
  return arg.type !== 'boolean' && arg.default !== undefined ? `${text} (default: ${arg.default})` : text;
}

/** A label and its description wrapped beside it, or under it when the label is long. */
function entry(label: string, description: string): string[] {
  const head = `  ${label}`;
  const body = wrap(unbroken(description), DESCRIPTION_AT, DESCRIPTION_AT);
  if (head.length + 2 > DESCRIPTION_AT) return [head, ...body];
  return [head.padEnd(DESCRIPTION_AT) + body[0]!.trimStart(), ...body.slice(1)];
}

/** A range is read as one: `a whole number from 10 to 60000`, `0.001 to 1000000000` stay on one line. */
function unbroken(text: string): string[] {
  const range = /(?:(?:a )?(?:whole )?number from )?\S*\d\S* to \S*\d\S*/g;
  return text.replace(range, (r) => r.replaceAll(' ', NBSP)).split(' ');
}

const NBSP = '\u00a0';

/** Words in lines of at most WIDTH columns, the first indented `first`, the others `rest`. */
function wrap(words: string[], first: number, rest: number): string[] {
  const lines: string[] = [];
  let line = ' '.repeat(first);
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = ' '.repeat(rest);
      empty = true;
    }
    line += (empty ? '' : ' ') + word;
    empty = false;
  }
  return [...lines, line].map((l) => l.replaceAll(NBSP, ' '));
}

/**
 * A usage line wrapped between its groups (`[--inspect [--inspect-port PORT]]` stays whole),
 * after `prefix`; the lines after it indented two more.
 */
function usageLines(usage: string, prefix: string): string[] {
  const lines = wrap(groupsOf(usage), prefix.length, prefix.length + 2);
  lines[0] = prefix + lines[0]!.slice(prefix.length);
  return lines;
}

/** A usage line's words and bracketed groups (a group with groups inside it is one). */
function groupsOf(usage: string): string[] {
  const groups: string[] = [];
  let depth = 0;
  let group = '';
  for (const c of usage) {
    if (c === ' ' && depth === 0) {
      if (group) groups.push(group);
      group = '';
      continue;
    }
    if (c === '[' || c === '(') depth++;
    if (c === ']' || c === ')') depth--;
    group += c;
  }
  if (group) groups.push(group);
  return groups;
}

/**
 * The usage line printed after a usage error: one line that fits 80 columns, its first groups and
 * a pointer to --help when the whole line is longer.
 */
export function errorUsage(usage: string): string {
  if (usage.length <= WIDTH) return usage;
  const more = ' … (--help lists all)';
  let line = '';
  for (const group of groupsOf(usage)) {
    const next = line ? `${line} ${group}` : group;
    if (next.length + more.length > WIDTH) break;
    line = next;
  }
  return line + more;
}

const resolve = async <T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> => (typeof value === 'function' ? (value as () => T | Promise<T>)() : value);

/**
 * A command's edge: parse (null means --help), run, and turn what went wrong into one line on
 * stderr, with the usage after a usage error (exit 2) and none after any other (exit 1).
 */
export async function runCommand<O>(
  command: HelpDef,
  usage: string,
  parse: () => O | null,
  run: (options: O) => Promise<number>,
): Promise<number> {
  try {
    const options = parse();
    if (!options) {
      writeLine(1, await helpText(command, usage));
      return 0;
    }
    return await run(options);
  } catch (error) {
    if (error instanceof VersionRequest) {
      writeLine(1, VERSION);
      return 0;
    }
    writeLine(2, `error: ${error instanceof UsageError ? error.message : reason(error)}`);
    if (!(error instanceof UsageError)) return 1;
    if (error.showUsage) writeLine(2, errorUsage(usage));
    return 2;
  }
}
