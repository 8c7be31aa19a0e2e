// Talking to the machine: commands, caches, allocation, tool discovery.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a command; rejects with its stderr when it fails or outlives `timeoutMs`. */
export function run(command, args, { timeoutMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else if (signal === 'SIGKILL' && timeoutMs) reject(new TimedOut(timeoutMs));
      else reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

export class TimedOut extends Error {
  constructor(ms) {
    super(`timed out after ${ms / 1000} s`);
    this.timedOut = true;
  }
}

export function syncAll() {
  spawnSync('sync');
}

/** Drops the page cache (root only). Returns false when the kernel or container refuses. */
export function dropCaches() {
  syncAll();
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

export function allocatedBytes(file) {
  try {
    return fs.statSync(file).blocks * 512;
  } catch {
    return null;
  }
}

/** Bytes of `file` in the page cache (fincore, util-linux); null when it cannot tell. */
export function cachedBytes(file) {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

export function readWhole(file) {
  spawnSync('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] });
}

export function machine(dir) {
  const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    filesystem: fsType,
    root: process.getuid?.() === 0,
  };
}

/**
 * An nbdkit memory export of `size` bytes on a unix socket, for as long as
 * the race runs; `close()` stops it. Undefined when nbdkit is missing.
 */
export async function nbdkitMemory(size) {
  if (!has('nbdkit')) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockcopy-bench-nbd-'));
  const socket = path.join(dir, 'memory.sock');
  const pidfile = path.join(dir, 'memory.pid');
  const child = spawn('nbdkit', ['-f', '--exit-with-parent', '--unix', socket, '--pidfile', pidfile, 'memory', String(size)], { stdio: 'ignore' });
  while (!fs.existsSync(pidfile)) {
    if (child.exitCode !== null) throw new Error(`nbdkit exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    uri: `nbd+unix:///?socket=${socket}`,
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill();
      }),
  };
}
