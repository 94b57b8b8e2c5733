import * as fs from 'node:fs';
const mod = await import(process.argv[3]!);
const file = process.argv[2]!;
const buf = new Uint8Array(1 << 20);
function run(fn: (b: Uint8Array) => void) {
  const fd = fs.openSync(file, 'r');
  const t = performance.now();
  let off = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, off);
    if (n <= 0) break;
    const end = buf.lastIndexOf(10, n - 1) + 1;
    fn(buf.subarray(0, end));
    off += end;
  }
  fs.closeSync(fd);
  return performance.now() - t;
}
const sc = new mod.ClfScanner();
const times = [];
for (let k = 0; k < 5; k++) times.push(run((b) => sc.scan(b)).toFixed(0));
console.log(process.argv[3], times.join(' '));
