// copy(..., { verify: true }): the destination range read back and compared
// with the source range. The fault-injection build's silent corruption, which
// verify must catch, is in faults.test.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { Progress } from '../dist/index';
import { BACKENDS, bc, CLI, dropCache, makeSparse, MiB, runNode, scratch, sha256 } from './helpers';
import { hasNbdkit, nbdkit } from './nbd_helpers';

const tmp = scratch('verify');
afterAll(() => tmp.cleanup());

function image(name: string, size = 12 * MiB + 777): string {
  const file = tmp.file(name);
  makeSparse(file, size, [
    [4097, 3 * MiB],
    [6 * MiB + 1, 2 * MiB],
    [size - 100, 100],
  ]);
  return file;
}

describe('verify', () => {
  it.each(BACKENDS)('%s: reads the copy back, reports the verify phase and ends with every byte compared', async (backend) => {
    const src = image(`src-${backend}.img`);
    const dst = tmp.file(`dst-${backend}.img`);
    dropCache(src);
    const reports: Progress[] = [];
    const job = bc.copy(src, dst, { backend, verify: true, progressInterval: 0 });
    job.on('progress', (p) => reports.push(p));
    const r = await job;
    expect(sha256(dst)).toBe(sha256(src));
    expect(r).toMatchObject({ phase: 'verify', bytesVerified: r.length });
    const verifying = reports.filter((p) => p.phase === 'verify');
    expect(verifying.length).toBeGreaterThan(0);
    // Copy reports come first, then the verify ones, whose counter only grows.
    expect(reports.findIndex((p) => p.phase === 'verify')).toBe(reports.length - verifying.length);
    const counts = verifying.map((p) => p.bytesVerified ?? -1);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(r.length);
  });

  it('checks a range between offsets, and leaves the rest of the destination alone', async () => {
    const src = image('range-src.img');
    const dst = tmp.file('range-dst.img');
    makeSparse(dst, 20 * MiB, [[0, 20 * MiB]], 0x5a);
    const before = sha256(dst, 0, MiB + 3);
    const r = await bc.copy(src, dst, { srcOffset: 4000, dstOffset: MiB + 3, length: 5 * MiB + 11, verify: true });
    expect(r.bytesVerified).toBe(5 * MiB + 11);
    expect(sha256(dst, MiB + 3, 5 * MiB + 11)).toBe(sha256(src, 4000, 5 * MiB + 11));
    expect(sha256(dst, 0, MiB + 3)).toBe(before);
  });

  it('copySync verifies too', () => {
    const src = image('sync-src.img');
    const dst = tmp.file('sync-dst.img');
    const r = bc.copySync(src, dst, { verify: true });
    expect(r).toMatchObject({ phase: 'verify', bytesVerified: r.length });
  });

  it('refuses ranges of one file that overlap (the copy overwrites what it would compare), before writing', async () => {
    const file = image('same.img');
    const before = sha256(file);
    await expect(bc.copy(file, file, { srcOffset: 0, dstOffset: MiB, length: 4 * MiB, verify: true })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringMatching(/overlaps its source range/),
    });
    expect(sha256(file)).toBe(before);
    // Ranges that do not overlap are checked as any others.
    const r = await bc.copy(file, file, { srcOffset: 0, dstOffset: 6 * MiB, length: MiB, verify: true });
    expect(r.bytesVerified).toBe(MiB);
  });

  it('a cancel during the verify phase is an AbortError; the copy itself is complete', async () => {
    const src = tmp.file('cancel-src.img');
    makeSparse(src, 512 * MiB, [[0, 512 * MiB]]);
    const dst = tmp.file('cancel-dst.img');
    const job = bc.copy(src, dst, { verify: true, progressInterval: 0 });
    job.on('progress', (p) => {
      if (p.phase === 'verify') void job.cancel({ wait: false });
    });
    const e = await job.then(
      () => undefined,
      (error: Error & { code?: string; resumeOffset?: number }) => error,
    );
    // A fast disk may finish verifying before the report reaches JS.
    if (e === undefined) return;
    expect(e).toMatchObject({ code: 'ABORT_ERR', resumeOffset: 512 * MiB });
    expect(sha256(dst)).toBe(sha256(src));
  });

  it.skipIf(!hasNbdkit)('an NBD destination is read back over NBD', async () => {
    const src = image('nbd-src.img');
    const server = await nbdkit(tmp.dir, ['memory', String(16 * MiB)], 'verify-dst');
    try {
      const r = await bc.copy(src, server.uri, { verify: true });
      expect(r).toMatchObject({ phase: 'verify', bytesVerified: fs.statSync(src).size });
    } finally {
      await server.stop();
    }
  });

  it('CLI --verify says so, and --json carries the phase', () => {
    const src = image('cli-src.img');
    const dst = tmp.file('cli-dst.img');
    const r = runNode([CLI, src, dst, '--verify', '--progress']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/read back from the disk and verified/);
    const j = runNode([CLI, src, tmp.file('cli-json.img'), '--verify', '--json']);
    expect(j.status, j.stderr).toBe(0);
    const result = JSON.parse(j.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({ type: 'result', phase: 'verify', bytesVerified: fs.statSync(src).size });
  });
});

describe('receive with verify', () => {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

  it('receive(): the image read back after the flush, over a stream and into an existing file', async () => {
    const src = image('recv-src.img');
    const dst = tmp.file('recv-dst.img');
    makeSparse(dst, 20 * MiB, [[0, 20 * MiB]], 0x77); // old bytes the holes must cover
    const pipe = new PassThrough();
    const received = bc.receive(pipe, dst, { verify: true, fsync: 'data' });
    await bc.send(src, pipe);
    await received;
    expect(sha256(dst)).toBe(sha256(src));
    expect(() => bc.receive(new PassThrough(), dst, { verify: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('recv --verify from a pipe (the engine path) says so; receive() above is the JS path', () => {
    const src = image('recv-cli-src.img');
    const dst = tmp.file('recv-cli-dst.img');
    const node = quote(process.execPath);
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `${node} ${quote(CLI)} send ${quote(src)} | ${node} ${quote(CLI)} recv ${quote(dst)} --verify --progress`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/verified and read back from the disk/);
    expect(sha256(dst)).toBe(sha256(src));
  });
});
