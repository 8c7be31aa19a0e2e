// One job per target across processes and across names for one file: the
// engine write-locks the destination bytes a job may change (open file
// description locks), before it changes anything.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { CopyError } from '../dist/index';
import { bc, CLI, isRoot, makeDense, MiB, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('locking');
afterAll(() => tmp.cleanup());

/** Starts the CLI with --json and resolves once it reports progress: its lock is held then. */
function startCli(args: string[]): Promise<{ child: ChildProcess; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"type":"progress"')) resolve({ child, exit });
    });
    void exit.then((code) => reject(new Error(`the first copy ended (${code}) before it reported progress: ${out}`)));
  });
}

/** The error of a job, whether copy() refused it at once or the job failed. */
async function rejection(start: () => PromiseLike<unknown>): Promise<CopyError> {
  try {
    await start();
  } catch (error) {
    return error as CopyError;
  }
  throw new Error('expected the job to fail');
}

describe('one job per target, across processes', () => {
  const src = tmp.file('src.img');
  makeDense(src, 48 * MiB);

  it('a second blockcopy process writing the same destination is refused with EBUSY and changes nothing', async () => {
    const dst = tmp.file('shared.img');
    const first = await startCli([src, dst, '--bwlimit', '24M']);
    const second = runNode([CLI, src, dst, '--bs', '64K']);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/EBUSY: resource busy or locked \(another job, in this process or another, is writing bytes 0-end of this destination\), fcntl/);
    expect(await first.exit).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
    // Once the first has finished, the file is free again.
    expect(runNode([CLI, src, dst, '--quiet']).status).toBe(0);
  });

  it('a refused process does not cut or touch the file it could not lock', async () => {
    const dst = tmp.file('untouched.img');
    makeDense(dst, 64 * MiB);
    const tail = sha256(dst, 32 * MiB, 32 * MiB);
    // The first writes [0, 32 MiB) and keeps the rest; the second would truncate the whole file.
    const first = await startCli([src, dst, '--length', '32M', '--no-truncate', '--bwlimit', '16M']);
    const second = runNode([CLI, src, dst]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain('EBUSY');
    expect(fs.statSync(dst).size).toBe(64 * MiB);
    expect(await first.exit).toBe(0);
    expect(sha256(dst, 32 * MiB, 32 * MiB)).toBe(tail);
    expect(sha256(dst, 0, 32 * MiB)).toBe(sha256(src, 0, 32 * MiB));
  });

  it('two processes writing disjoint ranges of one image both succeed', async () => {
    const dst = tmp.file('halves.img');
    makeDense(dst, 48 * MiB);
    const first = await startCli([src, dst, '--length', '24M', '--no-truncate', '--bwlimit', '24M']);
    const second = runNode([CLI, src, dst, '--offset', '24M', '--seek', '24M', '--no-truncate', '--quiet']);
    expect(second.status).toBe(0);
    expect(await first.exit).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it.skipIf(!isRoot)('a block device held by another process (--force) is refused where ranges overlap', async () => {
    const backing = tmp.file('device.img');
    makeDense(backing, 64 * MiB);
    let device = '';
    try {
      device = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
    } catch {
      return expect.fail('losetup could not attach a loop device');
    }
    try {
      const first = await startCli([src, device, '--length', '32M', '--force', '--bwlimit', '16M']);
      const overlapping = runNode([CLI, src, device, '--offset', '16M', '--seek', '16M', '--length', '16M', '--force']);
      expect(overlapping.status).toBe(1);
      expect(overlapping.stderr).toMatch(/EBUSY: .*bytes 0-33554432 of this destination/);
      const disjoint = runNode([CLI, src, device, '--offset', '32M', '--seek', '32M', '--length', '16M', '--force', '--quiet']);
      expect(disjoint.status).toBe(0);
      expect(await first.exit).toBe(0);
      expect(sha256(device, 0, 48 * MiB)).toBe(sha256(src, 0, 48 * MiB));
    } finally {
      execFileSync('losetup', ['--detach', device]);
    }
  });
});

describe('an image qemu has open', () => {
  const hasQemuNbd = spawnSync('qemu-nbd', ['--version']).status === 0;
  it.skipIf(!hasQemuNbd)('qemu-nbd serving an image: a job over the bytes qemu locks is refused, one beyond them goes ahead', async () => {
    const src = tmp.file('qemu.src');
    makeDense(src, 4 * MiB);
    const image = tmp.file('qemu.img');
    makeDense(image, 32 * MiB);
    const socket = tmp.file('qemu.sock');
    const server = spawn('qemu-nbd', ['-f', 'raw', '--persistent', '-k', socket, image], { stdio: 'ignore' });
    try {
      for (let waited = 0; !fs.existsSync(socket) && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      const refused = runNode([CLI, src, image, '--no-truncate']);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/EBUSY: resource busy or locked \(a program using this destination holds a lock on bytes \d+-\d+, as qemu does/);
      expect(runNode([CLI, src, image, '--seek', '1M', '--no-truncate', '--quiet']).status).toBe(0);
    } finally {
      server.kill();
    }
    expect(sha256(image, 1 * MiB, 4 * MiB)).toBe(sha256(src));
  });
});

describe('one job per target, whatever the file is called', () => {
  const src = tmp.file('named.src');
  makeDense(src, 32 * MiB);

  it('a hard link made to a running job’s new destination is recognised (EBUSY)', async () => {
    const dst = tmp.file('new.img');
    const link = tmp.file('link.img');
    const job = bc.copy(src, dst, { bandwidth: 32 * MiB, blockSize: 1 * MiB });
    await new Promise<void>((resolve) => job.once('progress', () => resolve()));
    fs.linkSync(dst, link);
    const error = await rejection(() => bc.copy(src, link, { length: 1 * MiB, truncate: false }));
    expect(error).toMatchObject({ name: 'CopyError', code: 'EBUSY', errno: -16, syscall: 'fcntl', path: link });
    await job;
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('a path through /proc/self/fd and a descriptor of the caller are the same file', async () => {
    const dst = tmp.file('fd.img');
    makeDense(dst, 32 * MiB);
    const fd = fs.openSync(dst, 'r+');
    try {
      const job = bc.copy(src, fd, { bandwidth: 32 * MiB, truncate: false });
      await new Promise<void>((resolve) => job.once('progress', () => resolve()));
      const other = await rejection(() => bc.copy(src, `/proc/self/fd/${fd}`, { length: 4096, dstOffset: 16 * MiB, truncate: false }));
      expect(other.code).toBe('EBUSY');
      await job;
      // The caller's descriptor stays open and its locks are gone: another writer gets in.
      await bc.copy(src, dst, { length: 4096, truncate: false });
    } finally {
      fs.closeSync(fd);
    }
    expect(sha256(dst)).toBe(sha256(src));
  });
});
