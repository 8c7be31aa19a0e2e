// Bad input: Node's error codes, thrown before any I/O, and no destination left behind.
import fs from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bc, makeDense, makeSparse, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('errors');
let src: string;
beforeAll(() => {
  src = tmp.file('src');
  makeSparse(src, 4 * MiB, [[0, 1 * MiB]]);
});
afterAll(() => tmp.cleanup());

/** Runs the failing call in both modes and checks the error and that no destination appeared. */
async function expectBoth(dst: string, call: (mode: 'sync' | 'async') => unknown, expected: Record<string, unknown>) {
  for (const mode of ['sync', 'async'] as const) {
    let error: unknown;
    try {
      await call(mode);
    } catch (e) {
      error = e;
    }
    expect(error, `${mode} did not fail`).toBeDefined();
    expect(error).toMatchObject(expected);
    expect(fs.existsSync(dst), `${mode} left ${dst} behind`).toBe(false);
  }
}

const copyIn = (mode: 'sync' | 'async', s: unknown, d: unknown, o?: unknown) =>
  mode === 'sync' ? bc.copySync(s as string, d as string, o as object) : bc.copy(s as string, d as string, o as object).done;

describe('system errors', () => {
  it('a missing source: ENOENT in Node shape, no destination', async () => {
    const missing = tmp.file('missing');
    const dst = tmp.file('enoent.dst');
    await expectBoth(dst, (m) => copyIn(m, missing, dst), {
      name: 'CopyError',
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
      path: missing,
      dest: dst,
      message: `ENOENT: no such file or directory, open '${missing}'`,
    });
    expect(bc.copySync.bind(null, missing, dst)).toThrow(bc.CopyError);
  });

  it('a directory as source: EISDIR, no destination', async () => {
    const dst = tmp.file('eisdir.dst');
    await expectBoth(dst, (m) => copyIn(m, tmp.dir, dst), { code: 'EISDIR', syscall: 'open', path: tmp.dir });
  });

  it('a destination in a missing folder: ENOENT naming the destination', async () => {
    const dst = tmp.file('no/such/dir/file');
    await expectBoth(dst, (m) => copyIn(m, src, dst), { code: 'ENOENT', path: dst, syscall: 'open' });
  });

  it('overwrite: false refuses an existing destination and leaves it alone', async () => {
    const dst = tmp.file('exists.dst');
    makeDense(dst, 8192);
    const before = sha256(dst);
    for (const mode of ['sync', 'async'] as const) {
      await expect(Promise.resolve().then(() => copyIn(mode, src, dst, { overwrite: false }))).rejects.toMatchObject({
        code: 'EEXIST',
        path: dst,
      });
    }
    expect(sha256(dst)).toBe(before);
    const fresh = tmp.file('fresh.dst');
    await bc.copy(src, fresh, { overwrite: false });
    expect(sha256(fresh)).toBe(sha256(src));
  });

  it('a FIFO at either end is refused at once instead of blocking', async () => {
    const fifo = tmp.file('fifo');
    execFileSync('mkfifo', [fifo]);
    const dst = tmp.file('fifo.dst');
    await expectBoth(dst, (m) => copyIn(m, fifo, dst), { code: 'EINVAL', path: fifo });
    for (const mode of ['sync', 'async'] as const) {
      await expect(Promise.resolve().then(() => copyIn(mode, src, fifo))).rejects.toMatchObject({ code: 'EINVAL', path: fifo });
    }
  });

  it('a dangling symlink as destination: its target is created (as dd and qemu-img do), the link kept', async () => {
    for (const mode of ['sync', 'async'] as const) {
      const link = tmp.file(`dangling-${mode}`);
      const target = tmp.file(`dangling-${mode}.target`);
      fs.symlinkSync(`dangling-${mode}.target`, link); // relative, as most links are
      await copyIn(mode, src, link);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(sha256(target)).toBe(sha256(src));
      // overwrite: false means the name must not exist, and a dangling link is a name.
      const other = tmp.file(`dangling-${mode}-excl`);
      fs.symlinkSync(`${other}.target`, other);
      await expect(Promise.resolve().then(() => copyIn(mode, src, other, { overwrite: false }))).rejects.toMatchObject({ code: 'EEXIST' });
      expect(fs.existsSync(`${other}.target`)).toBe(false);
    }
  });

  // reflink: 'always' between files that cannot share extents fails before a byte lands.
  const tmpFs = spawnSync('stat', ['-f', '-c', '%T', tmp.dir], { encoding: 'utf8' }).stdout.trim();
  const canClone = tmpFs === 'xfs' || tmpFs === 'btrfs';
  it.skipIf(canClone)(`a copy through a dangling symlink that fails before writing removes the file it created, not the link (${tmpFs})`, async () => {
    const link = tmp.file('dangling-fail');
    const target = tmp.file('dangling-fail.target');
    fs.symlinkSync(target, link);
    await expectBoth(target, (m) => copyIn(m, src, link, { reflink: 'always' }), { code: 'ENOTSUP' });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('the same file under another name, at the same offset, is refused', async () => {
    const f = tmp.file('same');
    makeDense(f, 1 * MiB);
    const link = tmp.file('same-link');
    fs.linkSync(f, link);
    const before = sha256(f);
    for (const mode of ['sync', 'async'] as const) {
      await expect(Promise.resolve().then(() => copyIn(mode, f, link))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    }
    expect(sha256(f)).toBe(before);
  });
});

describe('ranges checked against the source', () => {
  it('srcOffset past the end: ERR_OUT_OF_RANGE, no destination', async () => {
    const dst = tmp.file('past.dst');
    await expectBoth(dst, (m) => copyIn(m, src, dst, { srcOffset: 4 * MiB + 1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  });

  it('srcOffset + length past the end: ERR_OUT_OF_RANGE, no destination', async () => {
    const dst = tmp.file('past2.dst');
    await expectBoth(dst, (m) => copyIn(m, src, dst, { srcOffset: 1 * MiB, length: 3 * MiB + 1 }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('a range that does not fit in dstSize: ERR_OUT_OF_RANGE, no destination', async () => {
    const dst = tmp.file('dstsize.dst');
    await expectBoth(dst, (m) => copyIn(m, src, dst, { dstOffset: 1 * MiB, dstSize: 4 * MiB }), { code: 'ERR_OUT_OF_RANGE' });
  });
});

describe('bad arguments throw synchronously, before any I/O', () => {
  const cases: Array<[string, unknown, unknown, unknown, string]> = [
    ['src of the wrong type', {}, 'd', undefined, 'ERR_INVALID_ARG_TYPE'],
    ['an empty src path', '', 'd', undefined, 'ERR_INVALID_ARG_VALUE'],
    ['a path with a null byte', 'a\0b', 'd', undefined, 'ERR_INVALID_ARG_VALUE'],
    ['a negative fd', -1, 'd', undefined, 'ERR_OUT_OF_RANGE'],
    ['dst of the wrong type', 's', null, undefined, 'ERR_INVALID_ARG_TYPE'],
    ['options not an object', 's', 'd', 'fast', 'ERR_INVALID_ARG_TYPE'],
    ['srcOffset as a string', 's', 'd', { srcOffset: '1' }, 'ERR_INVALID_ARG_TYPE'],
    ['a negative dstOffset', 's', 'd', { dstOffset: -1 }, 'ERR_OUT_OF_RANGE'],
    ['a fractional length', 's', 'd', { length: 1.5 }, 'ERR_OUT_OF_RANGE'],
    ['a length beyond 2^53', 's', 'd', { length: 2 ** 53 }, 'ERR_OUT_OF_RANGE'],
    ['offset + length beyond 2^53', 's', 'd', { dstOffset: 2 ** 52, length: 2 ** 52 }, 'ERR_OUT_OF_RANGE'],
    ['an unknown sparse mode', 's', 'd', { sparse: 'sometimes' }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown fsync mode', 's', 'd', { fsync: true }, 'ERR_INVALID_ARG_TYPE'],
    ['a block size too small', 's', 'd', { blockSize: 512 }, 'ERR_OUT_OF_RANGE'],
    ['a block size not a multiple of 4 KiB', 's', 'd', { blockSize: 6000 }, 'ERR_INVALID_ARG_VALUE'],
    ['truncate that is not a boolean', 's', 'd', { truncate: 1 }, 'ERR_INVALID_ARG_TYPE'],
    ['truncate together with dstSize', 's', 'd', { truncate: true, dstSize: 10 }, 'ERR_INVALID_ARG_VALUE'],
    ['a signal that is not an AbortSignal', 's', 'd', { signal: {} }, 'ERR_INVALID_ARG_TYPE'],
    ['onProgress that is not a function', 's', 'd', { onProgress: 1 }, 'ERR_INVALID_ARG_TYPE'],
    ['a negative bandwidth', 's', 'd', { bandwidth: -5 }, 'ERR_OUT_OF_RANGE'],
    ['a progressInterval that is not a number', 's', 'd', { progressInterval: '1s' }, 'ERR_INVALID_ARG_TYPE'],
    ['the same path at the same offset', 'same', 'same', undefined, 'ERR_INVALID_ARG_VALUE'],
  ];

  it.each(cases)('%s', (_name, s, d, o, code) => {
    const dst = typeof d === 'string' ? tmp.file(d) : d;
    const source = typeof s === 'string' && s.length > 0 && !s.includes('\0') ? tmp.file(s) : s;
    const before = fs.readdirSync(tmp.dir).sort();
    for (const call of [bc.copy, bc.copySync]) {
      let thrown: unknown;
      try {
        call(source as string, dst as string, o as object);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toMatchObject({ code });
      expect((thrown as Error).name).toBe(code === 'ERR_OUT_OF_RANGE' ? 'RangeError' : 'TypeError');
    }
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(before);
  });

  it('extents() checks its arguments the same way and reports ENOENT', async () => {
    expect(() => bc.extentsSync({} as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => bc.extentsSync(src, { offset: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    await expect(bc.extents(tmp.file('nothing'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect(() => bc.extentsSync(src, { offset: 5 * MiB })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});
