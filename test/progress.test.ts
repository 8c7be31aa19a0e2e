// Progress reports: rate limited, monotonic, and always ending at the total.
import { afterAll, describe, expect, it } from 'vitest';
import type { Progress } from '../dist/index';
import { BACKENDS, bc, makeSparse, MiB, scratch } from './helpers';

const tmp = scratch('progress');
afterAll(() => tmp.cleanup());

function expectMonotonic(reports: Progress[]): void {
  for (let i = 1; i < reports.length; i++) {
    const a = reports[i - 1]!;
    const b = reports[i]!;
    for (const key of ['bytesDone', 'bytesWritten', 'bytesZeroed', 'bytesSkipped', 'position', 'elapsedMs'] as const) {
      expect(b[key], `${key} went backwards at report ${i}`).toBeGreaterThanOrEqual(a[key]);
    }
    // Mapped a window at a time: the total only falls as holes are found, never below what is done.
    expect(b.bytesTotal, `bytesTotal grew at report ${i}`).toBeLessThanOrEqual(a.bytesTotal);
    expect(b.bytesDone).toBeLessThanOrEqual(b.bytesTotal);
  }
}

function source(name: string): string {
  const src = tmp.file(name);
  makeSparse(src, 96 * MiB, [
    [0, 16 * MiB],
    [40 * MiB, 16 * MiB],
    [90 * MiB, 6 * MiB],
  ]);
  return src;
}

describe.each(BACKENDS)('progress, backend %s', (backend) => {
  it('sync: reports climb and the last one is the total, equal to the result', () => {
    const src = source(`sync-${backend}.src`);
    const reports: Progress[] = [];
    const result = bc.copySync(src, tmp.file(`sync-${backend}.dst`), {
      backend,
      progressInterval: 0,
      blockSize: 1 * MiB,
      onProgress: (p) => {
        reports.push(p);
      },
    });
    // Kernel-side copies move 64 MiB a call, so they report less often.
    expect(reports.length).toBeGreaterThan(backend === 'pread' || backend === 'io_uring' ? 10 : 2);
    expectMonotonic(reports);
    const last = reports.at(-1)!;
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBe(38 * MiB);
    expect(last).toMatchObject({
      bytesDone: result.bytesDone,
      bytesWritten: result.bytesWritten,
      bytesSkipped: result.bytesSkipped,
      position: result.position,
    });
  });

  it('over old data: holes count as zeroed as they go, and written + zeroed + skipped is the length', async () => {
    const src = source(`old-${backend}.src`);
    const dst = tmp.file(`old-${backend}.dst`);
    makeSparse(dst, 64 * MiB, [[0, 64 * MiB]], 0xab); // old data under the first 64 MiB only
    const reports: Progress[] = [];
    const result = await bc.copy(src, dst, { backend, truncate: false, progressInterval: 0, blockSize: 1 * MiB, onProgress: (p) => void reports.push(p) });
    expectMonotonic(reports);
    // The holes at 16-40 and 56-64 MiB lay over old data; 64-90 MiB was past the old end.
    expect(result).toMatchObject({ bytesWritten: 38 * MiB, bytesZeroed: 32 * MiB, bytesSkipped: 26 * MiB, zeroedBy: ['punch_hole'] });
    expect(result.bytesWritten + result.bytesZeroed + result.bytesSkipped).toBe(result.length);
    expect(reports.at(-1)).toMatchObject({ bytesZeroed: 32 * MiB, bytesSkipped: 26 * MiB });
  });

  it('async: reports climb, the last is the total, and it comes before done resolves', async () => {
    const src = source(`async-${backend}.src`);
    const order: string[] = [];
    const reports: Progress[] = [];
    const job = bc.copy(src, tmp.file(`async-${backend}.dst`), { backend, progressInterval: 0, blockSize: 1 * MiB, bandwidth: 200 * MiB });
    job.on('progress', (p) => {
      reports.push(p);
      order.push('progress');
    });
    job.on('completed', () => order.push('completed'));
    const result = await job.done;
    order.push('done');
    expect(reports.length).toBeGreaterThan(2);
    expectMonotonic(reports);
    const last = reports.at(-1)!;
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesDone).toBe(result.bytesDone);
    expect(order.slice(-3)).toEqual(['progress', 'completed', 'done']);
    expect(job.status).toBe('completed');
  });
});

