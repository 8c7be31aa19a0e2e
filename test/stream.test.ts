// Streaming: extent streams, the wire format, send/receive over pipes and
// sockets, several transfers on one connection, and malformed input.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { TransferJob } from '../dist/index';
import { allocated, bc, expectSameAllocation, makeSparse, MiB, ROOT, scratch, sha256, socketPair } from './helpers';

const tmp = scratch('stream');
afterAll(() => tmp.cleanup());
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const hashOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function sparseImage(name: string): string {
  const file = tmp.file(name);
  makeSparse(file, 64 * MiB, [
    [0, 1 * MiB],
    [10 * MiB + 4096, 3 * MiB],
    [40 * MiB, 512 * 1024],
    [64 * MiB - 8192, 8192],
  ]);
  return file;
}

/** 16 MiB, fully allocated, three quarters of it written zeros. */
function zeroHeavyImage(name: string): string {
  const file = tmp.file(name);
  const fd = fs.openSync(file, 'w');
  for (let off = 0; off < 16 * MiB; off += 1 * MiB) {
    const data = off % (4 * MiB) === 0 ? randomBytes(1 * MiB) : Buffer.alloc(1 * MiB);
    fs.writeSync(fd, data, 0, data.length, off);
  }
  fs.closeSync(fd);
  return file;
}

/** Encoded bytes of an image, as send would produce them on a pipe. */
async function encoded(file: string, sparse: 'auto' | 'always' | 'never' = 'auto'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await bc.send(file, sink, { sparse });
  return Buffer.concat(chunks);
}

