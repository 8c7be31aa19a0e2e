// Extents are mapped a window (128 MiB) at a time as a job goes, never for the
// whole range up front: a huge export is cancelled at once, memory stays
// bounded whatever the extent count, bytesTotal starts at the range and only
// falls, and copies stay byte-exact and sparse where extents cross windows.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { allocated, BACKENDS, bc, CLI, makeSparse, MiB, ROOT, runNode, scratch, sha256, socketPair } from './helpers';
import { hasNbdkit, nbdkit } from './nbd_helpers';

const tmp = scratch('windowed-map');
afterAll(() => tmp.cleanup());

const WINDOW = 128 * MiB;
const PiB = 2 ** 50;

interface Report {
  bytesDone: number;
  bytesTotal: number;
  length: number;
}

/** What every job's reports must show: totals start at most the range, never grow, never fall below done; the last is exact. */
function expectShrinkingTotals(reports: Report[], final: Report, dataBytes: number): void {
  expect(reports.length).toBeGreaterThan(1);
  expect(reports[0]!.bytesTotal).toBeLessThanOrEqual(reports[0]!.length);
  for (let i = 1; i < reports.length; i++) expect(reports[i]!.bytesTotal).toBeLessThanOrEqual(reports[i - 1]!.bytesTotal);
  for (const r of reports) expect(r.bytesDone).toBeLessThanOrEqual(r.bytesTotal);
  expect(final.bytesDone).toBe(final.bytesTotal);
  expect(final.bytesTotal).toBe(dataBytes);
  // Mapped as it went: the first report still counted unmapped holes as data.
  expect(reports[0]!.bytesTotal).toBeGreaterThan(final.bytesTotal);
}

// Data and holes placed across the windows of a copy from 0 and of one from
// SRC_OFFSET: a data extent over each range's first window edge, a hole over
// its second, an odd size.
const SRC_OFFSET = MiB + 3;
const DST_OFFSET = 5 * MiB + 11;
const PIECES: Array<[number, number]> = [
  [4097, 100_000],
  [WINDOW - 70_000, 140_000], // over 128 MiB
  [SRC_OFFSET + WINDOW - 50_000, 100_000], // over the offset range's first edge
  [200 * MiB + 1, MiB],
  [250 * MiB, MiB], // then a hole over 256 MiB and over SRC_OFFSET + 256 MiB
  [262 * MiB + 5, 3 * MiB],
  [400 * MiB - 10, 4096 + 10],
];
const SIZE = 400 * MiB + 4097;

/** The data bytes of a range as extents() sees them (whole filesystem blocks). */
function dataIn(file: string, offset = 0, length?: number): number {
  return bc.extentsSync(file, { offset, length }).reduce((n, e) => n + (e.type === 'data' ? e.length : 0), 0);
}

function straddlingImage(name: string): string {
  const file = tmp.file(name);
  makeSparse(file, SIZE, PIECES);
  return file;
}

/**
 * The job `start` makes reports within 2 s with a total above 0 and at most
 * 1 PiB, and a cancel 300 ms later settles as ABORT_ERR within 1.5 s: what a
 * whole-range map up front would hold back for minutes.
 */
async function reportsSoonAndCancels(start: () => { once(event: 'progress', f: (p: Report) => void): unknown; cancel(o: { wait: boolean }): Promise<void>; done: Promise<unknown> }): Promise<Report> {
  const started = Date.now();
  const job = start();
  const first = await new Promise<Report>((resolve) => job.once('progress', resolve));
  expect(Date.now() - started).toBeLessThan(2000);
  expect(first.bytesTotal).toBeGreaterThan(0);
  expect(first.bytesTotal).toBeLessThanOrEqual(PiB);
  await new Promise((r) => setTimeout(r, 300));
  const asked = Date.now();
  void job.cancel({ wait: false });
  const error = await job.done.then(() => null, (e: { code?: string }) => e);
  expect(Date.now() - asked).toBeLessThan(1500);
  expect(error?.code).toBe('ABORT_ERR');
  return first;
}

describe.skipIf(!hasNbdkit)('a 1 PiB export (nbdkit null)', () => {
  it('checksum reports within 2 s with a total inside the range, and cancel settles at once', async () => {
    const server = await nbdkit(tmp.dir, ['null', '1P'], 'null-1p');
    try {
      const first = await reportsSoonAndCancels(() => bc.checksum(server.uri, { progressInterval: 50 }));
      expect(first.length).toBe(PiB);
    } finally {
      await server.stop();
    }
  });

  it('a copy into a 1 PiB export reports within 2 s, and cancel settles at once', async () => {
    const from = await nbdkit(tmp.dir, ['null', '1P'], 'null-1p-from');
    const to = await nbdkit(tmp.dir, ['memory', '1P'], 'memory-1p-to');
    try {
      await reportsSoonAndCancels(() => bc.copy(from.uri, to.uri, { progressInterval: 50 }));
    } finally {
      await Promise.all([from.stop(), to.stop()]);
    }
  });

  it('blockcopy checksum exits 130 within 2 s of SIGINT', async () => {
    const server = await nbdkit(tmp.dir, ['null', '1P'], 'null-1p-cli');
    try {
      const child = spawn(process.execPath, [CLI, 'checksum', server.uri], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      await new Promise((r) => setTimeout(r, 1000));
      const sent = Date.now();
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => {
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', (c) => {
          clearTimeout(killer);
          resolve(c);
        });
      });
      expect(Date.now() - sent).toBeLessThan(2000);
      expect(code, output).toBe(130);
    } finally {
      await server.stop();
    }
  });
});

