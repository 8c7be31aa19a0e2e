// Everyone in the race. Each contender copies src to dst and leaves dst
// flushed to disk, so every time includes the same final fsync work.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { has, run } from './system.mjs';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const blockcopy = require(ROOT);
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

/** blockcopy's API in this process; `options` picks sparse mode, backend, sizes. */
export function blockcopyApi(label, options = {}) {
  return {
    id: `blockcopy-api:${label}`,
    label: `blockcopy ${label}`,
    family: 'blockcopy',
    available: () => probeOptions(options),
    run: async (src, dst) => {
      // In this process, so the CPU time of the copy threads can be read too.
      const before = process.cpuUsage();
      const result = await blockcopy.copy(src, dst, { fsync: 'full', ...options });
      const cpu = process.cpuUsage(before);
      return { backend: result.backend, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    },
  };
}

/** checksum() in this process: reads and hashes the image, writes nothing. */
export function blockcopyChecksum() {
  return {
    id: 'blockcopy-checksum-api',
    label: 'blockcopy checksum()',
    family: 'blockcopy',
    available: () => true,
    run: async (src) => {
      const before = process.cpuUsage();
      await blockcopy.checksum(src);
      const cpu = process.cpuUsage(before);
      return { cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    },
  };
}

export function blockcopyChecksumCli() {
  return {
    id: 'blockcopy-checksum-cli',
    label: 'blockcopy checksum (CLI)',
    family: 'blockcopy',
    available: () => true,
    run: (src) => run(process.execPath, [CLI, 'checksum', src, '--quiet']),
  };
}

/** coreutils' sha256sum over every byte, holes included; `maxRuns` caps a contender that takes minutes. */
export function sha256sum(maxRuns) {
  return {
    id: 'sha256sum',
    label: 'sha256sum',
    note: maxRuns ? `${maxRuns} run${maxRuns > 1 ? 's' : ''}: it reads every hole` : '',
    maxRuns,
    available: () => has('sha256sum') || 'sha256sum not installed',
    run: (src, _dst, { timeoutMs }) => run('sha256sum', [src], { timeoutMs }),
  };
}

export function blockcopyCli(args = []) {
  return {
    id: `blockcopy-cli${args.length ? `:${args.join(' ')}` : ''}`,
    label: `blockcopy CLI${args.length ? ` ${args.join(' ')}` : ''}`,
    family: 'blockcopy',
    available: () => true,
    run: (src, dst) => run(process.execPath, [CLI, src, dst, '--fsync', '--quiet', ...args]),
  };
}

/** `blockcopy send SRC | blockcopy recv DST --fsync`: the image through a pipe between two processes. */
export function blockcopySendRecv() {
  const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  return {
    id: 'blockcopy-send-recv',
    label: 'blockcopy send, pipe, recv',
    family: 'blockcopy',
    available: () => has('bash') || 'bash not installed',
    run: (src, dst, { timeoutMs }) =>
      run(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          `${quote(process.execPath)} ${quote(CLI)} send ${quote(src)} --quiet | ${quote(process.execPath)} ${quote(CLI)} recv ${quote(dst)} --fsync --quiet`,
        ],
        { timeoutMs },
      ),
  };
}

export function dd(flags = [], note = '') {
  return {
    id: `dd${flags.length ? `:${flags.join(' ')}` : ''}`,
    label: `dd bs=1M${flags.length ? ` ${flags.join(' ')}` : ''}`,
    note,
    available: () => has('dd') || 'dd not installed',
    run: (src, dst, { timeoutMs }) =>
      run('dd', [`if=${src}`, `of=${dst}`, 'bs=1M', 'status=none', ...withFsync(flags)], { timeoutMs }),
  };
}

// dd's conv= flags must be one list: conv=fsync,sparse
function withFsync(flags) {
  const conv = ['fsync'];
  const rest = [];
  for (const f of flags) {
    if (f.startsWith('conv=')) conv.push(...f.slice(5).split(','));
    else rest.push(f);
  }
  return [`conv=${conv.join(',')}`, ...rest];
}

export function cp(flags = []) {
  return {
    id: `cp${flags.length ? `:${flags.join(' ')}` : ''}`,
    label: `cp${flags.length ? ` ${flags.join(' ')}` : ''} + sync`,
    available: () => has('cp') || 'cp not installed',
    run: async (src, dst, { timeoutMs }) => {
      await run('cp', [...flags, src, dst], { timeoutMs });
      await run('sync', [dst]);
    },
  };
}

export function qemuImg(flags = []) {
  return {
    id: `qemu-img${flags.length ? `:${flags.join(' ')}` : ''}`,
    label: `qemu-img convert${flags.length ? ` ${flags.join(' ')}` : ''} + sync`,
    available: () => has('qemu-img') || 'qemu-img not installed (apt-get install qemu-utils)',
    run: async (src, dst, { timeoutMs }) => {
      await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', ...flags, src, dst], { timeoutMs });
      await run('sync', [dst]);
    },
  };
}

/** qemu-img convert from an image format to raw, then sync. */
export function qemuImgFrom(format) {
  return {
    id: `qemu-img:-f ${format}`,
    label: `qemu-img convert -f ${format} + sync`,
    available: () => has('qemu-img') || 'qemu-img not installed (apt-get install qemu-utils)',
    run: async (src, dst, { timeoutMs }) => {
      await run('qemu-img', ['convert', '-f', format, '-O', 'raw', src, dst], { timeoutMs });
      await run('sync', [dst]);
    },
  };
}

/** nbdcopy (libnbd), the copier virt-v2v uses; `from` builds its source argument (a qemu-nbd for an image, or the file). */
export function nbdcopy(label, from = (src) => [src]) {
  return {
    id: `nbdcopy:${label}`,
    label: `nbdcopy ${label}`.trim(),
    available: () => has('nbdcopy') || 'nbdcopy not installed (apt-get install libnbd-bin)',
    run: (src, dst, { timeoutMs }) => run('nbdcopy', ['--flush', '--', ...from(src), dst], { timeoutMs }),
  };
}

/** nbdcopy reading an image through a qemu-nbd it runs itself, as virt-v2v does. */
export const nbdcopyViaQemuNbd = (format) => nbdcopy(`via qemu-nbd -f ${format}`, (src) => ['[', 'qemu-nbd', '-r', '-f', format, src, ']']);

const NODE_COPY = path.join(ROOT, 'bench', 'node-copy.mjs');

/** fs.copyFile or stream.pipeline, then fsync; in a child process (node's start-up, ~40 ms, is in its time). */
function nodeCopy(how, label) {
  return {
    id: how === 'copyFile' ? 'fs.copyFile' : 'stream.pipeline',
    label,
    available: () => true,
    run: (src, dst, { timeoutMs }) => run(process.execPath, [NODE_COPY, how, src, dst], { timeoutMs }),
  };
}

export const nodeCopyFile = () => nodeCopy('copyFile', 'fs.copyFile + fsync');
export const nodePipeline = () => nodeCopy('pipeline', 'stream.pipeline + fsync');

/**
 * fio's read job and write job side by side (io_uring, O_DIRECT, 1 MiB, depth
 * 16): not a copier but the machine's copy limit. Its "time" is size over the
 * slower of the two bandwidths.
 */
export function fioLimit() {
  return {
    id: 'fio-limit',
    label: 'fio limit (reference)',
    reference: true,
    available: () => has('fio') || 'fio not installed (apt-get install fio)',
    run: async (src, dst, { size }) => {
      const common = ['--ioengine=io_uring', '--direct=1', '--bs=1M', '--iodepth=16', `--size=${size}`];
      const out = await run('fio', [
        '--output-format=json',
        '--name=read', `--filename=${src}`, '--rw=read', ...common,
        '--name=write', `--filename=${dst}`, '--rw=write', ...common,
      ]);
      const jobs = JSON.parse(out.slice(out.indexOf('{'))).jobs;
      const read = jobs.find((j) => j.jobname === 'read').read.bw_bytes;
      const write = jobs.find((j) => j.jobname === 'write').write.bw_bytes;
      return { simulatedSeconds: size / Math.min(read, write), readBps: read, writeBps: write };
    },
  };
}

// Options this build refuses (a backend not built yet) make the contender
// unavailable with the reason, rather than silently running something else.
const probed = new Map();
function probeOptions(options) {
  const key = JSON.stringify(options);
  if (!probed.has(key)) {
    // A path of its own per probe: a probe's job (cancelled before it starts)
    // claims its destination until the next tick, and a shared one would be EBUSY.
    const path = `/dev/null-probe-${probed.size}`;
    try {
      blockcopy.copy(path, path, { ...options, dstOffset: 1, signal: AbortSignal.abort() });
      probed.set(key, true);
    } catch (e) {
      probed.set(key, `not in this build: ${e.message}`);
    }
  }
  return probed.get(key);
}
