/**
 * What the user named as input, made concrete: paths, globs, pipes and compressed files.
 *
 * - An existing path is a path, even when its name has glob characters (`site[1].log`); any
 *   other name with `*?[{` is a pattern, matched against files and symlinks to files.
 * - One file is one input however it is spelled (`a.log`, `./a.log`, a symlink, a glob match):
 *   identity is device and inode.
 * - A FIFO, a pipe (`<(cmd)`), a character device or a socket is a stream: read as `-` is,
 *   never opened for seeking.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

export const isGlob = (p: string) => /[*?[{]/.test(p);

/** Rotated logs that a compressor has already written: never followed as text. */
export const COMPRESSED_NAME = /\.(gz|bz2|xz|zst|lz4|zip|Z)$/;

/** The format a file's first bytes name, or null for anything else (text). */
export function compression(head: Uint8Array): string | null {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) return 'xz';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return null;
}

/** Device, inode and birth time: an inode reused by a new file is another file. */
export const identity = (st: { dev: number; ino: number; birthtimeMs?: number }) => `${st.dev}:${st.ino}:${st.birthtimeMs || 0}`;

/** A pipe-like input: it can only be read once, front to back. */
export const isStream = (st: fs.Stats) => st.isFIFO() || st.isCharacterDevice() || st.isSocket();

export function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'permission denied';
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EISDIR') return 'it is a directory';
  if (e?.code === 'EMFILE' || e?.code === 'ENFILE') return 'too many open files';
  if (e?.code === 'ELOOP') return 'too many symbolic links';
  return e?.message ?? String(error);
}

/** stat() of a path: its stats, `null` when it does not exist, or why it cannot be looked at. */
export function look(p: string): fs.Stats | null | { error: string } {
  try {
    return fs.statSync(p);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    return { error: reason(error) };
  }
}

export const statOrNull = (p: string): fs.Stats | null => {
  const st = look(p);
  return st instanceof fs.Stats ? st : null;
};

/** Whether `p` names a pattern rather than a file: glob characters, and nothing at that path. */
export const isPattern = (p: string) => p !== '-' && isGlob(p) && !fs.existsSync(p);

/**
 * Absolute paths of the regular files (or symlinks to them) matching a pattern, absolute or
 * relative to the working directory, sorted.
 */
export function expand(pattern: string): string[] {
  const parts = pattern.split('/');
  const firstGlob = parts.findIndex(isGlob);
  const base = parts.slice(0, firstGlob).join('/') || (pattern.startsWith('/') ? '/' : '.');
  const rest = parts.slice(firstGlob).join('/');
  let names: string[];
  try {
    // Not `onlyFiles`: it skips symlinks, and /var/log/containers/*.log are symlinks.
    names = [...new Bun.Glob(rest).scanSync({ cwd: base, absolute: true, onlyFiles: false, followSymlinks: true })];
  } catch {
    return [];
  }
  return names.filter((p) => statOrNull(p)?.isFile()).sort();
}

/**
 * The inputs of a replay, in order: patterns expanded, each file once (by identity), `-`
 * kept. Throws with `cannot read …` for a pattern that matches nothing or a path that cannot
 * be read.
 */
export function replayInputs(paths: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    if (p === '-') {
      if (!out.includes('-')) out.push('-');
      continue;
    }
    const matches = isPattern(p) ? expand(p) : [p];
    if (matches.length === 0) throw new Error(`cannot read ${p}: no file matches`);
    for (const m of matches) {
      let st: fs.Stats;
      try {
        fs.accessSync(m, fs.constants.R_OK);
        st = fs.statSync(m);
      } catch (error) {
        throw new Error(`cannot read ${m}: ${reason(error)}`);
      }
      if (st.isDirectory()) throw new Error(`cannot read ${m}: it is a directory`);
      const id = identity(st);
      if (isStream(st) || !seen.has(id)) out.push(m);
      seen.add(id);
    }
  }
  return out;
}

/** A path made absolute, so that `a.log` and `./a.log` are one name. */
export const absolute = (p: string) => (p === '-' ? p : nodePath.resolve(p));
