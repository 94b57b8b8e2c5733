/**
 * `--log-format @FILE:NAME`: the format a server's own config gives NAME, so a user points at
 * the config they already have.
 *
 * - nginx: `log_format NAME [escape=default|json|none] 'string' "string" …;` — the strings
 *   concatenated (over several lines, comments between them allowed), with nginx's escapes in
 *   quoted strings (`\"`, `\'`, `\\`, `\t`, `\r`, `\n`). Variables the config defines itself
 *   (`map`, `geo`, `set`, `split_clients`, `perl_set`, `js_set`, `auth_request_set`) are known
 *   and skipped. `combined` is nginx's predefined one when the file does not define it.
 * - Apache: `LogFormat "…" NAME` (a directive's lines joined at a trailing `\`; in quotes `\"`
 *   is a quote and `\\` a backslash). A `LogFormat` without a name (the default) is not a name.
 *
 * `include`/`Include` are not followed. Errors are one line: the file unreadable, NAME not
 * there (with the names that are), or the format's own error at the file's line and column.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { FormatError, type LogFormat } from './log-format';
import { compileApache } from './log-format-apache';
import { compileNginx } from './log-format-nginx';

/** A string read from the config, with the file offset each character came from. */
interface Located {
  text: string;
  from: number[];
}

interface Word extends Located {
  quoted: boolean;
}

interface NginxFormat {
  name: string;
  escape: string;
  /** Where `escape=` was (for its error). */
  escapeAt: number;
  body: Located;
  at: number;
}

const DEFINING = new Set(['map', 'geo', 'set', 'split_clients', 'perl_set', 'js_set', 'auth_request_set', 'js_var']);

/** nginx's config read as statements of words; `log_format` ones kept, variables defined collected. */
function readNginx(source: string): { formats: NginxFormat[]; defined: Set<string> } {
  const formats: NginxFormat[] = [];
  const defined = new Set<string>();
  let words: Word[] = [];
  const end = () => {
    const [head, name, ...rest] = words;
    if (head && !head.quoted && head.text === 'log_format' && name) {
      let escape = 'default';
      let escapeAt = -1;
      if (rest[0] && !rest[0].quoted && rest[0].text.startsWith('escape=')) {
        escape = rest[0].text.slice('escape='.length);
        escapeAt = rest[0].from[0]!;
        rest.shift();
      }
      const body: Located = { text: '', from: [] };
      for (const w of rest) {
        body.text += w.text;
        body.from.push(...w.from);
      }
      formats.push({ name: name.text, escape, escapeAt, body, at: head.from[0]! });
    }
    if (head && !head.quoted && DEFINING.has(head.text)) {
      for (const w of words.slice(1)) {
        const m = /^\$\{?(\w+)\}?$/.exec(w.text);
        if (m) defined.add(m[1]!);
      }
    }
    words = [];
  };
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '#') {
      while (i < n && source[i] !== '\n') i++;
    } else if (c === ';' || c === '{' || c === '}') {
      end();
      i++;
    } else if (c === '"' || c === "'") {
      const w: Word = { text: '', from: [], quoted: true };
      i++;
      while (i < n && source[i] !== c) {
        let ch = source[i]!;
        const at = i;
        if (ch === '\\' && i + 1 < n) {
          const d = source[i + 1]!;
          if (d === '"' || d === "'" || d === '\\') (ch = d), i++;
          else if (d === 't' || d === 'r' || d === 'n') (ch = d === 't' ? '\t' : d === 'r' ? '\r' : '\n'), i++;
        }
        w.text += ch;
        w.from.push(at);
        i++;
      }
      i++;
      words.push(w);
    } else {
      const w: Word = { text: '', from: [], quoted: false };
      while (i < n && !/[\s;{}]/.test(source[i]!)) {
        if (source[i] === '$' && source[i + 1] === '{') {
          const close = source.indexOf('}', i);
          const stop = close < 0 ? n : close + 1;
          for (; i < stop; i++) (w.text += source[i]), w.from.push(i);
          continue;
        }
        w.text += source[i];
        w.from.push(i);
        i++;
      }
      words.push(w);
    }
  }
  end();
  return { formats, defined };
}

