// Block devices at either end, through a loop device (needs root; skipped otherwise).
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { bc, isRoot, isZero, makeSparse, MiB, readAt, ROOT, runNode, scratch, sha256, USER_SPACE_BACKENDS } from './helpers';

const tmp = scratch('blockdev');
const DEVICE_SIZE = 64 * MiB;
let device = '';
let backing = '';

function canUseLoop(): boolean {
  if (!isRoot) return false;
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const enabled = canUseLoop();
if (!enabled) console.warn('blockdev tests skipped: they need root and losetup to attach a loop device');

beforeAll(() => {
  if (!enabled) return;
  backing = tmp.file('backing.img');
  makeSparse(backing, DEVICE_SIZE, [[0, DEVICE_SIZE]], 0xab); // old data everywhere
  device = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
});

afterAll(() => {
  if (device) execFileSync('losetup', ['--detach', device]);
  tmp.cleanup();
});

describe.skipIf(!enabled)('block devices', () => {
  it.each(USER_SPACE_BACKENDS)('a sparse file onto a device: data copied, holes zeroed over old data (%s)', async (backend) => {
    fs.writeFileSync(device, Buffer.alloc(DEVICE_SIZE, 0xab)); // old data everywhere
    const src = tmp.file(`sparse-${backend}.src`);
    makeSparse(src, 40 * MiB, [
      [1 * MiB, 2 * MiB],
      [30 * MiB, 3 * MiB + 4096],
    ]);
    expect(fs.statSync(device).size).toBe(0); // st_size says nothing about a device
    const result = await bc.copy(src, device, { backend, dstOffset: 8 * MiB + 512 });
    expect(result.backend).toBe(backend);
    expect(sha256(device, 8 * MiB + 512, 40 * MiB)).toBe(sha256(src));
    expect(readAt(device, 0, 8 * MiB + 512).every((b) => b === 0xab)).toBe(true);
    expect(readAt(device, 48 * MiB + 512, 16 * MiB - 512).every((b) => b === 0xab)).toBe(true);
    expect(isZero(readAt(device, 8 * MiB + 512, 1 * MiB))).toBe(true);
    // Every hole is 512-byte aligned here, so BLKZEROOUT did all the zeroing: only data was written.
    expect(result).toMatchObject({ bytesWritten: 5 * MiB + 4096, bytesZeroed: 35 * MiB - 4096, bytesSkipped: 0, zeroedBy: ['blkzeroout'] });
  });

  it.each(USER_SPACE_BACKENDS)("sparse: 'always' onto a device zeroes the zero blocks without writing them (%s)", (backend) => {
    fs.writeFileSync(device, Buffer.alloc(16 * MiB, 0xcd));
    const src = tmp.file(`always-${backend}.src`);
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]], 0); // allocated, all zeros
    const fd = fs.openSync(src, 'r+');
    fs.writeSync(fd, Buffer.alloc(64 * 1024, 9), 0, 64 * 1024, 3 * MiB);
    fs.closeSync(fd);
    const r = bc.copySync(src, device, { backend, sparse: 'always' });
    expect(sha256(device, 0, 16 * MiB)).toBe(sha256(src));
    // The zeros went by BLKZEROOUT, not by write.
    expect(r).toMatchObject({ bytesWritten: 64 * 1024, bytesZeroed: 16 * MiB - 64 * 1024, bytesSkipped: 0, zeroedBy: ['blkzeroout'] });
  });

  it('targetIsZero leaves the holes alone on a device', () => {
    const src = tmp.file('tiz.src');
    makeSparse(src, 4 * MiB, [[0, 4096]]);
    fs.writeFileSync(device, Buffer.alloc(8 * MiB, 0x5a)); // known old bytes at the start
    bc.copySync(src, device, { targetIsZero: true });
    expect(sha256(device, 0, 4096)).toBe(sha256(src, 0, 4096));
    expect(readAt(device, 4096, 4096).every((b) => b === 0x5a)).toBe(true);
  });

  it.each(USER_SPACE_BACKENDS)('a device as source: its size comes from BLKGETSIZE64, not st_size (%s)', async (backend) => {
    const dst = tmp.file(`fromdev-${backend}.img`);
    const result = bc.copySync(device, dst, { backend });
    expect(fs.statSync(dst).size).toBe(DEVICE_SIZE);
    expect(result.length).toBe(DEVICE_SIZE);
    expect(sha256(dst)).toBe(sha256(device, 0, DEVICE_SIZE));
    const extents = await bc.extents(device);
    expect(extents.reduce((sum, e) => sum + e.length, 0)).toBe(DEVICE_SIZE);
  });

  it.each(USER_SPACE_BACKENDS)('direct I/O onto and off a device is byte-exact (%s)', async (backend) => {
    const src = tmp.file(`direct-${backend}.src`);
    makeSparse(src, 5 * MiB + 1000, [[0, 5 * MiB + 1000]]);
    await bc.copy(src, device, { backend, direct: true, dstOffset: 1 * MiB, blockSize: 128 * 1024 });
    expect(sha256(device, 1 * MiB, 5 * MiB + 1000)).toBe(sha256(src));
    const back = tmp.file(`direct-${backend}.back`);
    await bc.copy(device, back, { backend, direct: true, srcOffset: 1 * MiB, length: 5 * MiB + 1000 });
    expect(sha256(back)).toBe(sha256(src));
  });

  it('a range past the end of the device fails with ENOSPC before writing anything', async () => {
    const src = tmp.file('big.src');
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
    const before = sha256(device, 0, DEVICE_SIZE);
    await expect(bc.copy(src, device, { dstOffset: DEVICE_SIZE - 4 * MiB }).done).rejects.toMatchObject({
      code: 'ENOSPC',
      path: device,
    });
    expect(sha256(device, 0, DEVICE_SIZE)).toBe(before);
  });

  it('a device held open exclusively elsewhere is refused with EBUSY unless force is set', async () => {
    const src = tmp.file('busy.src');
    makeSparse(src, 1 * MiB, [[0, 1 * MiB]]);
    const holder = fs.openSync(device, fs.constants.O_RDONLY | fs.constants.O_EXCL);
    try {
      const before = sha256(device, 0, 1 * MiB);
      await expect(bc.copy(src, device).done).rejects.toMatchObject({ code: 'EBUSY', syscall: 'open', path: device });
      expect(sha256(device, 0, 1 * MiB)).toBe(before);
      await bc.copy(src, device, { force: true });
      expect(sha256(device, 0, 1 * MiB)).toBe(sha256(src));
    } finally {
      fs.closeSync(holder);
    }
  });

  it('the CLI: --force reaches the engine (EBUSY without it, exit 1; copied with it)', () => {
    const src = tmp.file('cli-busy.src');
    makeSparse(src, 1 * MiB, [[0, 1 * MiB]]);
    const holder = fs.openSync(device, fs.constants.O_RDONLY | fs.constants.O_EXCL);
    try {
      const refused = runNode([path.join(ROOT, 'dist', 'cli', 'main.js'), src, device]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain(`EBUSY: resource busy or locked, open '${device}'`);
      const forced = runNode([path.join(ROOT, 'dist', 'cli', 'main.js'), src, device, '--force', '--quiet']);
      expect(forced.status, forced.stderr).toBe(0);
      expect(sha256(device, 0, 1 * MiB)).toBe(sha256(src));
    } finally {
      fs.closeSync(holder);
    }
  });

  it('dstSize cannot resize a device', () => {
    const src = tmp.file('small.src');
    makeSparse(src, 1 * MiB, [[0, 1 * MiB]]);
    expect(() => bc.copySync(src, device, { dstSize: 2 * MiB })).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'ftruncate' }));
  });
});
