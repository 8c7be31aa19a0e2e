// checksum(): one digest for the bytes a target reads as, however they are
// stored, checked against a second implementation of docs/checksum.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bc, CLI, dropCache, isRoot, makeSparse, MiB, runNode, scratch } from './helpers';
import { hasNbdkit, hasQemuNbd, nbdkit, qemuNbd, requestsInLog } from './nbd_helpers';

const tmp = scratch('checksum');
afterAll(() => tmp.cleanup());

const BLOCK = 64 * 1024;

/** docs/checksum.md, written again from the text: SHA-256 of each block, then of the digests and the length. */
function reference(file: string, offset = 0, length?: number): string {
  const whole = fs.readFileSync(file);
  const bytes = whole.subarray(offset, length === undefined ? undefined : offset + length);
  const outer = createHash('sha256');
  for (let at = 0; at < bytes.length; at += BLOCK) outer.update(createHash('sha256').update(bytes.subarray(at, at + BLOCK)).digest());
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(bytes.length));
  return outer.update(size).digest('hex');
}

/** Data at odd offsets and lengths, holes between, an odd size: blocks that are part data, part hole. */
function oddImage(name: string, size = 9 * MiB + 4097): string {
  const file = tmp.file(name);
  makeSparse(file, size, [
    [4097, 100_000],
    [BLOCK * 20 - 1, 2],
    [3 * MiB, 2 * MiB + 513],
    [9 * MiB, 4097],
  ]);
  return file;
}

