/** The ceiling: count newlines in a file, 1 MiB reads into one reused buffer. Prints the count. */
import { closeSync, openSync, readSync } from 'node:fs';

const path = process.argv[2];
if (!path) throw new Error('usage: bun bench/newline.ts FILE');
const fd = openSync(path, 'r');
const buffer = Buffer.allocUnsafe(1 << 20);
let lines = 0;
for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) {
  for (let i = buffer.indexOf(10); i !== -1 && i < n; i = buffer.indexOf(10, i + 1)) lines++;
}
closeSync(fd);
console.log(lines);
