// Faults the system throws at a copy, under every backend: a filesystem that
// fills up mid-copy (root only: the test mounts a small tmpfs), and EIO on
// read or write at a chosen offset, through a build of the engine with fault
// injection compiled in (native/engine/fault_injection.h; never the release build).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CopyError } from '../dist/index';
import { BACKENDS, bc, copySources, isRoot, makeSparse, MiB, scratch, sha256, USER_SPACE_BACKENDS } from './helpers';

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

describe.each(USER_SPACE_BACKENDS)('a full filesystem, direct I/O, backend %s', (backend) => {
  // The O_DIRECT writes fail where the data stops fitting, with everything before it in place.
  it('fails with ENOSPC, an exact resumeOffset and the prefix in place', async (ctx) => {
    if (!mounted) return ctx.skip();
    const src = tmp.file(`enospc-direct-${backend}.src`);
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]]);
    const dst = path.join(full, `direct-${backend}.dst`);
    try {
      const error = (await bc.copy(src, dst, { backend, direct: true, blockSize: 256 * 1024 }).done.catch((e: unknown) => e)) as CopyError;
      expect(error).toMatchObject({ code: 'ENOSPC', path: dst });
      expect(error.syscall).toBe('write');
      expect(error.resumeOffset).toBeGreaterThan(0);
      expect(error.resumeOffset).toBeLessThanOrEqual(6 * MiB);
      expect(sha256(dst, 0, error.resumeOffset)).toBe(sha256(src, 0, error.resumeOffset));
    } finally {
      fs.rmSync(dst, { force: true });
    }
  });
});

