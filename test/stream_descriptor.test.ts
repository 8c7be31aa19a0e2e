// `blockcopy send > pipe` and `blockcopy recv < pipe`: the engine moves the
// stream on the descriptor itself (lib/stream/descriptor.ts). The same bytes
// as send() and receive() put on the wire, the same refusals, and a pipe or a
// file on the other end, never a socket (spawn's stdio is a socket: those
// tests go through the JS path in stream.test.ts and stream_attacks.test.ts).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bc, CLI, expectSameAllocation, makeDense, makeSparse, MiB, scratch, sha256 } from './helpers';
import { afterBegin, beginFrame, frame, preface, wire } from './stream_helpers';

const tmp = scratch('stream-descriptor');
afterAll(() => tmp.cleanup());

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const node = quote(process.execPath);
const cli = quote(CLI);

/** An image with data at odd places and an odd size. */
function oddImage(name: string): string {
  const file = tmp.file(name);
  makeSparse(file, 48 * MiB + 12345, [
    [0, 4097],
    [3 * MiB + 1, 1 * MiB + 3],
    [20 * MiB, 2 * MiB],
    [48 * MiB, 12345],
  ]);
  return file;
}

/** `blockcopy recv DST ARGS` with `bytes` on stdin through a real pipe (`cat | recv`) or as a file. */
function recv(how: 'pipe' | 'file', bytes: Buffer, dst: string, args: string[] = []) {
  const input = tmp.file(`input-${process.hrtime.bigint()}`);
  fs.writeFileSync(input, bytes);
  const command = `${node} ${cli} recv ${quote(dst)} ${args.map(quote).join(' ')}`;
  const r =
    how === 'pipe'
      ? spawnSync('bash', ['-c', `cat ${quote(input)} | ${command}`], { encoding: 'utf8' })
      : spawnSync('bash', ['-c', `${command} < ${quote(input)}`], { encoding: 'utf8' });
  fs.rmSync(input);
  return r;
}

