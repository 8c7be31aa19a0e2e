// The examples in examples/, run as a user would run them.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allocated, bc, makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('examples');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  tmp.cleanup();
});

describe('examples/stream.js', () => {
  it('pushes three sparse images at once; one unwritable destination fails alone', async () => {
    const images = [
      ['small.img', 8 * MiB, [[1 * MiB, 1 * MiB]]],
      ['medium.img', 64 * MiB, [[0, 2 * MiB], [40 * MiB, 3 * MiB]]],
      ['large.img', 512 * MiB, [[100 * MiB, 16 * MiB], [500 * MiB, 4 * MiB]]],
    ] as const;
    for (const [name, size, pieces] of images) makeSparse(tmp.file(name), size, pieces as unknown as Array<[number, number]>);
    const dir = tmp.file('received');
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(dir, 'medium.img')); // a directory where medium.img should go: EISDIR

    const server = spawn(process.execPath, [path.join(ROOT, 'examples', 'stream.js'), 'serve', '--listen', '127.0.0.1:0', dir], { cwd: ROOT });
    children.push(server);
    let serverOut = '';
    server.stdout.on('data', (d) => (serverOut += d));
    server.stderr.on('data', (d) => (serverOut += d));
    const port = await new Promise<number>((resolve) => {
      server.stdout.on('data', () => {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(serverOut);
        if (m) resolve(Number(m[1]));
      });
    });

    const push = runNode([path.join(ROOT, 'examples', 'stream.js'), 'push', ...images.map(([n]) => tmp.file(n)), '--to', `127.0.0.1:${port}`]);
    expect(push.status, push.stderr).toBe(1);
    expect(push.stdout).toMatch(/small\.img: sent, receiver wrote 1\.0 MiB, checksum [0-9a-f]{16}/);
    expect(push.stdout).toMatch(/large\.img: sent, receiver wrote 20\.0 MiB, checksum [0-9a-f]{16}/);
    expect(push.stdout).toMatch(/medium\.img: failed: EISDIR: the other end reported EISDIR/);
    for (const name of ['small.img', 'large.img']) {
      expect(sha256(path.join(dir, name))).toBe(sha256(tmp.file(name)));
      expect(allocated(path.join(dir, name))).toBe(allocated(tmp.file(name)));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(serverOut).toMatch(/serve: large\.img: 512\.0 MiB image, 20\.0 MiB written, checksum [0-9a-f]{16} verified/);
    expect(serverOut).toMatch(/serve: medium\.img: EISDIR/);
  });
});

describe('examples/resize.js', () => {
  const tools = ['sfdisk', 'mkfs.ext4', 'e2fsck', 'debugfs'];
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) console.warn(`examples/resize.js test skipped: needs ${missing.join(', ')} (packages fdisk, e2fsprogs)`);

  it.skipIf(missing.length > 0)('grows the last partition of a two-partition GPT image; both filesystems check clean and read back', () => {
    const dir = tmp.file('resize');
    const files = { one: randomFiles(path.join(dir, 'f1'), 3), two: randomFiles(path.join(dir, 'f2'), 5) };
    const input = path.join(dir, 'in.img');
    const output = path.join(dir, 'out.img');
    fs.writeFileSync(input, '');
    fs.truncateSync(input, 48 * MiB);
    execFileSync('sfdisk', ['--quiet', input], { input: 'label: gpt\nstart=2048, size=32768, type=linux\nstart=34816, size=49152, type=linux\n' });
    for (const [name, start, size, folder] of [['p1', 2048, 16, 'f1'], ['p2', 34816, 24, 'f2']] as const) {
      const part = path.join(dir, `${name}.img`);
      execFileSync('mkfs.ext4', ['-q', '-F', '-d', path.join(dir, folder), part, `${size}M`], { stdio: 'pipe' });
      bc.copySync(part, input, { dstOffset: start * 512, truncate: false });
    }

    const r = runNode([path.join(ROOT, 'examples', 'resize.js'), input, output, '--size', '96M']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/copying 2 partitions: 100\.0%/);
    expect(fs.statSync(output).size).toBe(96 * MiB);

    // The table: same starts (whole MiB), the last partition grown to the end.
    const dump = execFileSync('sfdisk', ['--dump', output], { encoding: 'utf8' });
    const parts = [...dump.matchAll(/start=\s*(\d+), size=\s*(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    // Partition 2 grows by the 54 whole MiB that fit before GPT's 33-sector backup: 24 + 54 MiB.
    expect(parts).toEqual([
      [2048, 32768],
      [34816, 78 * 2048],
    ]);
    expect((parts[1]![0] * 512) % MiB).toBe(0);

    // Each partition, taken out with blockcopy: fsck clean, files identical.
    for (const [i, [start, size]] of parts.entries()) {
      const part = path.join(dir, `out-p${i + 1}.img`);
      bc.copySync(output, part, { srcOffset: start! * 512, length: (i === 0 ? size! : 49152) * 512 });
      const fsck = spawnSync('e2fsck', ['-fn', part], { encoding: 'utf8' });
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
      for (const [name, content] of Object.entries(i === 0 ? files.one : files.two)) {
        const read = execFileSync('debugfs', ['-R', `cat /${name}`, part], { stdio: ['ignore', 'pipe', 'ignore'] });
        expect(sha256Of(read), name).toBe(sha256Of(content));
      }
    }
    // Sparse: OUT holds about as much as IN's data, not its 96 MiB.
    expect(allocated(output)).toBeLessThanOrEqual(allocated(input) + 1 * MiB);
  });
});

function randomFiles(folder: string, count: number): Record<string, Buffer> {
  fs.mkdirSync(folder, { recursive: true });
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    const content = randomBytes(100_000 * (i + 1));
    fs.writeFileSync(path.join(folder, `file-${i}.bin`), content);
    files[`file-${i}.bin`] = content;
  }
  return files;
}

function sha256Of(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