describe('checksum()', () => {
  it('agrees with a second implementation of the definition, over whole files and odd ranges', async () => {
    const file = oddImage('odd.img');
    const size = fs.statSync(file).size;
    for (const [offset, length] of [
      [0, undefined],
      [1, 12345],
      [4097, BLOCK],
      [BLOCK - 3, 3 * MiB + 7],
      [size - 5000, undefined],
      [size, undefined],
    ] as Array<[number, number | undefined]>) {
      const r = await bc.checksum(file, length === undefined ? { offset } : { offset, length });
      expect(r.digest, `offset ${offset} length ${length}`).toBe(reference(file, offset, length));
      expect(r.algorithm).toBe('sha256-blocks-64k');
      expect(r.size).toBe(length ?? size - offset);
    }
  });

  it('gives one digest for a sparse file, a fully written copy and a copy read cold', async () => {
    const sparse = oddImage('sparse.img');
    const dense = tmp.file('dense.img');
    execFileSync('cp', ['--sparse=never', sparse, dense]);
    expect(fs.statSync(dense).blocks).toBeGreaterThan(fs.statSync(sparse).blocks * 2);
    const want = reference(sparse);
    expect((await bc.checksum(sparse)).digest).toBe(want);
    expect((await bc.checksum(dense)).digest).toBe(want);
    dropCache(dense);
    expect((await bc.checksum(dense)).digest).toBe(want);
  });

  it('a changed byte in a hole, or a longer file of zeros, changes the digest', async () => {
    const file = oddImage('changed.img');
    const before = (await bc.checksum(file)).digest;
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([1]), 0, 1, 7 * MiB + 3); // inside a hole
    fs.closeSync(fd);
    const after = (await bc.checksum(file)).digest;
    expect(after).not.toBe(before);
    expect(after).toBe(reference(file));
    const zeros = tmp.file('zeros.img');
    fs.writeFileSync(zeros, '');
    fs.truncateSync(zeros, 4 * MiB);
    const longer = tmp.file('zeros-longer.img');
    fs.writeFileSync(longer, '');
    fs.truncateSync(longer, 4 * MiB + 1);
    expect((await bc.checksum(zeros)).digest).not.toBe((await bc.checksum(longer)).digest);
    expect((await bc.checksum(longer)).digest).toBe(reference(longer));
  });

  it('counts holes without reading them: progress ends with the data bytes done and the rest skipped', async () => {
    const file = tmp.file('big-sparse.img');
    makeSparse(file, 4 * 1024 * MiB, [
      [MiB, 3 * MiB],
      [2048 * MiB + 5, 3 * MiB],
    ]);
    const reports: number[] = [];
    const job = bc.checksum(file, { progressInterval: 0 });
    job.on('progress', (p) => reports.push(p.bytesDone));
    const r = await job;
    expect(r.bytesTotal).toBeLessThanOrEqual(7 * MiB + 4096);
    expect(r.bytesDone).toBe(r.bytesTotal);
    expect(r.bytesSkipped).toBe(r.length - r.bytesDone);
    expect(r.bytesWritten).toBe(0);
    expect(reports.at(-1)).toBe(r.bytesDone);
    expect(reports).toEqual([...reports].sort((a, b) => a - b));
  });

  it('cancels, through cancel() or a signal, with an AbortError', async () => {
    const file = tmp.file('cancel.img');
    makeSparse(file, 256 * MiB, [[0, 256 * MiB]]);
    const job = bc.checksum(file);
    await job.cancel();
    await expect(job).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(job.status).toBe('cancelled');
    const controller = new AbortController();
    const signalled = bc.checksum(file, { signal: controller.signal });
    controller.abort();
    await expect(signalled).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const aborted = bc.checksum(file, { signal: AbortSignal.abort() });
    await expect(aborted).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it('refuses bad input with Node codes and creates nothing', async () => {
    const missing = tmp.file('missing.img');
    await expect(bc.checksum(missing)).rejects.toMatchObject({ name: 'CopyError', code: 'ENOENT', syscall: 'open', path: missing });
    expect(fs.existsSync(missing)).toBe(false);
    const file = oddImage('bad.img');
    expect(() => bc.checksum(file, { offset: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => bc.checksum(file, { length: 'x' as unknown as number })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => bc.checksum(file, { format: 'nope' as 'raw' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => bc.checksum(42.5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    await expect(bc.checksum(file, { offset: fs.statSync(file).size + 1 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(bc.checksum(tmp.dir)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});

describe.skipIf(!hasQemuNbd)('checksum() across formats and NBD', () => {
  it('a qcow2 image, the same image over NBD and the raw file give one digest', async () => {
    // qemu-img rounds a disk up to whole 512-byte sectors: the size is one already.
    const raw = oddImage('format.img', 9 * MiB + 4608);
    const qcow2 = tmp.file('format.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    const want = reference(raw);
    expect((await bc.checksum(qcow2, { format: 'qcow2' })).digest).toBe(want);
    const server = await qemuNbd(tmp.dir, qcow2, 'qcow2');
    try {
      expect((await bc.checksum(server.uri)).digest).toBe(want);
      expect((await bc.checksum(server.uri, { offset: 4097, length: 3 * MiB })).digest).toBe(reference(raw, 4097, 3 * MiB));
    } finally {
      await server.stop();
    }
    // Read as raw, the qcow2 file is other bytes.
    expect((await bc.checksum(qcow2)).digest).not.toBe(want);
  });
});

describe.skipIf(!hasNbdkit)('checksum() over NBD reads only the data', () => {
  it('asks the server for the data extents and nothing else', async () => {
    const file = tmp.file('served.img');
    makeSparse(file, 64 * MiB, [
      [2 * MiB, MiB],
      [40 * MiB, 2 * MiB],
    ]);
    const log = tmp.file('served.log');
    const server = await nbdkit(tmp.dir, ['--filter=log', 'file', file, `logfile=${log}`], 'served');
    try {
      const r = await bc.checksum(server.uri);
      expect(r.digest).toBe(reference(file));
      const reads = fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .map((l) => / Read id=\d+ offset=(0x[0-9a-f]+) count=(0x[0-9a-f]+)/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .reduce((n, m) => n + Number(m[2]), 0);
      expect(requestsInLog(log, 'Read').count).toBeGreaterThan(0);
      expect(reads).toBe(3 * MiB);
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!isRoot)('checksum() of a block device', () => {
  it('a loop device over the image gives the image digest', async () => {
    const file = oddImage('device.img');
    const backing = tmp.file('device-backing.img');
    execFileSync('cp', ['--sparse=never', file, backing]);
    fs.truncateSync(backing, 10 * MiB); // a device is whole sectors; hash the image's range of it
    const device = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
    try {
      const size = fs.statSync(file).size;
      expect((await bc.checksum(device, { length: size })).digest).toBe(reference(file));
      expect((await bc.checksum(device)).size).toBe(10 * MiB);
    } finally {
      execFileSync('losetup', ['--detach', device]);
    }
  });
});

describe('a target that shrinks while it is hashed', () => {
  it('fails with EIO saying it shrank while being read, not during a copy', async () => {
    // Cut at the first report: the engine is a window or two on, with most of the file unread
    // (read from the disk, not the cache). Should the whole file be read before the cut lands,
    // on a very busy machine, a fresh file is tried: a digest proves nothing about the words.
    for (let attempt = 1; ; attempt++) {
      const file = tmp.file(`shrinks-${attempt}.img`);
      makeSparse(file, 128 * MiB, [[0, 128 * MiB]]);
      dropCache(file);
      const job = bc.checksum(file, { progressInterval: 0 });
      job.on('progress', (p) => p.bytesDone > 0 && p.bytesDone < 128 * MiB && fs.statSync(file).size > p.bytesDone && fs.truncateSync(file, p.bytesDone));
      const error = await job.then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      if (error === undefined && attempt < 3) continue;
      expect(error).toMatchObject({ code: 'EIO', message: expect.stringMatching(/^EIO: source ended at \d+, inside the range being read \(did it shrink while being read\?\)/) });
      expect(error!.message).not.toMatch(/during the copy/); // (the path holds "blockcopy")
      return;
    }
  });
});

describe('blockcopy checksum', () => {
  it('prints DIGEST  TARGET lines like sha256sum, goes on past a failure and exits 1', () => {
    const a = oddImage('cli-a.img');
    const b = tmp.file('cli-b.img');
    execFileSync('cp', ['--sparse=never', a, b]);
    const missing = tmp.file('cli-missing.img');
    const r = runNode([CLI, 'checksum', a, missing, b]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`${reference(a)}  ${a}\n${reference(a)}  ${b}\n`);
    expect(r.stderr).toContain(`ENOENT: no such file or directory, open '${missing}'`);
    const ok = runNode([CLI, 'checksum', a, '--offset', '1K', '--length', '1M']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`${reference(a, 1024, MiB)}  ${a}\n`);
  });

  it('--json prints each target result with its target; bad usage exits 2', () => {
    const a = oddImage('cli-json.img');
    const r = runNode([CLI, 'checksum', '--json', a]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ type: 'result', target: a, digest: reference(a), algorithm: 'sha256-blocks-64k', size: fs.statSync(a).size });
    expect(runNode([CLI, 'checksum']).status).toBe(2);
    expect(runNode([CLI, 'checksum', a, '--length', 'lots']).status).toBe(2);
    const past = runNode([CLI, 'checksum', a, '--offset', '1G']);
    expect(past.status).toBe(2);
    expect(past.stderr).toMatch(/past the end/);
  });

  // A third route to the definition: split, sha256sum and xxd, no Node involved (.ci/run installs xxd).
  const hasTools = spawnSync('sh', ['-c', 'command -v split && command -v xxd && command -v sha256sum']).status === 0;
  it.skipIf(!hasTools)('agrees with sha256sum over the block digests, computed by the shell', () => {
    const a = oddImage('shell.img');
    const script = `
      set -e; d=$(mktemp -d); split -b 65536 -a 6 "$1" "$d/b."
      for f in "$d"/b.*; do sha256sum "$f" | cut -c1-64 | xxd -r -p; done > "$d/digests"
      size=$(stat -c %s "$1"); printf "%016x" "$size" | fold -w2 | tac | tr -d '\\n' | xxd -r -p >> "$d/digests"
      sha256sum "$d/digests" | cut -c1-64; rm -rf "$d"`;
    // Without the sanitizer runtime test:sanitize preloads: it is not these tools under test.
    const shell = execFileSync('sh', ['-c', script, 'sh', a], { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: '' } }).trim();
    const r = runNode([CLI, 'checksum', a]);
    expect(r.stdout.split(' ')[0]).toBe(shell);
  });
});
