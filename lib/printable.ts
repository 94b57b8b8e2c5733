/**
 * Text from outside (a log's sections, users and hosts, an agent's name, a rule's name) made safe
 * to show to a person: a terminal obeys the control characters in what it prints (ESC `[2J`
 * clears the screen, ESC `]0;` retitles the window, BEL rings), so none reaches it raw.
 *
 * Applied where text is rendered (the text output, the dashboard, Slack, the inspector's page),
 * never where it is counted: keys are counted by their bytes, and NDJSON and JSON bodies escape
 * controls their own way.
 */

/**
 * C0 controls (U+0000–U+001F, tab and newline among them), DEL (U+007F), C1 controls
 * (U+0080–U+009F: U+009B is a one-character CSI to some terminals), and the bidirectional
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder the rest of a line where
 * bidi is rendered (a browser, Slack).
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** The same class, to test: most text has none, and a test is faster than a replace (no `g`, no lastIndex to mind). */
const ANY_CONTROL = new RegExp(CONTROLS.source);

const escape = (c: string) => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
};

/**
 * `/\x1b[2J` for a section holding ESC `[2J`: each control as `\xNN` (two lower-case hex digits),
 * a bidi control as `\uNNNN`. Everything else is kept, a backslash too, so a Windows user
 * `DOMAIN\alice` reads as it is; a key that spells `\x1b` itself prints the same as one holding
 * ESC, which misleads nobody's terminal. Idempotent: its output holds no control.
 */
export function printable(text: string): string {
  return ANY_CONTROL.test(text) ? text.replace(CONTROLS, escape) : text;
}

/** What JSON.stringify leaves raw that a terminal or a bidi renderer would act on. */
const JSON_RAW = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const JSON_ANY = new RegExp(JSON_RAW.source);

/**
 * JSON text that is also safe to print: JSON.stringify escapes C0 controls, and this escapes DEL,
 * C1 and the bidi controls as `\u00NN` too (the same string to any JSON reader).
 */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value);
  return JSON_ANY.test(text) ? text.replace(JSON_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
}
