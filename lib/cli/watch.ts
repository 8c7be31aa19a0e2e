// Following a job from the command line: progress on the terminal or as JSON
// lines, a clean stop on Ctrl-C, and the exit status.
import { AbortError } from '../errors';
import type { JobBase } from '../job_base';
import type { Progress } from '../types';
import { formatBytes, formatDuration } from './format';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANCELLED = 130;

export interface WatchOptions<R> {
  json: boolean;
  quiet: boolean;
  /** Where JSON lines go: stdout, unless stdout carries data (send). */
  jsonOut: NodeJS.WritableStream;
  summary: (result: R) => string;
  /** What to say after a cancel, e.g. how to resume. */
  cancelled: (error: AbortError) => string;
}

export function statusLine(p: Progress): string {
  const percent = p.bytesTotal > 0 ? (100 * p.bytesDone) / p.bytesTotal : 100;
  const eta = p.etaSeconds === null ? '--:--' : formatDuration(p.etaSeconds);
  return `${percent.toFixed(1).padStart(5)}%  ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}  ${formatBytes(p.rate)}/s  ETA ${eta}`;
}

export async function watch<R extends Progress>(job: JobBase<R>, o: WatchOptions<R>): Promise<number> {
  const tty = process.stderr.isTTY === true && !o.quiet && !o.json;
  const line = (value: object) => o.jsonOut.write(`${JSON.stringify(value)}\n`);
  if (o.json) job.on('progress', (p) => line({ type: 'progress', ...p }));
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
    if (o.json) line({ type: 'result', ...result });
    else if (!o.quiet) process.stderr.write(`${o.summary(result)}\n`);
    return EXIT_OK;
  } catch (e) {
    if (tty) process.stderr.write('\n');
    const error = e as Error & { code?: string; resumeOffset?: number };
    if (o.json) line({ type: 'error', code: error.code, message: error.message, resumeOffset: error.resumeOffset });
    if (error instanceof AbortError || interrupted) {
      process.stderr.write(`blockcopy: ${o.cancelled(error as AbortError)}\n`);
      return EXIT_CANCELLED;
    }
    process.stderr.write(`blockcopy: ${error.message}\n`);
    return EXIT_FAILED;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