/** Apache's `LogFormat "format" nickname` directives (the last of a name wins, as in Apache). */
function readApache(source: string): Map<string, Located> {
  const formats = new Map<string, Located>();
  // Logical lines: a trailing backslash joins the next line.
  const lines: Located[] = [];
  let line: Located = { text: '', from: [] };
  for (let i = 0; i <= source.length; i++) {
    const c = source[i];
    if (c === undefined || c === '\n') {
      if (line.text.endsWith('\\') && c !== undefined) {
        line.text = line.text.slice(0, -1);
        line.from.pop();
        continue;
      }
      lines.push(line);
      line = { text: '', from: [] };
      continue;
    }
    line.text += c;
    line.from.push(i);
  }
  for (const l of lines) {
    const m = /^\s*LogFormat\s/i.exec(l.text);
    if (!m) continue;
    const args: Located[] = [];
    let i = m[0].length;
    const t = l.text;
    while (i < t.length) {
      if (/\s/.test(t[i]!)) {
        i++;
        continue;
      }
      const arg: Located = { text: '', from: [] };
      const quote = t[i] === '"' || t[i] === "'" ? t[i] : null;
      if (quote) {
        i++;
        while (i < t.length && t[i] !== quote) {
          if (t[i] === '\\' && (t[i + 1] === quote || t[i + 1] === '\\')) i++;
          arg.text += t[i];
          arg.from.push(l.from[i]!);
          i++;
        }
        i++;
      } else {
        while (i < t.length && !/\s/.test(t[i]!)) {
          arg.text += t[i];
          arg.from.push(l.from[i]!);
          i++;
        }
      }
      arg.from.push(l.from[i - 1] ?? 0);
      args.push(arg);
    }
    if (args.length >= 2) formats.set(args[1]!.text, args[0]!);
  }
  return formats;
}

function unreadable(file: string, error: unknown): FormatError {
  const code = (error as { code?: string }).code;
  const why =
    code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String((error as Error).message ?? error).split('\n')[0];
  return new FormatError(`--log-format: cannot read ${file}: ${why}`);
}

/** Compiles `@FILE:NAME`; throws FormatError. */
export function readConfigFormat(value: string, cwd: string): LogFormat {
  const spec = value.slice(1);
  const colon = spec.lastIndexOf(':');
  if (colon <= 0 || colon === spec.length - 1) {
    throw new FormatError(`--log-format: ${JSON.stringify(value)}: give @FILE:NAME, the config file and the format's name in it (@/etc/nginx/nginx.conf:main)`);
  }
  const file = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  let source: string;
  try {
    source = readFileSync(isAbsolute(file) ? file : resolve(cwd, file), 'utf8');
  } catch (error) {
    throw unreadable(file, error);
  }
  // 1-based line and column of a file offset.
  const where = (offset: number) => {
    const before = source.slice(0, offset);
    const line = before.split('\n').length;
    return ` at ${file}:${line}:${offset - before.lastIndexOf('\n')}`;
  };

  const nginx = readNginx(source);
  const found = nginx.formats.find((f) => f.name === name);
  if (found) {
    if (found.escape !== 'default' && found.escape !== 'json' && found.escape !== 'none') {
      throw new FormatError(`--log-format: escape=${found.escape} is not default, json or none${where(found.escapeAt)}`);
    }
    if (found.body.text === '') throw new FormatError(`--log-format: log_format ${name} has no format string${where(found.at)}`);
    const from = found.body.from;
    return compileNginx(found.body.text, {
      where: (i) => where(from[Math.min(i, from.length - 1)]!),
      escape: found.escape,
      name,
      defined: nginx.defined,
    });
  }
  const apache = readApache(source);
  const format = apache.get(name);
  if (format) {
    return compileApache(format.text, { pasted: false, where: (i) => where(format.from[Math.min(i, format.from.length - 1)]!), name });
  }
  if (name === 'combined' && apache.size === 0) return { kind: 'clf', name: 'combined' };
  const names = [...new Set([...nginx.formats.map((f) => f.name), ...apache.keys()])];
  if (names.length === 0) {
    throw new FormatError(`--log-format: ${file} has no log_format (nginx) or LogFormat (Apache) directive; includes are not followed`);
  }
  throw new FormatError(`--log-format: no format named ${JSON.stringify(name)} in ${file} (it has: ${names.join(', ')}; includes are not followed)`);
}
