import * as fs from 'node:fs';

/**
 * Writes a line to a file descriptor at once, with nothing held in a buffer, so that output
 * through a pipe, `tee` or into a file is there as soon as it is printed.
 */
export function writeLine(fd: number, text: string) {
  write(fd, `${text}\n`);
}

/** Writes text as it is, at once (escape codes for a terminal, in order with the lines). */
export function write(fd: number, text: string) {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(fs.writeSync(fd, bytes));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // a non-blocking pipe that is full: try again
      if (code === 'EPIPE') return; // the reader has gone (e.g. `| head`)
      throw error;
    }
  }
}
