// Issue 28, "Trust nothing the peer says": an NBD server that lies (test/hostile_nbd.ts)
// and what blockcopy must do about it (DESIGN.md, "NBD targets"): a read's chunks
// cover the request exactly once or the request fails with EPROTO and nothing of it
// is written; block status may end short or run past the request, and is otherwise
// contiguous and one chunk per context; every wait wakes for cancel and a reply
// arrives within nbdTimeout; peer text in errors is capped. Bytes are compared by
// hash or byte by byte against what the server really holds, failures by code,
// path and the exact offsets, waits by the clock with room for a loaded machine.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bc, CLI, makeSparse, MiB, ROOT, scratch, sha256 } from './helpers';
import { hasNbdkit, hasQemuNbd, nbdkit } from './nbd_helpers';
import { HUGE_ERROR_START, hostileNbd, type HostileMode, type HostileServer } from './hostile_nbd';

const tmp = scratch('nbd-hostile');
afterAll(() => tmp.cleanup());

const KiB = 1024;
const FILL = 0xaa; // what an existing destination holds before the copy

type CopyOptions = NonNullable<Parameters<typeof bc.copy>[2]>;
type Failure = Error & { code?: string; errno?: number; path?: string; syscall?: string; resumeOffset?: number; bytesWritten?: number };
type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: Failure; ms: number };

/** Options as a caller with the wrong types would pass them. */
function untyped(options: Record<string, unknown>): CopyOptions {
  return options as CopyOptions;
}

/** How a promise ended and after how long; it never rejects, so no failure goes unhandled. */
async function outcome<T>(promise: PromiseLike<T>, t0 = performance.now()): Promise<Outcome<T>> {
  try {
    const value = await promise;
    return { ok: true, value, ms: performance.now() - t0 };
  } catch (error) {
    return { ok: false, error: error as Failure, ms: performance.now() - t0 };
  }
}

/**
 * The outcome of `promise` if it comes within `ms`. If it does not, `rescue`
 * runs (the server drops its connections, so a stuck client sees them close)
 * and the outcome is marked late, with the time the deadline struck.
 */
