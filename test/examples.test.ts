// The examples in examples/, run as a user would run them.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allocated, makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

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
