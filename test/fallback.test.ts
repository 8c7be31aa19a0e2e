// With io_uring unavailable (forced off here), 'auto' falls back quietly and
// asking for io_uring by name is a clear error.
import { afterAll, describe, expect, it } from 'vitest';
import { bc, ioUringDisabled, makeSparse, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('fallback');
afterAll(() => tmp.cleanup());

describe.skipIf(!ioUringDisabled)('io_uring refused', () => {
  const src = tmp.file('src');
  makeSparse(src, 4 * MiB, [[0, 2 * MiB]]);

  it("backend 'io_uring' fails with a CopyError that says why, creating nothing", async () => {
    const dst = tmp.file('uring.dst');
    await expect(bc.copy(src, dst, { backend: 'io_uring' }).done).rejects.toMatchObject({
      name: 'CopyError',
      syscall: 'io_uring_setup',
      message: expect.stringContaining('io_uring is not available'),
    });
    await expect(import('node:fs').then((fs) => fs.existsSync(dst))).resolves.toBe(false);
  });

  it("backend 'auto' falls back to pread where it needs user space", () => {
    const dst = tmp.file('auto.dst');
    const r = bc.copySync(src, dst, { sparse: 'always' });
    expect(r.backend).toBe('pread');
    expect(sha256(dst)).toBe(sha256(src));
  });
});

describe.skipIf(ioUringDisabled)('io_uring allowed', () => {
  it("backend 'auto' uses io_uring where it needs user space", () => {
    const src = tmp.file('src2');
    makeSparse(src, 4 * MiB, [[0, 2 * MiB]]);
    expect(bc.copySync(src, tmp.file('auto2.dst'), { sparse: 'always' }).backend).toBe('io_uring');
  });
});
