// extents(): the data/hole map of a file, a range of it, or a device.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bc, makeDense, makeSparse, MiB, scratch } from './helpers';

const tmp = scratch('extents');
afterAll(() => tmp.cleanup());

describe('extents', () => {
  const file = tmp.file('map.img');
  makeSparse(file, 64 * MiB, [
    [4 * MiB, 2 * MiB],
    [20 * MiB, 1 * MiB],
  ]);

  it('maps holes and data of a whole file, covering it exactly', async () => {
    const expected = [
      { offset: 0, length: 4 * MiB, type: 'hole' },
      { offset: 4 * MiB, length: 2 * MiB, type: 'data' },
      { offset: 6 * MiB, length: 14 * MiB, type: 'hole' },
      { offset: 20 * MiB, length: 1 * MiB, type: 'data' },
      { offset: 21 * MiB, length: 43 * MiB, type: 'hole' },
    ];
    expect(await bc.extents(file)).toEqual(expected);
    expect(bc.extentsSync(file)).toEqual(expected);
  });

  it('clips the map to a range', () => {
    expect(bc.extentsSync(file, { offset: 5 * MiB, length: 2 * MiB })).toEqual([
      { offset: 5 * MiB, length: 1 * MiB, type: 'data' },
      { offset: 6 * MiB, length: 1 * MiB, type: 'hole' },
    ]);
    expect(bc.extentsSync(file, { offset: 64 * MiB })).toEqual([]);
  });

  it('sees a dense file as one data extent, and works on a file descriptor', () => {
    const dense = tmp.file('dense');
    makeDense(dense, 3 * MiB);
    const fd = fs.openSync(dense, 'r');
    try {
      expect(bc.extentsSync(fd)).toEqual([{ offset: 0, length: 3 * MiB, type: 'data' }]);
    } finally {
      fs.closeSync(fd);
    }
  });
});
