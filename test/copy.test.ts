// Bytes and allocation: what a copy leaves on disk, in both modes.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { allocated, AUTO_KERNEL, AUTO_USER, BACKENDS, bc, flushCalls, hasStrace, isZero, makeDense, makeSparse, MiB, readAt, ROOT, scratch, sha256 } from './helpers';

const tmp = scratch('copy');
afterAll(() => tmp.cleanup());

type Mode = 'sync' | 'async';
type Backend = (typeof BACKENDS)[number];
const cases = (['sync', 'async'] as Mode[]).flatMap((mode) => BACKENDS.map((backend) => [mode, backend] as [Mode, Backend]));

describe.each(cases)('%s copy, backend %s', (mode, backend) => {
  // Each test's files get the mode and backend in their names, so runs never collide.
  const tag = `${mode}-${backend}`;
  const run = async (src: string | number, dst: string | number, opts?: Parameters<typeof bc.copySync>[2]) => {
    const o = { backend, ...opts };
    return mode === 'sync' ? bc.copySync(src, dst, o) : await bc.copy(src, dst, o);
  };
  const kernelSide = backend === 'copy_file_range';

  it('copies a dense file byte for byte', async () => {
    const src = tmp.file(`dense-${tag}.src`);
    const dst = tmp.file(`dense-${tag}.dst`);
    makeDense(src, 9 * MiB + 4097); // not a multiple of the block size
    const r = await run(src, dst);
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(fs.statSync(src).size);
    expect(r.bytesDone).toBe(r.bytesTotal);
    expect(r.bytesWritten).toBe(9 * MiB + 4097);
    expect(r.backend).toBe(backend === 'auto' ? AUTO_KERNEL : backend);
  });

  it('keeps holes as holes and allocates no more than the source', async () => {
    const src = tmp.file(`sparse-${tag}.src`);
    const dst = tmp.file(`sparse-${tag}.dst`);
    makeSparse(src, 512 * MiB, [
      [1 * MiB, 3 * MiB],
      [100 * MiB, 5 * MiB],
      [511 * MiB, 1 * MiB],
    ]);
    const r = await run(src, dst);
    expect(sha256(dst)).toBe(sha256(src));
    expect(allocated(dst)).toBeLessThanOrEqual(allocated(src));
    expect(allocated(dst)).toBeLessThan(16 * MiB);
    expect(r.bytesTotal).toBe(9 * MiB);
    expect(r.bytesWritten).toBe(9 * MiB);
    expect(r.bytesSkipped).toBe(503 * MiB);
    expect(r.length).toBe(512 * MiB);
    expect(r.position).toBe(512 * MiB);
  });

  it('gives a file that ends in a hole its full size', async () => {
    const src = tmp.file(`tailhole-${tag}.src`);
    const dst = tmp.file(`tailhole-${tag}.dst`);
    makeSparse(src, 64 * MiB, [[0, 1 * MiB]]);
    await run(src, dst);
    expect(fs.statSync(dst).size).toBe(64 * MiB);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('truncates a longer existing destination by default', async () => {
    const src = tmp.file(`trunc-${tag}.src`);
    const dst = tmp.file(`trunc-${tag}.dst`);
    makeSparse(src, 8 * MiB, [[2 * MiB, 1 * MiB]]);
    makeDense(dst, 20 * MiB);
    await run(src, dst);
    expect(fs.statSync(dst).size).toBe(8 * MiB);
    expect(sha256(dst)).toBe(sha256(src));
    expect(allocated(dst)).toBeLessThanOrEqual(allocated(src));
  });

  it('copies a range into an existing file and leaves the rest untouched', async () => {
    const src = tmp.file(`range-${tag}.src`);
    const dst = tmp.file(`range-${tag}.dst`);
    makeDense(src, 16 * MiB);
    makeDense(dst, 32 * MiB);
    const before = fs.readFileSync(dst);
    await run(src, dst, { srcOffset: 3 * MiB, dstOffset: 10 * MiB + 512, length: 5 * MiB + 3 });
    const after = fs.readFileSync(dst);
    expect(after.length).toBe(32 * MiB);
    expect(after.subarray(0, 10 * MiB + 512).equals(before.subarray(0, 10 * MiB + 512))).toBe(true);
    expect(sha256(dst, 10 * MiB + 512, 5 * MiB + 3)).toBe(sha256(src, 3 * MiB, 5 * MiB + 3));
    const end = 15 * MiB + 515;
    expect(after.subarray(end).equals(before.subarray(end))).toBe(true);
  });

  it('zeroes holes that land on old data, and only inside the range', async () => {
    const src = tmp.file(`oldholes-${tag}.src`);
    const dst = tmp.file(`oldholes-${tag}.dst`);
    makeSparse(src, 24 * MiB, [[8 * MiB, 2 * MiB]]);
    makeSparse(dst, 40 * MiB, [[0, 40 * MiB]], 0xab);
    const r = await run(src, dst, { dstOffset: 4 * MiB, truncate: false });
    expect(fs.statSync(dst).size).toBe(40 * MiB);
    expect(sha256(dst, 4 * MiB, 24 * MiB)).toBe(sha256(src));
    expect(readAt(dst, 0, 4 * MiB).every((b) => b === 0xab)).toBe(true);
    expect(readAt(dst, 28 * MiB, 12 * MiB).every((b) => b === 0xab)).toBe(true);
    expect(isZero(readAt(dst, 4 * MiB, 8 * MiB))).toBe(true);
    // Every hole was over old data: zeroed (punched), none skipped, none counted as written.
    expect(r).toMatchObject({ bytesWritten: 2 * MiB, bytesZeroed: 22 * MiB, bytesSkipped: 0, zeroedBy: ['punch_hole'] });
  });

  it('skips holes entirely with targetIsZero, trusting the caller', async () => {
    const src = tmp.file(`tiz-${tag}.src`);
    const dst = tmp.file(`tiz-${tag}.dst`);
    makeSparse(src, 8 * MiB, [[4 * MiB, 1 * MiB]]);
    makeSparse(dst, 8 * MiB, [[0, 8 * MiB]], 0x11);
    await run(src, dst, { truncate: false, targetIsZero: true });
    // The old bytes remain where the source has holes: the caller said they were zero.
    expect(readAt(dst, 0, 4096).every((b) => b === 0x11)).toBe(true);
    expect(sha256(dst, 4 * MiB, 1 * MiB)).toBe(sha256(src, 4 * MiB, 1 * MiB));
  });

  it('sizes the destination first with dstSize (resize), keeping what lies outside the range', async () => {
    const src = tmp.file(`resize-${tag}.src`);
    const dst = tmp.file(`resize-${tag}.dst`);
    makeSparse(src, 8 * MiB, [[1 * MiB, 2 * MiB]]);
    const r = await run(src, dst, { dstOffset: 1 * MiB, dstSize: 64 * MiB });
    expect(fs.statSync(dst).size).toBe(64 * MiB);
    expect(sha256(dst, 1 * MiB, 8 * MiB)).toBe(sha256(src));
    expect(isZero(readAt(dst, 0, 1 * MiB))).toBe(true);
    expect(allocated(dst)).toBeLessThanOrEqual(allocated(src));
    expect(r.bytesWritten).toBe(2 * MiB);
  });

  it("writes every byte with sparse: 'never'", async () => {
    const src = tmp.file(`never-${tag}.src`);
    const dst = tmp.file(`never-${tag}.dst`);
    makeSparse(src, 8 * MiB, [[0, 1 * MiB]]);
    const r = await run(src, dst, { sparse: 'never' });
    expect(sha256(dst)).toBe(sha256(src));
    expect(allocated(dst)).toBeGreaterThanOrEqual(8 * MiB);
    expect(r.bytesWritten).toBe(8 * MiB);
  });

  it.skipIf(kernelSide)("turns zero blocks into holes with sparse: 'always'", async () => {
    const src = tmp.file(`always-${tag}.src`);
    const dst = tmp.file(`always-${tag}.dst`);
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]], 0); // fully allocated, all zeros
    const fd = fs.openSync(src, 'r+');
    fs.writeSync(fd, Buffer.alloc(8192, 7), 0, 8192, 5 * MiB + 4096);
    fs.closeSync(fd);
    expect(allocated(src)).toBeGreaterThanOrEqual(16 * MiB);
    const r = await run(src, dst, { sparse: 'always' });
    expect(sha256(dst)).toBe(sha256(src));
    expect(allocated(dst)).toBeLessThanOrEqual(64 * 1024);
    expect(r.bytesDone).toBe(16 * MiB);
    expect(r.bytesWritten).toBe(8192);
    expect(r.bytesSkipped).toBe(16 * MiB - 8192);
    expect(r.backend).toBe(backend === 'auto' ? AUTO_USER : backend);
  });

  it.skipIf(kernelSide)('copies overlapping ranges of one file in the safe direction (memmove)', async () => {
    const f = tmp.file(`overlap-${tag}`);
    makeDense(f, 8 * MiB);
    const original = fs.readFileSync(f);
    // Up: destination above an overlapping source.
    await run(f, f, { srcOffset: 1 * MiB, dstOffset: 2 * MiB + 4096, length: 5 * MiB, blockSize: 1 * MiB });
    const up = Buffer.from(original);
    original.copy(up, 2 * MiB + 4096, 1 * MiB, 6 * MiB);
    expect(fs.readFileSync(f).equals(up)).toBe(true);
    // Down: destination below an overlapping source.
    await run(f, f, { srcOffset: 3 * MiB, dstOffset: 1 * MiB + 512, length: 4 * MiB, blockSize: 1 * MiB });
    const down = Buffer.from(up);
    up.copy(down, 1 * MiB + 512, 3 * MiB, 7 * MiB);
    expect(fs.readFileSync(f).equals(down)).toBe(true);
  });

  it.skipIf(kernelSide)('copies holes within one file over old data, in both directions', async () => {
    const f = tmp.file(`overlap-holes-${tag}`);
    makeSparse(f, 16 * MiB, [
      [0, 3 * MiB],
      [6 * MiB, 2 * MiB],
    ]);
    const original = fs.readFileSync(f);
    await run(f, f, { srcOffset: 0, dstOffset: 2 * MiB, length: 9 * MiB });
    const expected = Buffer.from(original);
    original.copy(expected, 2 * MiB, 0, 9 * MiB);
    expect(fs.readFileSync(f).equals(expected)).toBe(true);
  });

  it('reads and writes through file descriptors, leaving them open and unmoved', async () => {
    const src = tmp.file(`fd-${tag}.src`);
    const dst = tmp.file(`fd-${tag}.dst`);
    makeSparse(src, 6 * MiB, [[2 * MiB, 1 * MiB]]);
    const sfd = fs.openSync(src, 'r');
    const dfd = fs.openSync(dst, 'w');
    await run(sfd, dfd);
    expect(fs.fstatSync(sfd).size).toBe(6 * MiB); // still open
    expect(fs.readSync(sfd, Buffer.alloc(1), 0, 1, null)).toBe(1); // position still 0 -> a byte comes back
    fs.closeSync(sfd);
    fs.closeSync(dfd);
    expect(sha256(dst)).toBe(sha256(src));
  });


  it('copies an empty file and an empty range', async () => {
    const src = tmp.file(`empty-${tag}.src`);
    const dst = tmp.file(`empty-${tag}.dst`);
    fs.writeFileSync(src, '');
    const r = await run(src, dst);
    expect(fs.statSync(dst).size).toBe(0);
    expect(r.bytesTotal).toBe(0);
    expect(r.bytesDone).toBe(0);
  });

  it.skipIf(kernelSide)('direct I/O copies odd sizes and unaligned offsets byte for byte', async () => {
    const src = tmp.file(`direct-${tag}.src`);
    const dst = tmp.file(`direct-${tag}.dst`);
    makeSparse(src, 10 * MiB + 12345, [
      [0, 3 * MiB + 777],
      [6 * MiB, 4 * MiB + 12345],
    ]);
    const whole = await run(src, dst, { direct: true, blockSize: 256 * 1024 });
    expect(sha256(dst)).toBe(sha256(src));
    expect(whole.backend).toBe(backend === 'auto' ? AUTO_USER : backend);
    // Offsets that are not multiples of the block size: the edges go without O_DIRECT.
    const into = tmp.file(`direct-${tag}.into`);
    makeSparse(into, 16 * MiB, [[0, 16 * MiB]], 0x77);
    await run(src, into, { direct: true, srcOffset: 4097, dstOffset: 1 * MiB + 4097, length: 9 * MiB + 3, blockSize: 64 * 1024 });
    expect(sha256(into, 1 * MiB + 4097, 9 * MiB + 3)).toBe(sha256(src, 4097, 9 * MiB + 3));
    expect(readAt(into, 0, 1 * MiB + 4097).every((b) => b === 0x77)).toBe(true);
    // Offsets that differ by a multiple of 4 KiB but start unaligned: aligned middle, buffered edges.
    await run(src, into, { direct: true, srcOffset: 100, dstOffset: 4196, length: 8 * MiB, blockSize: 64 * 1024 });
    expect(sha256(into, 4196, 8 * MiB)).toBe(sha256(src, 100, 8 * MiB));
  });

  it.skipIf(kernelSide)('direct I/O allocates only the data it writes: holes stay holes, zero runs too with sparse always', async () => {
    const src = tmp.file(`direct-alloc-${tag}.src`);
    makeSparse(src, 32 * MiB, [
      [1 * MiB, 3 * MiB],
      [20 * MiB, 5 * MiB],
    ]);
    const dst = tmp.file(`direct-alloc-${tag}.dst`);
    await run(src, dst, { direct: true });
    expect(sha256(dst)).toBe(sha256(src));
    expect(allocated(dst)).toBe(allocated(src));
    // Zeros written inside data: zero detection leaves them out.
    const zeros = tmp.file(`direct-zeros-${tag}.src`);
    makeSparse(zeros, 8 * MiB, [[0, 8 * MiB]]);
    const fd = fs.openSync(zeros, 'r+');
    fs.writeSync(fd, Buffer.alloc(4 * MiB), 0, 4 * MiB, 2 * MiB);
    fs.closeSync(fd);
    const out = tmp.file(`direct-zeros-${tag}.dst`);
    await run(zeros, out, { direct: true, sparse: 'always' });
    expect(sha256(out)).toBe(sha256(zeros));
    expect(allocated(out)).toBe(4 * MiB);
  });

  it('creates the destination with the source permissions (less umask)', async () => {
    const src = tmp.file(`mode-${tag}.src`);
    const dst = tmp.file(`mode-${tag}.dst`);
    makeDense(src, 4096);
    fs.chmodSync(src, 0o640);
    await run(src, dst);
    expect(fs.statSync(dst).mode & 0o777).toBe(0o640 & ~process.umask());
  });
});

