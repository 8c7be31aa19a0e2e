// Faults the system throws at a copy: a filesystem that fills up mid-copy,
// under every backend. (Root only: the test mounts a small tmpfs.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CopyError } from '../dist/index';
import { BACKENDS, bc, isRoot, makeSparse, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('faults');
const full = path.join(tmp.dir, 'full');
let mounted = false;

beforeAll(() => {
  if (!isRoot) return;
  fs.mkdirSync(full);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', full]);
    mounted = true;
  } catch (e) {
    console.warn(`faults: could not mount a small tmpfs (${(e as Error).message.split('\n')[0]}); ENOSPC tests skipped`);
  }
});
afterAll(() => {
  if (mounted) execFileSync('umount', [full]);
  tmp.cleanup();
});
if (!isRoot) console.warn('faults: ENOSPC tests skipped: they need root to mount a small tmpfs');

describe.each(BACKENDS)('a full filesystem, backend %s', (backend) => {
  it('fails with ENOSPC, an exact resumeOffset and the prefix in place', async (ctx) => {
    if (!mounted) return ctx.skip();
    const src = tmp.file(`enospc-${backend}.src`);
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]]);
    const dst = path.join(full, `${backend}.dst`);
    try {
      const error = (await bc.copy(src, dst, { backend, blockSize: 256 * 1024 }).done.catch((e: unknown) => e)) as CopyError;
      expect(error).toBeInstanceOf(bc.CopyError);
      expect(error).toMatchObject({ code: 'ENOSPC', path: dst, dest: dst });
      expect(['write', 'copy_file_range', 'fallocate']).toContain(error.syscall);
      // Every byte below resumeOffset made it; the filesystem holds at most 6 MiB.
      expect(error.resumeOffset).toBeGreaterThan(0);
      expect(error.resumeOffset).toBeLessThanOrEqual(6 * MiB);
      expect(error.bytesWritten).toBeGreaterThanOrEqual(error.resumeOffset);
      expect(sha256(dst, 0, error.resumeOffset)).toBe(sha256(src, 0, error.resumeOffset));
    } finally {
      fs.rmSync(dst, { force: true });
    }
  });
});
