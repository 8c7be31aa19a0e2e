// send(..., { resume: true }): the receiver says which 64 KiB blocks it holds
// (their digests), and only the others cross the wire. Resume and delta sync
// are that one mechanism; bytes on the wire are counted, not assumed.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { allocated, bc, CLI, flushCalls, hasStrace, makeSparse, MiB, runNode, scratch, sha256, socketPair } from './helpers';
import { beginFrame, frame, preface } from './stream_helpers';

const tmp = scratch('resume');
afterAll(() => tmp.cleanup());

const BLOCK = 64 * 1024;

/** Bytes the sender put on the wire, and what the receiver answered. */
async function transfer(src: string, dst: string, sendOptions: object = {}, receiveOptions: object = {}) {
  const { client, server, close } = await socketPair();
  let sent = 0;
  let answered = 0;
  server.on('data', (c: Buffer) => (sent += c.length));
  client.on('data', (c: Buffer) => (answered += c.length));
  try {
    const received = bc.receive(server, dst, receiveOptions);
    const result = await bc.send(src, client, { resume: true, ...sendOptions });
    const got = await received;
    return { sent, answered, result, got };
  } finally {
    client.destroy();
    server.destroy();
    close();
  }
}

function dense(name: string, size: number): string {
  const file = tmp.file(name);
  fs.writeFileSync(file, randomBytes(size));
  return file;
}

