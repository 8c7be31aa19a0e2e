// Bad input everywhere: every option with every kind of wrong value, and the
// awkward files (character devices, symlink loops, directories). Each is a
// clear error with Node's codes, and nothing is created or changed.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bc, makeSparse, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('bad-input');
afterAll(() => tmp.cleanup());
const src = tmp.file('src.img');
makeSparse(src, 2 * MiB, [[0, 1 * MiB]]);

const BYTE_COUNTS = ['srcOffset', 'dstOffset', 'length', 'dstSize', 'bandwidth'];
const INTEGERS = ['blockSize', 'queueDepth', 'progressInterval', 'progressDelay'];
const CHOICES = ['sparse', 'reflink', 'backend', 'fsync'];
const BOOLEANS = ['direct', 'truncate', 'targetIsZero', 'overwrite', 'force'];

const NUMBER_VALUES: Array<[string, unknown, string]> = [
  ['NaN', Number.NaN, 'ERR_OUT_OF_RANGE'],
  ['Infinity', Number.POSITIVE_INFINITY, 'ERR_OUT_OF_RANGE'],
  ['-Infinity', Number.NEGATIVE_INFINITY, 'ERR_OUT_OF_RANGE'],
  ['-1', -1, 'ERR_OUT_OF_RANGE'],
  ['2^53', 2 ** 53, 'ERR_OUT_OF_RANGE'],
  ['1.5', 1.5, 'ERR_OUT_OF_RANGE'],
  ["'1'", '1', 'ERR_INVALID_ARG_TYPE'],
  ['null', null, 'ERR_INVALID_ARG_TYPE'],
  ['a BigInt', 1n, 'ERR_INVALID_ARG_TYPE'],
  ['an object', {}, 'ERR_INVALID_ARG_TYPE'],
];
const CHOICE_VALUES: Array<[string, unknown, string]> = [
  ["''", '', 'ERR_INVALID_ARG_VALUE'],
  ["'bogus'", 'bogus', 'ERR_INVALID_ARG_VALUE'],
  ['1', 1, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, 'ERR_INVALID_ARG_TYPE'],
];
const BOOLEAN_VALUES: Array<[string, unknown, string]> = [
  ['1', 1, 'ERR_INVALID_ARG_TYPE'],
  ["'true'", 'true', 'ERR_INVALID_ARG_TYPE'],
  ['null', null, 'ERR_INVALID_ARG_TYPE'],
];

const cases: Array<[string, string, unknown, string]> = [
  ...BYTE_COUNTS.concat(INTEGERS).flatMap((o) => NUMBER_VALUES.map(([n, v, c]) => [o, n, v, c] as [string, string, unknown, string])),
  ...CHOICES.flatMap((o) => CHOICE_VALUES.map(([n, v, c]) => [o, n, v, c] as [string, string, unknown, string])),
  ...BOOLEANS.flatMap((o) => BOOLEAN_VALUES.map(([n, v, c]) => [o, n, v, c] as [string, string, unknown, string])),
];

function expectRefused(call: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    call();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a throw').toBeInstanceOf(Error);
  expect((thrown as { code?: string }).code).toBe(code);
  expect((thrown as Error).message).toMatch(/options\.|argument/);
}

describe('every option, every kind of wrong value', () => {
  it.each(cases)('%s = %s', (option, _label, value, code) => {
    const dst = tmp.file(`never-${option}.img`);
    expectRefused(() => bc.copy(src, dst, { [option]: value }), code);
    expectRefused(() => bc.copySync(src, dst, { [option]: value }), code);
    expectRefused(() => new bc.CopyQueue().add(src, dst, { [option]: value }), code);
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('queue, stream and job options are checked the same way', () => {
    for (const v of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2000]) expectRefused(() => new bc.CopyQueue({ concurrency: v }), 'ERR_OUT_OF_RANGE');
    expectRefused(() => new bc.CopyQueue({ concurrency: '4' as unknown as number }), 'ERR_INVALID_ARG_TYPE');
    expectRefused(() => bc.createExtentReadStream(src, { offset: -1 }), 'ERR_OUT_OF_RANGE');
    expectRefused(() => bc.createExtentReadStream(src, { sparse: 'x' as 'auto' }), 'ERR_INVALID_ARG_VALUE');
    expectRefused(() => bc.createExtentWriteStream(tmp.file('w.img'), { size: Number.NaN }), 'ERR_OUT_OF_RANGE');
    expectRefused(() => bc.createExtentWriteStream(tmp.file('w.img'), { fsync: 'yes' as 'full' }), 'ERR_INVALID_ARG_VALUE');
    expect(fs.existsSync(tmp.file('w.img'))).toBe(false);
  });
});

describe('awkward files', () => {
  it('offsets past the end of the source: ERR_OUT_OF_RANGE through the job, nothing created', async () => {
    const dst = tmp.file('past.img');
    await expect(bc.copy(src, dst, { srcOffset: 3 * MiB }).done).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(bc.copy(src, dst, { srcOffset: 1 * MiB, length: 1 * MiB + 1 }).done).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('a zero-length copy succeeds and writes nothing', async () => {
    const dst = tmp.file('zero.img');
    fs.writeFileSync(dst, Buffer.alloc(1 * MiB, 9));
    const before = sha256(dst);
    const r = await bc.copy(src, dst, { srcOffset: 1 * MiB, dstOffset: 4096, length: 0 });
    expect(r).toMatchObject({ bytesDone: 0, bytesWritten: 0, length: 0 });
    expect(sha256(dst)).toBe(before);
  });

  it('a character device as source is refused (EINVAL), before any destination exists', async () => {
    const dst = tmp.file('chr.img');
    await expect(bc.copy('/dev/zero', dst).done).rejects.toMatchObject({ name: 'CopyError', code: 'EINVAL', path: '/dev/zero' });
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('a symlink loop: ELOOP at either end, nothing created', async () => {
    const a = tmp.file('loop-a');
    const b = tmp.file('loop-b');
    fs.symlinkSync(b, a);
    fs.symlinkSync(a, b);
    await expect(bc.copy(a, tmp.file('from-loop.img')).done).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open', path: a });
    expect(fs.existsSync(tmp.file('from-loop.img'))).toBe(false);
    await expect(bc.copy(src, a).done).rejects.toMatchObject({ code: 'ELOOP', path: a });
  });

  it('a directory as destination: EISDIR, the directory untouched', async () => {
    const dir = tmp.file('a-dir');
    fs.mkdirSync(dir);
    fs.writeFileSync(`${dir}/keep`, 'x');
    await expect(bc.copy(src, dir).done).rejects.toMatchObject({ code: 'EISDIR', path: dir });
    expect(() => bc.copySync(src, dir)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(fs.readdirSync(dir)).toEqual(['keep']);
  });
});
