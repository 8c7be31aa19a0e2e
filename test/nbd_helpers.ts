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