describe('EIO at a chosen offset (fault-injection build)', () => {
  const faulty = path.join(tmp.dir, 'faulty');
  const src = tmp.file('eio.src');

  beforeAll(() => {
    copySources(faulty);
    // Built without a preloaded sanitizer runtime (test:sanitize preloads one into everything).
    const env = { ...process.env, LD_PRELOAD: '' };
    const build = (args: string[]) => execFileSync('npx', args, { cwd: faulty, stdio: 'pipe', env });
    build(['node-gyp', 'rebuild', '--', '-Dfaults=true']);
    build(['tsc', '-p', 'tsconfig.json']);
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
  }, 300_000);

  // 256 KiB steps on every path: a bandwidth limit (here far above the disk's)
  // makes copy_file_range go block by block too, so the fault lands mid-copy.
  const smallSteps = { blockSize: 256 * 1024, bandwidth: 2 ** 40 };

  /** One copy in a child process (the fault is read from its environment once). */
  function copyWithFault(fault: string, dst: string, options: object, from = src) {
    const script = `
      const bc = require(${JSON.stringify(path.join(faulty, 'dist', 'index.js'))});
      bc.copy(${JSON.stringify(from)}, ${JSON.stringify(dst)}, ${JSON.stringify(options)}).then(
        (r) => console.log(JSON.stringify({ ok: true, backend: r.backend })),
        (e) => console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, syscall: e.syscall, path: e.path, dest: e.dest, message: e.message, resumeOffset: e.resumeOffset })));`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, BLOCKCOPY_FAULT: fault }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { ok: boolean; name?: string; code?: string; syscall?: string; path?: string; dest?: string; message?: string; resumeOffset: number };
  }

  it.each(BACKENDS.filter((b) => b !== 'auto'))('%s: a failing read is EIO on the source, with an exact prefix', (backend) => {
    const dst = tmp.file(`eio-read-${backend}.dst`);
    const at = 3 * MiB + 4096;
    const e = copyWithFault(`read:${at}`, dst, { backend, ...smallSteps });
    expect(e).toMatchObject({ ok: false, name: 'CopyError', code: 'EIO', path: src });
    expect(['read', 'copy_file_range']).toContain(e.syscall);
    expect(e.resumeOffset).toBeLessThanOrEqual(at);
    expect(e.resumeOffset).toBeGreaterThan(0);
    expect(sha256(dst, 0, e.resumeOffset)).toBe(sha256(src, 0, e.resumeOffset));
  });

  it.each(BACKENDS.filter((b) => b !== 'auto'))('%s: a failing write is EIO on the destination, with an exact prefix', (backend) => {
    const dst = tmp.file(`eio-write-${backend}.dst`);
    const at = 5 * MiB + 12345;
    const e = copyWithFault(`write:${at}`, dst, { backend, ...smallSteps });
    expect(e).toMatchObject({ ok: false, name: 'CopyError', code: 'EIO', path: dst });
    expect(['write', 'copy_file_range']).toContain(e.syscall);
    expect(e.resumeOffset).toBeLessThanOrEqual(at);
    expect(e.resumeOffset).toBeGreaterThan(0);
    expect(sha256(dst, 0, e.resumeOffset)).toBe(sha256(src, 0, e.resumeOffset));
  });

  // Writing behind (page_cache.h) waits for writeback during a flushed copy; a
  // write error the disk reports there is the job's, not lost before the final fsync.
  it.each(BACKENDS.filter((b) => b !== 'auto'))('%s: a writeback error during a flushed copy is EIO, resumable below it', (backend) => {
    const big = tmp.file(`writeback-${backend}.src`);
    makeSparse(big, 64 * MiB, [[0, 64 * MiB]]);
    const dst = tmp.file(`writeback-${backend}.dst`);
    // Low enough to be waited for: the oldest windows are, once 32 MiB are under writeback.
    const at = 8 * MiB + 4096;
    const e = copyWithFault(`writeback:${at}`, dst, { backend, fsync: 'full' }, big);
    expect(e).toMatchObject({ ok: false, name: 'CopyError', code: 'EIO', syscall: 'sync_file_range', path: dst });
    expect(e.resumeOffset).toBeLessThanOrEqual(at);
    expect(e.resumeOffset).toBeGreaterThan(0);
    expect(sha256(dst, 0, e.resumeOffset)).toBe(sha256(big, 0, e.resumeOffset));
    // Without a flush nothing waits on writeback during the copy: the fault is never reached.
    expect(copyWithFault(`writeback:${at}`, tmp.file(`writeback-${backend}-unflushed.dst`), { backend }, big)).toMatchObject({ ok: true });
  });

  // Between two checkpoints the copy can get far (a 16 MiB block; a deep
  // queue whose completions come in a batch on a loaded machine, where CI saw
  // resumeOffset 0 here): writeback is still waited for a window at a time,
  // so an error keeps the resume point at the window below it.
  it('a writeback error after a 16 MiB step leaves the 4 MiB windows below it resumable', () => {
    const big = tmp.file('writeback-step.src');
    makeSparse(big, 64 * MiB, [[0, 64 * MiB]]);
    const dst = tmp.file('writeback-step.dst');
    const at = 8 * MiB + 4096;
    const e = copyWithFault(`writeback:${at}`, dst, { backend: 'pread', fsync: 'full', blockSize: 16 * MiB }, big);
    expect(e).toMatchObject({ ok: false, code: 'EIO', syscall: 'sync_file_range', path: dst });
    expect(e.resumeOffset).toBe(8 * MiB);
    expect(sha256(dst, 0, e.resumeOffset)).toBe(sha256(big, 0, e.resumeOffset));
  });

  it('verify catches a byte that landed wrong: ERR_BLOCKCOPY_VERIFY naming it, resumable below its block', () => {
    const at = 5 * MiB + 12345;
    const unverified = tmp.file('corrupt-unverified.dst');
    // The fault is real: without verify the copy succeeds and the file is wrong.
    expect(copyWithFault(`corrupt:${at}`, unverified, { backend: 'pread' })).toMatchObject({ ok: true });
    expect(sha256(unverified)).not.toBe(sha256(src));
    const dst = tmp.file('corrupt.dst');
    const e = copyWithFault(`corrupt:${at}`, dst, { backend: 'pread', verify: true });
    expect(e).toMatchObject({ ok: false, name: 'CopyError', code: 'ERR_BLOCKCOPY_VERIFY', dest: dst });
    expect(e.message).toContain(`at byte ${at} of the range (destination offset ${at}, source offset ${at}), in block ${Math.floor(at / 65536)}`);
    expect(e.resumeOffset).toBe(Math.floor(at / 65536) * 65536);
    expect(sha256(dst, 0, e.resumeOffset)).toBe(sha256(src, 0, e.resumeOffset));
  });

  it('recv --verify catches a byte that landed wrong and names its 16 MiB window; without it the END checksum passes', () => {
    const at = 5 * MiB + 12345;
    const cli = path.join(faulty, 'dist', 'cli', 'main.js');
    const stream = tmp.file('corrupt.stream');
    const sent = spawnSync('bash', ['-c', `'${process.execPath}' '${cli}' send '${src}' --quiet > '${stream}'`], { encoding: 'utf8' });
    expect(sent.status, sent.stderr).toBe(0);
    const recv = (dst: string, args: string[]) =>
      spawnSync(process.execPath, [cli, 'recv', dst, '--quiet', ...args], {
        input: fs.readFileSync(stream),
        env: { ...process.env, BLOCKCOPY_FAULT: `corrupt:${at}` },
        encoding: 'utf8',
      });
    const unverified = tmp.file('recv-corrupt-unverified.dst');
    expect(recv(unverified, []).status).toBe(0);
    expect(sha256(unverified)).not.toBe(sha256(src));
    const dst = tmp.file('recv-corrupt.dst');
    const r = recv(dst, ['--verify']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('verification failed: the image read back from the destination differs from what was written, within bytes 0 to 8388608 of the image');
  });

  it('a streamed image whose receiver cannot write reports EIO, and the sender hears it', async () => {
    const script = `
      const bc = require(${JSON.stringify(path.join(faulty, 'dist', 'index.js'))});
      const net = require('node:net');
      const srv = net.createServer((sock) => bc.receive(sock, ${JSON.stringify(tmp.file('eio-stream.dst'))}).done.catch(() => {}));
      srv.listen(0, '127.0.0.1', () => {
        const c = net.connect(srv.address().port, '127.0.0.1');
        bc.send(${JSON.stringify(src)}, c).then(() => console.log('{"ok":true}'), (e) => { console.log(JSON.stringify({ ok: false, name: e.name, code: e.code })); srv.close(); });
      });`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, BLOCKCOPY_FAULT: `write:${2 * MiB}` }, encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, name: 'RemoteError', code: 'EIO' });
  });

  it('the release build has no fault injection', () => {
    const dst = tmp.file('release.dst');
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))}).copySync(${JSON.stringify(src)}, ${JSON.stringify(dst)}, { backend: 'pread' })`], {
      env: { ...process.env, BLOCKCOPY_FAULT: 'read:0' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
  });
});

describe('the source changes during the copy', () => {
  it.each(BACKENDS)('%s: a source that shrinks mid-copy is a clear error, the prefix exact', async (backend) => {
    const src = tmp.file(`shrink-${backend}.src`);
    makeSparse(src, 16 * MiB, [[0, 16 * MiB]]);
    const kept = sha256(src, 0, 8 * MiB);
    const dst = tmp.file(`shrink-${backend}.dst`);
    // 8 MiB/s: the cut at 8 MiB comes about a second before the copy could reach it.
    const job = bc.copy(src, dst, { backend, bandwidth: 8 * MiB, blockSize: 256 * 1024, progressInterval: 10 });
    await new Promise<void>((resolve) => job.on('progress', (p) => p.bytesDone >= 1 * MiB && resolve()));
    expect(job.progress().bytesDone).toBeLessThan(8 * MiB);
    fs.truncateSync(src, 8 * MiB);
    const error = (await job.done.catch((e: unknown) => e)) as CopyError;
    expect(error).toMatchObject({ name: 'CopyError', code: 'EIO', path: src });
    expect(error.message).toMatch(/shrink/);
    expect(error.resumeOffset).toBeLessThanOrEqual(8 * MiB);
    expect(error.resumeOffset).toBeGreaterThan(0);
    expect(sha256(dst, 0, error.resumeOffset)).toBe(sha256(src, 0, error.resumeOffset));
    expect(sha256(src)).toBe(kept);
  });

  it.each(BACKENDS)('%s: a source that grows mid-copy: the range taken at the start is copied exactly', async (backend) => {
    const src = tmp.file(`grow-${backend}.src`);
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
    const first = sha256(src);
    const dst = tmp.file(`grow-${backend}.dst`);
    const job = bc.copy(src, dst, { backend, bandwidth: 16 * MiB, blockSize: 256 * 1024, progressInterval: 10 });
    await new Promise<void>((resolve) => job.on('progress', (p) => p.bytesDone >= 2 * MiB && resolve()));
    fs.appendFileSync(src, Buffer.alloc(4 * MiB, 0x77));
    const result = await job;
    expect(result.length).toBe(8 * MiB);
    expect(fs.statSync(dst).size).toBe(8 * MiB);
    expect(sha256(dst)).toBe(first);
  });

  it('a destination unlinked or made read-only mid-copy: the open file is finished, no crash', async () => {
    const src = tmp.file('unlinked.src');
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
    for (const change of ['unlink', 'chmod'] as const) {
      const dst = tmp.file(`${change}.dst`);
      const job = bc.copy(src, dst, { bandwidth: 16 * MiB, progressInterval: 10 });
      await new Promise<void>((resolve) => job.on('progress', (p) => p.bytesDone >= 2 * MiB && resolve()));
      if (change === 'unlink') fs.unlinkSync(dst);
      else fs.chmodSync(dst, 0o444);
      const result = await job;
      expect(result.bytesDone).toBe(8 * MiB); // as cp: the descriptor it holds stays writable
      if (change === 'chmod') expect(sha256(dst)).toBe(sha256(src));
      else expect(fs.existsSync(dst)).toBe(false);
    }
  });
});
