#!/usr/bin/env node
// The `blockcopy` command: copy SRC DST, and send/recv for streaming images.
import { parseArgs } from 'node:util';
import { copy } from '../copy';
import { receive, send } from '../stream/connection';
import type { SparseMode } from '../types';
import { formatBytes, formatDuration } from './format';
import { EXIT_OK, EXIT_USAGE, watch } from './watch';

const USAGE = `Usage: blockcopy SRC DST [--fsync | --fdatasync] [--json] [--quiet]
       blockcopy send FILE [--sparse MODE] [--name NAME] [--json] [--quiet] > stream
       blockcopy recv FILE [--fsync | --fdatasync] [--json] [--quiet] < stream

Copies SRC (a file or block device) to DST, keeping holes as holes; or sends
FILE as a sparse image stream on stdout, or writes one read from stdin into
FILE (blockcopy send disk.img | ssh host blockcopy recv disk.img).

  --fsync      flush the destination (data and metadata) before exiting
  --fdatasync  flush the destination's data before exiting
  --sparse     send: auto (holes), always (zero blocks too) or never
  --name       send: a name for the receiver
  --json       one JSON object per progress report, then the result, one per
               line (on stderr for send, whose stdout is the stream)
  --quiet      print nothing but errors
  --help       show this help
  --version    print the version

Exit status: 0 done, 1 copy, stream or system error, 2 bad usage, 130 cancelled.`;

function version(): string {
  return (require('../../package.json') as { version: string }).version;
}

function usageError(message: string): number {
  process.stderr.write(`blockcopy: ${message}\n${USAGE}\n`);
  return EXIT_USAGE;
}

function elapsed(r: { elapsedMs: number; rate: number }): string {
  return `in ${formatDuration(r.elapsedMs / 1000)} (${formatBytes(r.rate)}/s`;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        fsync: { type: 'boolean' },
        fdatasync: { type: 'boolean' },
        sparse: { type: 'string' },
        name: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  if (values.json && values.quiet) return usageError('--json and --quiet do not go together');
  if (values.fsync && values.fdatasync) return usageError('--fsync and --fdatasync do not go together');
  const fsync = values.fsync ? 'full' : values.fdatasync ? 'data' : 'none';
  const command = positionals[0] === 'send' || positionals[0] === 'recv' ? positionals[0] : 'copy';
  const common = { json: values.json === true, quiet: values.quiet === true };
  if (command !== 'send' && (values.sparse !== undefined || values.name !== undefined)) {
    return usageError('--sparse and --name are options of send');
  }

  try {
    if (command === 'send') {
      if (positionals.length !== 2) return usageError('send expects one FILE');
      if (process.stdout.isTTY) return usageError('send writes a binary stream: redirect stdout to a file or a pipe');
      const job = send(positionals[1]!, process.stdout, {
        sparse: values.sparse as SparseMode | undefined,
        name: values.name ?? '',
        end: false,
      });
      return await watch(job, {
        ...common,
        jsonOut: process.stderr,
        summary: (r) => `sent ${formatBytes(r.length)} image: ${formatBytes(r.bytesWritten)} of data, ${formatBytes(r.bytesSkipped)} as holes, ${elapsed(r)})`,
        cancelled: () => 'cancelled; the receiver has been told',
      });
    }
    if (command === 'recv') {
      if (positionals.length !== 2) return usageError('recv expects one FILE');
      const job = receive(process.stdin, positionals[1]!, { fsync });
      return await watch(job, {
        ...common,
        jsonOut: process.stdout,
        summary: (r) => `received ${formatBytes(r.length)} image${r.name ? ` '${r.name}'` : ''}: ${formatBytes(r.bytesWritten)} written, ${formatBytes(r.bytesSkipped)} as holes, checksum ${r.checksum} verified, ${elapsed(r)})`,
        cancelled: () => 'cancelled; the destination is incomplete',
      });
    }
    if (positionals.length !== 2) return usageError('expected SRC and DST');
    const [src, dst] = positionals as [string, string];
    const job = copy(src, dst, { fsync });
    return await watch(job, {
      ...common,
      jsonOut: process.stdout,
      summary: (r) =>
        `copied ${formatBytes(r.bytesDone)} of data: ${formatBytes(r.bytesWritten)} written, ` +
        `${formatBytes(r.bytesSkipped)} skipped as holes, ${elapsed(r)}, ${r.backend})`,
      cancelled: (e) => `cancelled; every byte below offset ${e.resumeOffset ?? 0} is copied`,
    });
  } catch (e) {
    return usageError((e as Error).message); // arguments the API refused, e.g. SRC is DST
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`blockcopy: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
