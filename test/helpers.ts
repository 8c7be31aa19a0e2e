// Shared by the suites: the built package, scratch folders, and ways to build
// and inspect sparse files.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

const require = createRequire(import.meta.url);
// The compiled package exactly as users load it (CommonJS from dist/).
export const bc = require('../dist/index.js') as typeof import('../dist/index');

export const ROOT = path.resolve(__dirname, '..');
/** The built command, as `npx blockcopy` runs it. */
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

/** Set in the test project that runs with io_uring forced off (see vitest.config.mjs). */
export const ioUringDisabled = Boolean(process.env.BLOCKCOPY_DISABLE_IO_URING);
/** Every backend a copy test runs under in this process. */
export const BACKENDS = (ioUringDisabled ? ['auto', 'pread', 'copy_file_range'] : ['auto', 'pread', 'io_uring', 'copy_file_range']) as Array<
  'auto' | 'pread' | 'io_uring' | 'copy_file_range'
>;
/** Backends that read into our own buffers: the ones zero detection, direct I/O and devices use. */
export const USER_SPACE_BACKENDS = BACKENDS.filter((b) => b === 'pread' || b === 'io_uring');
/** What `backend: 'auto'` resolves to for a plain file-to-file copy, and for one needing user space. */
export const AUTO_KERNEL = 'copy_file_range';
export const AUTO_USER = ioUringDisabled ? 'pread' : 'io_uring';
export const MiB = 1024 * 1024;
export const isRoot = process.getuid?.() === 0;

export function scratch(name: string): { dir: string; file: (n: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `blockcopy-${name}-`));
  return {
    dir,
    file: (n: string) => path.join(dir, n),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A file of `size` bytes with random data at the given [offset, length] pieces and holes elsewhere. */
export function makeSparse(file: string, size: number, pieces: Array<[number, number]>, fill?: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.ftruncateSync(fd, size);
    for (const [offset, length] of pieces) {
      for (let done = 0; done < length; ) {
        const n = Math.min(4 * MiB, length - done);
        const buf = fill === undefined ? randomBytes(n) : Buffer.alloc(n, fill);
        fs.writeSync(fd, buf, 0, n, offset + done);
        done += n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function makeDense(file: string, size: number): void {
  makeSparse(file, size, [[0, size]]);
}

export function sha256(file: string, offset = 0, length?: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const end = length === undefined ? fs.fstatSync(fd).size : offset + length;
    const hash = createHash('sha256');
    const buf = Buffer.alloc(4 * MiB);
    for (let pos = offset; pos < end; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (n === 0) {
        // Past the end a file reads as nothing; hash the zeros a hole would hold.
        hash.update(Buffer.alloc(Math.min(buf.length, end - pos)));
        pos += Math.min(buf.length, end - pos);
        continue;
      }
      hash.update(buf.subarray(0, n));
      pos += n;
    }
    return hash.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Flushes a file and drops it from the page cache, so the next reads go to the
 * disk and take their time (GNU dd's iflag=nocache with count=0 drops the whole file).
 */
export function dropCache(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  if (r.status !== 0) throw new Error(`dd could not drop ${file} from the page cache: ${r.stderr}`);
}

export const hasStrace = spawnSync('strace', ['-V']).status === 0;

/**
 * Runs node with `args` under strace and returns, per file, the flush calls
 * (fsync, fdatasync) made on it: proof that a flush happened, which the
 * bytes on disk cannot give.
 */
export function flushCalls(args: string[], input?: Buffer | { file: string }): { status: number | null; stderr: string; calls: Map<string, string[]> } {
  const log = path.join(os.tmpdir(), `blockcopy-strace-${process.pid}-${Date.now()}.log`);
  // A Buffer arrives on a socket (what Node's pipes are); { file } is stdin opened on that file.
  const stdinFd = input && !Buffer.isBuffer(input) ? fs.openSync(input.file, 'r') : undefined;
  try {
    const r = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync', '-o', log, process.execPath, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      ...(Buffer.isBuffer(input) ? { input } : {}),
      ...(stdinFd !== undefined ? { stdio: [stdinFd, 'pipe', 'pipe'] } : {}),
    });
    const calls = new Map<string, string[]>();
    for (const m of fs.readFileSync(log, 'utf8').matchAll(/(fsync|fdatasync)\(\d+<([^>]*)>\)\s+=\s+0/g)) {
      calls.set(m[2]!, [...(calls.get(m[2]!) ?? []), m[1]!]);
    }
    return { status: r.status, stderr: r.stderr, calls };
  } finally {
    if (stdinFd !== undefined) fs.closeSync(stdinFd);
    fs.rmSync(log, { force: true });
  }
}

export function allocated(file: string): number {
  return fs.statSync(file).blocks * 512;
}

const FS_BLOCK = 4096;
/**
 * Metadata a file may hold beside its data: ext4 keeps 4 extents in the inode;
 * a file that had more, if only while writeback had part of an extent in
 * flight (unwritten beside written), keeps the 4 KiB leaf block they moved
 * to after they merge back into 4.
 */
const EXTENT_TREE_BLOCK = 4096;

/**
 * `dst` keeps `src`'s holes: the same data/hole map (SEEK_DATA/SEEK_HOLE, as
 * extents() reads it), and no more allocated than that map's data blocks and
 * an extent-tree block. Fills a hole, or preallocates one, and it fails; an
 * exact st_blocks would also fail on that tree block, which the timing of
 * writeback decides.
 */
export function expectSameAllocation(dst: string, src: string): void {
  const map = bc.extentsSync(dst);
  expect(map).toEqual(bc.extentsSync(src));
  let blocks = 0;
  for (const e of map) if (e.type === 'data') blocks += Math.ceil((e.offset + e.length) / FS_BLOCK) - Math.floor(e.offset / FS_BLOCK);
  expect(allocated(dst)).toBeLessThanOrEqual(blocks * FS_BLOCK + EXTENT_TREE_BLOCK);
}

export function readAt(file: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const n = fs.readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export function isZero(buf: Buffer): boolean {
  return buf.every((b) => b === 0);
}

/** Runs node in the repository folder; returns its exit status, signal and output. */
export function runNode(args: string[], env: NodeJS.ProcessEnv = {}, timeout = 120_000) {
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A copy of the package's sources in `dir` (node_modules linked, not copied),
 * for builds that must not touch this checkout's build/ or dist/.
 */
export function copySources(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'lib', 'native', 'scripts', 'docs', 'README.md', 'LICENSE']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
}

/** Two ends of a loopback TCP connection; close() stops the listening server. */
export function socketPair(): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  return new Promise((resolve) => {
    const srv = net.createServer((server) => resolve({ client, server, close: () => srv.close() }));
    let client: net.Socket;
    srv.listen(0, '127.0.0.1', () => {
      client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    });
  });
}

/** The error a job or promise rejects with; a test fails if it resolves. */
export async function failure(job: PromiseLike<unknown>): Promise<Error & { code?: string }> {
  try {
    await job;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the transfer to fail');
}
