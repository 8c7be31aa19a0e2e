// The first blockcopy command: exit codes and output.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTO_KERNEL, makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('cli');
afterAll(() => tmp.cleanup());
const cli = path.join(ROOT, 'dist', 'cli', 'main.js');

describe('blockcopy SRC DST', () => {
  const src = tmp.file('src.img');
  makeSparse(src, 32 * MiB, [[3 * MiB, 2 * MiB]]);

  it('copies, exits 0 and prints a summary', () => {
    const dst = tmp.file('out.img');
    const r = runNode([cli, src, dst]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/copied 2\.00 MiB of data: 2\.00 MiB written, 30\.0 MiB skipped as holes/);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('--json prints progress objects and a final result, one per line', () => {
    const dst = tmp.file('json.img');
    const r = runNode([cli, src, dst, '--json']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; bytesDone: number; bytesTotal: number });
    const result = lines.at(-1)!;
    expect(result).toMatchObject({ type: 'result', bytesDone: 2 * MiB, bytesTotal: 2 * MiB, backend: AUTO_KERNEL });
    expect(lines.slice(0, -1).every((l) => l.type === 'progress')).toBe(true);
    expect(lines.at(-2)).toMatchObject({ type: 'progress', bytesDone: 2 * MiB });
  });

  it('--quiet prints nothing', () => {
    const r = runNode([cli, src, tmp.file('quiet.img'), '--quiet']);
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('exits 1 with a Node-style message on a copy error, creating nothing', () => {
    const dst = tmp.file('never.img');
    const r = runNode([cli, tmp.file('missing.img'), dst]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ENOENT: no such file or directory, open '${tmp.file('missing.img')}'`);
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('exits 2 on bad usage', () => {
    for (const args of [[src], [src, 'a', 'b'], [src, tmp.file('x'), '--bogus'], [src, src]]) {
      const r = runNode([cli, ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^blockcopy: /);
    }
  });

  it('--help and --version exit 0', () => {
    const help = runNode([cli, '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: blockcopy SRC DST/);
    const version = runNode([cli, '--version']);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });
});
