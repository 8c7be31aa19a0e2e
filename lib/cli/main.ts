#!/usr/bin/env node
// The first `blockcopy` command: SRC DST with progress, JSON output and a clean Ctrl-C.
import { parseArgs } from 'node:util';
import { copy } from '../copy';
import { AbortError } from '../errors';
import type { CopyResult, Progress } from '../types';
import { formatBytes, formatDuration } from './format';

const USAGE = `Usage: blockcopy SRC DST [--fsync | --fdatasync] [--json] [--quiet]

Copies SRC (a file or block device) to DST, keeping holes as holes.

  --fsync      flush DST (data and metadata) before exiting
  --fdatasync  flush DST's data before exiting
  --json       one JSON object per progress report, then the result, one per line
  --quiet      print nothing but errors
  --help       show this help
  --version    print the version

Exit status: 0 copied, 1 copy or system error, 2 bad usage, 130 cancelled.`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_CANCELLED = 130;

function version(): string {
  return (require('../../package.json') as { version: string }).version;
}

function statusLine(p: Progress): string {
  const percent = p.bytesTotal > 0 ? (100 * p.bytesDone) / p.bytesTotal : 100;
  const eta = p.etaSeconds === null ? '--:--' : formatDuration(p.etaSeconds);
  return `${percent.toFixed(1).padStart(5)}%  ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}  ${formatBytes(p.rate)}/s  ETA ${eta}`;
}

function summary(r: CopyResult): string {
  return (
    `copied ${formatBytes(r.bytesDone)} of data: ${formatBytes(r.bytesWritten)} written, ` +
    `${formatBytes(r.bytesSkipped)} skipped as holes, in ${formatDuration(r.elapsedMs / 1000)} ` +
    `(${formatBytes(r.rate)}/s, ${r.backend})`
  );
}

function usageError(message: string): number {
  process.stderr.write(`blockcopy: ${message}\n${USAGE}\n`);
  return EXIT_USAGE;
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
  if (positionals.length !== 2) return usageError('expected SRC and DST');
  if (values.json && values.quiet) return usageError('--json and --quiet do not go together');
  if (values.fsync && values.fdatasync) return usageError('--fsync and --fdatasync do not go together');
  const fsync = values.fsync ? 'full' : values.fdatasync ? 'data' : 'none';
  const [src, dst] = positionals as [string, string];

  const tty = process.stderr.isTTY === true && !values.quiet && !values.json;
  let job;
  try {
    job = copy(src, dst, { fsync });
  } catch (e) {
    return usageError((e as Error).message); // arguments the API refused, e.g. SRC is DST
  }
  if (values.json) job.on('progress', (p) => process.stdout.write(`${JSON.stringify({ type: 'progress', ...p })}\n`));
  else if (tty) job.on('progress', (p) => process.stderr.write(`\r${statusLine(p)}\x1b[K`));

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void job.cancel({ wait: false });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await job;
    if (tty) process.stderr.write('\n');
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
    else if (!values.quiet) process.stderr.write(`${summary(result)}\n`);
    return EXIT_OK;
  } catch (e) {
    if (tty) process.stderr.write('\n');
    const error = e as Error & { code?: string; resumeOffset?: number };
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message, resumeOffset: error.resumeOffset })}\n`);
    }
    if (error instanceof AbortError || interrupted) {
      process.stderr.write(`blockcopy: cancelled; every byte below offset ${error.resumeOffset ?? 0} is copied\n`);
      return EXIT_CANCELLED;
    }
    process.stderr.write(`blockcopy: ${error.message}\n`);
    return EXIT_FAILED;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`blockcopy: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
