/** Text from outside, made safe to print: every control as `\xNN`, bidi controls as `\uNNNN`, the rest as it is. */
import { describe, expect, test } from 'bun:test';
import { printable } from '../lib/printable';

describe('printable', () => {
  test('a section that would clear the screen prints as its escape, not as the escape sequence', () => {
    expect(printable('/\x1b[2J')).toBe('/\\x1b[2J');
    expect(printable('\x1b]0;pwned\x07')).toBe('\\x1b]0;pwned\\x07');
  });

  test('every C0 control, DEL and every C1 control is escaped as \\xNN, lower-case hex', () => {
    for (let code = 0; code < 0x20; code++) expect(printable(String.fromCharCode(code))).toBe(`\\x${code.toString(16).padStart(2, '0')}`);
    expect(printable('\t\n\r')).toBe('\\x09\\x0a\\x0d');
    expect(printable('\x7f')).toBe('\\x7f');
    for (let code = 0x80; code < 0xa0; code++) expect(printable(String.fromCharCode(code))).toBe(`\\x${code.toString(16)}`);
    // U+009B is CSI on its own to a terminal that reads C1 controls.
    expect(printable('bob\u009b2J')).toBe('bob\\x9b2J');
  });

  test('the bidirectional overrides and isolates are escaped as \\uNNNN', () => {
    expect(printable('admin\u202egnp.exe')).toBe('admin\\u202egnp.exe');
    for (const c of ['\u202a', '\u202b', '\u202c', '\u202d', '\u2066', '\u2067', '\u2068', '\u2069']) {
      expect(printable(c)).toBe(`\\u${c.charCodeAt(0).toString(16)}`);
    }
  });

  test('printable text is kept as it is: spaces, backslashes, accents, CJK, emoji, U+FFFD', () => {
    for (const text of ['/api/users', 'a b', 'DOMAIN\\alice', 'café', '/é/ü', '日本語', '🚀', '\ufffd', '\u00a0', '~!@#$%^&*()']) {
      expect(printable(text)).toBe(text);
    }
  });

  test('idempotent: its output holds no control, so printing twice changes nothing', () => {
    const all = Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join('') + '\u202e\u2066';
    const once = printable(all);
    expect(once).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(printable(once)).toBe(once);
  });
});

describe('jsonText', () => {
  test('escapes what JSON.stringify leaves raw (DEL, C1, bidi controls) as \\u00NN, the same string to a JSON reader', async () => {
    const { jsonText } = await import('../lib/printable');
    const value = { section: '/a\u007f\u009b2J\u202eb', user: 'plain', n: 3 };
    const text = jsonText(value);
    expect(text).toBe('{"section":"/a\\u007f\\u009b2J\\u202eb","user":"plain","n":3}');
    expect(JSON.parse(text)).toEqual(value);
    expect(jsonText({ a: 'é ✓' })).toBe(JSON.stringify({ a: 'é ✓' }));
  });
});
