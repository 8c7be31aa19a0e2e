// The races: which file, how big, warm or cold, and who runs.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { blockcopyApi, blockcopyChecksum, blockcopyChecksumCli, blockcopyCli, blockcopySendRecv, sha256sum, cp, dd, fioLimit, nbdcopy, nbdcopyViaQemuNbd, nodeCopyFile, nodePipeline, qemuImg, qemuImgFrom } from './contenders.mjs';
import { nbdkitMemory } from './system.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Writes [offset, length] pieces of incompressible, non-repeating data into a file of `size` bytes. */
function writeFile(file, size, pieces, zeroFill = false) {
  const fd = fs.openSync(file, 'w');
  const chunk = randomBytes(4 * MiB);
  const zeros = Buffer.alloc(4 * MiB);
  let counter = 0;
  try {
    fs.ftruncateSync(fd, size);
    for (const [offset, length, zero] of pieces) {
      for (let done = 0; done < length; ) {
        const n = Math.min(chunk.length, length - done);
        let buf = zeros;
        if (!(zero || zeroFill)) {
          // A different stamp in every 4 KiB block: no two blocks alike.
          for (let b = 0; b < n; b += 4 * KiB) chunk.writeUInt32LE(counter++, b);
          buf = chunk;
        }
        fs.writeSync(fd, buf, 0, n, offset + done);
        done += n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

function dense(size) {
  return (file) => writeFile(file, size, [[0, size]]);
}

// 1 GiB of data in 32 extents spread over 64 GiB (scaled down in quick mode).
function sparse(size, data, extents) {
  const step = size / extents;
  const piece = data / extents;
  return (file) =>
    writeFile(
      file,
      size,
      Array.from({ length: extents }, (_, i) => [i * step, piece]),
    );
}

// Fully allocated; in every 4 MiB, 1 MiB of data then 3 MiB of written zeros.
// Zero runs are whole 1 MiB blocks, so dd conv=sparse (bs=1M) can see them too.
function mostlyZeros(size) {
  const pieces = [];
  for (let off = 0; off < size; off += 4 * MiB) {
    pieces.push([off, 1 * MiB, false]);
    pieces.push([off + 1 * MiB, 3 * MiB, true]);
  }
  return (file) => writeFile(file, size, pieces);
}

/** The image `make` writes, as qcow2 (qemu-img convert does the work). */
function asQcow2(make) {
  return (file) => {
    const raw = `${file}.raw`;
    make(raw);
    const r = spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, file]);
    fs.rmSync(raw, { force: true });
    if (r.status !== 0) throw new Error(`qemu-img convert: ${r.stderr}`);
  };
}

/** Every general copier; `extra` comes after the CLI, and a scenario may tell dd more. */
const everyone = (extra = [], ddContender = dd()) => [
  blockcopyApi('auto'),
  blockcopyCli(),
  ...extra,
  nbdcopy(''),
  ddContender,
  cp(),
  qemuImg(),
  nodeCopyFile(),
  nodePipeline(),
];

export function scenarios(quick) {
  const denseSize = quick ? 64 * MiB : 2 * GiB;
  // One dense image, made once, for every scenario that copies it.
  const denseImage = { file: 'dense.img', size: denseSize, make: dense(denseSize) };
  const variantSize = quick ? 64 * MiB : 1 * GiB;
  const list = [
    {
      id: 'dense-warm',
      title: `Dense ${label(denseSize)}, source in page cache, destination flushed`,
      ...denseImage,
      cache: 'warm',
      contenders: everyone([blockcopySendRecv()]),
    },
    {
      id: 'dense-cold',
      title: `Dense ${label(denseSize)}, cold cache, destination flushed`,
      ...denseImage,
      cache: 'cold',
      contenders: everyone(),
    },
    {
      id: 'sparse',
      title: quick
        ? `Sparse ${label(1 * GiB)} image, ${label(16 * MiB)} of data in 32 extents`
        : `Sparse 64 GiB image, 1 GiB of data in 32 extents`,
      file: 'sparse.img',
      size: quick ? 1 * GiB : 64 * GiB,
      make: quick ? sparse(1 * GiB, 16 * MiB, 32) : sparse(64 * GiB, 1 * GiB, 32),
      cache: 'warm',
      // Copies that write every hole out take minutes and 64 GiB of disk: cut off.
      timeoutMs: 60_000,
      contenders: everyone([blockcopySendRecv()], dd(['conv=sparse'], 'without conv=sparse dd writes every hole out')),
    },
    {
      id: 'zeros',
      title: `Allocated ${label(denseSize)}, 75% zero blocks, zero detection`,
      file: 'zeros.img',
      size: denseSize,
      make: mostlyZeros(denseSize),
      cache: 'warm',
      contenders: [
        blockcopyApi("sparse: 'always'", { sparse: 'always' }),
        nbdcopy('(detects zeroes)'),
        cp(['--sparse=always']),
        dd(['conv=sparse']),
        qemuImg(['-S', '4k']),
        nodeCopyFile(),
      ],
    },
    {
      id: 'direct',
      title: `Direct I/O (O_DIRECT both ends), dense ${label(denseSize)}`,
      ...denseImage,
      cache: 'cold',
      contenders: [
        fioLimit(),
        blockcopyApi('direct, io_uring depth 4', { direct: true, backend: 'io_uring', queueDepth: 4 }),
        blockcopyApi('direct, io_uring depth 16', { direct: true, backend: 'io_uring', queueDepth: 16 }),
        blockcopyApi('direct, io_uring depth 64', { direct: true, backend: 'io_uring', queueDepth: 64 }),
        blockcopyApi('direct, pread', { direct: true, backend: 'pread' }),
        dd(['iflag=direct', 'oflag=direct']),
        qemuImg(['-t', 'none', '-T', 'none']),
      ],
    },
    {
      id: 'qcow2',
      title: quick
        ? `qcow2 → raw, ${label(1 * GiB)} image, ${label(16 * MiB)} of data`
        : 'qcow2 → raw, 64 GiB image, 1 GiB of data in 32 extents',
      file: 'sparse.qcow2',
      size: quick ? 1 * GiB : 64 * GiB,
      make: asQcow2(quick ? sparse(1 * GiB, 16 * MiB, 32) : sparse(64 * GiB, 1 * GiB, 32)),
      sizeOnDisk: false, // a qcow2's file is not its size
      cache: 'warm',
      contenders: [
        blockcopyApi('-f qcow2', { srcFormat: 'qcow2' }),
        blockcopyCli(['-f', 'qcow2']),
        nbdcopyViaQemuNbd('qcow2'),
        qemuImgFrom('qcow2'),
      ],
    },
    {
      id: 'nbd-memory',
      title: `Dense ${label(variantSize)} into nbdkit memory over a unix socket`,
      file: 'variant.img',
      size: variantSize,
      make: dense(variantSize),
      cache: 'warm',
      // One server for the whole race, filled once before the timed runs.
      target: () => nbdkitMemory(variantSize),
      contenders: [blockcopyApi('to NBD'), blockcopyApi('to NBD, 1 connection', { connections: 1 }), blockcopyCli(), nbdcopy('to NBD')],
    },
    {
      id: 'checksum-dense',
      title: `Checksum of a dense ${label(denseSize)} image, in page cache`,
      ...denseImage,
      cache: 'warm',
      contenders: [blockcopyChecksum(), blockcopyChecksumCli(), sha256sum()],
    },
    {
      id: 'checksum-sparse',
      title: quick
        ? `Checksum of a sparse ${label(1 * GiB)} image, ${label(16 * MiB)} of data in 32 extents`
        : 'Checksum of a sparse 64 GiB image, 1 GiB of data in 32 extents',
      file: 'sparse.img',
      size: quick ? 1 * GiB : 64 * GiB,
      make: quick ? sparse(1 * GiB, 16 * MiB, 32) : sparse(64 * GiB, 1 * GiB, 32),
      cache: 'warm',
      contenders: [blockcopyChecksum(), blockcopyChecksumCli(), sha256sum(quick ? undefined : 1)],
    },
    {
      id: 'variants',
      title: `blockcopy's own variants, dense ${label(variantSize)}, warm source, flushed`,
      file: 'variant.img',
      size: variantSize,
      make: dense(variantSize),
      cache: 'warm',
      contenders: variants(quick),
    },
  ];
  return list;
}

function variants(quick) {
  const sizes = quick ? [256 * KiB, 1 * MiB, 4 * MiB] : [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB];
  const depths = quick ? [1, 16] : [1, 4, 16, 64];
  const out = [];
  for (const blockSize of sizes) out.push(blockcopyApi(`pread bs=${label(blockSize)}`, { backend: 'pread', blockSize }));
  for (const blockSize of sizes) {
    for (const queueDepth of depths) {
      out.push(blockcopyApi(`io_uring bs=${label(blockSize)} qd=${queueDepth}`, { backend: 'io_uring', blockSize, queueDepth }));
    }
  }
  out.push(blockcopyApi('copy_file_range', { backend: 'copy_file_range' }));
  out.push(blockcopyApi('auto, progress off', { progressInterval: 2 ** 31 - 1 }));
  out.push(blockcopyApi('auto, progress every 10 ms', { progressInterval: 10, onProgress: () => {} }));
  return out;
}

export function label(bytes) {
  if (bytes >= GiB) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${bytes / MiB} MiB`;
  return `${bytes / KiB} KiB`;
}

export function scratchFile(dir, name) {
  return path.join(dir, name);
}
