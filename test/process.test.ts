// How a running copy sits in a Node process: off the event loop, off libuv's
// thread pool, keeping the process alive only while it runs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allocated, makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('process');
afterAll(() => tmp.cleanup());
const fixture = (name: string) => path.join(ROOT, 'test', 'fixtures', name);

describe('in a process', () => {
  it('a 1 GiB copy leaves the event loop and the thread pool free (UV_THREADPOOL_SIZE=1)', () => {
    const src = tmp.file('big.src');
    makeSparse(src, 1024 * MiB, [[0, 1024 * MiB]], 0x3c);
    const dst = tmp.file('big.dst');
    const r = runNode([fixture('responsive.cjs'), src, dst], { UV_THREADPOOL_SIZE: '1' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const m = JSON.parse(r.stdout) as { maxLagMs: number; reads: number; slowestReadMs: number; copyMs: number; bytes: number };
    expect(m.bytes).toBe(1024 * MiB);
    // A copy on the thread pool would hold its only thread: no readFile would finish meanwhile.
    expect(m.reads).toBeGreaterThan(10);
    expect(m.slowestReadMs).toBeLessThan(Math.max(500, m.copyMs / 4));
    expect(m.maxLagMs).toBeLessThan(300);
    expect(sha256(dst)).toBe(sha256(src));
    fs.rmSync(src);
    fs.rmSync(dst);
  });

  it('a running copy keeps the process alive, and the process exits promptly once it ends', async () => {
    const src = tmp.file('alive.src');
    makeSparse(src, 24 * MiB, [[0, 24 * MiB]]);
    const dst = tmp.file('alive.dst');
    // About one second at 24 MiB/s, with nothing else holding the process open.
    const child = spawn(process.execPath, [fixture('exit-after-copy.cjs'), src, dst, String(24 * MiB)], { cwd: ROOT });
    let stdout = '';
    let completedAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!completedAt && stdout.includes('completed')) completedAt = Date.now();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const exitedAt = Date.now();
    expect(code).toBe(0);
    expect(stdout).toMatch(/^completed 25165824 \d+\n$/);
    expect(completedAt).toBeGreaterThan(0);
    expect(exitedAt - completedAt).toBeLessThan(1000);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('terminating a worker thread with copies running and queued: no crash, no write afterwards', () => {
    const src = tmp.file('teardown.src');
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]]);
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'worker-'));
    const r = runNode([fixture('teardown.cjs'), 'worker', src, dir]);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const seen = JSON.parse(r.stdout) as { code: number; atTerminate: Array<[string, number]>; later: Array<[string, number]> };
    expect(seen.code).toBe(1); // worker.terminate() resolves with exit code 1
    expect(seen.later).toEqual(seen.atTerminate);
    // Two queue jobs and the plain copy had started; the two queued ones never touched a file.
    const names = seen.later.map(([f]) => f).sort();
    expect(names).toEqual(['job-0.dst', 'job-1.dst', 'plain.dst']);
    for (const [, size] of seen.later) expect(size).toBeLessThan(16 * MiB);
  });

  it('terminating worker threads with streams, transfers and extent queries in flight: no crash, no hang', () => {
    const src = tmp.file('teardown-streams.src');
    makeSparse(src, 32 * MiB, [[0, 8 * MiB], [16 * MiB, 8 * MiB]]);
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'streams-'));
    const r = runNode([fixture('teardown_streams.cjs'), 'worker', src, dir, '20']);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('20');
  });

  it('process.exit() with streams, transfers and extent queries in flight exits with its code, no crash', () => {
    const src = tmp.file('exit-streams.src');
    makeSparse(src, 32 * MiB, [[0, 8 * MiB], [16 * MiB, 8 * MiB]]);
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'exit-streams-'));
    for (const at of [1, 15, 60]) {
      const r = runNode([fixture('teardown_streams.cjs'), 'exit', src, dir, String(at)]);
      expect(r.stderr).toBe('');
      expect(r.signal).toBeNull();
      expect(r.status).toBe(7);
    }
  });

  it('process.exit() with copies running and queued exits at once with its code, no crash', () => {
    const src = tmp.file('exit.src');
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]]);
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'exit-'));
    const started = Date.now();
    const r = runNode([fixture('teardown.cjs'), 'exit', src, dir]);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(7);
    expect(Date.now() - started).toBeLessThan(5000); // not after the 2 s the copies would need
    // Allocated bytes, not sizes: a destination gets its size before the first write.
    const sizes = fs.readdirSync(dir).map((f) => [f, allocated(path.join(dir, f))] as const);
    expect(sizes.map(([f]) => f).sort()).toEqual(['job-0.dst', 'job-1.dst', 'plain.dst']);
    for (const [, size] of sizes) expect(size).toBeLessThan(16 * MiB);
  });
});

describe('an exception thrown by a listener', () => {
  const src = tmp.file('listener.src');
  makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
  const DIST = JSON.stringify(path.join(ROOT, 'dist', 'index.js'));

  /** Runs `body` in a child with `bc`, `src` and `dst` in scope. */
  function child(body: string, dst: string) {
    return runNode(['-e', `const bc = require(${DIST}); const src = ${JSON.stringify(src)}; const dst = ${JSON.stringify(dst)};\n${body}`]);
  }

  it.each([
    ['a CopyJob progress listener', `const job = bc.copy(src, dst, { bandwidth: 32 * 2 ** 20 }); job.on('progress', () => { throw new Error('listener boom'); });`],
    ['a CopyJob completed listener', `bc.copy(src, dst).on('completed', () => { throw new Error('listener boom'); });`],
    ['a copy() onProgress callback', `bc.copy(src, dst, { onProgress: () => { throw new Error('listener boom'); } });`],
    ['a CopyQueue started listener', `const q = new bc.CopyQueue(); q.on('started', () => { throw new Error('listener boom'); }); q.add(src, dst);`],
    [
      'a TransferJob progress listener',
      `const pipe = new (require('node:stream').PassThrough)(); bc.send(src, pipe); bc.receive(pipe, dst, { progressInterval: 0 }).on('progress', () => { throw new Error('listener boom'); });`,
    ],
    ['an extent read stream data listener', `bc.createExtentReadStream(src).on('data', () => { throw new Error('listener boom'); });`],
  ])('%s reaches the process as uncaught, as in any Node callback', (_what, body) => {
    const r = child(body, tmp.file(`uncaught-${_what.replace(/\W+/g, '-')}.dst`));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Error: listener boom/);
    expect(r.stderr).not.toMatch(/DEP0168/);
  });

  it('the job itself is not disturbed: with an uncaughtException handler it completes byte-exact', () => {
    const dst = tmp.file('undisturbed.dst');
    const r = child(
      `let seen = 0; process.on('uncaughtException', () => seen++);
       const queue = new bc.CopyQueue();
       queue.on('completed', () => { throw new Error('queue listener'); });
       const job = queue.add(src, dst, { bandwidth: 32 * 2 ** 20, progressInterval: 20 });
       job.on('progress', () => { throw new Error('progress listener'); });
       queue.idle().then(() => setTimeout(() => console.log(JSON.stringify({ status: job.status, seen })), 50));`,
      dst,
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { status: string; seen: number };
    expect(out.status).toBe('completed');
    expect(out.seen).toBeGreaterThan(1);
    expect(sha256(dst)).toBe(sha256(src));
  });
});
