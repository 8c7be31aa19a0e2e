// The package as users load it: require(), import, and the shipped types.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('module');
afterAll(() => tmp.cleanup());

describe('loading blockcopy', () => {
  const src = tmp.file('src');
  makeSparse(src, 8 * MiB, [[1 * MiB, 1 * MiB]]);

  it("require('blockcopy') works and copies", () => {
    const dst = tmp.file('cjs.dst');
    const script = `const { copySync, copy, CopyError } = require('blockcopy');
      if (typeof copy !== 'function' || typeof CopyError !== 'function') process.exit(3);
      console.log(copySync(${JSON.stringify(src)}, ${JSON.stringify(dst)}).bytesDone);`;
    const r = runNode(['-e', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(String(1 * MiB));
    expect(sha256(dst)).toBe(sha256(src));
  });

  it("import { copy } from 'blockcopy' works and copies", () => {
    const dst = tmp.file('esm.dst');
    const script = `import { copy, extents } from 'blockcopy';
      const result = await copy(${JSON.stringify(src)}, ${JSON.stringify(dst)});
      console.log(result.bytesDone, (await extents(${JSON.stringify(dst)})).length);`;
    const r = runNode(['--input-type=module', '-e', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${1 * MiB} 3`);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('a job has then, catch and finally, as a Promise has', () => {
    const script = `const { copy } = require('blockcopy');
      const order = [];
      copy(${JSON.stringify(tmp.file('missing'))}, ${JSON.stringify(tmp.file('never.dst'))})
        .catch((e) => order.push(e.code))
        .then(() => copy(${JSON.stringify(src)}, ${JSON.stringify(tmp.file('chain.dst'))}).finally(() => order.push('finally')))
        .then((r) => console.log(order.join(' '), r.bytesDone));`;
    const r = runNode(['-e', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`ENOENT finally ${1 * MiB}`);
  });

  it('ships type declarations that a strict TypeScript consumer compiles against', () => {
    const dir = fs.mkdtempSync(path.join(ROOT, 'test', '.types-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'consumer.ts'),
        `import { copy, copySync, extentsSync, CopyError, type CopyResult, type Progress } from 'blockcopy';
const job = copy('a', 'b', { sparse: 'always', onProgress: (p: Progress) => p.bytesDone < 10 });
job.on('progress', (p) => p.etaSeconds);
const r: CopyResult = copySync('a', 'b');
// A job can be chained like a Promise: then, catch and finally.
const chained: Promise<string | CopyResult> = copy('a', 'b').catch((error: unknown) => String(error)).finally(() => {});
const e: CopyError | undefined = undefined;
void [job.status, r.backend, e, extentsSync('a')[0]?.type, chained];
// @ts-expect-error sparse takes only the documented modes
copy('a', 'b', { sparse: 'sometimes' });
`,
      );
      fs.writeFileSync(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', types: ['node'] },
          files: ['consumer.ts'],
        }),
      );
      const r = runNode([path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir]);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