describe('progress', () => {
  it('waits progressDelay before the first report, and still ends with the final one', async () => {
    const src = source('delay.src');
    const sync: Progress[] = [];
    bc.copySync(src, tmp.file('delay-sync.dst'), { progressDelay: 60_000, onProgress: (p) => void sync.push(p) });
    expect(sync.length).toBe(1);
    expect(sync[0]!.bytesDone).toBe(sync[0]!.bytesTotal);

    const async: Progress[] = [];
    const job = bc.copy(src, tmp.file('delay-async.dst'), { progressDelay: 60_000 });
    job.on('progress', (p) => async.push(p));
    await job;
    expect(async.length).toBe(1);
    expect(async[0]!.bytesDone).toBe(async[0]!.bytesTotal);
  });

  it('rate limits reports to progressInterval', async () => {
    const src = source('interval.src');
    const reports: Progress[] = [];
    // About 1.5 s at 25 MiB/s, at most one report per 400 ms plus the final one.
    const job = bc.copy(src, tmp.file('interval.dst'), { bandwidth: 25 * MiB, progressInterval: 400, blockSize: 1 * MiB });
    job.on('progress', (p) => reports.push(p));
    const result = await job;
    const seconds = result.elapsedMs / 1000;
    expect(reports.length).toBeGreaterThanOrEqual(2);
    expect(reports.length).toBeLessThanOrEqual(Math.ceil(seconds / 0.4) + 2);
  });

  it('progress() reads live counters while running and the final figures after', async () => {
    const src = source('poll.src');
    const job = bc.copy(src, tmp.file('poll.dst'), { bandwidth: 40 * MiB, blockSize: 1 * MiB });
    const seen: number[] = [];
    const timer = setInterval(() => seen.push(job.progress().bytesDone), 50);
    const result = await job;
    clearInterval(timer);
    expect(seen.some((v) => v > 0 && v < result.bytesTotal)).toBe(true);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(job.progress().bytesDone).toBe(result.bytesTotal);
  });

  it('can be followed with for await, which ends when the job does', async () => {
    const src = source('iter.src');
    const job = bc.copy(src, tmp.file('iter.dst'), { progressInterval: 10, bandwidth: 100 * MiB });
    const reports: Progress[] = [];
    for await (const p of job) reports.push(p);
    expect(reports.length).toBeGreaterThan(1);
    expectMonotonic(reports);
    expect(reports.at(-1)!.bytesDone).toBe(38 * MiB);
  });

  it.each(BACKENDS)('honours the bandwidth limit and setBandwidth changes it live (%s)', async (backend) => {
    const src = tmp.file(`bw-${backend}.src`);
    makeSparse(src, 24 * MiB, [[0, 24 * MiB]]);
    const start = Date.now();
    const job = bc.copy(src, tmp.file(`bw-${backend}.dst`), { backend, bandwidth: 8 * MiB, blockSize: 1 * MiB, queueDepth: 4 });
    // The first 8 MiB at 8 MiB/s take about a second; then lift the limit.
    await new Promise((r) => setTimeout(r, 1000));
    const doneAtLift = job.progress().bytesDone;
    job.setBandwidth(0);
    await job;
    const elapsed = Date.now() - start;
    expect(doneAtLift).toBeLessThanOrEqual(10 * MiB);
    expect(elapsed).toBeLessThan(2500); // unthrottled, the remaining 16 MiB are quick
    expect(() => job.setBandwidth(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('keeps etaSeconds null until the estimate has settled, then predicts the finish', async () => {
    const src = tmp.file('eta.src');
    makeSparse(src, 12 * MiB, [[0, 12 * MiB]]);
    const reports: Array<{ at: number; p: Progress }> = [];
    const started = performance.now();
    const job = bc.copy(src, tmp.file('eta.dst'), { bandwidth: 4 * MiB, blockSize: 256 * 1024, progressInterval: 100 });
    job.on('progress', (p) => reports.push({ at: performance.now(), p }));
    const result = await job;
    const finished = (performance.now() - started) / 1000;
    // The first reports come before several samples could agree.
    expect(reports[0]!.p.etaSeconds).toBeNull();
    const firstEta = reports.findIndex((r) => r.p.etaSeconds !== null && r.p.bytesDone < r.p.bytesTotal);
    expect(firstEta).toBeGreaterThan(0);
    // Once shown, it tells the real finish within a second (a throttled copy is steady).
    for (const { at, p } of reports.slice(firstEta, -1)) {
      if (p.etaSeconds === null) continue;
      const predicted = (at - started) / 1000 + p.etaSeconds;
      expect(Math.abs(predicted - finished)).toBeLessThan(1);
    }
    expect(result.etaSeconds).toBe(0);
  });

  it('coalesces reports while JS is busy: a slow listener gets the latest, never a backlog', async () => {
    const src = tmp.file('coalesce.src');
    makeSparse(src, 24 * MiB, [[0, 24 * MiB]]);
    const job = bc.copy(src, tmp.file('coalesce.dst'), { bandwidth: 16 * MiB, blockSize: 64 * 1024, progressInterval: 1 });
    const reports: Progress[] = [];
    let busyMs = 0;
    job.on('progress', (p) => {
      reports.push(p);
      const until = performance.now() + 100; // a listener that blocks the loop
      while (performance.now() < until);
      busyMs += 100;
    });
    const result = await job;
    const after = reports.length;
    await new Promise((r) => setTimeout(r, 300));
    // About 1.5 s of copy with a report asked for every millisecond, but each
    // listener call holds the loop 100 ms: a queue would deliver hundreds.
    expect(reports.length).toBeLessThanOrEqual(Math.ceil(result.elapsedMs / 100) + 3);
    expect(reports.length).toBe(after); // nothing left queued after the end
    expectMonotonic(reports);
    expect(reports.at(-1)!.bytesDone).toBe(24 * MiB);
    expect(busyMs).toBeGreaterThan(0);
  });
});