// A child process runs the job, watches its own peak RSS (VmHWM) and cancels
// once the job is `stopAt` bytes in, or at once when it grew past `cap`.
const MEMORY_CHILD = `
const fs = require('fs');
const [dist, mode, uri, stopAt, cap, dst] = process.argv.slice(1);
const bc = require(dist);
const kb = (k) => Number(/(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(k)))[1]) * 1024;
const base = kb('VmRSS:');
const job = mode === 'checksum' ? bc.checksum(uri, { progressInterval: 50 }) : bc.copy(uri, dst, { progressInterval: 50 });
job.done.catch(() => {});
const watch = setInterval(() => {
  const grown = kb('VmHWM:') - base, position = job.progress().position;
  if (grown > Number(cap)) {
    console.log(JSON.stringify({ grown, position }));
    process.exit(0);
  }
  if (position < Number(stopAt)) return;
  clearInterval(watch);
  job.cancel().then(() => { console.log(JSON.stringify({ grown: kb('VmHWM:') - base, position })); process.exit(0); });
}, 20);
`;

// AddressSanitizer keeps freed memory in quarantine and maps shadow memory:
// its RSS says nothing of ours (npm run test:sanitize preloads it).
const underSanitizer = /libasan/.test(process.env.LD_PRELOAD ?? '');

describe.skipIf(!hasNbdkit || underSanitizer)('memory stays bounded by the window, whatever the extent count', () => {
  // 32 GiB in runs of about 4 KiB: 8 Mi extents, which a whole-range map holds
  // at 24 bytes each (192 MiB, more as its vector grows) before a byte moves.
  const EXPORT = ['sparse-random', '32G', 'seed=1', 'percent=50', 'runlength=4096'];
  const WHOLE_MAP = 8 * 2 ** 20 * 24;

  it.each([
    // checksum holds two 16 MiB read windows of its own
    ['checksum', 96 * MiB],
    ['copy', 48 * MiB],
  ] as const)('%s of 8 Mi extents grows the process by less than the map would need', async (mode, cap) => {
    expect(cap).toBeLessThan(WHOLE_MAP);
    const server = await nbdkit(tmp.dir, EXPORT, `sparse-random-${mode}`);
    try {
      const dst = tmp.file(`many-extents-${mode}.img`);
      const stopAt = 256 * MiB;
      const r = runNode(['-e', MEMORY_CHILD, path.join(ROOT, 'dist', 'index.js'), mode, server.uri, String(stopAt), String(cap), dst], {}, 60_000);
      expect(r.status, r.stderr).toBe(0);
      const seen = JSON.parse(r.stdout) as { grown: number; position: number };
      expect(seen.grown).toBeLessThan(cap);
      expect(seen.position).toBeGreaterThanOrEqual(stopAt);
    } finally {
      await server.stop();
      fs.rmSync(tmp.file(`many-extents-${mode}.img`), { force: true });
    }
  }, 90_000);
});

describe('bytesTotal: the range not mapped yet counts as data', () => {
  it('a copy: starts at most the range, only falls, ends at bytesDone', () => {
    const src = straddlingImage('totals.img');
    const reports: Report[] = [];
    const result = bc.copySync(src, tmp.file('totals.out'), { progressInterval: 0, onProgress: (p) => void reports.push({ ...p }) });
    expectShrinkingTotals(reports, result, dataIn(src));
    expect(reports[0]!.bytesTotal).toBeGreaterThanOrEqual(SIZE - WINDOW);
  });

  it('a checksum: the same rule, and the digest of a fully written copy', async () => {
    const src = straddlingImage('totals-sum.img');
    const reports: Report[] = [];
    const job = bc.checksum(src, { progressInterval: 0 });
    job.on('progress', (p: Report) => reports.push({ ...p }));
    const sum = await job;
    const final = job.progress();
    expectShrinkingTotals(reports, final, dataIn(src));
    const dense = tmp.file('totals-sum.dense');
    bc.copySync(src, dense, { sparse: 'never' });
    expect((await bc.checksum(dense)).digest).toBe(sum.digest);
  });
});

