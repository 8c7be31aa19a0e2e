// A sender waits for its receiver: for the block digests that answer a
// resuming BEGIN, for the OK or ERROR that answers END, and for room on the
// stream. A receiver that reads every byte and never answers, or stops
// reading, must not keep it waiting past the idle limit; cancel must still
// work while it waits.
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { bc, CLI, failure, makeDense, makeSparse, MiB, ROOT, scratch, socketPair } from './helpers';

const tmp = scratch('stream-waits');
afterAll(() => tmp.cleanup());

/** Room for a loaded machine between the limit passing and the failure being seen. */
const SLACK_MS = 5_000;
const IDLE_MS = 400;

/** The far end of a socket that reads everything and answers nothing; `heard` collects what arrived. */
function silentPeer(server: net.Socket): { heard: () => string; received: (bytes: number) => Promise<void> } {
  const chunks: Buffer[] = [];
  let total = 0;
  const waiters: Array<{ bytes: number; resolve: () => void }> = [];
  server.on('data', (d: Buffer) => {
    chunks.push(d);
    total += d.length;
    for (const w of waiters.filter((w) => total >= w.bytes)) w.resolve();
  });
  server.on('error', () => {});
  return {
    heard: () => Buffer.concat(chunks).toString('latin1'),
    received: (bytes) => new Promise((resolve) => (total >= bytes ? resolve() : waiters.push({ bytes, resolve }))),
  };
}

/** The message of a wait for the receiver: the idle limit plus the time to read the image at 20 MB/s, both said. */
function waitedFor(what: string, idleMs: number, imageBytes: number): RegExp {
  const reading = Math.ceil((imageBytes / 20e6) * 1000);
  const s = (ms: number) => String(Number((ms / 1000).toFixed(2))).replace('.', '\\.');
  return new RegExp(`ETIMEDOUT: the receiver ${what} for ${s(idleMs + reading)} s \\(the idle limit of ${s(idleMs)} s, and ${s(reading)} s to read the ${imageBytes}-byte image at 20 MB/s\\)`);
}

function image(name: string): string {
  const file = tmp.file(name);
  makeSparse(file, 4 * MiB, [[0, 1 * MiB]]);
  return file;
}

describe('a sender never waits past the idle limit', () => {
  it('resume: a receiver that never sends its block digests fails the send with ETIMEDOUT, and is told', async () => {
    const { client, server, close } = await socketPair();
    const peer = silentPeer(server);
    const started = performance.now();
    const error = await failure(bc.send(image('digests.img'), client, { resume: true, idleTimeout: IDLE_MS }));
    const waited = performance.now() - started;
    expect(error).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringMatching(waitedFor('sent no block digests', IDLE_MS, 4 * MiB)) });
    expect(waited).toBeGreaterThanOrEqual(IDLE_MS);
    expect(waited).toBeLessThan(IDLE_MS + SLACK_MS);
    // The ERROR frame that tells it why follows the BEGIN.
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    expect(peer.heard()).toContain('the receiver sent no block digests');
    server.destroy();
    close();
  }, 30_000);

  it('a receiver that reads the whole image and never answers END fails the send with ETIMEDOUT', async () => {
    const { client, server, close } = await socketPair();
    silentPeer(server);
    const started = performance.now();
    const job = bc.send(image('end.img'), client, { idleTimeout: IDLE_MS });
    const error = await failure(job);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringMatching(waitedFor('sent no answer to END', IDLE_MS, 4 * MiB)) });
    // The whole image went out: the wait was for the answer, not for the wire.
    expect(job.progress().bytesDone).toBe(4 * MiB);
    expect(performance.now() - started).toBeLessThan(IDLE_MS + SLACK_MS);
    server.destroy();
    close();
  }, 30_000);

  it('a receiver that stops reading fails the send with ETIMEDOUT once the socket stays full', async () => {
    const { client, server, close } = await socketPair();
    server.pause(); // reads nothing: the kernel's buffers fill and the sender waits for 'drain'
    server.on('error', () => {});
    const src = tmp.file('unread.img');
    makeDense(src, 64 * MiB);
    const job = bc.send(src, client, { idleTimeout: IDLE_MS });
    const error = await failure(job);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', message: `ETIMEDOUT: the other end has read nothing we sent for ${IDLE_MS / 1000} s; disconnecting` });
    expect(job.progress().bytesDone).toBeLessThan(64 * MiB); // it stopped mid-image, on the full socket
    server.destroy();
    close();
  }, 30_000);

  it('cancel while waiting for the digests stops at once with ABORT_ERR, long before the limit', async () => {
    const { client, server, close } = await socketPair();
    const peer = silentPeer(server);
    const job = bc.send(image('cancel.img'), client, { resume: true, idleTimeout: 60_000 });
    await peer.received(16 + 12 + 18); // the preface and the BEGIN: the sender now waits
    const started = performance.now();
    await job.cancel();
    expect(performance.now() - started).toBeLessThan(SLACK_MS);
    expect(await failure(job)).toMatchObject({ code: 'ABORT_ERR' });
    server.destroy();
    close();
  }, 30_000);

  it('blockcopy send --to COMMAND --resume: a command that reads all and never answers exits 1 with ETIMEDOUT', async () => {
    // cat reads its stdin to the end; fd 3 keeps the answer pipe open and silent (cat > /dev/null
    // alone would close it, and the sender would see the connection end, not a silent peer).
    const src = image('cli.img');
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'send', src, '--to', 'exec 3>&1; exec cat > /dev/null', '--resume', '--idle-timeout', '1s'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const limit = setTimeout(() => child.kill('SIGKILL'), 20_000); // today's hang, as a failure
    const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    clearTimeout(limit);
    expect({ status, stderr }).toMatchObject({ status: 1, stderr: expect.stringMatching(waitedFor('sent no block digests', 1000, 4 * MiB)) });
    expect(performance.now() - started).toBeLessThan(1_000 + SLACK_MS + 2_000); // and node's start
  }, 30_000);

  it('blockcopy send --idle-timeout takes a duration; anything else is bad usage', async () => {
    const child = spawn(process.execPath, [CLI, 'send', image('usage.img'), '--to', 'true', '--idle-timeout', '5 minutes'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    expect(status).toBe(2);
    expect(stderr).toMatch(/--idle-timeout: '5 minutes' is not a duration/);
  });
});
