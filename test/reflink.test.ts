// Reflink: extents shared on XFS and btrfs (loop-mounted, root only), and
// refused clearly where impossible.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
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

/** The image as `blockcopy send` streams it, in a pipe to receive() from. */
async function streamOf(file: string): Promise<PassThrough> {
  const pipe = new PassThrough();
  void bc.send(file, pipe);
  return pipe;
}

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

  // XFS preallocates past the end of a file that grows, and keeps what a later
  // write leaves inside it: copies and streams grow the file before writing.
  it('unaligned ranges, every backend and a stream allocate only the data (one edge block more per extent)', async (ctx) => {
    const dir = mounted[name];
    if (!dir) return ctx.skip();
    const src = path.join(dir, 'alloc.src');
    const extents: Array<[number, number]> = [
      [1 * MiB, 3 * MiB],
      [10 * MiB, 5 * MiB],
      [40 * MiB, 1 * MiB],
    ];
    makeSparse(src, 64 * MiB, extents);
    const blocks = (file: string) => {
      execFileSync('sync');
      return fs.statSync(file).blocks * 512;
    };
    const data = blocks(src);
    const edges = extents.length * fs.statSync(src).blksize;
    for (const backend of ['pread', 'io_uring', 'copy_file_range'] as const) {
      const dst = path.join(dir, `alloc-${backend}.dst`);
      await bc.copy(src, dst, { srcOffset: 4097, dstOffset: 12345, length: 60 * MiB, backend, reflink: 'never' });
      expect(sha256(dst, 12345, 60 * MiB)).toBe(sha256(src, 4097, 60 * MiB));
      expect(blocks(dst), backend).toBeLessThanOrEqual(data + edges);
      const whole = path.join(dir, `alloc-${backend}-whole.dst`);
      await bc.copy(src, whole, { backend, reflink: 'never' });
      expect(blocks(whole), backend).toBeLessThanOrEqual(data);
    }
    const received = path.join(dir, 'alloc-recv.dst');
    await bc.receive(await streamOf(src), received);
    expect(sha256(received)).toBe(sha256(src));
    expect(blocks(received)).toBeLessThanOrEqual(data);
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
  const fsType = execFileSync('stat', ['-f', '-c', '%T', tmp.dir], { encoding: 'utf8' }).trim();
  it.skipIf(fsType === 'xfs' || fsType === 'btrfs')(`reflink: 'always' on ext4 (or tmpfs) fails with ENOTSUP and leaves no destination (here ${fsType})`, async () => {
    const src = tmp.file('plain.src');
    makeSparse(src, 4 * MiB, [[0, 4 * MiB]]);
    const dst = tmp.file('plain.dst');
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