async function failure(job: TransferJob): Promise<Error & { code?: string }> {
  try {
    await job;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the transfer to fail');
}

describe('extent streams and encode/decode', () => {
  it.each([
    ['dense', 'auto'],
    ['sparse', 'auto'],
    ['zero-heavy', 'always'],
  ] as const)('round-trips a %s image byte-exact and sparse (sparse %s)', async (kind, sparse) => {
    const src = kind === 'dense' ? tmp.file('dense.img') : kind === 'sparse' ? sparseImage('rt-sparse.img') : zeroHeavyImage('rt-zero.img');
    if (kind === 'dense') makeSparse(src, 5 * MiB + 123, [[0, 5 * MiB + 123]]);
    const dst = tmp.file(`rt-${kind}.out`);
    const reader = bc.createExtentReadStream(src, { sparse });
    const info = await reader.ready();
    const objects: string[] = [];
    const spy = new PassThrough({ objectMode: true });
    spy.on('data', (o: { type: string }) => objects.push(o.type));
    await pipeline(reader, bc.encode({ size: info.size, dataBytes: info.dataBytes }), bc.decode(), spy, bc.createExtentWriteStream(dst));
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(fs.statSync(src).size);
    expect(objects[0]).toBe('begin');
    expect(objects.at(-1)).toBe('end');
    if (kind === 'sparse') expectSameAllocation(dst, src);
    if (kind === 'zero-heavy') {
      // 4 MiB of data in 16 MiB: the zeros became holes.
      expect(allocated(dst)).toBeLessThanOrEqual(4 * MiB * 1.05);
      expect(objects.filter((t) => t === 'hole').length).toBeGreaterThan(0);
    }
  });

  it('read items are ascending, at most 256 KiB, and cover the image', async () => {
    const src = sparseImage('items.img');
    const items: Array<{ type: string; offset: number; length?: number; data?: Buffer }> = [];
    for await (const item of bc.createExtentReadStream(src)) items.push(item);
    let next = 0;
    for (const item of items) {
      expect(item.offset).toBe(next);
      const length = item.type === 'data' ? item.data!.length : item.length!;
      if (item.type === 'data') expect(length).toBeLessThanOrEqual(256 * 1024);
      next += length;
    }
    expect(next).toBe(64 * MiB);
  });

  it('the write stream zeroes holes over old data and leaves bytes outside the image alone', async () => {
    const src = sparseImage('over.img');
    const dst = tmp.file('over.out');
    fs.writeFileSync(dst, Buffer.alloc(80 * MiB, 0xaa));
    const reader = bc.createExtentReadStream(src);
    const { size } = await reader.ready();
    await pipeline(reader, bc.createExtentWriteStream(dst, { size, offset: 8 * MiB }));
    expect(sha256(dst, 8 * MiB, 64 * MiB)).toBe(sha256(src));
    expect(sha256(dst, 0, 8 * MiB)).toBe(hashOf(Buffer.alloc(8 * MiB, 0xaa)));
    expect(sha256(dst, 72 * MiB, 8 * MiB)).toBe(hashOf(Buffer.alloc(8 * MiB, 0xaa)));
  });

  it('a bad target or option throws with Node codes, and a failed open creates nothing', async () => {
    expect(() => bc.createExtentReadStream(42.5 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => bc.createExtentReadStream('x', { sparse: 'maybe' as 'auto' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => bc.createExtentWriteStream('x', { size: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    const missing = bc.createExtentReadStream(tmp.file('nope.img'));
    missing.on('error', () => {});
    await expect(missing.ready()).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
    const dst = tmp.file('no-dir/x.out');
    const writer = bc.createExtentWriteStream(dst, { size: 10 });
    const error = await new Promise<Error & { code?: string }>((resolve) => writer.on('error', resolve));
    expect(error.code).toBe('ENOENT');
  });
});

describe('the checksum', () => {
  // docs/stream-format.md, written out with BigInt: a second implementation to hold the engine to.
  const M = (1n << 64n) - 1n;
  function splitmix64(x: bigint): bigint {
    let z = (x + 0x9e3779b97f4a7c15n) & M;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  }
  function documented(image: Buffer): string {
    const padded = Buffer.concat([image, Buffer.alloc((8 - (image.length % 8)) % 8)]);
    let sum = 0n;
    for (let i = 0; i < padded.length / 8; i++) {
      sum = (sum + padded.readBigUInt64LE(i * 8) * (splitmix64(BigInt(i)) | 1n)) & M;
    }
    return sum.toString(16).padStart(16, '0');
  }

  it('END carries the checksum docs/stream-format.md defines, whatever the data pieces are', async () => {
    const image = randomBytes(3 * 4096 + 13);
    image.fill(0, 4096, 8192); // a zero block, as zero detection would skip it
    const file = tmp.file('sum.img');
    fs.writeFileSync(file, image);
    for (const sparse of ['auto', 'always'] as const) {
      const bytes = await encoded(file, sparse);
      const end = bytes.subarray(bytes.length - 28); // the last frame: 12 + 16 bytes
      expect(end.readUInt8(4)).toBe(4);
      expect(end.readBigUInt64LE(20).toString(16).padStart(16, '0')).toBe(documented(image));
    }
    // Pieces at odd offsets, written by hand: a word split across frames adds up the same.
    const items = [
      { type: 'data' as const, offset: 0, data: image.subarray(0, 5) },
      { type: 'data' as const, offset: 5, data: image.subarray(5, 4096) },
      { type: 'hole' as const, offset: 4096, length: 4096 },
      { type: 'data' as const, offset: 8192, data: image.subarray(8192) },
    ];
    const chunks: Buffer[] = [];
    await pipeline(Readable.from(items), bc.encode({ size: image.length }), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
    const out = Buffer.concat(chunks);
    expect(out.subarray(out.length - 8).readBigUInt64LE(0).toString(16).padStart(16, '0')).toBe(documented(image));
  });
});

describe('malformed input', () => {
  async function decodeInto(bytes: Buffer, dst: string): Promise<Error & { code?: string }> {
    try {
      await pipeline(Readable.from([bytes]), bc.decode(), bc.createExtentWriteStream(dst, { offset: 1 * MiB, truncate: false }));
    } catch (error) {
      return error as Error & { code?: string };
    }
    throw new Error('expected decode to fail');
  }

  /** A destination with a known pattern around the image's range [1 MiB, 1 MiB + 64 MiB). */
  function guarded(name: string): { file: string; untouched: () => void } {
    const file = tmp.file(name);
    fs.writeFileSync(file, Buffer.alloc(1 * MiB, 0x5a));
    const before = sha256(file, 0, 1 * MiB);
    return {
      file,
      untouched: () => {
        expect(sha256(file, 0, 1 * MiB)).toBe(before);
        expect(fs.statSync(file).size).toBeLessThanOrEqual(1 * MiB + 64 * MiB);
      },
    };
  }

  it('refuses wrong magic, a newer version, random bytes and truncation with clear errors', async () => {
    const valid = await encoded(sparseImage('mal.img'));
    const g = guarded('mal.out');
    const wrongMagic = Buffer.from(valid);
    wrongMagic.write('NOTBLKCP', 0, 'latin1');
    expect(await decodeInto(wrongMagic, g.file)).toMatchObject({ code: 'ERR_BLOCKCOPY_STREAM', message: expect.stringMatching(/wrong magic/) });
    const newer = Buffer.from(valid);
    newer.writeUInt32LE(2, 8);
    expect((await decodeInto(newer, g.file)).message).toMatch(/version 2 is not supported/);
    expect((await decodeInto(randomBytes(4096), g.file)).code).toBe('ERR_BLOCKCOPY_STREAM');
    for (const cut of [10, 16 + 5, 16 + 12 + 3, Math.floor(valid.length / 2), valid.length - 1]) {
      const error = await decodeInto(valid.subarray(0, cut), g.file);
      expect(error.code, `cut at ${cut}`).toBe('ERR_BLOCKCOPY_STREAM');
    }
    g.untouched();
  });

  it('refuses a frame reaching past the image before writing it, and an oversized length before buffering it', async () => {
    const g = guarded('past.out');
    const frames = (...parts: Buffer[][]) => Buffer.concat(parts.flat());
    const begin = (size: number) => {
      const b = Buffer.alloc(12 + 18);
      b.writeUInt32LE(18, 0);
      b.writeUInt8(1, 4);
      b.writeUInt32LE(1, 8);
      b.writeBigUInt64LE(BigInt(size), 12);
      return [b];
    };
    const data = (offset: number, bytes: Buffer) => {
      const h = Buffer.alloc(20);
      h.writeUInt32LE(8 + bytes.length, 0);
      h.writeUInt8(2, 4);
      h.writeUInt32LE(1, 8);
      h.writeBigUInt64LE(BigInt(offset), 12);
      return [h, bytes];
    };
    const pre = Buffer.concat([Buffer.from('BLKCOPY\n', 'latin1'), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]);
    // 64 KiB of 0xff declared at the image's last 4 KiB: nothing of it may land.
    const past = await decodeInto(frames([pre], begin(64 * MiB), data(64 * MiB - 4096, Buffer.alloc(64 * 1024, 0xff))), g.file);
    expect(past.message).toMatch(/past the image's end|undescribed/);
    g.untouched();
    // A DATA frame declaring 4 GiB: refused from its header alone.
    const huge = Buffer.alloc(12);
    huge.writeUInt32LE(0xffffffff, 0);
    huge.writeUInt8(2, 4);
    huge.writeUInt32LE(1, 8);
    expect((await decodeInto(frames([pre], begin(1024), [huge]), g.file)).message).toMatch(/more than its limit/);
  });

  it('a fuzz loop of mutated valid streams always ends in a clear error or an exact image, never outside the range', async () => {
    const src = sparseImage('fuzz.img');
    const valid = await encoded(src);
    const g = guarded('fuzz.out');
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const codes = new Map<string, number>();
    for (let round = 0; round < 150; round++) {
      const bytes = Buffer.from(valid);
      const flips = 1 + random(4);
      // Mostly in headers and the first frames, where a flip changes structure.
      for (let f = 0; f < flips; f++) bytes[random(round % 2 ? bytes.length : 512)] ^= 1 << random(8);
      let code = 'none';
      try {
        await pipeline(Readable.from([bytes]), bc.decode(), bc.createExtentWriteStream(g.file, { offset: 1 * MiB, truncate: false }));
        // Flips that decode cleanly (inside data the checksum would catch) must be harmless.
        expect(sha256(g.file, 1 * MiB, 64 * MiB)).toBe(sha256(src));
      } catch (error) {
        code = (error as { code?: string }).code ?? 'no code';
        expect(['ERR_BLOCKCOPY_STREAM', 'ERR_BLOCKCOPY_CHECKSUM', 'ERR_BLOCKCOPY_REMOTE', 'ERR_OUT_OF_RANGE']).toContain(
          (error as { code?: string }).code === undefined ? 'none' : code,
        );
        expect((error as Error).message.length).toBeGreaterThan(10);
      }
      codes.set(code, (codes.get(code) ?? 0) + 1);
      g.untouched();
    }
    // The loop really exercised the decoder's refusals.
    expect(codes.get('ERR_BLOCKCOPY_STREAM') ?? 0).toBeGreaterThan(20);
  });
});

describe('send and receive', () => {
  it('a receiver over old data counts the holes it zeroed apart from the data it wrote (receive() and recv from a pipe)', async () => {
    const src = tmp.file('zeroed.img');
    makeSparse(src, 16 * MiB, [[4 * MiB, 3 * MiB]]);
    const old = Buffer.alloc(16 * MiB, 0xab);
    const dst = tmp.file('zeroed.out');
    fs.writeFileSync(dst, old);
    const wire = new PassThrough();
    const [, got] = await Promise.all([bc.send(src, wire), bc.receive(wire, dst)]);
    expect(sha256(dst)).toBe(sha256(src));
    expect(got).toMatchObject({ bytesWritten: 3 * MiB, bytesZeroed: 13 * MiB, bytesSkipped: 0, zeroedBy: ['punch_hole'] });

    fs.writeFileSync(dst, old);
    const sender = spawn(process.execPath, [CLI, 'send', src]);
    const receiver = spawn(process.execPath, [CLI, 'recv', dst, '--json']);
    sender.stdout.pipe(receiver.stdin);
    let out = '';
    receiver.stdout.on('data', (d) => (out += d));
    const [sent, received] = await Promise.all([new Promise((r) => sender.on('close', r)), new Promise((r) => receiver.on('close', r))]);
    expect([sent, received]).toEqual([0, 0]);
    expect(sha256(dst)).toBe(sha256(src));
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toMatchObject({
      type: 'result',
      bytesWritten: 3 * MiB,
      bytesZeroed: 13 * MiB,
      bytesSkipped: 0,
      zeroedBy: ['punch_hole'],
    });
  });

  it('through a real pipe between two processes with the CLI, with progress on stderr', async () => {
    const src = sparseImage('cli.img');
    const dst = tmp.file('cli.out');
    const sender = spawn(process.execPath, [CLI, 'send', src, '--json']);
    const receiver = spawn(process.execPath, [CLI, 'recv', dst]);
    sender.stdout.pipe(receiver.stdin);
    let sendErr = '';
    let recvErr = '';
    sender.stderr.on('data', (d) => (sendErr += d));
    receiver.stderr.on('data', (d) => (recvErr += d));
    const [sendCode, recvCode] = await Promise.all([
      new Promise((r) => sender.on('close', r)),
      new Promise((r) => receiver.on('close', r)),
    ]);
    expect(recvErr).toMatch(/received 64.0 MiB image.* checksum [0-9a-f]{16} verified/);
    expect([sendCode, recvCode]).toEqual([0, 0]);
    const lines = sendErr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; bytesDone: number });
    expect(lines.at(-1)).toMatchObject({ type: 'result', bytesDone: 64 * MiB });
    expect(sha256(dst)).toBe(sha256(src));
    expectSameAllocation(dst, src);
  });

  it('recv exits once the image is in, even when its stdin stays open (ssh keeps it)', async () => {
    const src = sparseImage('open.img');
    const dst = tmp.file('open.out');
    const bytes = await encoded(src);
    const child = spawn(process.execPath, [CLI, 'recv', dst, '--quiet']);
    child.stdin.write(bytes); // and never end()
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('recv exits 1 with a clear message on a truncated stream', async () => {
    const bytes = await encoded(sparseImage('cut.img'));
    const file = tmp.file('cut.stream');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 40));
    const child = spawn(process.execPath, [CLI, 'recv', tmp.file('cut.out')], { stdio: [fs.openSync(file, 'r'), 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    expect(await new Promise((r) => child.on('close', r))).toBe(1);
    expect(err).toMatch(/^blockcopy: /);
  });

  it('over a loopback socket: the sender resolves on the receiver OK, checksums agree', async () => {
    const src = sparseImage('tcp.img');
    const dst = tmp.file('tcp.out');
    const { client, server, close } = await socketPair();
    const received = bc.receive(server, dst, { fsync: 'full' }); // with write-behind as data arrives
    const sent = bc.send(src, client, { name: 'tcp.img' });
    const [r, s] = await Promise.all([received, sent]);
    close();
    expect(s.checksum).toBe(r.checksum);
    expect(r.name).toBe('tcp.img');
    expect(s.bytesWritten).toBe(r.bytesWritten); // the receiver's count, from its OK
    expect(sha256(dst)).toBe(sha256(src));
    expectSameAllocation(dst, src);
  });

  it('a receiver that cannot write its target: the sender gets its error', async () => {
    const src = sparseImage('tcp-fail.img');
    const { client, server, close } = await socketPair();
    const received = bc.receive(server, tmp.dir); // a directory
    const sent = bc.send(src, client);
    const [recvError, sendError] = await Promise.all([failure(received), failure(sent)]);
    close();
    expect(recvError.code).toBe('EISDIR');
    expect(sendError).toMatchObject({ name: 'RemoteError', code: 'EISDIR', remote: true });
    expect(sendError.message).toMatch(/the other end reported EISDIR/);
  });

  it('a sender that aborts mid-transfer: both ends end with a clear error', async () => {
    const src = sparseImage('tcp-abort.img');
    const dst = tmp.file('tcp-abort.out');
    const { client, server, close } = await socketPair();
    const received = bc.receive(server, dst, { progressInterval: 0 });
    const ac = new AbortController();
    const sent = bc.send(src, client, { signal: ac.signal });
    received.once('progress', () => ac.abort());
    const [recvError, sendError] = await Promise.all([failure(received), failure(sent)]);
    close();
    expect(sendError.code).toBe('ABORT_ERR');
    expect(recvError).toMatchObject({ name: 'RemoteError', code: 'ABORT_ERR', remote: true });
    expect(recvError.message).toMatch(/the sender cancelled/);
  });

  it('a sender that aborts before it began: the receiver hears the connection close', async () => {
    const { client, server, close } = await socketPair();
    const received = bc.receive(server, tmp.file('tcp-early.out'));
    const sent = bc.send(sparseImage('tcp-early.img'), client, { signal: AbortSignal.abort() });
    const [recvError, sendError] = await Promise.all([failure(received), failure(sent)]);
    close();
    expect(sendError.code).toBe('ABORT_ERR');
    expect(recvError).toMatchObject({ code: 'ECONNRESET', message: expect.stringMatching(/before any image began/) });
    expect(fs.existsSync(tmp.file('tcp-early.out'))).toBe(false);
  });

  it('a peer that disappears mid-stream is an error on the other side, not a hang', async () => {
    const src = sparseImage('tcp-gone.img');
    const { client, server, close } = await socketPair();
    const received = bc.receive(server, tmp.file('tcp-gone.out'));
    received.on('progress', () => client.destroy()); // the sender's side vanishes once data flows
    const sent = bc.send(src, client, { progressInterval: 0 });
    const recvError = await failure(received);
    expect(recvError.code).toBe('ECONNRESET');
    expect(recvError.message).toMatch(/connection closed/);
    const sendError = await failure(sent);
    expect(sendError.message.length).toBeGreaterThan(0);
    close();
  });

  it('two transfers on one socket: the small one finishes while the large one is still running', async () => {
    const large = tmp.file('large.img');
    makeSparse(large, 256 * MiB, [[0, 256 * MiB]]);
    const small = sparseImage('small.img');
    const { client, server, close } = await socketPair();
    const sender = bc.Connection.over(client);
    const receiver = bc.Connection.over(server);
    const incoming = new Map<string, TransferJob>();
    receiver.on('transfer', (t) => incoming.set(t.name, t.accept(tmp.file(`multi-${t.name}.out`))));
    const bigJob = sender.send(large, { name: 'large' });
    const smallJob = sender.send(small, { name: 'small' });
    await smallJob;
    expect(bigJob.status).toBe('running');
    expect(bigJob.progress().bytesDone).toBeLessThan(256 * MiB);
    await bigJob;
    await incoming.get('large');
    await sender.end();
    close();
    expect(sha256(tmp.file('multi-small.out'))).toBe(sha256(small));
    expect(sha256(tmp.file('multi-large.out'))).toBe(sha256(large));
  });

  it('limits transfers in flight: the sender queues beyond maxTransfers, the receiver refuses a flood', async () => {
    const src = sparseImage('limit.img');
    const { client, server, close } = await socketPair();
    const sender = bc.Connection.over(client, { maxTransfers: 2 });
    const receiver = bc.Connection.over(server, { maxTransfers: 2 });
    let running = 0;
    let peak = 0;
    receiver.on('transfer', (t) => {
      const job = t.accept(tmp.file(`limit-${t.id}.out`));
      peak = Math.max(peak, ++running);
      void job.done.finally(() => running--).catch(() => {});
    });
    const jobs = Array.from({ length: 5 }, () => sender.send(src));
    expect(jobs.filter((j) => j.status === 'running').length).toBeLessThanOrEqual(2);
    await Promise.all(jobs);
    expect(peak).toBeLessThanOrEqual(2);
    await sender.end();
    close();
  });
});
