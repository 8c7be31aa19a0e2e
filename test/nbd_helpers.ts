// NBD servers for the tests: nbdkit (plugins and filters that misbehave on
// demand) and qemu-nbd, each on a unix socket in a scratch folder, stopped
// with the test; and what the tests look at: the processes left, nbdkit's log.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

function has(command: string, args: string[]): boolean {
  return spawnSync(command, args).status === 0;
}
export const hasNbdkit = has('nbdkit', ['--version']);
export const hasQemuNbd = has('qemu-nbd', ['--version']) && has('qemu-img', ['--version']);
export const hasNbdcopy = has('nbdcopy', ['--version']);

export interface Server {
  uri: string;
  socket: string;
  process: ChildProcess;
  stop: () => Promise<void>;
}

async function waitFor(file: string, child: ChildProcess, what: string): Promise<void> {
  const until = Date.now() + 10_000;
  while (!fs.existsSync(file)) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    if (Date.now() > until) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
}

/** nbdkit serving `args` (plugin, its parameters, --filter=...) on a unix socket in `dir`. */
export async function nbdkit(dir: string, args: string[], name = 'nbdkit'): Promise<Server> {
  const socket = path.join(dir, `${name}.sock`);
  const pidfile = path.join(dir, `${name}.pid`);
  // A server of the same name before this one left both behind.
  fs.rmSync(socket, { force: true });
  fs.rmSync(pidfile, { force: true });
  const child = spawn('nbdkit', ['-f', '--exit-with-parent', '--unix', socket, '--pidfile', pidfile, ...args], { stdio: 'ignore' });
  await waitFor(pidfile, child, 'nbdkit');
  return { uri: `nbd+unix:///?socket=${socket}`, socket, process: child, stop: stopper(child) };
}

/** nbdkit serving `args` over TCP on 127.0.0.1 at a free port. */
export async function nbdkitTcp(dir: string, args: string[], name: string): Promise<Server> {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const pidfile = path.join(dir, `${name}.pid`);
  fs.rmSync(pidfile, { force: true });
  const child = spawn('nbdkit', ['-f', '--exit-with-parent', '-i', '127.0.0.1', '-p', String(port), '--pidfile', pidfile, ...args], { stdio: 'ignore' });
  await waitFor(pidfile, child, 'nbdkit');
  return { uri: `nbd://127.0.0.1:${port}/`, socket: '', process: child, stop: stopper(child) };
}

/** qemu-nbd serving `file` (read-only unless `writable`) as `format` on a unix socket in `dir`. */
export async function qemuNbd(dir: string, file: string, format: string, writable = false): Promise<Server> {
  const socket = path.join(dir, `qemu-nbd-${path.basename(file)}.sock`);
  fs.rmSync(socket, { force: true });
  const args = ['--persistent', '--shared=8', `--format=${format}`, '--socket', socket, ...(writable ? [] : ['--read-only']), file];
  const child = spawn('qemu-nbd', args, { stdio: 'ignore' });
  await waitFor(socket, child, 'qemu-nbd');
  // The socket exists a moment before it listens: wait until a client gets through.
  for (let i = 0; i < 100 && spawnSync('nbdinfo', ['--size', `nbd+unix:///?socket=${socket}`]).status !== 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return { uri: `nbd+unix:///?socket=${socket}`, socket, process: child, stop: stopper(child) };
}

/** qemu-nbd processes serving `file` right now (by command line). */
export function qemuNbdServing(file: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const argv = cmdline.split('\0');
    if (path.basename(argv[0] ?? '') === 'qemu-nbd' && argv.some((a) => a.endsWith(path.basename(file)))) found.push(Number(entry));
  }
  return found;
}

/** nbdkit's log filter output: the requests of `kind` ("Read", "Write"...) and the most in flight at once. */
export function requestsInLog(logfile: string, kind: string): { connections: Set<string>; count: number; maxInFlight: number } {
  const connections = new Set<string>();
  let count = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  for (const line of fs.readFileSync(logfile, 'utf8').split('\n')) {
    const m = /connection=(\d+) (\.\.\.)?(\w+) id=\d+/.exec(line);
    if (!m || m[3] !== kind) continue;
    if (m[2]) {
      inFlight--;
      continue;
    }
    connections.add(m[1]!);
    count++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
  }
  return { connections, count, maxInFlight };
}

/**
 * A hand-written NBD server for what real servers never do: it negotiates
 * properly (fixed newstyle, structured replies, base:allocation, OPT_GO; an
 * export of `size` bytes) and then misbehaves as `mode` says:
 * - 'outside': answers a read with a data chunk lying outside the request;
 * - 'never-read': stops reading requests once transmission starts.
 */
export function misbehavingServer(socket: string, size: number, mode: 'outside' | 'never-read'): Promise<net.Server> {
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  const optReply = (opt: number, type: number, data: Buffer = Buffer.alloc(0)) =>
    Buffer.concat([Buffer.from('0003e889045565a9', 'hex'), u32(opt), u32(type), u32(data.length), data]);
  const server = net.createServer((conn) => {
    conn.on('error', () => {});
    let buf = Buffer.alloc(0);
    let state: 'flags' | 'options' | 'transmission' = 'flags';
    conn.write(Buffer.concat([Buffer.from('NBDMAGICIHAVEOPT'), Buffer.from([0, 3])]));
    conn.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (state === 'flags') {
          if (buf.length < 4) return;
          buf = buf.subarray(4);
          state = 'options';
        } else if (state === 'options') {
          if (buf.length < 16 || buf.length < 16 + buf.readUInt32BE(12)) return;
          const opt = buf.readUInt32BE(8);
          buf = buf.subarray(16 + buf.readUInt32BE(12));
          if (opt === 10) {
            const name = Buffer.from('base:allocation');
            conn.write(optReply(opt, 4, Buffer.concat([u32(1), name])));
          }
          if (opt === 7) {
            const info = Buffer.alloc(12);
            info.writeUInt16BE(0, 0);
            info.writeBigUInt64BE(BigInt(size), 2);
            info.writeUInt16BE(1 | 4 | 64 | 256, 10); // has flags, flush, write zeroes, multi-conn
            conn.write(optReply(opt, 3, info));
          }
          conn.write(optReply(opt, 1));
          if (opt === 7) {
            state = 'transmission';
            if (mode === 'never-read') {
              conn.pause();
              return;
            }
          }
        } else {
          if (buf.length < 28) return;
          const type = buf.readUInt16BE(6);
          const cookie = buf.subarray(8, 16);
          const offset = buf.readBigUInt64BE(16);
          const length = buf.readUInt32BE(24);
          buf = buf.subarray(28 + (type === 1 ? length : 0));
          const header = (chunkType: number, flags: number, payload: Buffer) =>
            Buffer.concat([u32(0x668e33ef), Buffer.from([flags >> 8, flags & 255, chunkType >> 8, chunkType & 255]), cookie, u32(payload.length), payload]);
          if (type === 0) {
            const at = Buffer.alloc(8);
            at.writeBigUInt64BE(offset + BigInt(length)); // just past what was asked for
            conn.write(header(1, 1, Buffer.concat([at, Buffer.alloc(Math.min(length, 4096))])));
          } else if (type === 7) {
            conn.write(header(5, 1, Buffer.concat([u32(1), u32(length), u32(0)])));
          } else {
            conn.write(Buffer.concat([u32(0x67446698), u32(0), cookie]));
          }
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(socket, () => resolve(server)));
}
