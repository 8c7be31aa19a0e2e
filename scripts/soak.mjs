// node scripts/soak.mjs [--minutes 10]: copies, cancels and stream round trips
// in a loop, sampling RSS and open descriptors every second. Writes
// bench/results/soak-latest.json and a memory graph, soak-latest.svg.
// Not part of CI: it is meant to run for minutes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bc = createRequire(import.meta.url)(ROOT);
const minutes = Number(process.argv[process.argv.indexOf('--minutes') + 1] || 10) || 10;
const MiB = 2 ** 20;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockcopy-soak-'));
const src = path.join(dir, 'src.img');
const fd = fs.openSync(src, 'w');
fs.ftruncateSync(fd, 64 * MiB);
for (const at of [0, 20, 40]) fs.writeSync(fd, Buffer.alloc(4 * MiB, at + 1), 0, 4 * MiB, at * MiB);
fs.closeSync(fd);

const samples = [];
const fds = () => fs.readdirSync('/proc/self/fd').length;
const started = Date.now();
const timer = setInterval(() => samples.push({ s: (Date.now() - started) / 1000, rssMiB: process.memoryUsage().rss / MiB, fds: fds() }), 1000);

let rounds = 0;
const queue = new bc.CopyQueue({ concurrency: 4 });
while (Date.now() - started < minutes * 60_000) {
  const jobs = Array.from({ length: 8 }, (_, i) => queue.add(src, path.join(dir, `q${i}.img`), { sparse: i % 2 ? 'always' : 'auto' }));
  // Cancel two at random moments.
  setTimeout(() => jobs[1].cancel(), Math.random() * 20);
  setTimeout(() => jobs[6].cancel({ wait: false }), Math.random() * 20);
  const reader = bc.createExtentReadStream(src);
  const { size } = await reader.ready();
  await Promise.all([queue.idle(), pipeline(reader, bc.encode({ size }), bc.decode(), bc.createExtentWriteStream(path.join(dir, 'stream.img')))]);
  rounds++;
}
clearInterval(timer);
fs.rmSync(dir, { recursive: true, force: true });

const first = samples.slice(5, 15);
const last = samples.slice(-10);
const avg = (xs, k) => xs.reduce((n, x) => n + x[k], 0) / xs.length;
const summary = {
  minutes,
  rounds,
  rssStartMiB: +avg(first, 'rssMiB').toFixed(1),
  rssEndMiB: +avg(last, 'rssMiB').toFixed(1),
  rssMaxMiB: +Math.max(...samples.map((x) => x.rssMiB)).toFixed(1),
  fdsStart: first[0]?.fds,
  fdsEnd: last.at(-1)?.fds,
};
console.log(JSON.stringify(summary));

const out = path.join(ROOT, 'bench', 'results');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'soak-latest.json'), JSON.stringify({ summary, samples }, null, 1));
const W = 800;
const H = 300;
const maxS = samples.at(-1).s;
const maxR = Math.max(...samples.map((x) => x.rssMiB)) * 1.1;
const points = samples.map((x) => `${((x.s / maxS) * (W - 60) + 50).toFixed(1)},${(H - 30 - (x.rssMiB / maxR) * (H - 50)).toFixed(1)}`).join(' ');
fs.writeFileSync(
  path.join(out, 'soak-latest.svg'),
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<text x="50" y="15">blockcopy soak: RSS over ${minutes} min, ${rounds} rounds (8 queued copies, 2 cancelled, 1 stream round trip each)</text>
<line x1="50" y1="${H - 30}" x2="${W - 10}" y2="${H - 30}" stroke="#888"/><line x1="50" y1="20" x2="50" y2="${H - 30}" stroke="#888"/>
<text x="5" y="${H - 30}">0</text><text x="5" y="30">${maxR.toFixed(0)} MiB</text><text x="${W - 60}" y="${H - 10}">${maxS.toFixed(0)} s</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points}"/>
</svg>\n`,
);
