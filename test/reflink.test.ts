// Reflink: extents shared on XFS and btrfs (loop-mounted, root only), and
// refused clearly where impossible.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bc, isRoot, makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('reflink');

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const filesystems = [
  { name: 'xfs', mkfs: 'mkfs.xfs', args: ['-q', '-m', 'reflink=1'] },
  { name: 'btrfs', mkfs: 'mkfs.btrfs', args: ['-q'] },
];
const mounted: Record<string, string> = {};
const reasons: string[] = [];

beforeAll(() => {
  for (const f of filesystems) {
    if (!isRoot) {
      reasons.push(`${f.name}: needs root to mount a loop image`);
      continue;
    }
    if (!has(f.mkfs)) {
      reasons.push(`${f.name}: ${f.mkfs} not installed`);
      continue;
    }
    const image = tmp.file(`${f.name}.img`);
    const dir = tmp.file(`${f.name}-mnt`);
    fs.mkdirSync(dir);
    try {
      execFileSync('truncate', ['-s', '512M', image]);
      execFileSync(f.mkfs, [...f.args, image]);
      execFileSync('mount', ['-o', 'loop', image, dir]);
      mounted[f.name] = dir;
    } catch (e) {
      reasons.push(`${f.name}: could not mount (${(e as Error).message.split('\n')[0]})`);
    }
  }
  for (const r of reasons) console.warn(`reflink tests skipped for ${r}`);
});

afterAll(() => {
  for (const dir of Object.values(mounted)) execFileSync('umount', [dir]);
  tmp.cleanup();
});

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

describe.each(filesystems.map((f) => f.name))('on %s', (name) => {
  it('a whole-file copy shares extents: backend reflink, no new space used', async (ctx) => {
    const dir = mounted[name];
    if (!dir) return ctx.skip();
    const src = path.join(dir, 'src.img');
    makeSparse(src, 96 * MiB, [
      [0, 32 * MiB],
      [64 * MiB, 16 * MiB + 100],
    ]);
    execFileSync('sync');
    const before = freeBytes(dir);
    const dst = path.join(dir, 'dst.img');
    const result = await bc.copy(src, dst, { fsync: 'full' });
    execFileSync('sync');
    expect(result.backend).toBe('reflink');
    expect(sha256(dst)).toBe(sha256(src));
    expect(result.bytesDone).toBe(result.bytesTotal);
    expect(result.bytesTotal).toBeGreaterThanOrEqual(48 * MiB + 100); // extents end on block boundaries
    expect(before - freeBytes(dir)).toBeLessThan(8 * MiB); // 48 MiB of data, shared not copied
  });

  it('a block-aligned range is cloned, the unaligned tail copied', async (ctx) => {
    const dir = mounted[name];
    if (!dir) return ctx.skip();
    const src = path.join(dir, 'range.src');
    makeSparse(src, 20 * MiB, [[0, 20 * MiB]]);
    const dst = path.join(dir, 'range.dst');
    makeSparse(dst, 40 * MiB, [[0, 40 * MiB]], 0x42);
    const r = bc.copySync(src, dst, { srcOffset: 4096, dstOffset: 8 * MiB, length: 12 * MiB + 5 });
    expect(r.backend).toBe('reflink');
    expect(sha256(dst, 8 * MiB, 12 * MiB + 5)).toBe(sha256(src, 4096, 12 * MiB + 5));
    expect(sha256(dst, 0, 8 * MiB)).toBe(sha256(dst, 20 * MiB + 8192, 8 * MiB)); // both still 0x42
  });

  it("reflink: 'never' copies the bytes another way", async (ctx) => {
    const dir = mounted[name];
    if (!dir) return ctx.skip();
    const src = path.join(dir, 'never.src');
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
    const r = bc.copySync(src, path.join(dir, 'never.dst'), { reflink: 'never', backend: 'pread' });
    expect(r.backend).toBe('pread');
    expect(sha256(path.join(dir, 'never.dst'))).toBe(sha256(src));
  });

  it('the CLI shares extents by default and not with --no-reflink', (ctx) => {
    const dir = mounted[name];
    if (!dir) return ctx.skip();
    const src = path.join(dir, 'cli.src');
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
    const backend = (...flags: string[]) => {
      const r = runNode([path.join(ROOT, 'dist', 'cli', 'main.js'), src, path.join(dir, `cli${flags.length}.dst`), '--json', ...flags]);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { backend: string }).backend;
    };
    expect(backend()).toBe('reflink');
    expect(backend('--no-reflink')).not.toBe('reflink');
  });
});

describe('where reflink is impossible', () => {
  it("reflink: 'always' on ext4 (or tmpfs) fails with ENOTSUP and leaves no destination", async () => {
    const src = tmp.file('plain.src');
    makeSparse(src, 4 * MiB, [[0, 4 * MiB]]);
    const dst = tmp.file('plain.dst');
    const fsType = execFileSync('stat', ['-f', '-c', '%T', tmp.dir], { encoding: 'utf8' }).trim();
    if (fsType === 'xfs' || fsType === 'btrfs') return; // this one can clone
    await expect(bc.copy(src, dst, { reflink: 'always' }).done).rejects.toMatchObject({
      code: 'ENOTSUP', // EOPNOTSUPP: the same number on Linux, and Node names it so
      syscall: 'ioctl',
      message: expect.stringContaining('cannot share extents'),
    });
    expect(fs.existsSync(dst)).toBe(false);
  });

  it("reflink: 'always' with zero detection or direct I/O is a bad argument", () => {
    expect(() => bc.copy('a', 'b', { reflink: 'always', sparse: 'always' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => bc.copy('a', 'b', { reflink: 'always', direct: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