describe('fsync', () => {
  // One child under strace runs every mode, backend and fsync setting, each
  // into a destination of its own; the trace says which flush reached which file.
  it.skipIf(!hasStrace)('flushes the destination with fdatasync or fsync as asked, and not at all with none', () => {
    const src = tmp.file('flush.src');
    makeSparse(src, 4 * MiB, [[0, 1 * MiB]]);
    const runs = cases.flatMap(([mode, backend]) => (['none', 'data', 'full'] as const).map((fsync) => ({ mode, backend, fsync, dst: tmp.file(`flush-${mode}-${backend}-${fsync}.dst`) })));
    const script = `const bc = require(${JSON.stringify(`${ROOT}/dist/index.js`)});
      (async () => { for (const r of ${JSON.stringify(runs)}) {
        const o = { backend: r.backend, fsync: r.fsync };
        if (r.mode === 'sync') bc.copySync(${JSON.stringify(src)}, r.dst, o); else await bc.copy(${JSON.stringify(src)}, r.dst, o);
      } })();`;
    const { status, stderr, calls } = flushCalls(['-e', script]);
    expect(status, stderr).toBe(0);
    for (const r of runs) {
      expect(sha256(r.dst)).toBe(sha256(src));
      const expected = { none: [], data: ['fdatasync'], full: ['fsync'] }[r.fsync];
      expect(calls.get(r.dst) ?? [], `${r.mode} ${r.backend} fsync: '${r.fsync}'`).toEqual(expected);
    }
  });
});
