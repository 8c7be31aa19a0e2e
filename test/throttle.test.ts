// Bandwidth: the token bucket's accuracy under every data path, and a live change.
// These are the only timed tests in the suite; the limits they check are the
// contract (within 5% over 5 s or more), not the machine's speed.
import { afterAll, describe, expect, it } from 'vitest';
import type { CopyJob, Progress } from '../dist/index';
import { bc, ioUringDisabled, makeDense, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('throttle');
afterAll(() => tmp.cleanup());

describe('bandwidth', () => {
  it('holds the limit within 5% over a copy of 5.5 s, on every data path at once', async () => {
    const rate = 8 * MiB;
    const size = 44 * MiB; // 5.5 s at the limit
    const src = tmp.file('accuracy.src');
    makeDense(src, size);
    const backends = ioUringDisabled ? (['pread', 'copy_file_range'] as const) : (['pread', 'io_uring', 'copy_file_range'] as const);
    const runs = backends.map(async (backend) => {
      const started = performance.now();
      const result = await bc.copy(src, tmp.file(`accuracy-${backend}.dst`), { backend, bandwidth: rate });
      return { backend, seconds: (performance.now() - started) / 1000, result };
    });
    for (const { backend, seconds, result } of await Promise.all(runs)) {
      expect(result.backend).toBe(backend);
      const ideal = size / rate;
      // Above: a slow limit. Below: a burst the bucket let through.
      expect(seconds, `${backend} took ${seconds.toFixed(3)} s, ideal ${ideal} s`).toBeGreaterThan(ideal * 0.95);
      expect(seconds, `${backend} took ${seconds.toFixed(3)} s, ideal ${ideal} s`).toBeLessThan(ideal * 1.05);
      expect(Math.abs(result.rate - rate) / rate).toBeLessThan(0.05);
      expect(sha256(tmp.file(`accuracy-${backend}.dst`))).toBe(sha256(src));
    }
  });

  it('the first bytes move at once and the rate holds within 5% from the first second, on every path and depth', async () => {
    const rate = 8 * MiB;
    const size = 24 * MiB; // 3 s at the limit
    const src = tmp.file('smooth.src');
    makeDense(src, size);
    const paths = [
      { backend: 'pread' as const },
      { backend: 'copy_file_range' as const },
      ...(ioUringDisabled
        ? []
        : [
            { backend: 'io_uring' as const, queueDepth: 1 },
            { backend: 'io_uring' as const, queueDepth: 128 },
            { backend: 'io_uring' as const, direct: true }, // depth 64
          ]),
    ];
    const runs = paths.map(async (options, i) => {
      const started = performance.now();
      const job = bc.copy(src, tmp.file(`smooth-${i}.dst`), { ...options, bandwidth: rate, progressInterval: 10 });
      let first = Infinity;
      let over = 0;
      let under = 0;
      job.on('progress', (p) => {
        const seconds = (performance.now() - started) / 1000;
        if (p.bytesDone > 0) first = Math.min(first, seconds);
        if (seconds < 1) return;
        const off = p.bytesDone / (rate * seconds) - 1;
        over = Math.max(over, off);
        under = Math.max(under, -off);
      });
      await job;
      return { options, first, over, under };
    });
    for (const { options, first, over, under } of await Promise.all(runs)) {
      const what = JSON.stringify(options);
      // Drawing for a whole queue before the first read made these 2 s and more.
      expect(first, `${what}: first bytes after ${first.toFixed(3)} s`).toBeLessThan(0.5);
      // Never above the limit: no burst, not even at a depth of 128.
      expect(over, `${what}: ${(over * 100).toFixed(1)}% above the limit after the first second`).toBeLessThan(0.05);
      // Below it only as far as the machine falls behind: a stall of the disk or of this
      // shared CPU is not made up beyond 100 ms (measured here: within 3% when idle, 7% loaded).
      expect(under, `${what}: ${(under * 100).toFixed(1)}% below the limit after the first second`).toBeLessThan(0.25);
    }
  });

  it('setBandwidth() changes the rate of a running job, and 0 lifts the limit', async () => {
    const src = tmp.file('live.src');
    makeDense(src, 64 * MiB);
    const job: CopyJob = bc.copy(src, tmp.file('live.dst'), { bandwidth: 4 * MiB, blockSize: 256 * 1024, progressInterval: 50 });
    const reports: Array<{ at: number; p: Progress }> = [];
    job.on('progress', (p) => reports.push({ at: performance.now(), p }));
    const waitFor = (bytes: number) =>
      new Promise<void>((resolve) => {
        const check = (p: Progress) => {
          if (p.bytesDone >= bytes) {
            job.off('progress', check);
            resolve();
          }
        };
        job.on('progress', check);
      });
    const rateBetween = (from: number, to: number) => {
      const inRange = reports.filter((r) => r.at >= from && r.at <= to);
      const first = inRange[0];
      const last = inRange[inRange.length - 1];
      return ((last.p.bytesDone - first.p.bytesDone) / (last.at - first.at)) * 1000;
    };

    await waitFor(1 * MiB);
    const slowFrom = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const slow = rateBetween(slowFrom, performance.now());
    job.setBandwidth(16 * MiB);
    await new Promise((r) => setTimeout(r, 200)); // let the bucket settle at the new rate
    const fastFrom = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const fast = rateBetween(fastFrom, performance.now());
    job.setBandwidth(0);
    const liftedAt = performance.now();
    const left = job.progress().bytesTotal - job.progress().bytesDone;
    await job;
    const liftedSeconds = (performance.now() - liftedAt) / 1000;

    expect(slow).toBeGreaterThan(4 * MiB * 0.8);
    expect(slow).toBeLessThan(4 * MiB * 1.2);
    expect(fast).toBeGreaterThan(16 * MiB * 0.8);
    expect(fast).toBeLessThan(16 * MiB * 1.2);
    // Unlimited: what was left went at least twice as fast as 16 MiB/s would allow.
    expect(left).toBeGreaterThan(16 * MiB);
    expect(liftedSeconds).toBeLessThan(left / (16 * MiB) / 2);
    expect(sha256(tmp.file('live.dst'))).toBe(sha256(src));
  });

  it('rejects a bad live bandwidth with Node codes', () => {
    const src = tmp.file('bad.src');
    makeDense(src, 1 * MiB);
    const job = bc.copy(src, tmp.file('bad.dst'), { bandwidth: 1 * MiB });
    expect(() => job.setBandwidth(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => job.setBandwidth(Number.NaN)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => job.setBandwidth('1' as unknown as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    return job.cancel();
  });
});
