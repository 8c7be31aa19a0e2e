// npm run bench:resume [-- --quick]: resume and delta over a TCP loopback,
// bytes on the wire and wall time, beside a full transfer and beside
// `rsync --inplace --no-whole-file` on the same files. Interleaved runs, medians.
// Results: bench/results/resume-<full|quick>-latest.json and a table on stdout.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { summarize } from './measure.mjs';
import { machine } from './system.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const blockcopy = require(path.join(here, '..'));
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, runs: { type: 'string' } } });
const MiB = 2 ** 20;
const BLOCK = 64 * 1024;
const size = values.quick ? 64 * MiB : 2048 * MiB;
const runs = Number(values.runs ?? (values.quick ? 2 : 5));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'blockcopy-bench-resume-'));
const src = path.join(work, 'src.img');
const dst = path.join(work, 'dst.img');

/** Fresh random bytes throughout: rsync matches blocks at any offset, so a repeated chunk would flatter it. */
function writeRandom(file, bytes) {
  const fd = fs.openSync(file, 'w');
  for (let at = 0; at < bytes; at += 4 * MiB) {
    const chunk = randomBytes(Math.min(4 * MiB, bytes - at));
    fs.writeSync(fd, chunk, 0, chunk.length, at);
  }
  fs.closeSync(fd);
}

/** The destination each case starts from; a 1% delta changes one byte in 1% of the blocks, spread evenly. */
const cases = {
  'full transfer (no copy there)': () => fs.rmSync(dst, { force: true }),
  'resume at 60%': () => {
    fs.copyFileSync(src, dst);
    fs.truncateSync(dst, Math.floor(size * 0.6));
  },
  '1% of blocks changed': () => {
    fs.copyFileSync(src, dst);
    const fd = fs.openSync(dst, 'r+');
    const blocks = size / BLOCK;
    const byte = Buffer.alloc(1);
    for (let b = 0; b < blocks; b += 100) {
      // inverted, not random: a random byte would leave one block in 256 unchanged
      fs.readSync(fd, byte, 0, 1, b * BLOCK + 4321);
      byte[0] ^= 0xff;
      fs.writeSync(fd, byte, 0, 1, b * BLOCK + 4321);
    }
    fs.closeSync(fd);
  },
  'nothing changed': () => fs.copyFileSync(src, dst),
};

/** One send/receive over TCP on 127.0.0.1; bytes each way counted on the sockets. */
async function blockcopyRun(resume) {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const client = net.connect(server.address().port, '127.0.0.1');
  const peer = await accepted;
  let forward = 0;
  let back = 0;
  peer.on('data', (c) => (forward += c.length));
  client.on('data', (c) => (back += c.length));
  const t0 = process.hrtime.bigint();
  const received = blockcopy.receive(peer, dst, { fsync: 'data' });
  await blockcopy.send(src, client, { resume });
  await received;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  client.destroy();
  peer.destroy();
  server.close();
  return { seconds, forward, back };
}

function rsyncRun() {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('rsync', ['--inplace', '--no-whole-file', '--stats', src, dst], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rsync: ${r.stderr}`);
  spawnSync('sync', [dst]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const number = (label) => Number((new RegExp(`${label}: ([\\d,]+)`).exec(r.stdout)?.[1] ?? 'NaN').replaceAll(',', ''));
  return { seconds, forward: number('Total bytes sent'), back: number('Total bytes received') };
}

const contenders = [
  { label: 'blockcopy send/receive', run: () => blockcopyRun(false) },
  { label: 'blockcopy send/receive, resume: true', run: () => blockcopyRun(true) },
  ...(spawnSync('rsync', ['--version']).status === 0 ? [{ label: 'rsync --inplace --no-whole-file', run: rsyncRun }] : []),
];

function mb(bytes) {
  return bytes >= 10 * MiB ? `${(bytes / MiB).toFixed(0)} MiB` : `${(bytes / MiB).toFixed(2)} MiB`;
}

const results = { machine: machine(work), quick: values.quick, runs, size, cases: [] };
console.log(`blockcopy resume benchmark: ${mb(size)} image, ${runs} interleaved runs per contender, in ${work}`);
try {
  writeRandom(src, size);
  const rows = ['| case | contender | median s | min–max s | sent | answered |', '| --- | --- | ---: | ---: | ---: | ---: |'];
  for (const [name, prepare] of Object.entries(cases)) {
    const samples = contenders.map(() => []);
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < contenders.length; i++) {
        const k = (i + round) % contenders.length;
        prepare();
        spawnSync('sync');
        const sample = await contenders[k].run();
        if (spawnSync('cmp', ['-s', src, dst]).status !== 0) throw new Error(`${contenders[k].label}, ${name}: the copy differs`);
        samples[k].push(sample);
      }
    }
    const entry = { case: name, contenders: [] };
    contenders.forEach((c, k) => {
      const t = summarize(samples[k].map((s) => s.seconds));
      const forward = samples[k][0].forward;
      const back = samples[k][0].back;
      entry.contenders.push({ label: c.label, stats: t, sent: forward, answered: back });
      rows.push(`| ${name} | ${c.label} | ${t.median.toFixed(3)} | ${t.min.toFixed(3)}–${t.max.toFixed(3)} | ${mb(forward)} | ${mb(back)} |`);
    });
    results.cases.push(entry);
    console.log(`  ${name}: done`);
  }
  console.log(`\n${rows.join('\n')}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
const out = path.join(here, 'results', `resume-${values.quick ? 'quick' : 'full'}-latest.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nsaved ${path.relative(process.cwd(), out)}`);