describe('extents that cross window edges', () => {
  it.each(BACKENDS)('copies the whole image byte-exact and sparse (%s)', (backend) => {
    const src = straddlingImage(`edges-${backend}.img`);
    const dst = tmp.file(`edges-${backend}.out`);
    const reports: Report[] = [];
    const r = bc.copySync(src, dst, { backend, progressInterval: 0, onProgress: (p) => void reports.push({ ...p }) });
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(SIZE);
    expect(allocated(dst)).toBeLessThanOrEqual(allocated(src));
    expectShrinkingTotals(reports, r, dataIn(src));
  });

  it('copies an unaligned range to an unaligned offset, verified, and checksums agree', async () => {
    const src = straddlingImage('edges-offset.img');
    const dst = tmp.file('edges-offset.out');
    const length = 300 * MiB + 5;
    const reports: Report[] = [];
    const r = bc.copySync(src, dst, {
      srcOffset: SRC_OFFSET,
      dstOffset: DST_OFFSET,
      length,
      verify: true,
      progressInterval: 0,
      onProgress: (p) => void (p.phase === undefined && reports.push({ ...p })),
    });
    expect(sha256(dst, DST_OFFSET, length)).toBe(sha256(src, SRC_OFFSET, length));
    const inRange = dataIn(src, SRC_OFFSET, length);
    expect(allocated(dst)).toBeLessThanOrEqual(inRange + 16 * 4096); // unaligned edges take a block more
    expectShrinkingTotals(reports, r, inRange);
    const [a, b] = await Promise.all([
      bc.checksum(src, { offset: SRC_OFFSET, length }),
      bc.checksum(dst, { offset: DST_OFFSET, length }),
    ]);
    expect(b.digest).toBe(a.digest);
  });

  it('streams an unaligned range byte-exact and sparse', async () => {
    const src = straddlingImage('edges-stream.img');
    const dst = tmp.file('edges-stream.out');
    const length = 300 * MiB + 5;
    const reader = bc.createExtentReadStream(src, { offset: SRC_OFFSET, length });
    const info = await reader.ready();
    expect(info.dataBytes).toBeLessThanOrEqual(length);
    await pipeline(reader, bc.encode({ size: info.size, dataBytes: info.dataBytes }), bc.decode(), bc.createExtentWriteStream(dst));
    expect(fs.statSync(dst).size).toBe(length);
    expect(sha256(dst)).toBe(sha256(src, SRC_OFFSET, length));
    expect(allocated(dst)).toBeLessThanOrEqual(dataIn(src, SRC_OFFSET, length) + 16 * 4096);
    // Mapped as it went: at the start it could only bound the data from above.
    expect(info.dataBytes).toBeGreaterThan(allocated(dst));
  });

  it('resumes a send cut inside an extent over a window edge: only the rest crosses', async () => {
    const src = straddlingImage('edges-resume.img');
    const dst = tmp.file('edges-resume.out');
    const held = WINDOW + 30_001; // inside the data extent over 128 MiB
    bc.copySync(src, dst, { length: held });
    const { client, server, close } = await socketPair();
    let sent = 0;
    server.on('data', (c: Buffer) => (sent += c.length));
    try {
      const received = bc.receive(server, dst);
      await bc.send(src, client, { resume: true });
      await received;
    } finally {
      client.destroy();
      server.destroy();
      close();
    }
    expect(fs.statSync(dst).size).toBe(SIZE);
    expect(sha256(dst)).toBe(sha256(src));
    // What crosses: the 64 KiB blocks with data that the receiver did not hold whole, and frame headers.
    const BLOCK = 64 * 1024;
    const blocks = new Set<number>();
    for (const e of bc.extentsSync(src)) {
      if (e.type !== 'data') continue;
      for (let b = Math.floor(e.offset / BLOCK); b * BLOCK < e.offset + e.length; b++) if ((b + 1) * BLOCK > held) blocks.add(b);
    }
    expect(sent).toBeGreaterThanOrEqual((blocks.size - 1) * BLOCK);
    expect(sent).toBeLessThanOrEqual(blocks.size * BLOCK + 64 * 1024);
  });

  it('moves a range up within one file over windows, from the top down', () => {
    const file = straddlingImage('edges-same.img');
    const length = 300 * MiB;
    const shift = 3 * MiB + 7;
    const before = sha256(file, 0, length);
    const had = allocated(file);
    const inRange = dataIn(file, 0, length);
    const reports: Report[] = [];
    const r = bc.copySync(file, file, { srcOffset: 0, dstOffset: shift, length, progressInterval: 0, onProgress: (p) => void reports.push({ ...p }) });
    expect(sha256(file, shift, length)).toBe(before);
    expect(allocated(file)).toBeLessThanOrEqual(2 * had + 16 * 4096);
    expectShrinkingTotals(reports, r, inRange);
  });
});
