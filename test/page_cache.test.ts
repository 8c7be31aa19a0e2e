// A copy keeps out of the page cache (native/engine/page_cache.h): a flushed
// destination leaves it as it is written, a source that was not cached is
// dropped once read, and a source that was cached stays cached. Measured with
// fincore (util-linux), before any hashing reads the files back in.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, bc, dropCache, makeDense, MiB, readAt, scratch, sha256, socketPair } from './helpers';

const tmp = scratch('page-cache');
afterAll(() => tmp.cleanup());

// Larger than what may be under writeback at once (32 MiB) plus a window, so
// a copy that kept its pages would show them.
const SIZE = 96 * MiB + 12345;
// What may stay: a partly written page or two at the ends, and the kernel's rounding.
const LEFT = 8 * MiB;

function cachedBytes(file: string): number {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fincore ${file}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function warm(file: string): void {
  readAt(file, 0, fs.statSync(file).size);
}

const src = tmp.file('src');
makeDense(src, SIZE);
const srcHash = sha256(src);

describe.each(BACKENDS.flatMap((backend) => [1, 128].map((queueDepth) => [backend, queueDepth] as const)))(
  'backend %s, depth %i',
  (backend, queueDepth) => {
    it('a flushed copy from a cold source leaves neither file in the cache, and the bytes are exact', async () => {
      const dst = tmp.file(`cold-${backend}-${queueDepth}`);
      dropCache(src);
      expect(cachedBytes(src)).toBeLessThan(LEFT);
      await bc.copy(src, dst, { backend, queueDepth, fsync: 'full' }).done;
      expect(cachedBytes(dst)).toBeLessThan(LEFT);
      expect(cachedBytes(src)).toBeLessThan(LEFT);
      expect(sha256(dst)).toBe(srcHash);
      fs.rmSync(dst);
    });

    it('a source that was cached before stays cached', async () => {
      const dst = tmp.file(`warm-${backend}-${queueDepth}`);
      warm(src);
      expect(cachedBytes(src)).toBeGreaterThan(SIZE - LEFT);
      await bc.copy(src, dst, { backend, queueDepth, fsync: 'full' }).done;
      expect(cachedBytes(src)).toBeGreaterThan(SIZE - LEFT);
      expect(cachedBytes(dst)).toBeLessThan(LEFT);
      expect(sha256(dst)).toBe(srcHash);
      fs.rmSync(dst);
    });
  },
);

describe('what is not dropped, and other writers', () => {
  it('an unflushed copy leaves its destination to the kernel, as cp does (the source still leaves)', async () => {
    const dst = tmp.file('unflushed');
    dropCache(src);
    await bc.copy(src, dst).done;
    expect(cachedBytes(dst)).toBeGreaterThan(SIZE - LEFT);
    expect(cachedBytes(src)).toBeLessThan(LEFT);
    expect(sha256(dst)).toBe(srcHash);
    fs.rmSync(dst);
  });

  it('only the part of the source the job read is dropped', async () => {
    const dst = tmp.file('part');
    dropCache(src);
    // Someone else has the ends cached (apart from the middle by more than the
    // kernel reads ahead); the job copies the uncached middle.
    readAt(src, 0, 24 * MiB);
    readAt(src, 88 * MiB, SIZE - 88 * MiB);
    const before = cachedBytes(src); // the ends, and what the kernel read ahead of them
    expect(before).toBeGreaterThan(24 * MiB);
    await bc.copy(src, dst, { srcOffset: 40 * MiB, length: 40 * MiB, fsync: 'full' }).done;
    // Kept its 40 MiB: about before + 40 MiB; dropped the ends too: about 0.
    expect(Math.abs(cachedBytes(src) - before)).toBeLessThan(LEFT);
    expect(sha256(dst)).toBe(sha256(src, 40 * MiB, 40 * MiB));
  });

  it('an image sent from a cold file and received with fsync leaves neither in the cache', async () => {
    const dst = tmp.file('received');
    dropCache(src);
    const { client, server, close } = await socketPair();
    try {
      await Promise.all([bc.send(src, client).done, bc.receive(server, dst, { fsync: 'full' }).done]);
    } finally {
      close();
    }
    expect(cachedBytes(dst)).toBeLessThan(LEFT);
    expect(cachedBytes(src)).toBeLessThan(LEFT);
    expect(sha256(dst)).toBe(srcHash);
  });

  it('an image sent from a cached file stays cached', async () => {
    warm(src);
    const { client, server, close } = await socketPair();
    try {
      await Promise.all([bc.send(src, client).done, bc.receive(server, tmp.file('received-warm')).done]);
    } finally {
      close();
    }
    expect(cachedBytes(src)).toBeGreaterThan(SIZE - LEFT);
  });
});
