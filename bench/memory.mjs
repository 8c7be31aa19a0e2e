// npm run bench:memory — peak RSS of one copy and of 50 concurrent copies, per
// backend, to check that a job's memory is bounded by blockSize × queueDepth
// plus a constant. Each measurement runs in a fresh child process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 2 ** 20;
const SIZE = 64 * MiB;

const child = `
const { copy } = require(${JSON.stringify(ROOT)});
const [src, dir, n, backend, blockSize, queueDepth] = process.argv.slice(1);
const before = process.memoryUsage().rss;
Promise.all(Array.from({ length: Number(n) }, (_, i) =>
  copy(src, dir + '/dst-' + i, { backend, blockSize: Number(blockSize), queueDepth: Number(queueDepth) }).done,
)).then(() => {
  console.log(JSON.stringify({ baseline: before, peak: process.resourceUsage().maxRSS * 1024 }));
});`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockcopy-memory-'));
try {
  const src = path.join(dir, 'src.img');
  const fd = fs.openSync(src, 'w');
  const chunk = Buffer.alloc(4 * MiB, 0x5a);
  for (let off = 0; off < SIZE; off += chunk.length) fs.writeSync(fd, chunk, 0, chunk.length, off);
  fs.closeSync(fd);

  const rows = ['| backend | blockSize × queueDepth | jobs | baseline RSS | peak RSS | peak − baseline per job |', '| --- | --- | ---: | ---: | ---: | ---: |'];
  for (const [backend, blockSize, queueDepth] of [['pread', MiB, 1], ['io_uring', MiB, 16], ['io_uring', 256 * 1024, 4]]) {
    for (const jobs of [1, 50]) {
      const out = spawnSync(process.execPath, ['-e', child, src, dir, String(jobs), backend, String(blockSize), String(queueDepth)], {
        encoding: 'utf8',
      });
      if (out.status !== 0) throw new Error(out.stderr);
      const { baseline, peak } = JSON.parse(out.stdout);
      const mib = (b) => `${(b / MiB).toFixed(1)} MiB`;
      const shape = backend === 'pread' ? `${blockSize / MiB} MiB × 1` : `${blockSize / 1024} KiB × ${queueDepth}`;
      rows.push(`| ${backend} | ${shape} | ${jobs} | ${mib(baseline)} | ${mib(peak)} | ${mib((peak - baseline) / jobs)} |`);
      for (const f of fs.readdirSync(dir)) if (f.startsWith('dst-')) fs.rmSync(path.join(dir, f));
    }
  }
  console.log(rows.join('\n'));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