/** What `blockcopy send SRC ARGS > file` writes. */
function sendToFile(src: string, args: string[] = []): Buffer {
  const out = tmp.file(`sent-${process.hrtime.bigint()}`);
  const r = spawnSync('bash', ['-c', `${node} ${cli} send ${quote(src)} --quiet ${args.map(quote).join(' ')} > ${quote(out)}`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const bytes = fs.readFileSync(out);
  fs.rmSync(out);
  return bytes;
}

describe('the engine sends and receives on pipes and files', () => {
  it('send | recv through a shell pipe: the image exact, its holes kept', () => {
    const src = oddImage('pipe.img');
    const dst = tmp.file('pipe.out');
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `${node} ${cli} send ${quote(src)} | ${node} ${cli} recv ${quote(dst)} --fsync`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/received 48.0 MiB image: .* checksum [0-9a-f]{16} verified/);
    expect(sha256(dst)).toBe(sha256(src));
    expectSameAllocation(dst, src);
  });

  it('send > file writes the same bytes as send() does into a stream, in every sparse mode', async () => {
    const src = oddImage('same.img');
    fs.writeFileSync(src, Buffer.alloc(64 * 1024), { flag: 'r+' }); // zeros written over data, for 'always' to find
    for (const sparse of ['auto', 'always', 'never'] as const) {
      const chunks: Buffer[] = [];
      const { Writable } = await import('node:stream');
      await bc.send(src, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }), { sparse, name: 'same' });
      const native = sendToFile(src, ['--sparse', sparse, '--name', 'same']);
      expect(native.length).toBeGreaterThan(0);
      expect(native.equals(Buffer.concat(chunks)), sparse).toBe(true);
    }
  });

  it('what send() makes, recv takes from a pipe and from a file; what send > file makes, receive() takes', async () => {
    const src = oddImage('interop.img');
    const bytes = await wire(src);
    for (const how of ['pipe', 'file'] as const) {
      const dst = tmp.file(`interop-${how}.out`);
      const r = recv(how, bytes, dst);
      expect(r.status, r.stderr).toBe(0);
      expect(sha256(dst)).toBe(sha256(src));
      expectSameAllocation(dst, src);
    }
    const dst = tmp.file('interop-js.out');
    const streamFile = tmp.file('interop.stream');
    fs.writeFileSync(streamFile, sendToFile(src));
    await bc.receive(fs.createReadStream(streamFile), dst);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('recv from a pipe takes one image per stream: a second BEGIN fails it', async () => {
    const bytes = await wire(oddImage('second.img'));
    const r = recv('pipe', Buffer.concat([bytes.subarray(0, afterBegin(bytes)), beginFrame(2, 4096)]), tmp.file('second.out'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a second image began \(transfer 2\): this end takes one image per stream/);
  });
});

describe('recv on a pipe or a file refuses what is wrong, and writes nothing outside the image', () => {
  const src = tmp.file('attack.src');
  makeSparse(src, 8 * MiB, [[0, 1 * MiB], [5 * MiB, 1 * MiB]]);
  const hole = (offset: number, length: number) => {
    const p = Buffer.alloc(16);
    p.writeBigUInt64LE(BigInt(offset), 0);
    p.writeBigUInt64LE(BigInt(length), 8);
    return frame(3, 1, p);
  };
  const data = (offset: number, bytes: Buffer) => {
    const p = Buffer.alloc(8);
    p.writeBigUInt64LE(BigInt(offset), 0);
    return frame(2, 1, Buffer.concat([p, bytes]));
  };
  const error = (code: string, message: string) => {
    const lengths = Buffer.alloc(4);
    lengths.writeUInt16LE(code.length, 0);
    lengths.writeUInt16LE(Buffer.byteLength(message), 2);
    return frame(5, 1, Buffer.concat([lengths, Buffer.from(code), Buffer.from(message)]));
  };
  const cases: Array<[string, (good: Buffer, begin: number) => Buffer, RegExp]> = [
    ['wrong magic', () => Buffer.from('GARBAGE!GARBAGE!GARBAGE!'), /not a blockcopy stream \(wrong magic\)/],
    ['a version from the future', (g) => Buffer.concat([g.subarray(0, 8), Buffer.from([2, 0, 0, 0]), g.subarray(12)]), /stream format version 2 is not supported/],
    ['a frame declaring 4 GiB', (g, b) => Buffer.concat([g.subarray(0, b), Buffer.from([0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 1, 0, 0, 0])]), /declares 4294967295 payload bytes, more than its limit/],
    ['an unknown frame type', (g, b) => Buffer.concat([g.subarray(0, b), frame(9, 1, Buffer.alloc(0))]), /unknown frame type 9/],
    ['a gap', (g, b) => Buffer.concat([g.subarray(0, b), hole(4096, 4096)]), /leaves bytes 0-4096 undescribed/],
    ['a piece past the end', (g, b) => Buffer.concat([g.subarray(0, b), hole(0, 8 * MiB + 1)]), /reaches past the image's end/],
    ['an overlap', (g, b) => Buffer.concat([g.subarray(0, b), hole(0, 4096), data(0, Buffer.alloc(10, 1))]), /overlaps or precedes/],
    ['a frame of another transfer', (g, b) => Buffer.concat([g.subarray(0, b), frame(3, 7, Buffer.alloc(16))]), /a HOLE frame for transfer 7, which never began/],
    ['an answer nobody asked for', (g, b) => Buffer.concat([g.subarray(0, b), Buffer.from([8, 0, 0, 0, 6, 1, 0, 0, 1, 0, 0, 0]), Buffer.alloc(8)]), /an OK answer arrived/],
    ['the sender’s ERROR', (g, b) => Buffer.concat([g.subarray(0, b), error('EIO', 'EIO: i/o error, read')]), /the other end reported EIO: EIO: i\/o error, read/],
    ['a cut in the middle of a DATA frame', (g, b) => g.subarray(0, b + 12 + 8 + 1000), /ECONNRESET|the connection closed in the middle of a transfer/],
    ['a cut before BEGIN', (g) => g.subarray(0, 16), /the connection closed before any image began/],
    ['a changed data byte', (g, b) => {
      const c = Buffer.from(g);
      c[b + 12 + 8 + 100] ^= 1;
      return c;
    }, /checksum mismatch: the sender's is [0-9a-f]{16}, the data that arrived sums to [0-9a-f]{16}/],
    ['bytes after END', (g) => Buffer.concat([g, Buffer.from('more')]), /the stream goes on after the image's END \(at least 4 more bytes\)/],
  ];

  const WRITES_THE_IMAGE = new Set(['a changed data byte', 'bytes after END']);

  for (const how of ['pipe', 'file'] as const) {
    it(`${how}: each is refused with its reason, exit 1; a file that was there keeps every byte, one that was not is not created`, async () => {
      const good = await wire(src);
      const begin = afterBegin(good);
      const existing = tmp.file(`attack-existing-${how}.out`);
      makeDense(existing, 12 * MiB);
      const before = sha256(existing);
      for (const [name, make, message] of cases) {
        const bytes = make(good, begin);
        const fresh = tmp.file(`attack-fresh-${how}.out`);
        const r = recv(how, bytes, fresh);
        expect(r.status, `${name}: ${r.stderr}`).toBe(1);
        expect(r.stderr, name).toMatch(message);
        // Only the ones that fail at the END or after it have written the image.
        const wrote = WRITES_THE_IMAGE.has(name);
        if (!wrote) expect(fs.existsSync(fresh), name).toBe(false);
        fs.rmSync(fresh, { force: true });
        if (wrote) continue;
        const again = recv(how, bytes, existing);
        expect(again.status, name).toBe(1);
        expect(sha256(existing), name).toBe(before);
        expect(fs.statSync(existing).size, name).toBe(12 * MiB);
      }
      const ok = recv(how, good, existing);
      expect(ok.status, ok.stderr).toBe(0);
      expect(sha256(existing)).toBe(sha256(src));
    });
  }
});

describe('a pipe that stalls or goes away', () => {
  /** A named pipe opened for both reading and writing: it never reports an end, and nobody drains it. */
  function stuckPipe(name: string): number {
    const fifo = tmp.file(name);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    return fs.openSync(fifo, fs.constants.O_RDWR);
  }

  async function interruptAfter(child: ReturnType<typeof spawn>, ms: number): Promise<{ code: number | null; took: number }> {
    await new Promise((r) => setTimeout(r, ms));
    const started = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { code, took: Date.now() - started };
  }

  it('recv waiting on a silent pipe: Ctrl-C cancels it at once, exit 130, no file left', async () => {
    const dst = tmp.file('silent.out');
    const fd = stuckPipe('silent.fifo');
    const child = spawn(process.execPath, [CLI, 'recv', dst], { stdio: [fd, 'pipe', 'pipe'] });
    const { code, took } = await interruptAfter(child, 1500);
    fs.closeSync(fd);
    expect(code).toBe(130);
    expect(took).toBeLessThan(3000);
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('recv of an image whose sender stalls after BEGIN: Ctrl-C cancels it, exit 130', async () => {
    const dst = tmp.file('stall.out');
    const fd = stuckPipe('stall.fifo');
    const bytes = await wire(oddImage('stall.img'));
    fs.writeSync(fd, bytes.subarray(0, afterBegin(bytes) + 5000)); // BEGIN and part of a DATA frame
    const child = spawn(process.execPath, [CLI, 'recv', dst], { stdio: [fd, 'pipe', 'pipe'] });
    const { code, took } = await interruptAfter(child, 1500);
    fs.closeSync(fd);
    expect(code).toBe(130);
    expect(took).toBeLessThan(3000);
  });

  it('send into a pipe nobody reads: Ctrl-C cancels it, exit 130', async () => {
    const src = tmp.file('stalled.src');
    makeDense(src, 16 * MiB);
    const fd = stuckPipe('stalled.fifo');
    const child = spawn(process.execPath, [CLI, 'send', src], { stdio: ['ignore', fd, 'pipe'] });
    const { code, took } = await interruptAfter(child, 1500);
    fs.closeSync(fd);
    expect(code).toBe(130);
    expect(took).toBeLessThan(3000);
  });

  it('a send cancelled between frames tells the receiver why, with an ERROR frame', async () => {
    const { sendToDescriptor } = require('../dist/stream/descriptor.js') as typeof import('../dist/stream/descriptor');
    const src = tmp.file('told.src');
    makeDense(src, 64 * MiB);
    const streamFile = tmp.file('told.stream');
    const fd = fs.openSync(streamFile, 'w');
    const ac = new AbortController();
    const job = sendToDescriptor(src, fd, { signal: ac.signal, progressInterval: 0 });
    job.once('progress', () => ac.abort());
    await expect(job.done).rejects.toMatchObject({ code: 'ABORT_ERR' });
    fs.closeSync(fd);
    const r = recv('file', fs.readFileSync(streamFile), tmp.file('told.out'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the other end reported ABORT_ERR: the sender cancelled the transfer/);
  });

  it('the last word never waits: into a full pipe it is dropped at once, whole or not at all', () => {
    const { addon } = require('../dist/native.js') as typeof import('../dist/native');
    const fd = stuckPipe('full.fifo');
    const piece = Buffer.alloc(4096, 1);
    let pieces = 0;
    while (addon.writeNow(fd, piece)) pieces++;
    expect(pieces).toBeGreaterThanOrEqual(16); // 64 KiB or more went in, then the pipe was full
    const started = Date.now();
    expect(addon.writeNow(fd, piece)).toBe(false);
    expect(Date.now() - started).toBeLessThan(100);
    fs.closeSync(fd);
  });

  it('send into a pipe whose reader leaves: EPIPE, exit 1, no hang', () => {
    const src = tmp.file('epipe.src');
    makeDense(src, 64 * MiB);
    const r = spawnSync('bash', ['-c', `${node} ${cli} send ${quote(src)} | head -c 1000 > /dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout.trim()).toBe('1');
    expect(r.stderr).toMatch(/EPIPE/);
  });
});
