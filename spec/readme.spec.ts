import { describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The user documentation, README.md and docs/*.md, read as a newcomer reads it: every command in a
 * shell example runs after `npm install` (where there is no `bun` on the PATH), every relative link
 * and anchor leads somewhere, the README stays a first page, and no page speaks of issue numbers.
 */
const ROOT = resolve(import.meta.dir, '..');
const DOCS = join(ROOT, 'docs');
const PAGES = ['README.md', ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
const TEXT = new Map(PAGES.map((p) => [p, readFileSync(join(ROOT, p), 'utf8')]));

/** Fenced code blocks a reader would paste into a shell: labelled as shell, or not labelled at all. */
const SHELL = new Set(['', 'sh', 'bash', 'shell', 'console']);

type Line = { n: number; text: string; fence: string | null };

/** Each line with the language of the fenced block it is in (null outside any block). */
function linesOf(text: string): Line[] {
  const out: Line[] = [];
  let fence: string | null = null;
  text.split('\n').forEach((text, i) => {
    const open = /^\s*(```|~~~)\s*([\w-]*)/.exec(text);
    if (open) {
      fence = fence === null ? open[2]!.toLowerCase() : null;
      return;
    }
    out.push({ n: i + 1, text, fence });
  });
  return out;
}

/** The commands of one shell line: split at `&&`, `||`, `;`, `|` and `$(`, comments and `$ ` prompts dropped. */
function commandsOf(line: string): string[] {
  return line
    .replace(/(^|\s)#.*$/, '')
    .split(/&&|\|\||;|\||\$\(/)
    .map((c) => c.trim().replace(/^\$\s+/, '').replace(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+/, ''))
    .filter((c) => c !== '');
}

/** The anchors GitHub makes of a page's headings (and any explicit `id="..."`). */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text: line, fence } of linesOf(text)) {
    const id = /\bid="([^"]+)"/.exec(line);
    if (id) anchors.add(id[1]!);
    const heading = fence === null ? /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line) : null;
    if (!heading) continue;
    const base = heading[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Relative links and images outside code: `[text](path#anchor)`, `![alt](path)`. */
function linksOf(text: string): { n: number; target: string }[] {
  const out: { n: number; target: string }[] = [];
  for (const { n, text: line, fence } of linesOf(text)) {
    if (fence !== null) continue;
    const prose = line.replace(/`[^`]*`/g, '``');
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) out.push({ n, target });
    }
  }
  return out;
}

describe('the README and docs/*.md', () => {
  test('the README is a first page: at most 260 lines', () => {
    expect(TEXT.get('README.md')!.split('\n').length).toBeLessThanOrEqual(260);
  });

  test('the README links to every page in docs/, so a reader can find each one', () => {
    const readme = new Set(linksOf(TEXT.get('README.md')!).map((l) => l.target.split('#')[0]));
    expect(PAGES.filter((p) => p !== 'README.md' && !readme.has(p))).toEqual([]);
  });

  test('no example runs `bun` directly: after `npm install` it is not on the PATH', () => {
    const bad: string[] = [];
    for (const [page, text] of TEXT) {
      for (const { n, text: line, fence } of linesOf(text)) {
        if (/bun run entry\.ts/.test(line)) bad.push(`${page}:${n}: ${line.trim()}`);
        else if (fence === null && /`bun\s/.test(line)) bad.push(`${page}:${n}: ${line.trim()}`);
        else if (fence !== null && SHELL.has(fence) && commandsOf(line).some((c) => /^bun(\s|$)/.test(c))) {
          bad.push(`${page}:${n}: ${line.trim()}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  test('every relative link points at a file that exists, and at a heading that exists', () => {
    const bad: string[] = [];
    for (const [page, text] of TEXT) {
      for (const { n, target } of linksOf(text)) {
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), decodeURI(path));
        if (!existsSync(file)) {
          bad.push(`${page}:${n}: ${target} (no ${relative(ROOT, file)})`);
          continue;
        }
        if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(anchor)) {
          bad.push(`${page}:${n}: ${target} (no heading #${anchor} in ${relative(ROOT, file)})`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  test('no page speaks of issue numbers', () => {
    const bad: string[] = [];
    for (const [page, text] of TEXT) {
      for (const { n, text: line } of linesOf(text)) {
        if (/\bissues?\s*#?\d+/i.test(line)) bad.push(`${page}:${n}: ${line.trim()}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('the checks themselves', () => {
  test('a bare bun command is found after a prompt, an environment variable or a pipe, not in a comment', () => {
    expect(commandsOf('TZ=UTC bun entry.ts --replay')).toEqual(['bun entry.ts --replay']);
    expect(commandsOf('$ zcat a.gz | bun entry.ts -f -')).toEqual(['zcat a.gz', 'bun entry.ts -f -']);
    expect(commandsOf('npm start   # not bun run entry.ts')).toEqual(['npm start']);
    expect(commandsOf('npx bun entry.ts')).toEqual(['npx bun entry.ts']);
  });

  test('anchors are made as GitHub makes them, duplicates numbered, code blocks skipped', () => {
    const page = '# Many servers\n## The centre\'s output: `--nats`\n## Set-up\n## Set-up\n```sh\n# not a heading\n```\n';
    expect([...anchorsOf(page)]).toEqual(['many-servers', 'the-centres-output---nats', 'set-up', 'set-up-1']);
  });
});
