/**
 * A YAML or TOML configuration text read into a plain object, with the line of any path in it, so
 * that a message about a value can name its line. YAML with the `yaml` package (every node knows
 * its place); TOML with Bun's parser, which knows none, so lines are found in the text.
 */

/** A syntax error, at its 1-based line. */
export class SyntaxErrorAt extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** A place in the plain object: `['rules', 2, 'match', 'status']`. */
export type Path = readonly (string | number)[];
/** The 1-based line of the node at `path`, or of the deepest node on the way that exists. */
export type LineOf = (path: Path) => number;

export interface Read {
  doc: unknown;
  lineOf: LineOf;
}

/** A YAML text; a syntax error is a `SyntaxErrorAt`. */
export function readYaml(text: string): Read {
  // Loaded when a YAML file is read: the parser is 0.5 MB of code every other run does without.
  const { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit } = require('yaml') as typeof import('yaml');
  const counter = new LineCounter();
  const document = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  const lineAt = (offset: number) => counter.linePos(offset).line;
  const error = document.errors[0];
  if (error) throw new SyntaxErrorAt(lineAt(error.pos[0]), `not valid YAML: ${error.message}`);
  let doc: unknown;
  try {
    doc = document.toJS();
  } catch (error) {
    // An alias before its anchor, or too many aliases: yaml finds these only when it builds values.
    let line = 1;
    visit(document, {
      Alias(_, node) {
        line = lineAt(node.range?.[0] ?? 0);
        return visit.BREAK;
      },
    });
    throw new SyntaxErrorAt(line, `not valid YAML: ${(error as Error).message}`);
  }
  const lineOf: LineOf = (path) => {
    let node: unknown = document.contents;
    let line = isNode(node) && node.range ? lineAt(node.range[0]) : 1;
    for (const step of path) {
      let next: unknown;
      let start: number | undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
        if (pair && isNode(pair.key)) [next, start] = [pair.value, pair.key.range?.[0]];
      } else if (isSeq(node) && typeof step === 'number') {
        next = node.items[step];
        if (isNode(next)) start = next.range?.[0];
      }
      if (start === undefined) break;
      [node, line] = [next, lineAt(start)];
    }
    return line;
  };
  return { doc, lineOf };
}

/**
 * Bun's TOML parser gives no positions: its SyntaxError's `line` and `column` are those of the
 * JavaScript call, not of the TOML. Lines are found in the text instead (see `tomlLines`).
 */
export function readToml(text: string, tables: string): Read {
  try {
    return { doc: Bun.TOML.parse(text), lineOf: tomlLines(text, tables) };
  } catch (error) {
    const message = String((error as Error).message).replace(/^TOML Parse error:\s*/, '');
    throw new SyntaxErrorAt(tomlErrorLine(text, message), `not valid TOML: ${message}`);
  }
}

/**
 * The line of a TOML syntax error: the first line from which every longer prefix of the file fails
 * with the same message. A prefix that merely cuts a multi-line array or string in two fails
 * differently, or is followed by prefixes that parse.
 */
function tomlErrorLine(text: string, message: string): number {
  const lines = text.split(/(?<=\n)/);
  const failsAlike = (count: number) => {
    try {
      Bun.TOML.parse(lines.slice(0, count).join(''));
      return false;
    } catch (error) {
      return String((error as Error).message).endsWith(message);
    }
  };
  let first = lines.length;
  while (first > 1 && failsAlike(first - 1)) first--;
  return Math.max(first, 1);
}

/**
 * Lines in TOML text: item i of the array of tables `tables` is its i-th `[[tables]]` header; a key
 * of it is the first `key =` line after that header and before the next header, else the header.
 */
function tomlLines(text: string, tables: string): LineOf {
  const lines = text.split(/\r?\n/);
  const isHeader = (line: string) => /^\s*\[/.test(line);
  const item = new RegExp(`^\\s*\\[\\[\\s*${escape(tables)}\\s*\\]\\]`);
  const ruleHeaders = lines.flatMap((line, i) => (item.test(line) ? [i + 1] : []));
  /** The line of `key = …` from line `from` (1-based) to the next header, or 0. */
  const keyLine = (from: number, key: string) => {
    const assigns = new RegExp(`^\\s*(${escape(key)}|"${escape(key)}"|'${escape(key)}')\\s*=`);
    for (let i = from - 1; i < lines.length && !isHeader(lines[i]!); i++) {
      if (assigns.test(lines[i]!)) return i + 1;
    }
    return 0;
  };
  /** The line of a `[key]`, `[key.…]` or `[[key]]` header, or 0. */
  const tableLine = (key: string) => {
    const opens = new RegExp(`^\\s*\\[\\[?\\s*${escape(key)}\\s*[\\].]`);
    return lines.findIndex((line) => opens.test(line)) + 1;
  };
  return ([top, index, key]) => {
    if (top === undefined) return 1;
    const header = top === tables && typeof index === 'number' ? ruleHeaders[index] : undefined;
    if (header === undefined) return keyLine(1, String(top)) || tableLine(String(top)) || 1;
    return key === undefined ? header : keyLine(header + 1, String(key)) || header;
  };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