async function within<T>(promise: PromiseLike<T>, ms: number, rescue: () => Promise<void>): Promise<Outcome<T> & { late: boolean }> {
  const t0 = performance.now();
  const settled = outcome(promise, t0);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const first = await Promise.race([settled, deadline]);
  clearTimeout(timer);
  if (first !== 'late') return { ...first, late: false };
  await rescue();
  const after = await Promise.race([settled, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
  if (!after) throw new Error(`not settled within ${ms} ms, nor 15 s after the server went away`);
  return { ...after, ms, late: true };
}

/** Expects `o` to have settled before its deadline, saying how it ended when it did not. */
function onTime<T>(o: Outcome<T> & { late: boolean }): void {
  const how = o.ok ? 'resolved' : `${o.error.code}: ${o.error.message}`;
  expect(o.late, `still waiting at the deadline of ${Math.round(o.ms)} ms; once the server dropped it: ${how}`).toBe(false);
}

/** Fails with the error's message when a copy that should fail succeeds (or the other way round). */
function failed<T>(o: Outcome<T>): Failure {
  if (o.ok) throw new Error(`expected a failure, got ${JSON.stringify(o.value)}`);
  return o.error;
}

function succeeded<T>(o: Outcome<T>): T {
  if (!o.ok) throw o.error;
  return o.value;
}

function thrown(fn: () => unknown): Failure {
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    return error as Failure;
  }
  // It started instead: stop it, and let the test fail on the missing throw.
  const job = returned as { cancel?: () => Promise<void>; then?: unknown };
  if (job && typeof job.then === 'function') void outcome(job as PromiseLike<unknown>);
  void job?.cancel?.().catch(() => {});
  throw new Error('expected a throw before any I/O, but the call returned');
}

function hashOf(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Random data at [0, 1 MiB), [2 MiB, 2.5 MiB) and the last 12345 bytes; zeros (holes) between. */
function sparseImage(size: number): Buffer {
  const image = Buffer.alloc(size);
  randomBytes(MiB).copy(image, 0);
  randomBytes(MiB / 2).copy(image, 2 * MiB);
  randomBytes(12345).copy(image, size - 12345);
  return image;
}

/** An existing destination of `size` bytes, all FILL, for copies with truncate: false. */
function filledFile(name: string, size: number): string {
  const file = tmp.file(name);
  fs.writeFileSync(file, Buffer.alloc(size, FILL));
  return file;
}

async function serve(name: string, size: number, image: Buffer | undefined, mode: HostileMode | HostileMode[] | undefined, extra = {}): Promise<HostileServer> {
  return hostileNbd(tmp.dir, name, { size, image, mode, ...extra });
}

/**
 * Every destination byte either still holds FILL or holds the source's byte:
 * nothing was made zero, or stale, by a lie. Returns the first offender.
 */
function firstForeignByte(dst: Buffer, src: Buffer, from = 0): number {
  for (let i = from; i < dst.length; i++) if (dst[i] !== FILL && dst[i] !== src[i]) return i;
  return -1;
}

// ---- 1 ------------------------------------------------------------------------------------------

describe('1. read replies must cover the request exactly once', () => {
  const size = 4 * MiB;
  const lieFrom = MiB; // reads below are answered honestly, so some data lands first
  const blockSize = 256 * KiB;
  const lies: HostileMode[] = ['short-read', 'missing-read', 'duplicate-chunk', 'overlap-chunks', 'outside'];
  const cases = lies.flatMap((mode) => [1, 128].map((depth) => [mode, depth] as const));

  it.each(cases)("'%s' at depth %i: EPROTO naming the URI, every byte below resumeOffset right, nothing of the lying requests written", async (mode, depth) => {
    const image = randomBytes(size); // data all through: block status says so, and every byte is read
    const server = await serve(`${mode}-${depth}`, size, image, mode, { lieFrom });
    try {
      const dst = filledFile(`${mode}-${depth}.img`, size);
      const o = await within(bc.copy(server.uri, dst, { queueDepth: depth, blockSize, truncate: false }), 20_000, () => server.close());
      const lying = server.misbehaved.filter((r) => r.type === 'read');
      expect(lying.length, 'the server lied at least once').toBeGreaterThan(0);
      onTime(o);
      const e = failed(o);
      expect(e.code).toBe('EPROTO');
      expect(e.path).toBe(server.uri);
      expect(e.message).toContain('the NBD server broke the protocol');
      const firstLie = Math.min(...lying.map((r) => r.offset));
      expect(firstLie).toBeGreaterThanOrEqual(lieFrom);
      expect(typeof e.resumeOffset).toBe('number');
      expect(e.resumeOffset!).toBeLessThanOrEqual(firstLie);
      const got = fs.readFileSync(dst);
      expect(hashOf(got.subarray(0, e.resumeOffset))).toBe(hashOf(image.subarray(0, e.resumeOffset)));
      // Nothing of a request that was lied about reaches the destination, not even its true part.
      for (const r of lying) {
        const range = got.subarray(r.offset, r.offset + r.length);
        const at = range.findIndex((b) => b !== FILL);
        expect(at, `${r.length} bytes read at ${r.offset}: written at ${r.offset + at}`).toBe(-1);
      }
      // And from resumeOffset on, no byte holds what the server never sent (zeros, stale buffers).
      expect(firstForeignByte(got, image, e.resumeOffset)).toBe(-1);
    } finally {
      await server.close();
    }
  });

  it.each(lies)("checksum() of a '%s' server is EPROTO, not a digest of what was never sent", async (mode) => {
    // Every read lies: checksum() may read the whole export in one request at 0.
    const server = await serve(`sum-${mode}`, size, randomBytes(size), mode);
    try {
      const o = await within(bc.checksum(server.uri), 20_000, () => server.close());
      expect(server.misbehaved.length, 'the server lied at least once').toBeGreaterThan(0);
      const e = failed(o);
      expect(e.code).toBe('EPROTO');
      expect(e.path).toBe(server.uri);
    } finally {
      await server.close();
    }
  });

  it.each([1, 128])('an honest server at depth %i: out and back in are byte-exact, and checksum() equals the file\'s', async (depth) => {
    const odd = 4 * MiB + 12345;
    const image = sparseImage(odd);
    const source = await serve(`honest-src-${depth}`, odd, image, undefined);
    const target = await serve(`honest-dst-${depth}`, odd, undefined, undefined);
    try {
      const out = tmp.file(`honest-${depth}.img`);
      succeeded(await within(bc.copy(source.uri, out, { queueDepth: depth, blockSize }), 20_000, () => source.close()));
      expect(fs.statSync(out).size).toBe(odd);
      expect(sha256(out)).toBe(hashOf(image));
      expect(source.requests.some((r) => r.type === 'read')).toBe(true);
      succeeded(await within(bc.copy(out, target.uri, { queueDepth: depth, blockSize }), 20_000, () => target.close()));
      expect(hashOf(target.image)).toBe(hashOf(image));
      const ofServer = succeeded(await within(bc.checksum(source.uri), 20_000, () => source.close()));
      const ofFile = succeeded(await outcome(bc.checksum(out)));
      expect(ofServer.digest).toBe(ofFile.digest);
      expect(ofServer.size).toBe(odd);
    } finally {
      await source.close();
      await target.close();
    }
  });
});

// ---- 2 ------------------------------------------------------------------------------------------

describe('2. verify reads back what the server really holds', () => {
  const size = 8 * MiB;

  /** The first byte at which the server's image differs from `src`, or -1. */
  function firstDifference(src: Buffer, server: HostileServer): number {
    for (let i = 0; i < src.length; i++) if (src[i] !== server.image[i]) return i;
    return -1;
  }

  it('writes dropped above 2 MiB: ERR_BLOCKCOPY_VERIFY naming the first differing byte exactly, resumeOffset not past it', async () => {
    const srcFile = tmp.file('verify-src.img');
    const src = randomBytes(size);
    fs.writeFileSync(srcFile, src);
    const server = await serve('drop-writes', size, undefined, 'drop-writes', { dropWritesAbove: 2 * MiB });
    try {
      const o = await within(bc.copy(srcFile, server.uri, { verify: true, truncate: false }), 30_000, () => server.close());
      const e = failed(o);
      expect(server.misbehaved.length).toBeGreaterThan(0);
      const first = firstDifference(src, server);
      expect(first).toBeGreaterThanOrEqual(2 * MiB);
      expect(e.code).toBe('ERR_BLOCKCOPY_VERIFY');
      expect(e.message).toMatch(new RegExp(`\\bbyte ${first}\\b`));
      expect(e.resumeOffset!).toBeLessThanOrEqual(first);
    } finally {
      await server.close();
    }
  });

  it('dropped writes hidden by half-answered 4 MiB reads: the copy never resolves; EPROTO, or ERR_BLOCKCOPY_VERIFY at the true first difference', async () => {
    const srcFile = tmp.file('verify-half-src.img');
    const src = randomBytes(size);
    fs.writeFileSync(srcFile, src);
    // Dropped from 6 MiB: the bytes that differ are exactly the half that the read back of [4, 8) MiB leaves out.
    const server = await serve('drop-half', size, undefined, ['drop-writes', 'half-reads'], { dropWritesAbove: 6 * MiB, halfReadsFrom: 4 * MiB });
    try {
      const o = await within(bc.copy(srcFile, server.uri, { verify: true, truncate: false, blockSize: 4 * MiB }), 30_000, () => server.close());
      const e = failed(o);
      const first = firstDifference(src, server);
      expect(first).toBeGreaterThanOrEqual(6 * MiB);
      expect(['EPROTO', 'ERR_BLOCKCOPY_VERIFY']).toContain(e.code);
      expect(server.misbehaved.some((r) => r.type === 'read'), 'a read back was cut in half').toBe(true);
      // A mismatch may only be reported where the bytes really differ, never in the half the server left out.
      if (e.code === 'ERR_BLOCKCOPY_VERIFY') expect(e.message).toMatch(new RegExp(`\\bbyte ${first}\\b`));
      expect(e.resumeOffset!).toBeLessThanOrEqual(first);
    } finally {
      await server.close();
    }
  });
});

// ---- 3 ------------------------------------------------------------------------------------------

describe('3. block status is checked: contiguous, one chunk per context, clipped, asked again when short', () => {
  const size = 4 * MiB;
  const illegal: HostileMode[] = ['duplicate-status', 'wrong-context', 'status-after-end', 'status-zero-length'];

  it.each(illegal)("'%s': copy() and extents() are EPROTO naming the URI, and no data is written over with zeros", async (mode) => {
    const image = randomBytes(size); // all data: any hole the client believes would zero real bytes
    const server = await serve(`status-${mode}`, size, image, mode);
    try {
      const dst = filledFile(`status-${mode}.img`, size);
      const copied = await within(bc.copy(server.uri, dst, { truncate: false }), 20_000, () => server.close());
      expect(server.misbehaved.some((r) => r.type === 'block_status'), 'the server lied at least once').toBe(true);
      const e = failed(copied);
      expect(e.code).toBe('EPROTO');
      expect(e.path).toBe(server.uri);
      expect(firstForeignByte(fs.readFileSync(dst), image)).toBe(-1);
      const mapped = await within(bc.extents(server.uri), 20_000, () => server.close());
      const m = failed(mapped);
      expect(m.code).toBe('EPROTO');
      expect(m.path).toBe(server.uri);
    } finally {
      await server.close();
    }
  });

  it("'short-status' (64 KiB per reply): the client asks again; the copy is exact and extents() is the server's map", async () => {
    const image = sparseImage(size);
    const server = await serve('short-status', size, image, 'short-status');
    try {
      const out = tmp.file('short-status.img');
      succeeded(await within(bc.copy(server.uri, out), 20_000, () => server.close()));
      expect(sha256(out)).toBe(hashOf(image));
      expect(server.misbehaved.length).toBeGreaterThan(0);
      const map = succeeded(await within(bc.extents(server.uri), 20_000, () => server.close()));
      expect(map).toEqual(server.map());
    } finally {
      await server.close();
    }
  });

  it("'status-overrun' (the last extent runs past the request): clipped, so a partial copy and extents() stop where asked", async () => {
    const image = sparseImage(size);
    const server = await serve('status-overrun', size, image, 'status-overrun');
    try {
      // Ends inside the data at [2, 2.5) MiB: the overrun claims data on into the hole after it.
      const length = 2 * MiB + 256 * KiB;
      const map = succeeded(await within(bc.extents(server.uri, { offset: 0, length }), 20_000, () => server.close()));
      expect(server.misbehaved.length).toBeGreaterThan(0);
      expect(map).toEqual(server.map(0, length));
      const out = tmp.file('status-overrun.img');
      succeeded(await within(bc.copy(server.uri, out, { length }), 20_000, () => server.close()));
      expect(fs.statSync(out).size).toBe(length);
      expect(sha256(out)).toBe(hashOf(image.subarray(0, length)));
      const whole = tmp.file('status-overrun-whole.img');
      succeeded(await within(bc.copy(server.uri, whole), 20_000, () => server.close()));
      expect(sha256(whole)).toBe(hashOf(image));
    } finally {
      await server.close();
    }
  });

  it("'tiny-extents' (data and hole every 512 bytes): the copy is exact and extents() is the server's map", async () => {
    const tinySize = MiB;
    const server = await serve('tiny-extents', tinySize, randomBytes(tinySize), 'tiny-extents');
    try {
      const expected = server.map();
      expect(expected.length).toBe(tinySize / 512);
      const out = tmp.file('tiny-extents.img');
      succeeded(await within(bc.copy(server.uri, out), 30_000, () => server.close()));
      expect(sha256(out)).toBe(hashOf(server.image));
      const map = succeeded(await within(bc.extents(server.uri), 20_000, () => server.close()));
      expect(map).toEqual(expected);
    } finally {
      await server.close();
    }
  });
});

// ---- 4 ------------------------------------------------------------------------------------------

describe('4. every wait is bounded by nbdTimeout and wakes for cancel', () => {
  const size = 8 * MiB;

  it("'trickle' (1 byte per 200 ms) with nbdTimeout 1000: ETIMEDOUT after about 1 s, within 3 s", async () => {
    const server = await serve('trickle', size, randomBytes(size), 'trickle', { trickleMs: 200 });
    try {
      const o = await within(bc.copy(server.uri, tmp.file('trickle.img'), { nbdTimeout: 1000 }), 8000, () => server.close());
      onTime(o);
      const e = failed(o);
      expect(e.code).toBe('ETIMEDOUT');
      expect(e.path).toBe(server.uri);
      expect(o.ms).toBeGreaterThanOrEqual(900);
      expect(o.ms).toBeLessThanOrEqual(3000);
    } finally {
      await server.close();
    }
  });

  it("'stall' (reads never answered), default nbdTimeout: cancel() 300 ms into the reads settles within 1.5 s as ABORT_ERR", async () => {
    const server = await serve('stall', size, randomBytes(size), 'stall');
    try {
      const job = bc.copy(server.uri, tmp.file('stall.img'));
      const done = outcome(job.done);
      await server.waitForRequest('read');
      await new Promise((r) => setTimeout(r, 300));
      const cancelled = await within(job.cancel(), 1500, () => server.close());
      onTime(cancelled);
      expect(cancelled.ms).toBeLessThanOrEqual(1500);
      expect(job.status).toBe('cancelled');
      const e = failed(await done);
      expect(e.code).toBe('ABORT_ERR');
    } finally {
      await server.close();
    }
  });

  it("'trickle-handshake': cancel() during the handshake settles within 1.5 s as ABORT_ERR, and no destination is created", async () => {
    const server = await serve('trickle-handshake', size, randomBytes(size), 'trickle-handshake', { trickleMs: 200 });
    try {
      const dst = tmp.file('trickle-handshake.img');
      const job = bc.copy(server.uri, dst);
      const done = outcome(job.done);
      const until = Date.now() + 10_000;
      while (server.connections === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(server.connections).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      const cancelled = await within(job.cancel(), 1500, () => server.close());
      onTime(cancelled);
      expect(job.status).toBe('cancelled');
      expect(failed(await done).code).toBe('ABORT_ERR');
      expect(server.requests).toEqual([]); // it was still negotiating
      expect(fs.existsSync(dst)).toBe(false);
    } finally {
      await server.close();
    }
  });

  it("'never-read' (writes pile up unread) with nbdTimeout 1000: ETIMEDOUT within 3 s", async () => {
    const src = tmp.file('never-read-src.img');
    fs.writeFileSync(src, randomBytes(64 * MiB));
    const server = await serve('never-read', 256 * MiB, undefined, 'never-read');
    try {
      const o = await within(bc.copy(src, server.uri, { nbdTimeout: 1000 }), 8000, () => server.close());
      onTime(o);
      const e = failed(o);
      expect(e.code).toBe('ETIMEDOUT');
      expect(e.path).toBe(server.uri);
      expect(o.ms).toBeLessThanOrEqual(3000);
    } finally {
      await server.close();
    }
  });

  it('nbdTimeout is checked before any I/O: -1 is ERR_OUT_OF_RANGE, "1s" ERR_INVALID_ARG_TYPE, and nothing is created', async () => {
    const server = await serve('timeout-args', MiB, randomBytes(MiB), undefined);
    try {
      const dst = tmp.file('timeout-args.img');
      const negative = thrown(() => bc.copy(server.uri, dst, { nbdTimeout: -1 }));
      expect(negative).toBeInstanceOf(RangeError);
      expect(negative.code).toBe('ERR_OUT_OF_RANGE');
      const text = thrown(() => bc.copy(server.uri, dst, untyped({ nbdTimeout: '1s' })));
      expect(text).toBeInstanceOf(TypeError);
      expect(text.code).toBe('ERR_INVALID_ARG_TYPE');
      expect(server.connections).toBe(0);
      expect(fs.existsSync(dst)).toBe(false);
    } finally {
      await server.close();
    }
  });

  /** Runs the CLI with `args`; `onStart` may signal it. Resolves with its exit, its stderr and the time it took. */
  function cli(args: string[], onStart?: (child: ReturnType<typeof spawn>) => Promise<number>) {
    return new Promise<{ code: number | null; signal: string | null; stderr: string; ms: number; sinceSignal: number }>((resolve) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      let signalled = t0;
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      if (onStart) void onStart(child).then((at) => (signalled = at));
      child.once('exit', (code, signal) => {
        clearTimeout(killer);
        const now = performance.now();
        resolve({ code, signal, stderr, ms: now - t0, sinceSignal: now - signalled });
      });
    });
  }

  it("CLI: --nbd-timeout 1s against 'trickle' exits 1 within 4 s, saying ETIMEDOUT", async () => {
    const server = await serve('cli-trickle', size, randomBytes(size), 'trickle', { trickleMs: 200 });
    try {
      const r = await cli(['--nbd-timeout', '1s', server.uri, tmp.file('cli-trickle.img')]);
      expect(r.stderr).toContain('ETIMEDOUT');
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThanOrEqual(4000);
    } finally {
      await server.close();
    }
  });

  it("CLI: SIGINT while copying from 'stall' exits 130 within 2 s", async () => {
    const server = await serve('cli-stall', size, randomBytes(size), 'stall');
    try {
      const r = await cli([server.uri, tmp.file('cli-stall.img')], async (child) => {
        await server.waitForRequest('read', 15_000);
        child.kill('SIGINT');
        return performance.now();
      });
      expect(r.signal).toBe(null);
      expect(r.code).toBe(130);
      expect(r.sinceSignal).toBeLessThanOrEqual(2000);
    } finally {
      await server.close();
    }
  });
});

// ---- 5 ------------------------------------------------------------------------------------------

describe('5. the peer\'s text in our errors is capped', () => {
  it("'huge-error' (60,000 bytes with NBD_REP_ERR_UNKNOWN): ENOENT, a message under 1 KiB that still starts the server's text", async () => {
    const server = await serve('huge-error', MiB, undefined, 'huge-error', { hugeErrorBytes: 60_000 });
    try {
      const dst = tmp.file('huge-error.img');
      const e = failed(await within(bc.copy(server.uri, dst), 20_000, () => server.close()));
      expect(e.code).toBe('ENOENT');
      expect(e.path).toBe(server.uri);
      expect(e.message).toContain(HUGE_ERROR_START.slice(0, 60));
      expect(e.message.length).toBeLessThan(1024);
      expect(fs.existsSync(dst)).toBe(false);
    } finally {
      await server.close();
    }
  });
});

// ---- 6 ------------------------------------------------------------------------------------------

describe('6. block sizes the server asks for', () => {
  const grid = 64 * KiB;
  /** Requests of `types` that a 64 KiB-block server would refuse: off the grid, or not whole blocks short of the export's end. */
  const offGrid = (server: HostileServer, types: string[], size: number) =>
    server.requests.filter((r) => types.includes(r.type) && (r.offset % grid !== 0 || (r.length % grid !== 0 && r.offset + r.length !== size)));

  it("'min-block' (64 KiB, EINVAL off that grid): reads, block status and checksum at odd offsets ask for whole blocks and hand back exactly the range", async () => {
    const size = 4 * MiB;
    const image = sparseImage(size);
    const server = await serve('min-block-read', size, image, 'min-block');
    try {
      const dst = tmp.file('min-block-read.img');
      const srcOffset = 12345, length = 3 * MiB + 777;
      succeeded(await within(bc.copy(server.uri, dst, { srcOffset, length, queueDepth: 8 }), 20_000, () => server.close()));
      expect(hashOf(fs.readFileSync(dst))).toBe(hashOf(image.subarray(srcOffset, srcOffset + length)));
      const list = succeeded(await within(bc.extents(server.uri, { offset: 4097, length: MiB + 3 }), 20_000, () => server.close()));
      expect(list[0]!.offset).toBe(4097);
      expect(list.reduce((n, e) => n + e.length, 0)).toBe(MiB + 3);
      expect(list).toEqual(server.map(4097, MiB + 3));
      const sum = succeeded(await within(bc.checksum(server.uri, { offset: 1, length: 2 * MiB }), 20_000, () => server.close()));
      const copy = tmp.file('min-block-read-ref.img');
      fs.writeFileSync(copy, image.subarray(1, 1 + 2 * MiB));
      expect(sum.digest).toBe((await bc.checksum(copy)).digest);
      expect(server.requests.some((r) => r.type === 'read')).toBe(true);
      expect(offGrid(server, ['read', 'block_status'], size)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  /** A sparse source whose hole and data edges fall on 4 KiB and odd offsets, never on 64 KiB. */
  function oddEdges(name: string, size: number): { file: string; bytes: Buffer } {
    const file = tmp.file(name);
    makeSparse(file, size, [
      [4097, 3 * MiB],
      [4 * MiB + 4096, 64 * KiB - 8192],
      [6 * MiB - 12345, 2 * MiB + 7],
    ]);
    return { file, bytes: fs.readFileSync(file) };
  }

  for (const sparse of ['auto', 'always', 'never'] as const) {
    it(`'min-block' as a destination, sparse '${sparse}': every write and zero is whole 64 KiB blocks, and the copy is exact`, async () => {
      const size = 12 * MiB;
      const source = oddEdges(`min-block-src-${sparse}.img`, size);
      // Old bytes everywhere, so holes must be zeroed, not skipped.
      const server = await serve(`min-block-dst-${sparse}`, size, Buffer.alloc(size, FILL), 'min-block');
      try {
        succeeded(await within(bc.copy(source.file, server.uri, { sparse, queueDepth: 16 }), 20_000, () => server.close()));
        expect(hashOf(server.image)).toBe(hashOf(source.bytes));
        expect(server.requests.some((r) => r.type === 'write')).toBe(true);
        expect(offGrid(server, ['write', 'write_zeroes', 'trim', 'read', 'block_status'], size)).toEqual([]);
        // Each block written at most once (what qemu's compress filter needs of a cluster).
        const writes = new Map<number, number>();
        for (const r of server.requests.filter((q) => q.type === 'write' || q.type === 'write_zeroes'))
          for (let b = r.offset; b < r.offset + r.length; b += grid) writes.set(b, (writes.get(b) ?? 0) + 1);
        expect([...writes.values()].every((n) => n === 1)).toBe(true);
      } finally {
        await server.close();
      }
    });
  }

  it("'min-block' as a destination: a range off its grid is ERR_INVALID_ARG_VALUE before a byte is written", async () => {
    const size = 4 * MiB;
    const source = oddEdges('min-block-odd.img', size);
    const server = await serve('min-block-odd', size, Buffer.alloc(size, FILL), 'min-block');
    try {
      const e = failed(await within(bc.copy(source.file, server.uri, { dstOffset: 4096, length: MiB }), 20_000, () => server.close()));
      expect(e.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(e.message).toContain('whole blocks of 65536 bytes');
      expect(server.requests.filter((r) => r.type === 'write' || r.type === 'write_zeroes')).toEqual([]);
      expect(server.image.every((b) => b === FILL)).toBe(true);
    } finally {
      await server.close();
    }
  });

  it.skipIf(!hasNbdkit)("nbdkit's blocksize-policy (minimum 64 KiB, error policy): a sparse copy in, with a bandwidth limit and at depth 1, reads back exact", async () => {
    const size = 12 * MiB;
    const source = oddEdges('policy-src.img', size);
    const server = await nbdkit(tmp.dir, ['--filter=blocksize-policy', 'memory', String(size), 'blocksize-minimum=65536', 'blocksize-preferred=65536', 'blocksize-error-policy=error'], 'policy');
    try {
      await bc.copy(source.file, server.uri, { sparse: 'always' });
      await bc.copy(source.file, server.uri, { bandwidth: 64 * MiB, queueDepth: 1 });
      const back = tmp.file('policy-back.img');
      await bc.copy(server.uri, back);
      expect(sha256(back)).toBe(sha256(source.file));
    } finally {
      await server.stop();
    }
  });

  it.skipIf(!hasQemuNbd)('-O qcow2 -c: a compressed qcow2 that qemu-img checks clean and compares equal, with compressed clusters', async () => {
    const size = 12 * MiB;
    const file = tmp.file('compress-src.img');
    // Text compresses: qemu keeps a cluster compressed only where that saves space.
    const text = Buffer.from('blockcopy writes every cluster whole and once. '.repeat(1500));
    makeSparse(file, size, [[4097, 3 * MiB], [6 * MiB - 12345, 2 * MiB + 7]]);
    const fd = fs.openSync(file, 'r+');
    for (const at of [4097, 6 * MiB - 12345]) fs.writeSync(fd, text, 0, text.length, at);
    fs.closeSync(fd);
    const out = tmp.file('compressed.qcow2');
    const r = spawnSync(process.execPath, [CLI, file, out, '-O', 'qcow2', '-c', '--quiet']);
    expect(r.status, String(r.stderr)).toBe(0);
    const check = spawnSync('qemu-img', ['check', out], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('No errors were found');
    const compressed = /([\d.]+)% compressed clusters/.exec(check.stdout);
    expect(Number(compressed?.[1] ?? 0)).toBeGreaterThan(0);
    expect(spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', file, out]).status).toBe(0);
    // Holes are never written: unallocated in the image.
    const map = JSON.parse(spawnSync('qemu-img', ['map', '--output=json', out], { encoding: 'utf8' }).stdout) as { start: number; length: number; data: boolean }[];
    expect(map.some((m) => !m.data && m.start <= 4 * MiB && m.start + m.length >= 5 * MiB)).toBe(true);
    expect(() => bc.copy(file, tmp.file('c.raw'), { dstCompress: true })).toThrow(/needs options.dstFormat 'qcow2'/);
  });
});
