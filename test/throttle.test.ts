// Bandwidth: the token bucket's accuracy under every data path, and a live change.
// These are the only timed tests in the suite; the limits they check are the
// contract (within 5% over 5 s or more), not the machine's speed.
import { afterAll, describe, expect, it } from 'vitest';
import type { CopyJob, Progress } from '../dist/index';
import { bc, ioUringDisabled, makeDense, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('throttle');
afterAll(() => tmp.cleanup());

/** The median rate over windows of at least 1 s between [elapsedMs, bytesDone] samples. */
function steadyRate(samples: Array<[ms: number, bytes: number]>): number {
  const rates: number[] = [];
  for (let i = 0, j = 0; i < samples.length; i++) {
    while (j < samples.length && samples[j]![0] - samples[i]![0] < 1000) j++;
    if (j === samples.length) break;
    rates.push(((samples[j]![1] - samples[i]![1]) * 1000) / (samples[j]![0] - samples[i]![0]));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] ?? NaN;
}

describe('bandwidth', () => {
  it('holds the limit within 5% over a copy of 5.5 s, on every data path at once', async () => {
    const rate = 8 * MiB;
    const size = 44 * MiB; // 5.5 s at the limit
    const src = tmp.file('accuracy.src');
    makeDense(src, size);
    const backends = ioUringDisabled ? (['pread', 'copy_file_range'] as const) : (['pread', 'io_uring', 'copy_file_range'] as const);
    const runs = backends.map(async (backend) => {
      const started = performance.now();
      const shown: Progress[] = [];
      const result = await bc.copy(src, tmp.file(`accuracy-${backend}.dst`), { backend, bandwidth: rate, progressInterval: 100, onProgress: (p) => void shown.push(p) });
      return { backend, seconds: (performance.now() - started) / 1000, result, shown };
    });
    for (const { backend, seconds, result, shown } of await Promise.all(runs)) {
      // The smoothed rate a bar shows never claims more than the limit lets
      // through, also early on (the start's burst once read 7% over at 2.5 s).
      const early = shown.filter((p) => p.elapsedMs >= 1000 && p.elapsedMs < 4000);
      expect(early.length).toBeGreaterThan(10);
      for (const p of early) expect(p.rate / rate, `${backend} showed ${(p.rate / MiB).toFixed(2)} MiB/s at ${p.elapsedMs} ms`).toBeLessThan(1.05);
      expect(result.backend).toBe(backend);
      const ideal = size / rate;
      // Above: a slow limit. Below: a burst the bucket let through.
      expect(seconds, `${backend} took ${seconds.toFixed(3)} s, ideal ${ideal} s`).toBeGreaterThan(ideal * 0.95);
      expect(seconds, `${backend} took ${seconds.toFixed(3)} s, ideal ${ideal} s`).toBeLessThan(ideal * 1.05);
      expect(Math.abs(result.rate - rate) / rate).toBeLessThan(0.05);
      expect(sha256(tmp.file(`accuracy-${backend}.dst`))).toBe(sha256(src));
    }
  });

  it('the first bytes move at once and the rate holds from the first second, on every path and depth', async () => {
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
    // Each report is a snapshot taken as this thread handles it: bytesDone and elapsedMs of one
    // moment on the job's own clock (which starts with the job, as its throttle does), so a
    // report handled late on a busy loop is no late byte (the first one's arrival, 0.516 s, was
    // this test's failure). Seconds against the limit, not a share of the time so far.
    const runs = paths.map(async (options, i) => {
      const job = bc.copy(src, tmp.file(`smooth-${i}.dst`), { ...options, bandwidth: rate, progressInterval: 10 });
      const samples: Array<[ms: number, bytes: number]> = [];
      job.on('progress', (p) => p.bytesDone < p.bytesTotal && samples.push([p.elapsedMs, p.bytesDone])); // done: a later snapshot only adds time
      const result = await job;
      samples.push([result.elapsedMs, result.bytesDone]);
      const ahead = Math.max(...samples.map(([ms, bytes]) => bytes / rate - ms / 1000));
      const first = samples.find(([, bytes]) => bytes > 0)!;
      return { options, ahead, late: first[0] / 1000 - first[1] / rate, steady: steadyRate(samples) };
    });
    for (const { options, ahead, late, steady } of await Promise.all(runs)) {
      const what = JSON.stringify(options);
      // The bucket lets through 100 ms of unused allowance and the request that draws it (up
      // to 1 MiB, 0.125 s here): no more, whatever the depth. A burst of a queue of 128, or
      // twice the rate for 3 s, is seconds ahead. Load only ever slows a job: no room for it.
      expect(ahead, `${what}: ${ahead.toFixed(3)} s ahead of the limit`).toBeLessThan(0.3);
      // Drawing for a whole queue before the first read started these 2 s and more late; the
      // setup before it (a depth of 128 registers its buffers) took up to 0.65 s on a busy machine.
      expect(late, `${what}: first bytes ${late.toFixed(3)} s late`).toBeLessThan(1.5);
      // While it runs, the rate is the limit: the median over 1 s windows, so that stalls of
      // the disk or of this shared CPU (made up only within 100 ms) do not count, while half
      // or twice the rate does. Measured: within 2% with a load of 5 on 2 cores and two `yes`
      // on top, where the bytes behind the limit reached 1.2 s.
      expect(Math.abs(steady / rate - 1), `${what}: ${(steady / MiB).toFixed(2)} MiB/s while running`).toBeLessThan(0.1);
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
