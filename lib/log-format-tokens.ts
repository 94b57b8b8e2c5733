/**
 * The token list of a text format, built the same way for nginx `log_format` and Apache
 * `LogFormat` strings: literals merged as they come, then the rules that make a list one the
 * scanners can read left to right without backtracking.
 *
 * - A field that says what a field before it already said (a second time, `$server_name` after
 *   `$host`) is skipped: the first one wins. ALB's duration parts are the exception.
 * - Fields with no literal between them are one run: a run with at most one understood field is
 *   one token carrying it, whose value is the whole run (`%U%q`, `$uri$is_args$args` read as a
 *   path with its query, which the section rule drops); two understood fields in a run cannot be
 *   told apart, and are an error.
 * - A format without a time or a status counts nothing: an error.
 */
import { FormatError, type FieldName, type FieldToken, type Token } from './log-format';

/** A field token and where it was written (an index into the compiled string). */
export interface PlacedField {
  token: FieldToken;
  index: number;
}

/** Builds a token list: adjacent literals are merged, fields remember where they were written. */
export class TokenBuilder {
  readonly items: (string | PlacedField)[] = [];

  literal(text: string): void {
    if (text === '') return;
    const last = this.items.length - 1;
    if (last >= 0 && typeof this.items[last] === 'string') this.items[last] += text;
    else this.items.push(text);
  }

  field(token: FieldToken, index: number): void {
    this.items.push({ token, index });
  }

  /**
   * The finished list; `where(index)` says where an index of the string is (` at column 7`),
   * `hints` what to write for a missing time or status.
   */
  finish(where: (index: number) => string, hints: { time: string; status: string }): Token[] {
    const seen = new Set<FieldName>();
    for (const item of this.items) {
      if (typeof item === 'string') continue;
      const f = item.token.field;
      if (f === null || item.token.durationPart) continue;
      // A list keeps its shape when skipped: it still ends where the list does.
      if (seen.has(f)) item.token = { ...item.token, field: null, time: undefined, unit: undefined, hostPort: undefined };
      else seen.add(f);
    }
    if (!seen.has('time')) throw new FormatError(`--log-format: the format has no time (${hints.time})`);
    if (!seen.has('status')) throw new FormatError(`--log-format: the format has no status (${hints.status})`);

    const tokens: Token[] = [];
    for (let i = 0; i < this.items.length; ) {
      const item = this.items[i]!;
      if (typeof item === 'string') {
        tokens.push({ literal: item });
        i++;
        continue;
      }
      const run: PlacedField[] = [];
      while (i < this.items.length && typeof this.items[i] !== 'string') run.push(this.items[i++] as PlacedField);
      if (run.length === 1) {
        tokens.push(item.token);
        continue;
      }
      const understood = run.filter((f) => f.token.field !== null);
      if (understood.length > 1) {
        const [a, b] = understood as [PlacedField, PlacedField];
        throw new FormatError(
          `--log-format: ${a.token.source} and ${b.token.source} have no text between them${where(b.index)} (a field ends where the text after it starts)`,
        );
      }
      const source = run.map((f) => f.token.source).join('');
      const carrier = understood[0]?.token;
      if (carrier?.time && carrier.time.kind !== 'iso8601' && carrier.time.kind !== 'epoch') {
        throw new FormatError(`--log-format: ${carrier.source} has a field right next to it${where(run[1]!.index)} (a field ends where the text after it starts)`);
      }
      tokens.push(carrier ? { ...carrier, source } : { field: null, source });
    }
    return tokens;
  }
}

/** A skipped field token. */
export const skip = (source: string): FieldToken => ({ field: null, source });
