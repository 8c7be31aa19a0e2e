// Job control: CopyQueue's limit and order, one job per destination range
// (EBUSY), cancel of queued jobs, failures, and many jobs at once.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { CopyError, CopyJob } from '../dist/index';
import { bc, makeDense, makeSparse, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('queue');
afterAll(() => tmp.cleanup());

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function refusal(fn: () => unknown): CopyError {
  try {
    fn();
  } catch (error) {
    return error as CopyError;
  }
  throw new Error('expected a refusal');
}

describe('CopyQueue', () => {
  it('never runs more than `concurrency` jobs; 50 jobs start in order and all arrive byte-exact', async () => {
    const src = tmp.file('fifty.src');
    makeSparse(src, 2 * MiB, [[0, 1 * MiB]]);
    const queue = new bc.CopyQueue({ concurrency: 4 });
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    queue.on('started', (job) => {
      running++;
      peak = Math.max(peak, running);
      started.push(job.id);
      expect(queue.jobs().filter((j) => j.status === 'running').length).toBeLessThanOrEqual(4);
    });
    queue.on('ended', () => running--);
    // Throttled so that jobs overlap in time and the limit is really tested.
    const jobs: CopyJob[] = [];
    for (let i = 0; i < 50; i++) jobs.push(queue.add(src, tmp.file(`fifty-${i}.dst`), { bandwidth: 32 * MiB, blockSize: 256 * 1024 }));
    expect(jobs.filter((j) => j.status === 'running')).toHaveLength(4);
    expect(jobs.filter((j) => j.status === 'queued')).toHaveLength(46);
    expect(queue.jobs().map((j) => j.id)).toEqual(jobs.map((j) => j.id)); // running first, then queued: here the same order
    await queue.idle();
    expect(peak).toBe(4);
    expect(running).toBe(0);
    expect(started).toEqual(jobs.map((j) => j.id));
    expect(queue.jobs()).toEqual([]);
    const want = sha256(src);
    for (let i = 0; i < 50; i++) {
      expect(jobs[i].status).toBe('completed');
      expect(sha256(tmp.file(`fifty-${i}.dst`))).toBe(want);
    }
  });

  it('idle() resolves at once on an empty queue, and the default concurrency is 4', async () => {
    const queue = new bc.CopyQueue();
    expect(queue.concurrency).toBe(4);
    await queue.idle();
  });

  it('rejects a bad concurrency with Node codes', () => {
    expect(() => new bc.CopyQueue({ concurrency: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new bc.CopyQueue({ concurrency: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new bc.CopyQueue({ concurrency: '2' as unknown as number })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('a failed job emits failed with its CopyError and the queue moves on to the next', async () => {
    const src = tmp.file('after-fail.src');
    makeDense(src, 1 * MiB);
    const queue = new bc.CopyQueue({ concurrency: 1 });
    const events: string[] = [];
    let failure: CopyError | undefined;
    queue.on('failed', (job, error) => {
      events.push(`failed ${job.id}`);
      failure = error as CopyError;
    });
    queue.on('completed', (job) => events.push(`completed ${job.id}`));
    const bad = queue.add(tmp.file('missing.src'), tmp.file('after-fail-1.dst'));
    const good = queue.add(src, tmp.file('after-fail-2.dst'));
    expect(good.status).toBe('queued');
    await queue.idle();
    expect(events).toEqual([`failed ${bad.id}`, `completed ${good.id}`]);
    expect(bad.status).toBe('failed');
    expect(failure?.code).toBe('ENOENT');
    expect(failure?.resumeOffset).toBe(0);
    expect(fs.existsSync(tmp.file('after-fail-1.dst'))).toBe(false);
    expect(sha256(tmp.file('after-fail-2.dst'))).toBe(sha256(src));
  });

  it('cancelling a queued job removes it without touching its destination; the others run', async () => {
    const src = tmp.file('cancel-queued.src');
    makeDense(src, 4 * MiB);
    const queue = new bc.CopyQueue({ concurrency: 1 });
    const first = queue.add(src, tmp.file('cq-1.dst'), { bandwidth: 16 * MiB });
    const second = queue.add(src, tmp.file('cq-2.dst'));
    const third = queue.add(src, tmp.file('cq-3.dst'));
    const cancelledEvents: number[] = [];
    queue.on('cancelled', (job, error) => {
      expect(error.code).toBe('ABORT_ERR');
      cancelledEvents.push(job.id);
    });
    await second.cancel();
    expect(second.status).toBe('cancelled');
    expect(first.status).toBe('running');
    expect(queue.jobs().map((j) => j.id)).toEqual([first.id, third.id]);
    const error = await second.done.catch((e: unknown) => e as { code: string; resumeOffset: number; bytesWritten: number });
    expect(error).toMatchObject({ code: 'ABORT_ERR', resumeOffset: 0, bytesWritten: 0 });
    await second.cancel(); // twice: harmless
    await queue.idle();
    expect(cancelledEvents).toEqual([second.id]);
    expect(fs.existsSync(tmp.file('cq-2.dst'))).toBe(false);
    expect(sha256(tmp.file('cq-1.dst'))).toBe(sha256(src));
    expect(sha256(tmp.file('cq-3.dst'))).toBe(sha256(src));
    expect(third.status).toBe('completed');
  });

  it('an AbortSignal aborted while a job waits cancels it before it starts', async () => {
    const src = tmp.file('signal-queued.src');
    makeDense(src, 2 * MiB);
    const queue = new bc.CopyQueue({ concurrency: 1 });
    const ac = new AbortController();
    const first = queue.add(src, tmp.file('sq-1.dst'), { bandwidth: 16 * MiB });
    const second = queue.add(src, tmp.file('sq-2.dst'), { signal: ac.signal });
    ac.abort(new Error('host is going down'));
    const error = await second.done.catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'ABORT_ERR' });
    expect((error.cause as Error).message).toBe('host is going down');
    await first;
    expect(fs.existsSync(tmp.file('sq-2.dst'))).toBe(false);
  });

  it('an emergency evacuation: one loop of add() over 100 images never exceeds the limit', async () => {
    const src = tmp.file('evacuate.src');
    makeSparse(src, 8 * MiB, [[0, 256 * 1024], [4 * MiB, 256 * 1024]]);
    const queue = new bc.CopyQueue({ concurrency: 3 });
    let running = 0;
    let peak = 0;
    queue.on('started', () => (peak = Math.max(peak, ++running)));
    queue.on('ended', () => running--);
    const jobs = Array.from({ length: 100 }, (_, i) => queue.add(src, tmp.file(`evacuate-${i}.dst`)));
    const results = await Promise.all(jobs);
    await queue.idle();
    expect(peak).toBeLessThanOrEqual(3);
    expect(results.every((r) => r.bytesDone === 512 * 1024)).toBe(true);
    expect(sha256(tmp.file('evacuate-99.dst'))).toBe(sha256(src));
  });
});

describe('async iteration', () => {
  it('follows a queued job from its start to its end, and throws the error of a failed one', async () => {
    const src = tmp.file('iterate.src');
    makeDense(src, 8 * MiB);
    const queue = new bc.CopyQueue({ concurrency: 1 });
    const first = queue.add(src, tmp.file('iterate-1.dst'), { bandwidth: 32 * MiB });
    const second = queue.add(src, tmp.file('iterate-2.dst'), { bandwidth: 32 * MiB, progressInterval: 20 });
    const seen: number[] = [];
    for await (const p of second) {
      expect(first.status).not.toBe('running'); // second reports only once it runs
      seen.push(p.bytesDone);
    }
    expect(seen.length).toBeGreaterThan(2);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(seen.at(-1)).toBe(8 * MiB);

    const failing = queue.add(tmp.file('no-such.src'), tmp.file('iterate-3.dst'));
    const error = await (async () => {
      for await (const _ of failing);
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'CopyError', code: 'ENOENT', syscall: 'open' });
  });
});

describe('one job per destination range (EBUSY)', () => {
  it('refuses a job whose destination range overlaps a running or queued one, and takes disjoint ranges', async () => {
    const src = tmp.file('busy.src');
    makeDense(src, 8 * MiB);
    const dst = tmp.file('busy.dst');
    const queue = new bc.CopyQueue({ concurrency: 1 });
    const half = { srcOffset: 0, length: 4 * MiB, truncate: false, bandwidth: 16 * MiB };
    const running = queue.add(src, dst, { ...half, dstOffset: 0 });
    const queued = queue.add(src, dst, { ...half, srcOffset: 4 * MiB, dstOffset: 4 * MiB }); // disjoint: fine
    expect(queued.status).toBe('queued');

    // Overlaps the running job's range...
    const e1 = refusal(() => queue.add(src, dst, { ...half, dstOffset: 2 * MiB }));
    expect(e1).toMatchObject({ name: 'CopyError', code: 'EBUSY', errno: -16, syscall: 'copy', path: dst, dest: dst });
    expect(e1.message).toMatch(/^EBUSY: resource busy or locked \(job \d+ is already writing bytes/);
    // ...or the queued one's, through copy() as well, and through another name for the file.
    expect(refusal(() => bc.copy(src, dst, { ...half, dstOffset: 7 * MiB, length: 1 })).code).toBe('EBUSY');
    fs.symlinkSync(dst, tmp.file('busy-link.dst'));
    expect(refusal(() => bc.copy(src, tmp.file('busy-link.dst'), { ...half, dstOffset: 0 })).code).toBe('EBUSY');
    // A whole-file copy truncates, so it collides with any range.
    expect(refusal(() => bc.copySync(src, dst)).code).toBe('EBUSY');
    // Another file is another target.
    const other = bc.copy(src, tmp.file('busy-other.dst'), { ...half, dstOffset: 0 });

    await Promise.all([running, queued, other]);
    expect(sha256(dst)).toBe(sha256(src));
    // Once the jobs have ended, the range is free again.
    await bc.copy(src, dst, { ...half, bandwidth: 0 });
  });

  it('a refused job creates and changes nothing', async () => {
    const src = tmp.file('busy-nothing.src');
    makeDense(src, 4 * MiB);
    const dst = tmp.file('busy-nothing.dst');
    const queue = new bc.CopyQueue({ concurrency: 1 });
    const blocker = queue.add(src, tmp.file('busy-blocker.dst'), { bandwidth: 8 * MiB });
    const waiting = queue.add(src, dst); // queued: dst does not exist yet
    expect(refusal(() => queue.add(src, dst, { dstOffset: 1 * MiB })).code).toBe('EBUSY');
    expect(fs.existsSync(dst)).toBe(false);
    await waiting.cancel();
    await blocker;
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('a job cut short by dstSize claims everything above the new size', async () => {
    const src = tmp.file('busy-size.src');
    makeDense(src, 1 * MiB);
    const dst = tmp.file('busy-size.dst');
    makeDense(dst, 8 * MiB);
    const shrink = bc.copy(src, dst, { dstOffset: 0, dstSize: 2 * MiB, bandwidth: 1 * MiB });
    try {
      expect(refusal(() => bc.copy(src, dst, { dstOffset: 6 * MiB })).code).toBe('EBUSY');
    } finally {
      await shrink.cancel();
    }
  });
});

describe('many jobs at once', () => {
  it('200 concurrent copies arrive byte-exact and leave no file descriptor open', async () => {
    const sources = Array.from({ length: 4 }, (_, i) => {
      const file = tmp.file(`many-${i}.src`);
      makeSparse(file, (i + 1) * 256 * 1024, [[0, (i + 1) * 64 * 1024]]);
      return file;
    });
    // Warm up the addon and io_uring's probe so the count below is steady.
    await bc.copy(sources[0], tmp.file('many-warm.dst'));
    const before = openFds();
    const jobs = Array.from({ length: 200 }, (_, i) => bc.copy(sources[i % 4], tmp.file(`many-${i}.dst`)));
    const results = await Promise.all(jobs);
    expect(results).toHaveLength(200);
    const want = sources.map((s) => sha256(s));
    for (let i = 0; i < 200; i++) expect(sha256(tmp.file(`many-${i}.dst`))).toBe(want[i % 4]);
    expect(openFds()).toBe(before);
  });

  it('1,000 small copies through a CopyQueue: byte-exact, descriptors and memory back where they were', async () => {
    const src = tmp.file('thousand.src');
    makeSparse(src, 256 * 1024, [[0, 64 * 1024], [128 * 1024, 64 * 1024]]);
    const want = sha256(src);
    const queue = new bc.CopyQueue({ concurrency: 8 });
    const round = async (from: number) => {
      const jobs = Array.from({ length: 500 }, (_, i) => queue.add(src, tmp.file(`k-${from + i}.dst`)));
      await queue.idle();
      for (const job of jobs) expect(job.status).toBe('completed');
    };
    await round(0); // warm: buffers, rings, code paths
    const fds = openFds();
    const rss = process.memoryUsage().rss;
    await round(500);
    for (const i of [0, 499, 500, 999]) expect(sha256(tmp.file(`k-${i}.dst`))).toBe(want);
    expect(openFds()).toBe(fds);
    // 500 more jobs left nothing behind: no per-job growth worth a buffer each.
    expect(process.memoryUsage().rss - rss).toBeLessThan(48 * MiB);
    for (let i = 0; i < 1000; i++) fs.rmSync(tmp.file(`k-${i}.dst`));
  });
});