describe('resume and delta over a socket', () => {
  it('resume from 60%: at most the missing 40% and a block cross the wire, and the image is exact', async () => {
    const size = 32 * MiB + 4097;
    const src = dense('r60.src', size);
    const dst = tmp.file('r60.dst');
    const held = Math.floor(size * 0.6) + 123; // cut mid-block, as a broken transfer leaves it
    fs.writeFileSync(dst, fs.readFileSync(src).subarray(0, held));
    const { sent, answered, result, got } = await transfer(src, dst);
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(size);
    const missing = size - Math.floor(held / BLOCK) * BLOCK;
    expect(sent).toBeGreaterThanOrEqual(missing);
    expect(sent).toBeLessThanOrEqual(missing + 64 * 1024); // frame headers and SAME frames
    expect(answered).toBeLessThanOrEqual(Math.ceil(held / BLOCK) * 32 + 4096); // the digests, and OK
    expect(result.bytesSkipped).toBe(Math.floor(held / BLOCK) * BLOCK);
    // Dense: all that was skipped is what the receiver kept, on both sides.
    expect(result.bytesKept).toBe(Math.floor(held / BLOCK) * BLOCK);
    expect(got.bytesKept).toBe(Math.floor(held / BLOCK) * BLOCK);
    expect(got.checksum).toBe(result.checksum);
  });

  it('delta: 1% of the blocks changed costs about 1% on the wire', async () => {
    const size = 64 * MiB;
    const src = dense('delta.src', size);
    const dst = tmp.file('delta.dst');
    fs.copyFileSync(src, dst);
    const fd = fs.openSync(src, 'r+');
    const changed = new Set<number>();
    while (changed.size < (size / BLOCK) * 0.01) changed.add(Math.floor(Math.random() * (size / BLOCK)));
    // Invert the byte rather than write a random one: a random byte equals the old one
    // once in 256 blocks, and that block would rightly not be sent.
    const byte = Buffer.alloc(1);
    for (const b of changed) {
      const at = b * BLOCK + Math.floor(Math.random() * BLOCK);
      fs.readSync(fd, byte, 0, 1, at);
      byte[0] ^= 0xff;
      fs.writeSync(fd, byte, 0, 1, at);
    }
    fs.closeSync(fd);
    expect(sha256(dst)).not.toBe(sha256(src));
    // verify reads the image back: the kept blocks count in what it expects, as the written ones do.
    const { sent } = await transfer(src, dst, {}, { verify: true });
    expect(sha256(dst)).toBe(sha256(src));
    expect(sent).toBeGreaterThanOrEqual(changed.size * BLOCK);
    expect(sent).toBeLessThanOrEqual(changed.size * BLOCK * 1.1 + 64 * 1024);
  });

  it('an interrupted socket transfer resumes where it broke, with the bytes on the wire counted', async () => {
    const size = 96 * MiB;
    const src = dense('cut.src', size);
    const dst = tmp.file('cut.dst');
    // The first try breaks once the receiver has 80%: the connection drops. (What the
    // receiver had queued but not yet written, up to 16 MiB, is lost with it.)
    const first = await socketPair();
    const received = bc.receive(first.server, dst, { progressInterval: 0 });
    received.on('progress', (p) => {
      if (p.position >= size * 0.8) {
        first.client.destroy();
        first.server.destroy();
      }
    });
    const sending = bc.send(src, first.client);
    const broken = await received.then(
      () => undefined,
      (e: Error & { bytesWritten?: number }) => e,
    );
    await sending.catch(() => {});
    first.close();
    expect(broken).toBeDefined();
    expect(sha256(dst)).not.toBe(sha256(src));
    const { sent, result } = await transfer(src, dst);
    expect(sha256(dst)).toBe(sha256(src));
    // What the receiver held went as SAME frames; the rest, and only it, as data.
    expect(result.bytesSkipped).toBeGreaterThanOrEqual(size * 0.5);
    expect(sent).toBeLessThanOrEqual(size - result.bytesSkipped + 64 * 1024);
    expect(sent).toBeLessThan(size * 0.5);
  });

  it('holes stay holes, old data under the source holes is zeroed, and a longer destination is cut', async () => {
    const src = tmp.file('sparse.src');
    makeSparse(src, 16 * MiB + 100, [
      [4097, MiB],
      [9 * MiB, 2 * MiB + 3],
    ]);
    const dst = tmp.file('sparse.dst');
    makeSparse(dst, 24 * MiB, [[0, 24 * MiB]], 0x5a); // old bytes everywhere, and longer
    const { sent } = await transfer(src, dst);
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(16 * MiB + 100);
    expect(sent).toBeLessThan(4 * MiB);
    // Once it holds the image, a second run sends no data at all, only SAME and HOLE frames.
    const again = await transfer(src, dst, {}, { verify: true });
    expect(again.sent).toBeLessThan(16 * 1024);
    expect(allocated(dst)).toBeLessThanOrEqual(allocated(src) + 2 * BLOCK);
  });

  it('a destination that does not exist yet, or is empty, gets the whole image', async () => {
    const src = dense('new.src', 3 * MiB + 1);
    for (const dst of [tmp.file('new.dst'), tmp.file('empty.dst')]) {
      if (dst.endsWith('empty.dst')) fs.writeFileSync(dst, '');
      const { sent } = await transfer(src, dst);
      expect(sha256(dst)).toBe(sha256(src));
      expect(sent).toBeGreaterThanOrEqual(3 * MiB + 1);
    }
  });

  it('needs a stream that carries answers: a one-way stream is refused before anything is read', () => {
    const src = dense('oneway.src', MiB);
    expect(() => bc.send(src, new PassThrough(), { resume: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => bc.send(src, new PassThrough(), { resume: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('cancel while the receiver hashes: both ends stop with a clear error, the destination keeps its bytes', async () => {
    const size = 256 * MiB;
    const src = dense('cancel.src', size);
    const dst = tmp.file('cancel.dst');
    fs.copyFileSync(src, dst);
    const before = sha256(dst);
    const { client, server, close } = await socketPair();
    const received = bc.receive(server, dst);
    const sending = bc.send(src, client, { resume: true });
    setTimeout(() => void sending.cancel({ wait: false }), 20);
    await expect(sending).rejects.toMatchObject({ code: 'ABORT_ERR' });
    await expect(received).rejects.toMatchObject({ code: 'ABORT_ERR' });
    client.destroy();
    server.destroy();
    close();
    expect(sha256(dst)).toBe(before);
  });
});

describe('blockcopy send --to COMMAND --resume', () => {
  const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const recvCommand = (dst: string, extra = '') => `${quote(process.execPath)} ${quote(CLI)} recv ${quote(dst)} --duplex${extra}`;

  it('the receiver run as a command answers on its stdout; only the missing part is sent', () => {
    const size = 16 * MiB;
    const src = dense('cli.src', size);
    const dst = tmp.file('cli.dst');
    fs.writeFileSync(dst, fs.readFileSync(src).subarray(0, 10 * MiB));
    const r = runNode([CLI, 'send', src, '--to', recvCommand(dst, ' --fsync'), '--resume', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { type: string; bytesWritten: number; bytesSkipped: number };
    expect(result).toMatchObject({ type: 'result', bytesWritten: 6 * MiB, bytesSkipped: 10 * MiB });
  });

  it('both summaries tell the blocks the receiver kept from the holes', () => {
    const size = 16 * MiB;
    const src = tmp.file('kept.src');
    makeSparse(src, size, [[0, 12 * MiB]]); // 12 MiB of data, then a 4 MiB hole
    const dst = tmp.file('kept.dst');
    fs.writeFileSync(dst, fs.readFileSync(src).subarray(0, 10 * MiB));
    const r = runNode([CLI, 'send', src, '--to', recvCommand(dst), '--resume']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
    // recv runs with send's stderr: both lines are here.
    expect(r.stderr).toMatch(/received 16\.0 MiB image: 2\.00 MiB written, 10\.0 MiB kept, 4\.00 MiB skipped as holes/);
    expect(r.stderr).toMatch(/sent 16\.0 MiB image: 2\.00 MiB of data, 10\.0 MiB the receiver held, 4\.00 MiB as holes/);
  });

  it("the receiver's error comes back: exit 1 with its words; --resume without --to is bad usage", () => {
    const src = dense('cli-fail.src', MiB);
    const r = runNode([CLI, 'send', src, '--to', recvCommand(tmp.file('no/such/dir/x.img'))]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the other end reported ENOENT/);
    const usage = spawnSync(process.execPath, [CLI, 'send', src, '--resume'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--resume needs --to/);
  });
});

describe('a one-way recv that stops says where to resume', () => {
  const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const node = quote(process.execPath);
  const cli = quote(CLI);

  /** The stream of `src`, cut after `at` bytes, in a file (recv takes a file or a pipe on stdin natively). */
  function cutStream(src: string, at: number): string {
    const out = `${src}.stream`;
    const r = spawnSync('bash', ['-c', `${node} ${cli} send ${quote(src)} --quiet > ${quote(out)}`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    fs.truncateSync(out, at);
    return out;
  }
  const recvFrom = (stream: string, dst: string) => spawnSync('bash', ['-c', `${node} ${cli} recv ${quote(dst)} < ${quote(stream)}`], { encoding: 'utf8' });

  it('a stream cut short: exit 1, the prefix written and flushed, and the printed command finishes the image', () => {
    // Pieces are written as the receiver's 4 MiB buffer fills: several times over before the cut.
    const size = 24 * MiB + 12345;
    const src = dense('oneway-cut.src', size);
    const dst = tmp.file('oneway-cut.dst');
    const stream = cutStream(src, Math.floor(size * 0.6));
    const r = hasStrace ? flushCalls([CLI, 'recv', dst], { file: stream }) : { ...recvFrom(stream, dst), calls: undefined };
    expect(r.status).toBe(1);
    const m = /the image's first (\d+) bytes are written to .* and flushed/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const at = Number(m![1]);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(size * 0.6);
    expect(sha256(dst, 0, at)).toBe(sha256(src, 0, at));
    if (r.calls) expect(r.calls.get(dst)).toContain('fdatasync');
    const command = /\n {2}(blockcopy send SOURCE .*)\n/.exec(r.stderr)![1]!;
    expect(command).toContain(`--offset ${at}`);
    expect(command).toContain(`--seek ${at}`);
    const finish = command.replace('blockcopy send SOURCE', `${node} ${cli} send ${quote(src)}`).replace('| blockcopy recv', `| ${node} ${cli} recv`);
    const done = spawnSync('bash', ['-o', 'pipefail', '-c', finish], { encoding: 'utf8' });
    expect(done.status, done.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(size);
  });

  it('recv --seek keeps what is before the image; a failure before any byte landed prints no resume point', () => {
    const src = dense('oneway-seek.src', 3 * MiB);
    const dst = tmp.file('oneway-seek.dst');
    makeSparse(dst, MiB, [[0, MiB]], 0x61);
    const head = sha256(dst);
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `${node} ${cli} send ${quote(src)} | ${node} ${cli} recv ${quote(dst)} --seek 1M`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(dst, 0, MiB)).toBe(head);
    expect(sha256(dst, MiB)).toBe(sha256(src));
    const nothing = recvFrom(cutStream(src, 20), tmp.file('oneway-none.dst'));
    expect(nothing.status).toBe(1);
    expect(nothing.stderr).not.toMatch(/To send the rest/);
  });
});

describe('a resuming peer that breaks the rules', () => {
  /** Whether the receiver's answers so far hold the empty DIGESTS frame that ends its list. */
  function digestsEnded(answers: Buffer): boolean {
    for (let at = 16; at + 12 <= answers.length; at += 12 + answers.readUInt32LE(at)) {
      if (answers.readUInt8(at + 4) === 7 && answers.readUInt32LE(at) === 8) return true;
    }
    return false;
  }

  /** Feeds `bytes` to receive() over a socket; resolves with the receive job's error and what it answered. */
  async function feed(bytes: Buffer, dst: string, afterDigests?: (socket: net.Socket) => void) {
    const { client, server, close } = await socketPair();
    const answers: Buffer[] = [];
    client.on('data', (c: Buffer) => {
      answers.push(c);
      if (digestsEnded(Buffer.concat(answers))) afterDigests?.(client);
    });
    const received = bc.receive(server, dst);
    client.write(bytes);
    const error = await received.then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    // The answer to a refusal may still be on its way: give it a moment to arrive.
    for (let i = 0; i < 50 && !Buffer.concat(answers).includes(Buffer.from(error?.code ?? '\0')); i++) await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    server.destroy();
    close();
    return { error, answers: Buffer.concat(answers) };
  }

  const u64 = (...values: number[]) => {
    const b = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 * i));
    return b;
  };
  function resumingBegin(id: number, size: number): Buffer {
    const b = beginFrame(id, size);
    b.writeUInt8(2, 5); // RESUME
    return b;
  }

  it('a SAME frame in a transfer that did not ask to resume fails it, and nothing is written', async () => {
    const dst = tmp.file('same-unasked.dst');
    makeSparse(dst, MiB, [[0, MiB]], 0x33);
    const before = sha256(dst);
    const { error } = await feed(Buffer.concat([preface(), beginFrame(1, MiB), frame(8, 1, u64(0, BLOCK))]), dst);
    expect(error).toMatchObject({ code: 'ERR_BLOCKCOPY_STREAM', message: expect.stringMatching(/did not ask to resume/) });
    expect(sha256(dst)).toBe(before);
  });

  it('data before this end has sent its digests is refused', async () => {
    const dst = tmp.file('early.dst');
    makeSparse(dst, MiB, [[0, MiB]], 0x33);
    const before = sha256(dst);
    const data = frame(2, 1, Buffer.concat([u64(0), Buffer.alloc(100, 1)]));
    const { error } = await feed(Buffer.concat([preface(), resumingBegin(1, MiB), data]), dst);
    expect(error).toMatchObject({ code: 'ERR_BLOCKCOPY_STREAM', message: expect.stringMatching(/before this end sent its digests/) });
    expect(sha256(dst)).toBe(before);
  });

  it('SAME over blocks this end never held, or not on block edges, fails the transfer', async () => {
    const dst = tmp.file('same-beyond.dst');
    makeSparse(dst, 2 * BLOCK, [[0, 2 * BLOCK]], 0x44); // holds two blocks of a 4-block image
    for (const [offset, length, why] of [
      [0, 4 * BLOCK, /never said it held/],
      [0, BLOCK + 1, /not whole blocks/],
    ] as Array<[number, number, RegExp]>) {
      let sentSame = false;
      const { error } = await feed(Buffer.concat([preface(), resumingBegin(1, 4 * BLOCK)]), dst, (socket) => {
        if (sentSame) return;
        sentSame = true;
        socket.write(frame(8, 1, u64(offset, length)));
      });
      expect(error?.message).toMatch(why);
      expect(error).toMatchObject({ code: "ERR_BLOCKCOPY_STREAM" });
    }
  });

  it('a resuming BEGIN for an image past 256 GiB is refused before anything is hashed or kept', async () => {
    const dst = tmp.file('huge.dst');
    makeSparse(dst, MiB, [[0, MiB]], 0x55);
    const before = sha256(dst);
    const { error, answers } = await feed(Buffer.concat([preface(), resumingBegin(1, 2 ** 40)]), dst);
    expect(error).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/resume takes images of at most/) });
    expect(answers.includes(Buffer.from('ERR_OUT_OF_RANGE'))).toBe(true); // the sender is told why
    expect(sha256(dst)).toBe(before);
    // And a sender does not ask for it.
    const src = tmp.file('huge.src');
    fs.writeFileSync(src, '');
    fs.truncateSync(src, 257 * 1024 * MiB);
    const { client, server, close } = await socketPair();
    const refused = await bc.send(src, client, { resume: true }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(refused).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    client.destroy();
    server.destroy();
    close();
  });

  it('a receiver that answers with more digests than the image has blocks fails the send', async () => {
    const src = dense('liar.src', 2 * BLOCK);
    const { client, server, close } = await socketPair();
    // A fake receiver: once the BEGIN is in, answers DIGESTS for three blocks of a two-block image.
    let heard = 0;
    let answered = false;
    server.on('data', (c: Buffer) => {
      heard += c.length;
      if (answered || heard < 16 + 12 + 18) return;
      answered = true;
      const digests = frame(7, 1, Buffer.concat([u64(0), Buffer.alloc(3 * 32)]));
      digests.writeUInt8(1, 5); // REPLY
      server.write(Buffer.concat([preface(), digests]));
    });
    const error = await bc.send(src, client, { resume: true }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(error).toMatchObject({ code: 'ERR_BLOCKCOPY_STREAM', message: expect.stringMatching(/more blocks than the image has/) });
    client.destroy();
    server.destroy();
    close();
  });
});
