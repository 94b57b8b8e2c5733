/**
 * Strict argument reading for citty command definitions.
 *
 * citty ignores unknown flags, has no number type and keeps only the last of a repeated flag;
 * this reads `rawArgs` against the same `ArgsDef` and fails with a `UsageError` (exit 2) instead.
 */
import type { ArgsDef } from 'citty';

export class UsageError extends Error {}

export type StrictArgs = Record<string, string | string[] | boolean | undefined> & { _: string[] };

/** Reads raw arguments against `def`. String flags always take the next word, even `-1`. */
export function readArgs(rawArgs: string[], def: ArgsDef, repeatable: string[] = []): StrictArgs {
  const byName = new Map<string, string>();
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === 'positional') continue;
    byName.set(name, name);
    const aliases = 'alias' in arg && arg.alias ? [arg.alias].flat() : [];
    for (const alias of aliases) byName.set(alias, name);
  }
  const out: StrictArgs = { _: [] };
  for (const [name, arg] of Object.entries(def)) {
    if ('default' in arg && arg.default !== undefined) out[name] = arg.default as string | boolean;
  }
  const set = (name: string, value: string | boolean) => {
    if (repeatable.includes(name) && typeof value === 'string') {
      const prev = out[name];
      out[name] = Array.isArray(prev) ? [...prev, value] : [value];
    } else out[name] = value;
  };
  for (let i = 0; i < rawArgs.length; i++) {
    const word = rawArgs[i]!;
    if (word === '--') {
      out._.push(...rawArgs.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      out._.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const flag = word.slice(word.startsWith('--') ? 2 : 1, eq === -1 ? undefined : eq);
    let name = byName.get(flag);
    let negated = false;
    if (!name && flag.startsWith('no-') && def[flag.slice(3)]?.type === 'boolean') {
      name = flag.slice(3);
      negated = true;
    }
    if (!name) throw new UsageError(`unknown option ${word.slice(0, eq === -1 ? undefined : eq)}`);
    const type = def[name]!.type;
    if (type === 'boolean') {
      if (eq !== -1) throw new UsageError(`option ${flagLabel(word)} takes no value`);
      out[name] = !negated;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = word.slice(eq + 1);
    else value = rawArgs[++i];
    if (value === undefined) throw new UsageError(`option ${flagLabel(word)} needs a value`);
    set(name, value);
  }
  return out;
}

function flagLabel(word: string): string {
  const eq = word.indexOf('=');
  return eq === -1 ? word : word.slice(0, eq);
}

/** A positive finite number ("2.5", "10"); `integer` also refuses fractions. */
export function positiveNumber(value: unknown, flag: string, integer = false): number {
  const text = String(value ?? '').trim();
  const n = /^[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?$/i.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    const kind = integer ? 'a positive whole number' : 'a positive number';
    throw new UsageError(`${flag} must be ${kind}, got '${value}'`);
  }
  return n;
}

/** The value of a possibly repeated string flag as a list. */
export function list(value: string | string[] | boolean | undefined): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  return Array.isArray(value) ? value : [value];
}
